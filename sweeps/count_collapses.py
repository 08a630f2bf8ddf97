"""Counts the late collapses of each run of one or more sweep folders.

    python sweeps/count_collapses.py results/collapses_f32_cpu results/collapses_x64_cpu

A collapse (``grokjax.summary.collapses``) is an episode of train accuracy
below 0.9 after the run first reached 0.99; the count depends on the
evaluation cadence, which is printed beside it. Writes ``collapses.json``
into each folder.
"""

import sys
from pathlib import Path

import numpy as np

from grokjax import report, summary


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    for out in map(Path, argv):
        rows, steps, curves = report.read_sweep(out)
        gaps = np.diff(steps)
        cadence = int(gaps[0]) if (gaps == gaps[0]).all() else f"log-spaced, median {int(np.median(gaps))}"
        per_run = []
        for i, r in enumerate(rows):
            got = summary.collapses(steps, curves["train_acc"][:, i])
            fitted = r["steps_to_99_train"]
            span = int(steps[-1]) - fitted if fitted is not None else 0
            per_run.append({"run": r["run"], "seed": r["seed"], "steps_to_99_train": fitted,
                            "steps_to_99_val": r["steps_to_99_val"], "collapses": len(got), "at": got,
                            "per_1000_steps": round(1000 * len(got) / span, 2) if span else None,
                            "min_train_acc_after_fit": round(float(np.min(curves["train_acc"][steps >= (fitted or 0), i])), 4)})
            print(f"{out} run {r['run']} (seed {r['seed']}): {len(got)} collapses after step {fitted} "
                  f"(evaluated every {cadence} steps): {got}")
        report.write_json(out / "collapses.json", {"eval_every": cadence, "below": 0.9, "after": 0.99, "runs": per_run})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
