"""Where the train loss's contour runs over weight norm × representation, per
training size: Omnigrok Figure 6e.

Omnigrok §5's picture of grokking on algorithmic data: weight decay pulls
the weight norm w down until the train loss starts to rise, at the contour
L_train = 0.02 between region II (memorized) and region I; from there the
model slides along the contour. Where the contour tilts (a messier
representation ξ needs a larger norm to fit) sliding down in w also cleans
the representation, and the model reaches the generalizing solution at ξ = 0;
where it stands upright (any representation fits at the same norm) nothing
drives ξ down. The claim of Figure 6e: more data tilts the contour; with 45
or 55 of the toy addition's 55 pairs it reaches the generalizing solution,
with 25 or 35 it does not.

From a landscape over several ξ (``python -m grokjax.landscape ... --messiness``)
this reads, per training size and seed, the norm w_c(ξ) at which the reduced
train loss (each run's lowest, the notebook's "trainbest") first falls to
the level, interpolated between the two neighbouring norms of the grid in
log loss; fits w_c against ξ over the seeds by least squares (the tilt: the
slope, with its 95% interval from Student's t); and reads the test accuracy
at the first norm of the grid past the contour, where the slide would end.

    python -m grokjax.contours results/omnigrok_representation_toy_data_size_cpu

writes ``contours.csv`` (one row per size, seed and ξ), ``contours.json``
(per size: the mean contour, the fit, each seed's slope) and
``contours.png`` into the folder; ``--level`` another level (file names
then carry it), ``--max-messiness`` a fit over the ideal end only.
``grokjax.landscape`` writes them at the paper's level whenever its points
take several ξ.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

LEVEL = 0.02  # Figure 6e's contour
READING = "min_train_loss"  # each run's lowest train loss: Omnigrok's reduced loss, the notebook's trainbest
COLUMNS = ("n_train", "seed", "messiness", "norm_at_level", "where", "norm_past_level", "val_acc_past_level",
           "val_loss_past_level")


def crossing(norms, losses, level: float) -> tuple[float, str]:
    """The norm at which ``losses`` (over ascending ``norms``) first fall to
    ``level`` or below, interpolated linearly in log loss between the last
    norm above and the first at or below; with where it lies: ``inside``,
    ``below`` (already at or under the level at the smallest norm) or
    ``above`` (never under it); NaN outside."""
    w, loss = np.asarray(norms, float), np.asarray(losses, float)
    under = np.isfinite(loss) & (loss <= level)
    if not under.any():
        return float("nan"), "above"
    k = int(np.argmax(under))
    if k == 0:
        return float("nan"), "below"
    hi, lo = loss[k - 1], loss[k]
    if not np.isfinite(hi):  # a diverged neighbour: no slope to interpolate on
        return float(w[k]), "inside"
    t = (np.log(hi) - np.log(level)) / (np.log(hi) - np.log(lo)) if lo > 0 else (hi - level) / (hi - lo)
    return float(w[k - 1] + t * (w[k] - w[k - 1])), "inside"


def points(rows: list[dict], level: float = LEVEL) -> list[dict]:
    """One row per (size, seed, ξ) of a landscape's rows: the contour's norm
    (``crossing``) and the test accuracy and loss at the first norm past it."""
    out = []
    for n in sorted({r["n_train"] for r in rows}):
        for seed in sorted({r["seed"] for r in rows if r["n_train"] == n}):
            for xi in sorted({r.get("messiness", 1.0) for r in rows}):
                line = sorted((r for r in rows if r["n_train"] == n and r["seed"] == seed
                               and r.get("messiness", 1.0) == xi), key=lambda r: r["weight_norm_target"])
                if not line:
                    continue
                norm, where = crossing([r["weight_norm_target"] for r in line], [r[READING] for r in line], level)
                past = next((r for r in line if np.isfinite(norm) and r["weight_norm_target"] >= norm), None)
                if where == "below":
                    past = line[0]
                out.append({"n_train": n, "seed": seed, "messiness": xi, "norm_at_level": norm, "where": where,
                            "norm_past_level": None if past is None else past["weight_norm_target"],
                            "val_acc_past_level": None if past is None else past["val_acc_at_min_train"],
                            "val_loss_past_level": None if past is None else past["val_loss_at_min_train"]})
    return out


def fit_tilt(xi, norm) -> dict | None:
    """Least squares of the contour's norm on ξ: slope (norm per unit ξ), its
    standard error and 95% interval, intercept, R² and the points used;
    None with fewer than 3 finite points or 2 values of ξ."""
    from scipy import stats

    x, y = np.asarray(xi, float), np.asarray(norm, float)
    keep = np.isfinite(y)
    if keep.sum() < 3 or len(np.unique(x[keep])) < 2:
        return None
    fit = stats.linregress(x[keep], y[keep])
    dof = keep.sum() - 2
    half = stats.t.ppf(0.975, dof) * fit.stderr if dof > 0 else float("inf")
    return {"slope": float(fit.slope), "stderr": float(fit.stderr), "slope_low": float(fit.slope - half),
            "slope_high": float(fit.slope + half), "intercept": float(fit.intercept), "r2": float(fit.rvalue ** 2),
            "n_points": int(keep.sum())}


def _mean(values) -> float | None:
    """The mean, or None unless every value is a finite number."""
    v = np.asarray([np.nan if x is None else x for x in values], float)
    return float(v.mean()) if len(v) and np.isfinite(v).all() else None


def tilt(pts: list[dict], max_messiness: float | None = None) -> dict:
    """Per training size: the ξ it was fitted over, the seeds' mean contour
    (None at a ξ where a seed's contour left the grid), the fit over every
    seed's points with ξ ≤ ``max_messiness``, each seed's own slope, the rise
    of the fitted contour across those ξ, and the mean test accuracy past the
    contour at each ξ."""
    sizes = {}
    for n in sorted({p["n_train"] for p in pts}):
        mine = [p for p in pts if p["n_train"] == n and (max_messiness is None or p["messiness"] <= max_messiness)]
        xis = sorted({p["messiness"] for p in mine})
        fit = fit_tilt([p["messiness"] for p in mine], [p["norm_at_level"] for p in mine])
        seeds = sorted({p["seed"] for p in mine})
        per_seed = {}
        for s in seeds:
            f = fit_tilt(*zip(*[(p["messiness"], p["norm_at_level"]) for p in mine if p["seed"] == s]))
            per_seed[str(s)] = None if f is None else round(f["slope"], 3)
        at = {xi: [p for p in mine if p["messiness"] == xi] for xi in xis}
        sizes[str(n)] = {
            "messiness": xis,
            "mean_norm_at_level": [_round(_mean([p["norm_at_level"] for p in at[xi]])) for xi in xis],
            "outside_grid": sum(p["where"] != "inside" for p in mine),
            "fit": fit, "rise_over_messiness": None if fit is None else round(fit["slope"] * (xis[-1] - xis[0]), 3),
            "slope_per_seed": per_seed,
            "mean_val_acc_past_level": [_round(_mean([p["val_acc_past_level"] for p in at[xi]])) for xi in xis],
        }
    return sizes


def _round(v, digits: int = 4):
    return None if v is None else round(v, digits)


def summary(pts: list[dict], level: float = LEVEL, max_messiness: float | None = None) -> dict:
    """What contours.json holds."""
    return {"level": level, "reading": f"{READING}: each run's lowest train loss over its evaluations",
            "norm_at_level": "the norm where the train loss first falls to the level, interpolated in log loss",
            "max_messiness": max_messiness,
            "claim": "Omnigrok Figure 6e: more data tilts the contour (a larger slope of norm against messiness); "
                     "with few pairs it stands upright and does not reach the generalizing solution",
            "sizes": tilt(pts, max_messiness)}


def plot(path: Path, pts: list[dict], got: dict, title: str):
    """Three panels: each size's contour over norm (x) × ξ (y), seeds as dots
    and their mean as a line; the fitted slope per size with its 95%
    interval; the test accuracy past the contour against ξ. Returns the figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(15, 5.2), layout="constrained")
    ax, bx, cx = fig.subplots(1, 3)
    sizes = list(got["sizes"])
    for i, n in enumerate(sizes):
        s, colour = got["sizes"][n], f"C{i}"
        mine = [p for p in pts if str(p["n_train"]) == n and p["where"] == "inside"]
        ax.plot([p["norm_at_level"] for p in mine], [p["messiness"] for p in mine], ".", color=colour, alpha=0.5)
        mean = [(w, xi) for w, xi in zip(s["mean_norm_at_level"], s["messiness"]) if w is not None]
        fit = s["fit"]
        label = f"{int(n):,} training samples" + ("" if fit is None else f": slope {fit['slope']:.3g}")
        if mean:
            ax.plot(*zip(*mean), "-", color=colour, lw=2, label=label)
        if fit is not None:
            bx.errorbar([int(n)], [fit["slope"]], yerr=[[fit["slope"] - fit["slope_low"]], [fit["slope_high"] - fit["slope"]]],
                        fmt="o", color=colour, capsize=4)
        acc = [(xi, a) for xi, a in zip(s["messiness"], s["mean_val_acc_past_level"]) if a is not None]
        if acc:
            cx.plot(*zip(*acc), "o-", color=colour, label=f"{int(n):,} training samples")
    xis = sorted({p["messiness"] for p in pts})
    ax.set_xlabel("weight norm ‖θ‖ where the train loss falls to the level")
    ax.set_ylabel("representation messiness ξ (0 ideal)")
    ax.set_title(f"train loss = {got['level']:g} contour (dots: seeds; line: their mean)", fontsize=10)
    ax.set_ylim(xis[0] - 0.05 * (xis[-1] - xis[0] or 1), xis[-1] + 0.05 * (xis[-1] - xis[0] or 1))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    bx.axhline(0, color="0.5", lw=0.8)
    bx.set_xlabel("training samples")
    bx.set_ylabel("slope of the contour: Δnorm / Δξ")
    bx.set_title("its tilt, least squares over seeds and ξ" + ("" if got["max_messiness"] is None else
                 f" ≤ {got['max_messiness']:g}") + " (95% interval);\n0: upright, nothing drives ξ down", fontsize=10)
    bx.set_xticks([int(n) for n in sizes])
    bx.grid(alpha=0.3)
    cx.set_xlabel("representation messiness ξ")
    cx.set_ylabel("test accuracy")
    cx.set_ylim(-0.03, 1.03)
    cx.set_title("test accuracy at the first norm past the contour\n(where sliding along it would end; mean over seeds)",
                 fontsize=10)
    cx.legend(fontsize=8)
    cx.grid(alpha=0.3)
    outside = sum(p["where"] != "inside" for p in pts)
    fig.suptitle(title + (f"\n{outside} of {len(pts)} seed contours leave the grid of norms (not drawn)" if outside else "")
                 + "\nOmnigrok Fig. 6e: more data tilts the contour toward the ideal representation; "
                 "with few samples it stands upright", fontsize=10)
    fig.savefig(path, dpi=120)
    return fig


def stem(level: float) -> str:
    """The files' name: ``contours`` at the paper's level, else ``contours_level<L>``."""
    return "contours" if level == LEVEL else f"contours_level{level:g}"


def write(out: Path, rows: list[dict], title: str, level: float = LEVEL,
          max_messiness: float | None = None, command: str | None = None) -> tuple[list[Path], dict]:
    """contours .csv, .json and .png in ``out`` from a landscape's rows."""
    from grokjax import report

    pts = points(rows, level)
    got = summary(pts, level, max_messiness)
    if command is not None:
        got = {"command": command, **got}
    paths = [Path(out) / f"{stem(level)}.{ext}" for ext in ("csv", "json", "png")]  # not with_suffix: 0.5 has a dot
    plot(paths[2], pts, got, title)
    report.write_atomic(paths[0], report.table_text(COLUMNS, pts))
    report.write_json(paths[1], got)
    return paths, got


def main(argv: list[str] | None = None) -> int:
    from grokjax import api, report
    from grokjax.checkpoint import CheckpointError
    from grokjax.cli import Parser, UsageError, os_error_line

    argv = sys.argv[1:] if argv is None else argv
    p = Parser(prog="python -m grokjax.contours",
               description="Omnigrok Figure 6e: per training size, the weight norm at which the reduced train loss "
                           "falls to a level, against the representation's messiness ξ, and the tilt of that contour. "
                           "Reads a landscape folder over several ξ (python -m grokjax.landscape ... --messiness); "
                           "writes contours.csv, .json and .png there.")
    p.add_argument("out", type=Path, help="a landscape folder (its landscape.csv)")
    p.add_argument("--level", type=float, default=LEVEL, help=f"the train loss of the contour ({LEVEL:g}, the paper's)")
    p.add_argument("--max-messiness", type=float, metavar="XI",
                   help="fit the tilt over ξ ≤ XI only (default: every ξ of the landscape)")
    try:
        args = p.parse_args(argv)
        if not (np.isfinite(args.level) and args.level > 0):
            raise UsageError(f"--level must be a train loss > 0, got {args.level:g}")
        table = args.out / "landscape.csv"
        if not table.is_file():
            raise UsageError(f"{args.out} has no landscape.csv (make one with python -m grokjax.landscape)")
        rows = [{k: report.cell(v) for k, v in r.items()} for r in report.read_csv(table)]
        xis = sorted({r.get("messiness", 1.0) for r in rows})
        if len(xis) < 2:
            raise UsageError(f"{table} holds one messiness value: a contour over ξ needs a landscape run with "
                             f"several (--messiness 0,0.05,0.1)")
        if args.max_messiness is not None and sum(x <= args.max_messiness for x in xis) < 2:
            raise UsageError(f"--max-messiness {args.max_messiness:g} leaves fewer than 2 of the landscape's ξ "
                             f"({', '.join(f'{x:g}' for x in xis)})")
        results = api.load(args.out)
    except (UsageError, CheckpointError, OSError) as e:
        return UsageError(os_error_line(e) if isinstance(e, OSError) else str(e)).report("grokjax.contours")
    try:
        paths, got = write(args.out, rows, title_of(results.spec, rows), args.level, args.max_messiness,
                           report.command_line(argv, "grokjax.contours"))
    except OSError as e:
        return UsageError(os_error_line(e)).report("grokjax.contours")
    for n, s in got["sizes"].items():
        fit = s["fit"]
        line = "no fit (fewer than 3 contour points inside the grid)" if fit is None else (
            f"slope {fit['slope']:.3g} (95% {fit['slope_low']:.3g} to {fit['slope_high']:.3g}), "
            f"rise {s['rise_over_messiness']:.3g} over ξ {s['messiness'][0]:g}-{s['messiness'][-1]:g}")
        print(f"{int(n):,} training samples: {line}; test accuracy past the contour at ξ = "
              f"{s['messiness'][0]:g}: {_fmt(s['mean_val_acc_past_level'][0])}, {s['messiness'][-1]:g}: "
              f"{_fmt(s['mean_val_acc_past_level'][-1])}")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.2f}"


def title_of(spec, rows: list[dict]) -> str:
    """The figure's title: the task, the budget, the grid and the seeds."""
    seeds = len({r["seed"] for r in rows})
    norms = sorted({r["weight_norm_target"] for r in rows})
    return (f"Where the train loss reaches the level over weight norm × representation: {spec.task.describe()}, "
            f"{spec.steps:,} steps at each fixed norm ({len(norms)} norms {norms[0]:g}-{norms[-1]:g}) and fixed inputs, "
            f"{seeds} seed{'s' if seeds > 1 else ''}, each run read at its lowest train loss")


if __name__ == "__main__":
    sys.exit(main())
