"""Permutation groups, for colouring S5's symbols: subgroups named by
generators in cycle notation, their left or right cosets, and their conjugates.

Permutations are tuples ``p`` with ``p[i]`` the image of ``i``, composed as
``tables.compose``: ``(x·y)(i) = x(y(i))``, the S5 table's own product.
"""

from __future__ import annotations

import re

from grokjax.errors import SpecError
from grokjax.tables import S5, compose, invert

# Power et al. Figure 3 (left): clusters are cosets of this subgroup or its conjugates.
PAPER_SUBGROUP = "(0,3)(1,4); (1,2)(3,4)"


def parse_cycles(text: str, n: int = 5) -> tuple:
    """A permutation of 0..n-1 from cycle notation, e.g. ``"(0,3)(1,4)"``; ``"()"`` is the identity."""
    text = text.strip()
    if not re.fullmatch(r"(\(\s*(\d+\s*(,\s*\d+\s*)*)?\))+", text):
        raise SpecError(f"malformed permutation {text!r}: write it in cycles, like (0,3)(1,4)")
    perm = list(range(n))
    for cycle in re.findall(r"\(([^)]*)\)", text):
        items = [int(v) for v in cycle.split(",") if v.strip()]
        if any(not 0 <= v < n for v in items) or len(set(items)) != len(items):
            raise SpecError(f"cycle ({cycle}) in {text!r} must name distinct points of 0..{n - 1}")
        step = list(range(n))
        for a, b in zip(items, items[1:] + items[:1]):
            step[a] = b
        perm = list(compose(tuple(perm), tuple(step)))  # a product of cycles acts right to left
    return tuple(perm)


def parse_generators(text: str, n: int = 5) -> list[tuple]:
    """Generators separated by ``;``: ``"(0,3)(1,4); (1,2)(3,4)"``."""
    gens = [parse_cycles(g, n) for g in text.split(";") if g.strip()]
    if not gens:
        raise SpecError(f"no generators in {text!r}: give permutations in cycles, separated by ';'")
    return gens


def generate(gens: list[tuple]) -> frozenset:
    """The subgroup the generators generate: closure under the product."""
    identity = tuple(range(len(gens[0])))
    group, frontier = {identity}, [identity]
    while frontier:
        new = []
        for g in frontier:
            for s in gens:
                h = compose(g, s)
                if h not in group:
                    group.add(h)
                    new.append(h)
        frontier = new
    return frozenset(group)


def cosets(subgroup: frozenset, elements=S5, side: str = "left") -> list[int]:
    """Per element of ``elements`` (in order), the index of its coset: left
    cosets ``gH`` or right cosets ``Hg``, numbered in order of first appearance."""
    if side not in ("left", "right"):
        raise SpecError(f"coset side must be left or right, got {side!r}")
    label, index = {}, []
    for g in elements:
        key = frozenset(compose(g, h) if side == "left" else compose(h, g) for h in subgroup)
        index.append(label.setdefault(key, len(label)))
    return index


def conjugates(subgroup: frozenset, elements=S5) -> list[tuple[tuple, frozenset]]:
    """Every distinct conjugate ``gHg⁻¹`` with one ``g`` that makes it."""
    seen = {}
    for g in elements:
        c = frozenset(compose(compose(g, h), invert(g)) for h in subgroup)
        seen.setdefault(c, g)
    return [(g, c) for c, g in seen.items()]


def cycles(perm: tuple) -> str:
    """Cycle notation of a permutation, fixed points left out; ``()`` for the identity."""
    seen, out = set(), []
    for start in range(len(perm)):
        if start in seen or perm[start] == start:
            continue
        cyc, i = [], start
        while i not in seen:
            seen.add(i)
            cyc.append(i)
            i = perm[i]
        out.append("(" + ",".join(map(str, cyc)) + ")")
    return "".join(out) or "()"
