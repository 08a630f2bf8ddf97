"""What each run of a fork did after the fork's step, and, given the source's
own longer run, what it did over the same steps.

    python sweeps/fork_summary.py results/fork_s5_34000_wd0_cpu [...] [--baseline results/fig3_s5_long_cpu]

runs.csv summarizes each run's whole life, the source's steps included; this
looks only at the evaluations after the fork: the first step each run is at
≥ 99% train and val accuracy again, its late collapses (train accuracy below
0.9 after 0.99, ``grokjax.summary.collapses``), its best and last val accuracy,
and its weight norm. ``--baseline``: a folder holding the source's own
training past the fork's step (the same runs in the same order, with its
settings unchanged), summarized over the same steps. Prints a table and
writes ``fork_summary.json`` into each fork's folder.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from grokjax import report, summary


def after(steps, curves, start: int, end: int | None = None) -> list[dict]:
    """Per run, its evaluations in (start, end]."""
    keep = (steps > start) & (steps <= (steps[-1] if end is None else end))
    s = steps[keep]
    out = []
    for r in range(curves["train_acc"].shape[1]):
        train, val, norm = (curves[k][keep, r] for k in ("train_acc", "val_acc", "weight_norm"))
        first = {name: (int(s[np.argmax(acc >= 0.99)]) if (acc >= 0.99).any() else None) for name, acc in
                 (("first_99_train", train), ("first_99_val", val))}
        full_train, full_steps = curves["train_acc"][steps <= s[-1], r], steps[steps <= s[-1]]
        out.append({
            "run": r, "from_step": start, "to_step": int(s[-1]), "evaluations": int(keep.sum()), **first,
            "collapses": [c for c in summary.collapses(full_steps, full_train) if c > start],
            "min_train_acc": round(float(train.min()), 4), "best_val_acc": round(float(val.max()), 4),
            "final_train_acc": round(float(train[-1]), 4), "final_val_acc": round(float(val[-1]), 4),
            "weight_norm_at_fork": round(float(curves["weight_norm"][steps == start, r][0]), 3)
            if (steps == start).any() else None,
            "final_weight_norm": round(float(norm[-1]), 3),
        })
    return out


def read(folder: Path):
    record = json.loads((folder / "config.json").read_text())
    steps, curves = report.read_curves(folder / "curves.csv", record["n_runs"])
    return record, steps, curves


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("forks", nargs="+", type=Path)
    p.add_argument("--baseline", type=Path, help="the source's own longer training, to compare over the same steps")
    args = p.parse_args(argv)
    base = read(args.baseline) if args.baseline else None
    for folder in args.forks:
        record, steps, curves = read(folder)
        fork = record.get("forked_from")
        if not fork:
            print(f"{folder}: not a fork (no forked_from in config.json)", file=sys.stderr)
            return 2
        got = {"forked_from": fork, "runs": after(steps, curves, int(fork["step"]))}
        if base is not None:
            b_steps, b_curves = base[1], base[2]
            if b_steps[-1] > fork["step"]:
                got["baseline"] = {"folder": str(args.baseline),
                                   "runs": after(b_steps, b_curves, int(fork["step"]), int(steps[-1]))}
        report.write_json(folder / "fork_summary.json", got)
        changed = ", ".join(f"{k} {fork['was'][k]} → {v:g}" for k, v in fork["set"].items()) or "nothing changed"
        print(f"{folder}: from step {fork['step']:,}, {changed}")
        for label, rows in [("fork", got["runs"])] + ([("baseline", got["baseline"]["runs"])] if "baseline" in got else []):
            for r in rows:
                print(f"  {label:8s} run {r['run']}: to {r['to_step']:,}; 99% train at {r['first_99_train']}, 99% val at "
                      f"{r['first_99_val']}; collapses {r['collapses']}; min train {r['min_train_acc']}, best val "
                      f"{r['best_val_acc']}, final train/val {r['final_train_acc']}/{r['final_val_acc']}; weight norm "
                      f"{r['weight_norm_at_fork']} → {r['final_weight_norm']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
