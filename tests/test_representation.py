"""Omnigrok §5's representation: the toy-addition task, the messiness knob
that moves a run's inputs toward a task's ideal representation, the
nearest-class-vector rule, and the landscape over weight norm × messiness."""

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import grokjax
from grokjax import knobs, landscape, losses, tasks, train
from grokjax.config import Config, make_runs
from grokjax.errors import SpecError
from grokjax.model import ACTIVATIONS, MLPSpec
from grokjax.spec import Product, SweepSpec

TOY = tasks.ToyAdditionTask()
TINY = MLPSpec(depth=3, width=16, activation="leaky_relu_0.2")


def test_toy_addition_pairs_each_unordered_pair_once_with_its_sum_mod_p():
    d = TOY.data()
    v, ij = TOY.vectors(), TOY.pairs()
    assert d.x.shape == (55, 2) and d.y.shape == (55, 30) and d.n_pool == 55 and d.kind == "regression"
    assert {tuple(r) for r in ij} == {(i, j) for i in range(10) for j in range(i, 10)}
    np.testing.assert_allclose(d.x, v["own"][ij[:, 0]] + v["own"][ij[:, 1]], rtol=1e-6)
    np.testing.assert_allclose(d.y, v["targets"][(ij[:, 0] + ij[:, 1]) % 10], rtol=1e-6)
    # the ideal representation is a line: symbol k's first coordinate 2k/(p−1) − 1, its second small
    np.testing.assert_allclose(d.x_ideal[:, 0], (2 * ij[:, 0] / 9 - 1) + (2 * ij[:, 1] / 9 - 1), atol=1e-6)
    assert np.abs(v["ideal"][:, 1]).max() <= 0.3
    assert np.abs(v["own"]).max() <= 1
    # drawn once per representation_seed: the same for every run, another for another seed
    np.testing.assert_array_equal(tasks.ToyAdditionTask().data().x, d.x)
    assert not np.allclose(tasks.ToyAdditionTask(representation_seed=1).data().x, d.x)
    assert tasks.ToyAdditionTask(modulus=7).data().x.shape == (28, 2)
    # line_noise scales the ideal line's second coordinate and nothing else
    flat = tasks.ToyAdditionTask(line_noise=0.0)
    np.testing.assert_array_equal(flat.vectors()["ideal"][:, 1], 0.0)
    np.testing.assert_array_equal(flat.data().x, d.x)
    np.testing.assert_array_equal(flat.data().y, d.y)
    np.testing.assert_allclose(flat.data().x_ideal[:, 0], d.x_ideal[:, 0], atol=1e-6)
    with pytest.raises(SpecError, match="line_noise"):
        tasks.ToyAdditionTask(line_noise=-1)


def test_digits_ideal_images_are_one_grey_level_per_class():
    d = tasks.DigitsTask().data()
    assert d.x_ideal.shape == d.x.shape
    np.testing.assert_allclose(d.x_ideal, np.broadcast_to(np.linspace(-0.5, 0.5, 10)[d.y][:, None], d.x.shape), atol=1e-7)


def test_the_nearest_class_vector_rule_and_the_leaky_relu_on_a_hand_example():
    targets = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    y = targets[jnp.array([1, 2, 0, 2])]
    out = jnp.array([[0.9, 0.3], [0.6, 0.5], [0.4, 0.1], [0.2, 0.7]])  # nearest: 1, 1, 0, 2
    np.testing.assert_array_equal(losses.correct(out, y, 1e-3, targets), [1.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(losses.correct(out, y, 1e-3), [0.0, 0.0, 0.0, 0.0])  # no vectors: the threshold
    np.testing.assert_allclose(ACTIVATIONS["leaky_relu_0.2"](jnp.array([-1.0, 0.0, 2.0])), [-0.2, 0.0, 2.0])


def _config(task, **kw):
    return Config(task=task, model=TINY, loss="mse", batch_size=64, beta2=0.99, warmup_steps=0, run_axis="vmap", **kw)


def _sweep(config, runs, steps):
    d = config.task.data()
    x, y = jnp.asarray(d.x), jnp.asarray(d.y)
    states = train.sweep_init(config, x, runs)
    return train.sweep_chunk(config, x, y, runs, states, steps)


def test_a_run_at_messiness_xi_sees_the_interpolated_inputs():
    config = _config(TOY, transforms=("messiness",))
    d = TOY.data()
    for xi in (0.0, 0.3, 1.0):
        run = jax.tree.map(lambda v: v[0], make_runs(d, [dict(seed=0, n_train=45, messiness=xi)]))
        x, _ = train.run_table(config, jnp.asarray(d.x), jnp.asarray(d.y), run)
        np.testing.assert_allclose(x, xi * d.x + (1 - xi) * d.x_ideal, rtol=1e-6, atol=1e-7)


def test_messiness_1_trains_exactly_as_the_task_without_the_knob_and_vmapped_runs_equal_runs_alone():
    d = TOY.data()
    rows = [dict(seed=0, n_train=45, lr=1e-2, weight_decay=0.0, messiness=m) for m in (0.0, 0.4, 1.0)]
    runs = make_runs(d, rows)
    with_knob, m = _sweep(_config(TOY, transforms=("messiness",)), runs, 20)
    plain, m_plain = _sweep(_config(TOY), runs.run(2), 20)
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(a[2], b[0]), with_knob.params, plain.params)
    assert float(m["val_loss"][2]) == float(m_plain["val_loss"][0])
    for i in range(3):
        alone, m1 = _sweep(_config(TOY, transforms=("messiness",)), runs.run(i), 20)
        for k in m:
            np.testing.assert_allclose(m1[k][0], m[k][i], rtol=2e-4, atol=2e-6, err_msg=k)
    # the inputs matter: three messiness values, three different networks
    assert len({float(v) for v in m["train_loss"]}) == 3


def test_messiness_is_refused_where_a_task_has_no_ideal_representation_and_by_forks():
    for task in (tasks.TableTask(op="add", modulus=7), tasks.TeacherStudentTask(n_train=10, n_test=5)):
        with pytest.raises(SpecError, match="has none"):
            SweepSpec(task=task, grid=(Product(messiness=(0.5,)),), steps=2)
    with pytest.raises(SpecError, match="must be in"):
        SweepSpec(task=TOY, grid=(Product(messiness=(1.5,)),), steps=2)
    assert "cannot change" in knobs.change_problem("messiness", 0.5)
    got = subprocess.run([sys.executable, "-m", "grokjax.sweep", "--op", "add", "--modulus", "7", "--messiness", "0",
                          "--out", "never"], capture_output=True, text=True)
    lines = got.stderr.strip().splitlines()
    assert got.returncode == 2 and len(lines) == 1 and "has none (toy_addition and digits have one" in lines[0]


def test_representation_dependence_reads_the_spread_over_messiness_at_each_norm():
    rows = []
    for w, accs in ((1.0, (0.9, 0.5, 0.2)), (4.0, (1.0, 1.0, 0.7))):
        for xi, a in zip((0.0, 0.5, 1.0), accs):
            rows.append({"weight_norm_target": w, "messiness": xi, "n_train": 10, "seed": 0, "min_train_loss": 0.01,
                         "val_loss_at_min_train": 10 ** -a, "train_acc_at_min_train": 1.0, "val_acc_at_min_train": a})
    got = landscape.representation_dependence(rows)["sizes"]["10"]
    assert got["val_acc_at_min_train_spread"]["per_norm"] == [0.7, 0.3]
    assert got["val_acc_at_min_train_spread"]["mean_over_norms"] == 0.5
    assert got["train_acc_at_min_train_spread"]["mean_over_norms"] == 0.0
    np.testing.assert_allclose(got["val_loss_at_min_train_spread"]["per_norm"], [10 ** -0.2 - 10 ** -0.9,
                                                                               10 ** -0.7 - 10 ** -1.0], atol=1e-6)
    assert got["best_val_acc_at_min_train_per_messiness"] == [1.0, 1.0, 0.7]


def test_the_landscape_over_norm_and_messiness_from_the_command_line(tmp_path):
    out = tmp_path / "rep"
    got = subprocess.run([sys.executable, "-m", "grokjax.landscape", "--task", "toy_addition", "--width", "16",
                          "--norms", "2:20:log:3", "--messiness", "0,1", "--sizes", "30,45", "--steps", "30",
                          "--eval-every", "10", "--devices", "1", "--out", str(out), "--no-progress"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    assert f"{out}/lu_messiness.png, {out}/messiness.json, {out}/contours.csv" in got.stdout
    text = (out / "landscape.csv").read_text().splitlines()
    assert text[0].startswith("weight_norm_target,messiness,n_train") and len(text) == 1 + 3 * 2 * 2
    assert (out / "lu_messiness.png").stat().st_size > 20_000 and not (out / "lu.png").exists()
    dep = json.loads((out / "messiness.json").read_text())
    assert dep["messiness"] == [0.0, 1.0] and set(dep["sizes"]) == {"30", "45"}
    res = grokjax.load(out)
    assert sorted({r["messiness"] for r in res.runs}) == [0.0, 1.0]
    # --width changes the width alone: the rest is the task's model, LeakyReLU(0.2) included
    assert res.spec.model == MLPSpec(depth=3, width=16, activation="leaky_relu_0.2")
    # Figure 6e's contours come with it, at the paper's level; another level beside them, from the folder
    assert len((out / "contours.csv").read_text().splitlines()) == 1 + 2 * 2  # sizes × ξ, one seed
    assert json.loads((out / "contours.json").read_text())["level"] == 0.02 and (out / "contours.png").is_file()
    from grokjax import contours

    assert contours.main([str(out), "--level", "0.5"]) == 0
    assert json.loads((out / "contours_level0.5.json").read_text())["level"] == 0.5
    assert {p.name for p in out.glob("contours_level0.5.*")} == {"contours_level0.5.csv", "contours_level0.5.json",
                                                                 "contours_level0.5.png"}
    got = json.loads((out / "contours.json").read_text())["sizes"]
    assert got["30"]["n_test"] == 25 and got["45"]["n_test"] == 10  # of the 55 pairs
    # a folder whose curves.csv was left out of git (a large landscape) still reads: config.json names its sweep
    (out / "curves.csv").unlink()
    assert grokjax.api.load_spec(out) == res.spec
    assert contours.main([str(out)]) == 0
    # the reduced trajectory needs a gradient in ξ: two values are refused in one line, nothing written
    from grokjax import trajectory

    assert trajectory.main([str(out)]) == 2 and not (out / "trajectory.json").exists()


def test_a_model_flag_keeps_the_rest_of_the_tasks_model():
    d = {"task": {"name": "teacher_student"}, "model": {"width": 8}}
    assert SweepSpec.from_dict(d).model == MLPSpec(depth=3, width=8, activation="tanh")
    d = {"task": {"name": "table", "op": "add", "modulus": 7}, "model": {"name": "mlp", "width": 8}}
    assert SweepSpec.from_dict(d).model == MLPSpec(depth=3, width=8, activation="relu")  # not the table's family


def test_an_arrays_file_may_bring_its_own_ideal_representation(tmp_path):
    rng = np.random.default_rng(0)
    x, x_test = rng.normal(size=(30, 2, 3)), rng.normal(size=(10, 2, 3))
    y, y_test = np.arange(30) % 3, np.arange(10) % 3
    ideal, ideal_test = np.broadcast_to(y[:, None, None], x.shape) * 1.0, np.broadcast_to(y_test[:, None, None], x_test.shape) * 1.0
    np.savez(tmp_path / "d.npz", x=x, y=y, x_test=x_test, y_test=y_test, x_ideal=ideal, x_test_ideal=ideal_test)
    task = tasks.ArraysTask(data_path=str(tmp_path / "d.npz"))
    d = task.data()
    np.testing.assert_array_equal(d.x_ideal, np.concatenate([ideal, ideal_test]).reshape(40, 6).astype(np.float32))
    spec = SweepSpec(task=task, model=MLPSpec(width=8), grid=(Product(messiness=(0.0, 1.0)),), steps=5, devices=1)
    assert len(grokjax.run(spec, progress=False).runs) == 2
    bad = {"x_ideal.npz": (dict(x=x, y=y, x_test=x_test, y_test=y_test, x_ideal=ideal), "but no x_test_ideal"),
           "shape.npz": (dict(x=x, y=y, x_ideal=ideal[:, 0]), "x_ideal has shape (30, 3) but x has (30, 2, 3)"),
           "nan.npz": (dict(x=x, y=y, x_ideal=np.full(x.shape, np.nan)), "x_ideal holds non-finite")}
    for name, (arrays, message) in bad.items():
        np.savez(tmp_path / name, **arrays)
        with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
            tasks.ArraysTask(data_path=str(tmp_path / name))
