"""Losses and correctness, per example: what a task scores.

``per_example(loss, out, y)`` and ``correct(out, y, threshold)`` take the
model's output ``[B, O]`` and labels: int ``[B]`` classes (classification) or
float ``[B, K]`` targets (regression). Losses:

- ``softmax``: cross-entropy over softmax, the paper's;
- ``stablemax``: cross-entropy over StableMax (Prieto et al. 2025);
- ``mse``: mean squared error over the outputs, against the one-hot class
  (classification, Omnigrok §4) or the targets (regression).

Correct is the argmax for classification, and for regression a mean squared
error below ``threshold`` (Omnigrok §3 uses 10⁻³), or the nearest of a few
class vectors (Omnigrok §5.1).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

LOSSES = ("softmax", "stablemax", "mse")
CLASSIFICATION_ONLY = ("softmax", "stablemax")


def stablemax_cross_entropy(logits_BxV, y_B):
    """−log of StableMax (Prieto et al. 2025): s(x) = x+1 for x ≥ 0, 1/(1−x)
    for x < 0, normalized over the vocabulary. s grows linearly, not
    exponentially, so the loss cannot be driven to 0 by scaling the logits."""
    s_BxV = jnp.where(logits_BxV >= 0, logits_BxV + 1, 1 / (1 - jnp.minimum(logits_BxV, 0)))
    s_y = jnp.take_along_axis(s_BxV, y_B[:, None], axis=-1)[:, 0]
    return jnp.log(s_BxV.sum(-1)) - jnp.log(s_y)


def squared_error(out_BxO, y_B):
    """Mean over outputs of the squared error, against one-hot classes or targets."""
    target = jax.nn.one_hot(y_B, out_BxO.shape[-1], dtype=out_BxO.dtype) if y_B.ndim == 1 else y_B
    return jnp.mean((out_BxO - target) ** 2, axis=-1)


def per_example(loss: str, out_BxO, y_B):
    """The loss of each example, ``[B]``."""
    if loss == "mse":
        return squared_error(out_BxO, y_B)
    if loss == "stablemax":
        return stablemax_cross_entropy(out_BxO, y_B)
    return optax.softmax_cross_entropy_with_integer_labels(out_BxO, y_B)


def correct(out_BxO, y_B, threshold: float, targets_CxO=None):
    """1.0 where an example is right: the argmax is its class, or (regression)
    its squared error, averaged over outputs, is below ``threshold``, or,
    given the task's class vectors ``targets_CxO``, its output lies nearest
    the vector of its target (Omnigrok's toy addition)."""
    if y_B.ndim == 1:
        return (jnp.argmax(out_BxO, -1) == y_B).astype(out_BxO.dtype)
    if targets_CxO is not None:
        t = jnp.asarray(targets_CxO, out_BxO.dtype)
        nearest = lambda v: jnp.argmin(((v[:, None, :] - t[None]) ** 2).sum(-1), -1)  # noqa: E731
        return (nearest(out_BxO) == nearest(y_B)).astype(out_BxO.dtype)
    return (squared_error(out_BxO, y_B) < threshold).astype(out_BxO.dtype)
