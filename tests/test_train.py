import jax
import jax.numpy as jnp
import numpy as np
import pytest

from grokjax import tables, train
from grokjax.config import make_runs


def _setup(cfg, grid):
    t = tables.table_for(cfg.task.op, cfg.task.modulus)
    return jnp.asarray(t.x), jnp.asarray(t.y), make_runs(t.size, grid)


def _sweep(cfg, x, y, runs, chunks):
    states = train.sweep_init(cfg, x, runs)
    ms = []
    for n in chunks:
        states, m = train.sweep_chunk(cfg, x, y, runs, states, n)
        ms.append(jax.device_get(m))
    return states, ms


GRID = [
    dict(seed=0, frac=0.5, lr=1e-3, weight_decay=1.0),
    dict(seed=1, frac=0.3, lr=3e-3, weight_decay=0.0),
    dict(seed=2, frac=0.7, lr=1e-3, weight_decay=0.5),
]


def test_batches_come_from_the_runs_training_rows(tiny):
    order = jax.random.permutation(jax.random.key(0), 121)
    for n_train in (1, 21, 100):
        rows, w = train.sample_batch(jax.random.key(1), order, jnp.int32(n_train), 32)
        k = int(w.sum())
        assert k == min(32, -(-n_train // 2))  # the paper's code: min(B, ceil(n_train/2)); one row still trains
        used = np.asarray(rows)[:k]
        assert len(set(used.tolist())) == k  # no row twice in one batch
        assert set(used.tolist()) <= set(np.asarray(order)[:n_train].tolist())


def test_a_tiny_sweep_lowers_the_training_loss(tiny):
    x, y, runs = _setup(tiny, GRID)
    _, ms = _sweep(tiny, x, y, runs, [0, 40])
    assert (ms[1]["train_loss"] < ms[0]["train_loss"] - 0.3).all(), (ms[0]["train_loss"], ms[1]["train_loss"])


def test_a_run_inside_a_vmapped_sweep_equals_the_same_run_alone(tiny):
    # Two runs carry noise: its keys come from each run's seed, never from its neighbours.
    cfg = tiny.replace(transforms=("grad_noise", "update_noise"))
    grid = [dict(GRID[0], update_noise=0.01), dict(GRID[1], grad_noise=0.05), GRID[2]]
    x, y, runs = _setup(cfg, grid)
    states, ms = _sweep(cfg, x, y, runs, [0, 15])
    for i in range(len(grid)):
        alone_states, alone_ms = _sweep(cfg, x, y, runs.run(i), [0, 15])
        for k in ms[1]:
            np.testing.assert_allclose(alone_ms[1][k][0], ms[1][k][i], rtol=2e-4, atol=2e-5, err_msg=k)
        jax.tree.map(
            lambda a, b: np.testing.assert_allclose(a[0], b[i], rtol=2e-4, atol=2e-5),
            alone_states.params, states.params,
        )


def test_map_and_vmap_run_axes_agree(tiny):
    x, y, runs = _setup(tiny, GRID)
    _, ms_v = _sweep(tiny.replace(run_axis="vmap"), x, y, runs, [15])
    _, ms_m = _sweep(tiny.replace(run_axis="map"), x, y, runs, [15])
    for k in ms_v[0]:
        np.testing.assert_allclose(ms_m[0][k], ms_v[0][k], rtol=2e-4, atol=2e-5, err_msg=k)


@pytest.mark.parametrize("run_axis", ["vmap", "map"])
def test_chunking_does_not_change_the_result(tiny, run_axis):
    cfg = tiny.replace(run_axis=run_axis)
    x, y, runs = _setup(cfg, GRID[:2])
    one, _ = _sweep(cfg, x, y, runs, [12])
    three, _ = _sweep(cfg, x, y, runs, [5, 0, 7])
    jax.tree.map(np.testing.assert_array_equal, one.params, three.params)
    assert three.step.tolist() == [12, 12]


def test_evaluate_splits_the_table_by_the_train_mask(tiny):
    x, y, runs = _setup(tiny, GRID[:1])
    run = jax.tree.map(lambda v: v[0], runs)
    state = train.init_run(tiny, x, run)
    order = train.run_order(tiny, run)
    mask = np.zeros(121, bool)
    mask[np.asarray(order)[: int(run.n_train)]] = True
    m = train.evaluate(tiny, x, y, jnp.asarray(mask), state.params)
    logits = train.model_for(tiny).apply(state.params, x)
    ok = np.asarray(jnp.argmax(logits, -1) == y)
    np.testing.assert_allclose(m["train_acc"], ok[mask].mean(), rtol=1e-6)
    np.testing.assert_allclose(m["val_acc"], ok[~mask].mean(), rtol=1e-6)


def test_factorized_model_path_trains_like_the_straightforward_one(tiny):
    # The speed path must not change results: same run, both paths, 15 steps.
    x, y, runs = _setup(tiny, GRID[:2])
    fast, ms_fast = _sweep(tiny.replace(model_path="factorized"), x, y, runs, [15])
    slow, ms_slow = _sweep(tiny.replace(model_path="answer"), x, y, runs, [15])
    for k in ms_slow[0]:
        np.testing.assert_allclose(ms_fast[0][k], ms_slow[0][k], rtol=2e-4, atol=2e-5, err_msg=k)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5), fast.params, slow.params)


def test_a_programs_batch_is_sized_to_what_its_runs_use(tiny):
    # x+y mod 23 at 0.6 trains on 317 rows, so a step uses min(512, ceil(317 / 2)) = 159 of them:
    # the program computes 159 rows, not 512, and its runs train as they would at 512.
    from grokjax.plan import expand
    from grokjax.spec import SweepSpec

    spec = SweepSpec(task=tiny.task.__class__(op="add", modulus=23), model=tiny.model, fracs=(0.4, 0.6), seeds=1,
                     steps=12, eval_every=12, devices=1)
    (program,) = expand(spec).programs
    assert program.config.batch_size == 159
    assert expand(spec.replace(batch_size=100)).programs[0].config.batch_size == 100
    from grokjax.spec import Product

    full = expand(spec.replace(grid=(Product(full_batch=True),))).programs[0].config
    assert full.batch_size == 317  # one slice holds every training row
    padded = program.config.replace(batch_size=512)
    x, y, runs = _setup(padded, [dict(seed=0, frac=0.4), dict(seed=1, frac=0.6)])
    sized_states, sized = _sweep(program.config, x, y, runs, [0, 12])
    padded_states, padded_ms = _sweep(padded, x, y, runs, [0, 12])
    for k in sized[1]:
        np.testing.assert_allclose(sized[1][k], padded_ms[1][k], rtol=1e-5, atol=1e-6, err_msg=k)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), sized_states.params, padded_states.params)


def test_epoch_batches_visit_every_training_row_once_per_epoch():
    """batches = "epoch": each epoch a new permutation of the run's training
    rows in batches of min(B, ceil(n_train/2)), the last the remainder, as PyTorch."""
    from grokjax.train import epoch_batch

    order = jax.random.permutation(jax.random.key(1), 50)
    n_train, B = 23, 16  # the run's batch: 12; epochs of 12 + 11 rows
    epochs = []
    for e in range(2):
        rows = []
        for step in range(2 * e, 2 * e + 2):
            r, w = epoch_batch(jax.random.key(0), order, n_train, step, B, True)
            assert float(w.sum()) == [12, 11][step % 2]
            rows += [int(x) for x, keep in zip(r, w) if keep]
        assert sorted(rows) == sorted(np.asarray(order[:n_train]).tolist())  # every training row, once
        epochs.append(rows)
    assert epochs[0] != epochs[1]  # a new permutation each epoch


def test_init_scale_multiplies_every_parameter_of_the_same_init(tiny):
    t = tables.table_for(tiny.task.op, tiny.task.modulus)
    x = jnp.asarray(t.x)
    runs = make_runs(t.size, [dict(seed=3, frac=0.5), dict(seed=3, frac=0.5, init_scale=2.0)])
    one, two = (train.init_run(tiny, x, jax.tree.map(lambda v: v[i], runs)).params for i in (0, 1))
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(2 * np.asarray(a), np.asarray(b)), one, two)  # Omnigrok's α
