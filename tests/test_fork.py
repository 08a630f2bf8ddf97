"""Forks: a saved sweep continued from a checkpoint with per-run numbers
changed. Changing nothing continues exactly; a change acts from the fork's
step on, as the replay's what-if computes it; the source is only read."""

import json
import shutil

import jax
import numpy as np
import pytest

import grokjax
from grokjax import checkpoint, forking, plots, sweep
from grokjax.analysis import replay
from grokjax.errors import SpecError
from grokjax.plan import expand
from grokjax.spec import SweepSpec, variant_grid


@pytest.fixture(scope="module")
def source(tmp_path_factory, tiny_spec):
    """x+y mod 11 at 50%, 2 seeds, 40 steps, a checkpoint every 10."""
    out = tmp_path_factory.mktemp("fork") / "source"
    res = grokjax.run(tiny_spec.replace(fracs=(0.5,), steps=40, ckpt_every=10, ckpt_keep=10), out, progress=False)
    return out, res


@pytest.fixture(scope="module")
def grokfast_source(tmp_path_factory, tiny_spec):
    """The same with Grokfast-EMA at λ 2 on both runs, 20 steps."""
    out = tmp_path_factory.mktemp("fork") / "grokfast"
    grokjax.run(tiny_spec.replace(fracs=(0.5,), steps=20, ckpt_every=10, ckpt_keep=10,
                                  grid=(grokjax.Product(grokfast_lambda=2.0),)), out, progress=False)
    return out


def files(folder):
    return {str(p): p.stat().st_mtime_ns for p in sorted(folder.rglob("*"))}


def test_a_fork_that_changes_nothing_continues_exactly(source, tmp_path):
    src, res = source
    before = files(src)
    got = grokjax.fork(src, tmp_path / "same", step=20, progress=False)
    np.testing.assert_array_equal(got.steps, res.steps)
    for k in res.curves:  # the source's curves up to step 20, and then the same training
        np.testing.assert_array_equal(got.curves[k], res.curves[k], err_msg=k)
    jax.tree.map(np.testing.assert_array_equal, got.params(1), res.params(1))
    record = json.loads((tmp_path / "same" / "config.json").read_text())
    assert record["forked_from"] == {"sweep": str(src), "step": 20, "set": {}, "was": {}}
    assert "resumed_from_step" not in record  # a fork's start is no resume
    assert got.saved_steps() == [20, 30, 40]  # from the source's state at 20 on: resumable at once
    assert files(src) == before  # the source is only read


def test_a_fork_is_the_replays_what_if(source, tmp_path):
    """Weight decay off from step 10: the fork's evaluation at step 13 is the
    one ``replay --set weight_decay=0`` computes update by update."""
    src, res = source
    src = shutil.copytree(src, tmp_path / "copy")  # the replay writes analysis/ into its folder
    got = grokjax.fork(src, tmp_path / "wd0", step=10, settings={"weight_decay": 0}, steps=13, progress=False)
    assert got.steps.tolist() == [0, 10, 13] and [r["weight_decay"] for r in got.runs] == [0, 0]
    for k in res.curves:
        np.testing.assert_array_equal(got.curves[k][:2], res.curves[k][:2], err_msg=k)
    rows = replay.run(src, step=10, updates=3, settings={"weight_decay": 0}, progress=False)
    for run in (0, 1):
        row = next(r for r in rows if r["run"] == run and r["step"] == 13)
        for k in ("train_loss", "val_loss", "train_acc", "weight_norm"):
            assert got.curves[k][-1, run] == np.float32(row[k]), k


def test_a_fork_can_turn_a_transform_off(grokfast_source, tmp_path):
    """Grokfast off from step 10: the fork's program keeps Grokfast's averages
    (so the source's states fit, and its resume re-plans the same program),
    each run passes through it at λ 0, and the evaluation 3 updates on is
    the one ``replay --set grokfast_lambda=0`` computes update by update."""
    src = shutil.copytree(grokfast_source, tmp_path / "copy")
    got = grokjax.fork(src, tmp_path / "off", step=10, settings={"grokfast_lambda": 0}, steps=13, progress=False)
    off = replay.run(src, step=10, updates=3, settings={"grokfast_lambda": 0}, progress=False)
    on = replay.run(src, step=10, updates=3, progress=False)
    for run in (0, 1):
        at_13 = [next(r for r in rows if r["run"] == run and r["step"] == 13) for rows in (off, on)]
        for k in ("train_loss", "val_loss", "weight_norm"):
            assert got.curves[k][-1, run] == np.float32(at_13[0][k]), k
        assert at_13[0]["train_loss"] != at_13[1]["train_loss"]  # λ 2 would have gone elsewhere
    spec = checkpoint.read_spec(tmp_path / "off")
    assert [(p.grokfast_lambda, p.was) for p in spec.grid] == [((0.0,), (("grokfast_lambda", 2.0),))]
    assert "grokfast" in expand(spec).programs[0].config.transforms
    assert plots.fork_changes(plots.read_spec(tmp_path / "off")) == {
        "grokfast_lambda": "grokfast_lambda=2→0 from step 10"}
    assert grokjax.resume(tmp_path / "off", steps=16, progress=False).steps[-1] == 16
    # a fork of the fork that turns it back on: the earliest numbers still hold the program together
    again = forking.forked_spec(spec, {"grokfast_lambda": 1})
    assert again.grid[0].was == (("grokfast_lambda", 2.0),)


def test_a_learning_rate_near_zero_holds_the_weights(source, tmp_path):
    """AdamW moves each weight by at most about lr per update: at lr 1e-12
    and no decay, ten updates leave the saved weights as they were."""
    src, res = source
    got = grokjax.fork(src, tmp_path / "still", step=20, settings={"lr": 1e-12, "weight_decay": 0}, steps=30,
                       progress=False)
    moved = jax.tree.map(lambda a, b: float(np.max(np.abs(a - b))), got.params(0, step=30), got.params(0, step=20))
    assert max(jax.tree.leaves(moved)) <= 1e-9
    at = list(res.steps).index(30)
    assert (got.curves["weight_norm"][-1] > res.curves["weight_norm"][at]).all()  # the source's decayed meanwhile


def test_a_fork_resumes_like_any_sweep(source, tmp_path):
    src, _ = source
    straight = grokjax.fork(src, tmp_path / "straight", step=10, settings={"lr": 3e-3}, steps=40, progress=False)
    grokjax.fork(src, tmp_path / "halves", step=10, settings={"lr": 3e-3}, steps=30, progress=False)
    resumed = grokjax.resume(tmp_path / "halves", steps=40, progress=False)
    for k in straight.curves:
        np.testing.assert_array_equal(resumed.curves[k], straight.curves[k], err_msg=k)
    record = json.loads((tmp_path / "halves" / "config.json").read_text())
    assert record["forked_from"]["set"] == {"lr": 3e-3} and record["resumed_from_step"] == 30


def test_a_fork_of_a_fork_on_more_devices_keeps_both_records(source, tmp_path):
    """A fork on 2 devices of a 1-device source (its states re-padded and
    split), forked again: each record nests its source's, and the figure's
    title names both changes."""
    src, res = source
    first = grokjax.fork(src, tmp_path / "first", step=10, settings={"lr": 3e-3}, steps=20, devices=2, progress=False)
    again = grokjax.fork(tmp_path / "first", tmp_path / "again", settings={"lr": 1e-3}, steps=30, progress=False)
    for k in res.curves:  # back to the source's lr at step 20: not the source's numbers, but its own history kept
        np.testing.assert_array_equal(again.curves[k][:3], first.curves[k], err_msg=k)
    record = json.loads((tmp_path / "again" / "config.json").read_text())["forked_from"]
    assert (record["step"], record["set"], record["was"]) == (20, {"lr": 1e-3}, {"lr": [3e-3]})
    assert record["forked_from"]["step"] == 10 and record["forked_from"]["sweep"] == str(src)
    spec = plots.read_spec(tmp_path / "again")
    assert [f["step"] for f in plots.forks(spec)] == [10, 20] and plots.fork_step(spec) == 20
    assert plots.fork_changes(spec) == {"lr": "lr=0.001→0.003 from step 10, →0.001 from step 20"}


def test_a_fork_that_fails_before_training_leaves_no_folder(source, tmp_path, monkeypatch):
    from grokjax import engine

    def broken(*a, **k):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(engine, "train", broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        grokjax.fork(source[0], tmp_path / "gone", step=20, progress=False)
    assert not (tmp_path / "gone").exists()


def test_the_command_line_forks_and_the_figure_says_so(source, tmp_path, capsys):
    src, _ = source
    out = tmp_path / "cli"
    assert sweep.main(["--fork", str(src), "--at", "20", "--weight-decay", "0", "--out", str(out), "--no-progress"]) == 0
    assert f"wrote {out}/" in capsys.readouterr().out
    assert (out / "accuracy.png").is_file()
    line = plots.settings_line(grokjax.load(out).runs, plots.read_spec(out), width=1000)
    assert "weight_decay=1→0 from step 20" in line and "lr=0.001" in line
    assert plots.fork_step(plots.read_spec(out)) == 20 and plots.fork_step(plots.read_spec(src)) is None


@pytest.mark.parametrize("extra, message", [
    (["--at", "25"], "no checkpoint at step 25; saved steps: [10, 20, 30, 40]"),
    (["--weight-decay", "0,1"], "a fork sets one value of --weight-decay for every run, got 0,1"),
    (["--op", "mul"], "--fork keeps its source's task, model and grid; drop --op"),
    (["--init-scale", "2"], "a fork cannot change init_scale: it acts only at the init"),
    (["--outliers", "2"], "a fork cannot change outliers"),
    (["--grokfast-lambda", "2"], "grokfast_lambda=2 turns on grokfast, which no run of the source's program had"),
    (["--at", "20", "--steps", "20"], "the fork would train nothing: its budget, 20 steps, does not pass step 20"),
    (["--at", "20", "--stop-at", "0.01"], "every run had reached stop_at 0.01 val by step 20"),
    (["--lr", "-1"], "lr -1 must be > 0"),
    (["--resume", "x"], "give --resume OUT or --fork SRC, not both"),
    (["--spec", "x.toml"], "drop --spec"),
    (["--dropout", "0.1"], "dropout=0.1 turns on dropout"),
    (["--out", "SRC/inside"], "lies inside the source"),
    (["--out", "FULL"], "already exists and is not empty"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(source, tmp_path, capsys, extra, message):
    src, _ = source
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("keep")
    extra = [{"SRC/inside": str(src / "inside"), "FULL": str(tmp_path / "full")}.get(a, a) for a in extra]
    before, out, full = files(src), tmp_path / "never", files(tmp_path / "full")
    assert sweep.main(["--fork", str(src), "--out", str(out), *extra, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists() and files(src) == before and files(tmp_path / "full") == full


def test_without_out_the_folder_is_named_after_the_source_and_step(source, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert sweep.main(["--fork", str(source[0]), "--steps", "50", "--no-progress"]) == 0
    (made,) = (tmp_path / "results").iterdir()
    assert made.name.startswith("source-fork40-") and grokjax.load(made).steps[-1] == 50


def test_at_needs_fork(capsys):
    assert sweep.main(["--at", "3"]) == 2
    assert "--at STEP needs --fork SRC" in capsys.readouterr().err


def test_forked_spec_sets_each_grid_entry_and_refuses_a_swept_knob():
    spec = SweepSpec(grid=variant_grid("adamw,adam_lr3e-4"))
    forked = forking.forked_spec(spec, {"weight_decay": 0}, steps=9000)
    assert [p.weight_decay for p in forked.grid] == [(0.0,), (0.0,)] and forked.steps == 9000
    assert [p.lr for p in forked.grid] == [p.lr for p in spec.grid]  # the rest as they were
    assert forking.source_values(spec, "lr") == [1e-3, 3e-4]
    assert [p.was for p in forked.grid] == [(("weight_decay", 1.0),), (("weight_decay", 0.0),)]
    assert SweepSpec.from_dict(forked.to_dict()) == forked  # the fork's record reads back
    assert forked.to_dict()["grid"][0]["was"] == {"weight_decay": 1.0} and "was" not in spec.to_dict()["grid"][0]
    for bad, message in [({"frac": 1}, "was: 'frac' is not a per-run number"), ({"lr": -1}, "was lr -1 must be > 0"),
                         (3, "was must be a table of knob values")]:
        with pytest.raises(SpecError, match=message):
            grokjax.Product(was=bad)
    swept = spec.replace(grid=(grokjax.Product(weight_decay=(0.1, 1.0)),))
    with pytest.raises(SpecError, match="the source sweeps weight_decay over 0.1, 1; a fork sets one value"):
        forking.forked_spec(swept, {"weight_decay": 0})
    two = spec.replace(grid=(grokjax.Product(weight_decay=1.0), grokjax.Product(weight_decay=0.1)))
    with pytest.raises(SpecError, match="two of the source's grid entries differ only in weight_decay"):
        forking.forked_spec(two, {"weight_decay": 0})
    with pytest.raises(SpecError, match="cannot change fracs"):
        forking.forked_spec(spec, {}, fracs=(0.5,))
    with pytest.raises(SpecError, match="'frac' is not one"):
        forking.forked_spec(spec, {"frac": 0.5})
    with pytest.raises(SpecError, match="grokfast_window"):
        forking.forked_spec(spec, {"grokfast_window": 2.5})
    with pytest.raises(SpecError, match="weight_decay -1 must be >= 0"):
        forking.forked_spec(spec, {"weight_decay": -1})
    with pytest.raises(SpecError, match=r"takes its per-run numbers in settings, e.g. settings=\{'lr': ...\}"):
        forking.forked_spec(spec, {}, lr=0.1)
