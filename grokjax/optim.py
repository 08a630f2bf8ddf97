"""The optimizer as one optax chain, built per run from Config and RunParams.

Per-run numbers (learning rate, weight decay, noise scales, …) enter as traced
scalars, so one chain serves every run of a vmapped sweep. The paper's default
(appendix A.1.2) is AdamW, lr 1e-3, weight decay 1, β = (0.9, 0.98), and a
linear warmup over the first 10 updates; AdamW here is literally
``scale_by_adam → add_decayed_weights → scale_by_learning_rate``, as in optax.

The interventions of Power et al. and its successors are transforms in the
same chain. Which of them are in the chain is static (``Config.transforms``:
the sweep puts one in when any run uses it); how strong each is, is a per-run
number, and a run with the number at zero gets exactly the update it would
get without the transform. The order:

    ⊥Grad → Grokfast-EMA → Grokfast-MA → gradient noise → L2 (coupled) decay → Adam
          → decay toward 0 → decay toward init → update noise → learning rate
          → weight-norm projection
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

# transforms of config.TRANSFORMS that act on the model or the data, not in the chain (see train.py)
MODEL_TRANSFORMS = ("weight_noise", "dropout", "outliers", "messiness")


def lr_schedule(lr, warmup_steps: int, drop_every: int = 0, drop_factor: float = 1.0):
    """Linear warmup, then steps down: update ``t = 0, 1, …`` uses
    ``lr·min(1, (t+1)/warmup_steps)·drop_factor^⌊t/drop_every⌋`` (no drop
    when ``drop_every`` is 0)."""

    def schedule(count):
        rate = lr * jnp.ones_like(count, jnp.float32)
        if warmup_steps > 0:
            rate = rate * jnp.minimum(1.0, (count + 1) / warmup_steps)
        if drop_every > 0:
            rate = rate * jnp.asarray(drop_factor, jnp.float32) ** (count // drop_every)
        return rate

    return schedule


# ---------------------------------------------------------------- transforms


class InitParamsState(NamedTuple):
    init_params: optax.Params  # θ₀


def decay_toward_init(weight_decay_init) -> optax.GradientTransformation:
    """Adds ``weight_decay_init·(θ − θ₀)``: decoupled decay toward the initial
    parameters θ₀, kept in the state (optax's ``add_decayed_weights`` decays
    toward 0 only)."""

    def init(params):
        return InitParamsState(jax.tree.map(jnp.asarray, params))

    def update(updates, state, params):
        updates = jax.tree.map(lambda u, p, p0: u + weight_decay_init * (p - p0), updates, params, state.init_params)
        return updates, state

    return optax.GradientTransformation(init, update)


class CountState(NamedTuple):
    count: jax.Array  # int32: updates so far; with the key, names this step's noise


def normal_like(key, tree):
    """ε ~ N(0, I) shaped like ``tree``, one key per leaf. Drawn in float32
    and cast, so that a seed gives the same noise under ``x64``."""
    leaves, treedef = jax.tree.flatten(tree)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(treedef, [jax.random.normal(k, x.shape, jnp.float32).astype(x.dtype)
                                        for k, x in zip(keys, leaves)])


def add_constant_noise(std, key) -> optax.GradientTransformation:
    """Adds ``std·ε``, ε ~ N(0, I) fresh each update from ``fold_in(key, count)``.

    The variance is constant in time: ``optax.add_noise`` anneals it, the
    paper's noise does not. Before Adam it is gradient noise; after Adam and
    before the learning rate it is the paper's update noise,
    ``W ← W + lr·(ΔW_adam + σ·ε)``.
    """

    def init(params):
        del params
        return CountState(jnp.zeros((), jnp.int32))

    def update(updates, state, params=None):
        eps = normal_like(jax.random.fold_in(key, state.count), updates)
        updates = jax.tree.map(lambda u, e: u + std * e, updates, eps)
        return updates, CountState(state.count + 1)

    return optax.GradientTransformation(init, update)


class EmaState(NamedTuple):
    ema: optax.Updates
    count: jax.Array


def grokfast_ema(lam, alpha) -> optax.GradientTransformation:
    """Grokfast-EMA (Lee et al. 2024): ``g ← g + λ·EMA_α(g)``, where
    ``EMA_t = α·EMA_{t−1} + (1−α)·g_t`` starts at the first gradient, as in
    the authors' code. It amplifies the slow component of the gradient."""

    def init(params):
        return EmaState(jax.tree.map(jnp.zeros_like, params), jnp.zeros((), jnp.int32))

    def update(updates, state, params=None):
        first = state.count == 0
        ema = jax.tree.map(lambda m, g: jnp.where(first, g, alpha * m + (1 - alpha) * g), state.ema, updates)
        updates = jax.tree.map(lambda g, m: g + lam * m, updates, ema)
        return updates, EmaState(ema, state.count + 1)

    return optax.GradientTransformation(init, update)


class MaState(NamedTuple):
    grads: optax.Updates  # per leaf [W, ...]: the last W gradients, a ring
    count: jax.Array  # int32: gradients seen


def grokfast_ma(lam, window, ring: int) -> optax.GradientTransformation:
    """Grokfast-MA (Lee et al. 2024, their first filter): ``g ← g + λ·mean of
    the last w gradients``, applied once w gradients have been seen (the
    authors' warmup), the current one included. ``ring`` (static) is the
    buffer's length, the program's largest window; each run's ``window``
    (traced) averages the newest ``window`` of it. λ = 0 passes g unchanged."""

    def init(params):
        return MaState(jax.tree.map(lambda p: jnp.zeros((ring, *p.shape), p.dtype), params), jnp.zeros((), jnp.int32))

    def update(updates, state, params=None):
        slot = state.count % ring
        grads = jax.tree.map(lambda b, g: jax.lax.dynamic_update_index_in_dim(b, g, slot, 0), state.grads, updates)
        w = window.astype(jnp.int32)
        age = (slot - jnp.arange(ring)) % ring  # 0: the gradient just stored
        weights = (age < w) / w.astype(jnp.float32)
        ready = state.count + 1 >= w

        def one(g, b):
            mean = jnp.tensordot(weights.astype(b.dtype), b, axes=1)
            return jnp.where(ready, g + lam * mean, g)

        return jax.tree.map(one, updates, grads), MaState(grads, state.count + 1)

    return optax.GradientTransformation(init, update)


def orthogonal_gradient(on, eps: float = 1e-30) -> optax.GradientTransformation:
    """⊥Grad (Prieto et al. 2025): per tensor, remove from g its component along
    the weights w, ``g⊥ = g − (⟨g, w⟩/⟨w, w⟩)·w``, then rescale g⊥ to ‖g‖.
    ``on`` is 0 or 1 per run; 0 passes g through unchanged."""

    def update(updates, state, params):
        def one(g, w):
            # sums of products rather than vdot: a dot to a scalar is tiled
            # differently by XLA:CPU depending on the program (device count)
            g_perp = g - (jnp.sum(g * w) / (jnp.sum(w * w) + eps)) * w
            g_perp = g_perp * (jnp.sqrt(jnp.sum(g * g)) / (jnp.sqrt(jnp.sum(g_perp * g_perp)) + eps))
            return jnp.where(on > 0, g_perp, g)

        return jax.tree.map(one, updates, params), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def project_weight_norm(target, eps: float = 1e-30) -> optax.GradientTransformation:
    """The constrained training of Omnigrok §5: after the step, rescale all
    parameters together so that their total L2 norm is ``target``; a target of
    0 leaves the update alone. Must come last: it needs the final update."""

    def update(updates, state, params):
        new = optax.apply_updates(params, updates)
        scale = target / (optax.tree.norm(new) + eps)
        projected = jax.tree.map(lambda n, p: n * scale - p, new, params)
        return jax.tree.map(lambda pr, u: jnp.where(target > 0, pr, u), projected, updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


# ---------------------------------------------------------------- the chain


def noise_keys(seed):
    """Keys of the run's gradient, update and weight noise and its dropout
    (apart from its init, split and batch keys)."""
    return tuple(jax.random.split(jax.random.fold_in(jax.random.key(seed), 1), 4))


def make_optimizer(config, run) -> optax.GradientTransformation:
    """This run's chain: AdamW plus each transform in ``config.transforms``,
    at the strength of the run's own number (scalars under vmap)."""
    on = set(getattr(config, "transforms", ())) - set(MODEL_TRANSFORMS)
    if on & {"grad_noise", "update_noise"}:
        grad_key, update_key, _, _ = noise_keys(run.seed)
    parts = []
    if "orthograd" in on:
        parts.append(orthogonal_gradient(run.orthograd))
    if "grokfast" in on:
        parts.append(grokfast_ema(run.grokfast_lambda, run.grokfast_alpha))
    if "grokfast_ma" in on:
        parts.append(grokfast_ma(run.grokfast_ma_lambda, run.grokfast_window, config.grokfast_window))
    if "grad_noise" in on:
        parts.append(add_constant_noise(run.grad_noise, grad_key))
    if "weight_decay_l2" in on:  # inside Adam's normalization: PyTorch's Adam(weight_decay=λ), not AdamW
        parts.append(optax.add_decayed_weights(run.weight_decay_l2))
    parts += [
        optax.scale_by_adam(b1=config.beta1, b2=config.beta2, eps=config.eps),
        optax.add_decayed_weights(run.weight_decay),
    ]
    if "weight_decay_init" in on:
        parts.append(decay_toward_init(run.weight_decay_init))
    if "update_noise" in on:
        parts.append(add_constant_noise(run.update_noise, update_key))
    parts.append(optax.scale_by_learning_rate(lr_schedule(run.lr, config.warmup_steps, config.lr_drop_every,
                                                          config.lr_drop_factor)))
    if "representation_lr" in on:  # its step and its decay, as a parameter group of its own learning rate
        parts.append(optax.masked(optax.scale(run.representation_lr), representation_only))
    if "weight_norm_target" in on:
        parts.append(project_weight_norm(run.weight_norm_target))
    return optax.chain(*parts)


def representation_only(params):
    """True on the trained representation's leaves (``model.MLP``'s ``representation``)."""
    return jax.tree_util.tree_map_with_path(
        lambda path, _: any(getattr(k, "key", None) == "representation" for k in path), params)
