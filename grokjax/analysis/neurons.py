"""The MLP neurons' frequencies (Nanda et al. 2023, §4.2 and their ``calculate_key_freqs``).

Each neuron of the transformer's MLP (after its ReLU), read at the answer
position for every input pair ``(a, b)`` of x+y or x−y mod p, is a p × p
map. In a network that has grokked modular addition most neurons are well
approximated by a degree-2 polynomial in cos and sin of one frequency
``w_k = 2πk/p`` of ``a`` and of ``b``; the neurons of one frequency form a
cluster, and the clusters' frequencies are the key frequencies.

Per run, layer and saved step:

- ``share[k, n]``: the part of neuron n's variance over the p² inputs (its
  mean removed) that lies on the 2-D Fourier terms made of {1, cos w_k·,
  sin w_k·} in ``a`` times the same in ``b``: 4 linear terms and 4
  quadratic ones, in an orthonormal basis, as Nanda et al.'s
  ``extract_freq_2d``. It is 1 for a neuron that uses frequency k alone.
- each neuron's best frequency and its share there (``frac_explained``);
- dead neurons (the same value for every input: no variance to explain),
  counted apart and left out of the rest;
- per run: the median ``frac_explained``, the share of neurons at or above
  ``threshold`` (default 0.85, a choice of ours, not a number of the
  paper's), the part of all neurons' variance their best frequencies
  explain (large neurons weigh more), and the clusters: how many of the
  neurons above the threshold have each best frequency.

Nanda et al.'s loop tries k = 1 .. p//2 − 1, leaving out the highest
frequency; here every k = 1 .. (p−1)/2 is tried.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from grokjax.analysis import fourier, snapshot
from grokjax.checkpoint import CheckpointError

DEFAULT_THRESHOLD = 0.85


def fourier_basis(p: int):
    """``[p, p]`` orthonormal rows over 0..p−1: the constant, then cos and
    sin of each frequency k = 1..(p−1)/2, in that order (Nanda et al.'s)."""
    import jax.numpy as jnp

    cos, sin = fourier.basis(p)
    waves = jnp.stack([cos, sin], 1).reshape(-1, p) / jnp.sqrt(p / 2)
    return jnp.concatenate([jnp.full((1, p), 1 / jnp.sqrt(p)), waves])


def term_masks(p: int) -> np.ndarray:
    """``[K, p, p]``: True at the 2-D terms (row term of a, column term of b)
    of frequency k: both from {constant, cos k, sin k}, not both constant."""
    K = (p - 1) // 2
    freq_of = np.concatenate([[0], np.repeat(np.arange(1, K + 1), 2)])  # basis row → its frequency
    k = np.arange(1, K + 1)[:, None]
    ok = (freq_of[None] == 0) | (freq_of[None] == k)  # [K, p]
    masks = ok[:, :, None] & ok[:, None, :]
    masks[:, 0, 0] = False
    return masks


def frequency_shares(acts_PxPxN):
    """``(share [K, N], variance [N])`` of neurons ``acts[a, b, n]``: each
    one's variance over the table, and the part of it at each frequency."""
    import jax.numpy as jnp

    p = acts_PxPxN.shape[0]
    centred = acts_PxPxN - acts_PxPxN.mean((0, 1))
    F = fourier_basis(p).astype(acts_PxPxN.dtype)
    energy = jnp.einsum("xyn,fx,gy->fgn", centred, F, F) ** 2
    total = (centred**2).sum((0, 1))  # = energy.sum((0, 1)) in an orthonormal basis, with less rounding
    by_freq = jnp.einsum("kfg,fgn->kn", jnp.asarray(term_masks(p), acts_PxPxN.dtype), energy)
    return by_freq / jnp.where(total > 0, total, 1), total / p**2


def dead(variance_N, mean_N):
    """Neurons without variance to explain: constant over the table, up to
    float32's rounding of a constant (ReLU's exact zeros among them)."""
    return variance_N <= 1e-10 * mean_N**2


def mlp_activations(model, x, params):
    """``[N, n_layers, d_mlp]``: each block's MLP activations (after ReLU) at
    the answer position, for every row of ``x``, in blocks of EVAL_ROWS, of
    the Flax ``Transformer`` ``model``."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    from grokjax import train

    n_layers = model.n_layers
    rows = min(train.EVAL_ROWS, x.shape[0])
    pad = (-x.shape[0]) % rows
    xb = jnp.pad(x, ((0, pad), (0, 0))).reshape(-1, rows, x.shape[1])

    def block(xc):
        # the answer path computes the last block at the answer position alone; earlier ones at every position
        _, state = model.apply(params, xc, path="answer", mutable=["intermediates"],
                               capture_intermediates=lambda m, method: m.name == "fc1" and method == "__call__")
        got = state["intermediates"]
        return jnp.stack([nn.relu(got[f"blocks_{i}"]["fc1"]["__call__"][0][:, -1]) for i in range(n_layers)], 1)

    out = jax.lax.map(block, xb)
    return out.reshape(-1, *out.shape[2:])[: x.shape[0]]


@dataclasses.dataclass(frozen=True)
class Shares:
    """One run's neurons: their shares by frequency and variance, per layer."""

    p: int

    def __call__(self, config, x, y, run, params, extra):
        import jax.numpy as jnp

        from grokjax import train

        p = self.p
        acts = mlp_activations(train.model_for(config), x, params).astype(jnp.float64)  # rows (a, b), a major
        acts_LxPxPxN = jnp.moveaxis(acts.reshape(p, p, *acts.shape[1:]), 2, 0)
        shares, variance = [], []
        for layer in acts_LxPxPxN:
            s, v = frequency_shares(layer)
            shares.append(s)
            variance.append(v)
        return {"share": jnp.stack(shares), "variance": jnp.stack(variance),
                "mean": acts_LxPxPxN.mean((1, 2))}


def summarize(share_KxN, variance_N, mean_N, threshold: float) -> dict:
    """One run and layer at one step, from its neurons' shares."""
    live = ~dead(variance_N, mean_N)
    best = share_KxN.argmax(0) + 1
    frac = share_KxN.max(0)
    above = live & (frac >= threshold)
    freqs, counts = np.unique(best[above], return_counts=True)
    order = np.lexsort((freqs, -counts))  # biggest cluster first
    explained = (frac * variance_N)[live].sum() / max(variance_N[live].sum(), 1e-300)
    return {"n_neurons": len(variance_N), "n_dead": int((~live).sum()),
            "frac_explained_median": float(np.median(frac[live])) if live.any() else None,
            "share_above": float(above.sum() / live.sum()) if live.any() else None,
            "explained_total": float(explained) if live.any() else None,
            "n_clusters": len(freqs),
            "clusters": " ".join(f"{f}:{c}" for f, c in zip(freqs[order], counts[order]))}


def run(out, runs=None, step: int | None = None, *, threshold: float = DEFAULT_THRESHOLD) -> list[dict]:
    """The neurons' frequencies of every chosen run at every saved step (or
    at ``step`` alone); writes ``analysis/neurons.csv`` (one row per run,
    layer and step), ``neurons_step<S>.csv`` (every neuron's share at each
    frequency at the last analysed step) and their PNGs. Returns the rows
    of neurons.csv."""
    if not 0 < threshold <= 1:
        raise CheckpointError(f"threshold must be in (0, 1] (a share of a neuron's variance), got {threshold:g}")
    plan = snapshot.sweep_plan(out)
    task = fourier.check_task(plan, "the neurons analysis")
    p = task.modulus
    runs = snapshot.check_runs(plan, runs)
    steps = snapshot.steps_to_measure(out, step)
    rows, last = [], []
    for s in steps:
        snap = snapshot.load(out, runs, s)
        acc = {k: snapshot.metric_at(snap, k) for k in ("train_acc", "val_acc")}
        for g in snap.groups:
            got = snapshot.apply(g, Shares(p), x64=True)
            for j, r in enumerate(g.runs):
                for layer in range(got["share"].shape[1]):
                    share, var, mean = (got[k][j, layer] for k in ("share", "variance", "mean"))
                    rows.append({**snapshot.settings(plan, r), "step": s, "layer": layer,
                                 "train_acc": acc["train_acc"].get(r), "val_acc": acc["val_acc"].get(r),
                                 **summarize(share, var, mean, threshold), "threshold": threshold})
                    if s == steps[-1]:
                        last += neuron_rows(r, layer, share, var, mean)
    rows.sort(key=lambda r: (r["run"], r["layer"], r["step"]))
    d = snapshot.out_dir(out)
    snapshot.write_csv(d / "neurons.csv", rows)
    snapshot.write_csv(d / f"neurons_step{steps[-1]}.csv", last)
    draw(out, plan)
    draw_step(d / f"neurons_step{steps[-1]}.csv", plan)
    return rows


def neuron_rows(run: int, layer: int, share_KxN, variance_N, mean_N) -> list[dict]:
    """Every neuron's row of ``neurons_step<S>.csv``: its variance, best
    frequency and share there, and its share at every frequency (5 digits)."""
    is_dead = dead(variance_N, mean_N)
    return [{"run": run, "layer": layer, "neuron": n, "variance": float(variance_N[n]), "dead": bool(is_dead[n]),
             "best_freq": None if is_dead[n] else int(share_KxN[:, n].argmax() + 1),
             "frac_explained": None if is_dead[n] else float(share_KxN[:, n].max()),
             **{f"share_{k + 1}": float(f"{share_KxN[k, n]:.5g}") for k in range(share_KxN.shape[0])}}
            for n in range(share_KxN.shape[1])]


def draw(out, plan=None) -> Path:
    """``neurons.png`` from neurons.csv alone: per run and layer, the
    measures over the saved steps, with train and val accuracy."""
    d = Path(out) / snapshot.OUT_DIR
    plan = plan or snapshot.sweep_plan(out)
    rows = snapshot.read_csv(d / "neurons.csv")
    panels = sorted({(r["run"], r["layer"]) for r in rows})
    layers = len({layer for _, layer in panels})
    fig, axes = snapshot.grid(len(panels), ncols=2 if len(panels) <= 4 else 4, size=(5.2, 3.4), extra_height=1.0)
    saved = sorted({r["step"] for r in rows})
    marker = dict(marker="o", ms=2.5) if 1 < len(saved) <= snapshot.MAX_MARKED else {}
    threshold = rows[-1]["threshold"]
    styles = {"share_above": (f"neurons with ≥ {threshold:g} of their variance on one frequency", "C3", "-"),
              "frac_explained_median": ("median neuron's share on its best frequency", "C2", "-"),
              "explained_total": ("all neurons' variance on their best frequencies", "C4", "--"),
              "train_acc": ("train accuracy", "C0", ":"), "val_acc": ("val accuracy", "k", ":")}
    for ax, (r, layer) in zip(axes, panels):
        mine = [x for x in rows if x["run"] == r and x["layer"] == layer]
        steps = [x["step"] for x in mine]
        for key, (label, color, ls) in styles.items():
            ys = [np.nan if x.get(key) is None else x[key] for x in mine]
            ax.plot(steps, ys, ls, color=color, lw=1.3, **(marker if key not in ("train_acc", "val_acc") else {}))
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        end = mine[-1]
        clusters = str(end["clusters"] or "").split()
        shown = (f"{len(clusters)} cluster{'s' * (len(clusters) > 1)} (freq:neurons) " + " ".join(clusters[:4]) + (" …" if len(clusters) > 4 else "")
                 if clusters else f"no neuron ≥ {threshold:g} on one frequency")
        where = f", layer {layer}" if layers > 1 else ""
        ax.set_ylabel("share, accuracy")
        ax.set_title(f"{snapshot.run_label(plan, r)}{where}\nat step {end['step']}: {shown}; "
                     f"{end['n_dead']} of {end['n_neurons']} dead", fontsize=8)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls=ls, color=c, lw=1.3) for _, c, ls in styles.values()]
    labels = [label for label, _, _ in styles.values()]
    if marker:
        handles.append(Line2D([], [], ls="", color="0.3", **marker))
        labels.append(f"a saved step (checkpoints {snapshot.spacing(saved)})")
    snapshot.legend_below(fig, handles, labels, ncols=3 if len(panels) > 1 else 2, fontsize=7,
                          note="A neuron's share on frequency k: the part of its variance over every input pair "
                               "(a, b) on the 2-D Fourier terms of {1, cos, sin}(w_k a) × {1, cos, sin}(w_k b), "
                               "w_k = 2πk/p (Nanda et al.'s key-frequency measure). Dead neurons (constant) left out.")
    snapshot.title(fig, f"MLP neurons by frequency, over training (Nanda et al. 2023): {plan.spec.task.describe()}, "
                        f"MLP after ReLU at the answer position")
    return snapshot.save(fig, d / "neurons.png")


def draw_step(path, plan) -> Path:
    """The PNG beside a ``neurons_step<S>.csv``, from it alone: per run and
    layer, every live neuron's share at each frequency (sorted into its
    cluster), and the neurons per best frequency."""
    path = Path(path)
    cells = snapshot.read_csv(path)
    step = int(re.match(r"neurons_step(\d+)", path.stem).group(1))
    K = sum(k.startswith("share_") for k in cells[0])
    panels = list(dict.fromkeys((c["run"], c["layer"]) for c in cells))
    layers = len({layer for _, layer in panels})
    fig, axes = snapshot.grid(2 * len(panels), ncols=4 if len(panels) > 1 else 2, size=(4.2, 3.6), extra_height=1.0)
    threshold = DEFAULT_THRESHOLD
    summary = path.parent / "neurons.csv"
    if summary.exists():  # the threshold the summary used, for the bars' colours
        threshold = snapshot.read_csv(summary)[-1]["threshold"]
    for (r, layer), ax_map, ax_bar in zip(panels, axes[0::2], axes[1::2]):
        mine = [c for c in cells if c["run"] == r and c["layer"] == layer and not c["dead"]]
        share = np.array([[c[f"share_{k}"] for k in range(1, K + 1)] for c in mine]).reshape(-1, K)
        best = np.array([c["best_freq"] for c in mine], int)
        frac = np.array([c["frac_explained"] for c in mine])
        size = np.bincount(best, minlength=K + 1)
        order = np.lexsort((-frac, best, -size[best]))  # biggest cluster on top, best-explained first within it
        im = ax_map.imshow(share[order], aspect="auto", cmap="magma", vmin=0, vmax=1, interpolation="nearest",
                           extent=(0.5, K + 0.5, len(mine) - 0.5, -0.5))
        ax_map.set_xlabel("frequency k", fontsize=8)
        ax_map.set_ylabel("live neurons, by cluster", fontsize=8)
        where = f", layer {layer}" if layers > 1 else ""
        ax_map.set_title(f"{snapshot.run_label(plan, r)}{where}\neach neuron's share of variance at k", fontsize=8)
        ks = np.arange(1, K + 1)
        good = np.bincount(best[frac >= threshold], minlength=K + 1)[1:]
        ax_bar.bar(ks, size[1:] - good, bottom=good, color="0.65", width=0.8)
        ax_bar.bar(ks, good, color="C3", width=0.8)
        for k in np.flatnonzero(good >= max(2, 0.05 * len(mine))) + 1:
            ax_bar.annotate(str(k), (k, size[k]), ha="center", va="bottom", fontsize=7)
        ax_bar.set_xlabel("best frequency k", fontsize=8)
        ax_bar.set_ylabel("neurons", fontsize=8)
        ax_bar.set_title(f"run {r}{where}: {int(good.sum())} of {len(mine)} live neurons\nwith ≥ {threshold:g} on "
                         "one frequency", fontsize=8)
        fig.colorbar(im, ax=ax_map, fraction=0.06, pad=0.02).ax.tick_params(labelsize=6)
    from matplotlib.patches import Patch

    handles = [Patch(color="C3", label=f"≥ {threshold:g} of its variance on its best frequency"),
               Patch(color="0.65", label="less")]
    snapshot.legend_below(fig, handles, ncols=2, fontsize=8,
                          note="Left of each pair: one row per live neuron, its share of variance over every input "
                               "pair (a, b) at each frequency k (colour, 0 black to 1 white), rows grouped by best "
                               "frequency, biggest group on top. Right: how many neurons have each best frequency.")
    snapshot.title(fig, f"MLP neurons by frequency at step {step}: {plan.spec.task.describe()}")
    return snapshot.save(fig, path.with_suffix(".png"))
