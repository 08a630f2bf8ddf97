"""Fourier progress measures of Nanda et al. 2023, for x+y and x−y mod p.

A network that groks modular addition embeds each residue ``a`` as waves
``cos(w_k a), sin(w_k a)`` of a few key frequencies ``w_k = 2πk/p`` and
reads the answer ``c`` off ``cos(w_k (a + b − c))``. Measured per run and
saved step:

- the Fourier spectrum of the embedding (and of the unembedding): the norm
  of its rows' projection on frequency k, for k = 0 (the constant) .. (p−1)/2;
- the key frequencies: those whose share of the (non-constant) embedding
  energy is at least ``ratio`` times the even share 1/K (default 3×), taken
  from the last analysed step, as Nanda et al. fix theirs from the trained
  model; or the ones the user names;
- the restricted loss: each output's logits L[a, b, c], as a function of
  the inputs (a, b), projected onto cos and sin of w_k (a ± b) for the key
  frequencies, plus their mean over the inputs (Nanda et al.'s
  ``calculate_trig_loss`` with its bias correction), over every row of the
  table; a network that uses only the key frequencies loses nothing by it;
- the excluded loss: the logits with those components of every key
  frequency removed at once, on the run's training rows: low while the
  network memorizes, high once its answers rest on the key frequencies
  (Nanda et al.'s ``calculate_excluded_loss`` removes one key frequency at
  a time and reports a loss for each);
- sparsity of the embedding's spectrum, one number each: the Gini
  coefficient of the norms (0 even, → 1 one frequency) and the inverse
  participation ratio of the energy shares (1/K even, 1 one frequency).

The losses are over the whole vocabulary, as in training: the ∘ and =
logits enter every softmax unchanged and only the p symbol logits are
restricted or excluded (Nanda et al.'s ``test_logits`` drops its = logit
and reads the p symbols alone). The logits are cast
to float64 before every loss here (Nanda et al.'s
helper says float64 and casts to float32), so a near-zero loss is not
rounded to a multiple of float32's epsilon.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from grokjax.analysis import snapshot
from grokjax.checkpoint import CheckpointError

SIGNS = {"add": 1, "sub": -1}  # c = a ± b (mod p): the operations the measures read
DEFAULT_RATIO = 3.0


def basis(p: int):
    """``cos, sin [K, p]``: cos(2πka/p), sin(2πka/p) for k = 1..K = (p−1)//2."""
    import jax.numpy as jnp

    k = jnp.arange(1, (p - 1) // 2 + 1)[:, None]
    a = jnp.arange(p)[None, :]
    angle = 2 * jnp.pi * k * a / p
    return jnp.cos(angle), jnp.sin(angle)


def spectrum(rows_PxD):
    """``[K+1]``: the norm of the rows' component at each frequency, k = 0 the
    constant, in an orthonormal Fourier basis (so the squares add up to the
    matrix's squared Frobenius norm, for odd p)."""
    import jax.numpy as jnp

    p = rows_PxD.shape[0]
    cos, sin = basis(p)
    const = jnp.linalg.norm(rows_PxD.sum(0)) / jnp.sqrt(p)
    waves = jnp.sqrt(((cos @ rows_PxD) ** 2).sum(-1) + ((sin @ rows_PxD) ** 2).sum(-1))
    return jnp.concatenate([const[None], waves / jnp.sqrt(p / 2)])


def key_mask(norms_K, ratio: float = DEFAULT_RATIO):
    """``[K]`` True at the key frequencies: energy share ≥ ratio / K."""
    import jax.numpy as jnp

    energy = norms_K**2
    return energy / jnp.maximum(energy.sum(), 1e-30) >= ratio / norms_K.shape[0]


def gini(v):
    """Gini coefficient of non-negative ``v``: 0 when all are equal, (n−1)/n when one holds everything."""
    import jax.numpy as jnp

    v = jnp.sort(v)
    n = v.shape[0]
    i = jnp.arange(1, n + 1)
    return ((2 * i - n - 1) * v).sum() / (n * jnp.maximum(v.sum(), 1e-30))


def ipr(v):
    """Inverse participation ratio of the energy shares of ``v``: Σ q², q = v² / Σ v²."""
    import jax.numpy as jnp

    q = v**2 / jnp.maximum((v**2).sum(), 1e-30)
    return (q**2).sum()


def split_logits(L_PxPxP, sign: int, mask_K):
    """``(restricted, excluded)`` of symbol logits ``L[a, b, c]`` for
    ``c = a + sign·b``, as Nanda et al.'s code computes them: each output
    logit's column over the inputs, ``L[:, :, c]``, projected onto the
    directions cos and sin of w_k (a + sign·b) of the key frequencies (two
    coefficients per frequency and output), kept, plus its mean over the
    inputs (their bias correction), or removed."""
    import jax
    import jax.numpy as jnp

    p = L_PxPxP.shape[0]
    a, b = jnp.meshgrid(jnp.arange(p), jnp.arange(p), indexing="ij")
    s_PxP = (a + sign * b) % p
    # S[s, c] = Σ over (a, b) with a ± b ≡ s of L[a, b, c]: the projections need only it
    S_PxP = jax.ops.segment_sum(L_PxPxP.reshape(p * p, p), s_PxP.ravel(), p)
    angle = 2 * jnp.pi * jnp.arange(1, (p - 1) // 2 + 1)[:, None] * jnp.arange(p)[None, :] / p
    m = mask_K.astype(L_PxPxP.dtype)[:, None]
    cos, sin = m * jnp.cos(angle), m * jnp.sin(angle)  # [K, s], zero off the key frequencies
    norm2 = p**2 / 2  # Σ over (a, b) of cos²(w_k (a ± b)), for every k ≥ 1 and odd p
    alpha_KxC, beta_KxC = cos @ S_PxP / norm2, sin @ S_PxP / norm2
    key_SxC = cos.T @ alpha_KxC + sin.T @ beta_KxC
    key_PxPxP = key_SxC[s_PxP]  # back to (a, b, c)
    return key_PxPxP + L_PxPxP.mean((0, 1), keepdims=True), L_PxPxP - key_PxPxP


@dataclasses.dataclass(frozen=True)
class Progress:
    """The measure of one run at one step; ``extra`` is its key-frequency mask [K]."""

    p: int
    sign: int

    def __call__(self, config, x, y, run, params, mask_K):
        import jax.numpy as jnp

        from grokjax import losses, tasks, train

        p = self.p
        prm = params["params"]
        embed = spectrum(prm["tok_embed"]["embedding"][:p])
        unembed = spectrum(prm["unembed"]["kernel"][:, :p].T)
        logits = train.outputs(config, x, params).astype(jnp.float64)  # [p², V], rows (a, b) in order
        y_run, train_mask = train.run_split(config, y, run)
        test_mask = tasks.test_mask(train_mask, config.task.data().n_pool)
        sym = logits[:, :p].reshape(p, p, p)
        restricted, excluded = split_logits(sym, self.sign, mask_K)

        def loss(sym_logits, labels, rows):
            full = jnp.concatenate([sym_logits.reshape(p * p, p), logits[:, p:]], 1)
            w = rows.astype(jnp.float64)
            return (losses.per_example(config.loss, full, labels) * w).sum() / jnp.maximum(w.sum(), 1)

        every = jnp.ones(p * p, bool)
        return {
            "train_loss": loss(sym, y_run, train_mask),
            "test_loss": loss(sym, y, test_mask),
            "restricted_loss": loss(restricted, y, every),
            "excluded_loss": loss(excluded, y_run, train_mask),
            "gini_embed": gini(embed[1:]),
            "ipr_embed": ipr(embed[1:]),
            "gini_unembed": gini(unembed[1:]),
            "ipr_unembed": ipr(unembed[1:]),
            "embed_spectrum": embed,
            "unembed_spectrum": unembed,
        }


@dataclasses.dataclass(frozen=True)
class Spectrum:
    """The embedding's spectrum alone: what picks the key frequencies."""

    p: int

    def __call__(self, config, x, y, run, params, extra):
        return spectrum(params["params"]["tok_embed"]["embedding"][: self.p])


def check_task(plan, what: str = "the Fourier analysis"):
    """The sweep's table task, or an error: ``what`` reads x±y mod an odd p, learned by a transformer."""
    task = snapshot.need_table(plan, what, embeddings=True)
    if task.op not in SIGNS:
        raise CheckpointError(f"{what} reads x+y or x−y mod p (ops {', '.join(SIGNS)}); this sweep learns {task.op}")
    if task.modulus % 2 == 0:
        raise CheckpointError(f"{what} needs an odd modulus; this sweep has {task.modulus}")
    from grokjax import tables

    x, p = tables.table_for(task.op, task.modulus).x, task.modulus
    # the measures reshape the rows to [a, b]: every pair, a major
    assert (x[:, 0] == np.repeat(np.arange(p), p)).all() and (x[:, 2] == np.tile(np.arange(p), p)).all()
    return task


def choose_keys(out, runs, step, freqs, ratio: float, p: int) -> dict:
    """Per run, its key-frequency mask [K]: ``freqs`` for all, or picked from
    the embedding at ``step`` (the last analysed one)."""
    K = (p - 1) // 2
    if freqs is not None:
        bad = [f for f in freqs if not 1 <= f <= K]
        if bad:
            raise CheckpointError(f"frequency {bad[0]} is out of range: mod {p} has frequencies 1..{K}")
        mask = np.zeros(K, bool)
        mask[np.asarray(freqs, int) - 1] = True
        return {r: mask for r in runs}
    import jax.numpy as jnp

    snap = snapshot.load(out, runs, step)
    masks = {}
    for g in snap.groups:
        norms = snapshot.apply(g, Spectrum(p))
        for j, r in enumerate(g.runs):
            masks[r] = np.asarray(key_mask(jnp.asarray(norms[j, 1:]), ratio))
    return masks


def run(out, runs=None, step: int | None = None, *, freqs=None, ratio: float = DEFAULT_RATIO) -> list[dict]:
    """The progress measures of every chosen run at every saved step (or at
    ``step`` alone); writes ``analysis/fourier.csv`` (one row per run and
    step), ``fourier_spectrum.csv`` (per run, step and frequency) and two
    PNGs. Returns the rows of fourier.csv."""
    if not ratio > 0:
        raise CheckpointError(f"ratio must be positive (a key frequency holds ≥ ratio × the even share), got {ratio:g}")
    plan = snapshot.sweep_plan(out)
    task = check_task(plan)
    p, sign = task.modulus, SIGNS[task.op]
    runs = snapshot.check_runs(plan, runs)
    steps = snapshot.steps_to_measure(out, step)
    masks = choose_keys(out, runs, steps[-1], freqs, ratio, p)
    # where the keys came from, for the figure (redrawn from the CSV alone)
    source = "given" if freqs is not None else f"from step {steps[-1]} (ratio {ratio:g})"
    measure = Progress(p, sign)
    rows, spectra = [], []
    for s in steps:
        snap = snapshot.load(out, runs, s)
        for g in snap.groups:
            got = snapshot.apply(g, measure, np.stack([masks[r] for r in g.runs]), x64=True)
            for j, r in enumerate(g.runs):
                keys = np.flatnonzero(masks[r]) + 1
                rows.append({**snapshot.settings(plan, r), "step": s,
                             **{k: float(got[k][j]) for k in ("train_loss", "test_loss", "restricted_loss",
                                                              "excluded_loss", "gini_embed", "ipr_embed",
                                                              "gini_unembed", "ipr_unembed")},
                             "n_key": len(keys), "key_freqs": " ".join(map(str, keys)), "key_source": source})
                spectra += [{"run": r, "step": s, "freq": k, "embed_norm": float(got["embed_spectrum"][j, k]),
                             "unembed_norm": float(got["unembed_spectrum"][j, k])}
                            for k in range(got["embed_spectrum"].shape[1])]
    rows.sort(key=lambda r: (r["run"], r["step"]))
    d = snapshot.out_dir(out)
    snapshot.write_csv(d / "fourier.csv", rows)
    snapshot.write_csv(d / "fourier_spectrum.csv", spectra)
    draw(out, plan)
    return rows


def draw(out, plan=None) -> list[Path]:
    """``fourier.png`` and ``fourier_spectrum.png`` from their CSVs alone:
    each run's key frequencies are those its last row names."""
    d = Path(out) / snapshot.OUT_DIR
    plan = plan or snapshot.sweep_plan(out)
    rows = snapshot.read_csv(d / "fourier.csv")
    spectra = snapshot.read_csv(d / "fourier_spectrum.csv")
    K = max(x["freq"] for x in spectra)
    masks = {}
    for r in rows:  # sorted by run and step: the last row of a run wins
        keys = [int(k) for k in str(r["key_freqs"] or "").split()]
        masks[r["run"]] = np.isin(np.arange(1, K + 1), keys)
    plot_measures(d / "fourier.png", plan, rows)
    plot_spectrum(d / "fourier_spectrum.png", plan, spectra, masks, max(x["step"] for x in spectra))
    return [d / "fourier.png", d / "fourier_spectrum.png"]


def plot_measures(path, plan, rows):
    runs = sorted({r["run"] for r in rows})
    fig, axes = snapshot.grid(len(runs), ncols=2 if len(runs) <= 4 else 4, size=(5.2, 3.6), extra_height=1.0)
    styles = {"train_loss": ("train loss", "C0", "-"), "test_loss": ("test loss", "C3", "-"),
              "restricted_loss": ("restricted loss (key freqs only, all rows)", "C2", "--"),
              "excluded_loss": ("excluded loss (key freqs removed, train rows)", "C1", "--")}
    saved = sorted({r["step"] for r in rows})
    # a dot per saved step: a zigzag between checkpoints is two samples, not an oscillation seen
    marker = dict(marker="o", ms=2.5) if 1 < len(saved) <= snapshot.MAX_MARKED else {}
    for ax, r in zip(axes, runs):
        mine = [x for x in rows if x["run"] == r]
        steps = np.array([x["step"] for x in mine])
        keyless = not str(mine[-1]["key_freqs"] or "").strip()
        for k, (label, color, ls) in styles.items():
            if keyless and k in ("restricted_loss", "excluded_loss"):
                continue  # with no key frequency they are the losses themselves, drawn over them
            ax.plot(steps, [max(x[k], 1e-12) for x in mine], ls, color=color, label=label, lw=1.3, **marker)
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("cross-entropy")
        tw = ax.twinx()
        tw.plot(steps, [x["gini_embed"] for x in mine], ":", color="k", label="Gini of embedding spectrum")
        tw.set_ylim(0, 1)
        tw.set_ylabel("Gini", fontsize=8)
        keys = f"key freqs {mine[-1]['key_freqs']}" if not keyless else \
            "no key frequency: restricted and excluded losses not drawn"
        ax.set_title(f"{snapshot.run_label(plan, r)}: {keys}", fontsize=8)
        ax.grid(alpha=0.3)
    from matplotlib.lines import Line2D

    # from the styles, not a panel: a panel without key frequencies lacks two of them
    h1 = [Line2D([], [], ls=ls, color=color, lw=1.3, **marker) for label, color, ls in styles.values()]
    l1 = [label for label, _, _ in styles.values()]
    h1.append(Line2D([], [], ls=":", color="k"))
    l1.append("Gini of the embedding's Fourier norms (right axis)")
    if marker:
        h1.append(Line2D([], [], ls="", color="0.3", **marker))
        l1.append(f"a saved step (checkpoints {snapshot.spacing(saved)}); none between")
    fig.legend(h1, l1, loc="outside lower center", ncols=3 if len(runs) > 1 else 2, fontsize=7)
    sources = {str(x.get("key_source") or "") for x in rows}
    source = sources.pop() if len(sources) == 1 else ""
    keys_from = ("key frequencies as given" if source == "given"
                 else f"key frequencies {source.replace('from step ', 'from the embedding at step ')}" if source
                 else "key frequencies from the last saved step")  # a CSV written before key_source
    snapshot.title(fig, f"Fourier progress measures (Nanda et al. 2023): {plan.spec.task.describe()}, {keys_from}")
    snapshot.save(fig, path)
    return fig


def plot_spectrum(path, plan, spectra, masks, step):
    runs = sorted(masks)
    fig, axes = snapshot.grid(len(runs), ncols=2 if len(runs) <= 4 else 4, size=(5.2, 3.0), extra_height=0.8)
    for ax, r in zip(axes, runs):
        mine = [x for x in spectra if x["run"] == r and x["step"] == step and x["freq"] > 0]
        k = np.array([x["freq"] for x in mine])
        v = np.array([x["embed_norm"] for x in mine])
        key = masks[r][k - 1]
        ax.bar(k[~key], v[~key], color="0.6", width=0.8, label="other frequencies")
        ax.bar(k[key], v[key], color="C3", width=0.8, label="key frequencies")
        for f, h in zip(k[key], v[key]):
            ax.annotate(str(f), (f, h), ha="center", va="bottom", fontsize=7)
        ax.set_xlabel("frequency k (w = 2πk/p)")
        ax.set_ylabel("embedding norm at k")
        ax.set_title(snapshot.run_label(plan, r), fontsize=8)
    from matplotlib.patches import Patch

    # drawn, not read off the first panel: one without key frequencies has no red bar to show
    h = [Patch(color="0.6", label="other frequencies"), Patch(color="C3", label="key frequencies")]
    fig.legend(handles=h, loc="outside lower center", ncols=2, fontsize=8)
    snapshot.title(fig, f"Fourier spectrum of the embedding at step {step}: {plan.spec.task.describe()}")
    snapshot.save(fig, path)
    return fig
