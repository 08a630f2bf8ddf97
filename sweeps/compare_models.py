"""Sweeps of the same runs under different models, side by side: per sweep,
how many runs reached 99% train and val accuracy and when, and each run's
best and last val accuracy; one figure of every run's val (and train)
accuracy, a panel per sweep.

    python sweeps/compare_models.py results/omnigrok_norm_nanda_held_cpu/{sinusoid,learned,sinusoid_bias,learned_bias} \\
        --out results/omnigrok_norm_nanda_held_cpu

Each folder is a finished sweep (``runs.csv``, ``curves.csv``,
``config.json``); the panels are titled with the folder's name and its
model's settings that differ between the sweeps. Prints a table and writes
``OUT/comparison.json`` (with this command) and ``OUT/comparison.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from grokjax import report


def describe(folder: Path) -> dict:
    rows, steps, curves = report.read_sweep(folder)
    record = json.loads((folder / "config.json").read_text())

    def first(acc):
        return int(steps[np.argmax(acc >= 0.99)]) if (acc >= 0.99).any() else None

    runs = [{"seed": rows[r]["seed"], "steps_to_99_train": first(curves["train_acc"][:, r]),
             "steps_to_99_val": first(curves["val_acc"][:, r]),
             "best_val_acc": round(float(curves["val_acc"][:, r].max()), 4),
             "final_train_acc": round(float(curves["train_acc"][-1, r]), 4),
             "final_val_acc": round(float(curves["val_acc"][-1, r]), 4)} for r in range(len(rows))]
    got = [r["steps_to_99_val"] for r in runs if r["steps_to_99_val"] is not None]
    return {"folder": str(folder), "command": record.get("command"), "git_commit":
            record.get("environment", {}).get("git_commit"), "model": record.get("spec", {}).get("model"),
            "task": record.get("spec", {}).get("task"), "held": {k: rows[0].get(k) for k in ("frac", "lr", "weight_decay",
            "weight_norm_target", "full_batch") if len({str(r.get(k)) for r in rows}) == 1},
            "steps": int(steps[-1]), "n_runs": len(runs), "n_99_val": len(got),
            "median_steps_to_99_val_of_those": float(np.median(got)) if got else None, "runs": runs,
            "_curves": (steps, curves)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+", type=Path, help="finished sweep folders")
    p.add_argument("--out", type=Path, required=True, help="folder for comparison.json and comparison.png")
    args = p.parse_args()
    try:
        sweeps = [describe(f) for f in args.folders]
    except (OSError, report.TableError, json.JSONDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    models = [s["model"] or {} for s in sweeps]
    differ = sorted({k for m in models for k in m if len({str(n.get(k)) for n in models}) > 1})
    for s, m in zip(sweeps, models):
        s["differs_in"] = {k: m.get(k) for k in differ}
        at = ", ".join(f"{r['steps_to_99_val'] or '—'}" for r in s["runs"])
        print(f"{Path(s['folder']).name} ({s['differs_in']}): {s['n_99_val']} of {s['n_runs']} at 99% val "
              f"by step {s['steps']:,} (steps: {at}); best val "
              + ", ".join(f"{r['best_val_acc']:.2f}" for r in s["runs"]))

    try:
        draw(sweeps, args.out)
    except OSError as e:
        print(f"error: cannot write into {args.out}: {e.strerror or e}", file=sys.stderr)
        return 2
    return 0


def draw(sweeps: list[dict], out: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4 * len(sweeps), 3.6), layout="constrained")
    axes = fig.subplots(1, len(sweeps), sharey=True, squeeze=False)[0]
    for ax, s in zip(axes, sweeps):
        steps, curves = s["_curves"]
        for r in range(s["n_runs"]):
            ax.plot(steps, curves["train_acc"][:, r], color="C3", alpha=0.35, lw=1)
            ax.plot(steps, curves["val_acc"][:, r], color="C2", lw=1.2)
        ax.set_title(f"{Path(s['folder']).name}\n" + ", ".join(f"{k}={v}" for k, v in s["differs_in"].items())
                     + f"\n{s['n_99_val']} of {s['n_runs']} runs at 99% val", fontsize=9)
        ax.set_xlabel("optimization steps")
        ax.axhline(0.99, color="grey", lw=0.6, ls=":")
    axes[0].set_ylabel("accuracy (val green, train red)")
    task = sweeps[0]["task"] or {}
    same = {k: v for k, v in sweeps[0]["held"].items() if all(t["held"].get(k) == v for t in sweeps)}
    common = {k: v for k, v in (sweeps[0]["model"] or {}).items() if k not in sweeps[0]["differs_in"]}
    fig.suptitle(f"{task.get('op', '?')} mod {task.get('modulus', '?')}, every run: "
                 + ", ".join(f"{k}={v}" for k, v in same.items()) + "\nmodel: "
                 + ", ".join(f"{k}={v}" for k, v in common.items()), fontsize=10)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "comparison.png", dpi=120)
    doc = {"command": "python sweeps/compare_models.py " + " ".join(sys.argv[1:]),
           "sweeps": [{k: v for k, v in s.items() if k != "_curves"} for s in sweeps]}
    report.write_atomic(out / "comparison.json", json.dumps(doc, indent=1))


if __name__ == "__main__":
    sys.exit(main())
