"""Checkpoints: a sweep survives SIGKILL and SIGINT, resumes bit-identically,
falls back past a corrupt checkpoint, and any run loads for inspection."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import grokjax
from grokjax import checkpoint, tables, inspect, report, sweep, train

STEPS = 2000  # long enough that a kill lands mid-run, short on a tiny model
# 2 runs on 2 of the 4 test devices: the checkpointed state is sharded.
ARGS = ["--op", "add", "--modulus", "11", "--d-model", "32", "--n-heads", "2", "--n-layers", "1", "--batch-size", "32",
        "--fracs", "0.5", "--seeds", "2", "--devices", "2", "--eval-every", "20", "--ckpt-every", "100", "--no-progress"]


@pytest.fixture(scope="module")
def spec(tiny_spec):
    """ARGS, as a spec."""
    return tiny_spec.replace(fracs=(0.5,), seeds=2, devices=2, eval_every=20, ckpt_every=100, steps=STEPS)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, spec):
    """The sweep run start to finish without interruption, from Python; the
    interrupted ones run from the command line, so these tests also check
    that ARGS and the spec are one sweep."""
    out = tmp_path_factory.mktemp("ref") / "sweep"
    grokjax.run(spec, out, progress=False)
    return out


def same_tables(a, b):
    for name in ("runs.csv", "curves.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def snapshot(folder):
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def start_and_signal(out, sig):
    """Starts the sweep in a subprocess and sends ``sig`` once its first checkpoint is committed."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.Popen([sys.executable, "-m", "grokjax.sweep", *ARGS, "--steps", str(STEPS), "--out", str(out)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = out / "checkpoints" / "100" / "_CHECKPOINT_METADATA"
    deadline = time.time() + 300
    while not first.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the sweep ended before it could be interrupted:\n" + proc.stderr.read()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err


def test_sigkill_mid_run_then_resume_equals_uninterrupted(reference, tmp_path):
    out = tmp_path / "killed"
    rc, _ = start_and_signal(out, signal.SIGKILL)
    assert rc == -signal.SIGKILL
    assert not (out / "runs.csv").exists()
    grokjax.resume(out, progress=False)
    same_tables(out, reference)


def test_sigint_writes_a_resumable_folder_and_exits_130(reference, tmp_path):
    out = tmp_path / "interrupted"
    rc, err = start_and_signal(out, signal.SIGINT)
    assert rc == 130, err
    assert f"--resume {out}" in err
    rows = report.read_csv(out / "runs.csv")
    stopped = int(rows[0]["steps"])
    assert 100 <= stopped < STEPS and (out / "accuracy.png").exists()
    assert {r["stop_reason"] for r in rows} == {"SIGINT"}
    assert checkpoint.manager(out, read_only=True).latest_step() == stopped
    assert sweep.main(["--resume", str(out), "--no-progress"]) == 0
    same_tables(out, reference)


def test_corrupt_latest_checkpoint_falls_back_to_the_previous(reference, tmp_path, capsys):
    out = tmp_path / "corrupt"
    shutil.copytree(reference, out)
    for name in ("runs.csv", "curves.csv"):
        (out / name).unlink()
    latest = out / "checkpoints" / str(STEPS)
    victim = max((p for p in latest.rglob("*") if p.is_file() and p.parent.name == "d"), key=lambda p: p.stat().st_size)
    with open(victim, "r+b") as f:
        f.truncate(10)
    grokjax.resume(out, progress=False)
    err = capsys.readouterr().err
    assert f"checkpoint at step {STEPS} is unreadable" in err and f"resumed from step {STEPS - 100}" in err
    assert (out / "checkpoints" / "unreadable" / str(STEPS)).is_dir()
    same_tables(out, reference)


def test_a_save_killed_before_its_commit_is_never_restored(reference, tmp_path):
    # Orbax writes into <step>.orbax-checkpoint-tmp-* and renames on commit:
    # a save killed midway leaves only the temporary folder.
    out = tmp_path / "uncommitted"
    shutil.copytree(reference, out)
    ck = out / "checkpoints"
    shutil.move(ck / str(STEPS), ck / f"{STEPS}.orbax-checkpoint-tmp-1234567")
    assert checkpoint.good_steps(checkpoint.manager(out, read_only=True))[0] == STEPS - 100
    for name in ("runs.csv", "curves.csv"):
        (out / name).unlink()
    grokjax.resume(out, progress=False)
    same_tables(out, reference)


def test_keeps_the_newest_checkpoints(reference):
    assert checkpoint.manager(reference, read_only=True).all_steps() == [STEPS - 200, STEPS - 100, STEPS]


def test_resume_extends_steps_like_a_longer_run(spec, tmp_path):
    short, longer = tmp_path / "short", tmp_path / "long"
    spec = spec.replace(ckpt_every=0)  # no periodic checkpoints
    grokjax.run(spec.replace(steps=60), short, progress=False)
    got = grokjax.resume(short, steps=100, progress=False)
    want = grokjax.run(spec.replace(steps=100), longer, progress=False)
    same_tables(short, longer)
    assert got.runs == want.runs
    assert json.loads((short / "config.json").read_text())["resumed_from_step"] == 60
    assert grokjax.load(short).spec.steps == 100  # the new budget is the sweep's own


def test_state_round_trips_bit_for_bit(tiny, tmp_path):
    table = tables.table_for(tiny.task.op, tiny.task.modulus)
    from grokjax.config import make_runs

    runs = make_runs(table.size, [dict(seed=s, frac=0.5, lr=1e-3, weight_decay=1.0) for s in (0, 1)])
    state = train.sweep_init(tiny, table.x, runs)
    state, _ = train.sweep_chunk(tiny, table.x, table.y, runs, state, 3)
    mgr = checkpoint.manager(tmp_path, keep=2)
    checkpoint.save(mgr, 3, [state], np.array([0, 3]), {"val_acc": np.zeros((2, 2), np.float32)}, [2])
    got = checkpoint.restore(checkpoint.manager(tmp_path, read_only=True), [jax.eval_shape(lambda: state)])
    assert got.step == 3 and got.skipped == []
    assert jax.tree.structure(got.states[0]) == jax.tree.structure(state)
    for a, b in zip(jax.tree.leaves(got.states[0]), jax.tree.leaves(state)):
        assert a.dtype == b.dtype and np.array_equal(np.asarray(a), np.asarray(b))


def test_load_reproduces_the_recorded_accuracy(reference):
    rows = report.read_csv(reference / "runs.csv")
    sweep_ = grokjax.load(reference)
    for run in (0, 1):
        loaded = checkpoint.load(reference, run)
        assert loaded.step == STEPS and loaded.run["seed"] == run
        m = sweep_.evaluate(run)
        assert report.fmt(np.float32(m["train_acc"])) == rows[run]["final_train_acc"]
        assert report.fmt(np.float32(m["val_acc"])) == rows[run]["final_val_acc"]
        assert report.fmt(np.float32(m["val_loss"])) == rows[run]["final_val_loss"]
    earlier = checkpoint.load(reference, 1, step=STEPS - 100)
    assert earlier.step == STEPS - 100
    assert not all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(earlier.params), jax.tree.leaves(loaded.params)))


def test_inspect_prints_and_draws_the_table(reference, tmp_path, capsys):
    out = tmp_path / "copy"
    shutil.copytree(reference, out)
    assert inspect.main([str(out), "--run", "1", "--table"]) == 0
    text = capsys.readouterr().out
    assert "val_acc" in text and f"at step {STEPS}" in text
    png = out / "analysis" / f"table_step{STEPS}_runs1.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _no_checkpoint(ref, d):
    d.mkdir()
    (d / "runs.csv").write_text("run\n")


def _incompatible(ref, d):
    shutil.copytree(ref, d)
    meta = json.loads((d / "checkpoints" / "sweep.json").read_text())
    (d / "checkpoints" / "sweep.json").write_text(json.dumps({**meta, "format": 999}))


def _format_1(ref, d):
    """As grokjax 0.1.0 wrote it: the sweep recorded as command-line flags."""
    shutil.copytree(ref, d)
    (d / "checkpoints" / "sweep.json").write_text(json.dumps(
        {"format": 1, "grokjax": "0.1.0", "argv": ARGS, "flags": {"op": "add", "steps": STEPS}}))


def _not_orbax(ref, d):
    (d / "checkpoints" / "100").mkdir(parents=True)
    shutil.copy(ref / "checkpoints" / "sweep.json", d / "checkpoints" / "sweep.json")
    (d / "checkpoints" / "100" / "state").write_text("not a checkpoint")


@pytest.mark.parametrize(
    "make, command, message",
    [
        (_no_checkpoint, "resume", "has no checkpoint"),
        (_incompatible, "resume", "(checkpoint format 999), an incompatible grokjax"),
        (_incompatible, "inspect", "an incompatible grokjax"),
        (_format_1, "resume", "was written by grokjax 0.1.0 (checkpoint format 1)"),
        (_format_1, "inspect", "was written by grokjax 0.1.0"),
        (_not_orbax, "resume", "not an orbax checkpoint"),
        (_not_orbax, "inspect", "not an orbax checkpoint"),
        (shutil.copytree, "inspect --run 2", "run 2 is out of range: the sweep has runs 0..1"),
        (shutil.copytree, "resume --lr 3e-3", "--lr 3e-3 conflicts with the sweep"),
        (shutil.copytree, "resume --first-seed 1", "--first-seed 1 conflicts with the sweep"),
        (shutil.copytree, "resume --steps 50", f"steps 50 is below the checkpoint's step {STEPS}"),
        (shutil.copytree, "resume --out x", "drop --out"),
        (shutil.copytree, "resume --spec x.toml", "drop --spec"),
        (shutil.copytree, "resume --profile gpu", "drop --profile"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(reference, tmp_path, capsys, make, command, message):
    d = tmp_path / "bad"
    make(reference, d)
    before = snapshot(d)
    name, *extra = command.split()
    if name == "resume":
        rc = sweep.main(["--resume", str(d), *extra])
    else:
        rc = inspect.main([str(d), *(extra or ["--run", "0"])])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert snapshot(d) == before


def test_resume_without_progress_says_nothing(reference, tmp_path, capsys):
    out = tmp_path / "more"
    shutil.copytree(reference, out)
    res = grokjax.resume(out, steps=STEPS + 20, progress=False)
    assert int(res.steps[-1]) == STEPS + 20 and capsys.readouterr().err == ""


def test_resuming_a_finished_sweep_rewrites_the_same_tables(reference, tmp_path):
    out = tmp_path / "done"
    shutil.copytree(reference, out)
    (out / "runs.csv").unlink()  # as if killed between the final save and the tables
    assert sweep.main(["--resume", str(out), "--no-progress"]) == 0
    same_tables(out, reference)
    assert not json.loads((out / "config.json").read_text()).get("checkpoints")  # nothing saved twice
    assert checkpoint.manager(out, read_only=True).all_steps() == [STEPS - 200, STEPS - 100, STEPS]


def test_a_signal_is_answered_while_a_chunk_still_computes():
    """engine.wait_ready sleeps in Python instead of blocking in XLA, so a
    Ctrl-C during a long chunk runs its handler at once (and a second one can
    abort) rather than when the chunk ends."""
    import os
    import signal
    import threading

    import jax
    import jax.numpy as jnp

    from grokjax import engine

    @jax.jit
    def slow(a):  # a fraction of a second or more of matmuls on any CPU
        return jax.lax.fori_loop(0, 300, lambda i, m: jnp.tanh(m @ m), a)

    a = jnp.eye(512) * 0.5
    slow(a).block_until_ready()  # compiled outside the timing
    running = []
    old = signal.signal(signal.SIGUSR1, lambda *_: running.append(not out.is_ready()))
    try:
        out = slow(a)  # dispatched, still computing
        if out.is_ready():
            pytest.skip("this device computes it before the signal can arrive")
        timer = threading.Timer(0.01, os.kill, (os.getpid(), signal.SIGUSR1))
        timer.start()
        engine.wait_ready(out)
        timer.join()  # the signal has arrived before the handler is put back
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert running == [True]


def test_resume_is_exact_for_every_stateful_intervention(tiny_spec, tmp_path):
    """Grokfast's averages and MA ring, θ₀ for decay toward init, the noise
    draws, outliers and the held norm all live in the checkpoint: stopping at
    step 20 and resuming to 40 trains the same bits as 40 in one go."""
    from grokjax.spec import Product

    every = Product(dropout=0.1, weight_noise=0.01, grokfast_lambda=2, grokfast_ma_lambda=1, grokfast_window=3,
                    orthograd=1, weight_norm_target=10, weight_decay_init=1, grad_noise=0.01, update_noise=0.01,
                    outliers=3)
    spec = tiny_spec.replace(grid=(every,), fracs=(0.5,), seeds=1, steps=40, eval_every=10, run_axis="map")
    straight = grokjax.run(spec, tmp_path / "straight", progress=False)
    grokjax.run(spec.replace(steps=20), tmp_path / "halves", progress=False)
    resumed = grokjax.resume(tmp_path / "halves", steps=40, progress=False)
    np.testing.assert_array_equal(resumed.steps, straight.steps)
    for k in straight.curves:
        np.testing.assert_array_equal(resumed.curves[k], straight.curves[k], err_msg=k)
    jax.tree.map(np.testing.assert_array_equal, resumed.params(0), straight.params(0))


@pytest.mark.parametrize("command, want", [
    ("python -m grokjax.sweep --spec s.toml --out results/q --no-progress",
     "(python -m grokjax.sweep --spec s.toml --out NEW_FOLDER --no-progress)"),
    (["python", "-m", "grokjax.sweep", "--out=results/q"], "(python -m grokjax.sweep --out NEW_FOLDER)"),
    ("python -m grokjax.sweep --op add", "(python -m grokjax.sweep --op add --out NEW_FOLDER)"),
])
def test_a_folder_of_tables_names_the_command_that_remakes_it_elsewhere(tmp_path, command, want):
    # its own --out holds the tables: the same command there would be refused
    (tmp_path / "config.json").write_text(json.dumps({"command": command}))
    with pytest.raises(checkpoint.CheckpointError) as e:
        checkpoint.read_meta(tmp_path)
    assert str(e.value).endswith(f"train it again to a new --out {want}")
