"""What each run of a fork did after the fork's step, and, given the source's
own longer run, what it did over the same steps.

    python sweeps/fork_summary.py results/fork_s5_34000_wd0_cpu [...] [--baseline results/fig3_s5_long_cpu]
        [--plot results/fork_s5_34000_wd0_cpu/forks.png]

runs.csv summarizes each run's whole life, the source's steps included; this
looks only at the evaluations after the fork: the first step each run is at
≥ 99% train and val accuracy again, its late collapses (train accuracy below
0.9 after 0.99, ``grokjax.summary.collapses``), its best and last val accuracy,
and its weight norm. ``--baseline``: a folder holding the source's own
training past the fork's step (the same runs in the same order, with its
settings unchanged), summarized over the same steps. Prints a table and
writes ``fork_summary.json`` into each fork's folder. ``--plot FILE``: train
and val accuracy and the weight norm of run 0 of each fork and of the
baseline against steps, from a little before the earliest fork on.
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
    if not keep.any():
        raise SystemExit(f"no evaluation after step {start:,}")
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


def plot(path: Path, folders: list[Path], base) -> None:
    from matplotlib.figure import Figure

    forks = [(f, *read(f)) for f in folders]
    start = min(int(r["forked_from"]["step"]) for _, r, _, _ in forks)
    end = max(int(s[-1]) for _, _, s, _ in forks)
    lo = start - 2000
    fig = Figure(figsize=(10, 7.2), layout="constrained")
    axes = fig.subplots(3, 1, sharex=True)
    lines = [(f"as trained ({base[3].name})", base[1], base[2], "0.3", "-", lo)] if base is not None else []
    colors = ["C0", "C1", "C2", "C3", "C4", "C5", "C6"]
    for i, (folder, record, steps, curves) in enumerate(forks):
        fork = record["forked_from"]
        changed = ", ".join(f"{k} {'/'.join(f'{w:g}' for w in sorted(set(fork['was'][k])))}→{v:g}"
                            for k, v in fork["set"].items()) or "nothing changed (under the baseline)"
        lines.append((f"from {int(fork['step']):,}: {changed}", steps, curves, colors[i % len(colors)], "--",
                      int(fork["step"])))
    for label, steps, curves, color, ls, first in lines:  # each fork from its own step on
        keep = (steps >= first) & (steps <= end)
        for ax, key in zip(axes, ("train_acc", "val_acc", "weight_norm")):
            ax.plot(steps[keep], curves[key][keep, 0], ls, color=color, lw=1.4, label=label, alpha=0.9)
    for ax, name in zip(axes, ("train accuracy", "val accuracy", "weight norm (log)")):
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    from matplotlib.ticker import LogLocator, NullFormatter

    axes[2].set_yscale("log")
    axes[2].yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    axes[2].yaxis.set_major_formatter(lambda v, _: f"{v:g}")
    axes[2].yaxis.set_minor_formatter(NullFormatter())
    for (_, record, _, _), color in zip(forks, colors):
        for ax in axes:
            ax.axvline(int(record["forked_from"]["step"]), color="0.6", lw=0.8, ls=":")
    axes[-1].set_xlabel("optimization steps")
    axes[-1].xaxis.set_major_formatter(lambda v, _: f"{v:,.0f}")
    axes[0].legend(fontsize=8, loc="center right")
    src = forks[0][1]["forked_from"]["sweep"]
    fig.suptitle(f"Forks of {src} (run 0), each evaluated every {forks[0][1]['spec']['eval_every']} steps", fontsize=11)
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("forks", nargs="+", type=Path)
    p.add_argument("--baseline", type=Path, help="the source's own longer training, to compare over the same steps")
    p.add_argument("--plot", type=Path, metavar="FILE", help="draw the forks and the baseline into FILE (a PNG)")
    args = p.parse_args(argv)
    base = (*read(args.baseline), args.baseline) if args.baseline else None
    for folder in args.forks:
        record, steps, curves = read(folder)
        fork = record.get("forked_from")
        if not fork:
            print(f"{folder}: not a fork (no forked_from in config.json)", file=sys.stderr)
            return 2
        got = {"forked_from": fork, "runs": after(steps, curves, int(fork["step"]))}
        if base is not None:
            b_steps, b_curves = base[1], base[2]
            if base[0]["n_runs"] != record["n_runs"]:
                print(f"{args.baseline} has {base[0]['n_runs']} runs, {folder} {record['n_runs']}", file=sys.stderr)
                return 2
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
    if args.plot:
        plot(args.plot, args.forks, base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
