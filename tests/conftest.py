import os

# Tests run on the CPU, split into 4 host devices so that sharding across
# devices is tested too; a sweep uses all of them unless given --devices.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
# The suite is compile-bound, and XLA's backend at optimization level 0
# compiles the tiny test programs in about half the time (608 s -> 372 s for
# the suite). It rounds some float32 results in the last bit differently from
# the default level, so a release check runs the suite once at the level users
# get: GROKJAX_TEST_OPT_LEVEL=default python -m pytest
if os.environ.get("GROKJAX_TEST_OPT_LEVEL", "0") == "0" and "xla_backend_optimization_level" not in os.environ["XLA_FLAGS"]:
    os.environ["XLA_FLAGS"] += " --xla_backend_optimization_level=0"

import atexit  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

# The persistent compilation cache (on by default) goes to a folder of this
# session, shared by the CLI tests' subprocesses, never to the user's own.
if "GROKJAX_COMPILE_CACHE" not in os.environ:
    os.environ["GROKJAX_COMPILE_CACHE"] = tempfile.mkdtemp(prefix="grokjax-test-cache-")
    atexit.register(shutil.rmtree, os.environ["GROKJAX_COMPILE_CACHE"], True)

import pytest  # noqa: E402

from grokjax.config import Config  # noqa: E402
from grokjax.spec import SweepSpec, TableTask, TransformerSpec  # noqa: E402

# A small model on a small table: compiles in seconds and trains in a few more.
TINY = Config(task=TableTask(op="add", modulus=11), model=TransformerSpec(n_layers=1, d_model=32, n_heads=2, d_mlp=64),
              batch_size=32)
# The same as a sweep: 2 fractions × 2 seeds, 30 steps, evaluated every 10.
TINY_SPEC = SweepSpec(task=TableTask(op="add", modulus=11), model=TransformerSpec(n_layers=1, d_model=32, n_heads=2),
                      batch_size=32, fracs=(0.4, 0.6), seeds=2, steps=30, eval_every=10, devices=1)
# ... and as flags of python -m grokjax.sweep
TINY_ARGS = ["--op", "add", "--modulus", "11", "--n-layers", "1", "--d-model", "32", "--n-heads", "2", "--batch-size", "32",
             "--no-progress"]


@pytest.fixture
def tiny():
    return TINY


@pytest.fixture(scope="session")
def tiny_spec():
    return TINY_SPEC


@pytest.fixture(scope="session")
def tiny_args():
    return list(TINY_ARGS)


@pytest.fixture(autouse=True)
def _op_registry_restored(monkeypatch):
    """A test that loads a sweep file importing an op module (sweeps/grokfast.toml
    registers ``mul``) leaves the registry as it found it: ``--op all`` trains
    every registered op."""
    import sys

    from grokjax import tables

    monkeypatch.setattr(tables, "OPS", dict(tables.OPS))
    had = "grokjax.grokfast_task" in sys.modules
    yield
    if not had:
        sys.modules.pop("grokjax.grokfast_task", None)
