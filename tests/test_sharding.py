"""The run axis split over devices: 4 forced host devices (see conftest.py)
and 2 processes × 2 devices on localhost stand in for GPUs and hosts."""

import os
import signal
import socket
import subprocess
import sys
import time

import jax
import pytest

import grokjax
from grokjax import engine, report
from grokjax.plan import expand
from grokjax.spec import Product

# 6 runs: padded to 8 on 4 devices. The map run axis (the CPU default) gives
# each run the same program whatever the device count, so the tables are
# byte-identical; under vmap a run's matmuls are batched with however many
# runs share its device, which rounds differently.
ARGS = ["--op", "add", "--modulus", "11", "--d-model", "32", "--n-heads", "2", "--n-layers", "1", "--batch-size", "32",
        "--fracs", "0.3,0.5,0.7", "--seeds", "2", "--steps", "40", "--eval-every", "10", "--run-axis", "map",
        "--no-progress"]
EVERY_INTERVENTION = Product(dropout=0.1, weight_noise=0.01, grokfast_lambda=2, grokfast_ma_lambda=1, grokfast_window=3,
                             orthograd=1, weight_norm_target=10,
                             weight_decay_init=1, grad_noise=0.01, update_noise=0.01)


@pytest.fixture(scope="module")
def spec(tiny_spec):
    """ARGS, as a spec."""
    return tiny_spec.replace(fracs=(0.3, 0.5, 0.7), seeds=2, steps=40, eval_every=10, run_axis="map")


def test_four_forced_devices_are_visible():
    assert jax.device_count() == 4


@pytest.fixture(scope="module")
def one_and_four(tmp_path_factory, spec):
    d = tmp_path_factory.mktemp("shard")
    for n in (1, 4):
        grokjax.run(spec.replace(devices=n, ckpt_every=20), d / f"dev{n}", progress=False)
    return d / "dev1", d / "dev4"


def same_tables(a, b):
    for name in ("runs.csv", "curves.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_four_devices_give_the_runs_of_one_device(one_and_four):
    same_tables(*one_and_four)


def test_every_intervention_gives_the_same_bytes_on_one_and_four_devices(spec, tmp_path):
    # Dropout, noise, ⊥Grad, Grokfast, the norm projection and StableMax each
    # once rounded differently on 4 devices (XLA chose divide or multiply by a
    # reciprocal, and tiled a dot to a scalar, per program); see model.softmax.
    every = spec.replace(grid=(EVERY_INTERVENTION,), loss="stablemax", steps=20)
    for n in (1, 4):
        grokjax.run(every.replace(devices=n), tmp_path / f"dev{n}", progress=False)
    same_tables(tmp_path / "dev1", tmp_path / "dev4")


def test_padding_runs_never_reach_the_results(one_and_four):
    _, four = one_and_four
    assert [int(r["run"]) for r in report.read_csv(four / "runs.csv")] == list(range(6))
    curves = report.read_csv(four / "curves.csv")
    assert sorted({int(r["run"]) for r in curves}) == list(range(6)) and len(curves) == 6 * 5


def test_the_state_is_really_sharded(spec):
    plan = expand(spec.replace(steps=10, devices=0))
    assert plan.programs[0].config.devices == 4
    result = engine.train(plan)
    (state,) = result.states
    mesh_devices = set(jax.devices())
    for leaf in jax.tree.leaves(state):
        assert leaf.shape[0] == 8  # 6 runs padded to a multiple of 4
        assert leaf.sharding.spec == jax.sharding.PartitionSpec("runs")
        assert {s.device for s in leaf.addressable_shards} == mesh_devices
        assert all(s.data.shape[0] == 2 for s in leaf.addressable_shards)
    assert result.curves["val_acc"].shape == (2, 6)


@pytest.mark.parametrize("before, after", [(4, 1), (1, 2)])
def test_resume_onto_another_device_count(one_and_four, tmp_path, before, after):
    one, four = one_and_four
    src = {1: one, 4: four}[before]
    out = tmp_path / "moved"
    import shutil

    shutil.copytree(src, out)
    ckpt = out / "checkpoints"
    shutil.rmtree(ckpt / "40")  # as if stopped at step 20
    grokjax.resume(out, devices=after, progress=False)
    same_tables(out, src)


def two_hosts(out, *extra):
    """Two processes of two CPU devices each under jax.distributed on localhost
    (gloo collectives), as two hosts would run the same command."""
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    flags = os.environ["XLA_FLAGS"].replace("device_count=4", "device_count=2")  # keeps the tests' opt level
    env = {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}
    cmd = [sys.executable, "-m", "grokjax.sweep", *ARGS, "--ckpt-every", "20", *extra, "--out", str(out),
           "--coordinator", f"localhost:{port}", "--num-processes", "2"]
    return [subprocess.Popen([*cmd, "--process-id", str(i)], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for i in (0, 1)]


def test_two_processes_of_two_devices_equal_four_devices(one_and_four, tmp_path):
    _, four = one_and_four
    out = tmp_path / "hosts"
    procs = two_hosts(out)
    logs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    for name in ("runs.csv", "curves.csv"):
        assert (out / name).read_bytes() == (four / name).read_bytes()
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["20", "40", "sweep.json"]


def test_a_signal_to_one_host_stops_both_after_the_same_chunk(one_and_four, tmp_path):
    # Ctrl-C reaches process 1 only (it writes no files); both must stop after
    # the same chunk, save, exit 130, and leave a folder that resumes anywhere.
    _, four = one_and_four
    out = tmp_path / "stopped"
    procs = two_hosts(out, "--steps", "100000")
    first = out / "checkpoints" / "20" / "_CHECKPOINT_METADATA"
    deadline = time.time() + 300
    while not first.exists() and all(p.poll() is None for p in procs) and time.time() < deadline:
        time.sleep(0.02)
    assert all(p.poll() is None for p in procs), "a process ended before it could be interrupted"
    procs[1].send_signal(signal.SIGINT)
    logs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [130, 130], logs
    stopped = int(report.read_csv(out / "runs.csv")[0]["steps"])
    assert 20 <= stopped < 100000
    assert max(int(p.name) for p in (out / "checkpoints").iterdir() if p.name.isdigit()) == stopped
    upto = min(stopped, 40)  # the trajectory so far is the 4-device one, byte for byte
    pick = lambda folder: [r for r in report.read_csv(folder / "curves.csv") if int(r["step"]) <= upto]  # noqa: E731
    assert pick(out) == pick(four)
    # one process of four devices takes over where the two hosts stopped
    grokjax.resume(out, steps=stopped + 20, devices=4, progress=False)
    assert int(report.read_csv(out / "runs.csv")[0]["steps"]) == stopped + 20
