"""The operation table a run predicts (Power et al. Figure 1, right).

Every cell ``a ∘ b`` of the table, answered by each chosen run at one saved
step (one program over the runs). The CSV has one row per run and cell: a,
b, the true answer (the run's own label, so an outlier shows as trained
wrong), the prediction and the split. The PNG has per run the predicted
answers coloured by symbol, and a map of which cells were training
equations and which validation cells the network filled in right or wrong.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from grokjax import tables
from grokjax.analysis import snapshot


@dataclasses.dataclass(frozen=True)
class Predict:
    def __call__(self, config, x, y, run, params, extra):
        import jax.numpy as jnp

        from grokjax import train

        y_run, mask = train.run_split(config, y, run)
        return {"pred": jnp.argmax(train.outputs(config, x, params), -1), "label": y_run, "train": mask}


def run(out, runs=None, step: int | None = None) -> list[dict]:
    """Every chosen run's predicted table at ``step``; writes
    ``analysis/table_step<S>.csv`` and ``table_step<S>.png``. Returns per run
    its train and val accuracy over the table."""
    plan = snapshot.sweep_plan(out)
    task = snapshot.need_table(plan, "the predicted table")
    table = tables.table_for(task.op, task.modulus)
    snap = snapshot.load(out, runs, step)
    cells, per_run, drawn = [], [], []
    a, b = table.x[:, 0], table.x[:, 2]
    for g in snap.groups:
        got = snapshot.apply(g, Predict())
        for j, r in enumerate(g.runs):
            pred, label, train = got["pred"][j], got["label"][j], got["train"][j].astype(bool)
            split = np.where(train, "train", "val")
            cells += [{"run": r, "a": int(a[i]), "b": int(b[i]), "label": int(label[i]), "pred": int(pred[i]),
                       "split": split[i]} for i in range(len(a))]
            ok = pred == label
            per_run.append({**snapshot.settings(plan, r), "step": snap.step, "train_acc": float(ok[train].mean()),
                            "val_acc": float(ok[~train].mean()) if (~train).any() else None})
            drawn.append((r, pred, label, train))
    stem = f"table_step{snap.step}" + ("" if runs is None else "_runs" + "_".join(map(str, sorted(snap.runs))))
    draw(snapshot.write_csv(snapshot.out_dir(out) / f"{stem}.csv", cells), plan)
    per_run.sort(key=lambda r: r["run"])
    return per_run


def draw(path, plan) -> Path:
    """The PNG beside a ``table_step<S>[_runs…].csv``, from it alone: its
    cells are in the table's order, run after run."""
    path = Path(path)
    task = snapshot.need_table(plan, "the predicted table")
    table = tables.table_for(task.op, task.modulus)
    cells = snapshot.read_csv(path)
    drawn = []
    for r in dict.fromkeys(c["run"] for c in cells):
        mine = [c for c in cells if c["run"] == r]
        pred, label = (np.array([c[k] for c in mine]) for k in ("pred", "label"))
        drawn.append((r, pred, label, np.array([c["split"] == "train" for c in mine])))
    step = int(re.match(r"table_step(\d+)", path.stem).group(1))
    plot(path.with_suffix(".png"), plan, table, drawn, step)
    return path.with_suffix(".png")


def plot(path, plan, table, drawn, step):
    from matplotlib.colors import ListedColormap

    n = table.n_symbols
    a, b = table.x[:, 0], table.x[:, 2]
    fig, axes = snapshot.grid(2 * len(drawn), ncols=4 if len(drawn) > 1 else 2, size=(3.4, 3.4), extra_height=1.2)
    # a training cell answered wrong (a failure to memorize) in black, not a
    # second grey beside the right ones, and apart from the red of val cells
    cmap = ListedColormap(["#c8c8c8", "#2ca02c", "#d62728", "#000000"])
    for (r, pred, label, train), ax_answer, ax_status in zip(drawn, axes[0::2], axes[1::2]):
        answer = np.full((n, n), np.nan)
        answer[a, b] = pred
        status = np.full((n, n), np.nan)  # 0 train right, 1 val right, 2 val wrong, 3 train wrong
        status[a, b] = np.where(train, np.where(pred == label, 0, 3), np.where(pred == label, 1, 2))
        ax_answer.imshow(answer, cmap="twilight", interpolation="nearest", vmin=0, vmax=n - 1)
        ax_status.imshow(status, cmap=cmap, interpolation="nearest", vmin=-0.5, vmax=3.5)
        v = ~train
        right = int((pred[v] == label[v]).sum())
        ax_answer.set_title(f"{snapshot.run_label(plan, r)}\npredicted a ∘ b", fontsize=8)
        ax_status.set_title(f"run {r}: {right} of {int(v.sum())} val cells right", fontsize=8)
        if n <= 24:  # small tables: the symbols written in, as in the paper's figure
            for i, j, c in zip(a, b, pred):
                dark = 0.2 < c / max(n - 1, 1) < 0.8  # twilight is dark in its middle
                ax_answer.text(j, i, str(c), ha="center", va="center", fontsize=6, color="white" if dark else "black")
        for ax in (ax_answer, ax_status):
            ax.set_xlabel("b", fontsize=8)
            ax.set_ylabel("a", fontsize=8)
            ax.tick_params(labelsize=6)
    from matplotlib.patches import Patch

    legend = [Patch(color=c, label=t) for c, t in zip(cmap.colors, ("training cell, right", "validation cell, right",
                                                                      "validation cell, wrong", "training cell, wrong"))]
    snapshot.legend_below(fig, legend, ncols=4, fontsize=8)  # clear of the panels' "b" labels
    snapshot.title(fig, f"The table each run predicts: {plan.spec.task.describe()} at step {step} "
                        f"(left: the answer, coloured by symbol; right: the cell's split and whether it is right)")
    snapshot.save(fig, path)
    return fig
