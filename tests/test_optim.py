import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from grokjax import optim
from grokjax.config import Config
from grokjax.knobs import KNOBS, TRANSFORMS
from grokjax.optim import lr_schedule, make_optimizer


class Run:
    def __init__(self, lr, weight_decay, seed=0, **numbers):
        self.lr, self.weight_decay, self.seed = jnp.float32(lr), jnp.float32(weight_decay), jnp.int32(seed)
        for k, v in {**{k.name: k.default for k in KNOBS[2:]}, **numbers}.items():
            setattr(self, k, jnp.float32(v))


def _tree(key, scale=1.0):
    k1, k2 = jax.random.split(key)
    return {"w": scale * jax.random.normal(k1, (6, 5)), "b": scale * jax.random.normal(k2, (5,))}


def test_warmup_is_linear_over_the_first_updates():
    s = lr_schedule(1e-3, 10)
    np.testing.assert_allclose([s(jnp.int32(t)) for t in (0, 4, 9, 10, 1000)], [1e-4, 5e-4, 1e-3, 1e-3, 1e-3], rtol=1e-6)


def test_the_learning_rate_drops_by_its_factor_every_n_updates_after_warmup():
    s = lr_schedule(1e-2, 0, drop_every=5000, drop_factor=0.2)  # the Omnigrok notebooks' schedule
    np.testing.assert_allclose([s(jnp.int32(t)) for t in (0, 4999, 5000, 9999, 10000, 14999)],
                               [1e-2, 1e-2, 2e-3, 2e-3, 4e-4, 4e-4], rtol=1e-6)
    s = lr_schedule(1e-3, 10, drop_every=3, drop_factor=0.5)  # both: warmup times the drop
    np.testing.assert_allclose([s(jnp.int32(t)) for t in (0, 2, 3, 9, 10)],
                               [1e-4, 3e-4, 0.5 * 4e-4, 0.125 * 1e-3, 0.125 * 1e-3], rtol=1e-6)
    assert lr_schedule(1e-3, 10, 0, 0.2)(jnp.int32(10**6)) == pytest.approx(1e-3)  # every 0: never


def test_the_drop_gives_what_optax_piecewise_constant_schedule_gives():
    """lr 1e-2 dropping ×0.5 at update 3 of 6, against optax's own schedule."""
    params = _tree(jax.random.PRNGKey(0))
    grads = [_tree(jax.random.PRNGKey(i + 1)) for i in range(6)]
    drop = _rollout(optax.adam(lr_schedule(1e-2, 0, 3, 0.5)), params, grads)
    ref = _rollout(optax.adam(optax.piecewise_constant_schedule(1e-2, {3: 0.5})), params, grads)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), drop, ref)


def _rollout(opt, params, grads_seq):
    state = opt.init(params)
    for g in grads_seq:
        u, state = opt.update(g, state, params)
        params = optax.apply_updates(params, u)
    return params


@pytest.mark.parametrize("lr, wd", [(1e-3, 1.0), (3e-3, 0.0)])
def test_chain_is_adamw_with_the_papers_betas(lr, wd):
    cfg = Config(warmup_steps=0)
    k1, k2 = jax.random.split(jax.random.key(0))
    params = {"w": jax.random.normal(k1, (5, 3)), "b": jnp.ones(3)}
    grads = [jax.tree.map(lambda p, i=i: jax.random.normal(jax.random.fold_in(k2, i), p.shape), params) for i in range(5)]
    ours = _rollout(make_optimizer(cfg, Run(lr, wd)), params, grads)
    ref = _rollout(optax.adamw(lr, b1=0.9, b2=0.98, eps=1e-8, weight_decay=wd), params, grads)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), ours, ref)


def test_warmup_scales_the_whole_adamw_update_weight_decay_included():
    k1, k2 = jax.random.split(jax.random.key(2))
    params = {"w": jax.random.normal(k1, (5, 3)), "b": jnp.ones(3)}
    grads = [jax.tree.map(lambda p, i=i: jax.random.normal(jax.random.fold_in(k2, i), p.shape), params) for i in range(12)]
    ours = _rollout(make_optimizer(Config(warmup_steps=10), Run(1e-3, 1.0)), params, grads)
    ref = _rollout(optax.adamw(lr_schedule(1e-3, 10), b1=0.9, b2=0.98, eps=1e-8, weight_decay=1.0), params, grads)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), ours, ref)


def test_gradient_filters_act_on_the_gradient_before_adam():
    # ⊥Grad, then Grokfast-EMA, then AdamW: the filters shape what Adam normalizes, not Adam's step
    k1, k2 = jax.random.split(jax.random.key(3))
    params = {"w": jax.random.normal(k1, (5, 3)), "b": jnp.ones(3)}
    grads = [jax.tree.map(lambda p, i=i: jax.random.normal(jax.random.fold_in(k2, i), p.shape), params) for i in range(6)]
    cfg = Config(warmup_steps=0, transforms=("orthograd", "grokfast"))
    ours = _rollout(make_optimizer(cfg, Run(1e-3, 1.0, orthograd=1.0, grokfast_lambda=2.0, grokfast_alpha=0.9)),
                    params, grads)
    ref = _rollout(optax.chain(optim.orthogonal_gradient(1.0), optim.grokfast_ema(2.0, 0.9),
                               optax.adamw(1e-3, b1=0.9, b2=0.98, eps=1e-8, weight_decay=1.0)), params, grads)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), ours, ref)
    after = _rollout(optax.chain(optax.adamw(1e-3, b1=0.9, b2=0.98, eps=1e-8, weight_decay=1.0),
                                 optim.grokfast_ema(2.0, 0.9)), params, grads)
    assert not np.allclose(ours["w"], after["w"], rtol=1e-4)  # the order matters: the check can fail


def test_l2_decay_is_pytorchs_adam_weight_decay_after_grokfast():
    """The Grokfast authors' update, written out: the filter sees the loss's
    gradient only, then PyTorch's Adam(weight_decay=λ₂) adds λ₂·θ inside its
    normalization (so, unlike AdamW's decay, it is rescaled by √v)."""
    lr, l2, lam, alpha, b1, b2, eps = 1e-2, 0.05, 2.0, 0.9, 0.9, 0.98, 1e-8
    k1, k2 = jax.random.split(jax.random.key(4))
    params = {"w": jax.random.normal(k1, (5, 3)), "b": jnp.ones(3)}
    grads = [jax.tree.map(lambda p, i=i: 1e-3 * jax.random.normal(jax.random.fold_in(k2, i), p.shape), params)
             for i in range(6)]
    cfg = Config(warmup_steps=0, transforms=("grokfast", "weight_decay_l2"))
    ours = _rollout(make_optimizer(cfg, Run(lr, 0.0, weight_decay_l2=l2, grokfast_lambda=lam, grokfast_alpha=alpha)),
                    params, grads)
    for k in params:
        theta, m, v, ema = np.asarray(params[k], np.float64), 0.0, 0.0, None
        for t, g in enumerate(grads, 1):
            g = np.asarray(g[k], np.float64)
            ema = g if ema is None else alpha * ema + (1 - alpha) * g
            g = g + lam * ema + l2 * theta
            m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
            theta = theta - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        np.testing.assert_allclose(ours[k], theta, rtol=1e-5, atol=1e-6)
    # the same λ as AdamW's decoupled decay moves the weights differently: the check can fail
    adamw = _rollout(make_optimizer(Config(warmup_steps=0, transforms=("grokfast",)),
                                    Run(lr, l2, grokfast_lambda=lam, grokfast_alpha=alpha)), params, grads)
    assert not np.allclose(adamw["w"], ours["w"], rtol=1e-3)


def test_lr_and_weight_decay_are_per_run_numbers_under_vmap():
    cfg = Config()
    params = {"w": jnp.ones((4,))}
    grads = [{"w": jnp.full((4,), 0.5)}] * 3
    lrs, wds = jnp.array([1e-3, 3e-3]), jnp.array([1.0, 0.0])

    def one(lr, wd):
        return _rollout(make_optimizer(cfg, Run(lr, wd)), params, grads)["w"]

    both = jax.jit(jax.vmap(one))(lrs, wds)
    for i in range(2):
        np.testing.assert_allclose(both[i], one(lrs[i], wds[i]), rtol=1e-6)
    assert not np.allclose(both[0], both[1])


def test_every_transform_at_zero_is_exactly_plain_adamw():
    # The design rule: a run with its number at 0 gets the update it would get
    # without the transform, so one chain serves runs with and without it.
    params = _tree(jax.random.key(0))
    grads = [_tree(jax.random.key(i + 1)) for i in range(4)]
    plain = _rollout(make_optimizer(Config(), Run(1e-3, 1.0)), params, grads)
    # representation_lr needs a trained representation (at 1 it is plain: test_representation.py)
    everything = Config(transforms=tuple(t for t in TRANSFORMS if t not in (*optim.MODEL_TRANSFORMS, "representation_lr")),
                        grokfast_window=2)
    ours = _rollout(make_optimizer(everything, Run(1e-3, 1.0, grokfast_window=2)), params, grads)
    jax.tree.map(np.testing.assert_array_equal, ours, plain)


def test_decay_toward_init_pulls_toward_the_initial_parameters():
    p0 = _tree(jax.random.key(0))
    t = optim.decay_toward_init(0.5)
    state = t.init(p0)
    p = jax.tree.map(lambda x: x + 2.0, p0)
    zeros = jax.tree.map(jnp.zeros_like, p)
    u, _ = t.update(zeros, state, p)
    jax.tree.map(lambda a: np.testing.assert_allclose(a, 1.0, rtol=1e-6), u)  # 0.5·(θ − θ₀)


def test_constant_noise_has_constant_variance_and_fresh_draws():
    params = {"w": jnp.zeros((200, 500))}
    t = optim.add_constant_noise(0.1, jax.random.key(3))
    state = t.init(params)
    draws = []
    for count in (0, 1, 10_000):
        u, _ = t.update(params, state._replace(count=jnp.int32(count)), params)
        draws.append(np.asarray(u["w"]))
        assert abs(draws[-1].std() - 0.1) < 2e-3 and abs(draws[-1].mean()) < 2e-3
    assert not np.allclose(draws[0], draws[1])
    again, state2 = t.update(params, state, params)
    np.testing.assert_array_equal(again["w"], draws[0])  # same key and count, same noise
    assert int(state2.count) == 1


def test_update_noise_enters_before_the_learning_rate():
    # W ← W + lr·(ΔW_adam + σ·ε): with the same noise key, the difference from
    # the noiseless update is exactly −lr·σ·ε (optax updates carry the minus sign).
    cfg = Config(warmup_steps=0, transforms=("update_noise",))
    params, grads = _tree(jax.random.key(0)), _tree(jax.random.key(1))
    lr, sigma = 1e-2, 0.3
    noisy = make_optimizer(cfg, Run(lr, 0.0, seed=5, update_noise=sigma))
    clean = make_optimizer(Config(warmup_steps=0), Run(lr, 0.0))
    u_noisy, _ = noisy.update(grads, noisy.init(params), params)
    u_clean, _ = clean.update(grads, clean.init(params), params)
    eps = optim.normal_like(jax.random.fold_in(optim.noise_keys(jnp.int32(5))[1], 0), params)
    jax.tree.map(lambda a, b, e: np.testing.assert_allclose(a - b, -lr * sigma * e, rtol=1e-4, atol=1e-7),
                 u_noisy, u_clean, eps)


def test_grokfast_adds_lambda_times_the_ema_of_gradients():
    lam, alpha = 2.0, 0.9
    t = optim.grokfast_ema(lam, alpha)
    g1, g2 = {"w": jnp.array([1.0, -2.0])}, {"w": jnp.array([3.0, 0.5])}
    state = t.init(g1)
    u1, state = t.update(g1, state)
    np.testing.assert_allclose(u1["w"], g1["w"] + lam * g1["w"], rtol=1e-6)  # EMA starts at g1
    u2, state = t.update(g2, state)
    ema = alpha * g1["w"] + (1 - alpha) * g2["w"]
    np.testing.assert_allclose(u2["w"], g2["w"] + lam * ema, rtol=1e-6)


@pytest.mark.parametrize("window, ring", [(3, 3), (3, 5)])
def test_grokfast_ma_adds_lambda_times_the_mean_of_the_last_w_gradients(window, ring):
    # Lee et al.'s filter with their warmup: nothing until w gradients are in, then
    # g_t + λ·mean(g_{t-w+1..t}); a longer ring (another run's window) changes nothing.
    lam = 5.0
    t = optim.grokfast_ma(jnp.float32(lam), jnp.float32(window), ring)
    gs = [{"w": jnp.array([float(i + 1), (-2.0) ** i])} for i in range(7)]
    state = t.init(gs[0])
    for i, g in enumerate(gs):
        u, state = t.update(g, state)
        want = g["w"] if i + 1 < window else g["w"] + lam * np.mean([h["w"] for h in gs[i + 1 - window: i + 1]], 0)
        np.testing.assert_allclose(u["w"], want, rtol=1e-6, err_msg=f"step {i}")
    off = optim.grokfast_ma(jnp.float32(0.0), jnp.float32(window), ring)
    state = off.init(gs[0])
    for g in gs:
        u, state = off.update(g, state)
        np.testing.assert_array_equal(u["w"], g["w"])  # λ = 0: the plain gradient, exactly


def test_orthograd_removes_the_radial_component_and_keeps_the_norm():
    params, grads = _tree(jax.random.key(0)), _tree(jax.random.key(1))
    on, _ = optim.orthogonal_gradient(1.0).update(grads, optax.EmptyState(), params)
    for k in params:
        assert abs(float(jnp.vdot(on[k], params[k]))) < 1e-4 * float(jnp.linalg.norm(on[k]) * jnp.linalg.norm(params[k]))
        np.testing.assert_allclose(jnp.linalg.norm(on[k]), jnp.linalg.norm(grads[k]), rtol=1e-5)
    off, _ = optim.orthogonal_gradient(0.0).update(grads, optax.EmptyState(), params)
    jax.tree.map(np.testing.assert_array_equal, off, grads)


def test_weight_norm_projection_lands_on_the_target_norm():
    params, updates = _tree(jax.random.key(0)), _tree(jax.random.key(1), 0.1)
    u, _ = optim.project_weight_norm(7.0).update(updates, optax.EmptyState(), params)
    np.testing.assert_allclose(optax.tree.norm(optax.apply_updates(params, u)), 7.0, rtol=1e-5)
    # the step taken, then rescaled: every parameter along its stepped direction, not just any point of norm 7
    stepped = optax.apply_updates(params, updates)
    scale = 7.0 / optax.tree.norm(stepped)
    jax.tree.map(lambda got, want: np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6),
                 optax.apply_updates(params, u), jax.tree.map(lambda w: w * scale, stepped))
    off, _ = optim.project_weight_norm(0.0).update(updates, optax.EmptyState(), params)
    jax.tree.map(np.testing.assert_array_equal, off, updates)


def test_transform_numbers_are_per_run_under_vmap():
    cfg = Config(transforms=("grad_noise", "grokfast", "grokfast_ma", "orthograd", "weight_norm_target"),
                 grokfast_window=3)
    params = _tree(jax.random.key(0))
    grads = [_tree(jax.random.key(i + 1)) for i in range(3)]
    nums = dict(grad_noise=jnp.array([0.0, 0.1]), grokfast_lambda=jnp.array([0.0, 2.0]),
                grokfast_ma_lambda=jnp.array([5.0, 1.0]), grokfast_window=jnp.array([2.0, 3.0]),
                orthograd=jnp.array([0.0, 1.0]), weight_norm_target=jnp.array([0.0, 5.0]))

    def one(n):
        return _rollout(make_optimizer(cfg, Run(1e-3, 1.0, **n)), params, grads)

    both = jax.jit(jax.vmap(one))(nums)
    for i in range(2):
        alone = one({k: v[i] for k, v in nums.items()})
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a[i], b, rtol=1e-5, atol=1e-7), both, alone)


@pytest.mark.parametrize("toward_init", [False, True])
def test_decay_with_zero_gradients_converges_to_its_target(toward_init):
    # With zero gradients Adam's direction is 0, so only the decay moves the weights.
    theta0 = _tree(jax.random.key(0))
    cfg = Config(warmup_steps=0, transforms=("weight_decay_init",) if toward_init else ())
    run = Run(0.1, 0.0, weight_decay_init=1.0) if toward_init else Run(0.1, 1.0)
    opt = make_optimizer(cfg, run)
    state = opt.init(theta0)
    params = jax.tree.map(lambda p: p + 3.0, theta0)
    zeros = jax.tree.map(jnp.zeros_like, params)
    step = jax.jit(lambda p, s: (lambda u, s2: (optax.apply_updates(p, u), s2))(*opt.update(zeros, s, p)))
    for _ in range(300):
        params, state = step(params, state)
    target = theta0 if toward_init else jax.tree.map(jnp.zeros_like, theta0)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), params, target)


def test_the_fast_preset_and_its_sweep_file_are_one_recipe():
    from pathlib import Path

    from grokjax import presets
    from grokjax.model import MLPSpec, TransformerSpec
    from grokjax.spec import SweepSpec

    spec = presets.spec("fast")
    assert SweepSpec.from_toml(Path(__file__).parent.parent / "sweeps" / "fast.toml") == spec
    assert (spec.task.op, spec.task.modulus, spec.fracs, spec.seeds, spec.stop_at) == ("add", 97, (0.5,), 3, 0.99)
    (product,) = spec.grid
    assert (product.lr, product.weight_decay, product.init_scale) == ((0.1,), (1.0,), (2.0,))
    assert spec.model == MLPSpec(depth=2, width=512)
    # its other profiles are whole transformers, not merged with the MLP's sizes
    fast_toml = Path(__file__).parent.parent / "sweeps" / "fast.toml"
    assert SweepSpec.from_toml(fast_toml, "paper").model == TransformerSpec()
    assert SweepSpec.from_toml(fast_toml, "transformer").model == TransformerSpec(n_layers=1)


def test_the_preset_help_describes_the_fast_recipe_it_runs():
    from grokjax import presets, sweep

    spec = presets.spec("fast")
    (product,) = spec.grid
    text = " ".join(sweep.make_parser().format_help().split())
    fast = text[text.index("fast: "):text.index("nanda: ")]
    assert "MLP" in fast and f"lr {product.lr[0]:g}" in fast and f"init scale {product.init_scale[0]:g}" in fast
    assert f"weight decay {product.weight_decay[0]:g}" in fast


def test_the_whole_chain_runs_its_transforms_in_the_documented_order():
    # optim's docstring: ⊥Grad → Grokfast-EMA → Grokfast-MA → gradient noise → L2 → Adam → decay toward 0
    # → decay toward init → update noise → learning rate → weight-norm projection, each from its own unit
    # test above; this pins where each sits, with every one of them on.
    k1, k2 = jax.random.split(jax.random.key(5))
    params = {"w": jax.random.normal(k1, (5, 3)), "b": jnp.ones(3)}
    grads = [jax.tree.map(lambda p, i=i: jax.random.normal(jax.random.fold_in(k2, i), p.shape), params) for i in range(6)]
    n = dict(orthograd=1.0, grokfast_lambda=2.0, grokfast_alpha=0.9, grokfast_ma_lambda=1.5, grokfast_window=3.0,
             grad_noise=0.2, weight_decay_l2=0.05, weight_decay_init=0.3, update_noise=0.1, weight_norm_target=9.0)
    on = ("orthograd", "grokfast", "grokfast_ma", "grad_noise", "weight_decay_l2", "weight_decay_init", "update_noise",
          "weight_norm_target")
    ours = _rollout(make_optimizer(Config(warmup_steps=0, transforms=on, grokfast_window=3), Run(1e-2, 0.5, seed=7, **n)),
                    params, grads)
    grad_key, update_key, _, _ = optim.noise_keys(jnp.int32(7))

    def reference(*middle):
        return _rollout(optax.chain(
            optim.orthogonal_gradient(1.0), optim.grokfast_ema(2.0, 0.9),
            optim.grokfast_ma(jnp.float32(1.5), jnp.float32(3.0), 3), *middle,
            optim.decay_toward_init(0.3), optim.add_constant_noise(0.1, update_key),
            optax.scale_by_learning_rate(1e-2), optim.project_weight_norm(9.0)), params, grads)

    noise, l2 = optim.add_constant_noise(0.2, grad_key), optax.add_decayed_weights(0.05)
    adam = (optax.scale_by_adam(b1=0.9, b2=0.98, eps=1e-8), optax.add_decayed_weights(0.5))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), ours, reference(noise, l2, *adam))
    # the check can fail: gradient noise after Adam, or L2 after it, moves the weights elsewhere
    for wrong in (reference(l2, *adam, noise), reference(noise, *adam, l2)):
        assert not np.allclose(ours["w"], wrong["w"], rtol=1e-3)


@pytest.mark.parametrize("warmup_steps", [0, 10])
def test_one_step_of_decay_toward_init_shrinks_the_offset_by_lr_times_lambda(warmup_steps):
    # zero gradients: Adam's direction is 0, so θ₁ − θ₀ = (1 − lr_t·λ)(θ − θ₀), lr_t the warmed-up rate
    theta0 = _tree(jax.random.key(0))
    lr, lam = 0.1, 0.5
    opt = make_optimizer(Config(warmup_steps=warmup_steps, transforms=("weight_decay_init",)),
                         Run(lr, 0.0, weight_decay_init=lam))
    state = opt.init(theta0)
    params = jax.tree.map(lambda p: p + 3.0, theta0)
    u, _ = opt.update(jax.tree.map(jnp.zeros_like, params), state, params)
    lr_0 = lr / warmup_steps if warmup_steps else lr
    jax.tree.map(lambda new, p0: np.testing.assert_allclose(new - p0, (1 - lr_0 * lam) * 3.0, rtol=1e-5),
                 optax.apply_updates(params, u), theta0)


def test_under_a_held_norm_weight_decay_only_rescales_the_learning_rate():
    # θ − lr·(a + γθ) = (1 − lr·γ)·(θ − lr/(1 − lr·γ)·a): the same direction, so after the projection onto
    # ‖θ‖ = w decay γ is the run without decay at lr/(1 − lr·γ) (sweeps/omnigrok_norm.toml's γ axis)
    params, lr, gamma, w = _tree(jax.random.key(0)), 1e-2, 3.0, 4.0
    grads = [_tree(jax.random.key(i + 1)) for i in range(5)]
    cfg = Config(warmup_steps=0, transforms=("weight_norm_target",))
    start = jax.tree.map(lambda p: p * w / optax.tree.norm(params), params)
    decayed = _rollout(make_optimizer(cfg, Run(lr, gamma, weight_norm_target=w)), start, grads)
    faster = _rollout(make_optimizer(cfg, Run(lr / (1 - lr * gamma), 0.0, weight_norm_target=w)), start, grads)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), decayed, faster)
    plain = _rollout(make_optimizer(cfg, Run(lr, 0.0, weight_norm_target=w)), start, grads)
    assert not np.allclose(plain["w"], decayed["w"], rtol=1e-4)  # the rescaled rate does move it: the check can fail
