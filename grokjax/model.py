"""The decoder-only transformer of Power et al. (appendix A.1.2).

As in the paper's implementation: post-LayerNorm blocks (``LN(x + f(x))``),
causal multi-head attention and a ReLU MLP of width 4·D, no bias in any
linear map, fixed sinusoidal positions, learned token embeddings and an
untied unembedding. Initial values follow PyTorch's defaults, which the paper
used: embeddings N(0, 1), linear weights U(±1/√fan_in), LayerNorm (1, 0).

Only the answer, read at the ``=`` position, is ever scored, so by default the
last block computes keys and values at every position but queries, MLP and
logits at the last one alone: the same numbers as the full model there, for
about 2/3 of the FLOPs. ``last_only=False`` gives every position.

Tensor names carry their shapes: B batch, L positions, Q query positions,
D width, H heads, K head width, V vocabulary, F MLP width.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

# PyTorch's nn.Linear default, U(±1/√fan_in), and nn.Embedding's N(0, 1).
torch_linear_init = nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform")
torch_embed_init = nn.initializers.normal(1.0)


def Dense(features: int, name: str) -> nn.Dense:
    return nn.Dense(features, use_bias=False, kernel_init=torch_linear_init, name=name)


def sinusoid(seq_len: int, d_model: int) -> np.ndarray:
    """Fixed positions of Vaswani et al.: sin on even, cos on odd features."""
    pos = np.arange(seq_len)[:, None]
    i = np.arange(0, d_model, 2)[None, :]
    angle = pos / 10000 ** (i / d_model)
    pe = np.zeros((seq_len, d_model), np.float32)
    pe[:, 0::2], pe[:, 1::2] = np.sin(angle), np.cos(angle)
    return pe


class Attention(nn.Module):
    n_heads: int

    @nn.compact
    def __call__(self, x_BxLxD, last_only: bool):
        B, L, D = x_BxLxD.shape
        H, K = self.n_heads, D // self.n_heads
        if last_only:
            # The last position attends to every position: no mask needed.
            q_BxQxD = Dense(D, "q")(x_BxLxD[:, -1:])
        else:
            q_BxQxD = Dense(D, "q")(x_BxLxD)
        kv_BxLx2D = Dense(2 * D, "kv")(x_BxLxD)
        k_BxLxD, v_BxLxD = jnp.split(kv_BxLx2D, 2, axis=-1)
        Q = q_BxQxD.shape[1]
        q_BxQxHxK = q_BxQxD.reshape(B, Q, H, K)
        k_BxLxHxK = k_BxLxD.reshape(B, L, H, K)
        v_BxLxHxK = v_BxLxD.reshape(B, L, H, K)
        s_BxHxQxL = jnp.einsum("bqhk,blhk->bhql", q_BxQxHxK, k_BxLxHxK) / np.sqrt(K).astype(np.float32)
        if not last_only:
            causal_LxL = jnp.tril(jnp.ones((L, L), bool))
            s_BxHxQxL = jnp.where(causal_LxL, s_BxHxQxL, -jnp.inf)
        p_BxHxQxL = jax.nn.softmax(s_BxHxQxL, axis=-1)
        o_BxQxD = jnp.einsum("bhql,blhk->bqhk", p_BxHxQxL, v_BxLxHxK).reshape(B, Q, D)
        return Dense(D, "out")(o_BxQxD)


class Block(nn.Module):
    """Post-LN: ``a = LN(x + Attn(x))``, ``out = LN(a + MLP(a))``."""

    n_heads: int
    d_mlp: int

    @nn.compact
    def __call__(self, x_BxLxD, last_only: bool):
        D = x_BxLxD.shape[-1]
        attn_BxQxD = Attention(self.n_heads, name="attn")(x_BxLxD, last_only)
        x_BxQxD = x_BxLxD[:, -1:] if last_only else x_BxLxD
        a_BxQxD = nn.LayerNorm(name="ln_attn")(x_BxQxD + attn_BxQxD)
        h_BxQxF = nn.relu(Dense(self.d_mlp, "fc1")(a_BxQxD))
        return nn.LayerNorm(name="ln_mlp")(a_BxQxD + Dense(D, "fc2")(h_BxQxF))


class Transformer(nn.Module):
    vocab_size: int
    seq_len: int = 4
    n_layers: int = 2
    d_model: int = 128
    n_heads: int = 4
    d_mlp: int = 512

    @nn.compact
    def __call__(self, x_BxL, last_only: bool = True):
        """Logits ``[B, V]`` at the answer position, or ``[B, L, V]`` with ``last_only=False``."""
        embed = nn.Embed(self.vocab_size, self.d_model, embedding_init=torch_embed_init, name="tok_embed")
        h_BxLxD = embed(x_BxL) + sinusoid(self.seq_len, self.d_model)[: x_BxL.shape[1]]
        for i in range(self.n_layers):
            last = last_only and i == self.n_layers - 1
            h_BxLxD = Block(self.n_heads, self.d_mlp, name=f"block{i}")(h_BxLxD, last)
        logits = Dense(self.vocab_size, "unembed")(h_BxLxD)
        return logits[:, -1] if last_only else logits


def make_model(config, vocab_size: int) -> Transformer:
    return Transformer(
        vocab_size=vocab_size,
        n_layers=config.n_layers,
        d_model=config.d_model,
        n_heads=config.n_heads,
        d_mlp=config.d_mlp,
    )


EMBEDDING_PARAMS = ("tok_embed", "unembed")


def count_params(params, embeddings: bool = False) -> int:
    """Parameter count; by default without the embedding and unembedding, as the paper counts."""
    top = params["params"] if "params" in params else params
    return sum(
        int(v.size)
        for name, sub in top.items()
        if embeddings or name not in EMBEDDING_PARAMS
        for v in jax.tree.leaves(sub)
    )
