"""Measures read off training curves (numpy only).

Curves are ``[T, R]`` arrays, one row per evaluation at ``steps[T]`` and one
column per run.
"""

from __future__ import annotations

import numpy as np

# What every evaluation records, per run: loss and accuracy on the run's
# training rows and on the rest of the table, and the parameters' L2 norm.
METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "weight_norm")

# ...and the L2 norm of each layer (each top-level module of the model:
# ``norm_tok_embed``, ``norm_blocks_0``, …, ``norm_linear0``, …), whose squares
# add up to weight_norm² (Omnigrok Figure 7a follows them over training).
LAYER_NORM_PREFIX = "norm_"

# ...and with a trained representation (the toy addition's full trajectory):
# the decoder's norm, the landscape's w, and where the representation stands
# (grokjax.representation: its distance from an evenly spaced line, and its
# position ξ on the landscape's own-to-ideal segment and distance off it)
REPRESENTATION_METRICS = ("decoder_norm", "line_residual", "messiness_projected", "off_path")


def metric_names(names) -> list[str]:
    """The metrics among ``names`` (curves' keys, or curves.csv's columns):
    METRICS first, then the per-layer norms, in their order, then a trained
    representation's."""
    names = list(names)
    return [*(m for m in METRICS if m in names), *(m for m in names if m.startswith(LAYER_NORM_PREFIX)),
            *(m for m in REPRESENTATION_METRICS if m in names)]


FALLEN = 0.9  # accuracy below this after reaching 0.99: a late collapse

# A run has diverged once any of these is no longer finite (the norm covers
# the parameters: it is finite exactly when all of them are, short of overflow).
DIVERGENCE_METRICS = ("train_loss", "val_loss", "weight_norm")

SUMMARY = (
    "steps_to_99_train",
    "steps_to_99_val",
    "best_val_acc",
    "final_train_acc",
    "final_val_acc",
    "final_train_loss",
    "final_val_loss",
    "final_weight_norm",
    "diverged_step",
)


def steps_to(steps: np.ndarray, acc: np.ndarray, threshold: float = 0.99) -> int | None:
    """The first evaluated step at which ``acc >= threshold``, or None if never.

    Its resolution is the evaluation cadence: the true crossing lies between
    the previous evaluation and this one.
    """
    hit = np.flatnonzero(np.asarray(acc) >= threshold)
    return int(np.asarray(steps)[hit[0]]) if hit.size else None


def diverged_at(curves: dict[str, np.ndarray]) -> np.ndarray:
    """Per run, the index of the first evaluation with a non-finite loss or
    norm, or T (the number of evaluations) if none."""
    bad = np.zeros_like(np.asarray(curves["val_acc"]), dtype=bool)
    for m in DIVERGENCE_METRICS:
        bad |= ~np.isfinite(np.asarray(curves[m]))
    T = bad.shape[0]
    return np.where(bad.any(0), np.argmax(bad, 0), T)


def summarize(steps: np.ndarray, curves: dict[str, np.ndarray]) -> list[dict]:
    """Per-run summary of curves. Accuracies after a run diverged are those of
    NaN weights, so thresholds and the best accuracy read only the evaluations
    before it; ``final_*`` are the last evaluation's, whatever it holds."""
    steps = np.asarray(steps)
    upto = diverged_at(curves)
    out = []
    for r, t in enumerate(upto):
        val, tr = curves["val_acc"][:t, r], curves["train_acc"][:t, r]
        out.append(
            {
                "steps_to_99_train": steps_to(steps[:t], tr),
                "steps_to_99_val": steps_to(steps[:t], val),
                "best_val_acc": float(np.max(val)) if t else None,
                "final_train_acc": float(curves["train_acc"][-1, r]),
                "final_val_acc": float(curves["val_acc"][-1, r]),
                "final_train_loss": float(curves["train_loss"][-1, r]),
                "final_val_loss": float(curves["val_loss"][-1, r]),
                "final_weight_norm": float(curves["weight_norm"][-1, r]),
                "diverged_step": int(steps[t]) if t < len(steps) else None,
            }
        )
    return out


def reached(steps: np.ndarray, curves: dict[str, np.ndarray], threshold: float) -> np.ndarray:
    """Per run: has it reached ``threshold`` val accuracy before diverging?"""
    upto = diverged_at(curves)
    val = np.asarray(curves["val_acc"])
    return np.array([bool((val[:t, r] >= threshold).any()) for r, t in enumerate(upto)], dtype=bool)


def median_steps(values: list[int | None]) -> float | None:
    """Median over seeds, counting a run that never reached the threshold as
    infinitely slow (the paper's "median steps to 99%"); None when that median
    is itself unreached."""
    v = np.array([np.inf if s is None else s for s in values], dtype=float)
    if not v.size:
        return None
    m = float(np.median(v))
    return None if np.isinf(m) or np.isnan(m) else m


def collapses(steps: np.ndarray, acc: np.ndarray, fitted: float = 0.99, below: float = FALLEN) -> list[int]:
    """The late collapses of one run: the first evaluated step of each
    episode in which ``acc`` (train accuracy) falls below ``below`` after it
    first reached ``fitted``. Consecutive evaluations below count once; an
    episode between two evaluations is not seen, so the count depends on
    the evaluation cadence."""
    acc = np.asarray(acc)
    hit = np.flatnonzero(acc >= fitted)
    if not hit.size:
        return []
    low = acc[hit[0]:] < below
    starts = np.flatnonzero(low & ~np.concatenate([[False], low[:-1]]))
    return [int(np.asarray(steps)[hit[0] + i]) for i in starts]
