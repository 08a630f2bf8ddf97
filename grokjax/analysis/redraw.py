"""Every analysis figure of a sweep folder, drawn again from the CSVs beside
it: no checkpoint, no JAX program. The analyses themselves draw this way,
so a redrawn figure is the one they would draw from those numbers.

    python -m grokjax.analysis redraw OUT
"""

from __future__ import annotations

from pathlib import Path

from grokjax.analysis import fourier, norms, replay, sharpness, snapshot, table, tsne
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
    for module, pattern in ((sharpness, "sharpness_step*.csv"), (table, "table_step*.csv"), (tsne, "tsne_*.csv"),
                            (replay, "replay_step*.csv")):
        jobs += [(p, lambda p=p, m=module: [m.draw(p, plan)]) for p in sorted(d.glob(pattern))
                 if not p.stem.endswith("_runs")]  # a t-SNE's per-run scores go with its points
    written = []
    for csv, job in jobs:
        try:
            written += job()
        except (KeyError, ValueError, IndexError, OSError) as e:
            raise CheckpointError(f"cannot redraw from {csv}: {type(e).__name__} {e}") from None
    return written
