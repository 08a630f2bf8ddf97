import os

# Tests run on the CPU, split into 4 host devices so that sharding across
# devices is tested too; a sweep uses all of them unless given --devices.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()

import pytest  # noqa: E402

from grokjax.config import Config  # noqa: E402

# A small model on a small table: compiles in seconds and trains in a few more.
TINY = Config(op="add", modulus=11, n_layers=1, d_model=32, n_heads=2, d_mlp=64, batch_size=32, steps=40, eval_every=10)


@pytest.fixture
def tiny():
    return TINY
