"""Omnigrok's full trajectory on the toy addition: what a trained
representation does while weight decay shrinks the decoder.

The paper's reduced trajectory (``grokjax.trajectory``) rests on two
assumptions (its appendix D): the decoder's direction is always at its best
for the current norm w and messiness ξ (scale separation), and the
representation moves only along the segment from its random start to the
ideal line. Its Table 1 names the setup without them, every parameter
trained, the full trajectory, and shows none. This module reads a sweep of
it (``toy_addition`` with ``representation = "trained"``, whose evaluations
record ``decoder_norm``, ``line_residual``, ``messiness_projected`` and
``off_path``; see ``grokjax.representation``) and says, per run:

- whether and when it fits (99% train) and generalizes (99% test);
- where it went in the landscape's coordinates: the decoder's norm w and the
  projected ξ, from start to end, and how far it strayed off the segment;
- whether the representation became cleaner (``line_residual``, 0 on an
  evenly spaced line) or messier, and whether that happened before or after
  the decoder's norm had done most of its fall.

``python -m grokjax.full_trajectory OUT [--landscape LANDSCAPE]`` writes
full_trajectory.csv (a row per run), .json (the same, with the counts the
verdict reads) and .png (the paths over the landscape's train loss, when a
landscape folder of the same task is given, and the curves against steps).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import textwrap
from pathlib import Path

import numpy as np

from grokjax.summary import REPRESENTATION_METRICS

THRESHOLD = 0.99  # fitted / generalized: train / test accuracy at least this
# the representation still on the landscape's segment: off_path at most this
# (a tenth of the segment's length), where the landscape's coordinates describe it
ON_PATH = 0.1
MIN_ON_MAP = 10  # evaluations on the map a run needs for its lag to count
HALF = 0.5  # "most of its fall": the first evaluation past this share of the way from start to lowest
SETTINGS = ("seed", "n_train", "lr", "weight_decay", "representation_lr", "messiness", "init_scale")
COLUMNS = (*SETTINGS, "diverged_step", "start_norm", "start_messiness", "steps_to_99_train", "steps_to_99_val", "best_val_acc",
           "final_val_acc", "final_train_acc", "lowest_norm", "step_lowest_norm", "step_norm_half_fallen",
           "final_norm", "final_messiness", "max_off_path", "start_line_residual", "lowest_line_residual",
           "final_line_residual", "step_line_residual_half_fallen", "start_representation_norm",
           "final_representation_norm", "messiness_change_after_norm_half_fall", "evaluations_on_map",
           "median_log10_train_over_landscape")


def first_step(steps: np.ndarray, ok: np.ndarray) -> int | None:
    """The first evaluated step where ``ok`` holds, or None."""
    hit = np.flatnonzero(ok)
    return int(steps[hit[0]]) if hit.size else None


def half_fallen(steps: np.ndarray, y: np.ndarray) -> int | None:
    """The first step where ``y`` has come ``HALF`` of the way from its
    highest value to its lowest after it (a norm that grows while the run
    fits, then falls, counts its fall from the top); None when it never fell."""
    top = int(np.argmax(y))
    low = float(np.min(y[top:]))
    if not low < y[top]:
        return None
    after = np.arange(len(y)) >= top
    return first_step(steps, after & (y <= y[top] - HALF * (y[top] - low)))


def finite_prefix(c: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int | None]:
    """A run's curves up to its last evaluation before any of them stops
    being finite, and the index of that first non-finite evaluation (None:
    the run never diverged)."""
    bad = ~np.all([np.isfinite(v) for v in c.values()], axis=0)
    if not bad.any():
        return c, None
    stop = max(int(np.argmax(bad)), 1)  # the init is finite; keep it at least
    return {k: v[:stop] for k, v in c.items()}, int(np.argmax(bad))


def lag(c: dict[str, np.ndarray], surface) -> tuple[int, float | None]:
    """The scale-separation check of one run (its curves ``c``): at the
    evaluations from its first fit on (train accuracy ≥ ``THRESHOLD``: past
    the fast phase) where the representation is on the segment
    (off_path ≤ ``ON_PATH``) and (w, ξ) inside the landscape's grid, the
    median of log10(train loss / the landscape's reduced train loss there).
    About 0 when the decoder keeps up with w and ξ, as the reduced trajectory
    assumes; above 0 when it lags. (count, median), None without a map or
    with fewer than ``MIN_ON_MAP`` such evaluations."""
    if surface is None:
        return 0, None
    g = surface.grid
    w, xi = c["decoder_norm"], c["messiness_projected"]
    on = ((c["off_path"] <= ON_PATH) & (w >= g.norms[0]) & (w <= g.norms[-1]) & (xi >= g.xis[0]) & (xi <= g.xis[-1])
          & (np.cumsum(c["train_acc"] >= THRESHOLD) > 0) & (c["train_loss"] > 0))
    n = int(on.sum())
    if n < MIN_ON_MAP:
        return n, None
    ratio = (np.log(c["train_loss"][on]) - surface.ln(w[on], xi[on])) / np.log(10)
    return n, float(np.median(ratio))


def run_summary(row: dict, steps: np.ndarray, curves: dict[str, np.ndarray], r: int, surface=None) -> dict:
    """One run's row of full_trajectory.csv from its curves (column ``r``);
    with a landscape's train-loss ``surface``, its lag behind it (``lag``)."""
    c, diverged_at = finite_prefix({k: np.asarray(v[:, r], float) for k, v in curves.items()})
    full_steps, steps = steps, steps[:len(c["decoder_norm"])]
    on_map, behind = lag(c, surface)
    w, res = c["decoder_norm"], c["line_residual"]
    lowest = int(np.argmin(w))
    half = half_fallen(steps, w)
    # the paper's drift along the boundary: ξ's move once the norm has done half its fall
    drift = None if half is None else c["messiness_projected"][-1] - c["messiness_projected"][list(steps).index(half)]
    return {
        **{k: row.get(k) for k in SETTINGS},
        "diverged_step": None if diverged_at is None else int(full_steps[diverged_at]),
        "start_norm": w[0], "start_messiness": c["messiness_projected"][0],
        "steps_to_99_train": first_step(steps, c["train_acc"] >= THRESHOLD),
        "steps_to_99_val": first_step(steps, c["val_acc"] >= THRESHOLD),
        "best_val_acc": float(c["val_acc"].max()), "final_val_acc": c["val_acc"][-1],
        "final_train_acc": c["train_acc"][-1],
        "lowest_norm": w[lowest], "step_lowest_norm": int(steps[lowest]), "step_norm_half_fallen": half,
        "final_norm": w[-1], "final_messiness": c["messiness_projected"][-1], "max_off_path": float(c["off_path"].max()),
        "start_line_residual": res[0], "lowest_line_residual": float(res.min()), "final_line_residual": res[-1],
        "step_line_residual_half_fallen": half_fallen(steps, res),
        "start_representation_norm": c["norm_representation"][0],
        "final_representation_norm": c["norm_representation"][-1],
        "messiness_change_after_norm_half_fall": drift,
        "evaluations_on_map": on_map, "median_log10_train_over_landscape": behind,
    }


def analyse(rows: list[dict], steps: np.ndarray, curves: dict[str, np.ndarray],
            surface=None) -> tuple[list[dict], dict]:
    """Every run's summary, and the counts: fitted, generalized (ever, and at
    the end), grokked (generalized at least 10 evaluations after fitting),
    cleaner or messier representation at the end, and among runs whose
    representation cleaned, how many did so before the norm's half fall;
    with a landscape's train-loss ``surface``, the lag behind it per
    representation_lr. ValueError when the curves hold no trained
    representation."""
    missing = [m for m in REPRESENTATION_METRICS if m not in curves]
    if missing:
        raise ValueError(f"the sweep's curves have no {missing[0]}: it trained no representation (run "
                         f"toy_addition with representation = \"trained\")")
    runs = [run_summary(row, steps, curves, r, surface) for r, row in enumerate(rows)]
    gap = 10 * int(np.median(np.diff(steps))) if len(steps) > 1 else 0

    def count(pred):
        return sum(1 for d in runs if pred(d))

    cleaned = [d for d in runs if d["final_line_residual"] <= HALF * d["start_line_residual"]]
    got = {
        "runs": len(runs),
        "fitted": count(lambda d: d["steps_to_99_train"] is not None),
        "generalized_ever": count(lambda d: d["steps_to_99_val"] is not None),
        "generalized_at_end": count(lambda d: d["final_val_acc"] >= THRESHOLD),
        "grokked": count(lambda d: d["steps_to_99_val"] is not None and d["steps_to_99_train"] is not None
                         and d["steps_to_99_val"] - d["steps_to_99_train"] >= gap),
        "grokked_reads": f"99% test at least {gap:,} steps (10 evaluations) after 99% train",
        "representation_cleaner_at_end": len(cleaned),
        "representation_messier_at_end": count(lambda d: d["final_line_residual"] > d["start_line_residual"]),
        "cleaner_reads": f"final line_residual at most {HALF:g} x its start",
        "cleaned_before_norm_half_fell": sum(
            1 for d in cleaned if d["step_line_residual_half_fallen"] is not None
            and d["step_norm_half_fallen"] is not None
            and d["step_line_residual_half_fallen"] < d["step_norm_half_fallen"]),
        "off_path_above_0.1": count(lambda d: d["max_off_path"] > ON_PATH),
        "diverged": count(lambda d: d["diverged_step"] is not None),
        "diverged_reads": "a diverged run is read up to its last finite evaluation",
        "norm_never_fell": count(lambda d: d["step_norm_half_fallen"] is None),
        "norm_never_fell_reads": ("runs whose decoder norm never fell from its highest value: no half fall, so "
                                  "they count in neither cleaned_before_norm_half_fell nor the drift's medians"),
    }
    got["by_representation_lr"] = {f"{rate:g}": group_counts([d for d in runs if d["representation_lr"] == rate])
                                   for rate in sorted({d["representation_lr"] for d in runs}, reverse=True)}
    if surface is not None:
        by_rate = {}
        for rate in sorted({d["representation_lr"] for d in runs}, reverse=True):
            lags = [d["median_log10_train_over_landscape"] for d in runs
                    if d["representation_lr"] == rate and d["median_log10_train_over_landscape"] is not None]
            by_rate[f"{rate:g}"] = {"runs": len(lags), "median": float(np.median(lags)) if lags else None,
                                    "range": [float(min(lags)), float(max(lags))] if lags else None}
        got["lag_behind_landscape"] = {
            "reads": (f"per run, the median over evaluations from its first 99% train accuracy on, with the "
                      f"representation on the segment (off_path <= "
                      f"{ON_PATH:g}) and inside the map of log10(train loss / the landscape's train loss at that w "
                      f"and xi), runs with {MIN_ON_MAP} such evaluations at least; 0: the decoder keeps up (the "
                      f"reduced trajectory's scale separation), > 0: it lags"),
            "by_representation_lr": by_rate}
    return runs, got


def _median(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else None


def group_counts(runs: list[dict]) -> dict:
    """What a group of runs (one representation_lr) did, split by start: from
    a random representation (messiness 1) or from near the line."""
    out = {}
    for name, mine in (("from_random", [d for d in runs if d["messiness"] == 1]),
                       ("from_near_the_line", [d for d in runs if d["messiness"] != 1])):
        if not mine:
            continue
        res = np.array([d["final_line_residual"] for d in mine]) - np.array([d["start_line_residual"] for d in mine])
        out[name] = {
            "runs": len(mine),
            "generalized_ever": sum(d["steps_to_99_val"] is not None for d in mine),
            "generalized_at_end": sum(bool(d["final_val_acc"] >= THRESHOLD) for d in mine),
            "final_val_acc_median": float(np.median([d["final_val_acc"] for d in mine])),
            "line_residual_change_median": float(np.median(res)),
            "line_residual_change_range": [float(res.min()), float(res.max())],
            "max_off_path_median": float(np.median([d["max_off_path"] for d in mine])),
            "messiness_change_after_norm_half_fall_median": _median(
                [d["messiness_change_after_norm_half_fall"] for d in mine]),
            "final_norm_range": [float(min(d["final_norm"] for d in mine)), float(max(d["final_norm"] for d in mine))],
        }
    return out


def plot(rows: list[dict], steps: np.ndarray, curves: dict[str, np.ndarray], got: dict, title: str,
         landscape: dict | None = None):
    """Four panels: the paths in (w, ξ) over the landscape's train loss if
    given; line_residual, decoder norm and test accuracy against steps. One
    colour per representation_lr, one line style per weight decay."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(16, 11), layout="constrained")
    (ax, bx), (cx, dx) = fig.subplots(2, 2)
    rates = sorted({r.get("representation_lr", 1.0) for r in rows}, reverse=True)
    decays = sorted({r.get("weight_decay") for r in rows})
    styles = ["-", "--", ":", "-."]
    if landscape is not None:
        W, X, z = landscape["norms"], landscape["xis"], landscape["log10_train_loss"]
        m = ax.pcolormesh(W, X, z, cmap="Reds", shading="auto")
        fig.colorbar(m, ax=ax, label="log10 train loss at fixed (w, ξ): the landscape")
        cs = ax.contour(W, X, z, [np.log10(landscape["level"])], colors="gold", linestyles="--")
        ax.clabel(cs, fmt={cs.levels[0]: f"train {landscape['level']:g}"}, fontsize=8)
    outside = 0
    for i, row in enumerate(rows):
        colour = f"C{rates.index(row.get('representation_lr', 1.0))}"
        ls = styles[decays.index(row.get("weight_decay")) % len(styles)]
        w, xi = curves["decoder_norm"][:, i], curves["messiness_projected"][:, i]
        if landscape is None or landscape["xis"][0] <= xi[0] <= landscape["xis"][-1]:
            ax.plot(w, xi, ls, color=colour, lw=1, alpha=0.8)
            ax.plot(w[0], xi[0], "o", color=colour, ms=4)
            ax.plot(w[-1], xi[-1], "x", color=colour, ms=6)
        else:
            outside += 1
        for panel, key in ((bx, "line_residual"), (cx, "decoder_norm"), (dx, "val_loss")):
            panel.plot(steps, curves[key][:, i], ls, color=colour, lw=1, alpha=0.6)
    if landscape is not None:  # the map's window; a path that leaves it leaves the picture
        span = landscape["xis"][-1] - landscape["xis"][0]
        ax.set_ylim(landscape["xis"][0] - 0.25 * span, landscape["xis"][-1] + 0.25 * span)
        ax.set_xlim(0, 1.05 * landscape["norms"][-1])
    for k, rate in enumerate(rates):
        bx.plot([], [], "-", color=f"C{k}", label=f"η_r/η = {rate:g}")
    for k, decay in enumerate(decays):
        bx.plot([], [], styles[k % len(styles)], color="0.3", label=f"weight decay {decay:g}")
    bx.legend(fontsize=8)
    ax.set_xlabel("decoder weight norm w")
    ax.set_ylabel("messiness ξ projected on the landscape's own→ideal segment")
    ax.set_title("paths of the full trajectory in the landscape's coordinates (o start, x end)"
                 + (f"\n{outside} runs start outside the map's ξ (their curves are in the other panels)"
                    if outside else ""), fontsize=10)
    bx.set_ylabel("line_residual: distance from an evenly spaced line (0: ideal)")
    bx.set_title(f"the representation: cleaner at the end in {got['representation_cleaner_at_end']} of {got['runs']} "
                 f"runs, messier in {got['representation_messier_at_end']}", fontsize=10)
    cx.set_ylabel("decoder weight norm w")
    cx.set_title("the decoder's norm", fontsize=10)
    dx.set_ylabel("test loss")
    dx.set_yscale("log")
    dx.set_title(f"test loss: 99% test accuracy in {got['generalized_ever']} of {got['runs']} runs, "
                 f"{got['generalized_at_end']} at the end; 99% train in {got['fitted']}", fontsize=10)
    for panel in (bx, cx, dx):
        panel.set_xlabel("step")
        panel.grid(alpha=0.3)
    fig.suptitle("\n".join(textwrap.wrap(title, 170)), fontsize=10)
    return fig


def landscape_map(folder: Path, n_train: int, level: float = 0.05) -> dict:
    """The landscape's reduced train loss at ``n_train`` on its grid, seeds
    averaged in log loss, for the background of the paths, and its surface
    (smoothed and splined as the reduced trajectory reads it) for the lag."""
    from grokjax import trajectory
    from grokjax.contours import read_folder

    g = trajectory.grid(read_folder(folder), n_train, trajectory.TRAIN)
    return {"norms": g.norms, "xis": g.xis, "log10_train_loss": g.z / np.log(10), "level": level,
            "surface": trajectory.surface(g)}


def write(out: Path, runs: list[dict], got: dict, fig) -> list[Path]:
    """full_trajectory .csv, .json and .png in ``out``, each written whole."""
    from grokjax import report

    png = io.BytesIO()
    fig.savefig(png, dpi=110, format="png")
    paths = [Path(out) / f"full_trajectory.{ext}" for ext in ("csv", "png", "json")]
    report.write_atomic(paths[0], report.table_text(COLUMNS, runs, float32=False))
    report.write_atomic(paths[1], png.getvalue())
    report.write_json(paths[2], {**got, "per_run": runs})
    return paths


def main(argv: list[str] | None = None) -> int:
    from grokjax import api, report
    from grokjax.checkpoint import CheckpointError
    from grokjax.cli import Parser, UsageError, os_error_line

    argv = sys.argv[1:] if argv is None else argv
    p = Parser(prog="python -m grokjax.full_trajectory", formatter_class=argparse.RawDescriptionHelpFormatter,
               description=textwrap.fill("Omnigrok's full trajectory (its Table 1) on the toy addition: reads a sweep whose "
                           "representation trained with the decoder (toy_addition with representation = "
                           "\"trained\") and says per run whether it fitted and generalized, where it went in the "
                           "landscape's coordinates (decoder norm w, projected messiness ξ), and whether the "
                           "representation became cleaner or messier, before or after the norm fell. Writes "
                           "full_trajectory.csv, .json and .png into the folder.", 79),
               epilog="example:\n  python -m grokjax.sweep --spec sweeps/omnigrok_full_trajectory.toml --profile quick "
                      "--out /tmp/full\n  python -m grokjax.full_trajectory /tmp/full --landscape "
                      "results/omnigrok_representation_toy_fine_flat_line_cpu")
    p.add_argument("out", type=Path, help="the sweep's folder (python -m grokjax.sweep ... --out OUT)")
    p.add_argument("--size", type=int, metavar="N",
                   help="read the runs of training size N (default: the sweep's largest)")
    p.add_argument("--landscape", type=Path, metavar="FOLDER",
                   help="a landscape folder over norm × ξ of the same task (python -m grokjax.landscape ... "
                        "--messiness): the paths are drawn over its train loss")
    try:
        args = p.parse_args(argv)
        loaded = api.load(args.out)
        sizes = sorted({r["n_train"] for r in loaded.runs})
        n = sizes[-1] if args.size is None else args.size
        if n not in sizes:
            raise UsageError(f"--size {n}: the sweep's training sizes are {', '.join(map(str, sizes))}")
        mine = [i for i, r in enumerate(loaded.runs) if r["n_train"] == n]
        rows = [loaded.runs[i] for i in mine]
        curves = {k: np.asarray(v)[:, mine] for k, v in loaded.curves.items()}
        spec = api.load_spec(args.out)
        forked = json.loads((args.out / "config.json").read_text()).get("forked_from")  # api.load read it already
        if forked:
            raise UsageError(f"{args.out} is a fork (of {forked.get('sweep')} at step {forked.get('step')}): its runs "
                             f"changed settings mid-way, and a run's row holds only the new ones; read the source")
        land = None
        if args.landscape is not None:
            other = api.load_spec(args.landscape)
            mine = {k: v for k, v in spec.task.to_dict().items() if k != "representation"}
            theirs = {k: v for k, v in other.task.to_dict().items() if k != "representation"}
            if mine != theirs:
                raise UsageError(f"--landscape {args.landscape} maps another task ({other.task.describe()}, "
                                 f"{theirs}) than the sweep's ({mine})")
            for what, a, b in (("decoder", spec.model, other.model), ("loss", spec.loss, other.loss),
                               ("x64", spec.x64, other.x64)):
                if a != b:
                    raise UsageError(f"--landscape {args.landscape} maps another {what} ({b}) than the sweep's ({a})")
            land = landscape_map(args.landscape, n)
        runs, got = analyse(rows, np.asarray(loaded.steps), curves, None if land is None else land["surface"])
    except (UsageError, CheckpointError, ValueError, OSError) as e:
        return UsageError(os_error_line(e) if isinstance(e, OSError) else str(e)).report("grokjax.full_trajectory")
    got = {"command": report.command_line(argv, "grokjax.full_trajectory"), "n_train": n, **got}
    steps = np.asarray(loaded.steps)
    title = (f"Omnigrok's full trajectory: {spec.task.describe()}, every parameter trained, {n:,} training samples, "
             f"{len(runs)} runs, "
             f"{int(steps[-1]):,} steps" + ("" if land is None else f"; background: the landscape of "
                                             f"{args.landscape.name} (decoder only, fixed w and ξ)"))
    try:
        written = write(args.out, runs, got, plot(rows, steps, curves, got, title, land))
    except OSError as e:
        return UsageError(os_error_line(e)).report("grokjax.full_trajectory")
    print(f"{got['runs']} runs: {got['fitted']} fitted, {got['generalized_ever']} generalized "
          f"({got['generalized_at_end']} at the end, {got['grokked']} grokked: {got['grokked_reads']}); the "
          f"representation cleaner in {got['representation_cleaner_at_end']} ({got['cleaned_before_norm_half_fell']} "
          f"of them before the norm's half fall), messier in {got['representation_messier_at_end']}")
    if "lag_behind_landscape" in got:
        print("the decoder's lag behind the landscape (median log10 train loss / the landscape's, on its segment) "
              "by η_r/η: " + "; ".join(f"{k}: " + ("no run on the map" if v["median"] is None else
                                                 f"{v['median']:.2f} ({v['runs']} run{'' if v['runs'] == 1 else 's'})")
                                       for k, v in got["lag_behind_landscape"]["by_representation_lr"].items()))
    print("wrote " + ", ".join(str(q) for q in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
