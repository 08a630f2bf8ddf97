import os

# Tests run on the CPU, single device, whatever the machine has.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pytest  # noqa: E402

from grokjax.config import Config  # noqa: E402

# A small model on a small table: compiles in seconds and trains in a few more.
TINY = Config(op="add", modulus=11, d_model=32, n_heads=2, d_mlp=64, batch_size=32, steps=40, eval_every=10)


@pytest.fixture
def tiny():
    return TINY
