"""The figures a sweep writes, read from its runs and curves.

``settings`` is the list of per-run dicts (frac, seed, lr, weight_decay, …);
runs that differ only by seed are one *setting* and share a colour.

``python -m grokjax.plots OUT [OUT ...]`` redraws a finished sweep's figures
from its runs.csv and curves.csv alone (no checkpoint, no JAX).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from grokjax import analysis  # noqa: E402

# Per-run keys that are not optimizer settings: grouping ignores them.
NOT_SETTINGS = {"run", "seed", "frac", "n_train", "op", "modulus"}


SETTING_KEYS = ("variant", "lr", "weight_decay", "init_scale", "weight_decay_init", "update_noise", "grad_noise",
                "grokfast_lambda", "grokfast_alpha", "orthograd", "weight_norm", "weight_noise", "dropout",
                "outliers", "full_batch")


def setting_of(row: dict) -> tuple:
    return tuple((k, row[k]) for k in row if k not in NOT_SETTINGS and k in SETTING_KEYS)


def setting_label(setting: tuple, all_settings: list[tuple]) -> str:
    """Only the keys that vary across the sweep, e.g. ``lr=0.001 weight_decay=1``;
    a named variant stands for all of its numbers."""
    variant = dict(setting).get("variant")
    if variant:
        return str(variant)
    varying = [i for i in range(len(setting)) if len({s[i][1] for s in all_settings}) > 1]
    return " ".join(f"{setting[i][0]}={setting[i][1]:g}" if isinstance(setting[i][1], float)
                    else f"{setting[i][0]}={setting[i][1]}" for i in varying) or "all runs"


def _settings(rows: list[dict]) -> list[tuple]:
    return list(dict.fromkeys(setting_of(r) for r in rows))


def _title(rows: list[dict]) -> str:
    r = rows[0]
    mod = f" mod {r['modulus']}" if not str(r["op"]).startswith("s5") else ""
    return f"{r['op']}{mod}"


def accuracy(path: Path, rows: list[dict], steps: np.ndarray, curves: dict[str, np.ndarray]) -> None:
    """Train (red) and validation (green) accuracy against steps (Power et al. Figure 1,
    left): one panel per fraction, settings told apart by line style; past four
    settings the styles run out, so each (setting, fraction) gets its own panel.
    Step 0 is off a log axis and is not drawn."""
    fracs = sorted({r["frac"] for r in rows})
    settings = _settings(rows)
    styles = ["-", "--", ":", "-."]
    split = len(settings) > len(styles)
    panels = [(s, f) for s in settings for f in fracs] if split else [(None, f) for f in fracs]
    ncol = len(fracs) if split and len(fracs) > 1 else min(4, len(panels))
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 2.9 * nrow), squeeze=False, sharey=True)
    keep = steps > 0
    for ax, (setting, frac) in zip(axes.flat, panels):
        for i, r in enumerate(rows):
            if r["frac"] != frac or (split and setting_of(r) != setting):
                continue
            ls = "-" if split else styles[settings.index(setting_of(r))]
            ax.plot(steps[keep], curves["train_acc"][keep, i], ls, color="tab:red", alpha=0.7, lw=1.2)
            ax.plot(steps[keep], curves["val_acc"][keep, i], ls, color="tab:green", alpha=0.7, lw=1.2)
        ax.set_xscale("log")
        title = f"frac {frac:g}"
        if split:
            title = f"{setting_label(setting, settings)}\n{title}"
        ax.set_title(title, fontsize=8 if split else 10)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("optimization steps")
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy")
    handles = [plt.Line2D([], [], color="tab:red", label="train"), plt.Line2D([], [], color="tab:green", label="val")]
    if 1 < len(settings) and not split:
        handles += [plt.Line2D([], [], color="k", ls=styles[j], label=setting_label(s, settings))
                    for j, s in enumerate(settings)]
    axes.flat[0].legend(handles=handles, loc="center right", fontsize=8)
    fig.suptitle(f"{_title(rows)}: accuracy ({len(rows)} runs)")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))  # room for the suptitle
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _by_setting(rows: list[dict], key: str):
    """{setting: {frac: [values over seeds]}}."""
    out: dict = defaultdict(lambda: defaultdict(list))
    for r in rows:
        out[setting_of(r)][r["frac"]].append(r[key])
    return out


def _save_best_val_plot(fig, ax, path: Path, title: str, legend_size: int) -> None:
    """Axes of a best-val-accuracy-against-fraction figure, then save it."""
    ax.set_xlabel("training data fraction")
    ax.set_ylabel("best validation accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=legend_size)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def data_efficiency(path: Path, rows: list[dict]) -> None:
    """Best validation accuracy against training fraction, mean over seeds with each
    seed as a dot (Power et al. Figure 2, right, for one op)."""
    settings = _settings(rows)
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for s, by_frac in _by_setting(rows, "best_val_acc").items():
        fr = sorted(by_frac)
        (line,) = ax.plot(fr, [np.mean(by_frac[f]) for f in fr], "o-", label=setting_label(s, settings))
        for f in fr:
            ax.plot([f] * len(by_frac[f]), by_frac[f], ".", color=line.get_color(), alpha=0.4)
    _save_best_val_plot(fig, ax, path, f"{_title(rows)}: data efficiency, {rows[0]['steps']} steps", legend_size=8)


def steps_to_generalize(path: Path, rows: list[dict]) -> None:
    """Median steps until validation (solid) and train (dashed) accuracy first reach 99%,
    against fraction (Power et al. Figure 1, center). A fraction whose median run
    never got there within the budget is left out and listed in the title."""
    settings = _settings(rows)
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    missing = set()
    val, tr = _by_setting(rows, "steps_to_99_val"), _by_setting(rows, "steps_to_99_train")
    for s in val:
        fr = sorted(val[s])
        mv = [analysis.median_steps(val[s][f]) for f in fr]
        mt = [analysis.median_steps(tr[s][f]) for f in fr]
        missing |= {f for f, m in zip(fr, mv) if m is None}
        (line,) = ax.plot([f for f, m in zip(fr, mv) if m is not None], [m for m in mv if m is not None],
                          "o-", label=f"val {setting_label(s, settings)}")
        ax.plot([f for f, m in zip(fr, mt) if m is not None], [m for m in mt if m is not None],
                "x--", color=line.get_color(), alpha=0.6, label=f"train {setting_label(s, settings)}")
    ax.set_yscale("log")
    ax.set_xlabel("training data fraction")
    ax.set_ylabel("median steps to 99% accuracy")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    title = f"{_title(rows)}: steps to 99%"
    if missing:
        title += f"\n(val not reached within {rows[0]['steps']} steps at frac {', '.join(f'{f:g}' for f in sorted(missing))})"
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def variants(path: Path, rows: list[dict]) -> None:
    """Best validation accuracy against fraction, one line per variant in the
    sweep's order, mean over seeds (Power et al. Figure 2, left)."""
    names = list(dict.fromkeys(r["variant"] for r in rows))
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for name in names:
        by_frac = defaultdict(list)
        for r in rows:
            if r["variant"] == name:
                by_frac[r["frac"]].append(r["best_val_acc"])
        fr = sorted(by_frac)
        ax.plot(fr, [np.mean(by_frac[f]) for f in fr], "o-", ms=3, label=name)
    title = f"{_title(rows)}: variants, {rows[0]['steps']} steps, mean of {len({r['seed'] for r in rows})} seed(s)"
    _save_best_val_plot(fig, ax, path, title, legend_size=7)


def predicted_table(path: Path, table, pred: np.ndarray, labels: np.ndarray, train: np.ndarray, title: str) -> None:
    """The operation table a run predicts (Power et al. Figure 1, right).

    Left: the predicted answer of every cell a ∘ b, coloured by symbol.
    Right: which cells were training equations (grey) and which validation
    cells the network filled in right (green) or wrong (red). Cells outside
    the operation (e.g. b = 0 for division) stay white.
    """
    from matplotlib.colors import ListedColormap

    n = table.n_symbols
    a, b = table.x[:, 0], table.x[:, 2]
    answer = np.full((n, n), np.nan)
    answer[a, b] = pred
    status = np.full((n, n), np.nan)  # 0 train, 1 val right, 2 val wrong, 3 train wrong
    status[a, b] = np.where(train, np.where(pred == labels, 0, 3), np.where(pred == labels, 1, 2))
    fig, axes = plt.subplots(1, 2, figsize=(12, 6.8))
    axes[0].imshow(answer, cmap="twilight", interpolation="nearest", vmin=0, vmax=n - 1)
    axes[0].set_title("predicted a ∘ b (colour: answer symbol)", fontsize=9)
    cmap = ListedColormap(["#c8c8c8", "#2ca02c", "#d62728", "#7f7f7f"])
    axes[1].imshow(status, cmap=cmap, interpolation="nearest", vmin=-0.5, vmax=3.5)
    v = ~train
    right = int((pred[v] == labels[v]).sum())
    axes[1].set_title(f"training cells: light grey right, dark grey wrong\n"
                      f"validation cells: green right, red wrong ({right} of {int(v.sum())} right)", fontsize=9)
    if n <= 24:  # small tables: write the symbols in, as in the paper's figure
        for i, j, c in zip(a, b, pred):
            dark = 0.2 < c / max(n - 1, 1) < 0.8  # twilight is dark in its middle
            axes[0].text(j, i, str(c), ha="center", va="center", fontsize=7, color="white" if dark else "black")
    for ax in axes:
        ax.set_xlabel("b")
        ax.set_ylabel("a")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.96))  # room for the title above the panels' own
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_all(out: Path, rows: list[dict], steps: np.ndarray, curves: dict[str, np.ndarray]) -> list[Path]:
    """Every figure of a sweep folder; returns the files written."""
    out = Path(out)
    pngs = [out / "accuracy.png", out / "data_efficiency.png", out / "steps_to_generalize.png"]
    accuracy(pngs[0], rows, steps, curves)
    data_efficiency(pngs[1], rows)
    steps_to_generalize(pngs[2], rows)
    if "variant" in rows[0]:
        pngs.append(out / "variants.png")
        variants(pngs[-1], rows)
    return pngs


def main(argv: list[str] | None = None) -> int:
    from grokjax import report

    p = argparse.ArgumentParser(
        prog="python -m grokjax.plots",
        description="Redraw the figures of finished sweeps from their runs.csv and curves.csv.")
    p.add_argument("out", nargs="+", type=Path, help="sweep output folder(s)")
    args = p.parse_args(argv)
    loaded = []
    for out in args.out:  # read every folder before drawing any: bad input writes nothing
        try:
            loaded.append((out, *report.read_sweep(out)))
        except (OSError, ValueError, KeyError) as e:
            print(f"grokjax.plots: error: {out} is not a finished sweep folder ({e})", file=sys.stderr)
            return 2
    for out, rows, steps, curves in loaded:
        for png in write_all(out, rows, steps, curves):
            print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
