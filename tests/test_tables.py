import importlib
import itertools
import sys

import jax
import numpy as np
import pytest

from grokjax import tables, tasks

P = 7


def direct(op, x, y, p):
    inv = lambda v: pow(v, p - 2, p)  # noqa: E731
    return {
        "add": lambda: (x + y) % p,
        "sub": lambda: (x - y) % p,
        "div": lambda: (x * inv(y)) % p,
        "mix": lambda: (x * inv(y)) % p if y % 2 == 1 else (x - y) % p,
        "x2_y2": lambda: (x * x + y * y) % p,
        "x2_xy_y2": lambda: (x * x + x * y + y * y) % p,
        "x2_xy_y2_x": lambda: (x * x + x * y + y * y + x) % p,
        "x3_xy": lambda: (x**3 + x * y) % p,
        "x3_xy2_y": lambda: (x**3 + x * y * y + y) % p,
    }[op]()


MODULAR = ["add", "sub", "div", "mix", "x2_y2", "x2_xy_y2", "x2_xy_y2_x", "x3_xy", "x3_xy2_y"]


@pytest.mark.parametrize("op", MODULAR)
def test_modular_table_matches_direct_computation(op):
    t = tables.make_table(op, P)
    pairs = [(a, b) for a in range(P) for b in range(P) if not (op == "div" and b == 0)]
    assert t.size == len(pairs)
    got = {(int(r[0]), int(r[2])): int(c) for r, c in zip(t.x, t.y)}
    assert got == {(a, b): direct(op, a, b, P) for a, b in pairs}


def test_every_appendix_op_is_registered():
    assert set(MODULAR + ["s5_mul", "s5_conj", "s5_aba"]) <= set(tables.OPS)


def test_tokens_are_a_op_b_eq():
    t = tables.make_table("add", 97)
    assert t.x.shape == (97 * 97, 4) and t.x.dtype == np.int32
    assert (t.x[:, 1] == 97).all() and (t.x[:, 3] == 98).all()
    assert t.vocab_size == 99 and t.y.max() == 96
    assert tables.make_table("div", 97).size == 97 * 96


def perm_index():
    return {p: i for i, p in enumerate(itertools.permutations(range(5)))}


# Written apart from tables.compose and tables.invert: permutations as numpy
# index arrays, (x·y)(i) = x(y(i)) is x[y], and x⁻¹ is argsort(x).
@pytest.mark.parametrize(
    "op, fn",
    [
        ("s5_mul", lambda x, y: x[y]),
        ("s5_conj", lambda x, y: x[y][np.argsort(x)]),
        ("s5_aba", lambda x, y: x[y][x]),
    ],
)
def test_s5_tables_match_direct_composition(op, fn):
    t = tables.make_table(op)
    perms, idx = np.array(list(itertools.permutations(range(5)))), perm_index()
    assert t.size == 120 * 120 and t.n_symbols == 120
    want = np.array([idx[tuple(fn(perms[a], perms[b]).tolist())] for a, b in zip(t.x[:, 0], t.x[:, 2])])
    np.testing.assert_array_equal(t.y, want)


@pytest.mark.parametrize("op, theirs", [
    ("s5_mul", lambda a, b: b[a]),  # openai/grok data.py: c = b[a]
    # sympy's a*b*~a, its products applying the left factor first: i ↦ a⁻¹(b(a(i)))
    ("s5_conj", lambda a, b: np.argsort(a)[b[a]]),
    ("s5_aba", lambda a, b: a[b[a]]),  # sympy's a*b*a: i ↦ a(b(a(i))), the same as ours
])
def test_s5_tables_are_the_papers_code_with_symbols_renamed_to_their_inverses(op, theirs):
    # README, Operations: ours(x, y) = inv(theirs(inv x, inv y)) for s5 and s5conj; s5aba is equal as it is
    t, idx = tables.make_table(op), perm_index()
    perms = np.array(list(itertools.permutations(range(5))))
    inv = np.array([idx[tuple(np.argsort(p).tolist())] for p in perms])
    rename = op != "s5_aba"
    a, b = (inv[t.x[:, 0]], inv[t.x[:, 2]]) if rename else (t.x[:, 0], t.x[:, 2])
    c = np.array([idx[tuple(theirs(perms[i], perms[j]).tolist())] for i, j in zip(a, b)])
    np.testing.assert_array_equal(t.y, inv[c] if rename else c)
    if rename:  # without the renaming the tables differ: the check can fail
        plain = np.array([idx[tuple(theirs(perms[i], perms[j]).tolist())] for i, j in zip(t.x[:, 0], t.x[:, 2])])
        assert (plain != t.y).any()


@pytest.mark.parametrize("op, want", [
    # by hand, with (x·y)(i) = x(y(i)): x = (1,0,2,3,4) swaps 0 and 1, y = (1,2,3,4,0) is i ↦ i+1 mod 5
    ("s5_mul", (0, 2, 3, 4, 1)),  # x(y(0)) = x(1) = 0, x(y(1)) = x(2) = 2, ...; the other order gives (2,1,3,4,0)
    ("s5_conj", (2, 0, 3, 4, 1)),  # x·y·x⁻¹ = (x·y)·x, x an involution: (0,2,3,4,1) after x
    ("s5_aba", (2, 0, 3, 4, 1)),
])
def test_s5_products_written_out_by_hand(op, want):
    t = tables.make_table(op)
    idx = perm_index()
    x, y = idx[(1, 0, 2, 3, 4)], idx[(1, 2, 3, 4, 0)]
    row = np.flatnonzero((t.x[:, 0] == x) & (t.x[:, 2] == y))
    assert t.y[row].tolist() == [idx[want]]


def test_s5_conjugation_by_a_non_involution_written_out_by_hand():
    # x = (1,2,0,3,4) is a 3-cycle 0→1→2→0, x⁻¹ = (2,0,1,3,4); y = (0,1,2,4,3) swaps 3 and 4
    t, idx = tables.make_table("s5_conj"), perm_index()
    x, y = idx[(1, 2, 0, 3, 4)], idx[(0, 1, 2, 4, 3)]
    row = np.flatnonzero((t.x[:, 0] == x) & (t.x[:, 2] == y))
    assert t.y[row].tolist() == [idx[(0, 1, 2, 4, 3)]]  # y moves only 3, 4, which x fixes: x·y·x⁻¹ = y
    y = idx[(1, 0, 2, 3, 4)]  # swaps 0 and 1; conjugated by x: swaps x(0), x(1) = 1, 2
    row = np.flatnonzero((t.x[:, 0] == x) & (t.x[:, 2] == y))
    assert t.y[row].tolist() == [idx[(0, 2, 1, 3, 4)]]
    t = tables.make_table("s5_aba")  # x·y·x by hand: i ↦ x(y(x(i)))
    y = idx[(0, 1, 2, 4, 3)]
    row = np.flatnonzero((t.x[:, 0] == x) & (t.x[:, 2] == y))
    assert t.y[row].tolist() == [idx[(2, 0, 1, 4, 3)]]


def test_s5_closure_identity_and_inverses():
    t = tables.make_table("s5_mul")
    table = np.zeros((120, 120), int)
    table[t.x[:, 0], t.x[:, 2]] = t.y
    assert set(t.y.tolist()) == set(range(120))  # closed, and every element is a product
    e = perm_index()[(0, 1, 2, 3, 4)]
    np.testing.assert_array_equal(table[e], np.arange(120))
    np.testing.assert_array_equal(table[:, e], np.arange(120))
    for row in table:  # a group table is a Latin square: each row a permutation
        assert sorted(row) == list(range(120))
    assert all((table[:, i] == e).sum() == 1 for i in range(120))  # each element has one inverse


def test_div_inverts_mul():
    p = 97
    t = tables.make_table("div", p)
    x, y, c = t.x[:, 0].astype(int), t.x[:, 2].astype(int), t.y.astype(int)
    np.testing.assert_array_equal((c * y) % p, x)


def test_modulus_checks():
    with pytest.raises(tables.OpError, match="prime"):
        tables.make_table("div", 96)
    with pytest.raises(tables.OpError, match="prime"):
        tables.check_modulus("mix", 15)
    tables.check_modulus("add", 96)  # add needs no prime
    with pytest.raises(tables.OpError, match="valid ops: add, sub"):
        tables.get_op("mul_mod")


def test_register_custom_ops(monkeypatch):
    # registered for this test only: `--op all` trains every registered op
    monkeypatch.setattr(tables, "OPS", dict(tables.OPS))
    op = tables.register_modular("test_x2_y", lambda x, y, p: x * x + y, "x²+y", overwrite=True)
    t = tables.make_table(op.name, 5)
    assert {(int(r[0]), int(r[2])): int(c) for r, c in zip(t.x, t.y)} == {
        (a, b): (a * a + b) % 5 for a in range(5) for b in range(5)
    }
    with pytest.raises(tables.OpError, match="already registered"):
        tables.register_modular("test_x2_y", lambda x, y, p: x)
    z3 = tables.register_table("test_z3", ["a", "b", "c"], lambda u, v: "abc"[("abc".index(u) + "abc".index(v)) % 3], overwrite=True)
    assert tables.make_table(z3.name).y.tolist() == [0, 1, 2, 1, 2, 0, 2, 0, 1]
    bad = tables.register_table("test_open", [0, 1], lambda u, v: u + v, overwrite=True)
    with pytest.raises(tables.OpError, match="not closed"):
        tables.make_table(bad.name)


def test_the_grokfast_task_is_x_times_y_with_y_nonzero(monkeypatch):
    # registered for this test only, as its import would: `--op all` trains every registered op
    monkeypatch.setattr(tables, "OPS", dict(tables.OPS))
    assert "mul" not in tables.OPS
    try:
        importlib.import_module("grokjax.grokfast_task")
        t = tables.make_table("mul", P)
    finally:
        sys.modules.pop("grokjax.grokfast_task", None)
    assert t.size == P * (P - 1)
    assert {(int(r[0]), int(r[2])): int(c) for r, c in zip(t.x, t.y)} == {
        (a, b): a * b % P for a in range(P) for b in range(1, P)}


def _train_mask(seed: int, frac: float, data) -> np.ndarray:
    """The training mask a run of ``seed`` and ``frac`` trains on, as training builds it."""
    from grokjax import train
    from grokjax.config import Config, make_runs

    run = jax.tree.map(lambda a: a[0], make_runs(data, [dict(seed=seed, frac=frac)]))
    return np.asarray(train.run_split(Config(), jax.numpy.asarray(data.y), run)[1])


@pytest.mark.parametrize("frac", [0.1, 0.3, 0.5, 0.9])
def test_split_size_and_partition(frac):
    data = tasks.TableTask(op="add").data()
    mask = _train_mask(0, frac, data)
    assert mask.shape == (9409,) and mask.dtype == bool
    assert mask.sum() == round(frac * 9409)
    held_out = np.asarray(tasks.test_mask(jax.numpy.asarray(mask), data.n_pool))
    assert not (mask & held_out).any() and (mask | held_out).all()  # train and val partition the table


def test_splits_nest_across_fractions_and_differ_across_seeds():
    data = tasks.TableTask(op="add").data()
    masks = [_train_mask(3, f, data) for f in (0.2, 0.4, 0.6, 0.8)]
    for small, big in zip(masks, masks[1:]):
        assert (big[small]).all()  # the smaller training set lies inside the larger
    assert (_train_mask(4, 0.4, data) != masks[1]).any()
