"""Time to generalize against one setting of a sweep, with a fitted power law.

Omnigrok's claims are scalings: the steps until the test accuracy reaches a
threshold go as 1/γ in the weight decay γ (Figure 2c, appendix C), and rise
sharply as the training set shrinks toward a critical size (Figure 3e).

    python -m grokjax.scaling OUT --against weight_decay --where init_scale=2 --threshold 0.95

reads a finished sweep folder (its curves), finds for every run the first
evaluated step at which val accuracy reaches ``--threshold``, takes the
median over seeds for each value of ``--against`` (a run that never gets
there counts as infinitely slow, as the paper's medians do), fits
``log10(steps) = slope·log10(x) + c`` by least squares over the values whose
median was reached (no fit when fewer than 3 were, or when their medians take
fewer than 3 distinct values: evaluated every N steps, a flat time to fit
reads as a step between two grid values, and a slope through it means
nothing), and writes ``scaling_<against>[_<where>][_train]`` .csv,
.json and .png beside the sweep's own tables. The slope's 95% interval is Student's t over the
fit's standard error.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from grokjax import summary

COLUMNS = ("value", "n_runs", "n_reached", "median_steps", "steps")
# the x axis in words, the flag in brackets so a reader can find it
NAMES = {"weight_decay": "weight decay γ", "n_train": "training-set size", "init_scale": "init scale α",
         "lr": "learning rate", "frac": "training fraction", "weight_norm_target": "weight norm held at"}
# runs.csv columns that a run produced rather than was given: no x axis.
NOT_SETTINGS = frozenset({*summary.SUMMARY, "run", "steps"})


def time_to(steps: np.ndarray, curves: dict, threshold: float, metric: str = "val_acc") -> list[int | None]:
    """Per run, the first evaluated step with ``metric`` (an accuracy) ≥
    ``threshold`` before it diverged, or None."""
    upto = summary.diverged_at(curves)
    val = np.asarray(curves[metric])
    return [summary.steps_to(steps[:t], val[:t, r], threshold) for r, t in enumerate(upto)]


def select(runs: list[dict], where: dict) -> list[int]:
    """Indices of the runs whose settings match every ``key=value`` of ``where``."""
    return [i for i, r in enumerate(runs) if all(np.isclose(float(r[k]), v) for k, v in where.items())]


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def varied(runs: list[dict]) -> list[str]:
    """The numeric settings (runs.csv columns a run was given) that take more
    than one value across ``runs``: what ``--against`` can use."""
    return [k for k in runs[0] if k not in NOT_SETTINGS and all(_is_number(r.get(k)) for r in runs)
            and len({r[k] for r in runs}) > 1]


def _used(x, y) -> np.ndarray:
    """The points a log-log fit can use: x > 0 (a log axis; weight decay 0 is
    left out) and a finite y > 0 (unreached medians are NaN)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    return (x > 0) & np.isfinite(y) & (y > 0)


def fit_power_law(x, y) -> dict | None:
    """Least squares of log10(y) on log10(x): slope, its standard error and
    95% interval, intercept, and the points used (``n_points``, see
    ``_used``); None with fewer than 3 points, or when their y take fewer
    than 3 distinct values (medians on an evaluation grid: two levels give
    a step, not a slope)."""
    from scipy import stats

    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = _used(x, y)
    if keep.sum() < 3 or len(np.unique(y[keep])) < 3:
        return None
    fit = stats.linregress(np.log10(x[keep]), np.log10(y[keep]))
    half = stats.t.ppf(0.975, keep.sum() - 2) * fit.stderr
    return {"slope": float(fit.slope), "stderr": float(fit.stderr), "slope_low": float(fit.slope - half),
            "slope_high": float(fit.slope + half), "intercept": float(fit.intercept), "r2": float(fit.rvalue ** 2),
            "n_points": int(keep.sum())}


def eval_grid(steps, near: float | None = None, log: bool = False) -> str:
    """How often the runs were evaluated, as a reader needs it to judge a
    median: every N steps, or on an uneven grid (log-spaced, or with
    checkpoints' steps added) the gap ``near`` a step."""
    steps = np.asarray(steps)
    gaps = np.diff(steps)
    if len(np.unique(gaps[:-1] if len(gaps) > 1 else gaps)) == 1:  # the last may be short: the budget ends it
        return f"evaluation every {int(gaps[0]):,} steps"
    kind = "log-spaced" if log else "unevenly spaced"  # uneven: a log grid, or checkpoints' steps added
    if near is None:
        return f"{kind} evaluations"
    i = int(np.clip(np.searchsorted(steps, near), 1, len(steps) - 1))
    return f"{kind} evaluations, {int(gaps[i - 1]):,} steps apart near step {int(steps[i]):,}"


def no_fit_reason(rows: list[dict], steps, log: bool = False) -> str:
    """Why ``fit_power_law`` gave no fit for ``rows``, in one line."""
    x = [r["value"] for r in rows]
    y = [np.nan if r["median_steps"] is None else r["median_steps"] for r in rows]
    keep = _used(x, y)
    if keep.sum() < 3:
        zero = any(v == 0 and np.isfinite(m) for v, m in zip(x, y))
        return "no fit: fewer than 3 values reached the threshold" + (" (0 is off the log axis)" if zero else "")
    return f"no fit: medians take fewer than 3 distinct values ({eval_grid(steps, np.median(np.asarray(y)[keep]), log)})"


def scaling(results, against: str, threshold: float, where: dict | None = None,
            metric: str = "val_acc") -> tuple[list[dict], dict | None]:
    """Rows (one per value of ``against``: median steps over its runs) and the fit."""
    where = where or {}
    if not 0 < threshold <= 1:
        raise ValueError(f"--threshold {threshold:g} is not an accuracy in (0, 1]")

    def numeric(k, flag):
        if k not in results.runs[0]:
            # the choices, so that a misspelt name (wd) need not be looked up in runs.csv
            raise ValueError(f"{flag} {k}: the runs have no column {k!r}; the settings that vary across them: "
                             f"{', '.join(varied(results.runs)) or 'none'}")
        if k in NOT_SETTINGS:
            raise ValueError(f"{flag} {k}: a result of each run, not a setting; use a setting the sweep varied "
                             f"such as weight_decay or n_train")
        bad = [r[k] for r in results.runs if not _is_number(r[k])]
        if bad:
            raise ValueError(f"{flag} {k}: its values are not numbers ({bad[0]!r}); use a numeric setting "
                             f"such as weight_decay or n_train")

    for k in where:
        numeric(k, "--where")
    idx = select(results.runs, where)
    if not idx:  # say what the runs have, each key's values
        have = "; ".join(f"{k} takes {', '.join(f'{v:g}' for v in sorted({r[k] for r in results.runs}))}" for k in where)
        raise ValueError(f"no run matches {' '.join(f'{k}={v:g}' for k, v in where.items())}: {have}")
    numeric(against, "--against")
    times = time_to(np.asarray(results.steps), results.curves, threshold, metric)
    groups = defaultdict(list)
    for i in idx:
        groups[results.runs[i][against]].append(times[i])
    if len(groups) < 2:
        raise ValueError(f"--against {against}: every chosen run has {against} = {next(iter(groups)):g}; "
                         f"the sweep did not vary it")
    rows = []
    for value in sorted(groups):
        t = groups[value]
        med = summary.median_steps(t)
        rows.append({"value": value, "n_runs": len(t), "n_reached": sum(s is not None for s in t),
                     "median_steps": med, "steps": " ".join("-" if s is None else str(s) for s in t)})
    fit = fit_power_law([r["value"] for r in rows], [np.nan if r["median_steps"] is None else r["median_steps"] for r in rows])
    return rows, fit


def name(key: str) -> str:
    """A setting in words with its flag, e.g. ``training-set size (n_train)``."""
    return f"{NAMES[key]} ({key})" if key in NAMES else key.replace("_", " ")


def plot(path: Path, rows: list[dict], fit: dict | None, against: str, threshold: float, title: str, budget: int,
         metric: str = "val_acc", claim: float | None = None, why: str | None = None, stopped: int | None = None):
    """Each seed's time (grey), the medians, the fit or ``why`` there is none,
    and ``claim``'s slope, on log-log axes; returns the figure. ``budget``:
    the last step the runs had; ``stopped``: that step when the sweep
    stopped before its budget."""
    from matplotlib.figure import Figure

    from grokjax.plots import plain_log_ticks, reach_ticks

    fig = Figure(figsize=(6.4, 5.4), layout="constrained")
    ax = fig.subplots()
    x = np.array([r["value"] for r in rows], float)
    seeds = [(r["value"], int(s)) for r in rows for s in r["steps"].split() if s != "-"]
    if seeds:
        ax.plot(*zip(*seeds), ".", color="0.6", label="each seed")
    # a seed that never got there: at the budget, pointing up (at least that
    # slow); where the median missed too, its marker stands for them
    late = [r["value"] for r in rows if r["median_steps"] is not None for s in r["steps"].split() if s == "-"]
    if late:
        ax.plot(late, [budget] * len(late), "^", ms=4, color="0.6", mfc="none", label="a seed not reached")
    reached = [r for r in rows if r["median_steps"] is not None]
    ax.plot([r["value"] for r in reached], [r["median_steps"] for r in reached], "o", color="C0", label="median over seeds")
    missed = [r["value"] for r in rows if r["median_steps"] is None]
    if missed:
        ax.plot(missed, [budget] * len(missed), "^", color="C3",
                label=f"median ≥ {budget:,} steps (not reached{'' if stopped is None else ' when the sweep stopped'})")
    if fit is not None:
        xs = np.geomspace(x[x > 0].min(), x.max(), 50)
        ax.plot(xs, 10 ** (fit["intercept"] + fit["slope"] * np.log10(xs)), "--", color="C0",
                label=f"fit: slope {fit['slope']:.2f} (95% {fit['slope_low']:.2f} to {fit['slope_high']:.2f})")
    elif why:  # say so where the line would be
        ax.plot([], [], " ", label=why)
    if claim is not None and reached:  # the claimed slope, through the middle of the medians
        lx = np.log10([r["value"] for r in reached if r["value"] > 0])
        ly = np.log10([r["median_steps"] for r in reached if r["value"] > 0])
        xs = np.geomspace(x[x > 0].min(), x.max(), 50)
        ax.plot(xs, 10 ** (ly.mean() + claim * (np.log10(xs) - lx.mean())), ":", color="0.3",
                label=f"claimed slope {claim:g}")
    off = [r for r in rows if r["value"] <= 0]
    for r in off:  # a log axis has no 0: say what is not drawn
        med = "not reached" if r["median_steps"] is None else f"{r['median_steps']:,g} steps"
        ax.plot([], [], " ", label=f"{against} {r['value']:g}: not on a log axis (median {med})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(name(against))
    ax.set_ylabel(f"steps to {threshold:.0%} {metric.replace('_acc', '')} accuracy")
    plain_log_ticks(ax.xaxis)
    if 2 <= (x > 0).sum() <= 12:  # a tick at each setting the sweep ran
        ax.set_xticks(x[x > 0])
    plain_log_ticks(ax.yaxis)
    reach_ticks(ax.yaxis)
    ax.grid(alpha=0.3)
    # below the axes, where it hides no point
    fig.legend(loc="outside lower center", ncols=1 if why or off else 2, fontsize=8, frameon=False)
    ax.set_title(title, fontsize=10)
    fig.savefig(path, dpi=130)
    return fig


def _where(items: list[str]) -> dict:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise ValueError(f"--where takes KEY=NUMBER, got {item!r}")
    return out


def main(argv: list[str] | None = None) -> int:
    from grokjax import api
    from grokjax.checkpoint import CheckpointError
    from grokjax.cli import Parser, UsageError, os_error_line

    argv = sys.argv[1:] if argv is None else argv
    p = Parser(prog="python -m grokjax.scaling", description=__doc__.split("\n\n")[0].strip().rstrip(".") + ". " +
               "Reads a finished sweep folder; writes scaling_<against>[_<where>][_train] .csv, .json and .png there.")
    p.add_argument("out", type=Path, help="a finished sweep folder")
    p.add_argument("--against", required=True, help="the runs.csv column on the x axis, e.g. weight_decay or n_train")
    p.add_argument("--threshold", type=float, default=0.95, help="the --metric accuracy that counts as reached (0.95)")
    p.add_argument("--where", action="append", metavar="KEY=VALUE", help="only runs with this setting (repeatable)")
    p.add_argument("--metric", choices=("val_acc", "train_acc"), default="val_acc",
                   help="whose time: val accuracy (generalizing) or train accuracy (fitting) (val_acc)")
    p.add_argument("--claim", type=float, metavar="SLOPE", help="also draw this slope, e.g. -1 for t ∝ 1/γ")
    try:
        args = p.parse_args(argv)
        if args.claim is not None and not np.isfinite(args.claim):
            raise UsageError(f"--claim must be a finite slope, got {args.claim}")
        where = _where(args.where)
        results = api.load(args.out)
        rows, fit = scaling(results, args.against, args.threshold, where, args.metric)
    except (UsageError, CheckpointError, ValueError) as e:
        return UsageError(str(e)).report("grokjax.scaling")
    try:
        return _write(args, argv, results, rows, fit, where)
    except OSError as e:
        return UsageError(os_error_line(e)).report("grokjax.scaling")


def _write(args, argv, results, rows, fit, where) -> int:
    """The CSV, figure and JSON of one scaling, and its summary on stdout."""
    from grokjax import plots, report

    stem = (f"scaling_{args.against}" + "".join(f"_{k}{v:g}" for k, v in where.items())
            + ("_train" if args.metric == "train_acc" else ""))
    report.write_atomic(args.out / f"{stem}.csv", report.table_text(COLUMNS, rows))
    cond = ", ".join(f"{NAMES.get(k, k)} = {v:g}" for k, v in where.items())
    chosen = [results.runs[i] for i in select(results.runs, where)]
    n_seeds = len({r["seed"] for r in chosen})
    budget = int(results.steps[-1])  # the runs' last step: the budget, or where the sweep stopped
    stopped = plots.stopped_early(chosen, plots.read_spec(args.out))
    sizes = {(r["frac"], r["n_train"]) for r in chosen}
    size = ""
    if len(sizes) == 1 and args.against not in ("frac", "n_train"):
        frac, n_train = sizes.pop()
        size = f", {n_train:,} training samples (frac {frac:.3g})"
    title = (f"{results.spec.task.describe()}{', ' + cond if cond else ''}: steps to {args.threshold:.0%} "
             f"{args.metric.replace('_acc', '')} accuracy\nagainst {NAMES.get(args.against, args.against)}; "
             f"{n_seeds} seed{'s' if n_seeds > 1 else ''}{size}\n"
             f"{plots.settings_line(chosen, plots.read_spec(args.out), results.steps, width=80)}")
    why = None if fit else no_fit_reason(rows, results.steps, str(results.spec.eval_every).startswith("log:"))
    plot(args.out / f"{stem}.png", rows, fit, args.against, args.threshold, title, budget, args.metric,
         args.claim, why, stopped)
    report.write_json(args.out / f"{stem}.json", {"command": report.command_line(argv, "grokjax.scaling"),
                                                  "against": args.against, "metric": args.metric, "threshold": args.threshold,
                                                  "where": where, "claim": args.claim, "fit": fit, **({"no_fit": why} if why else {}),
                                                  "rows": rows})
    for r in rows:
        median = "not reached" if r["median_steps"] is None else f"{r['median_steps']:g}"
        print(f"{args.against} {r['value']:g}: median {median} ({r['n_reached']}/{r['n_runs']} reached; {r['steps']})")
    if fit:
        print(f"slope {fit['slope']:.3f} ± {fit['stderr']:.3f} (95%: {fit['slope_low']:.3f} .. {fit['slope_high']:.3f}), "
              f"R² {fit['r2']:.3f}, over {fit['n_points']} values")
    else:
        print(why)
    print(f"wrote {args.out / (stem + '.csv')}, .png and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
