"""Sharpness φ of Keskar et al. 2016, as Power et al. use it (§A.5, Figure 7).

For weights x and training loss f, over the box
``C_ε = {z : |z_i| ≤ ε (|x_i| + 1)}`` (each parameter's own scale, Keskar's
A = I case):

    φ = 100 · (max_{z ∈ C_ε} f(x + z) − f(x)) / (1 + f(x))

Keskar et al. find the max with 10 iterations of L-BFGS-B; here it is
projected gradient ascent: ``steps`` signed-gradient steps of size
``2.5 ε (|x|+1) / steps`` from z = 0, each clipped back into the box, and the
largest loss seen (from z = 0, so a coordinate whose gradient is exactly 0
stays put). Defaults: ε = 1e-4 and 20 steps. Keskar et al. use 1e-3 and
5e-4, but with this stronger ascent 1e-3 saturates on the paper's model: on
8 S5 runs (results/look_s5_cpu) every run's loss rose to 11–19 (φ 750–1,140),
which ranks them by how far their loss can be pushed (Spearman ρ against val
accuracy +0.71), while 1e-4 and 1e-5 agree with each other (ρ −0.90 and
−0.95). f is the loss on every training row of the run (its outliers
included), in blocks, so φ is exact for that loss and needs no batches.

``subspace = D`` (``--subspace D``) searches a random D-dimensional subspace
instead, Keskar's other case: rows of A⁺ (D × n) drawn U(−1, 1) and
normalized, A its pseudo-inverse, the box ``|y_j| ≤ ε (|(A⁺x)_j| + 1)`` and
the point ``x + A y``. That is the box the paper's released code searches by
default (openai/grok ``measure.get_sharpness``: D = 10, ε = 1e-3, 10
iterations of L-BFGS-B; the same signed-gradient ascent here). That code
hands L-BFGS-B the loss itself, which it minimizes, and flips signs after,
so its number is the loss's fall over 1 − f, not φ; this is φ. A is drawn
from the run's seed (``SUBSPACE_SEED`` folded with it), so a rerun draws the
same A.

Every run is one program: ascent, loss and val accuracy of all runs at once.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from grokjax.analysis import snapshot

DEFAULT_EPS = 1e-4
DEFAULT_STEPS = 20
GROKKED_AT = 0.99  # val accuracy that counts as grokked, as the sweeps' steps_to_99_val
PAPER_RHO = "ρ = −0.795 on x·y in S5 (s5_mul)"  # Power et al. Figure 7
SUBSPACE_SEED = 0  # with the run's seed, draws its random subspace


def ascent(loss_fn, params, eps, steps: int):
    """``(φ, f(x), max f)`` for a loss function of a params pytree, by
    projected signed-gradient ascent in the box of radius ``eps·(|x|+1)``."""
    import jax
    import jax.numpy as jnp

    radius = jax.tree.map(lambda p: eps * (jnp.abs(p) + 1), params)
    f0 = loss_fn(params)

    def body(_, carry):
        z, best = carry
        g = jax.grad(lambda z: loss_fn(jax.tree.map(jnp.add, params, z)))(z)
        z = jax.tree.map(lambda z, g, r: jnp.clip(z + 2.5 * r / steps * jnp.sign(g), -r, r), z, g, radius)
        return z, jnp.maximum(best, loss_fn(jax.tree.map(jnp.add, params, z)))

    zero = jax.tree.map(jnp.zeros_like, params)
    _, top = jax.lax.fori_loop(0, steps, body, (zero, f0))
    return 100 * (top - f0) / (1 + f0), f0, top


def random_subspace(key, n: int, dim: int):
    """Keskar's A⁺ (``[dim, n]``, rows U(−1, 1) scaled to unit norm) and A,
    its pseudo-inverse (``[n, dim]``, so that A⁺A = I)."""
    import jax
    import jax.numpy as jnp

    a_plus = jax.random.uniform(key, (dim, n), jnp.float32, -1.0, 1.0)
    a_plus = a_plus / jnp.linalg.norm(a_plus, axis=1, keepdims=True)
    return a_plus, a_plus.T @ jnp.linalg.inv(a_plus @ a_plus.T)  # full row rank: pinv = A⁺ᵀ(A⁺A⁺ᵀ)⁻¹


def subspace_ascent(loss_fn, params, eps, steps: int, dim: int, key):
    """``ascent`` over ``x + A y`` for y in Keskar's box of a random
    ``dim``-dimensional subspace (``random_subspace``)."""
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    x0, unravel = ravel_pytree(params)
    if dim > x0.size:
        raise ValueError(f"--subspace {dim} is more than the model's {x0.size} parameters")
    a_plus, a = random_subspace(key, x0.size, dim)
    c = a_plus @ x0  # the box's scale: ε·(|A⁺x| + 1), as ascent's ε·(|x| + 1) with x = c
    return ascent(lambda c2: loss_fn(unravel(x0 + a @ (c2 - c))), c, eps, steps)


@dataclasses.dataclass(frozen=True)
class Sharpness:
    """The measure of one run: φ, its training loss, and val accuracy afresh."""

    eps: float = DEFAULT_EPS
    steps: int = DEFAULT_STEPS
    subspace: int = 0  # 0: the whole parameter space; D: a random D-dimensional subspace

    def __call__(self, config, x, y, run, params, extra):
        import jax

        from grokjax import train

        y_run, mask = train.run_split(config, y, run)
        loss = lambda p: train.data_loss(config, x, y_run, mask, p)  # noqa: E731
        if self.subspace:
            key = jax.random.fold_in(jax.random.key(SUBSPACE_SEED), run.seed)
            phi, f0, top = subspace_ascent(loss, params, self.eps, self.steps, self.subspace, key)
        else:
            phi, f0, top = ascent(loss, params, self.eps, self.steps)
        m = train.evaluate(config, x, y_run, mask, params)
        return {"phi": phi, "train_loss": f0, "max_train_loss": top, "train_acc": m["train_acc"], "val_acc": m["val_acc"]}


def run(out, runs=None, step: int | None = None, *, eps: float = DEFAULT_EPS, steps: int = DEFAULT_STEPS,
        subspace: int = 0) -> list[dict]:
    """φ of every chosen run at ``step``; writes ``analysis/sharpness_step<S>_eps<ε>.csv``
    (``…_sub<D>.csv`` in a random D-dimensional subspace) and a PNG of φ
    against val accuracy with Spearman's ρ across runs."""
    from grokjax.checkpoint import CheckpointError

    if not eps > 0:
        raise CheckpointError(f"--eps must be > 0, got {eps}")
    if steps < 1:
        raise CheckpointError(f"--ascent-steps must be >= 1, got {steps}")
    if subspace < 0:
        raise CheckpointError(f"--subspace must be >= 0 (0: the whole parameter space), got {subspace}")
    snap = snapshot.load(out, runs, step)
    measure = Sharpness(float(eps), int(steps), int(subspace))
    rows = []
    for g in snap.groups:
        try:
            got = snapshot.apply(g, measure)
        except ValueError as e:  # a subspace larger than the model, found as the program is traced
            raise CheckpointError(str(e)) from None
        order = ("phi", "val_acc", "train_acc", "train_loss", "max_train_loss")
        rows += [{**snapshot.settings(snap.plan, r), "step": snap.step, **{k: float(got[k][j]) for k in order},
                  "eps": eps, "ascent_steps": steps, "subspace": subspace} for j, r in enumerate(g.runs)]
    rows.sort(key=lambda r: r["run"])
    name = f"sharpness_step{snap.step}_eps{eps:g}" + (f"_sub{subspace}" if subspace else "")
    path = snapshot.write_csv(snapshot.out_dir(out) / f"{name}.csv", rows)
    draw(path, snap.plan)
    return rows


def draw(path, plan) -> Path:
    """The PNG beside a ``sharpness_step<S>_eps<ε>.csv``, from it alone."""
    path = Path(path)
    rows = snapshot.read_csv(path)
    r = rows[0]
    plot(path.with_suffix(".png"), plan, rows, r["step"], r["eps"], r["ascent_steps"], r.get("subspace", 0))
    return path.with_suffix(".png")


def spearman(rows: list[dict]) -> tuple[float | None, float | None]:
    """Spearman's ρ of φ against val accuracy across runs, and its p-value."""
    from scipy.stats import spearmanr

    phi = np.array([r["phi"] for r in rows])
    acc = np.array([r["val_acc"] for r in rows])
    if len(rows) < 3 or np.ptp(phi) == 0 or np.ptp(acc) == 0:
        return None, None
    got = spearmanr(phi, acc)
    return float(got.statistic), float(got.pvalue)


def grokked(rows: list[dict], at: float = GROKKED_AT) -> int:
    """How many runs have val accuracy ≥ ``at`` at the measured step."""
    return sum(r["val_acc"] >= at for r in rows)


def caption(describe: str, step: int, rows: list[dict]) -> str:
    """The title: this sweep's ρ beside how many runs grokked, and the
    paper's ρ with the conditions it was measured under, since ρ across runs
    means little when nearly all or nearly none have grokked."""
    rho, p = spearman(rows)
    corr = "Spearman ρ: needs 3 runs that differ" if rho is None else \
        f"Spearman ρ = {rho:.3f} (p = {p:.2g})".replace("-", "−")
    return (f"Sharpness against generalization: {describe} at step {step}, grokked {grokked(rows)}/{len(rows)} runs "
            f"at this step (val acc ≥ {GROKKED_AT:g}). {corr}. The paper's {PAPER_RHO} was measured with about "
            f"half of its runs grokked")


def plot(path, plan, rows, step, eps, steps, subspace: int = 0):
    import matplotlib

    fig, (ax,) = snapshot.grid(1, size=(7.0, 5.0))
    size_key = "frac" if plan.spec.data_axis == "frac" else "n_train"
    sizes = sorted({r[size_key] for r in rows})
    cmap = matplotlib.colormaps["viridis"]
    for i, s in enumerate(sizes):
        mine = [r for r in rows if r[size_key] == s]
        ax.scatter([r["val_acc"] for r in mine], [r["phi"] for r in mine], s=30,
                   color=cmap(i / max(len(sizes) - 1, 1)), label=f"{size_key} {s:g}", edgecolor="k", lw=0.4)
    for r in rows:
        ax.annotate(str(r["run"]), (r["val_acc"], r["phi"]), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.axvline(GROKKED_AT, color="0.5", ls=":", lw=0.8, label=f"grokked: val acc ≥ {GROKKED_AT:g}")
    ax.plot([], [], ls="", label="the number beside a point: its run")
    ax.set_xlim(-0.02, 1.02)  # accuracy's whole range, also for one run or runs of one accuracy
    ax.set_xlabel("val accuracy at this step")
    where = f", a random {subspace}-dim subspace" if subspace else ""
    ax.set_ylabel(f"sharpness φ (ε = {eps:g}, {steps} ascent steps{where})")
    if min(r["phi"] for r in rows) > 0:
        from grokjax import plots

        ax.set_yscale("log")
        plots.plain_log_ticks(ax.yaxis)  # 60, not 6×10¹
    ax.legend(fontsize=8, title="run's data", title_fontsize=8)
    ax.grid(alpha=0.3)
    snapshot.title(fig, caption(plan.spec.task.describe(), step, rows))
    snapshot.save(fig, path)
    return fig
