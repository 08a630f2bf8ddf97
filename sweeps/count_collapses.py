"""Counts the late collapses of each run of one or more sweep folders.

    python sweeps/count_collapses.py results/collapses_f32_cpu results/collapses_x64_cpu
    python sweeps/count_collapses.py --reference results/collapses_reference_cpu/reference.json

A collapse (``grokjax.summary.collapses``) is an episode of train accuracy
below 0.9 after the run first reached 0.99; the count depends on the
evaluation cadence, which is printed beside it. Writes ``collapses.json``
into each folder. ``--reference FILE``: the curves ``reference_grok.py``
recorded from the PyTorch reference (its steps are loop indices: step s
follows s+1 updates); writes ``FILE`` with ``_collapses`` before ``.json``.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from grokjax import report, summary


def unrecovered(steps, acc, got: list[int]) -> dict:
    """Whether the last collapse lasted to the end (train accuracy still
    below 0.9 at the last evaluation): the step it began and the best train
    accuracy from there on, else None for both."""
    acc = np.asarray(acc)
    if not got or acc[-1] >= summary.FALLEN:
        return {"unrecovered_from": None, "max_train_acc_since": None}
    return {"unrecovered_from": got[-1], "max_train_acc_since": round(float(acc[np.asarray(steps) >= got[-1]].max()), 4)}


def said(u: dict, unit: str = "step") -> str:
    return "" if u["unrecovered_from"] is None else \
        f"; the last never recovered (train accuracy at most {u['max_train_acc_since']} from {unit} {u['unrecovered_from']:,} on)"


def reference(path: Path) -> None:
    import json

    record = json.loads(path.read_text())
    per_run = []
    for run in record["runs"]:
        steps = np.array([r["step"] + 1 for r in run["curve"]])  # updates done
        acc = np.array([r["training/accuracy"] for r in run["curve"]])
        got = summary.collapses(steps, acc)
        fitted = summary.steps_to(steps, acc)
        span = int(steps[-1]) - fitted if fitted is not None else 0
        u = unrecovered(steps, acc, got)
        per_run.append({"seed": run["seed"], "steps_to_99_train": fitted,
                        "steps_to_99_val": summary.steps_to(steps, [r["validation/accuracy"] for r in run["curve"]]),
                        "collapses": len(got), "at": got, "per_1000_steps": round(1000 * len(got) / span, 2) if span else None,
                        "min_train_acc_after_fit": round(float(acc[steps >= (fitted or 0)].min()), 4), **u})
        print(f"{path} seed {run['seed']}: {len(got)} collapses after update {fitted}: {got}{said(u, 'update')}")
    report.write_json(path.with_name(path.stem + "_collapses.json"), {"command": f"python sweeps/count_collapses.py --reference {path}",
                                                                      "source": path.name, "below": 0.9, "after": 0.99,
                                                                      "runs": per_run})


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="*", type=Path, help="sweep folders (runs.csv, curves.csv)")
    p.add_argument("--reference", nargs="+", type=Path, metavar="FILE",
                   help="reference_grok.py's JSON files instead of sweep folders")
    args = p.parse_args(argv)
    if not args.folders and not args.reference:
        p.error("name sweep folders or --reference FILE")
    for path in args.reference or ():
        reference(path)
    for out in args.folders:
        if not (out / "curves.csv").is_file():
            p.error(f"{out} is not a sweep folder (no curves.csv)")
        rows, steps, curves = report.read_sweep(out)
        gaps = np.diff(steps)
        cadence = int(gaps[0]) if (gaps == gaps[0]).all() else f"log-spaced, median {int(np.median(gaps))}"
        per_run = []
        for i, r in enumerate(rows):
            got = summary.collapses(steps, curves["train_acc"][:, i])
            fitted = r["steps_to_99_train"]
            span = int(steps[-1]) - fitted if fitted is not None else 0
            u = unrecovered(steps, curves["train_acc"][:, i], got)
            per_run.append({"run": r["run"], "seed": r["seed"], "steps_to_99_train": fitted,
                            "steps_to_99_val": r["steps_to_99_val"], "collapses": len(got), "at": got,
                            "per_1000_steps": round(1000 * len(got) / span, 2) if span else None,
                            "min_train_acc_after_fit": round(float(np.min(curves["train_acc"][steps >= (fitted or 0), i])), 4),
                            **u})
            print(f"{out} run {r['run']} (seed {r['seed']}): {len(got)} collapses after step {fitted} "
                  f"(evaluated every {cadence} steps): {got}{said(u)}")
        report.write_json(out / "collapses.json", {"command": f"python sweeps/count_collapses.py {out}",
                                                   "eval_every": cadence, "below": 0.9, "after": 0.99, "runs": per_run})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
