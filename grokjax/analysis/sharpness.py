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


@dataclasses.dataclass(frozen=True)
class Sharpness:
    """The measure of one run: φ, its training loss, and val accuracy afresh."""

    eps: float = DEFAULT_EPS
    steps: int = DEFAULT_STEPS

    def __call__(self, config, x, y, run, params, extra):
        from grokjax import train

        y_run, mask = train.run_split(config, y, run)
        phi, f0, top = ascent(lambda p: train.data_loss(config, x, y_run, mask, p), params, self.eps, self.steps)
        m = train.evaluate(config, x, y_run, mask, params)
        return {"phi": phi, "train_loss": f0, "max_train_loss": top, "train_acc": m["train_acc"], "val_acc": m["val_acc"]}


def run(out, runs=None, step: int | None = None, *, eps: float = DEFAULT_EPS, steps: int = DEFAULT_STEPS) -> list[dict]:
    """φ of every chosen run at ``step``; writes ``analysis/sharpness_step<S>_eps<ε>.csv``
    and a PNG of φ against val accuracy with Spearman's ρ across runs."""
    from grokjax.checkpoint import CheckpointError

    if not eps > 0:
        raise CheckpointError(f"--eps must be > 0, got {eps}")
    if steps < 1:
        raise CheckpointError(f"--ascent-steps must be >= 1, got {steps}")
    snap = snapshot.load(out, runs, step)
    measure = Sharpness(float(eps), int(steps))
    rows = []
    for g in snap.groups:
        got = snapshot.apply(g, measure)
        order = ("phi", "val_acc", "train_acc", "train_loss", "max_train_loss")
        rows += [{**snapshot.settings(snap.plan, r), "step": snap.step, **{k: float(got[k][j]) for k in order},
                  "eps": eps, "ascent_steps": steps} for j, r in enumerate(g.runs)]
    rows.sort(key=lambda r: r["run"])
    path = snapshot.write_csv(snapshot.out_dir(out) / f"sharpness_step{snap.step}_eps{eps:g}.csv", rows)
    draw(path, snap.plan)
    return rows


def draw(path, plan) -> Path:
    """The PNG beside a ``sharpness_step<S>_eps<ε>.csv``, from it alone."""
    path = Path(path)
    rows = snapshot.read_csv(path)
    r = rows[0]
    plot(path.with_suffix(".png"), plan, rows, r["step"], r["eps"], r["ascent_steps"])
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


def plot(path, plan, rows, step, eps, steps):
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
    ax.set_ylabel(f"sharpness φ (ε = {eps:g}, {steps} ascent steps)")
    if min(r["phi"] for r in rows) > 0:
        from grokjax import plots

        ax.set_yscale("log")
        plots.plain_log_ticks(ax.yaxis)  # 60, not 6×10¹
    ax.legend(fontsize=8, title="run's data", title_fontsize=8)
    ax.grid(alpha=0.3)
    snapshot.title(fig, caption(plan.spec.task.describe(), step, rows))
    snapshot.save(fig, path)
    return fig
