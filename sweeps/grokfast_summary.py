"""Grokfast's recipe three ways, side by side: the authors' code and model,
their code with the paper's model, and grokjax.

    python sweeps/grokfast_summary.py results/grokfast_cpu

Reads ``FOLDER/reference*.json`` (``sweeps/grokfast_reference.py``) and the
grokjax sweep ``FOLDER/grokjax`` (``sweeps/grokfast.toml``), and writes
``FOLDER/summary.json`` (per arm and seed: the first evaluated update at 99%
train and val accuracy, and the last accuracies) and ``FOLDER/grokfast.png``:
val accuracy against updates, one panel per recipe (Grokfast-EMA and L2
decay, each alone and together), one colour per codebase, one line per seed.

Where they exist, also the grokjax sweeps ``FOLDER/fork_<STEP>_off`` (forks of
the profile ``fork_source`` with Grokfast turned off at STEP) and
``FOLDER/baseline_long`` (profile ``baseline_long``): in ``summary.json``, and
the forks in ``FOLDER/grokfast_forks.png`` (per seed: val accuracy and train
loss with Grokfast kept, turned off at each STEP, and never on).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ARMS = {  # (Grokfast-EMA λ, L2 weight decay) → panel title
    (2.0, 0.005): "Grokfast-EMA (α 0.98, λ 2) + L2 decay 0.005",
    (0.0, 0.005): "L2 decay 0.005 alone",
    (2.0, 0.0): "Grokfast-EMA alone",
    (0.0, 0.0): "neither (Adam)",
}
SOURCES = {"authors": ("the authors' code and model", "C0"), "paper": ("the authors' code, the paper's model", "C1"),
           "grokjax": ("grokjax (the paper's model)", "C3")}


def first_at(steps, acc, level=0.99):
    hit = np.flatnonzero(np.asarray(acc) >= level)
    return int(np.asarray(steps)[hit[0]]) if hit.size else None


def reference_runs(folder: Path) -> list[dict]:
    out = []
    for path in sorted(folder.glob("reference*.json")):
        rec = json.loads(path.read_text())
        arm = (rec["lamb"] if rec["filter"] == "ema" else 0.0, rec["weight_decay_l2"])
        for r in rec["runs"]:
            out.append({"source": rec["model"], "arm": arm, "seed": r["seed"], "steps": r["its"],
                        "train_acc": r["train_acc"], "val_acc": r["val_acc"], "file": path.name})
    return out


def grokjax_runs(folder: Path, source: str = "grokjax") -> list[dict]:
    from grokjax import report

    record = json.loads((folder / "config.json").read_text())
    steps, curves = report.read_curves(folder / "curves.csv", record["n_runs"])
    import csv

    rows = list(csv.DictReader((folder / "runs.csv").open()))
    if rows and "weight_decay_l2" not in rows[0]:
        raise SystemExit(f"{folder}/runs.csv has no weight_decay_l2 column: not a sweeps/grokfast.toml sweep")
    # a fork's rows give the numbers after the fork; the arm it belongs to is its source's
    was = {k: float(v) for k, v in dict(record.get("spec", {}).get("grid", [{}])[0].get("was", {})).items()}
    return [{"source": source, "arm": (was.get("grokfast_lambda", float(r["grokfast_lambda"])),
                                       was.get("weight_decay_l2", float(r["weight_decay_l2"]))),
             "seed": int(r["seed"]), "steps": steps.tolist(), "train_acc": curves["train_acc"][:, i].tolist(),
             "val_acc": curves["val_acc"][:, i].tolist(), "train_loss": curves["train_loss"][:, i].tolist(),
             "file": f"{folder.name}/curves.csv"} for i, r in enumerate(rows)]


def fork_step(folder: Path) -> int:
    """STEP of a folder named fork_<STEP>_off."""
    return int(folder.name.split("_")[1])


def summarize(runs: list[dict]) -> list[dict]:
    return [{"source": r["source"], "grokfast_lambda": r["arm"][0], "weight_decay_l2": r["arm"][1], "seed": r["seed"],
             "updates": int(r["steps"][-1]), "first_99_train": first_at(r["steps"], r["train_acc"]),
             "first_99_val": first_at(r["steps"], r["val_acc"]), "final_train_acc": round(float(r["train_acc"][-1]), 4),
             "final_val_acc": round(float(r["val_acc"][-1]), 4), "best_val_acc": round(float(max(r["val_acc"])), 4),
             "file": r["file"]} for r in runs]


def plot(path: Path, runs: list[dict]) -> None:
    from matplotlib.figure import Figure

    arms = [a for a in ARMS if any(r["arm"] == a for r in runs)]
    if not arms:
        raise SystemExit(f"no run has one of the recipes drawn: (λ, L2) in {list(ARMS)}")
    fig = Figure(figsize=(4.2 * len(arms), 3.8), layout="constrained")
    axes = fig.subplots(1, len(arms), sharey=True, squeeze=False)[0]
    for ax, arm in zip(axes, arms):
        for source, (label, colour) in SOURCES.items():
            mine = [r for r in runs if r["arm"] == arm and r["source"] == source]
            for i, r in enumerate(sorted(mine, key=lambda r: r["seed"])):
                ax.plot(r["steps"], r["val_acc"], color=colour, lw=1.2, alpha=0.85,
                        label=f"{label} ({len(mine)} seed{'s' * (len(mine) > 1)})" if i == 0 else None)
        ax.set_title(ARMS[arm], fontsize=9)
        ax.set_xlabel("updates")
        ax.axhline(0.99, color="0.6", lw=0.6, ls=":")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("val accuracy")
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle("x·y mod 97 (y ≠ 0) at 50%, Adam lr 1e-3, β₂ 0.98, batch 512 in epochs; evaluated every 10 "
                 "updates. Train accuracy differs in how it is measured; see the results' README", fontsize=9)
    fig.savefig(path, dpi=120)


def plot_forks(path: Path, runs: list[dict]) -> None:
    """Per seed: val accuracy (top) and train loss (bottom) of Grokfast + L2
    kept on, turned off at each fork's step, and L2 alone from the start."""
    from matplotlib.figure import Figure

    lines = [("grokjax", (2.0, 0.005), "Grokfast + L2 throughout", "k", "-")]
    forks = sorted({r["source"] for r in runs if r["source"].startswith("fork_")}, key=lambda s: int(s.split("_")[1]))
    for i, source in enumerate(forks):
        lines.append((source, (2.0, 0.005), f"Grokfast off at {int(source.split('_')[1]):,}", f"C{i}", "-"))
    lines.append(("grokjax", (0.0, 0.005), "L2 alone from the start", "0.55", "--"))
    seeds = sorted({r["seed"] for r in runs if r["source"] in forks})
    fig = Figure(figsize=(4.2 * len(seeds), 6.4), layout="constrained")
    axes = fig.subplots(2, len(seeds), sharex=True, sharey="row", squeeze=False)
    for col, seed in enumerate(seeds):
        for source, arm, label, colour, style in lines:
            for r in runs:
                if r["source"] == source and r["arm"] == arm and r["seed"] == seed:
                    axes[0, col].plot(r["steps"], r["val_acc"], color=colour, ls=style, lw=1.2, label=label)
                    axes[1, col].plot(r["steps"], r["train_loss"], color=colour, ls=style, lw=1.2)
        for source in forks:
            for ax in axes[:, col]:
                ax.axvline(int(source.split("_")[1]), color="0.8", lw=0.6)
        axes[0, col].set_title(f"seed {seed}", fontsize=9)
        # the plateau: x = 0 → 0 learned (1/97 of the table), a uniform guess over the other 96 answers elsewhere
        axes[1, col].axhline(96 / 97 * np.log(96), color="0.6", lw=0.6, ls=":")
        axes[1, col].set_xlabel("updates")
        for ax in axes[:, col]:
            ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("val accuracy")
    axes[1, 0].set_ylabel("train loss (dotted: 0 ↦ 0 known, a uniform guess elsewhere)")
    axes[0, 0].legend(fontsize=7, loc="upper left")
    fig.suptitle("grokjax, the paper's model, x·y mod 97 at 50%: Grokfast-EMA (λ 2) + L2 0.005, then Grokfast "
                 "turned off at a saved step (L2 kept); each fork equals its source up to that step", fontsize=9)
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path)
    args = p.parse_args(argv)
    runs = reference_runs(args.folder)
    if (args.folder / "grokjax" / "runs.csv").is_file():
        runs += grokjax_runs(args.folder / "grokjax")
    forks = sorted((f for f in args.folder.glob("fork_*_off") if (f / "runs.csv").is_file()), key=fork_step)
    for folder in forks:
        runs += grokjax_runs(folder, source=folder.name)
    if (args.folder / "baseline_long" / "runs.csv").is_file():
        runs += grokjax_runs(args.folder / "baseline_long", source="baseline_long")
    if not runs:
        p.error(f"{args.folder} holds no reference*.json and no grokjax/ sweep")
    rows = summarize(runs)
    for r in rows:
        print(f"{r['source']:8} λ {r['grokfast_lambda']:g} L2 {r['weight_decay_l2']:g} seed {r['seed']}: "
              f"99% train {r['first_99_train']}, 99% val {r['first_99_val']}, final val {r['final_val_acc']:.3f} "
              f"(of {r['updates']:,} updates)")
    (args.folder / "summary.json").write_text(json.dumps({"command": ["python", *sys.argv], "runs": rows}, indent=1) + "\n")
    plot(args.folder / "grokfast.png", [r for r in runs if r["source"] in SOURCES])
    wrote = [args.folder / "summary.json", args.folder / "grokfast.png"]
    if forks and any(r["source"] == "grokjax" for r in runs):
        plot_forks(args.folder / "grokfast_forks.png", runs)
        wrote.append(args.folder / "grokfast_forks.png")
    print("wrote " + ", ".join(map(str, wrote)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
