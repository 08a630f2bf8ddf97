"""Where the train loss's contour runs over weight norm × representation, per
training size: Omnigrok Figure 6e.

Omnigrok §5's picture of grokking on algorithmic data: weight decay pulls
the weight norm w down until the train loss starts to rise, at the contour
L_train = 0.02 between region II (memorized) and region I; from there the
model drifts along the contour. Where the contour tilts (a messier
representation ξ needs a larger norm to fit: a positive slope of w against
ξ), shrinking w along it also cleans the representation. The claim of
Figure 6e: the slope grows with the training size, so more data groks
faster; with 45 or 55 of the toy addition's 55 pairs the contour reaches the
generalizing solution at ξ ≈ 0, with 25 or 35 it does not.

From a landscape over several ξ (``python -m grokjax.landscape ... --messiness``)
this reads, per training size and seed, the norm w_c(ξ) at which the reduced
train loss (each run's lowest, the notebook's "trainbest") first falls to
the level, interpolated between the two neighbouring norms of the grid in
log loss (the lower loss floored at level/100, so that a loss of 0 or 10⁻⁹
past the level moves w_c no further than 10⁻⁴); fits w_c, and ln w_c,
against ξ by least squares with an intercept per seed (the tilt: the slope
with its 95% interval from Student's t), over ξ ≤ 0.1 (the notebook's range)
where the landscape has two such values; and reads the test accuracy at the
first norm of the grid past the contour: where weight decay, coming down
in w at that ξ, meets it.

    python -m grokjax.contours results/omnigrok_representation_toy_data_size_cpu

writes ``contours.csv`` (one row per size, seed and ξ), ``contours.json``
(per size: the mean contour, the fits, each seed's slope; whether the slope
rises with size) and ``contours.png`` into the folder; ``--level`` another
level (the files then ``contours_level<L>.*``), ``--max-messiness`` another
range of the fit. ``grokjax.landscape`` writes them at the paper's level
whenever its points take several ξ.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np

LEVEL = 0.02  # Figure 6e's contour
FIT_UP_TO = 0.1  # the notebook's range of ξ for Figure 6e
TRAIN_LOSS = "min_train_loss"  # each run's lowest train loss: Omnigrok's reduced loss, the notebook's trainbest
NEEDS = ("weight_norm_target", "n_train", "seed", TRAIN_LOSS, "val_acc_at_min_train", "val_loss_at_min_train")
COLUMNS = ("n_train", "seed", "messiness", "norm_at_level", "where", "norm_before_level", "norm_past_level",
           "recrosses", "val_acc_past_level", "val_loss_past_level")


def crossing(norms, losses, level: float) -> tuple[float, str, int | None]:
    """Where ``losses`` over ascending ``norms`` first fall to ``level`` or
    below: the norm, interpolated linearly in log loss between the last norm
    above and the first at or below (the lower loss floored at level/100);
    where it lies, ``inside``, ``below`` (at or under the level already at
    the smallest norm), ``above`` (never under it) or ``diverged`` (a
    non-finite loss before the crossing); and the index of the first norm at
    or under the level (None when there is none). NaN unless inside."""
    w, loss = np.asarray(norms, float), np.asarray(losses, float)
    under = np.isfinite(loss) & (loss <= level)
    k = int(np.argmax(under)) if under.any() else len(loss)
    if not np.isfinite(loss[:k]).all():
        return float("nan"), "diverged", None if k == len(loss) else k
    if k == len(loss):
        return float("nan"), "above", None
    if k == 0:
        return float("nan"), "below", 0
    hi, lo = np.log(loss[k - 1]), np.log(max(loss[k], level / 100))
    return float(w[k - 1] + (hi - np.log(level)) / (hi - lo) * (w[k] - w[k - 1])), "inside", k


def one_run_per_point(rows: list[dict]) -> bool:
    """Whether each (size, seed, ξ, norm) is one row: a landscape that also
    varied another setting (two learning rates) has two, and no one contour."""
    keys = [(r["n_train"], r["seed"], r.get("messiness", 1.0), r["weight_norm_target"]) for r in rows]
    return len(set(keys)) == len(keys)


def points(rows: list[dict], level: float = LEVEL) -> list[dict]:
    """One row per (size, seed, ξ) of a landscape's rows: the contour's norm
    (``crossing``), the grid's norms either side, whether the loss rises
    above the level again at a larger norm, and the test accuracy and loss
    at the first norm at or under the level."""
    if not one_run_per_point(rows):
        raise ValueError("the landscape has several runs at one (size, seed, messiness, norm): it varied another "
                         "setting too, so there is no one contour; make a landscape per setting")
    out = []
    for n in sorted({r["n_train"] for r in rows}):
        for seed in sorted({r["seed"] for r in rows if r["n_train"] == n}):
            for xi in sorted({r.get("messiness", 1.0) for r in rows}):
                line = sorted((r for r in rows if r["n_train"] == n and r["seed"] == seed
                               and r.get("messiness", 1.0) == xi), key=lambda r: r["weight_norm_target"])
                if not line:
                    continue
                loss = np.array([r[TRAIN_LOSS] for r in line], float)
                norm, where, k = crossing([r["weight_norm_target"] for r in line], loss, level)
                past = None if k is None else line[k]
                out.append({"n_train": n, "seed": seed, "messiness": xi,
                            "norm_at_level": None if np.isnan(norm) else round(norm, 4), "where": where,
                            "norm_before_level": line[k - 1]["weight_norm_target"] if k else None,
                            "norm_past_level": None if past is None else past["weight_norm_target"],
                            "recrosses": None if k is None else bool((loss[k:] > level).any()),
                            "val_acc_past_level": None if past is None else past["val_acc_at_min_train"],
                            "val_loss_past_level": None if past is None else past["val_loss_at_min_train"]})
    return out


def fit_tilt(xi, norm, seed) -> dict | None:
    """Least squares of the contour's norm on ξ with an intercept per seed (a
    seed that sits higher at every ξ moves no slope and no interval): the
    slope (norm per unit ξ), its standard error and 95% interval (Student's
    t, N − seeds − 1 degrees of freedom), the within-seed R², the mean
    intercept and the points used; None without one degree of freedom or
    without two values of ξ within a seed."""
    from scipy import stats

    x, y, s = np.asarray(xi, float), np.asarray(norm, float), np.asarray(seed)
    keep = np.isfinite(y) & np.isfinite(x)
    x, y, s = x[keep], y[keep], s[keep]
    xd, yd, groups = [], [], 0
    for g in np.unique(s):
        m = s == g
        if len(np.unique(x[m])) >= 2:  # else the seed's points carry no slope, only its intercept
            xd.append(x[m] - x[m].mean())
            yd.append(y[m] - y[m].mean())
            groups += 1
    if not groups:
        return None
    xd, yd = np.concatenate(xd), np.concatenate(yd)
    sxx, dof = float(xd @ xd), len(xd) - groups - 1
    if dof < 1:
        return None
    slope = float(xd @ yd) / sxx
    resid = yd - slope * xd
    stderr = float(np.sqrt(resid @ resid / dof / sxx))
    half = float(stats.t.ppf(0.975, dof)) * stderr
    syy = float(yd @ yd)
    used = np.isin(s, [g for g in np.unique(s) if len(np.unique(x[s == g])) >= 2])
    return {"slope": slope, "stderr": stderr, "slope_low": slope - half, "slope_high": slope + half,
            "intercept": float(y[used].mean() - slope * x[used].mean()),
            "r2": 1.0 if syy == 0 else 1 - float(resid @ resid) / syy, "n_points": int(len(xd)), "n_seeds": groups}


def _mean(values) -> float | None:
    """The mean, or None unless every value is a finite number."""
    v = np.asarray([np.nan if x is None else x for x in values], float)
    return float(v.mean()) if len(v) and np.isfinite(v).all() else None


def _round(v, digits: int = 4):
    return None if v is None else round(v, digits)


def fit_range(xis, max_messiness: float | None) -> float | None:
    """The ξ the fit covers up to: ``max_messiness`` as given, else the
    notebook's 0.1 where the landscape has two values up to it, else all
    (None)."""
    if max_messiness is not None:
        return max_messiness
    return FIT_UP_TO if sum(x <= FIT_UP_TO for x in xis) >= 2 and max(xis) > FIT_UP_TO else None


def tilt(pts: list[dict], max_messiness: float | None = None) -> dict:
    """Per training size: the ξ fitted, the seeds' mean contour (None at a ξ
    where a seed's contour is not inside the grid), how many seed contours
    lay outside it and how, the fit of w_c and of ln w_c over every seed's
    points with ξ ≤ ``max_messiness``, each seed's own slope, the rise of
    the fitted w_c across those ξ, how many lines rise above the level again
    past the crossing, and the mean test accuracy past the contour at each ξ."""
    sizes = {}
    for n in sorted({p["n_train"] for p in pts}):
        mine = [p for p in pts if p["n_train"] == n and (max_messiness is None or p["messiness"] <= max_messiness)]
        xis = sorted({p["messiness"] for p in mine})
        x = [p["messiness"] for p in mine]
        w = np.array([np.nan if p["norm_at_level"] is None else p["norm_at_level"] for p in mine])
        s = [p["seed"] for p in mine]
        fit, fit_log = fit_tilt(x, w, s), fit_tilt(x, np.log(w), s)
        per_seed = {}
        for seed in sorted(set(s)):
            one = [i for i, v in enumerate(s) if v == seed]
            f = fit_tilt([x[i] for i in one], w[one], [seed] * len(one))
            per_seed[str(seed)] = None if f is None else round(f["slope"], 3)
        at = {xi: [p for p in mine if p["messiness"] == xi] for xi in xis}
        sizes[str(n)] = {
            "messiness": xis,
            "mean_norm_at_level": [_round(_mean([p["norm_at_level"] for p in at[xi]])) for xi in xis],
            "outside_grid": {k: sum(p["where"] == k for p in mine) for k in ("below", "above", "diverged")},
            "recrossing_lines": sum(bool(p["recrosses"]) for p in mine),
            "fit": fit, "fit_log_norm": fit_log,
            "rise_over_messiness": None if fit is None else round(fit["slope"] * (xis[-1] - xis[0]), 3),
            "slope_per_seed": per_seed,
            "mean_val_acc_past_level": [_round(_mean([p["val_acc_past_level"] for p in at[xi]])) for xi in xis],
        }
    return sizes


def summary(pts: list[dict], level: float = LEVEL, max_messiness: float | None = None) -> dict:
    """What contours.json holds: the level, the range and method of the
    fits, per size ``tilt``, and whether the fitted slope rises from each
    size to the next (``slope_rises_with_size``) and its intervals do not
    overlap (``... _beyond_intervals``); None where a size has no fit."""
    sizes = tilt(pts, max_messiness)
    fits = [s["fit"] for s in sizes.values()]
    pairs = list(zip(fits, fits[1:]))
    ok = all(f is not None for f in fits) and len(fits) > 1
    return {"level": level, "reading": f"{TRAIN_LOSS}: each run's lowest train loss over its evaluations",
            "norm_at_level": "where the train loss first falls to the level on the grid of norms, interpolated in log loss",
            "fit": "least squares of norm_at_level on messiness, an intercept per seed; 95% interval from Student's t",
            "max_messiness": max_messiness,
            "claim": "Omnigrok Figure 6e: the contour's slope (norm against messiness) grows with the training size, "
                     "and only with enough data does it reach the generalizing solution at messiness near 0",
            "slope_rises_with_size": bool(all(b["slope"] > a["slope"] for a, b in pairs)) if ok else None,
            "slope_rises_with_size_beyond_intervals": (bool(all(b["slope_low"] > a["slope_high"] for a, b in pairs))
                                                       if ok else None),
            "sizes": sizes}


def plot(pts: list[dict], got: dict, title: str, loss: str = "train loss"):
    """Three panels over the ξ fitted: each size's contour over norm (x) × ξ (y), seeds as dots
    and their mean as a line (broken where a seed's contour left the grid);
    the fitted slope per size with its 95% interval; the test accuracy past
    the contour against ξ. Returns the figure."""
    from matplotlib.figure import Figure

    if got["max_messiness"] is not None:  # the panels show the ξ fitted
        pts = [p for p in pts if p["messiness"] <= got["max_messiness"]]
    fig = Figure(figsize=(15, 5.4), layout="constrained")
    ax, bx, cx = fig.subplots(1, 3)
    sizes = list(got["sizes"])
    for i, n in enumerate(sizes):
        s, colour = got["sizes"][n], f"C{i}"
        mine = [p for p in pts if str(p["n_train"]) == n and p["where"] == "inside"]
        ax.plot([p["norm_at_level"] for p in mine], [p["messiness"] for p in mine], ".", color=colour, alpha=0.5)
        fit = s["fit"]
        label = f"{int(n):,} training samples" + ("" if fit is None else f": slope {fit['slope']:.3g}")
        mean = [np.nan if w is None else w for w in s["mean_norm_at_level"]]
        ax.plot(mean, s["messiness"], "-", color=colour, lw=2, label=label)
        if fit is not None:
            xs = np.array([s["messiness"][0], s["messiness"][-1]])
            ax.plot(fit["intercept"] + fit["slope"] * xs, xs, ":", color=colour, lw=1)
            bx.errorbar([int(n)], [fit["slope"]], yerr=[[fit["slope"] - fit["slope_low"]], [fit["slope_high"] - fit["slope"]]],
                        fmt="o", color=colour, capsize=4)
        acc = [np.nan if a is None else a for a in s["mean_val_acc_past_level"]]
        tested = f" ({s['n_test']:,} test)" if "n_test" in s else ""
        cx.plot(s["messiness"], acc, "o-", color=colour, label=f"{int(n):,} training samples{tested}")
    xis = sorted({p["messiness"] for p in pts})
    pad = 0.05 * ((xis[-1] - xis[0]) or 1)
    upto = "" if got["max_messiness"] is None else f", fitted over ξ ≤ {got['max_messiness']:g}"
    ax.set_xlabel(f"weight norm ‖θ‖ where the {loss} falls to {got['level']:g}")
    ax.set_ylabel("representation messiness ξ (0 ideal)")
    ax.set_title(f"{loss} = {got['level']:g} contour\n(dots: seeds; line: their mean; dotted: the fit)", fontsize=10)
    ax.set_ylim(xis[0] - pad, xis[-1] + pad)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    bx.axhline(0, color="0.5", lw=0.8)
    bx.set_xlabel("training samples")
    bx.set_ylabel("slope of the contour: Δnorm / Δξ")
    bx.set_title(f"its tilt (95% interval, an intercept per seed{upto});\n"
                 "> 0: shrinking the norm along it lowers ξ", fontsize=10)
    bx.set_xticks([int(n) for n in sizes])
    bx.grid(alpha=0.3)
    cx.set_xlabel("representation messiness ξ")
    cx.set_ylabel("test accuracy")
    cx.set_ylim(-0.03, 1.03)
    cx.set_title("test accuracy where the shrinking norm meets the contour\nat that ξ (the grid's first norm past it; "
                 "seed mean)", fontsize=10)
    cx.legend(fontsize=8)
    cx.grid(alpha=0.3)
    outside = sum(p["where"] != "inside" for p in pts)
    fig.suptitle(title + (f"\n{outside} of {len(pts)} seed contours not inside the grid of norms (not drawn)" if outside else "")
                 + "\nOmnigrok Fig. 6e: the contour's slope grows with the data; only with enough data does it reach "
                 "the generalizing solution near ξ = 0", fontsize=10)
    return fig


def stem(level: float) -> str:
    """The files' name: ``contours`` at the paper's level, else ``contours_level<L>``."""
    return "contours" if level == LEVEL else f"contours_level{level:g}"


def write(out: Path, rows: list[dict], title: str, level: float = LEVEL, max_messiness: float | None = None,
          command: str | None = None, loss: str = "train loss") -> tuple[list[Path], dict]:
    """contours .csv, .json and .png in ``out`` from a landscape's rows, each
    written whole (the figure drawn before any file is)."""
    from grokjax import report

    pts = points(rows, level)
    upto = fit_range(sorted({p["messiness"] for p in pts}), max_messiness)
    got = summary(pts, level, upto)
    for r in rows:  # the test set's size beside each size: a test accuracy over 1 pair reads as 0 or 1
        if r.get("frac"):
            got["sizes"][str(r["n_train"])].setdefault("n_test", round(r["n_train"] / r["frac"]) - r["n_train"])
    if command is not None:
        got = {"command": command, **got}
    png = io.BytesIO()
    plot(pts, got, title, loss).savefig(png, dpi=120, format="png")
    paths = [Path(out) / f"{stem(level)}.{ext}" for ext in ("csv", "png", "json")]  # not with_suffix: 0.5 has a dot
    report.write_atomic(paths[0], report.table_text(COLUMNS, pts))
    report.write_atomic(paths[1], png.getvalue())
    report.write_json(paths[2], got)
    return paths, got


def read_rows(table: Path) -> list[dict]:
    """A landscape.csv's rows, its numbers as numbers; ValueError naming what is missing or not a number."""
    from grokjax import report

    raw = report.read_csv(table)
    missing = [c for c in NEEDS if not raw or c not in raw[0]]
    if missing:
        raise ValueError(f"{table} is not a landscape table: no column {missing[0]!r}" if raw else f"{table} has no rows")
    rows = [{k: report.cell(v) for k, v in r.items()} for r in raw]
    for r in rows:
        for c in (*NEEDS, "messiness"):
            if c in r and not isinstance(r[c], (int, float)):
                raise ValueError(f"{table}: {c} = {r[c]!r} is not a number")
    return rows


def read_folder(out: Path) -> list[dict]:
    """A landscape folder's rows, over several ξ and one run per point;
    ValueError saying what is missing (no landscape.csv, one ξ, a landscape
    that varied another setting too)."""
    table = out / "landscape.csv"
    if not table.is_file():
        raise ValueError(f"{out} has no landscape.csv (make one with python -m grokjax.landscape)")
    rows = read_rows(table)
    if len({r.get("messiness", 1.0) for r in rows}) < 2:
        raise ValueError(f"{table} holds one messiness value: reading over ξ needs a landscape run with several "
                         f"(--messiness 0,0.05,0.1)")
    if not one_run_per_point(rows):
        points(rows)  # says why
    return rows


def title_of(spec, rows: list[dict]) -> str:
    """The figure's title: the task, the budget, the grid and the seeds."""
    seeds = len({r["seed"] for r in rows})
    norms = sorted({r["weight_norm_target"] for r in rows})
    return (f"Where the train loss reaches the level over weight norm × representation: {spec.task.describe()}, "
            f"{spec.steps:,} steps at each fixed norm ({len(norms)} norms {norms[0]:g}-{norms[-1]:g}) and fixed inputs, "
            f"{seeds} seed{'s' if seeds > 1 else ''}, each run read at its lowest train loss")


def main(argv: list[str] | None = None) -> int:
    from grokjax import api, plots, report
    from grokjax.checkpoint import CheckpointError
    from grokjax.cli import Parser, UsageError, os_error_line

    argv = sys.argv[1:] if argv is None else argv
    p = Parser(prog="python -m grokjax.contours",
               description="Omnigrok Figure 6e: per training size, the weight norm at which the reduced train loss "
                           "falls to a level, against the representation's messiness ξ, and the slope of that contour "
                           "(does more data tilt it?). Reads a landscape folder over several ξ (python -m "
                           "grokjax.landscape ... --messiness); writes contours.csv, .json and .png there.")
    p.add_argument("out", type=Path, help="a landscape folder (its landscape.csv)")
    p.add_argument("--level", type=float, default=LEVEL,
                   help=f"the train loss of the contour ({LEVEL:g}, the paper's); files contours_level<L>.* then")
    p.add_argument("--max-messiness", type=float, metavar="XI",
                   help=f"fit the slope over ξ ≤ XI (default {FIT_UP_TO:g}, the notebook's range, where the "
                        f"landscape has two values up to it; else every ξ)")
    try:
        args = p.parse_args(argv)
        if not (np.isfinite(args.level) and args.level > 0):
            raise UsageError(f"--level must be a train loss > 0, got {args.level:g}")
        rows = read_folder(args.out)
        xis = sorted({r.get("messiness", 1.0) for r in rows})
        if args.max_messiness is not None and sum(x <= args.max_messiness for x in xis) < 2:
            raise UsageError(f"--max-messiness {args.max_messiness:g} leaves fewer than 2 of the landscape's ξ "
                             f"({', '.join(f'{x:g}' for x in xis)})")
        spec = api.load_spec(args.out)
    except (UsageError, CheckpointError, ValueError, OSError) as e:
        return UsageError(os_error_line(e) if isinstance(e, OSError) else str(e)).report("grokjax.contours")
    try:
        paths, got = write(args.out, rows, title_of(spec, rows), args.level, args.max_messiness,
                           report.command_line(argv, "grokjax.contours"),
                           f"train loss ({plots.loss_name(spec.loss or spec.task.default_loss)})")
    except OSError as e:
        return UsageError(os_error_line(e)).report("grokjax.contours")
    for n, s in got["sizes"].items():
        fit = s["fit"]
        line = "no fit (too few contour points inside the grid)" if fit is None else (
            f"slope {fit['slope']:.3g} (95% {fit['slope_low']:.3g} to {fit['slope_high']:.3g}), "
            f"rise {s['rise_over_messiness']:.3g} over ξ {s['messiness'][0]:g}-{s['messiness'][-1]:g}")
        print(f"{int(n):,} training samples: {line}; test accuracy past the contour at ξ = "
              f"{s['messiness'][0]:g}: {_fmt(s['mean_val_acc_past_level'][0])}, {s['messiness'][-1]:g}: "
              f"{_fmt(s['mean_val_acc_past_level'][-1])}")
    rises = got["slope_rises_with_size"]
    print("slope rises with size: " + ("not judged (it needs a fit at every size, two sizes or more)" if rises is None else
                                       f"{'yes' if rises else 'no'} (beyond the intervals: "
                                       f"{'yes' if got['slope_rises_with_size_beyond_intervals'] else 'no'})"))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.2f}"


if __name__ == "__main__":
    sys.exit(main())
