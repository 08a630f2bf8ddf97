import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from grokjax.config import Config
from grokjax.optim import make_optimizer, warmup


class Run:
    def __init__(self, lr, weight_decay):
        self.lr, self.weight_decay = jnp.float32(lr), jnp.float32(weight_decay)


def test_warmup_is_linear_over_the_first_updates():
    s = warmup(1e-3, 10)
    np.testing.assert_allclose([s(jnp.int32(t)) for t in (0, 4, 9, 10, 1000)], [1e-4, 5e-4, 1e-3, 1e-3, 1e-3], rtol=1e-6)


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
