"""The task interface: each task's data, the MLP, MSE and the regression
threshold, vmapped runs equal to runs alone, the landscape's held norm, and
the arrays task's files, good and bad."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import grokjax
from grokjax import landscape, losses, tables, tasks, train
from grokjax.config import Config, make_runs
from grokjax.errors import SpecError
from grokjax.model import MLP, MLPSpec, make_model
from grokjax.spec import Product, SweepSpec

ROOT = Path(__file__).resolve().parents[1]
SMALL_TS = tasks.TeacherStudentTask(n_train=40, n_test=30, widths=(5, 16, 16, 5))
SMALL_MLP = MLPSpec(depth=3, width=16, activation="tanh")


# ---------------------------------------------------------------- data


def test_table_task_serves_the_operation_table():
    d = tasks.TableTask(op="sub", modulus=7).data()
    t = tables.make_table("sub", 7)
    np.testing.assert_array_equal(d.x, t.x)
    np.testing.assert_array_equal(d.y, t.y)
    assert (d.n_pool, d.n_outputs, d.n_classes, d.fixed_test, d.kind) == (49, 9, 7, False, "classification")


def test_teacher_student_data_has_its_shapes_and_the_teachers_labels():
    task = tasks.TeacherStudentTask()
    d = task.data()
    assert d.x.shape == (200, 5) and d.y.shape == (200, 5)
    assert d.x.dtype == d.y.dtype == np.float32
    assert (d.n_pool, d.fixed_test, d.kind, d.n_outputs) == (100, True, "regression", 5)
    # the labels are the teacher's outputs: tanh between its three linear maps
    (w1, b1), (w2, b2), (w3, b3) = task.teacher()
    want = np.tanh(np.tanh(d.x.astype(np.float64) @ w1 + b1) @ w2 + b2) @ w3 + b3
    np.testing.assert_allclose(d.y, want, rtol=1e-5, atol=1e-6)
    # PyTorch's default init: U(±1/√fan_in) for weights and biases
    assert np.abs(w2).max() <= 1 / np.sqrt(100) and np.abs(b1).max() <= 1 / np.sqrt(5)


def test_the_teacher_is_the_same_for_every_run_and_a_bigger_pool_keeps_the_test_set():
    a = tasks.TeacherStudentTask().build()
    b = tasks.TeacherStudentTask().build()  # built afresh, not from the cache
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    big = tasks.TeacherStudentTask(n_train=150).build()
    np.testing.assert_array_equal(big.x[:100], a.x[:100])  # the pool grows at its end
    np.testing.assert_array_equal(big.x[150:], a.x[100:])  # the same test set
    other = tasks.TeacherStudentTask(teacher_seed=1).build()
    assert not np.allclose(other.y, a.y)


def test_digits_data_has_its_shapes():
    d = tasks.DigitsTask().data()
    assert d.x.shape == (1797, 64) and d.x.dtype == np.float32
    assert d.y.shape == (1797,) and d.y.dtype == np.int32
    assert 0 <= d.x.min() and d.x.max() <= 1 and set(np.unique(d.y)) == set(range(10))
    from sklearn.datasets import load_digits

    raw = load_digits()  # pixels 0..16, scaled by their maximum 16: not by 255 as for MNIST
    np.testing.assert_array_equal(d.x * 16, raw.data)
    np.testing.assert_array_equal(d.y, raw.target)
    assert (d.n_pool, d.fixed_test, d.n_outputs) == (1797, False, 10)


def test_split_masks_train_on_the_pool_and_test_on_the_fixed_rows():
    order = tasks.split_order(jax.random.key(0), 6)
    train_rows = tasks.train_mask(order, 4, 10)
    assert int(train_rows.sum()) == 4 and not bool(train_rows[6:].any())
    held = tasks.test_mask(train_rows, 6)
    np.testing.assert_array_equal(np.asarray(held), np.arange(10) >= 6)  # fixed test rows only
    pool_only = tasks.train_mask(order, 4)
    np.testing.assert_array_equal(np.asarray(tasks.test_mask(pool_only, 6)), ~np.asarray(pool_only))


# ---------------------------------------------------------------- model and loss


@pytest.mark.parametrize("depth,width", [(3, 100), (2, 7), (4, 200)])
def test_mlp_parameter_count_matches_its_widths(depth, width):
    model = make_model(MLPSpec(depth=depth, width=width), n_outputs=10)
    params = model.init(jax.random.key(0), jnp.zeros((1, 64)))
    widths = [64] + [width] * (depth - 1) + [10]
    want = sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))
    assert sum(p.size for p in jax.tree.leaves(params)) == want
    assert model.apply(params, jnp.zeros((3, 64))).shape == (3, 10)


def test_mlp_init_is_pytorchs_default():
    params = MLP(n_outputs=5, depth=2, width=400).init(jax.random.key(0), jnp.zeros((1, 25)))["params"]
    w, b = params["linear0"]["kernel"], params["linear0"]["bias"]
    bound = 1 / np.sqrt(25)
    assert float(jnp.abs(w).max()) <= bound and float(jnp.abs(b).max()) <= bound
    assert float(jnp.abs(b).max()) > 0.9 * bound  # uniform over the whole range, not zeros
    assert abs(float(jnp.std(w)) - bound / np.sqrt(3)) < 0.01


def test_an_mlp_reads_table_tokens_one_hot_per_position():
    table = tables.table_for("sub", 7)  # x: [49, 4] tokens a, ∘, b, = over 9 symbols
    v = table.vocab_size
    model = make_model(MLPSpec(depth=2, width=16), n_outputs=v)
    x = jnp.asarray(table.x)
    p = model.init(jax.random.key(0), x)["params"]
    w0, b0, w1, b1 = p["linear0"]["kernel"], p["linear0"]["bias"], p["linear1"]["kernel"], p["linear1"]["bias"]
    assert w0.shape == (4 * v, 16) and w1.shape == (16, v)
    # the MLP of the one-hot tokens, concatenated: the same init and the same outputs
    one_hot = jax.nn.one_hot(x, v).reshape(len(x), 4 * v)
    dense = model.init(jax.random.key(0), one_hot)["params"]
    jax.tree.map(np.testing.assert_array_equal, dense, p)
    np.testing.assert_allclose(model.apply({"params": p}, x), jax.nn.relu(one_hot @ w0 + b0) @ w1 + b1, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(model.apply({"params": p}, x), model.apply({"params": p}, one_hot), rtol=1e-5, atol=1e-6)


def test_an_mlp_learns_a_table_from_the_command_line(tmp_path, capsys):
    from grokjax.analysis.__main__ import main as analysis_main
    from grokjax.sweep import main

    out = tmp_path / "mlp"
    args = ["--op", "add", "--modulus", "11", "--model", "mlp", "--depth", "2", "--width", "32", "--lr", "3e-2",
            "--fracs", "0.6", "--seeds", "2", "--steps", "200", "--eval-every", "50", "--batch-size", "32", "--devices",
            "1", "--no-progress", "--out", str(out)]
    assert main(args) == 0
    res = grokjax.load(out)
    assert res.spec.model == MLPSpec(depth=2, width=32) and res.spec.task == tasks.TableTask(op="add", modulus=11)
    assert res.curves["train_acc"][0].max() < 0.2 and res.curves["train_acc"][-1].min() > 0.9  # it learns its 73 rows
    assert res.evaluate(1)["val_acc"] == pytest.approx(res.curves["val_acc"][-1, 1], abs=1e-6)
    capsys.readouterr()
    assert analysis_main(["tsne", str(out)]) == 2  # reads the transformer's unembedding
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs the transformer's embeddings; this sweep trained the mlp" in err[0]
    # a transformer's size with --model mlp is one line, and nothing is written
    assert main([*args[:6], "--n-layers", "2", "--out", str(tmp_path / "bad")]) == 2
    assert "model mlp has no setting 'n_layers'" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_a_profile_or_flag_of_another_model_family_replaces_the_model():
    from grokjax import sweep

    spec = SweepSpec.from_toml(ROOT / "sweeps" / "fast_search.toml", "mlp")
    assert spec.model == MLPSpec(depth=2, width=512)  # not merged with the file's transformer sizes
    assert SweepSpec.from_toml(ROOT / "sweeps" / "fast_search.toml").model.name == "transformer"

    def from_flags(*argv):
        parser = sweep.make_parser()
        return sweep.spec_from_args(parser.parse_args(argv), sweep.given_flags(parser, list(argv))).model

    assert from_flags("--preset", "fast", "--model", "transformer") == grokjax.TransformerSpec()
    assert from_flags("--preset", "fast", "--model", "mlp", "--width", "64") == MLPSpec(depth=2, width=64)  # merged
    assert from_flags("--spec", str(ROOT / "sweeps" / "fast.toml"), "--profile", "paper", "--model", "mlp") == MLPSpec()


def test_mse_and_the_regression_threshold_on_a_hand_example():
    out = jnp.array([[0.0, 0.0], [0.1, 0.0], [0.03, 1.04], [0.02, 1.0]])
    y = jnp.array([[0.0, 0.0], [0.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    np.testing.assert_allclose(losses.per_example("mse", out, y), [0.0, 0.005, 0.00125, 0.0002], rtol=1e-5)
    np.testing.assert_array_equal(losses.correct(out, y, 1e-3), [1.0, 0.0, 0.0, 1.0])
    np.testing.assert_array_equal(losses.correct(out, y, 2e-3), [1.0, 0.0, 1.0, 1.0])
    # classification: MSE against the one-hot class, correct by argmax
    logits, labels = jnp.array([[1.0, 0.0, 0.0], [0.2, 0.5, 0.1]]), jnp.array([0, 2])
    np.testing.assert_allclose(losses.per_example("mse", logits, labels), [0.0, (0.04 + 0.25 + 0.81) / 3], rtol=1e-6)
    np.testing.assert_array_equal(losses.correct(logits, labels, 1e-3), [1.0, 0.0])


# ---------------------------------------------------------------- runs


def _sweep(config, runs, chunks):
    d = config.task.data()
    x, y = jnp.asarray(d.x), jnp.asarray(d.y)
    states = train.sweep_init(config, x, runs)
    for n in chunks:
        states, m = train.sweep_chunk(config, x, y, runs, states, n)
    return states, jax.device_get(m)


@pytest.mark.parametrize("task,model,batch", [
    (SMALL_TS, SMALL_MLP, 512),
    (tasks.DigitsTask(), MLPSpec(depth=2, width=8), 16),
])
def test_a_run_inside_a_vmapped_sweep_equals_the_same_run_alone(task, model, batch):
    config = Config(task=task, model=model, loss="mse", batch_size=batch, beta2=0.999, warmup_steps=0,
                    run_axis="vmap", transforms=("grad_noise",))
    rows = [dict(seed=0, n_train=30, lr=1e-3, weight_decay=0.05, init_scale=2.0),
            dict(seed=1, n_train=20, lr=3e-3, weight_decay=0.0, init_scale=0.5, grad_noise=0.01)]
    runs = make_runs(task.data(), rows)
    states, m = _sweep(config, runs, [12])
    for i in range(len(rows)):
        alone, m1 = _sweep(config, runs.run(i), [12])
        for k in m:
            np.testing.assert_allclose(m1[k][0], m[k][i], rtol=2e-4, atol=2e-6, err_msg=k)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a[0], b[i], rtol=2e-4, atol=2e-6), alone.params, states.params)


@pytest.mark.parametrize("text, message", [
    ("0:10:log:3", "a log scale starts above 0"), ("nan,2", "finite"), ("10:1:log:3", "malformed norms"),
    ("-1,2", "must be > 0"), ("2,2", "repeats a norm"),
])
def test_malformed_norms_are_named(text, message):
    with pytest.raises(SpecError, match=message):
        landscape.parse_norms(text)


def test_a_landscape_point_keeps_its_norm_at_every_evaluation():
    spec = landscape.landscape_spec(
        SweepSpec(task=SMALL_TS, model=SMALL_MLP, train_sizes=(20, 40), steps=40, eval_every=10, devices=1),
        (0.5, 3.0, 20.0))
    res = grokjax.run(spec, progress=False)
    norms = res.curves["weight_norm"]  # [T, R], step 0 included
    want = np.array([r["weight_norm_target"] for r in res.runs])
    np.testing.assert_allclose(norms, np.broadcast_to(want, norms.shape), rtol=2e-6)
    rows = landscape.reduce(res)
    assert len(rows) == 6 and {r["n_train"] for r in rows} == {20, 40}
    assert all(r["min_train_loss"] <= r["final_train_loss"] for r in rows)
    # the test side is read where the training loss is lowest (Omnigrok's reduced test loss), never its own minimum
    c = res.curves
    for i, r in enumerate(rows):
        t = 1 + int(np.argmin(c["train_loss"][1:, i]))
        assert (r["min_train_loss"], r["val_loss_at_min_train"], r["val_acc_at_min_train"]) == (
            float(c["train_loss"][t, i]), float(c["val_loss"][t, i]), float(c["val_acc"][t, i]))


def test_the_landscape_figure_keeps_a_zero_loss_and_says_what_each_line_is(tmp_path):
    spec = SweepSpec(task=SMALL_TS, model=SMALL_MLP, train_sizes=(20,), steps=40)
    rows = [{k: 0.5 for k in landscape.COLUMNS} | {"weight_norm_target": w, "n_train": 20, "seed": 0,
                                                   "final_train_loss": loss, "min_train_loss": loss}
            for w, loss in [(1.0, 0.3), (10.0, 2e-7), (100.0, 0.0)]]
    fig = landscape.plot(tmp_path / "lu.png", rows, spec)
    train_loss, test_loss, train_acc, _ = fig.axes
    assert min(train_loss.get_lines()[0].get_ydata()) == pytest.approx(1e-8)  # 0, a decade below 2e-7
    assert train_loss.get_ylabel() == "train loss (MSE)\n(0 drawn at $10^{-8}$, dashed)"
    assert test_loss.get_ylabel() == "test loss (MSE)"  # nothing at 0: no floor to name
    assert train_acc.get_ylabel() == "train accuracy\n(share of samples with MSE < 0.001)"
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "end of run" in labels and "at the run's lowest train loss (Omnigrok's reduced loss)" in labels
    assert "Omnigrok's claim: train loss L-shaped" in fig._suptitle.get_text()
    assert not any(t.gridline.get_visible() for t in train_loss.yaxis.get_minor_ticks())  # ten decades: major grid only


def test_teacher_student_trains_and_its_sizes_read_as_counts():
    spec = SweepSpec(task=SMALL_TS, model=SMALL_MLP, train_sizes=(10, 40), grid=(Product(init_scale=(1.0, 2.0)),),
                     steps=300, eval_every=100, devices=1)
    assert spec.loss == "mse" and spec.beta2 == 0.999 and spec.warmup_steps == 0
    assert spec.grid[0].lr == (3e-4,) and spec.grid[0].weight_decay == (0.05,)  # the task's defaults
    res = grokjax.run(spec, progress=False)
    assert [r["n_train"] for r in res.runs] == [10, 40, 10, 40]
    assert [r["frac"] for r in res.runs] == [0.25, 1.0, 0.25, 1.0]
    assert res.curves["train_loss"][-1].max() < res.curves["train_loss"][0].min()
    assert SweepSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_a_larger_train_size_grows_the_teacher_student_pool():
    spec = SweepSpec(task=tasks.TeacherStudentTask(), train_sizes=(50, 300), steps=1)
    assert (spec.task.n_train, spec.task.pool, spec.task.n_test) == (100, 300, 100)
    data = spec.task.data()
    assert (data.n_pool, data.size, data.n_shuffled) == (300, 400, 100)


def test_a_teacher_student_run_trains_on_the_same_samples_whatever_its_sweep_holds():
    def order(task, n_train):  # seed 0's training rows, in order
        run = jax.tree.map(lambda a: a[0], make_runs(task.data(), [dict(seed=0, n_train=n_train)]))
        return np.asarray(train.run_order(Config(task=task, model=task.default_model(), loss="mse"), run))[:n_train]

    base = SMALL_TS.n_train  # 40
    grown = SweepSpec(task=SMALL_TS, train_sizes=(30, 150, 300), steps=1).task
    assert grown.data().n_pool == 300
    # 30 samples: alone the pool is not grown; beside 300 it is, and the run keeps its samples
    np.testing.assert_array_equal(order(SMALL_TS, 30), order(grown, 30))
    alone150 = SweepSpec(task=SMALL_TS, train_sizes=(150,), steps=1).task
    np.testing.assert_array_equal(order(alone150, 150), order(grown, 150))
    # the first 40 in a shuffled order, then the added samples in turn
    assert sorted(order(grown, 150)[:base]) == list(range(base))
    np.testing.assert_array_equal(order(grown, 150)[base:], np.arange(base, 150))


def test_tasks_refuse_what_they_cannot_do():
    with pytest.raises(SpecError, match="regression and has none"):
        SweepSpec(task=SMALL_TS, grid=(Product(outliers=1),))
    with pytest.raises(SpecError, match="regression: use mse"):
        SweepSpec(task=SMALL_TS, loss="softmax")
    with pytest.raises(SpecError, match="learned by the mlp, not the transformer"):
        SweepSpec(task=tasks.DigitsTask(), model=grokjax.TransformerSpec())
    with pytest.raises(SpecError, match="fracs or train_sizes, not both"):
        SweepSpec(fracs=(0.5,), train_sizes=(100,))
    with pytest.raises(SpecError, match="outside 1..1796"):
        SweepSpec(task=tasks.DigitsTask(), train_sizes=(1797,))
    with pytest.raises(SpecError, match="task digits has no option 'op'"):
        SweepSpec.from_dict({"task": {"name": "digits", "op": "add"}})


# ---------------------------------------------------------------- arrays


def _cli(tool: str, *args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    return subprocess.run([sys.executable, "-m", f"grokjax.{tool}", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd)


def test_arrays_task_trains_a_toy_file(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    np.savez(tmp_path / "toy.npz", x=x, y=y, x_test=x[:10] * 2, y_test=y[:10])
    task = tasks.ArraysTask(data_path=str(tmp_path / "toy.npz"))
    d = task.data()
    assert (d.n_pool, d.size, d.n_classes, d.fixed_test, task.default_loss) == (60, 70, 2, True, "softmax")
    spec = SweepSpec(task=task, model=MLPSpec(width=8), fracs=(0.5, 1.0), steps=200, eval_every=100, devices=1)
    res = grokjax.run(spec, progress=False)
    assert [r["n_train"] for r in res.runs] == [30, 60]
    assert res.curves["train_acc"][-1].min() > 0.9
    # regression: float y
    np.savez(tmp_path / "reg.npz", x=x, y=x[:, :2].astype(np.float64))
    reg = tasks.ArraysTask(data_path=str(tmp_path / "reg.npz"), threshold=0.01)
    assert reg.data().kind == "regression" and reg.default_loss == "mse" and reg.data().y.shape == (60, 2)


BAD_FILES = {
    "missing.npz": (None, "does not exist"),
    "no_y.npz": (dict(x=np.zeros((4, 2))), "has no array 'y'"),
    "lengths.npz": (dict(x=np.zeros((4, 2)), y=np.zeros(3, np.int64)), "x has 4 rows but y has 3"),
    "nan.npz": (dict(x=np.array([[0.0], [np.nan], [1.0], [2.0]]), y=np.arange(4) % 2), "non-finite"),
    "one_array.npz": ("npy", "holds one array, not named arrays"),
    "labels.npz": (dict(x=np.zeros((4, 2)), y=np.array([0, 1, 0, 7])), "class label 7 is not below the 4 rows"),
    "empty_test.npz": (dict(x=np.zeros((4, 2)), y=np.arange(4) % 2, x_test=np.zeros((0, 2)), y_test=np.zeros(0, np.int64)),
                       "x_test is empty"),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_arrays_rejects_a_bad_file_with_one_line_and_exit_2(tmp_path, name):
    arrays, message = BAD_FILES[name]
    if arrays == "npy":  # np.save's single array, under an .npz name
        np.save(tmp_path / "one.npy", np.zeros(3))
        (tmp_path / "one.npy").rename(tmp_path / name)
    elif arrays is not None:
        np.savez(tmp_path / name, **arrays)
    got = _cli("sweep", "--task", "arrays", "--data", tmp_path / name, "--steps", "5", "--out", tmp_path / "out",
               "--no-progress", cwd=tmp_path)
    assert got.returncode == 2, got.stderr
    lines = got.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("grokjax.sweep: error:"), got.stderr
    assert not (tmp_path / "out").exists()


def test_landscape_cli_writes_its_table_and_figure(tmp_path):
    got = _cli("landscape", "--task", "teacher_student", "--n-test", "20", "--width", "8", "--norms", "1:10:log:3",
               "--sizes", "10,20", "--steps", "20", "--eval-every", "10", "--devices", "1", "--out", tmp_path / "lu",
               "--no-progress", cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    text = (tmp_path / "lu" / "landscape.csv").read_text().splitlines()
    assert text[0].startswith("weight_norm_target,n_train,frac,seed") and len(text) == 1 + 3 * 2
    assert (tmp_path / "lu" / "lu.png").stat().st_size > 10_000
    record = json.loads((tmp_path / "lu" / "config.json").read_text())
    assert record["command"].startswith("python -m grokjax.landscape --task teacher_student")
    bad = _cli("landscape", "--task", "digits", "--norms", "0:5:log:3", "--out", tmp_path / "x", cwd=tmp_path)
    assert bad.returncode == 2 and "a log scale starts above 0" in bad.stderr and not (tmp_path / "x").exists()


def test_sizes_are_fractions_or_counts_not_both(tmp_path):
    got = _cli("sweep", "--task", "digits", "--fracs", "0.5", "--train-size", "100", "--out", tmp_path / "o", cwd=tmp_path)
    assert got.returncode == 2 and "give --fracs or --train-size, not both" in got.stderr
    assert not (tmp_path / "o").exists()


def test_a_table_runs_row_names_a_modulus_only_for_ops_that_have_one():
    from grokjax.tasks import TableTask

    assert TableTask(op="add", modulus=7).columns() == {"op": "add", "modulus": 7}
    assert TableTask(op="s5_mul").columns() == {"op": "s5_mul", "modulus": None}  # not the default's 97
    assert [p.columns()["modulus"] for p in TableTask(op="add,s5_mul", modulus=7).parts()] == [7, None]
