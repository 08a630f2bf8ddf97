"""Omnigrok §5's representation: the toy-addition task, the messiness knob
that moves a run's inputs toward a task's ideal representation, the
nearest-class-vector rule, the landscape over weight norm × messiness, and a
trained representation (the full trajectory) with its measures."""

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import grokjax
from grokjax import knobs, landscape, losses, representation, summary, tasks, train
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


# ---------------------------------------------------------------- a trained representation (full trajectory)

TRAINED = tasks.ToyAdditionTask(representation="trained", line_noise=0.0)


def test_line_residual_is_zero_on_any_evenly_spaced_line_and_blind_to_where_it_lies():
    k = np.arange(10.0)[:, None]
    line = np.array([0.3, -1.0]) + k * np.array([0.2, 0.5])
    assert float(representation.line_residual(jnp.asarray(line))) < 1e-6
    turn = np.array([[np.cos(1.0), -np.sin(1.0)], [np.sin(1.0), np.cos(1.0)]])
    bent = line.copy()
    bent[4] += [0.0, 0.7]
    moved = 3.0 * bent @ turn.T + np.array([5.0, -2.0])  # scaled, rotated, shifted
    r = float(representation.line_residual(jnp.asarray(bent)))
    assert 0.05 < r < 1 and abs(float(representation.line_residual(jnp.asarray(moved))) - r) < 1e-5
    # the same line in reverse order is as good; shuffled symbols are not
    assert float(representation.line_residual(jnp.asarray(line[::-1]))) < 1e-6
    assert float(representation.line_residual(jnp.asarray(line[[3, 1, 4, 0, 5, 9, 2, 6, 8, 7]]))) > 0.5


def test_projected_messiness_recovers_xi_on_the_segment_and_measures_the_distance_off_it():
    v = TRAINED.vectors()
    own, ideal = jnp.asarray(v["own"]), jnp.asarray(v["ideal"])
    for xi in (0.0, 0.12, 1.0, 1.5):
        got, off = representation.projected_messiness(xi * own + (1 - xi) * ideal, own, ideal)
        assert abs(float(got) - xi) < 1e-6 and float(off) < 1e-6
    # a step orthogonal to the segment, of length 0.5‖own − ideal‖: ξ unchanged, 0.5 off it
    delta = own - ideal
    side = jnp.zeros_like(delta).at[0, 0].set(1.0)
    side = side - jnp.sum(side * delta) / jnp.sum(delta * delta) * delta
    side = side / jnp.linalg.norm(side) * 0.5 * jnp.linalg.norm(delta)
    got, off = representation.projected_messiness(0.3 * own + 0.7 * ideal + side, own, ideal)
    assert abs(float(got) - 0.3) < 1e-6 and abs(float(off) - 0.5) < 1e-6


def test_a_trained_representation_task_holds_symbol_ids_and_both_sets_of_vectors():
    d, v = TRAINED.data(), TRAINED.vectors()
    assert d.x.dtype == np.int32 and d.x.shape == (55, 2) and d.x_ideal is None
    np.testing.assert_array_equal(d.x, TRAINED.pairs())
    np.testing.assert_allclose(d.symbols, np.stack([v["own"], v["ideal"]]), rtol=1e-6)
    np.testing.assert_array_equal(d.y, tasks.ToyAdditionTask(line_noise=0.0).data().y)  # the same task
    assert "trained representation" in TRAINED.describe()
    with pytest.raises(SpecError, match="unknown representation 'learned'; valid: fixed, trained"):
        tasks.ToyAdditionTask(representation="learned")


def _trained_runs(task, rows):
    return make_runs(task.data(), [dict(seed=0, n_train=45, lr=1e-2, weight_decay=0.1, **r) for r in rows])


def test_a_trained_representation_starts_at_its_messiness_and_computes_what_the_fixed_one_does():
    xis = (0.0, 0.12, 1.0)
    runs = _trained_runs(TRAINED, [dict(messiness=xi, init_scale=3.0) for xi in xis])
    trained = _config(TRAINED, transforms=("messiness",))
    fixed = _config(tasks.ToyAdditionTask(line_noise=0.0), transforms=("messiness",))
    dt, df = TRAINED.data(), fixed.task.data()
    states_t = train.sweep_init(trained, jnp.asarray(dt.x), runs)
    states_f = train.sweep_init(fixed, jnp.asarray(df.x), runs)
    for i, xi in enumerate(xis):
        rep = states_t.params["params"]["representation"][i]
        np.testing.assert_allclose(rep, xi * dt.symbols[0] + (1 - xi) * dt.symbols[1], rtol=1e-6, atol=1e-7)
        # α scales the decoder alone, which is the fixed representation's decoder
        for name, layer in states_f.params["params"].items():
            jax.tree.map(lambda a, b: np.testing.assert_array_equal(a[i], b[i]), layer, states_t.params["params"][name])
        run_t, run_f = (jax.tree.map(lambda a: a[i], r) for r in (runs, runs))
        params_t = jax.tree.map(lambda a: a[i], states_t.params)
        params_f = jax.tree.map(lambda a: a[i], states_f.params)
        x_f, _ = train.run_table(fixed, jnp.asarray(df.x), jnp.asarray(df.y), run_f)
        x_t, _ = train.run_table(trained, jnp.asarray(dt.x), jnp.asarray(dt.y), run_t)
        np.testing.assert_array_equal(x_t, dt.x)  # symbol ids: messiness acts on the start, not the inputs
        np.testing.assert_allclose(train.outputs(trained, x_t, params_t), train.outputs(fixed, x_f, params_f),
                                   rtol=1e-4, atol=1e-4)
    # the representation learns: after a few steps it has left its start (the chunk takes the states: copy first)
    start = np.asarray(states_t.params["params"]["representation"])
    after, m = train.sweep_chunk(trained, jnp.asarray(dt.x), jnp.asarray(dt.y), runs, states_t, 5)
    assert float(np.abs(np.asarray(after.params["params"]["representation"]) - start).max()) > 1e-3


def test_an_evaluation_records_the_decoder_norm_and_where_the_representation_stands():
    runs = _trained_runs(TRAINED, [dict(messiness=0.12, init_scale=8.0), dict(messiness=1.0)])
    config = _config(TRAINED, transforms=("messiness",))
    _, m = _sweep(config, runs, 0)
    assert set(summary.REPRESENTATION_METRICS) <= set(m)
    np.testing.assert_allclose(m["messiness_projected"], [0.12, 1.0], atol=1e-6)
    np.testing.assert_allclose(m["off_path"], 0.0, atol=1e-6)
    np.testing.assert_allclose(m["decoder_norm"] ** 2 + m["norm_representation"] ** 2, m["weight_norm"] ** 2, rtol=1e-5)
    assert float(m["decoder_norm"][0]) > 5 * float(m["decoder_norm"][1])  # α = 8 against 1
    # the flat line's ideal is evenly spaced: a run at ξ = 0 starts with no residual
    _, m0 = _sweep(config, _trained_runs(TRAINED, [dict(messiness=0.0)]), 0)
    assert float(m0["line_residual"][0]) < 1e-5 and float(m["line_residual"][1]) > 0.5
    assert summary.metric_names([*m, "other"])[-4:] == list(summary.REPRESENTATION_METRICS)


def test_representation_lr_scales_the_representation_s_step_and_nothing_else():
    rows = [dict(messiness=0.5, representation_lr=r) for r in (1.0, 0.25)]
    config = _config(TRAINED, transforms=("messiness", "representation_lr"))
    runs = _trained_runs(TRAINED, rows)
    d = TRAINED.data()
    before = train.sweep_init(config, jnp.asarray(d.x), runs)
    start = jax.tree.map(np.asarray, before.params)  # the chunk takes the states
    after, _ = train.sweep_chunk(config, jnp.asarray(d.x), jnp.asarray(d.y), runs, before, 1)
    step = jax.tree.map(lambda a, b: np.asarray(a) - b, after.params, start)
    # (steps of 2e-3 read off parameters near 1: float32 leaves them 1e-7 apart)
    np.testing.assert_allclose(step["params"]["representation"][1], 0.25 * step["params"]["representation"][0],
                               rtol=1e-4, atol=2e-7)
    assert float(np.abs(step["params"]["representation"][0]).max()) > 1e-3
    for name in ("linear0", "linear1", "linear2"):  # one step: the same gradient, the same decoder step
        jax.tree.map(lambda a: np.testing.assert_allclose(a[1], a[0], rtol=1e-4, atol=2e-7), step["params"][name])


def test_representation_lr_at_1_trains_exactly_as_without_it():
    runs = _trained_runs(TRAINED, [dict(messiness=0.3)])
    with_it, m = _sweep(_config(TRAINED, transforms=("messiness", "representation_lr")), runs, 10)
    plain, m_plain = _sweep(_config(TRAINED, transforms=("messiness",)), runs, 10)
    jax.tree.map(np.testing.assert_array_equal, with_it.params, plain.params)
    assert float(m["train_loss"][0]) == float(m_plain["train_loss"][0])


def test_settings_that_need_or_cannot_take_a_trained_representation_are_refused():
    with pytest.raises(SpecError, match="representation_lr acts on a trained representation; the toy-addition mod 10 "
                                        "task has none"):
        SweepSpec(task=TOY, grid=(Product(representation_lr=(0.1,)),), steps=2)
    with pytest.raises(SpecError, match="weight_norm_target holds the norm of every parameter"):
        _config(TRAINED, transforms=("weight_norm_target",))
    with pytest.raises(SpecError, match="learned by the mlp, not the transformer"):
        SweepSpec(task=TRAINED, model=grokjax.TransformerSpec(), steps=2)
    with pytest.raises(SpecError, match="representation_lr 0 must be > 0"):
        SweepSpec(task=TRAINED, grid=(Product(representation_lr=(0.0,)),), steps=2)


def test_a_full_trajectory_sweep_from_a_spec_file_writes_the_representation_s_curves(tmp_path):
    spec_file = tmp_path / "full.toml"
    spec_file.write_text('[profile.tiny]\ntask = { name = "toy_addition", representation = "trained" }\n'
                         'model = { name = "mlp", width = 8, activation = "leaky_relu_0.2" }\ntrain_sizes = [45]\n'
                         'grid = { messiness = [0.1], representation_lr = [1, 0.1] }\nsteps = 20\neval_every = 10\n')
    out = tmp_path / "full"
    got = subprocess.run([sys.executable, "-m", "grokjax.sweep", "--spec", str(spec_file), "--profile", "tiny",
                          "--out", str(out), "--no-progress"], capture_output=True, text=True, cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    loaded = grokjax.load(out)
    assert [r["representation_lr"] for r in loaded.runs] == [1.0, 0.1]
    assert loaded.curves["messiness_projected"].shape == (3, 2)
    np.testing.assert_allclose(loaded.curves["messiness_projected"][0], 0.1, atol=1e-6)
    header = (out / "curves.csv").read_text().splitlines()[0].split(",")
    assert {"decoder_norm", "line_residual", "messiness_projected", "off_path", "norm_representation"} <= set(header)
    assert json.loads((out / "config.json").read_text())["spec"]["task"]["representation"] == "trained"
