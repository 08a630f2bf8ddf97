"""The optimizer as one optax chain, built per run from Config and RunParams.

Per-run numbers (learning rate, weight decay) enter as traced scalars, so the
same chain serves every run of a vmapped sweep. The paper's default
(appendix A.1.2) is AdamW, lr 1e-3, weight decay 1, β = (0.9, 0.98), and a
linear warmup over the first 10 updates; AdamW here is literally
``scale_by_adam → add_decayed_weights → scale_by_learning_rate``, as in optax.
"""

from __future__ import annotations

import jax.numpy as jnp
import optax


def warmup(lr, warmup_steps: int):
    """Linear warmup: update ``t = 0, 1, …`` uses ``lr·min(1, (t+1)/warmup_steps)``."""

    def schedule(count):
        if warmup_steps <= 0:
            return lr * jnp.ones_like(count, jnp.float32)
        return lr * jnp.minimum(1.0, (count + 1) / warmup_steps)

    return schedule


def make_optimizer(config, run) -> optax.GradientTransformation:
    """AdamW with this run's learning rate and weight decay (scalars under vmap)."""
    return optax.chain(
        optax.scale_by_adam(b1=config.beta1, b2=config.beta2, eps=config.eps),
        optax.add_decayed_weights(run.weight_decay),
        optax.scale_by_learning_rate(warmup(run.lr, config.warmup_steps)),
    )
