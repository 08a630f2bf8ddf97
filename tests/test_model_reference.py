"""The transformer against a forward pass written from the paper, in numpy.

Every model path shares ``Block.finish``, ``attend`` and ``sinusoid``, so
comparing the paths with each other (test_model.py) cannot catch a mistake
they share. This reference is written out independently, in float64, from
Power et al. A.1.2 and Vaswani et al.: causal multi-head attention
``softmax(Q_h K_hᵀ / √d_head) V_h`` per head, post-LayerNorm residual blocks
``LN(x + Attn(x))`` then ``LN(a + MLP(a))`` with a ReLU MLP, no biases in the
linear maps, fixed sinusoidal positions, untied unembedding; and Nanda et
al.'s variant: no LayerNorm, learned positions, biases in the MLP.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from grokjax import tables
from grokjax.model import LAYER_NORM_EPS, Transformer


def ref_layer_norm(h, scale, bias):
    mu = h.mean(-1, keepdims=True)
    var = ((h - mu) ** 2).mean(-1, keepdims=True)  # biased variance, as PyTorch's
    return (h - mu) / np.sqrt(var + LAYER_NORM_EPS) * scale + bias


def ref_positions(L, D):
    pe = np.zeros((L, D))
    for pos in range(L):
        for i in range(0, D, 2):
            pe[pos, i] = np.sin(pos / 10000 ** (i / D))
            pe[pos, i + 1] = np.cos(pos / 10000 ** (i / D))
    return pe


def ref_forward(p, x_BxL, n_heads, hidden=None):
    """Logits ``[B, L, V]`` of every position; each block's MLP activations
    (after ReLU, ``[B, L, d_mlp]``) appended to ``hidden`` if given."""
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), p["params"])
    B, L = x_BxL.shape
    D = p["tok_embed"]["embedding"].shape[1]
    K = D // n_heads
    pe = p["pos_embed"][:L] if "pos_embed" in p else ref_positions(L, D)
    h = p["tok_embed"]["embedding"][np.asarray(x_BxL)] + pe
    n_layers = sum(name.startswith("blocks_") for name in p)
    for i in range(n_layers):
        blk = p[f"blocks_{i}"]
        q = h @ blk["q"]["kernel"]
        k, v = np.split(h @ blk["kv"]["kernel"], 2, axis=-1)
        heads = []
        for j in range(n_heads):
            cols = slice(j * K, (j + 1) * K)
            s = q[..., cols] @ np.swapaxes(k[..., cols], 1, 2) / np.sqrt(K)  # [B, L, L]
            s = np.where(np.tril(np.ones((L, L), bool)), s, -np.inf)  # position t sees 0..t
            w = np.exp(s - s.max(-1, keepdims=True))
            heads.append((w / w.sum(-1, keepdims=True)) @ v[..., cols])
        def ln(h, name):
            return ref_layer_norm(h, **blk[name]) if name in blk else h

        def linear(h, name):
            return h @ blk[name]["kernel"] + blk[name].get("bias", 0)

        a = ln(h + np.concatenate(heads, -1) @ blk["out"]["kernel"], "ln_attn")
        neurons = np.maximum(linear(a, "fc1"), 0)
        if hidden is not None:
            hidden.append(neurons)
        h = ln(a + linear(neurons, "fc2"), "ln_mlp")
    return h @ p["unembed"]["kernel"]


def test_the_reference_positions_are_vaswanis():
    pe = ref_positions(4, 8)
    np.testing.assert_allclose(pe[0], [0, 1] * 4)  # position 0: sin 0, cos 0
    np.testing.assert_allclose(pe[3, :2], [np.sin(3), np.cos(3)])  # feature pair 0 has wavelength 2π
    np.testing.assert_allclose(pe[2, 6:], [np.sin(2 / 10000 ** 0.75), np.cos(2 / 10000 ** 0.75)])


def randomized(params, key):
    """The init with LayerNorm's (1, 0) replaced by random numbers, so that a
    mixed-up scale and bias, or a missing LayerNorm, would show."""
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(treedef, [a + 0.3 * jax.random.normal(k, a.shape) if a.ndim == 1 else a
                                        for a, k in zip(leaves, keys)])


@pytest.mark.parametrize("path", ["full", "answer", "factorized"])
@pytest.mark.parametrize("n_heads", [1, 4])
def test_the_model_computes_the_papers_transformer(path, n_heads):
    table = tables.make_table("add", 11)
    model = Transformer(vocab_size=table.vocab_size, n_layers=2, d_model=32, n_heads=n_heads, d_mlp=64)
    x = jnp.asarray(table.x[::7])
    params = randomized(model.init(jax.random.key(3), x[:1]), jax.random.key(4))
    got = np.asarray(jax.jit(model.apply, static_argnames="path")(params, x, path=path))
    want = ref_forward(params, x, n_heads)
    want = want if path == "full" else want[:, -1]
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("path", ["full", "answer", "factorized"])
def test_nandas_variant_is_their_transformer(path):
    # no LayerNorm, a learned vector per position, MLP biases (randomized: they start at 0)
    table = tables.make_table("add", 11)
    model = Transformer(vocab_size=table.vocab_size, n_layers=2, d_model=32, n_heads=4, d_mlp=64,
                        layer_norm=False, weight_init="nanda", positions="learned", mlp_bias=True)
    x = jnp.asarray(table.x[::7])
    params = model.init(jax.random.key(3), x[:1])
    blk = params["params"]["blocks_0"]
    assert "ln_attn" not in blk and blk["fc1"]["bias"].shape == (64,) and blk["fc2"]["bias"].shape == (32,)
    np.testing.assert_array_equal(blk["fc1"]["bias"], 0)
    assert params["params"]["pos_embed"].shape == (4, 32) and "bias" not in blk["q"]
    params = randomized(params, jax.random.key(4))
    got = np.asarray(jax.jit(model.apply, static_argnames="path")(params, x, path=path))
    want = ref_forward(params, x, 4)
    np.testing.assert_allclose(got, want if path == "full" else want[:, -1], rtol=2e-5, atol=2e-5)
    # the check could fail: the same weights with the learned positions swapped give other logits
    swapped = jax.tree.map(lambda a: a, params)
    swapped["params"]["pos_embed"] = params["params"]["pos_embed"][::-1]
    assert not np.allclose(ref_forward(swapped, x, 4), ref_forward(params, x, 4), atol=1e-3)


@pytest.mark.parametrize("nanda", [False, True])
def test_the_neurons_analysis_reads_each_blocks_mlp_at_the_answer_position(nanda, monkeypatch):
    from grokjax import train
    from grokjax.analysis.neurons import mlp_activations

    monkeypatch.setattr(train, "EVAL_ROWS", 50)  # 121 rows in 3 blocks, the last one padded
    table = tables.make_table("add", 11)
    kw = dict(layer_norm=False, weight_init="nanda", positions="learned", mlp_bias=True) if nanda else {}
    model = Transformer(vocab_size=table.vocab_size, n_layers=2, d_model=32, n_heads=4, d_mlp=64, **kw)
    x = jnp.asarray(table.x)
    params = randomized(model.init(jax.random.key(3), x[:1]), jax.random.key(4))
    got = np.asarray(mlp_activations(model, x, params))
    hidden = []
    ref_forward(params, x, 4, hidden)
    assert got.shape == (121, 2, 64)
    np.testing.assert_allclose(got, np.stack([h[:, -1] for h in hidden], 1), rtol=2e-5, atol=2e-5)
    assert not np.allclose(got[:, 0], got[:, 1], atol=1e-3)  # two blocks, told apart


def test_the_reference_tells_head_counts_apart():
    # the check above could fail: the same weights split into 1 or 4 heads differ
    table = tables.make_table("add", 11)
    model = Transformer(vocab_size=table.vocab_size, n_layers=1, d_model=32, n_heads=4, d_mlp=64)
    x = jnp.asarray(table.x[:20])
    params = model.init(jax.random.key(3), x[:1])
    assert not np.allclose(ref_forward(params, x, 4), ref_forward(params, x, 1), atol=1e-3)


def test_init_follows_pytorchs_defaults():
    # embeddings N(0, 1); linear weights U(±1/√fan_in); LayerNorm scale 1, bias 0
    model = Transformer(vocab_size=99, n_layers=2, d_model=128, n_heads=4, d_mlp=512)
    p = jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, 4), jnp.int32))["params"]
    emb = np.asarray(p["tok_embed"]["embedding"])
    assert abs(emb.std() - 1) < 0.02 and abs(emb.mean()) < 0.02
    for name, fan_in in [("q", 128), ("kv", 128), ("out", 128), ("fc1", 128), ("fc2", 512)]:
        w = np.asarray(p["blocks_0"][name]["kernel"])
        bound = 1 / np.sqrt(fan_in)
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound, name
        np.testing.assert_allclose(w.std(), bound / np.sqrt(3), rtol=0.03, err_msg=name)  # a uniform's std
    np.testing.assert_array_equal(p["blocks_1"]["ln_mlp"]["scale"], 1)
    np.testing.assert_array_equal(p["blocks_1"]["ln_mlp"]["bias"], 0)


def test_nandas_init_draws_every_weight_from_n_0_1_over_d_model():
    # Nanda et al.'s code: W_E, W_Q/K/V, W_O, W_in, W_out all randn/√d_model; W_U randn/√d_vocab
    model = Transformer(vocab_size=115, n_layers=1, d_model=128, n_heads=4, d_mlp=512, layer_norm=False,
                        weight_init="nanda")
    p = jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, 4), jnp.int32))["params"]
    for name, w in [("tok_embed", p["tok_embed"]["embedding"]), *((n, p["blocks_0"][n]["kernel"]) for n in
                                                                  ("q", "kv", "out", "fc1", "fc2"))]:
        w = np.asarray(w)
        np.testing.assert_allclose(w.std(), 1 / np.sqrt(128), rtol=0.03, err_msg=name)
        assert abs(w.mean()) < 0.01 and np.abs(w).max() > 3 / np.sqrt(128), name  # a normal's tails, not a uniform's
    np.testing.assert_allclose(np.asarray(p["unembed"]["kernel"]).std(), 1 / np.sqrt(115), rtol=0.03)
    # norm² ≈ Σ count·variance: embed 115, q + kv + out 512, fc1 512, fc2 512, unembed 128: about 42²
    want = np.sqrt(115 + 4 * 128 + 2 * 512 + 128)
    np.testing.assert_allclose(float(np.sqrt(sum((np.asarray(a) ** 2).sum() for a in jax.tree.leaves(p)))), want,
                               rtol=0.02)


@pytest.mark.parametrize("weight_init, std", [("nanda", 1 / np.sqrt(128)), ("torch", 1.0)])
def test_learned_positions_are_drawn_as_the_token_embeddings(weight_init, std):
    model = Transformer(vocab_size=115, n_layers=1, d_model=128, n_heads=4, d_mlp=512, weight_init=weight_init,
                        positions="learned", mlp_bias=True)
    p = jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, 4), jnp.int32))["params"]
    pos = np.asarray(p["pos_embed"])
    assert pos.shape == (4, 128)
    np.testing.assert_allclose(pos.std(), std, rtol=0.1)  # 512 draws
    np.testing.assert_allclose(np.asarray(p["tok_embed"]["embedding"]).std(), std, rtol=0.03)
    np.testing.assert_array_equal(p["blocks_0"]["fc2"]["bias"], 0)
