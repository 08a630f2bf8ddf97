"""Replaying updates from a checkpoint: the path is training's, and each measure is what it says."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import grokjax
from grokjax import losses, train
from grokjax.analysis import __main__ as cli
from grokjax.analysis import replay


@pytest.fixture(scope="module")
def swept(tmp_path_factory, tiny_spec):
    """x+y mod 11: 2 fractions × 2 seeds, 30 steps, a checkpoint every 10."""
    out = tmp_path_factory.mktemp("replay") / "sweep"
    grokjax.run(tiny_spec.replace(ckpt_every=10, ckpt_keep=10), out, progress=False)
    return out


@pytest.fixture(scope="module")
def replayed(swept):
    """Runs 0 and 3 from step 10 to the next saved step, 20."""
    rows = replay.run(swept, runs=[0, 3], step=10, progress=False)
    return rows, json.loads((swept / "analysis" / "replay_step10_to20_runs0_3.json").read_text())


def measured_with(out, run: int, step: int):
    """Run ``run``'s state at ``step``, and its update's measures as a function of its params."""
    _, (start,) = replay.load(out, runs=[run], step=step)
    config = start.config
    one = jax.tree.map(lambda a: a[0], start.run_params)
    state = jax.tree.map(lambda a: jnp.asarray(a[0]), start.states)
    data = config.task.data()
    x, y = jnp.asarray(data.x), jnp.asarray(data.y)
    return state, jax.jit(lambda p: replay.measure_update(config, x, y, one, state.replace(params=p)))


def test_replay_ends_on_the_next_checkpoint_bit_for_bit(replayed):
    rows, meta = replayed
    assert (meta["from_step"], meta["to_step"], meta["runs"]) == (10, 20, [0, 3])
    assert meta["checkpoint"] == {"step": 20, "identical": True, "max_abs_diff": 0.0}
    # curves.csv evaluated steps 10 and 20 of each run: the replay's evaluations there are the sweep's
    assert meta["curves"] == {"evaluations": 4, "identical": 4}
    assert [(r["run"], r["step"]) for r in rows] == [(run, s) for run in (0, 3) for s in range(10, 21)]


def test_the_last_row_has_its_evaluation_and_no_update(replayed):
    rows, _ = replayed
    last = rows[10]
    assert last["step"] == 20 and last["update_norm"] is None and last["batch_loss"] is None
    assert last["weight_norm"] > 0 and last["norm_unembed"] > 0  # from its evaluation
    assert 0 <= last["train_acc"] <= 1 and last["val_loss"] > 0


def test_measures_are_the_update_training_takes(swept, replayed):
    rows, _ = replayed
    step, (start,) = replay.load(swept, runs=[3], step=10)
    config = start.config
    run = jax.tree.map(lambda a: a[0], start.run_params)
    state = jax.tree.map(lambda a: jnp.asarray(a[0]), start.states)
    data = config.task.data()

    @jax.jit  # by hand: the step, its batch's loss by the loss function, and how far the params moved
    def by_hand(state):
        order = train.run_order(config, run)
        x, y = jnp.asarray(data.x), train.run_labels(config, jnp.asarray(data.y), order, run)
        new, grads, _ = train.step_parts(config, x, y, order, run, state)
        rows_B, w_B = train.step_batch(config, order, run, state.step)
        out = train.model_for(config).apply(state.params, x[rows_B], path=config.model_path)
        loss = (losses.per_example(config.loss, out, y[rows_B]) * w_B).sum() / w_B.sum()
        return loss, grads, jax.tree.map(lambda a, b: a - b, new.params, state.params)

    want_loss, grads, moved = by_hand(state)
    want_loss = float(want_loss)
    row = next(r for r in rows if (r["run"], r["step"]) == (3, 10))
    assert row["batch_loss"] == pytest.approx(want_loss, rel=1e-6)
    assert row["grad_norm"] == pytest.approx(float(optax.tree.norm(grads)), rel=1e-6)
    assert row["update_norm"] == pytest.approx(float(optax.tree.norm(moved)), rel=1e-4)
    assert row["weight_norm"] == pytest.approx(float(optax.tree.norm(state.params)), rel=1e-6)
    for kind in ("grad_norm", "update_norm", "norm"):  # the layers' squares add up to the whole
        layers = [v for k, v in row.items() if k.startswith(kind + "_")]
        whole = row["weight_norm" if kind == "norm" else kind]
        assert len(layers) == 3 and np.sqrt(sum(v * v for v in layers)) == pytest.approx(whole, rel=1e-5)


def test_zero_loss_counts_the_rows_softmax_has_saturated(swept):
    state, measure = measured_with(swept, 2, 30)
    plain = measure(state.params)
    assert float(plain["zero_loss_frac"]) == 0.0 and float(plain["batch_acc"]) > 0
    # logits 10⁶ times larger: every row the network gets right has loss exactly 0 in float32
    loud = dict(state.params["params"], unembed=jax.tree.map(lambda a: a * 1e6, state.params["params"]["unembed"]))
    got = measure({"params": loud})
    assert float(got["zero_loss_frac"]) == float(got["batch_acc"]) == float(plain["batch_acc"])
    assert float(got["max_logit"]) == pytest.approx(1e6 * float(plain["max_logit"]), rel=1e-3)


def test_the_command_writes_its_table_figure_and_checks(swept, capsys):
    assert cli.main(["replay", str(swept), "--runs", "1", "--step", "20", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "replayed state at step 30: identical to its checkpoint" in out
    assert "curves.csv: 2 of 2 evaluations in the range identical" in out
    for ext in ("csv", "png", "json"):
        assert (swept / "analysis" / f"replay_step20_to30_runs1.{ext}").is_file()
    meta = json.loads((swept / "analysis" / "replay_step20_to30_runs1.json").read_text())
    assert meta["command"] == ["python", "-m", "grokjax.analysis", "replay", str(swept), "--runs", "1", "--step",
                               "20", "--no-progress"]


def test_past_the_last_checkpoint_it_replays_one_evaluation_interval_unchecked(swept):
    rows = replay.run(swept, runs=[2], step=30, progress=False)
    meta = replay.read_meta(swept, rows, [2])
    assert (meta["from_step"], meta["to_step"], meta["checkpoint"]) == (30, 40, None)
    assert meta["curves"] == {"evaluations": 1, "identical": 1}  # step 30 alone


@pytest.mark.parametrize("args, message", [
    (["--updates", "0"], "updates must be >= 1, got 0"),
    (["--step", "15"], "no checkpoint at step 15"),
    (["--runs", "7"], "run 7 is out of range"),
])
def test_bad_input_is_one_line_and_writes_nothing(swept, capsys, args, message):
    before = sorted(p.name for p in (swept / "analysis").glob("*")) if (swept / "analysis").is_dir() else []
    assert cli.main(["replay", str(swept), "--no-progress", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err, err
    after = sorted(p.name for p in (swept / "analysis").glob("*")) if (swept / "analysis").is_dir() else []
    assert after == before


def test_redraw_draws_the_replay_figure_again_from_its_table(swept, replayed, tmp_path):
    import shutil

    copy = tmp_path / "tables"  # no checkpoint: the tables, and the checks its title reports
    (copy / "analysis").mkdir(parents=True)
    for name in ("config.json", "runs.csv", "curves.csv"):
        shutil.copy(swept / name, copy / name)
    for p in (swept / "analysis").glob("replay_step10_to20_runs0_3.*"):
        shutil.copy(p, copy / "analysis" / p.name)
    assert cli.main(["redraw", str(copy)]) == 0
    name = "replay_step10_to20_runs0_3.png"
    assert (copy / "analysis" / name).read_bytes() == (swept / "analysis" / name).read_bytes()


def test_logit_spread_is_zero_for_a_network_that_ignores_its_input(swept):
    state, measure = measured_with(swept, 1, 20)
    assert float(measure(state.params)["logit_spread"]) > 0.01
    # the unembedding's kernel at zero: every row gets the bias alone
    dead = dict(state.params["params"], unembed=dict(state.params["params"]["unembed"],
                                                     kernel=jnp.zeros_like(state.params["params"]["unembed"]["kernel"])))
    got = measure({"params": dead})
    assert float(got["logit_spread"]) == 0.0 and float(got["batch_acc"]) <= 1 / 11 + 0.2


def test_leaves_split_each_layers_norms_into_its_arrays(swept):
    rows = replay.run(swept, runs=[0], step=20, updates=2, leaves=True, progress=False)
    row = rows[0]
    for prefix in ("grad_norm_", "update_norm_", "norm_"):
        arrays = {k: v for k, v in row.items() if k.startswith(prefix + "blocks_0.")}
        assert "norm_blocks_0.fc1.kernel" in row and len(arrays) == 9, sorted(arrays)  # q kv out fc1 fc2, two LNs × scale, bias
        whole = row[prefix + "blocks_0"]
        assert np.sqrt(sum(v * v for v in arrays.values())) == pytest.approx(whole, rel=1e-5)


def test_under_vmap_a_run_is_replayed_with_its_programs_others_and_still_ends_on_the_checkpoint(tmp_path, tiny_spec):
    out = tmp_path / "vmapped"
    grokjax.run(tiny_spec.replace(run_axis="vmap", ckpt_every=10, steps=20), out, progress=False)
    rows = replay.run(out, runs=[1], step=10, progress=False)
    meta = replay.read_meta(out, rows, [1])
    assert meta["runs"] == [1] and meta["replayed_runs"] == [0, 1, 2, 3]
    assert meta["checkpoint"]["identical"] and {r["run"] for r in rows} == {1}


def test_a_diverged_run_compares_nan_with_nan_and_still_summarises(swept, tmp_path):
    import shutil

    copy = tmp_path / "nan"
    shutil.copytree(swept, copy, ignore=shutil.ignore_patterns("analysis"))
    rows = replay.run(copy, runs=[0], step=20, updates=1, progress=False)
    rows[0]["train_acc"], rows[1]["update_norm"] = float("nan"), None
    assert replay.summary_lines(rows)[0].startswith("run 0: train acc")
    assert replay._same(np.float32("nan"), np.float32("nan")) and not replay._same(np.float32(1), np.float32("nan"))


def test_a_what_if_changes_the_setting_from_the_saved_step_on_and_checks_nothing(swept, replayed):
    rows, _ = replayed
    trained = [r for r in rows if r["run"] == 0]
    what_if = replay.run(swept, runs=[0], step=10, updates=3, settings={"weight_decay": "0"}, progress=False)
    meta = replay.read_meta(swept, what_if, [0], {"weight_decay": 0})
    assert meta["settings"] == {"weight_decay": 0.0} and meta["checkpoint"] is None and meta["curves"] is None
    assert (swept / "analysis" / "replay_step10_to13_runs0_weight_decay0.png").is_file()
    # the same start; without decay the same gradient, and weights that shrink less
    assert what_if[0]["train_loss"] == trained[0]["train_loss"] and what_if[0]["grad_norm"] == trained[0]["grad_norm"]
    assert what_if[1]["weight_norm"] > trained[1]["weight_norm"]


@pytest.mark.parametrize("args, message", [
    (["--set", "dropout=0.1"], "dropout=0.1 turns on dropout, which the program does not compile in"),
    (["--set", "init_scale=2"], "init_scale cannot change: it acts only at the init"),
    (["--set", "frac=0.5"], "'frac' is not a per-run number (valid: lr, weight_decay,"),
    (["--set", "grokfast_window=2.5"], "grokfast_window takes whole numbers, got 2.5"),
    (["--set", "weight_decay"], "malformed --set 'weight_decay': use KEY=VALUE"),
    (["--set", "lr=-1"], "lr -1 must be > 0"),
    (["--set", "lr=fast"], "lr='fast' is not a number"),
])
def test_bad_settings_are_one_line(swept, capsys, args, message):
    assert cli.main(["replay", str(swept), "--step", "10", "--no-progress", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err, err
