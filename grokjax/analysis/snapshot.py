"""Every chosen run of a sweep at one saved step, ready for one compiled program.

``load(out, runs, step)`` restores the params of the chosen runs from the
sweep's orbax checkpoint, grouped by the program they trained in; ``apply``
runs a measure over each group as training ran its runs (``train.over_runs``:
vmap or lax.map), one compiled program per group, reused at every step.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import jax
import numpy as np

from grokjax import checkpoint, engine, report, xla_options
from grokjax.checkpoint import CheckpointError
from grokjax.config import Config, RunParams
from grokjax.plan import Plan, expand

OUT_DIR = "analysis"


@dataclasses.dataclass(frozen=True)
class Group:
    """The chosen runs of one compiled program, run axis leading."""

    config: Config
    runs: tuple  # the runs' indices in the sweep (runs.csv's run column)
    run_params: RunParams
    params: dict  # Flax params, each leaf [len(runs), ...]


@dataclasses.dataclass(frozen=True)
class Snapshot:
    out: Path
    step: int
    plan: Plan
    groups: list

    @property
    def runs(self) -> list[int]:
        return [r for g in self.groups for r in g.runs]

    def row(self, run: int) -> dict:
        """The run's settings, as runs.csv has them."""
        return self.plan.rows[run]


def parse_runs(text: str) -> list[int]:
    """``"0,2,5-7"`` → [0, 2, 5, 6, 7]."""
    got = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            if "-" in part[1:]:
                a, b = part.split("-", 1) if not part.startswith("-") else (part, None)
                got.extend(range(int(a), int(b) + 1))
            else:
                got.append(int(part))
        except (TypeError, ValueError):
            raise CheckpointError(f"malformed --runs {text!r}: use run indices like 0,2,5-7") from None
    return list(dict.fromkeys(got))


def sweep_plan(out) -> Plan:
    """The plan of the sweep in ``out``, on one device (as ``checkpoint.load``):
    from its checkpoints, or where they are gone (copied tables), from the
    spec its config.json records."""
    import json

    from grokjax.spec import SweepSpec

    try:
        return expand(checkpoint.read_spec(out), devices=1)
    except CheckpointError as no_checkpoint:
        try:
            spec = json.loads((Path(out) / "config.json").read_text())["spec"]
        except (OSError, ValueError, KeyError, TypeError):  # the folder has neither
            raise CheckpointError(f"{no_checkpoint}, and no readable config.json: not a sweep folder") from None
        return expand(SweepSpec.from_dict(spec), devices=1)


def check_runs(plan: Plan, runs) -> list[int]:
    """``runs`` (None: every run), checked against the sweep."""
    if runs is None:
        return list(range(plan.n_runs))
    runs = [int(r) for r in runs]
    if not runs:
        raise CheckpointError("no runs chosen")
    bad = [r for r in runs if not 0 <= r < plan.n_runs]
    if bad:
        raise CheckpointError(f"run {bad[0]} is out of range: the sweep has runs 0..{plan.n_runs - 1}")
    return runs


def saved_steps(out) -> list[int]:
    """The sweep's saved steps, oldest first; an error if there are none."""
    steps = checkpoint.saved_steps(out)
    if not steps:
        raise CheckpointError(f"{out} holds no checkpoint")
    return steps


def steps_to_measure(out, step: int | None = None) -> list[int]:
    """Every saved step of the sweep, oldest first, or ``[step]`` alone (an
    error if it was not saved): what the analyses over training measure."""
    steps = saved_steps(out)
    if step is None:
        return steps
    if step not in steps:
        raise CheckpointError(f"no checkpoint at step {step}; saved steps: {steps}")
    return [step]


def restore(out, runs=None, step: int | None = None):
    """``(plan, runs, programs, checkpoint.Restored)``: the sweep's plan, the
    chosen runs (checked), the programs holding them and their whole states
    at ``step`` (default: the latest readable one)."""
    out = Path(out)
    checkpoint.read_meta(out)  # a folder of tables alone (as results/ keeps them): said as inspect says it
    plan = sweep_plan(out)
    runs = check_runs(plan, runs)
    want = [p for p, prog in enumerate(plan.programs) if set(prog.runs) & set(runs)]
    with jax.enable_x64(plan.spec.x64):
        got = checkpoint.restore(checkpoint.manager(out, read_only=True), engine.abstract_states(plan),
                                 programs=want, step=step)
    return plan, runs, want, got


def load(out, runs=None, step: int | None = None) -> Snapshot:
    """The chosen runs (default: all) of the sweep in ``out`` at checkpoint
    ``step`` (default: the latest readable one)."""
    out = Path(out)
    plan, runs, want, got = restore(out, runs, step)
    groups = []
    for p in want:
        prog = plan.programs[p]
        # a program of several ops is measured op by op, each with its own table
        for part in prog.config.task.parts():
            stacked = prog.config.task.stacked
            chosen = [r for r in prog.runs if r in runs and (not stacked or plan.rows[r]["op"] == part.op)]
            if not chosen:
                continue
            idx = np.asarray([prog.runs.index(r) for r in chosen])
            params = jax.tree.map(lambda a: np.asarray(a)[idx], got.states[p].params)
            run_params = jax.tree.map(lambda a: np.asarray(a)[idx], plan.run_params(prog))
            run_params = run_params.replace(op_index=np.zeros_like(run_params.op_index))
            groups.append(Group(prog.config.replace(task=part), tuple(chosen), run_params, params))
    return Snapshot(out, got.step, plan, groups)


@functools.partial(xla_options.jit, static_argnums=(0, 1))
def _program(config: Config, measure, x, y, run_params, params, extra):
    from grokjax import train

    def one(x, y, run, p, e):
        x, y = train.run_table(config, x, y, run)  # a group is one op: only messiness can change x
        return measure(config, x, y, run, p, e)

    return train.over_runs(config, one, (x, y), run_params, params, extra)


def apply(group: Group, measure, extra=None, x64: bool = False) -> dict:
    """``measure(config, x, y, run, params, extra)`` for every run of the
    group, in one compiled program; host arrays with the run axis leading.

    ``measure`` must be hashable by value (a frozen dataclass): the program is
    compiled once per (config, measure) and reused at every step. ``extra``:
    per-run arrays (run axis leading) or None. ``x64`` lets the measure
    compute in float64 (the params keep their dtype)."""
    data = group.config.task.data()
    with jax.enable_x64(group.config.x64 or x64):
        got = _program(group.config, measure, data.x, data.y, group.run_params, group.params, extra)
        return jax.tree.map(np.asarray, jax.device_get(got))


# ---------------------------------------------------------------- files


def out_dir(out) -> Path:
    d = Path(out) / OUT_DIR
    d.mkdir(parents=True, exist_ok=True)
    return d


def write_csv(path: Path, rows: list[dict]) -> Path:
    header = list(dict.fromkeys(k for r in rows for k in r))
    report.write_atomic(path, report.table_text(header, rows))
    return path


def read_csv(path: Path) -> list[dict]:
    """What ``write_csv`` wrote, each cell back to its number, None or text."""
    return [{k: report.cell(v) for k, v in row.items()} for row in report.read_csv(path)]


def varied(plan: Plan) -> list[str]:
    """The settings besides data size and seed that differ between runs."""
    skip = {"run", "frac", "seed", "n_train"}
    return [k for k in plan.rows[0] if k not in skip and len({str(r.get(k)) for r in plan.rows}) > 1]


def run_label(plan: Plan, run: int) -> str:
    """``run 3 (frac 0.5, seed 1)``, plus any other setting that tells runs apart."""
    row = plan.rows[run]
    size = f"frac {row['frac']:g}" if plan.spec.data_axis == "frac" else f"n {row['n_train']}"
    extra = "".join(f", {k} {row[k]:g}" if isinstance(row[k], float) else f", {k} {row[k]}" for k in varied(plan))
    return f"run {run} ({size}, seed {row['seed']}{extra})"


def settings(plan: Plan, run: int) -> dict:
    """The CSV columns that name a run: run, data size, seed, varied settings."""
    row = plan.rows[run]
    size = "frac" if plan.spec.data_axis == "frac" else "n_train"
    return {"run": run, size: row[size], "seed": row["seed"], **{k: row[k] for k in varied(plan)}}


def describe(plan: Plan) -> str:
    """The sweep's task, for titles: ``add mod 97``, ``s5_mul``, ``digits``."""
    return plan.spec.task.describe()

def metric_at(snap: Snapshot, metric: str = "val_acc") -> dict:
    """Each run's ``metric`` from curves.csv at the snapshot's step (a saved
    step is always an evaluated one); empty if the folder has no curves.csv."""
    path = Path(snap.out) / "curves.csv"
    if not path.is_file():
        return {}
    return {int(r["run"]): float(r[metric]) for r in report.read_csv(path)
            if int(r["step"]) == snap.step and metric in r and r[metric] != ""}


def need_table(plan: Plan, what: str, embeddings: bool = False):
    """The sweep's TableTask, or an error: ``what`` reads an operation table
    (and, with ``embeddings``, the transformer's embedding matrices)."""
    task = plan.spec.task
    if task.name != "table":
        raise CheckpointError(f"{what} needs an operation table; this sweep learns the {task.describe()} task")
    if task.stacked:
        raise CheckpointError(f"{what} reads one operation's table; this sweep trained {len(task.ops)} ({task.op})")
    if embeddings and plan.spec.model.name != "transformer":
        raise CheckpointError(f"{what}: needs the transformer's embeddings; this sweep trained the {plan.spec.model.name}")
    return task


def grid(n: int, ncols: int = 4, size=(3.6, 3.3), extra_height: float = 0.8):
    """A matplotlib Figure with one panel per run (up to ``ncols`` per row) and its axes, flat."""
    from matplotlib.figure import Figure

    cols = min(n, ncols)
    rows = -(-n // cols)
    fig = Figure(figsize=(max(size[0] * cols, 7.0), size[1] * rows + extra_height), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def title(fig, text: str, fontsize: int = 10) -> None:
    """A suptitle wrapped to the figure's width."""
    import textwrap

    width = int(fig.get_figwidth() * 72 / (0.6 * fontsize))
    fig.suptitle("\n".join(textwrap.wrap(text, width)), fontsize=fontsize)


def legend_below(fig, handles, labels=None, note: str | None = None, pad: float = 0.06, **kw):
    """A figure legend, and under it an optional ``note`` (small, wrapped),
    in a strip of their own height below every panel.

    ``loc="outside lower center"`` leaves the room to the constrained layout,
    which let it cover the x labels of fixed-aspect (imshow) panels; here the
    legend is measured and the layout confined above it."""
    import textwrap

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not hasattr(fig.canvas, "get_renderer"):
        FigureCanvasAgg(fig)  # a bare Figure: a canvas to measure with
    renderer = fig.canvas.get_renderer()
    h = fig.get_figheight()
    bottom = pad  # inches from the figure's foot
    if note:
        width = int(fig.get_figwidth() * 72 / (0.55 * 7))
        text = fig.text(0.5, bottom / h, "\n".join(textwrap.wrap(note, width)), ha="center", va="bottom", fontsize=7,
                        color="0.25")
        bottom += text.get_window_extent(renderer).height / fig.dpi + pad
    if labels is None:
        labels = [x.get_label() for x in handles]
    legend = fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, bottom / h),
                        bbox_transform=fig.transFigure, **kw)
    bottom += legend.get_window_extent(renderer).height / fig.dpi + pad
    fig.get_layout_engine().set(rect=(0, bottom / h, 1, 1 - bottom / h))
    return legend


MAX_MARKED = 80  # saved steps per run up to which each gets a marker; more would blur into the line


def spacing(steps) -> str:
    """How the saved steps are spaced, for a legend: ``every 500 steps``,
    ``at 3 uneven steps`` or ``at one step``."""
    if len(steps) == 1:
        return "at one step"
    gaps = np.unique(np.diff(np.asarray(steps)))
    return f"every {gaps[0]:,} steps" if len(gaps) == 1 else f"at {len(steps)} uneven steps"


def save(fig, path: Path, dpi: int = 110) -> Path:
    fig.savefig(path, dpi=dpi)
    return path
