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
median was reached, and writes ``scaling_<against>[_<where>][_train]`` .csv,
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


def fit_power_law(x, y) -> dict | None:
    """Least squares of log10(y) on log10(x): slope, its standard error and
    95% interval, intercept, and the points used (``n_points``: those with
    x > 0, which a log axis needs, so a setting of 0 such as weight decay 0
    is left out, and a finite y > 0, so unreached medians are too); None
    with fewer than 3."""
    from scipy import stats

    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = (x > 0) & np.isfinite(y) & (y > 0)
    if keep.sum() < 3:
        return None
    fit = stats.linregress(np.log10(x[keep]), np.log10(y[keep]))
    half = stats.t.ppf(0.975, keep.sum() - 2) * fit.stderr
    return {"slope": float(fit.slope), "stderr": float(fit.stderr), "slope_low": float(fit.slope - half),
            "slope_high": float(fit.slope + half), "intercept": float(fit.intercept), "r2": float(fit.rvalue ** 2),
            "n_points": int(keep.sum())}


def scaling(results, against: str, threshold: float, where: dict | None = None,
            metric: str = "val_acc") -> tuple[list[dict], dict | None]:
    """Rows (one per value of ``against``: median steps over its runs) and the fit."""
    where = where or {}
    if not 0 < threshold <= 1:
        raise ValueError(f"--threshold {threshold:g} is not an accuracy in (0, 1]")

    def numeric(k, flag):
        if k not in results.runs[0]:
            raise ValueError(f"{flag} {k}: the runs have no column {k!r}")
        if k in NOT_SETTINGS:
            raise ValueError(f"{flag} {k}: a result of each run, not a setting; use a setting the sweep varied "
                             f"such as weight_decay or n_train")
        bad = [r[k] for r in results.runs if not isinstance(r[k], (int, float)) or isinstance(r[k], bool)]
        if bad:
            raise ValueError(f"{flag} {k}: its values are not numbers ({bad[0]!r}); use a numeric setting "
                             f"such as weight_decay or n_train")

    for k in where:
        numeric(k, "--where")
    idx = select(results.runs, where)
    if not idx:
        raise ValueError(f"no run matches {where}")
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


def plot(path: Path, rows: list[dict], fit: dict | None, against: str, threshold: float, title: str, budget: int,
         metric: str = "val_acc", claim: float | None = None) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.6), layout="constrained")
    ax = fig.subplots()
    x = np.array([r["value"] for r in rows], float)
    for r in rows:
        each = [int(s) for s in r["steps"].split() if s != "-"]
        ax.plot([r["value"]] * len(each), each, ".", color="0.6")
    reached = [r for r in rows if r["median_steps"] is not None]
    ax.plot([r["value"] for r in reached], [r["median_steps"] for r in reached], "o", color="C0", label="median over seeds")
    missed = [r["value"] for r in rows if r["median_steps"] is None]
    if missed:
        ax.plot(missed, [budget] * len(missed), "v", color="C3", label=f"median not reached in {budget:,} steps")
    if fit is not None:
        xs = np.geomspace(x[x > 0].min(), x.max(), 50)
        ax.plot(xs, 10 ** (fit["intercept"] + fit["slope"] * np.log10(xs)), "--", color="C0",
                label=f"fit: slope {fit['slope']:.2f} [{fit['slope_low']:.2f}, {fit['slope_high']:.2f}]")
    if claim is not None and reached:  # the claimed slope, through the middle of the medians
        lx = np.log10([r["value"] for r in reached if r["value"] > 0])
        ly = np.log10([r["median_steps"] for r in reached if r["value"] > 0])
        xs = np.geomspace(x[x > 0].min(), x.max(), 50)
        ax.plot(xs, 10 ** (ly.mean() + claim * (np.log10(xs) - lx.mean())), ":", color="0.3",
                label=f"claimed slope {claim:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(against.replace("_", " "))
    ax.set_ylabel(f"steps to {threshold:.0%} {metric.replace('_acc', '')} accuracy")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.savefig(path, dpi=130)


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
    from grokjax import api, report
    from grokjax.checkpoint import CheckpointError
    from grokjax.cli import Parser, UsageError

    p = Parser(prog="python -m grokjax.scaling", description=__doc__.split("\n\n")[0].strip().rstrip(".") + ". " +
               "Reads a finished sweep folder; writes scaling_<against>[_<where>][_train] .csv, .json and .png there.")
    p.add_argument("out", type=Path, help="a finished sweep folder")
    p.add_argument("--against", required=True, help="the runs.csv column on the x axis, e.g. weight_decay or n_train")
    p.add_argument("--threshold", type=float, default=0.95, help="val accuracy that counts as generalized (0.95)")
    p.add_argument("--where", action="append", metavar="KEY=VALUE", help="only runs with this setting (repeatable)")
    p.add_argument("--metric", choices=("val_acc", "train_acc"), default="val_acc",
                   help="whose time: val accuracy (generalizing) or train accuracy (fitting) (val_acc)")
    p.add_argument("--claim", type=float, metavar="SLOPE", help="also draw this slope, e.g. -1 for t ∝ 1/γ")
    try:
        args = p.parse_args(argv)
        where = _where(args.where)
        results = api.load(args.out)
        rows, fit = scaling(results, args.against, args.threshold, where, args.metric)
    except (UsageError, CheckpointError, ValueError) as e:
        return UsageError(str(e)).report("grokjax.scaling")
    stem = (f"scaling_{args.against}" + "".join(f"_{k}{v:g}" for k, v in where.items())
            + ("_train" if args.metric == "train_acc" else ""))
    report.write_atomic(args.out / f"{stem}.csv", report.table_text(COLUMNS, rows))
    cond = ", ".join(f"{k}={v:g}" for k, v in where.items())
    title = (f"{results.spec.task.describe()}{', ' + cond if cond else ''}: steps to {args.threshold:.0%} "
             f"{args.metric.replace('_acc', '')} against {args.against.replace('_', ' ')}")
    plot(args.out / f"{stem}.png", rows, fit, args.against, args.threshold, title, int(results.steps[-1]), args.metric,
         args.claim)
    report.write_json(args.out / f"{stem}.json", {"against": args.against, "metric": args.metric, "threshold": args.threshold,
                                                  "where": where, "fit": fit, "rows": rows})
    for r in rows:
        print(f"{args.against} {r['value']:g}: median {r['median_steps']} ({r['n_reached']}/{r['n_runs']} reached; {r['steps']})")
    if fit:
        print(f"slope {fit['slope']:.3f} ± {fit['stderr']:.3f} (95%: {fit['slope_low']:.3f} .. {fit['slope_high']:.3f}), "
              f"R² {fit['r2']:.3f}, over {fit['n_points']} values")
    else:
        print("no fit: fewer than 3 values reached the threshold")
    print(f"wrote {args.out / (stem + '.csv')}, .png and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
