"""Every analysis figure of a sweep folder, drawn again from the CSVs beside
it: no checkpoint, no JAX program. The analyses themselves draw this way,
so a redrawn figure is the one they would draw from those numbers.

    python -m grokjax.analysis redraw OUT
"""

from __future__ import annotations

from pathlib import Path

from grokjax.analysis import fourier, neurons, norms, replay, sharpness, snapshot, table, tsne
from grokjax.checkpoint import CheckpointError


def redraw(out) -> list[Path]:
    """Redraws each figure of ``OUT/analysis`` whose table is there; returns the PNGs written."""
    d = Path(out) / snapshot.OUT_DIR
    if not Path(out).is_dir():
        raise CheckpointError(f"{out} is not a folder")
    if not d.is_dir():
        raise CheckpointError(f"{out} has no {snapshot.OUT_DIR}/ folder: run python -m grokjax.analysis WHAT {out} first")
    plan = snapshot.sweep_plan(out)
    jobs = []  # (the table a figure is drawn from, how)
    if (d / "norms.csv").exists():
        jobs.append((d / "norms.csv", lambda: [norms.draw(out, plan)]))
    if (d / "fourier.csv").exists() and (d / "fourier_spectrum.csv").exists():
        jobs.append((d / "fourier.csv", lambda: fourier.draw(out, plan)))
    if (d / "neurons.csv").exists():
        jobs.append((d / "neurons.csv", lambda: [neurons.draw(out, plan)]))
    for draw, pattern in ((neurons.draw_step, "neurons_step*.csv"), (sharpness.draw, "sharpness_step*.csv"),
                          (table.draw, "table_step*.csv"), (tsne.draw, "tsne_*.csv"), (replay.draw, "replay_step*.csv")):
        jobs += [(p, lambda p=p, draw=draw: [draw(p, plan)]) for p in sorted(d.glob(pattern))
                 if not p.stem.endswith("_runs")]  # a t-SNE's per-run scores go with its points
    written = []
    for csv, job in jobs:
        try:
            written += job()
        except (KeyError, ValueError, IndexError, OSError) as e:
            raise CheckpointError(f"cannot redraw from {csv}: {type(e).__name__} {e}") from None
    return written
