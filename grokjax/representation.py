"""Measures of a trained symbol representation (Omnigrok §5's full trajectory).

In the toy addition a symbol k is a vector R_k and a pair's input is
R_i + R_j. The decoder can generalize from any representation in which
R_i + R_j depends on i + j alone, that is every parallelogram i + j = k + l
closes; for p ≥ 3 symbols that holds exactly when the vectors are evenly
spaced on a line, R_k = a + k·d. Two ways to say how far a representation is
from that:

- ``line_residual``: its distance from the nearest such line, relative to
  its spread. Intrinsic: it does not care where the line lies, so it reads a
  representation that trained toward a line of its own.
- ``projected_messiness``: the landscape's own coordinate ξ, the least-squares
  position of R on the segment ξ·own + (1−ξ)·ideal, and ``off_path``, its
  distance from that segment's line in units of the segment's length. The
  reduced trajectory assumes a representation stays on it (Omnigrok
  appendix D, assumption 2).

Pure functions of arrays: they run inside a compiled evaluation (jnp) and on
saved numbers (numpy) alike.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np


def _line_fit(n: int) -> np.ndarray:
    """The [n, n] projection onto {a + k·d}: rows k = 0..n−1."""
    design = np.stack([np.ones(n), np.arange(n, dtype=np.float64)], axis=1)
    return design @ np.linalg.pinv(design)


def line_residual(rep_PxD):
    """‖R − nearest a + k·d‖ / ‖R − mean R‖: 0 on an evenly spaced line, near
    1 for random vectors (for R of shape [p, d])."""
    p = rep_PxD.shape[0]
    fitted = jnp.asarray(_line_fit(p), rep_PxD.dtype) @ rep_PxD
    spread = jnp.linalg.norm(rep_PxD - rep_PxD.mean(axis=0))
    return jnp.linalg.norm(rep_PxD - fitted) / jnp.maximum(spread, 1e-30)


def projected_messiness(rep_PxD, own_PxD, ideal_PxD):
    """(ξ, off_path): R's least-squares position on the line through
    ``ideal`` (ξ = 0) and ``own`` (ξ = 1), and its distance from that line
    over ‖own − ideal‖."""
    delta = own_PxD - ideal_PxD
    length2 = jnp.sum(delta * delta)
    xi = jnp.sum((rep_PxD - ideal_PxD) * delta) / length2
    off = jnp.linalg.norm(rep_PxD - ideal_PxD - xi * delta) / jnp.sqrt(length2)
    return xi, off


def measures(rep_PxD, symbols_2xPxD) -> dict:
    """What an evaluation records of a trained representation: ``line_residual``,
    ``messiness_projected`` and ``off_path`` (``symbols``: own and ideal vectors)."""
    xi, off = projected_messiness(rep_PxD, symbols_2xPxD[0], symbols_2xPxD[1])
    return {"line_residual": line_residual(rep_PxD), "messiness_projected": xi, "off_path": off}


def start(messiness, symbols_2xPxD):
    """A run's starting representation at messiness ξ: ξ·own + (1−ξ)·ideal."""
    own, ideal = symbols_2xPxD[0], symbols_2xPxD[1]
    return messiness * own + (1 - messiness) * ideal
