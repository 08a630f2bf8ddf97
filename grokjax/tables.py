"""Binary-operation tables (Power et al. 2022, appendix A.1.1): the ``table`` task's data.

A table holds every equation ``a ∘ b = c`` of one operation as tokens
``[a, ∘, b, =]`` with answer ``c``. Elements are opaque symbols ``0..n-1``; the
operator and ``=`` take the two tokens after them, so the vocabulary is
``n + 2``. Everything here is a pure function of its arguments.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from typing import Callable

import numpy as np

from grokjax.errors import SpecError

DEFAULT_MODULUS = 97


class OpError(SpecError):
    """A bad operation name or modulus, worded for a one-line CLI error."""


@dataclasses.dataclass(frozen=True)
class Operation:
    """One binary operation.

    ``equations(modulus)`` returns int arrays ``(a, b, c)`` over every valid
    pair and the number of symbols ``n``; all of ``a, b, c`` lie in ``[0, n)``.
    """

    name: str
    description: str
    equations: Callable[[int], tuple[np.ndarray, np.ndarray, np.ndarray, int]]
    needs_prime: bool = False
    uses_modulus: bool = True


@dataclasses.dataclass(frozen=True)
class Table:
    """Every equation of one operation: ``x[N, 4]`` tokens, ``y[N]`` answers."""

    op: str
    modulus: int
    x: np.ndarray  # int32 [N, 4] = [a, op, b, =]
    y: np.ndarray  # int32 [N]    = a ∘ b
    n_symbols: int

    @property
    def size(self) -> int:
        return int(self.y.shape[0])

    @property
    def vocab_size(self) -> int:
        return self.n_symbols + 2


OPS: dict[str, Operation] = {}


def register(op: Operation, *, overwrite: bool = False) -> Operation:
    """Adds ``op`` to the registry under ``op.name``."""
    if op.name in OPS and not overwrite:
        raise OpError(f"operation {op.name!r} is already registered")
    OPS[op.name] = op
    return op


def register_modular(
    name: str,
    fn: Callable[[np.ndarray, np.ndarray, int], np.ndarray],
    description: str = "",
    *,
    y_nonzero: bool = False,
    needs_prime: bool = False,
    overwrite: bool = False,
) -> Operation:
    """Registers ``x ∘ y = fn(x, y, p) mod p`` for ``0 <= x, y < p``.

    ``fn`` is called once, on numpy int64 arrays holding every pair, e.g.
    ``register_modular("x2_y", lambda x, y, p: x * x + y, "x²+y")``.
    """

    def equations(p: int):
        a, b = _pairs(p, y_nonzero)
        c = np.asarray(fn(a, b, p), dtype=np.int64) % p
        return a, b, c, p

    return register(
        Operation(name, description or name, equations, needs_prime=needs_prime),
        overwrite=overwrite,
    )


def register_table(
    name: str,
    elements: list,
    fn: Callable[[object, object], object],
    description: str = "",
    *,
    overwrite: bool = False,
) -> Operation:
    """Registers an operation on any finite set: ``fn(x, y)`` must lie in ``elements``."""
    index = {e: i for i, e in enumerate(elements)}

    def equations(_modulus: int):
        n = len(elements)
        a, b = _pairs(n, False)
        try:
            c = np.array([index[fn(elements[i], elements[j])] for i, j in zip(a, b)])
        except KeyError as e:
            raise OpError(f"operation {name!r} is not closed: {e.args[0]!r} is not an element") from None
        return a, b, c, n

    return register(
        Operation(name, description or name, equations, uses_modulus=False),
        overwrite=overwrite,
    )


def _pairs(n: int, y_nonzero: bool) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.meshgrid(np.arange(n), np.arange(1 if y_nonzero else 0, n), indexing="ij")
    return a.ravel().astype(np.int64), b.ravel().astype(np.int64)


def is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, int(n**0.5) + 1))


def _inverse(y: np.ndarray, p: int) -> np.ndarray:
    # Fermat: y^(p-2) is y's inverse mod a prime p (0 maps to 0, never used).
    return np.array([pow(int(v), p - 2, p) for v in range(p)], dtype=np.int64)[y]


def _div(x, y, p):
    return x * _inverse(y, p)


def _mix(x, y, p):
    return np.where(y % 2 == 1, x * _inverse(y, p), x - y)


register_modular("add", lambda x, y, p: x + y, "x+y")
register_modular("sub", lambda x, y, p: x - y, "x-y")
register_modular("div", _div, "x/y, y≠0", y_nonzero=True, needs_prime=True)
register_modular("mix", _mix, "x/y if y is odd, else x-y", needs_prime=True)
register_modular("x2_y2", lambda x, y, p: x**2 + y**2, "x²+y²")
register_modular("x2_xy_y2", lambda x, y, p: x**2 + x * y + y**2, "x²+xy+y²")
register_modular("x2_xy_y2_x", lambda x, y, p: x**2 + x * y + y**2 + x, "x²+xy+y²+x")
register_modular("x3_xy", lambda x, y, p: x**3 + x * y, "x³+xy")
register_modular("x3_xy2_y", lambda x, y, p: x**3 + x * y**2 + y, "x³+xy²+y")

# S5: permutations of (0..4) in lexicographic order; (x·y)(i) = x(y(i)).
# openai/grok's s5 and s5conj compose the other way; relabelling every
# symbol g ↦ g⁻¹ maps its tables onto these (README, Operations).
S5 = list(itertools.permutations(range(5)))


def compose(x: tuple, y: tuple) -> tuple:
    return tuple(x[y[i]] for i in range(len(y)))


def invert(x: tuple) -> tuple:
    inv = [0] * len(x)
    for i, xi in enumerate(x):
        inv[xi] = i
    return tuple(inv)


register_table("s5_mul", S5, compose, "x·y in S5")
register_table("s5_conj", S5, lambda x, y: compose(compose(x, y), invert(x)), "x·y·x⁻¹ in S5")
register_table("s5_aba", S5, lambda x, y: compose(compose(x, y), x), "x·y·x in S5")


def get_op(name: str) -> Operation:
    if name not in OPS:
        raise OpError(f"unknown op {name!r}; valid ops: {', '.join(OPS)}")
    return OPS[name]


def check_modulus(op: str, modulus: int) -> None:
    """Raises OpError when ``modulus`` cannot serve ``op``."""
    o = get_op(op)
    if not o.uses_modulus:
        return
    if modulus < 2:
        raise OpError(f"modulus must be at least 2, got {modulus}")
    if o.needs_prime and not is_prime(modulus):
        raise OpError(f"op {op!r} divides, so its modulus must be prime; {modulus} is not")


def make_table(op: str, modulus: int = DEFAULT_MODULUS) -> Table:
    """Every equation of ``op``: tokens ``[a, ∘, b, =]`` and answers ``c``."""
    check_modulus(op, modulus)
    a, b, c, n = get_op(op).equations(modulus)
    x = np.stack([a, np.full_like(a, n), b, np.full_like(a, n + 1)], axis=1)
    return Table(op, modulus, x.astype(np.int32), np.asarray(c, dtype=np.int32), n)


@functools.lru_cache(maxsize=16)
def table_for(op: str, modulus: int = DEFAULT_MODULUS) -> Table:
    """``make_table``, built once per (op, modulus) and shared: treat it as read-only."""
    return make_table(op, modulus)
