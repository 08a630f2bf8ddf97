"""Measures read off training curves."""

from __future__ import annotations

import numpy as np


def steps_to(steps: np.ndarray, acc: np.ndarray, threshold: float = 0.99) -> int | None:
    """The first evaluated step at which ``acc >= threshold``, or None if never.

    Its resolution is the evaluation cadence: the true crossing lies between
    the previous evaluation and this one.
    """
    hit = np.flatnonzero(np.asarray(acc) >= threshold)
    return int(np.asarray(steps)[hit[0]]) if hit.size else None


def summarize(steps: np.ndarray, curves: dict[str, np.ndarray]) -> list[dict]:
    """Per-run summary of curves shaped ``[T, R]`` evaluated at ``steps[T]``."""
    out = []
    for r in range(curves["val_acc"].shape[1]):
        out.append(
            {
                "steps_to_99_train": steps_to(steps, curves["train_acc"][:, r]),
                "steps_to_99_val": steps_to(steps, curves["val_acc"][:, r]),
                "best_val_acc": float(np.max(curves["val_acc"][:, r])),
                "final_train_acc": float(curves["train_acc"][-1, r]),
                "final_val_acc": float(curves["val_acc"][-1, r]),
                "final_train_loss": float(curves["train_loss"][-1, r]),
                "final_val_loss": float(curves["val_loss"][-1, r]),
                "final_weight_norm": float(curves["weight_norm"][-1, r]),
            }
        )
    return out


def median_steps(values: list[int | None]) -> float | None:
    """Median over seeds, counting a run that never reached the threshold as
    infinitely slow (the paper's "median steps to 99%"); None when that median
    is itself unreached."""
    v = np.array([np.inf if s is None else s for s in values], dtype=float)
    if not v.size:
        return None
    m = float(np.median(v))
    return None if np.isinf(m) or np.isnan(m) else m
