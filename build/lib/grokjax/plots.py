"""The figures a sweep writes, read from its runs and curves.

``settings`` is the list of per-run dicts (frac, seed, lr, weight_decay, …);
runs that differ only by seed are one *setting* and share a colour.

``python -m grokjax.plots OUT [OUT ...]`` redraws a finished sweep's figures
from its runs.csv and curves.csv alone (no checkpoint, no JAX).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # no pyplot: the user's backend stays as it was

from grokjax import summary
from grokjax.knobs import KNOBS

# What tells runs of one sweep apart besides the fraction and the seed: runs
# that share these are one *setting*, drawn in one style. The op varies only
# in a sweep of several (--op all).
SETTING_KEYS = ("op", "variant", *(k.name for k in KNOBS), "full_batch")

TRAIN, VAL = "tab:red", "tab:green"


def setting_of(row: dict) -> tuple:
    return tuple((k, row[k]) for k in SETTING_KEYS if k in row)


def setting_label(setting: tuple, all_settings: list[tuple]) -> str:
    """Only the keys that vary across the sweep, e.g. ``lr=0.001 weight_decay=1``;
    a named variant stands for all of its numbers."""
    keys = dict(setting)
    ops = len({dict(s).get("op") for s in all_settings}) > 1
    if keys.get("variant"):
        return f"{keys['op']} {keys['variant']}" if ops else str(keys["variant"])
    varying = [i for i in range(len(setting))
               if setting[i][0] != "variant" and len({s[i][1] for s in all_settings}) > 1]
    return " ".join(str(setting[i][1]) if setting[i][0] == "op"
                    else f"{setting[i][0]}={setting[i][1]:g}" if isinstance(setting[i][1], float)
                    else f"{setting[i][0]}={setting[i][1]}" for i in varying) or "all runs"


def _settings(rows: list[dict]) -> list[tuple]:
    return list(dict.fromkeys(setting_of(r) for r in rows))


def sweep_title(rows: list[dict]) -> str:
    r = rows[0]
    if "op" not in r:
        return str(r.get("task", "")).replace("_", "-")
    ops = list(dict.fromkeys(str(row["op"]) for row in rows))
    if len(ops) > 1:
        arithmetic = [o for o in ops if not o.startswith("s5")]
        return f"{len(ops)} operations" + (f" (arithmetic ones mod {r['modulus']})" if arithmetic else "")
    return f"{r['op']} mod {r['modulus']}" if not ops[0].startswith("s5") else str(r["op"])


def _runs(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def _save(fig: Figure, path: Path, dpi: int = 130) -> None:
    fig.savefig(path, dpi=dpi)


def log_steps_axis(ax, steps: np.ndarray) -> None:
    """A log axis of steps labelled in plain numbers (1, 10, 1,000), with 2 and
    5 between the powers of ten when it spans two decades or less."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    if len(steps):
        span = np.log10(max(steps.max(), 1) / max(steps.min(), 1))
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if span <= 2 else (1.0,)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}" if x >= 1 else f"{x:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def accuracy(path: Path, rows: list[dict], steps: np.ndarray, curves: dict[str, np.ndarray], by: str = "frac") -> None:
    """Train (red) and validation (green) accuracy against steps on a log axis
    (Power et al. Figure 1, left), a dot where each run first reaches 99%.
    One panel per fraction, settings told apart by line style; past four
    settings each (setting, fraction) gets its own panel. Step 0 is off a log
    axis and is not drawn. ``by``: what tells data sizes apart, ``frac`` or ``n_train``."""
    fracs = sorted({r[by] for r in rows})
    settings = _settings(rows)
    styles = ["-", "--", ":", "-."]
    split = len(settings) > len(styles)
    panels = [(s, f) for s in settings for f in fracs] if split else [(None, f) for f in fracs]
    ncol = min(len(fracs) if split and len(fracs) > 1 else 4, len(panels))
    nrow = -(-len(panels) // ncol)
    one = len(panels) == 1
    labels = [textwrap.fill(setting_label(s, settings), 70) for s in settings] if 1 < len(settings) and not split else []
    legend_lines = (3 if labels else 1) + sum(label.count("\n") + 1 for label in labels)  # rows of the legend
    size = (8.0, 4.6) if one else (max(8.0, 3.9 * ncol), 3.0 * nrow + 0.6)
    size = (size[0], size[1] + 0.22 * legend_lines)
    fig = Figure(figsize=size, layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False, sharey=True, sharex=True))
    keep = steps > 0
    for ax, (setting, frac) in zip(axes.flat, panels):
        mine = [i for i, r in enumerate(rows) if r[by] == frac and (not split or setting_of(r) == setting)]
        ax.axhline(0.99, color="0.6", lw=0.8, ls=":", zorder=0)
        for i in mine:
            r = rows[i]
            ls = "-" if split else styles[settings.index(setting_of(r))]
            marker = "." if keep.sum() < 3 else None  # a line of one point would not show
            ax.plot(steps[keep], curves["train_acc"][keep, i], ls, marker=marker, color=TRAIN, alpha=0.8, lw=1.3)
            ax.plot(steps[keep], curves["val_acc"][keep, i], ls, marker=marker, color=VAL, alpha=0.8, lw=1.3)
            for key, color in (("steps_to_99_train", TRAIN), ("steps_to_99_val", VAL)):
                if r.get(key):
                    ax.plot([r[key]], [0.99], "o", color=color, ms=6, mec="white", mew=0.8, zorder=3)
        if len(mine) == 1:  # say it in words too
            r = rows[mine[0]]
            said = [f"{name} ≥ 99% at step {r[key]:,}" if r.get(key) else f"{name} never ≥ 99%"
                    for name, key in (("train", "steps_to_99_train"), ("val", "steps_to_99_val"))]
            ax.text(0.98, 0.05, "\n".join(said), transform=ax.transAxes, ha="right", va="bottom", fontsize=9,
                    bbox=dict(boxstyle="round,pad=0.3", fc="white", ec="0.8"))
        log_steps_axis(ax, steps[keep])
        label = size_label(by, frac) + (f", {_runs(len(mine))}" if len(mine) > 1 else "")
        if split:
            label = f"{setting_label(setting, settings)}\n{label}"
        ax.set_title(label, fontsize=9 if split else 10)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3, which="major")
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("optimization steps")
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=TRAIN, label="train"), Line2D([], [], color=VAL, label="validation"),
               Line2D([], [], color="0.4", marker="o", ls="", label="first evaluation ≥ 99%")]
    # below the panels, where it hides no curve: what the colours and dots
    # mean, then one line style per setting
    handles += [Line2D([], [], color="k", ls=styles[j], label=label) for j, label in enumerate(labels)]
    fig.legend(handles=handles, loc="outside lower center", ncols=1 if labels else 3, fontsize=9, frameon=False)
    seeds = sorted({r["seed"] for r in rows})
    seeds = f", {len(seeds)} seeds" if len(seeds) > 1 else f", seed {seeds[0]}"
    fig.suptitle(f"{sweep_title(rows)}: train and validation accuracy ({_runs(len(rows))}{seeds})", fontsize=12)
    _save(fig, path)


def _by_setting(rows: list[dict], key: str, by: str = "frac"):
    """{setting: {data size: [values over seeds]}}."""
    out: dict = defaultdict(lambda: defaultdict(list))
    for r in rows:
        out[setting_of(r)][r[by]].append(r[key])
    return out


def _mean(values) -> float:
    """Mean over seeds; a run with no value (diverged at once) counts as nothing."""
    v = np.array([np.nan if x is None else x for x in values], dtype=float)
    return float(np.nanmean(v)) if np.isfinite(v).any() else np.nan


def _line_styles(n: int) -> list[tuple]:
    """(colour, marker) for ``n`` lines, no two alike: matplotlib's ten
    colours, then tab20's, with the marker changing every ten lines."""
    import matplotlib

    colors = [f"C{i}" for i in range(10)] if n <= 10 else list(matplotlib.colormaps["tab20"].colors)
    markers = "osD^v"
    return [(colors[i % len(colors)], markers[(i // 10) % len(markers)]) for i in range(n)]


def _legend_layout(labels: list[str]) -> tuple[int, int]:
    """Columns of a legend below the axes, and the text rows it takes."""
    ncols = 1 if any(len(line) > 32 for label in labels for line in label.splitlines()) else min(3, len(labels))
    rows = sum(label.count("\n") + 1 for label in labels)
    return ncols, -(-rows // max(ncols, 1))


def size_label(by: str, value) -> str:
    return f"frac {value:g}" if by == "frac" else f"{value:,} training samples"


def _fraction_axes(labels: list[str], width: float = 6.8, by: str = "frac"):
    """A figure of one axes against the data size, with room below it for a legend of ``labels``."""
    ncols, rows = _legend_layout(labels)
    fig = Figure(figsize=(width, 4.2 + 0.2 * rows), layout="constrained")
    ax = fig.subplots()
    ax.set_xlabel("training data fraction" if by == "frac" else "training-set size")
    ax.grid(alpha=0.3, which="both")
    return fig, ax, ncols


def _finish_fraction_plot(fig, ax, ncols: int, path: Path, title: str) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:  # below the axes, where it hides no point
        fig.legend(handles, labels, loc="outside lower center", ncols=ncols, fontsize=8, frameon=False)
    ax.set_title("\n".join(textwrap.fill(line, 80) for line in title.split("\n")), fontsize=10)
    _save(fig, path)


def _wrap(label: str) -> str:
    return textwrap.fill(label, 60)


def data_efficiency(path: Path, rows: list[dict], by: str = "frac") -> None:
    """Best validation accuracy against training fraction, mean over seeds with each
    seed as a dot (Power et al. Figure 2, right, for one op)."""
    settings = _settings(rows)
    labels = [_wrap(setting_label(s, settings)) for s in settings] if len(settings) > 1 else []
    fig, ax, ncols = _fraction_axes(labels, by=by)
    styles = _line_styles(len(settings))
    for (s, by_frac), label, (color, marker) in zip(_by_setting(rows, "best_val_acc", by).items(), labels or [None], styles):
        fr = sorted(by_frac)
        (line,) = ax.plot(fr, [_mean(by_frac[f]) for f in fr], "-", marker=marker, color=color, label=label)
        for f in fr:
            ax.plot([f] * len(by_frac[f]), [np.nan if v is None else v for v in by_frac[f]], ".",
                    color=line.get_color(), alpha=0.4)
    ax.set_ylabel("best validation accuracy")
    ax.set_ylim(-0.02, 1.02)
    seeds = len({r["seed"] for r in rows})
    _finish_fraction_plot(fig, ax, ncols, path, f"{sweep_title(rows)}: data efficiency after {rows[0]['steps']:,} steps "
                          f"(line: mean of {seeds} seed{'s' if seeds > 1 else ''}; dots: each run)")


def steps_to_generalize(path: Path, rows: list[dict], by: str = "frac") -> None:
    """Median steps until validation (solid) and train (dashed) accuracy first reach 99%,
    against fraction (Power et al. Figure 1, center). A fraction whose median run
    never got there within the budget is left out and listed in the title."""
    settings = _settings(rows)
    names = [setting_label(s, settings) for s in settings]
    labels = [_wrap(f"{kind} {n}" if len(settings) > 1 else kind) for n in names for kind in ("val", "train")]
    fig, ax, ncols = _fraction_axes(labels, by=by)
    missing = set()
    val, tr = _by_setting(rows, "steps_to_99_val", by), _by_setting(rows, "steps_to_99_train", by)
    for i, s in enumerate(val):
        fr = sorted(val[s])
        mv = [summary.median_steps(val[s][f]) for f in fr]
        mt = [summary.median_steps(tr[s][f]) for f in fr]
        missing |= {f for f, m in zip(fr, mv) if m is None}
        (line,) = ax.plot([f for f, m in zip(fr, mv) if m is not None], [m for m in mv if m is not None],
                          "o-", label=labels[2 * i])
        ax.plot([f for f, m in zip(fr, mt) if m is not None], [m for m in mt if m is not None],
                "x--", color=line.get_color(), alpha=0.6, label=labels[2 * i + 1])
    fracs = sorted({r[by] for r in rows})
    pad = max(0.05 if by == "frac" else 0.05 * fracs[-1], 0.05 * (fracs[-1] - fracs[0]))
    ax.set_xlim(fracs[0] - pad, fracs[-1] + pad)
    ax.set_yscale("log")
    if not any(np.size(line.get_xdata()) for line in ax.get_lines()):
        ax.set_ylim(1, max(10, rows[0]["steps"]))
        ax.text(0.5, 0.5, f"no median run reached 99% within {rows[0]['steps']:,} steps", transform=ax.transAxes,
                ha="center", va="center", color="0.4")
    ax.set_ylabel("median steps to 99% accuracy")
    title = f"{sweep_title(rows)}: median steps to 99% (val solid, train dashed)"
    if missing:
        title += (f"\nval not reached within {rows[0]['steps']:,} steps at {'frac' if by == 'frac' else 'size'} "
                  f"{', '.join(f'{f:g}' for f in sorted(missing))}")
    _finish_fraction_plot(fig, ax, ncols, path, title)


def variants(path: Path, rows: list[dict], by: str = "frac") -> None:
    """Best validation accuracy against fraction, one line per variant in the
    sweep's order, mean over seeds (Power et al. Figure 2, left)."""
    names = list(dict.fromkeys(r["variant"] for r in rows))
    fig, ax, ncols = _fraction_axes(names, width=7.2, by=by)
    for name in names:
        by_frac = defaultdict(list)
        for r in rows:
            if r["variant"] == name:
                by_frac[r[by]].append(r["best_val_acc"])
        fr = sorted(by_frac)
        ax.plot(fr, [_mean(by_frac[f]) for f in fr], "o-", ms=4, label=name)
    ax.set_ylabel("best validation accuracy")
    ax.set_ylim(-0.02, 1.02)
    seeds = len({r["seed"] for r in rows})
    _finish_fraction_plot(fig, ax, ncols, path, f"{sweep_title(rows)}: optimizer variants after {rows[0]['steps']:,} steps, "
                          f"mean of {seeds} seed{'s' if seeds > 1 else ''}")


def write_all(out: Path, rows: list[dict], steps: np.ndarray, curves: dict[str, np.ndarray],
              by: str = "frac") -> list[Path]:
    """Every figure of a sweep folder; returns the files written. ``by``:
    what tells the sweep's data sizes apart, ``frac`` or ``n_train``."""
    out = Path(out)
    pngs = [out / "accuracy.png", out / "data_efficiency.png", out / "steps_to_generalize.png"]
    accuracy(pngs[0], rows, steps, curves, by)
    data_efficiency(pngs[1], rows, by)
    steps_to_generalize(pngs[2], rows, by)
    if "variant" in rows[0]:
        pngs.append(out / "variants.png")
        variants(pngs[-1], rows, by)
    return pngs


def data_axis(out: Path) -> str:
    """``n_train`` when the sweep in ``out`` was given train sizes, else ``frac``."""
    import json

    try:
        spec = json.loads((Path(out) / "config.json").read_text()).get("spec", {})
    except (OSError, ValueError):
        return "frac"
    return "n_train" if spec.get("train_sizes") else "frac"


def main(argv: list[str] | None = None) -> int:
    from grokjax import report
    from grokjax.cli import Parser, UsageError

    p = Parser(
        prog="python -m grokjax.plots",
        description="Redraw the figures of finished sweeps from their runs.csv and curves.csv alone "
                    "(no checkpoint, no training): accuracy.png, data_efficiency.png, steps_to_generalize.png "
                    "and, for a sweep of --variant presets, variants.png.")
    p.add_argument("out", nargs="+", type=Path, help="sweep output folder(s)")
    try:
        args = p.parse_args(argv)
    except UsageError as e:
        return e.report("grokjax.plots")
    loaded = []
    for out in args.out:  # read every folder before drawing any: bad input writes nothing
        try:
            loaded.append((out, *report.read_sweep(out)))
        except (OSError, ValueError, KeyError) as e:
            print(f"grokjax.plots: error: {out} is not a finished sweep folder ({e})", file=sys.stderr)
            return 2
    for out, rows, steps, curves in loaded:
        for png in write_all(out, rows, steps, curves, data_axis(out)):
            print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
