"""Interventions that live outside the optimizer chain: the loss, the labels,
the batch, the model's noise, float64, and the Figure 2 presets."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import grokjax
from grokjax import losses, sweep, tables, train
from grokjax.config import make_runs
from grokjax.knobs import TRANSFORMS
from grokjax.model import Transformer, residual_dropout
from grokjax.plan import expand
from grokjax.spec import VARIANTS, Product, SweepSpec


def test_stablemax_cross_entropy_matches_its_definition():
    logits = jnp.array([[2.0, -1.0, 0.0], [-3.0, 0.5, 4.0]])
    y = jnp.array([0, 1])
    s = np.where(np.asarray(logits) >= 0, np.asarray(logits) + 1, 1 / (1 - np.asarray(logits)))
    want = -np.log(s[[0, 1], [0, 1]] / s.sum(1))
    np.testing.assert_allclose(losses.stablemax_cross_entropy(logits, y), want, rtol=1e-6)
    # the probabilities exp(−loss) over every label sum to 1
    p = np.exp(-np.stack([losses.stablemax_cross_entropy(logits, jnp.full(2, c)) for c in range(3)], 1))
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-6)


def test_weight_noise_perturbs_every_weight_by_sigma():
    params = {"w": jnp.zeros((300, 300)), "b": jnp.ones(40_000)}
    noisy = train.perturbed(params, 0.01, jax.random.key(0))
    for k in params:
        d = np.asarray(noisy[k] - params[k])
        tol = 5 * 0.01 / np.sqrt(d.size)  # five standard errors
        assert abs(d.std() - 0.01) < tol and abs(d.mean()) < tol
    np.testing.assert_array_equal(train.perturbed(params, 0.0, jax.random.key(0))["w"], params["w"])


def test_outliers_relabel_k_training_rows_with_other_training_answers():
    table = tables.table_for("add", 11)
    y = jnp.asarray(table.y)
    order = jax.random.permutation(jax.random.key(0), table.size)
    n_train, k = 60, 7
    y2 = np.asarray(train.outlier_labels(y, order, jnp.int32(n_train), jnp.float32(k), table.n_symbols))
    y, order = np.asarray(y), np.asarray(order)
    changed = np.flatnonzero(y2 != y)
    assert sorted(changed) == sorted(order[:k])  # exactly the first k training rows, each really wrong
    donors = set(y[order[k:n_train]].tolist())
    assert set(y2[changed].tolist()) <= donors  # answers of other training equations
    np.testing.assert_array_equal(y2[order[n_train:]], y[order[n_train:]])  # validation untouched
    same = train.outlier_labels(jnp.asarray(y), jnp.asarray(order), jnp.int32(n_train), jnp.float32(0), table.n_symbols)
    np.testing.assert_array_equal(same, y)


def test_full_batch_slices_cover_every_training_row_once():
    order = jax.random.permutation(jax.random.key(1), 50)
    got = []
    for c in range(3):  # ceil(20 / 8) slices of 8
        rows, w = train.full_batch_slice(order, jnp.int32(20), c, 8)
        got += np.asarray(rows)[np.asarray(w) > 0].tolist()
    assert sorted(got) == sorted(np.asarray(order)[:20].tolist())


def test_full_batch_step_is_the_exact_gradient_of_the_mean_training_loss(tiny):
    # The summed slices give the gradient of the mean loss over all n_train
    # rows, computed here directly.
    cfg = tiny.replace(full_batch=True, batch_size=16, warmup_steps=0)
    t = tables.table_for(cfg.task.op, cfg.task.modulus)
    x, y = jnp.asarray(t.x), jnp.asarray(t.y)
    run = jax.tree.map(lambda v: v[0], make_runs(t.size, [dict(GRID[0], weight_decay=0.0)]))
    state = train.init_run(cfg, x, run)
    order = train.run_order(cfg, run)
    got = jax.jit(lambda s: train.step_grads(cfg, x, y, order, run, s))(state)
    rows = order[: int(run.n_train)]
    model = train.model_for(cfg)
    want = jax.jit(jax.grad(lambda p: train.answer_loss(model.apply(p, x[rows]), y[rows], jnp.ones(rows.shape[0]))[0]))(state.params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), got, want)


def test_residual_dropout_rate_zero_is_the_identity_and_positive_rate_is_not():
    model = Transformer(vocab_size=13, d_model=32, n_heads=4, d_mlp=64)
    x = jnp.asarray(tables.table_for("add", 11).x[:32])
    params = model.init(jax.random.key(0), x[:1])
    apply = jax.jit(model.apply, static_argnames="path")
    plain = apply(params, x, path="answer")
    rngs = {"dropout": jax.random.key(1)}
    # rate 0 is the identity; only XLA's fusion of the other program may round differently
    np.testing.assert_allclose(apply(params, x, path="answer", dropout_rate=0.0, rngs=rngs), plain, rtol=1e-5, atol=1e-6)
    assert not np.allclose(apply(params, x, path="answer", dropout_rate=0.3, rngs=rngs), plain)
    with pytest.raises(ValueError, match="dropout"):
        model.apply(params, x, dropout_rate=0.1, rngs=rngs)  # the factorized path shares work across examples


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_residual_dropout_zeroes_a_fraction_rate_and_keeps_the_mean(rate):
    # inverted dropout: each entry 0 with probability `rate`, else x/(1 − rate), so E[out] = x
    x = jnp.linspace(-2.0, 3.0, 50)
    draws = np.stack([np.asarray(residual_dropout(x, jnp.float32(rate), jax.random.key(i))) for i in range(400)])
    kept = draws != 0
    assert abs(1 - kept.mean() - rate) < 0.02
    np.testing.assert_allclose(draws[kept], np.broadcast_to(np.asarray(x) / (1 - rate), draws.shape)[kept], rtol=1e-6)
    sigma = np.abs(np.asarray(x)) * np.sqrt(rate / (1 - rate) / len(draws))  # std of the mean of the draws
    assert np.all(np.abs(draws.mean(0) - np.asarray(x)) <= 5 * sigma + 1e-6)


GRID = [dict(seed=0, frac=0.5, lr=1e-3, weight_decay=1.0), dict(seed=1, frac=0.4, lr=1e-3, weight_decay=0.0)]


def _train(cfg, grid, n=8):
    t = tables.table_for(cfg.task.op, cfg.task.modulus)
    x, y, runs = jnp.asarray(t.x), jnp.asarray(t.y), make_runs(t.size, grid)
    states = train.sweep_init(cfg, x, runs)
    return train.sweep_chunk(cfg, x, y, runs, states, n)


def test_every_intervention_at_zero_trains_exactly_like_the_plain_run(tiny):
    base = tiny.replace(model_path="answer")
    # messiness and representation_lr need a task with an ideal or a trained representation (at 1 each is the
    # plain run: test_representation.py)
    everything = base.replace(transforms=tuple(t for t in TRANSFORMS if t not in ("messiness", "representation_lr")),
                              grokfast_window=2)
    plain, m_plain = _train(base, GRID, n=4)
    ours, m_ours = _train(everything, [dict(r, grokfast_window=2) for r in GRID], n=4)  # Grokfast-MA's window fills
    # Equal up to float32 rounding: the two programs are compiled (fused) differently.
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), ours.params, plain.params)
    for k in m_plain:
        np.testing.assert_allclose(m_ours[k], m_plain[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_weight_noise_dropout_and_outliers_change_training_per_run(tiny):
    cfg = tiny.replace(model_path="answer", transforms=("dropout", "outliers", "weight_noise"))
    grid = [dict(GRID[0], weight_noise=0.05), dict(GRID[0], dropout=0.2), dict(GRID[0], outliers=10), dict(GRID[0])]
    _, m = _train(cfg, grid)
    losses = np.asarray(m["train_loss"])
    assert len(set(losses.tolist())) == 4, losses


def test_an_outlier_runs_train_metrics_use_its_labels_and_val_the_tasks(tiny):
    cfg = tiny.replace(model_path="answer", transforms=("outliers",))
    t = tables.table_for(cfg.task.op, cfg.task.modulus)
    x, y, runs = jnp.asarray(t.x), jnp.asarray(t.y), make_runs(t.size, [dict(GRID[0], outliers=10)])
    states, m = train.sweep_chunk(cfg, x, y, runs, train.sweep_init(cfg, x, runs), 8)
    run, params = jax.tree.map(lambda a: a[0], (runs, states.params))
    y_run, mask = train.run_split(cfg, y, run)
    changed = np.asarray(y_run != y)
    assert changed.sum() == 10 and not changed[~np.asarray(mask)].any()  # 10 training rows, no held-out one
    own, task = train.evaluate(cfg, x, y_run, mask, params), train.evaluate(cfg, x, y, mask, params)
    for k in ("train_loss", "train_acc", "val_loss", "val_acc"):
        np.testing.assert_allclose(m[k][0], own[k], rtol=1e-5, err_msg=k)
    assert task["val_loss"] == own["val_loss"] and task["train_loss"] != own["train_loss"]


def test_x64_trains_in_float64(tiny):
    cfg = tiny.replace(x64=True)
    with jax.enable_x64(True):
        states, m = _train(cfg, GRID[:1], n=3)
        assert {p.dtype for p in jax.tree.leaves(states.params)} == {jnp.dtype("float64")}
        assert m["train_loss"].dtype == jnp.float64


def test_a_seed_draws_the_same_init_batches_and_noise_under_x64(tiny):
    # so that float64 against float32 compares precision alone (Prieto et al.)
    t = tables.table_for(tiny.task.op, tiny.task.modulus)
    x, runs = jnp.asarray(t.x), make_runs(t.size, GRID)
    key, order = jax.random.key(3), jnp.arange(t.size)
    f32 = train.sweep_init(tiny, x, runs).params
    b32 = train.sample_batch(key, order, 40, 16)[0]
    e32 = train.perturbed({"w": jnp.zeros((3, 4))}, 1.0, key)["w"]
    with jax.enable_x64(True):
        f64 = train.sweep_init(tiny.replace(x64=True), x, runs).params
        b64 = train.sample_batch(key, order, 40, 16)[0]
        e64 = train.perturbed({"w": jnp.zeros((3, 4), jnp.float64)}, 1.0, key)["w"]
        assert {p.dtype for p in jax.tree.leaves(f64)} == {jnp.dtype("float64")} and e64.dtype == jnp.float64
        jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a, np.float64), b), f32, f64)
        np.testing.assert_array_equal(b32, b64)
        np.testing.assert_array_equal(np.asarray(e32, np.float64), e64)


def test_full_batch_in_several_slices_trains_as_in_one(tiny):
    # n_train 60 and 48: four slices of 16 rows against one of 128, summed in another order
    sliced, m_sliced = _train(tiny.replace(full_batch=True, batch_size=16), GRID, n=5)
    whole, m_whole = _train(tiny.replace(full_batch=True, batch_size=128), GRID, n=5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), sliced.params, whole.params)
    np.testing.assert_allclose(m_sliced["train_loss"], m_whole["train_loss"], rtol=1e-5)


def test_variant_all_is_nine_presets_in_two_programs():
    spec = SweepSpec.from_dict({"grid": {"variant": "all"}, "fracs": [0.3, 0.5], "seeds": 2})
    plan = expand(spec)
    assert len(plan.rows) == 9 * 2 * 2
    assert list(dict.fromkeys(r["variant"] for r in plan.rows)) == list(VARIANTS)
    progs = plan.programs
    assert [p.config.full_batch for p in progs] == [False, True]
    assert {plan.rows[i]["variant"] for i in progs[1].runs} == {"adam_fullbatch", "adam_fullbatch_noise"}
    mini = progs[0].config
    assert mini.model_path == "answer" and {"dropout", "weight_noise", "weight_decay_init"} <= set(mini.transforms)
    assert progs[1].config.model_path == "factorized" and progs[1].config.transforms == ("update_noise",)
    by = {r["variant"]: r for r in plan.rows}
    assert by["adamw"]["weight_decay"] == 1 and by["adam"]["weight_decay"] == 0
    assert by["adam_lr3e-3"]["lr"] == 3e-3 and by["adam_weight_noise"]["weight_noise"] == 0.01
    assert by["adam_fullbatch_noise"]["update_noise"] == 1.0 and by["adamw_to_init"]["weight_decay_init"] == 1
    # the CLI's --variant all is the same data
    args = sweep.make_parser().parse_args(argv := ["--variant", "all", "--fracs", "0.3,0.5", "--seeds", "2"])
    assert sweep.spec_from_args(args, sweep.given_flags(sweep.make_parser(), argv)) == spec


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--variant", "sgd"], "unknown variant 'sgd'"),
        (["--variant", "adam", "--weight-decay", "0.5"], "variant adam sets weight_decay itself; drop --weight-decay"),
        (["--dropout", "1"], "dropout 1 must be in [0, 1)"),
        (["--outliers", "1.5"], "outliers takes whole numbers"),
        (["--fracs", "0.5", "--outliers", "5000"], "outliers 5000 is not below the 4704 training rows"),
        (["--loss", "hinge"], "invalid choice"),
    ],
)
def test_bad_intervention_input_is_one_line_exit_2(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert sweep.main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not out.exists()


def test_a_sweep_mixing_two_variants_gives_each_run_its_result_alone(tiny_spec):
    spec = tiny_spec.replace(steps=10, fracs=(0.5,), seeds=1)
    both = grokjax.run(spec.replace(grid=(Product(variant="adamw"), Product(variant="adam_weight_noise"))),
                       progress=False)
    alone = grokjax.run(spec.replace(grid=(Product(variant="adam_weight_noise"),)), progress=False)
    # adamw alone is the plain run (tested elsewhere); the noisy one must not see its neighbour
    assert both.runs[1]["variant"] == "adam_weight_noise"
    for k in ("final_train_loss", "final_val_loss", "final_weight_norm"):
        np.testing.assert_allclose(both.runs[1][k], alone.runs[0][k], rtol=2e-4, err_msg=k)
    assert both.runs[0]["final_train_loss"] != both.runs[1]["final_train_loss"]
