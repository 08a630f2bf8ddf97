"""The run axis split over devices: 4 forced host devices (see conftest.py)
and 2 processes × 2 devices on localhost stand in for GPUs and hosts."""

import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from grokjax import report, sweep

# 6 runs: padded to 8 on 4 devices.
ARGS = ["--op", "add", "--modulus", "11", "--d-model", "32", "--n-heads", "2", "--n-layers", "1", "--batch-size", "32",
        "--fracs", "0.3,0.5,0.7", "--seeds", "2", "--steps", "40", "--eval-every", "10", "--no-progress"]
FLOAT_COLUMNS = ("best_val_acc", "final_train_acc", "final_val_acc", "final_train_loss", "final_val_loss",
                 "final_weight_norm")


def test_four_forced_devices_are_visible():
    assert jax.device_count() == 4


@pytest.fixture(scope="module")
def one_and_four(tmp_path_factory):
    d = tmp_path_factory.mktemp("shard")
    for n in (1, 4):
        assert sweep.main([*ARGS, "--devices", str(n), "--ckpt-every", "20", "--out", str(d / f"dev{n}")]) == 0
    return d / "dev1", d / "dev4"


def close_tables(a, b, rtol):
    ra, rb = report.read_csv(a / "runs.csv"), report.read_csv(b / "runs.csv")
    assert len(ra) == len(rb)
    for x, y in zip(ra, rb):
        for k in x:
            if k in FLOAT_COLUMNS:
                np.testing.assert_allclose(float(x[k]), float(y[k]), rtol=rtol, atol=1e-6, err_msg=k)
            else:
                assert x[k] == y[k], k


def test_four_devices_give_the_runs_of_one_device(one_and_four):
    # Same settings, steps and thresholds; the numbers agree to float32
    # rounding: XLA:CPU's per-device program rounds a few sums differently
    # (measured: ~1e-8 after one step), so this is not byte equality.
    one, four = one_and_four
    close_tables(one, four, rtol=1e-4)
    c1, c4 = report.read_csv(one / "curves.csv"), report.read_csv(four / "curves.csv")
    assert [r for r in c1 if r["step"] == "0"] == [r for r in c4 if r["step"] == "0"]  # init and eval: exact


def test_padding_runs_never_reach_the_results(one_and_four):
    _, four = one_and_four
    assert [int(r["run"]) for r in report.read_csv(four / "runs.csv")] == list(range(6))
    curves = report.read_csv(four / "curves.csv")
    assert sorted({int(r["run"]) for r in curves}) == list(range(6)) and len(curves) == 6 * 5


def test_the_state_is_really_sharded(tmp_path):
    plan = sweep.plan_from_args(sweep.make_parser().parse_args([*ARGS, "--steps", "10", "--out", str(tmp_path / "o")]))
    assert plan.config.devices == 4
    result = sweep.run_plan(plan, progress=False)
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
    assert sweep.main(["--resume", str(out), "--devices", str(after), "--no-progress"]) == 0
    close_tables(out, src, rtol=1e-4)
    c_src, c_out = report.read_csv(src / "curves.csv"), report.read_csv(out / "curves.csv")
    assert [r for r in c_out if int(r["step"]) <= 20] == [r for r in c_src if int(r["step"]) <= 20]


def test_two_processes_of_two_devices_equal_four_devices(one_and_four, tmp_path):
    """jax.distributed on localhost: the CPU backend with gloo collectives."""
    _, four = one_and_four
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    out = tmp_path / "hosts"
    cmd = [sys.executable, "-m", "grokjax.sweep", *ARGS, "--ckpt-every", "20", "--out", str(out),
           "--coordinator", f"localhost:{port}", "--num-processes", "2"]
    procs = [subprocess.Popen([*cmd, "--process-id", str(i)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for i in (0, 1)]
    logs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    for name in ("runs.csv", "curves.csv"):
        assert (out / name).read_bytes() == (four / name).read_bytes()
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["20", "40", "sweep.json"]
