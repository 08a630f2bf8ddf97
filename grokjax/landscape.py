"""The LU landscape of Omnigrok (Liu et al. 2022, Figures 2a and 3a-b,
appendix B), as one sweep.

Each point is a weight norm w, a training-set size and a seed: a run that
starts from the standard init rescaled to ‖θ‖ = w and minimizes its training
loss with the norm held at w (rescaled after every step: the
``weight_norm_target`` knob), weight decay 0 as in the authors' notebooks
unless ``--weight-decay`` (or the sweep file's grid) gives one value for
every point.
Every point of the grid is a run of one compiled program. The reduced train
and test loss and accuracy at w are read off three ways:

- at the end (``final_*``), as the teacher-student notebook;
- at the run's lowest training loss over the evaluations (``min_train_loss``,
  ``*_at_min_train``), the paper's definition: it minimizes the training
  loss on the sphere and reads the test loss at that point (§3); the figure
  draws these dotted;
- each column's own best over the evaluations (``min_val_loss``,
  ``max_train_acc``, ``max_val_acc``), as the MNIST landscape notebook keeps
  them; on the test side that is an early stop on the test set, so it can
  only flatter the U.

    python -m grokjax.landscape --task digits --norms 1:64:log:12 --sizes 200,500,1000

or from Python::

    from grokjax import landscape
    spec = landscape.landscape_spec(SweepSpec(task=DigitsTask(), train_sizes=(200, 1000), steps=3000),
                                    landscape.parse_norms("1:64:log:12"))
    rows = landscape.reduce(grokjax.run(spec, out="results/lu"))  # also writes landscape.csv and lu.png

Omnigrok's claim: the reduced training loss is L-shaped in w (low beyond a
small norm), the test loss U-shaped (lowest near one "Goldilocks" norm).

Over norm × representation (Omnigrok §5, Figures 6 and 8): with several
values of the ``messiness`` knob ξ (tasks with an ideal representation:
toy_addition, digits) every (w, ξ, size, seed) is a point, and ``write``
draws ``lu_messiness.png`` (``plot_messiness``) and writes
``messiness.json`` (``representation_dependence``) and the train loss's
contours per size (``grokjax.contours``: Figure 6e) instead of ``lu.png``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from grokjax.errors import SpecError
from grokjax.knobs import KNOBS
from grokjax.spec import Product, SweepSpec, read_toml

COLUMNS = ("weight_norm_target", "n_train", "frac", "seed", "final_weight_norm",
           "final_train_loss", "final_val_loss", "final_train_acc", "final_val_acc",
           "min_train_loss", "val_loss_at_min_train", "train_acc_at_min_train", "val_acc_at_min_train",
           "min_val_loss", "max_train_acc", "max_val_acc")


def parse_norms(text: str) -> tuple[float, ...]:
    """``a:b:log:N`` (N norms evenly spaced on a log axis, ends included),
    ``a:b:N`` (evenly spaced), or ``a,b,c``."""
    text = str(text).strip()
    parts = text.split(":")
    malformed = SpecError(f"malformed norms {text!r}: use a:b:log:N, a:b:N (b > a, N >= 2) or a,b,c")
    try:
        if len(parts) == 4 and parts[2] == "log":
            a, b, n = float(parts[0]), float(parts[1]), int(parts[3])
        elif len(parts) == 3:
            a, b, n = float(parts[0]), float(parts[1]), int(parts[2])
        elif len(parts) == 1:
            values = np.array([float(v) for v in text.split(",")])
        else:
            raise malformed
    except ValueError:
        raise malformed from None
    if len(parts) > 1:
        if not (b > a and n >= 2):
            raise malformed
        if len(parts) == 4 and a <= 0:
            raise SpecError(f"norms {text!r}: a log scale starts above 0, got {a:g}")
        values = np.geomspace(a, b, n) if len(parts) == 4 else np.linspace(a, b, n)
    values = tuple(float(f"{v:.6g}") for v in values)  # readable in the tables
    if not all(np.isfinite(values)):
        raise SpecError(f"norms {text!r}: every weight norm must be a finite number")
    if any(v <= 0 for v in values):
        raise SpecError(f"norms {text!r}: every weight norm must be > 0")
    if len(set(values)) != len(values):
        raise SpecError(f"norms {text!r} repeats a norm")
    return values


def landscape_spec(spec: SweepSpec, norms, weight_decay: float = 0.0) -> SweepSpec:
    """``spec`` with its grid replaced by the landscape's: one run per norm
    (× data size × seed), the norm held from step 0, ``weight_decay``
    (Omnigrok: 0) and the spec's first product's other numbers (lr, …)."""
    norms = tuple(norms)
    if not norms:
        raise SpecError("a landscape needs at least one weight norm")
    if len(spec.grid) > 1:
        raise SpecError("a landscape takes one grid product (its knobs are crossed with the norms), not several")
    base = spec.grid[0]
    keep = {k.name: getattr(base, k.name) for k in KNOBS if k.name not in ("weight_decay", "weight_norm_target")}
    grid = (Product(**keep, weight_decay=weight_decay, weight_norm_target=norms, full_batch=base.full_batch),)
    return spec.replace(grid=grid, name=spec.name or f"landscape_{spec.task.name}")


def columns(rows: list[dict]) -> tuple[str, ...]:
    """landscape.csv's columns: ``messiness`` only where a point leaves 1."""
    if any(r.get("messiness", 1.0) != 1.0 for r in rows):
        return COLUMNS[:1] + ("messiness",) + COLUMNS[1:]
    return COLUMNS


def reduce(results) -> list[dict]:
    """One row per point (w, ξ, size, seed): losses and accuracies at the end, at
    the evaluation of lowest training loss, and each column's own best
    (evaluations after step 0)."""
    c, rows = results.curves, []
    if len(results.steps) < 2:
        raise SpecError("the landscape stopped before its first evaluation after step 0: nothing to reduce")
    for i, run in enumerate(results.runs):
        train_loss = c["train_loss"][1:, i]
        best = int(np.nanargmin(train_loss)) if np.isfinite(train_loss).any() else len(train_loss) - 1
        rows.append({
            "weight_norm_target": run["weight_norm_target"], "messiness": run.get("messiness", 1.0),
            "n_train": run["n_train"], "frac": run["frac"],
            "seed": run["seed"], "final_weight_norm": float(c["weight_norm"][-1, i]),
            "final_train_loss": float(c["train_loss"][-1, i]), "final_val_loss": float(c["val_loss"][-1, i]),
            "final_train_acc": float(c["train_acc"][-1, i]), "final_val_acc": float(c["val_acc"][-1, i]),
            "min_train_loss": float(c["train_loss"][1 + best, i]), "val_loss_at_min_train": float(c["val_loss"][1 + best, i]),
            "train_acc_at_min_train": float(c["train_acc"][1 + best, i]), "val_acc_at_min_train": float(c["val_acc"][1 + best, i]),
            "min_val_loss": float(np.nanmin(c["val_loss"][1:, i])), "max_train_acc": float(np.nanmax(c["train_acc"][1:, i])),
            "max_val_acc": float(np.nanmax(c["val_acc"][1:, i])),
        })
    if results.out is not None:
        write(Path(results.out), rows, results.spec)
    return rows


def write(out: Path, rows: list[dict], spec: SweepSpec) -> list[Path]:
    """landscape.csv and lu.png in ``out``; over several messiness values
    lu_messiness.png, messiness.json and the train loss's contours
    (``grokjax.contours``: Figure 6e) instead of lu.png."""
    import json

    from grokjax import report

    report.write_atomic(out / "landscape.csv", report.table_text(columns(rows), rows, float32=not spec.x64))
    if len({r["messiness"] for r in rows}) > 1:
        png = out / "lu_messiness.png"
        plot_messiness(png, rows, spec)
        report.write_atomic(out / "messiness.json", json.dumps(representation_dependence(rows), indent=1) + "\n")
        from grokjax import contours, plots

        drawn = []
        if contours.one_run_per_point(rows):  # a landscape that varied another setting has no one contour
            drawn, _ = contours.write(out, rows, contours.title_of(spec, rows),
                                      loss=f"train loss ({plots.loss_name(spec.loss or spec.task.default_loss)})")
        return [out / "landscape.csv", png, out / "messiness.json", *drawn]
    png = out / "lu.png"
    plot(png, rows, spec)
    return [out / "landscape.csv", png]


READING = ("min_train_loss", "val_loss_at_min_train", "train_acc_at_min_train", "val_acc_at_min_train")


def _grid(rows: list[dict], n: int, key: str) -> tuple[np.ndarray, list, list]:
    """``key`` at training size ``n`` as a [messiness, norm] array, the mean over seeds."""
    xis = sorted({r["messiness"] for r in rows})
    norms = sorted({r["weight_norm_target"] for r in rows})
    a = np.array([[np.mean([r[key] for r in rows if r["n_train"] == n and r["messiness"] == m
                            and r["weight_norm_target"] == w]) for w in norms] for m in xis])
    return a, xis, norms


def representation_dependence(rows: list[dict]) -> dict:
    """How much the reduced train and test numbers depend on the
    representation (Omnigrok §5: on the toy addition the test loss depends
    strongly on the messiness ξ and the train loss weakly; on MNIST both
    weakly, "the quality of representation determines whether the test
    accuracy is 95% or 100%" there, "random guess or 100%" on algorithmic
    data). Per training size, read at each run's lowest train loss: the
    spread max − min over ξ of each of the four numbers at each norm, and its
    mean over norms; and per ξ the best train and test accuracy over the norms."""
    out = {"reading": "at the run's lowest training loss (Omnigrok's reduced loss); mean over seeds",
           "messiness": sorted({r["messiness"] for r in rows}),
           "norms": sorted({r["weight_norm_target"] for r in rows}), "sizes": {}}
    for n in sorted({r["n_train"] for r in rows}):
        got = {}
        for key in READING:
            a, _, _ = _grid(rows, n, key)
            spread = a.max(0) - a.min(0)
            got[f"{key}_spread"] = {"mean_over_norms": round(float(spread.mean()), 6),
                                    "per_norm": [round(float(v), 6) for v in spread]}
        for key in READING[2:]:
            a, _, _ = _grid(rows, n, key)
            got[f"best_{key}_per_messiness"] = [round(float(v), 6) for v in a.max(1)]
        out["sizes"][str(n)] = got
    return out


def _spacing(values) -> str:
    """How a heat map's evenly drawn cells space their values."""
    v = np.asarray(values, float)
    if len(v) < 3 or np.allclose(np.diff(v), v[1] - v[0], rtol=1e-3):
        return "evenly spaced"
    if (v > 0).all() and np.allclose(np.diff(np.log(v)), np.log(v[1] / v[0]), rtol=1e-3):
        return "log spaced"
    return "cells not to scale"


def plot_messiness(path: Path, rows: list[dict], spec: SweepSpec):
    """Omnigrok Figures 6a-b and 8a-b: the reduced train and test loss and
    accuracy over weight norm (x) × messiness ξ (y), each axis labelled with its spacing, one row of
    panels per training size, each loss panel on its own log colour scale,
    the train loss's contour at 10⁻² dashed on every panel. Returns the figure."""
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    from grokjax import plots

    sizes = sorted({r["n_train"] for r in rows})
    loss = plots.loss_name(spec.loss or spec.task.default_loss)
    titles = (f"train loss ({loss})", f"test loss ({loss})", "train accuracy", "test accuracy")
    fig = Figure(figsize=(16, 3.4 * len(sizes) + 1.9), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(sizes), 4, squeeze=False))
    floor = plots.zero_floor([r[k] for r in rows for k in READING[:2]])
    contour = 1e-2
    for i, n in enumerate(sizes):
        train, xis, norms = _grid(rows, n, READING[0])
        ext = [-0.5, len(norms) - 0.5, -0.5, len(xis) - 0.5]
        for j, (key, title) in enumerate(zip(READING, titles)):
            ax = axes[i, j]
            a, _, _ = _grid(rows, n, key)
            if "loss" in key:
                a = np.maximum(a, floor)
                hi = max(np.nanmax(a), np.nanmin(a) * 10)
                im = ax.imshow(a, origin="lower", aspect="auto", cmap="Reds", extent=ext,
                               norm=LogNorm(vmin=np.nanmin(a), vmax=hi))
            else:
                im = ax.imshow(a, origin="lower", aspect="auto", cmap="viridis", vmin=0, vmax=1, extent=ext)
            if train.min() < contour < train.max():
                ax.contour(np.arange(len(norms)), np.arange(len(xis)), train, levels=[contour],
                           colors="gold", linestyles="dashed", linewidths=1.5)
            bar = fig.colorbar(im, ax=ax, shrink=0.9)
            if "loss" in key:  # plain numbers (0.5, 3), not 5×10⁻¹; the minor ticks labelled within two decades
                from matplotlib.ticker import FuncFormatter, NullFormatter

                bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                few = np.log10(im.norm.vmax / im.norm.vmin) < 2
                bar.ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}") if few else NullFormatter())
            step = -(-len(norms) // 5)
            ax.set_xticks(range(0, len(norms), step), [f"{norms[k]:.3g}" for k in range(0, len(norms), step)])
            ystep = -(-len(xis) // 7)
            ax.set_yticks(range(0, len(xis), ystep), [f"{xis[k]:g}" for k in range(0, len(xis), ystep)])
            ax.set_title(f"{title}, {n:,} training samples", fontsize=10)
            ax.set_xlabel(f"weight norm ‖θ‖ (held fixed; {_spacing(norms)})")
            if j == 0:
                ax.set_ylabel(f"representation messiness ξ ({_spacing(xis)})\n(0 ideal, 1 the task's own inputs)")
    seeds = len({r["seed"] for r in rows})
    runs = [{**spec.task.parts()[0].columns(), **s, "n_train": n} for p in spec.grid for s in p.settings() for n in sizes]
    d = spec.to_dict()
    shared = plots.settings_line(runs, {k: d.get(k) for k in ("model", "batch_size", "loss")}, width=150)
    fig.suptitle(f"Reduced landscape over weight norm and representation: {spec.task.describe()}, {spec.steps:,} steps "
                 f"at a fixed norm and fixed inputs, {'mean of ' if seeds > 1 else ''}{seeds} "
                 f"seed{'s' if seeds > 1 else ''}\nread at each run's lowest train loss (a loss of 0 drawn at "
                 f"{floor:g}); accuracy: {_accuracy_means(spec)}; dashed gold: train loss {contour:g}\n{shared}\n"
                 "Omnigrok §5: on algorithmic data the test loss depends strongly on ξ and the train loss weakly; "
                 "on MNIST both weakly", fontsize=10)
    fig.savefig(path, dpi=110)
    return fig


def _accuracy_means(spec: SweepSpec) -> str:
    """What "correct" is for the task: the argmax, or (teacher-student) a
    squared error under the task's threshold."""
    threshold = getattr(spec.task, "threshold", None)
    if spec.task.data().targets is not None:
        return "output nearest its class vector"
    return "argmax correct" if threshold is None else f"share of samples with MSE < {threshold:g}"


def plot(path: Path, rows: list[dict], spec: SweepSpec):
    """Train and test loss (top) and accuracy (bottom) against the weight
    norm on log axes, one colour per data size, mean over seeds: solid at the
    end of each run, dotted at its lowest train loss (Omnigrok's reduced
    reading), thin over the wide, light solid so that both show where they
    coincide. A loss of exactly 0 is drawn at a floor the figure
    names. The least and greatest norm have labelled ticks. Returns the figure."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from grokjax.plots import end_ticks, loss_name, plain_log_ticks, zero_floor

    sizes = sorted({r["n_train"] for r in rows})
    norms = sorted({r["weight_norm_target"] for r in rows})
    loss = loss_name(spec.loss or spec.task.default_loss)
    fig = Figure(figsize=(10, 7.8), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True)
    colors = [f"C{i}" for i in range(len(sizes))]
    panels = ((("final_train_loss", "min_train_loss"), f"train loss ({loss})"),
              (("final_val_loss", "val_loss_at_min_train"), f"test loss ({loss})"),
              (("final_train_acc", "train_acc_at_min_train"), f"train accuracy\n({_accuracy_means(spec)})"),
              (("final_val_acc", "val_acc_at_min_train"), f"test accuracy\n({_accuracy_means(spec)})"))

    def mean(k, n):
        return np.array([np.mean([r[k] for r in rows if r["n_train"] == n and r["weight_norm_target"] == w])
                         for w in norms])

    for (keys, label), ax in zip(panels, axes.flat):
        lines = {(k, n): mean(k, n) for k in keys for n in sizes}
        floor = None
        if "loss" in keys[0]:
            ax.set_yscale("log")
            floor = zero_floor(np.concatenate(list(lines.values())))
            if any((v <= 0).any() for v in lines.values()):  # else it would vanish off the log axis
                ax.axhline(floor, color="0.5", lw=0.8, ls="--", zorder=0)
                label += f"\n(0 drawn at $10^{{{round(np.log10(floor))}}}$, dashed)"  # as the ticks write it
        else:
            ax.set_ylim(-0.02, 1.02)
        for n, color in zip(sizes, colors):
            end, low = lines[keys[0], n], lines[keys[1], n]
            if floor is not None:
                end, low = np.maximum(end, floor), np.maximum(low, floor)
            # the solid wide and light, the dotted thin and dark on top: where a run ended at its
            # lowest loss the two coincide and both still show
            ax.plot(norms, end, "o-", ms=3, color=color, lw=3.0, alpha=0.45, zorder=2)
            ax.plot(norms, low, ":", color=color, lw=1.5, zorder=3)
        ax.set_xscale("log")
        plain_log_ticks(ax.xaxis)
        end_ticks(ax.xaxis, norms)
        lo, hi = ax.get_ylim()
        if floor is not None and hi / lo < 1e3:  # over more decades 10⁻⁸ reads better than 0.00000001
            plain_log_ticks(ax.yaxis)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)  # major only: minor lines over ten decades are noise
    for ax in axes[1]:
        ax.set_xlabel("weight norm ‖θ‖ (held fixed)")
    top = [Line2D([], [], color=c, marker="o", ms=3, label=f"{n:,} training samples") for n, c in zip(sizes, colors)]
    bottom = [Line2D([], [], color="0.3", marker="o", ms=3, lw=3.0, alpha=0.45, label="end of run"),
              Line2D([], [], color="0.3", ls=":", lw=1.5, label="at the run's lowest train loss (Omnigrok's reduced loss)")]
    cols = max(len(top), len(bottom))
    blank = Line2D([], [], ls="", label=" ")
    top, bottom = top + [blank] * (cols - len(top)), bottom + [blank] * (cols - len(bottom))
    # below the panels, where it hides no line: the sizes on one row, the line styles under them
    fig.legend(handles=[h for pair in zip(top, bottom) for h in pair], loc="outside lower center", ncols=cols,
               fontsize=9, frameon=False)
    seeds = len({r["seed"] for r in rows})
    from grokjax import plots

    d = spec.to_dict()
    # the runs' shared settings, as a sweep's figures name them (the held norm varies: the x axis)
    runs = [{**spec.task.parts()[0].columns(), **s, "n_train": n} for p in spec.grid for s in p.settings() for n in sizes]
    shared = plots.settings_line(runs, {k: d.get(k) for k in ("model", "batch_size", "loss")}, width=120)
    fig.suptitle(f"LU landscape: {spec.task.describe()}, {spec.steps:,} steps at fixed norm, "
                 f"{'mean of ' if seeds > 1 else ''}{seeds} seed{'s' if seeds > 1 else ''}\n{shared}\nOmnigrok's claim: "
                 f"train loss L-shaped (low beyond a small norm), test loss U-shaped (lowest near one norm)", fontsize=11)
    fig.savefig(path, dpi=130)
    return fig


def run(spec: SweepSpec, norms, out=None, *, weight_decay: float = 0.0, progress: bool = True, command=None):
    """Trains the landscape of ``spec`` at ``norms``; returns ``(results, rows)``
    and, with ``out``, writes the sweep folder with landscape.csv and lu.png."""
    from grokjax import api

    results = api.run(landscape_spec(spec, norms, weight_decay), out, progress=progress, command=command)
    return results, reduce(results)


def _file_decays(base: dict) -> list[str]:
    """The weight decays a sweep file's grid gives (its products' together),
    as the flag's strings: the file's choice, where no flag overrides it."""
    grid = base.get("grid") or {}
    got = []
    for product in grid if isinstance(grid, list) else [grid]:
        v = product.get("weight_decay") if isinstance(product, dict) else None
        got += [] if v is None else [str(x) for x in (v if isinstance(v, list) else [v])]
    return list(dict.fromkeys(got))


def main(argv: list[str] | None = None) -> int:
    from grokjax import api, sweep
    from grokjax.cli import UsageError, apply_compile_cache, given_flags

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = sweep.make_parser()
    parser.prog = "python -m grokjax.landscape"
    parser.description = (
        "Omnigrok's LU landscape: for each weight norm w and training-set size, train from the standard init "
        "rescaled to norm w with the norm held at w after every step (weight decay 0 unless --weight-decay or the "
        "sweep file's grid gives one value), and record the reduced train and test loss and accuracy. Every (w, size, seed) is one run "
        "of one compiled program. Writes the sweep folder plus landscape.csv and lu.png. With several --messiness values "
        "(toy_addition, digits: Omnigrok §5's representation, Figures 6 and 8) every (w, messiness, size, seed) is a point, "
        "and it draws lu_messiness.png (heat maps over norm × messiness) and writes messiness.json, and contours.csv, .png "
        "and .json (Figure 6e: where the train loss falls to 0.02, per size; python -m grokjax.contours), instead of "
        "lu.png. The flags of "
        "python -m grokjax.sweep apply, except --resume and --fork (resume or fork the folder with grokjax.sweep), "
        "--weight-norm-target, --variant and --init-scale (--norms sets the norm), and --weight-decay takes one value.")
    refused = {"resume", "fork", "at", "weight_norm_target", "variant", "init_scale"}  # each said why, below
    for action in parser._actions:  # the sweep's help gives its default, 1, and a comma list
        if action.dest in refused:
            action.help = argparse.SUPPRESS
        if action.dest == "weight_decay":
            action.metavar = "X"
            action.help = "AdamW's decoupled weight decay toward 0, one value for every point (0, Omnigrok's)"
    # a group left with only refused flags goes, its heading and text too
    parser._action_groups = [g for g in parser._action_groups
                             if any(a.help is not argparse.SUPPRESS for a in g._group_actions) or not g._group_actions]
    parser.epilog = ("examples:\n"
                     "  python -m grokjax.landscape --task teacher_student --norms 1:100:log:11 --steps 3000\n"
                     "  python -m grokjax.landscape --task digits --norms 1:64:log:12 --sizes 200,500,1000\n"
                     "  python -m grokjax.landscape --op add --modulus 23 --norms 5:80:log:9 --fracs 0.3,0.6\n"
                     "  python -m grokjax.landscape --task toy_addition --norms 4:160:log:10 --messiness 0,0.05,0.2,1 --sizes 25,45")
    g = parser.add_argument_group("the landscape")
    g.add_argument("--norms", metavar="A:B:log:N", help="weight norms: a:b:log:N, a:b:N or a,b,c (required, or a "
                   "sweep file's norms = \"...\")")
    g.add_argument("--sizes", dest="train_size", metavar="N[,M...]", help="training-set sizes (same as --train-size)")
    try:
        args = parser.parse_args(argv)
        if args.list_ops or args.list_tasks:
            return sweep.print_listing(args)
        given = given_flags(parser, argv)
        if args.resume is not None:
            raise UsageError("a landscape is resumed as a sweep: python -m grokjax.sweep --resume OUT")
        if args.fork is not None or "at" in given:
            raise UsageError("a landscape is forked as a sweep: python -m grokjax.sweep --fork OUT --at STEP")
        sweep._join_hosts(args)
        apply_compile_cache(args)
        if "weight_norm_target" in given or "variant" in given:
            raise UsageError("the landscape sets the weight norm itself: give --norms, not --weight-norm-target or --variant")
        if "init_scale" in given:
            raise UsageError("the landscape rescales the init to each norm itself: --init-scale would change nothing")
        if sum(a.split("=")[0] in ("--sizes", "--train-size") for a in argv) > 1:
            raise UsageError("give the training-set sizes once (--sizes or --train-size)")
        base = {}
        if "spec" in given:  # a sweep file may name its norms too
            base = read_toml(args.spec, args.profile)
            file_norms = base.pop("norms", None)
            if args.norms is None and file_norms is not None:
                args.norms = ",".join(str(v) for v in file_norms) if isinstance(file_norms, list) else str(file_norms)
        elif "profile" in given:
            raise UsageError("--profile needs --spec FILE")
        if args.norms is None:
            raise UsageError("--norms is required, e.g. --norms 1:64:log:12")
        norms = parse_norms(args.norms)
        spec = SweepSpec.from_dict(sweep.spec_dict(args, given - {"norms", "spec", "profile"}, base))
        decays = args.weight_decay.split(",") if "weight_decay" in given else _file_decays(base) or ["0"]
        if len(decays) > 1:
            raise UsageError(f"a landscape takes one weight decay (--weight-decay, or the sweep file's grid), "
                             f"not {','.join(decays)}; Omnigrok's: 0")
        decay = float(decays[0])
        spec = landscape_spec(spec, norms, decay)
        out = args.out or sweep.default_out(spec)
        results = api.run(spec, out, progress=not args.no_progress, command=["-m", "grokjax.landscape", *argv])
        rows = reduce(results)
    except (UsageError, SpecError, api.OutputError) as e:
        return UsageError(str(e)).report("grokjax.landscape")
    if results.stop_reason not in ("budget", "stop_at"):  # a signal: 128 + its number, as grokjax.sweep
        import signal

        print(f"grokjax.landscape: stopped at step {int(results.steps[-1])} of {spec.steps}; {out}/landscape.csv "
              f"holds that step. Continue with python -m grokjax.sweep --resume {out}, then redraw with "
              f"python -c 'import grokjax; from grokjax import landscape; landscape.reduce(grokjax.load(\"{out}\"))'",
              file=sys.stderr)
        return 128 + signal.Signals[results.stop_reason].value
    from grokjax import contours

    drawn = ["lu.png"]
    if len({r["messiness"] for r in rows}) > 1:
        drawn = ["lu_messiness.png", "messiness.json"]
        if contours.one_run_per_point(rows):  # as write decided
            drawn += ["contours.csv", "contours.png", "contours.json"]
    print(f"{len(results.runs)} landscape points; wrote " + ", ".join(f"{out}/{f}" for f in ["landscape.csv", *drawn]) + " "
          f"(compile {results.timing['compile_s']:.1f}s, train {results.timing['train_s']:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
