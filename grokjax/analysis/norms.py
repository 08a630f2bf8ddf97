"""Each layer's weight norm over training, beside Omnigrok's claim (its
Figure 7a) that the norm rises while the network memorizes and falls below
its initial value as it generalizes; the figure shows whether this run does.

Every evaluation of a sweep records ``norm_<layer>`` beside ``weight_norm``
in curves.csv, so this reads no checkpoint; a folder written before grokjax
recorded them gets them from its checkpoints, at each saved step.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from grokjax import report, summary
from grokjax.analysis import snapshot
from grokjax.checkpoint import CheckpointError


@dataclasses.dataclass(frozen=True)
class LayerNorms:
    def __call__(self, config, x, y, run, params, extra):
        import optax

        from grokjax import train

        return {"weight_norm": optax.tree.norm(params), **train.layer_norms(params)}


def from_curves(out) -> tuple[np.ndarray, dict] | None:
    path = Path(out) / "curves.csv"
    if not path.is_file():
        return None
    plan = snapshot.sweep_plan(out)
    steps, curves = report.read_curves(path, plan.n_runs, np.float64)
    if not any(k.startswith(summary.LAYER_NORM_PREFIX) for k in curves):
        return None
    return steps, curves


def from_checkpoints(out, runs) -> tuple[np.ndarray, dict]:
    steps = snapshot.saved_steps(out)
    plan = snapshot.sweep_plan(out)
    curves = {}
    for t, s in enumerate(steps):
        snap = snapshot.load(out, runs, s)
        for g in snap.groups:
            got = snapshot.apply(g, LayerNorms())
            for k, v in got.items():
                curves.setdefault(k, np.full((len(steps), plan.n_runs), np.nan))[t, list(g.runs)] = v
    return np.asarray(steps), curves


def run(out, runs=None, step: int | None = None) -> list[dict]:
    """Per-layer norms of every chosen run at every evaluation (up to
    ``step``); writes ``analysis/norms.csv`` and ``norms.png``."""
    plan = snapshot.sweep_plan(out)
    runs = snapshot.check_runs(plan, runs)
    got = from_curves(out)
    source = "curves.csv"
    if got is None:
        got, source = from_checkpoints(out, runs), "checkpoints"
    steps, curves = got
    if step is not None:
        if step not in steps.tolist():
            below, above = steps[steps < step], steps[steps > step]
            nearest = " and ".join(str(int(v)) for v in (below[-1:].tolist() + above[:1].tolist()))
            from grokjax import plots

            raise CheckpointError(f"step {step} was not evaluated; the nearest evaluated: {nearest} (the {source} hold "
                                  f"steps {steps[0]}..{steps[-1]}, evaluated {plots.eval_schedule(steps)})")
        keep = steps <= step
        steps, curves = steps[keep], {k: v[keep] for k, v in curves.items()}
    layers = [k for k in curves if k.startswith(summary.LAYER_NORM_PREFIX)]
    extra = [k for k in ("train_acc", "val_acc") if k in curves]
    rows = [{**snapshot.settings(plan, r), "step": int(s), "weight_norm": float(curves["weight_norm"][t, r]),
             **{k: float(curves[k][t, r]) for k in layers + extra}}
            for r in runs for t, s in enumerate(steps)]
    snapshot.write_csv(snapshot.out_dir(out) / "norms.csv", rows)
    draw(out, plan)
    return rows


def draw(out, plan=None) -> Path:
    """``analysis/norms.png`` from ``norms.csv`` alone (no checkpoint)."""
    d = Path(out) / snapshot.OUT_DIR
    rows = snapshot.read_csv(d / "norms.csv")
    layers = [k for k in rows[0] if k.startswith(summary.LAYER_NORM_PREFIX)]
    plot(d / "norms.png", plan or snapshot.sweep_plan(out), rows, layers)
    return d / "norms.png"


# the embeddings keep their colours from model to model; the other layers take the rest in order
FIXED_COLOURS = {"tok_embed": "C1", "unembed": "C2"}


def layer_colours(layers: list[str]) -> list[str]:
    free = iter(c for c in (f"C{i}" for i in range(10)) if c not in FIXED_COLOURS.values())
    return [FIXED_COLOURS.get(k.removeprefix(summary.LAYER_NORM_PREFIX)) or next(free, "0.3") for k in layers]


def plot(path, plan, rows, layers):
    from grokjax import plots

    runs = sorted({r["run"] for r in rows})
    fig, axes = snapshot.grid(len(runs), size=(4.2, 3.2), extra_height=1.0)
    twins = []
    for ax, r in zip(axes, runs):
        mine = [x for x in rows if x["run"] == r]
        steps = np.array([x["step"] for x in mine], float)
        pos = steps > 0
        xs = np.where(pos, steps, np.nan)
        ax.plot(xs, [x["weight_norm"] for x in mine], color="k", lw=1.6, label="all weights")
        first = "at init" if mine[0]["step"] == 0 else f"at step {mine[0]['step']:,}, the first saved"
        ax.axhline(mine[0]["weight_norm"], color="k", ls=":", lw=0.8, label=f"all weights {first}")
        for k, color in zip(layers, layer_colours(layers)):
            ax.plot(xs, [x[k] for x in mine], color=color, lw=1.1, label=k.removeprefix(summary.LAYER_NORM_PREFIX))
        plots.log_steps_axis(ax, steps[pos])
        ax.set_yscale("log")
        plots.plain_log_ticks(ax.yaxis)  # "200", not "2×10²": within a decade, those labels ran together
        ax.set_xlabel("step")
        ax.set_ylabel("L2 norm")
        if "val_acc" in mine[0]:
            tw = ax.twinx()
            twins.append(tw)
            # light greys, not C0..Cn (the layers' colours) nor black (the total norm)
            tw.plot(xs, [x["train_acc"] for x in mine], color="0.6", ls="-", lw=2.4, alpha=0.6,
                    label="train accuracy (right axis)")
            tw.plot(xs, [x["val_acc"] for x in mine], color="0.6", ls="--", lw=1.6, alpha=0.9,
                    label="val accuracy (right axis)")
            tw.set_ylim(0, 1.02)
            tw.set_ylabel("accuracy", fontsize=8)
            tw.tick_params(labelsize=7)
        ax.set_title(snapshot.run_label(plan, r), fontsize=8)
        ax.grid(alpha=0.3)
    h, lab = axes[0].get_legend_handles_labels()
    if twins:
        h2, l2 = twins[0].get_legend_handles_labels()
        h, lab = h + h2, lab + l2
    fig.legend(h, lab, loc="outside lower center", ncols=min(len(h), 5), fontsize=7)
    snapshot.title(fig, f"Weight norm of each layer over training: {plan.spec.task.describe()} "
                        f"(Omnigrok's claim, Fig. 7a: the norm rises while memorizing and falls as it generalizes)")
    snapshot.save(fig, path)
    return fig
