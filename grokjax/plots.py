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

# A column of older runs.csv files: the weight norm held fixed, since renamed
# weight_norm_target. Read as a knob so that its runs are still told apart.
LEGACY_KNOBS = {"weight_norm": 0.0}

# What tells runs of one sweep apart besides the fraction and the seed: runs
# that share these are one *setting*, drawn in one style. The op varies only
# in a sweep of several (--op all).
SETTING_KEYS = ("op", "variant", *(k.name for k in KNOBS), *LEGACY_KNOBS, "full_batch")

# Named in every settings line even at their defaults: the numbers a reader
# of either paper asks for first (Omnigrok's α is init_scale).
ALWAYS_NAMED = ("lr", "weight_decay", "init_scale")

TRAIN, VAL = "tab:red", "tab:green"

# The figures drawn against the data size: one column of points says nothing,
# so a sweep of one fraction (or one n_train) gets none of them.
DATA_SIZE_PNGS = ("data_efficiency.png", "steps_to_generalize.png", "variants.png")


def setting_of(row: dict) -> tuple:
    return tuple((k, row[k]) for k in SETTING_KEYS if k in row)


def _num(v) -> str:
    return f"{v:g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)


def op_label(name: str) -> str:
    """An operation as the paper writes it, with its grokjax name:
    ``x²+xy+y² (x2_xy_y2)``; an op this process has not registered (a
    user's, from --import) by its name alone."""
    from grokjax import tables

    op = tables.OPS.get(name)
    return f"{op.description} ({name})" if op is not None and op.description != name else name


def _held_norm(v) -> str:
    # a target of 0 holds nothing: the norm is free
    return "norm free" if not v else f"‖θ‖ held at {v:g}"


def setting_label(setting: tuple, all_settings: list[tuple]) -> str:
    """Only the keys that vary across the sweep, e.g. ``lr=0.001 weight_decay=1``;
    a named variant stands for all of its numbers, and a held norm reads as
    one (``‖θ‖ held at 58``, ``norm free``)."""
    keys = dict(setting)
    ops = len({dict(s).get("op") for s in all_settings}) > 1
    if keys.get("variant"):
        return f"{op_label(keys['op'])} {keys['variant']}" if ops else str(keys["variant"])
    varying = [i for i in range(len(setting))
               if setting[i][0] != "variant" and len({s[i][1] for s in all_settings}) > 1]
    return " ".join(op_label(setting[i][1]) if setting[i][0] == "op"
                    else _held_norm(setting[i][1]) if setting[i][0] in ("weight_norm_target", "weight_norm")
                    else f"{setting[i][0]}={setting[i][1]:g}" if isinstance(setting[i][1], float)
                    else f"{setting[i][0]}={setting[i][1]}" for i in varying) or "all runs"


def _settings(rows: list[dict]) -> list[tuple]:
    return list(dict.fromkeys(setting_of(r) for r in rows))


def sweep_title(rows: list[dict]) -> str:
    r = rows[0]
    if "op" not in r:
        return str(r.get("task", "")).replace("_", "-")
    ops = list(dict.fromkeys(str(row["op"]) for row in rows))
    if len(ops) > 1:  # the modulus of the arithmetic ones: S5's rows have none
        moduli = [row["modulus"] for row in rows if row.get("modulus") is not None and not str(row["op"]).startswith("s5")]
        return f"{len(ops)} operations" + (f" (arithmetic ones mod {moduli[0]})" if moduli else "")
    return f"{r['op']} mod {r['modulus']}" if not ops[0].startswith("s5") else str(r["op"])


def read_spec(out: Path) -> dict:
    """What a sweep folder's config.json records beyond runs.csv: ``task``
    and ``model`` (dicts), ``batch_size``, ``steps``, ``eval_every``, ``loss``,
    and a fork's ``forked_from``; {} where there is none. Reads the ``spec`` of current folders and the flat
    ``config`` of older ones."""
    import json

    try:
        record = json.loads((Path(out) / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    spec = record.get("spec") or {}
    if not spec and isinstance(record.get("config"), dict):  # older folders: one flat dict, always a transformer
        old = record["config"]
        spec = {k: old[k] for k in ("batch_size", "steps", "eval_every", "loss") if k in old}
        if "n_layers" in old:
            spec["model"] = {"name": "transformer", **{k: old[k] for k in ("n_layers", "d_model", "n_heads") if k in old}}
    got = {k: spec[k] for k in ("task", "model", "batch_size", "steps", "eval_every", "loss") if spec.get(k) is not None}
    if isinstance(record.get("forked_from"), dict):  # a fork: the figures mark its step and what it changed
        got["forked_from"] = record["forked_from"]
    return got


def model_name(model: dict) -> str:
    """``2-layer transformer (d_model 128)``, ``3-layer relu MLP (width 200)``."""
    name = model.get("name", "transformer" if "n_layers" in model else "")
    if name == "transformer":
        return (f"{model.get('n_layers', '?')}-layer transformer (d_model {model.get('d_model', '?')}"
                + (", no LayerNorm" if model.get("layer_norm") is False else "")
                + (", Nanda et al.'s init" if model.get("weight_init") == "nanda" else "")
                + (", learned positions" if model.get("positions") == "learned" else "")
                + (", MLP biases" if model.get("mlp_bias") else "") + ")")
    if name == "mlp":
        act = f"{model['activation']} " if model.get("activation") else ""
        return f"{model.get('depth', '?')}-layer {act}MLP (width {model.get('width', '?')})"
    return str(name)


def eval_schedule(evals: np.ndarray | None = None, spec: dict | None = None) -> str | None:
    """How often the runs were evaluated, from the evaluated steps where
    given (they are what the tables hold) and the spec's eval_every and
    ckpt_every (a checkpoint adds an evaluation at its step): ``every 100
    steps``, ``every 100 steps and at each checkpoint (every 250)`` or ``at
    200 log-spaced steps``; None when unknown."""
    spec = spec or {}
    every, ckpt = spec.get("eval_every"), spec.get("ckpt_every")
    log = isinstance(every, str) and every.startswith("log:")
    plus = f" and at each checkpoint (every {int(ckpt):,})" if ckpt else ""
    if evals is not None and len(evals) < 3:  # a budget under eval_every: the first step and the last
        return "at step" + ("s " if len(evals) > 1 else " ") + " and ".join(f"{int(v):,}" for v in evals) if len(evals) else None
    if evals is not None and len(evals) >= 3:
        gaps = np.diff(np.asarray(evals)[:-1])  # the last gap ends at the budget, which need not be a multiple
        if (gaps == gaps[0]).all():
            return f"every {int(gaps[0]):,} steps"
        if log:
            return f"at {len(evals)} log-spaced steps" + (" (checkpoints' included)" if ckpt else "")
        # without the spec, uneven steps could be a log grid or a grid with checkpoints' steps added
        return f"every {int(every):,} steps{plus}" if every else f"at {len(evals)} unevenly spaced steps"
    if log:
        return f"at about {every[4:]} log-spaced steps{plus}"
    return f"every {int(every):,} steps{plus}" if every else None


def forks(spec: dict | None) -> list[dict]:
    """A fork's record (``api.fork``) and, for a fork of a fork, its
    source's: oldest first; [] for a sweep that is no fork."""
    chain, fork = [], (spec or {}).get("forked_from")
    while isinstance(fork, dict) and isinstance(fork.get("step"), (int, float)):
        chain.insert(0, fork)
        fork = fork.get("forked_from")
    return chain


def fork_step(spec: dict | None) -> int | None:
    """The step the runs left their (nearest) source at, else None."""
    chain = forks(spec)
    return int(chain[-1]["step"]) if chain else None


def fork_changes(spec: dict | None) -> dict[str, str]:
    """Per knob the forks changed, how: ``weight_decay=1→0 from step 34,000``."""
    out = {}
    for fork in forks(spec):
        for name, v in (fork.get("set") or {}).items():
            if name in out:
                out[name] += f", →{_num(v)} from step {int(fork['step']):,}"
                continue
            before = sorted(set((fork.get("was") or {}).get(name) or []))
            before = "/".join(_num(b) for b in before) if before else "?"
            out[name] = f"{name}={before}→{_num(v)} from step {int(fork['step']):,}"
    return out


def budget(rows: list[dict], spec: dict | None = None) -> int | None:
    """The steps each run was given: the spec's, else the most any run took."""
    if (spec or {}).get("steps"):
        return int(spec["steps"])
    took = [r["steps"] for r in rows if r.get("steps") is not None]
    return int(max(took)) if took else None


def stopped_early(rows: list[dict], spec: dict | None = None) -> int | None:
    """The step the sweep stopped at when that is before its budget
    (``--stop-at``, ``--stop-share``, a signal), else None."""
    given = budget(rows, spec)
    took = [r["steps"] for r in rows if r.get("steps") is not None]
    return int(max(took)) if took and given and max(took) < given else None


def steps_text(rows: list[dict], spec: dict | None = None) -> str | None:
    """The steps the runs had: ``2,000 steps``, or ``stopped at step 125 of
    2,000`` when the sweep stopped early."""
    given, stop = budget(rows, spec), stopped_early(rows, spec)
    if not given:
        return None
    return f"{given:,} steps" if stop is None else f"stopped at step {stop:,} of {given:,}"


def batch_text(rows: list[dict], cap: int | None) -> str | None:
    """The rows a step trains on, as the runs used them: ``full batch``, or
    the cap B bounded by what a run has, min(B, ⌈n_train/2⌉) on the paper's
    tables (the half its code takes) and min(B, n_train) elsewhere."""
    def used(r):
        if r.get("full_batch"):
            return "full"
        n = r.get("n_train")
        if not cap or n is None:
            return cap
        return min(cap, -(-int(n) // 2) if "op" in r else int(n))

    got = {used(r) for r in rows}
    sizes = sorted(g for g in got if g not in ("full", None))
    full = "full" in got
    if not sizes:
        return "full batch" if full else None
    text = f"batch {sizes[0]:,}" if len(sizes) == 1 else f"batch {sizes[0]:,}–{sizes[-1]:,} (min({cap}, " + (
        "⌈n_train/2⌉))" if "op" in rows[0] else "n_train))")
    return text + (" (the full-batch runs: all their training rows)" if full else "")


def settings_line(rows: list[dict], spec: dict | None = None, evals: np.ndarray | None = None, width: int = 95) -> str:
    """The settings every run of the sweep shares, for under a title: model,
    lr, weight_decay, init_scale (not where every run holds its norm: the
    init is rescaled to it), any other knob away from its default,
    batch, loss, steps budget and evaluation schedule. A knob that varies is
    left out: the figure's legend or panels name it. Wrapped at ``width``.
    ``spec``: from ``read_spec``; ``evals``: the evaluated steps."""
    spec = spec or {}
    parts = [model_name(spec["model"])] if spec.get("model") else []
    # a norm held from step 0 rescales the init to it: init_scale then says nothing
    held = all((r.get("weight_norm_target") or r.get("weight_norm") or 0) > 0 for r in rows)
    forked = fork_changes(spec)
    for name, default in [(k.name, k.default) for k in KNOBS] + list(LEGACY_KNOBS.items()):
        values = {r.get(name) for r in rows}
        if name == "init_scale" and held:
            continue
        if name in forked:  # the runs' rows hold the value after the fork
            parts.append(forked[name])
        elif name in rows[0] and len(values) == 1 and None not in values:
            v = values.pop()
            if name in ALWAYS_NAMED or v != default:
                parts.append(f"{name}={_num(v)}")
    variants = {r.get("variant") for r in rows}
    if len(variants) == 1 and variants != {None}:
        parts.append(f"variant {variants.pop()}")
    batch = batch_text(rows, spec.get("batch_size"))
    if batch:
        parts.append(batch)
    if spec.get("loss") and spec["loss"] != "softmax":
        parts.append(f"{str(spec['loss']).upper() if spec['loss'] == 'mse' else spec['loss']} loss")
    steps, schedule = steps_text(rows, spec), eval_schedule(evals, spec)
    if steps:
        parts.append(steps + (f", evaluated {schedule}" if schedule else ""))
    return textwrap.fill(", ".join(parts), width)


def _runs(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


LOSS_NAMES = {"softmax": "cross-entropy", "stablemax": "StableMax cross-entropy", "mse": "MSE"}


def loss_name(loss: str) -> str:
    """A loss as a figure names it: ``MSE``, ``cross-entropy``."""
    return LOSS_NAMES.get(loss, loss)


def _save(fig: Figure, path: Path, dpi: int = 130) -> None:
    fig.savefig(path, dpi=dpi)


def _log_locator(span: float, inches: float | None = None, per_label: float = 0.7):
    """Major ticks for a log axis spanning ``span`` decades: more of them
    between the powers of ten the fewer decades it spans, as many as fit in
    ``inches`` of axis (a label such as 100,000 takes about ``per_label``,
    0.7 in), and
    under half a decade evenly spaced round numbers (the powers' multiples
    would leave one tick or none)."""
    from matplotlib.ticker import LogLocator, MaxNLocator

    if span < 0.5:
        return MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10])
    subs = (1.0, 2.0, 3.0, 5.0) if span <= 1 else (1.0, 2.0, 5.0) if span <= 3 else (1.0,)
    while inches and len(subs) > 1 and len(subs) * span * per_label > inches:
        subs = (1.0, 3.0) if len(subs) > 2 else (1.0,)
    return LogLocator(base=10, subs=subs)


def plain_log_ticks(axis, span: float | None = None, per_label: float = 0.7) -> None:
    """Plain-number labels on a log ``axis`` (0.005, 20, 1,500), never
    1.5×10³, as many as its length holds. ``span``: the decades the ticks
    must cover; by default the axis' view, so call it after the data is drawn.
    ``per_label``: inches of axis a label needs (short labels stacked up a y
    axis need about 0.25)."""
    from matplotlib.ticker import FuncFormatter, NullLocator

    if span is None:
        lo, hi = sorted(axis.get_view_interval())
        span = np.log10(hi / lo) if lo > 0 else np.inf
    ax = axis.axes
    box = ax.get_position()  # the axes' share of the figure, before layout adjusts it a little
    inches = box.width * ax.figure.get_figwidth() if axis is ax.xaxis else box.height * ax.figure.get_figheight()
    axis.set_major_locator(_log_locator(span, inches, per_label))
    axis.set_minor_locator(NullLocator())
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 and v == round(v) else f"{v:g}"))


def reach_ticks(axis, within: float = 1.5) -> None:
    """Widen a log ``axis``'s view to the nearest major tick below the least
    value drawn and above the greatest, where that tick lies at most
    ``within`` times beyond the view: every point then has a labelled tick on
    each side to be read against (a lowest point at 1,100 under a lowest tick
    of 1,500 had none). Call it after the data and ``plain_log_ticks``."""
    ax = axis.axes
    x = axis is ax.xaxis
    lo, hi = (ax.dataLim.x0, ax.dataLim.x1) if x else (ax.dataLim.y0, ax.dataLim.y1)
    v0, v1 = sorted(ax.get_xlim() if x else ax.get_ylim())
    if not (0 < lo <= hi < np.inf and 0 < v0 < v1):
        return
    ticks = np.asarray(axis.get_major_locator().tick_values(v0 / within, v1 * within))
    below, above = ticks[(ticks > 0) & (ticks <= lo)], ticks[ticks >= hi]
    if below.size and below.max() < v0 <= below.max() * within:
        v0 = below.max()
    if above.size and v1 < above.min() <= v1 * within:
        v1 = above.min()
    (ax.set_xlim if x else ax.set_ylim)(v0, v1)


def end_ticks(axis, values, near: float = 1.3) -> None:
    """Labelled ticks at the least and greatest of ``values`` on a log
    ``axis``, besides its major ticks between them (a landscape's largest
    norm, 40, had none past 30); a major tick within ``near`` times of an end
    is left out, as its label would run into the end's. Call it after
    ``plain_log_ticks``."""
    from matplotlib.ticker import FixedLocator

    v = np.asarray(values, float)
    v = v[np.isfinite(v) & (v > 0)]
    if not v.size:
        return
    lo, hi = v.min(), v.max()
    ticks = np.asarray(axis.get_major_locator().tick_values(lo, hi))
    inner = ticks[(ticks > lo * near) & (ticks < hi / near)]
    axis.set_major_locator(FixedLocator(sorted({float(lo), *map(float, inner), float(hi)})))


def log_steps_axis(ax, steps: np.ndarray, axis: str = "x") -> None:
    """A log axis of ``steps`` (the values it shows) in plain numbers (see
    ``plain_log_ticks``). ``axis``: ``x`` or ``y``. With no positive step
    (a sweep stopped at step 0) the axis stays linear: a log one has nothing
    to show. Steps all of one value get half a decade each side of it."""
    steps = np.asarray(steps, dtype=float)
    steps = steps[np.isfinite(steps) & (steps > 0)]
    if not len(steps):
        return
    span = np.log10(steps.max() / steps.min())
    if span == 0:  # a log view of no height: matplotlib warns and widens it to ticks that miss the value
        (ax.set_xlim if axis == "x" else ax.set_ylim)(steps[0] / 10 ** 0.5, steps[0] * 10 ** 0.5)
        span = 1.0  # a decade's ticks: one at the value or on either side of it
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    plain_log_ticks(ax.xaxis if axis == "x" else ax.yaxis, span)


def zero_floor(values) -> float:
    """Where a log axis draws a value of exactly 0: the power of ten a decade
    below the least positive value, so the floor sits just under the data
    and the axis spans no empty decades (1e-12 when nothing is positive)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v) & (v > 0)]
    return 10.0 ** (np.floor(np.log10(v.min())) - 1) if v.size else 1e-12


def accuracy(path: Path, rows: list[dict], steps: np.ndarray, curves: dict[str, np.ndarray], by: str = "frac",
             spec: dict | None = None) -> None:
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
    if not (split and len(fracs) > 1):
        ncol = -(-len(panels) // nrow)  # rows filled evenly: 5 panels as 3 + 2, not 4 + 1
    one = len(panels) == 1
    labels = [textwrap.fill(setting_label(s, settings), 70) for s in settings] if 1 < len(settings) and not split else []
    legend_lines = (3 if labels else 1) + sum(label.count("\n") + 1 for label in labels)  # rows of the legend
    size = (8.0, 4.6) if one else (max(8.0, 3.9 * ncol), 3.0 * nrow + 0.6)
    size = (size[0], size[1] + 0.22 * legend_lines)
    fs = 9 if split else 10
    chars = int(size[0] / ncol * 72 / (0.6 * fs))  # what fits across a panel at fs points
    fig = Figure(figsize=size, layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False, sharey=True, sharex=True))
    keep = steps > 0
    fork_steps = [int(f["step"]) for f in forks(spec)]
    for ax, (setting, frac) in zip(axes.flat, panels):
        mine = [i for i, r in enumerate(rows) if r[by] == frac and (not split or setting_of(r) == setting)]
        ax.axhline(0.99, color="0.6", lw=0.8, ls=":", zorder=0)
        for step in fork_steps:
            ax.axvline(step, color="0.35", lw=1.0, ls="--", zorder=0)
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
            # as a legend of words alone, which matplotlib places where it hides the fewest points
            from matplotlib.lines import Line2D

            ax.legend([Line2D([], [], ls="")] * 2, said, loc="best", fontsize=9, handlelength=0, handletextpad=0,
                      framealpha=0.9, edgecolor="0.8")
        log_steps_axis(ax, steps[keep])
        label = size_label(by, frac) + (f", {_runs(len(mine))}" if len(mine) > 1 else "")
        if split:
            label = f"{setting_label(setting, settings)}\n{label}"
        ax.set_title("\n".join(textwrap.fill(line, chars) for line in label.split("\n")), fontsize=fs)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3, which="major")
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    # each column's lowest drawn panel carries the step labels, also where
    # the panel below it is empty (sharex would hide them there)
    for col in range(ncol):
        ax = axes.flat[max(i for i in range(len(panels)) if i % ncol == col)]
        ax.tick_params(axis="x", labelbottom=True)
        ax.set_xlabel("optimization steps")
    ylabel = "accuracy"
    if rows[0].get("task") == "teacher_student":  # a regression: accuracy is a share under a threshold
        threshold = ((spec or {}).get("task") or {}).get("threshold")
        ylabel += f"\n(share with MSE < {threshold:g})" if threshold else "\n(share with MSE under the threshold)"
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=TRAIN, label="train"), Line2D([], [], color=VAL, label="validation"),
               Line2D([], [], color="0.4", marker="o", ls="", label="first evaluation ≥ 99%")]
    if fork_steps:  # the title's settings line says what the fork changed
        at = ", ".join(f"{s:,}" for s in fork_steps)
        handles.append(Line2D([], [], color="0.35", lw=1.0, ls="--", label=f"forked at step{'s' if len(fork_steps) > 1 else ''} {at}"))
    # below the panels, where it hides no curve: what the colours and dots
    # mean, then one line style per setting
    handles += [Line2D([], [], color="k", ls=styles[j], label=label) for j, label in enumerate(labels)]
    fig.legend(handles=handles, loc="outside lower center", ncols=1 if labels else len(handles), fontsize=9, frameon=False)
    seeds = sorted({r["seed"] for r in rows})
    seeds = f", {len(seeds)} seeds" if len(seeds) > 1 else f", seed {seeds[0]}"
    title = f"{sweep_title(rows)}: train and validation accuracy ({_runs(len(rows))}{seeds})"
    fig.suptitle(f"{title}\n{settings_line(rows, spec, steps, width=int(size[0] * 72 / (0.6 * 11)))}", fontsize=11)
    _save(fig, path)


def _by_setting(rows: list[dict], key: str, by: str = "frac"):
    """{setting: {data size: [values over seeds]}}."""
    out: dict = defaultdict(lambda: defaultdict(list))
    for r in rows:
        out[setting_of(r)][r[by]].append(r[key])
    return out


def _best(value) -> float:
    # a run that diverged before its first evaluation has no best: it counts
    # as a failure, 0, as in grokjax.paper's means
    return 0.0 if value is None else float(value)


def _mean(values) -> float:
    """Mean best accuracy over seeds, a run with none counting as 0 (see ``_best``)."""
    return float(np.mean([_best(v) for v in values])) if len(values) else float("nan")


def _line_styles(n: int) -> list[tuple[str, str, str]]:
    """(colour, marker, line style) for ``n`` series, no two alike and no two
    sharing all three: tab10's colours, with the marker and line style
    cycling at other periods (9 markers, 4 styles) so that series of one
    colour differ in both."""
    markers, lines = "osD^vP<X>", ["-", "--", ":", "-."]
    return [(f"C{i % 10}", markers[i % len(markers)], lines[i % len(lines)]) for i in range(n)]


def _offsets(n: int, sizes: list) -> np.ndarray:
    """Sideways shifts of ``n`` series drawn at the same data sizes, so that
    equal values stay visible side by side: a tenth of the narrowest gap
    between sizes apart, at most 30% of that gap in all, centred on the
    true size."""
    if n < 2:
        return np.zeros(n)
    xs = sorted(set(sizes))
    gap = min(np.diff(xs)) if len(xs) > 1 else 0.2 * abs(xs[0]) or 0.1
    span = (xs[-1] - xs[0]) or gap
    # at most 30% of the narrowest gap, and of 6% of the axis, in all: a
    # shifted point still reads at its own data size
    return (np.arange(n) - (n - 1) / 2) * min(0.1 * gap, 0.3 * gap / (n - 1), 0.06 * span / (n - 1))


def _legend_layout(labels: list[str]) -> tuple[int, int]:
    """Columns of a legend below the axes, and the text rows it takes."""
    ncols = 1 if any(len(line) > 32 for label in labels for line in label.splitlines()) else min(3, len(labels))
    rows = sum(label.count("\n") + 1 for label in labels)
    return ncols, -(-rows // max(ncols, 1))


def size_label(by: str, value) -> str:
    return f"frac {value:g}" if by == "frac" else f"{value:,} training samples"


def _size_name(by: str) -> str:
    return "frac" if by == "frac" else "n_train"


def _fraction_axes(labels: list[str], width: float = 6.8, by: str = "frac"):
    """A figure of one axes against the data size, with room below it for a legend of ``labels``."""
    ncols, rows = _legend_layout(labels)
    fig = Figure(figsize=(width, 4.4 + 0.2 * (rows + 1)), layout="constrained")
    ax = fig.subplots()
    ax.set_xlabel("training data fraction" if by == "frac" else "training-set size")
    ax.grid(alpha=0.3, which="major")
    return fig, ax, ncols


def _finish_fraction_plot(fig, ax, ncols: int, path: Path, title: str, settings: str = "",
                          note: str | None = None) -> None:
    """The legend below the axes, titled ``note``; the title, then the
    sweep's ``settings`` line."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:  # below the axes, where it hides no point
        fig.legend(handles, labels, loc="outside lower center", ncols=ncols, fontsize=8, frameon=False,
                   title=note, title_fontsize=8)
    width = _title_chars(fig)
    lines = [textwrap.fill(line, width) for line in title.split("\n")] + ([settings] if settings else [])
    ax.set_title("\n".join(lines), fontsize=10)
    _save(fig, path)


def _title_chars(fig, points: float = 10) -> int:
    # characters of a title across the figure, less the y label's margin:
    # about 0.6 em each
    return int((fig.get_figwidth() - 0.8) * 72 / (0.6 * points))


def _wrap(label: str) -> str:
    return textwrap.fill(label, 60)


def _mean_lines(ax, series: list[tuple[str | None, dict]], by: str, dots: bool) -> str | None:
    """One line per series of {data size: [best val acc over seeds]}: the mean
    over seeds, each run as a faint dot where ``dots``. Each series has its
    own colour, marker and line style and is shifted sideways a little, as
    lines of equal values would otherwise hide one another. Returns the
    legend's note on the shift, None when there is one series."""
    sizes = [f for _, by_size in series for f in by_size]
    shift = _offsets(len(series), sizes)
    for (label, by_size), (color, marker, ls), dx in zip(series, _line_styles(len(series)), shift):
        fr = sorted(by_size)
        x = np.array(fr, dtype=float) + dx
        ax.plot(x, [_mean(by_size[f]) for f in fr], ls=ls, marker=marker, color=color, ms=5, lw=1.4, alpha=0.9,
                label=label)
        if dots:
            for xi, f in zip(x, fr):
                ax.plot([xi] * len(by_size[f]), [_best(v) for v in by_size[f]], ".", color=color, alpha=0.4)
    ax.set_xlim(min(sizes) - _pad(sizes, by), max(sizes) + _pad(sizes, by))
    _size_ticks(ax, sizes, by)
    return "points offset sideways to stay visible" if len(series) > 1 else None


def _size_ticks(ax, sizes, by: str) -> None:
    """Ticks at the data sizes the sweep ran (up to 12), so that a point
    shifted sideways is read at its own size, not between two ticks."""
    xs = sorted(set(sizes))
    if len(xs) <= 12:
        ax.set_xticks(xs, [_num(x) if by == "frac" else f"{int(x):,}" for x in xs])


def _pad(sizes: list, by: str) -> float:
    lo, hi = min(sizes), max(sizes)
    return max(0.05 if by == "frac" else 0.05 * hi, 0.05 * (hi - lo))


def _mean_note(rows: list[dict]) -> str:
    seeds = len({r["seed"] for r in rows})
    # with one seed the line is the run: nothing to explain
    return f"\nline: mean of {seeds} seeds (a run never evaluated counts 0), dots: each run" if seeds > 1 else ""


def data_efficiency(path: Path, rows: list[dict], by: str = "frac", spec: dict | None = None,
                    evals: np.ndarray | None = None) -> None:
    """Best validation accuracy against training fraction, mean over seeds with each
    seed as a dot (Power et al. Figure 2, right, for one op)."""
    settings = _settings(rows)
    labels = [_wrap(setting_label(s, settings)) for s in settings] if len(settings) > 1 else [None]
    fig, ax, ncols = _fraction_axes([label for label in labels if label], by=by)
    series = list(zip(labels, _by_setting(rows, "best_val_acc", by).values()))
    note = _mean_lines(ax, series, by, dots=len({r["seed"] for r in rows}) > 1)
    ax.set_ylabel("best validation accuracy")
    ax.set_ylim(-0.02, 1.02)
    _finish_fraction_plot(fig, ax, ncols, path, f"{sweep_title(rows)}: data efficiency"
                          f"{_mean_note(rows)}", settings_line(rows, spec, evals, _title_chars(fig)), note)


def steps_to_generalize(path: Path, rows: list[dict], by: str = "frac", spec: dict | None = None,
                        evals: np.ndarray | None = None) -> None:
    """Median steps until validation (solid) and train (dashed) accuracy first
    reach 99%, against fraction (Power et al. Figure 1, center), with each
    run as a small mark and a run that never got there as ▲ at the budget
    (or at the step the sweep stopped at, when it stopped early).
    A median not reached (the paper's median counts such a run as infinitely
    slow) has no line point; the title names those fractions."""
    from matplotlib.lines import Line2D

    settings = _settings(rows)
    names = [setting_label(s, settings) for s in settings]
    one = len(settings) == 1
    kinds = (("val", "steps_to_99_val", "-", "o"), ("train", "steps_to_99_train", "--", "s"))
    stop = stopped_early(rows, spec)
    by_end = "by the budget" if stop is None else f"by the stop at step {stop:,}"

    def drawn(s, key):  # does any median of this setting get a point?
        mine = [r for r in rows if setting_of(r) == s]
        return any(summary.median_steps([r[key] for r in mine if r[by] == f]) is not None for f in {r[by] for r in mine})

    # a median never reached draws no line: its legend entry says so
    labels = [_wrap(f"{kind} median" + ("" if one else f", {n}") + ("" if drawn(s, key) else ": never reached (▲)"))
              for s, n in zip(settings, names) for kind, key, *_ in kinds]
    fig, ax, ncols = _fraction_axes(labels + ["each run", f"not reached {by_end}"], by=by)
    fracs = sorted({r[by] for r in rows})
    shift = _offsets(2 * len(settings), fracs)
    styles = _line_styles(len(settings))
    missing = {"val": {}, "train": {}}  # kind → setting's name → data sizes whose median was not reached
    ys = []
    for i, s in enumerate(settings):
        mine = [r for r in rows if setting_of(r) == s]
        for j, (kind, key, ls, marker) in enumerate(kinds):
            color = (VAL if kind == "val" else TRAIN) if one else styles[i][0]
            dx = shift[2 * i + j]
            med = {f: summary.median_steps([r[key] for r in mine if r[by] == f]) for f in fracs}
            unreached = sorted(f for f, m in med.items() if m is None and any(r[by] == f for r in mine))
            if unreached:
                missing[kind][names[i]] = unreached
            got = [f for f in fracs if med[f] is not None]
            ax.plot([f + dx for f in got], [med[f] for f in got], ls=ls, marker=marker, color=color, ms=6, lw=1.4,
                    mfc=color if kind == "val" else "white", label=labels[2 * i + j], zorder=3)
            hit = [(r[by] + dx, r[key]) for r in mine if r[key] is not None]
            miss = [(r[by] + dx, r["steps"]) for r in mine if r[key] is None]
            for pts, m, size in ((hit, ".", 7), (miss, "^", 6)):
                if pts:
                    ax.plot(*zip(*pts), m, color=color, ms=size, alpha=0.5, ls="",
                            mfc=color if kind == "val" else "none", zorder=2)
            ys += [m for m in med.values() if m is not None] + [y for _, y in hit + miss]
    steps = budget(rows, spec) if stop is None else stop
    if steps:
        ax.axhline(steps, color="0.6", lw=0.8, ls=":", zorder=0)
        end = f"budget {steps:,}" if stop is None else f"stopped at {stop:,} of {budget(rows, spec):,}"
        ax.annotate(end, (1, steps), xycoords=("axes fraction", "data"), xytext=(-3, -3),
                    textcoords="offset points", ha="right", va="top", fontsize=8, color="0.4")
        ys.append(steps)
    log_steps_axis(ax, np.array(ys), axis="y")
    reach_ticks(ax.yaxis)
    pad = _pad(fracs, by)
    ax.set_xlim(fracs[0] - pad, fracs[-1] + pad)
    _size_ticks(ax, fracs, by)
    schedule = eval_schedule(evals, spec)
    ax.set_ylabel("steps to 99% accuracy" + (f"\n(evaluated {schedule})" if schedule else ""))
    handles, _ = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color="0.4", marker=".", ls="", alpha=0.6, label="each run"),
                Line2D([], [], color="0.4", marker="^", ls="", alpha=0.6, label=f"not reached {by_end}")]
    seeds = len({r["seed"] for r in rows})
    title = f"{sweep_title(rows)}: steps to 99% accuracy, median of {seeds} seed{'s' if seeds > 1 else ''}"
    def where(sizes):
        return f"{_size_name(by)} {', '.join(_num(f) for f in sizes)}"

    unreached = [f"{kind} at {where(sizes)}" + ("" if one else f" ({name})")
                 for kind in ("val", "train") for name, sizes in missing[kind].items()]
    if unreached and len(unreached) <= 4:
        title += f"\nmedian not reached {by_end}: {'; '.join(unreached)}"
    elif unreached:  # many settings: the ▲ and the legend say which
        title += f"\n▲: runs not reached {by_end} (a median among them is not drawn)"
    fig.legend(handles=handles, loc="outside lower center", ncols=ncols, fontsize=8, frameon=False,
               title="points offset sideways to stay visible" if len(shift) > 1 else None, title_fontsize=8)
    width = _title_chars(fig)
    ax.set_title("\n".join([textwrap.fill(line, width) for line in title.split("\n")]
                           + [settings_line(rows, spec, evals, width)]), fontsize=10)
    _save(fig, path)


def variant_lines(rows: list[dict], by: str = "frac") -> list[tuple[str, dict]]:
    """(name, {data size: best val accuracies over seeds}) per line of
    ``variants``: one per variant, or per variant and whatever else its runs
    differ in (``adamw init_scale=3``)."""
    groups = _by_setting(rows, "best_val_acc", by)
    settings = list(groups)
    lines = []
    for s in settings:
        same = [t for t in settings if dict(t)["variant"] == dict(s)["variant"]]
        extra = [f"{k}={_num(v)}" for i, (k, v) in enumerate(s)
                 if k not in ("variant", "op") and len({t[i][1] for t in same}) > 1]
        lines.append((" ".join([setting_label(s, settings), *extra]), groups[s]))
    return lines


def variants(path: Path, rows: list[dict], by: str = "frac", spec: dict | None = None,
             evals: np.ndarray | None = None) -> None:
    """Best validation accuracy against fraction, one line per variant in the
    sweep's order, mean over seeds (Power et al. Figure 2, left). Where one
    variant's runs also differ in another setting (an op, a knob the grid
    crosses with it), each gets its own line, named by it."""
    series = variant_lines(rows, by)
    fig, ax, ncols = _fraction_axes([name for name, _ in series], width=7.2, by=by)
    note = _mean_lines(ax, series, by, dots=len({r["seed"] for r in rows}) > 1)
    ax.set_ylabel("best validation accuracy")
    ax.set_ylim(-0.02, 1.02)
    _finish_fraction_plot(fig, ax, ncols, path, f"{sweep_title(rows)}: optimizer variants, best validation accuracy"
                          f"{_mean_note(rows)}", settings_line(rows, spec, evals, _title_chars(fig)), note)


def write_all(out: Path, rows: list[dict], steps: np.ndarray, curves: dict[str, np.ndarray],
              by: str = "frac", spec: dict | None = None) -> list[Path]:
    """Every figure of a sweep folder; returns the files written. ``by``:
    what tells the sweep's data sizes apart, ``frac`` or ``n_train``;
    ``spec``: as ``read_spec`` gives, read from the folder when None. A sweep
    of one data size gets no figure against the data size, and one left
    from an earlier drawing is removed, so that none misleads."""
    out = Path(out)
    spec = read_spec(out) if spec is None else spec
    pngs = [out / "accuracy.png"]
    accuracy(pngs[0], rows, steps, curves, by, spec)
    if len({r[by] for r in rows}) < 2:
        for name in DATA_SIZE_PNGS:
            (out / name).unlink(missing_ok=True)
        return pngs
    pngs += [out / "data_efficiency.png", out / "steps_to_generalize.png"]
    data_efficiency(pngs[1], rows, by, spec, steps)
    steps_to_generalize(pngs[2], rows, by, spec, steps)
    if "variant" in rows[0]:
        pngs.append(out / "variants.png")
        variants(pngs[-1], rows, by, spec, steps)
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
    from grokjax.cli import Parser, UsageError, os_error_line

    p = Parser(
        prog="python -m grokjax.plots",
        description="Redraw the figures of finished sweeps from their runs.csv and curves.csv alone "
                    "(no checkpoint, no training): accuracy.png, and when the sweep has more than one fraction "
                    "or n_train data_efficiency.png, steps_to_generalize.png and, for a sweep of --variant "
                    "presets, variants.png (a sweep of one data size has none of these three, and one left "
                    "from an earlier drawing is removed).")
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
        before = {name for name in DATA_SIZE_PNGS if (out / name).exists()}
        try:
            for png in write_all(out, rows, steps, curves, data_axis(out)):
                print(f"wrote {png}")
        except OSError as e:
            return UsageError(os_error_line(e)).report("grokjax.plots")
        for name in sorted(before):
            if not (out / name).exists():
                print(f"removed {out / name} (the sweep has one data size)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
