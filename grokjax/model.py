"""The models: the decoder-only transformer of Power et al. (appendix A.1.2),
and the MLP of Omnigrok; each with its frozen spec (``TransformerSpec``, ``MLPSpec``).

The transformer is as in the paper's implementation: post-LayerNorm blocks (``LN(x + f(x))``),
causal multi-head attention and a ReLU MLP of width 4·D, no bias in any
linear map, fixed sinusoidal positions, learned token embeddings and an
untied unembedding. Initial values follow PyTorch's defaults, which the paper
used: embeddings N(0, 1), linear weights U(±1/√fan_in), LayerNorm (1, 0)
with PyTorch's ε = 1e-5 (Flax's default is 1e-6). Switches give Nanda et
al.'s variant instead (no LayerNorm, their init, learned positions, MLP
biases; ``TransformerSpec``).

Only the answer, read at the ``=`` position, is ever scored. Three paths give
the same numbers there (tests check it), at falling cost:

- ``"full"``: every position, logits ``[B, L, V]``, as a textbook decoder.
- ``"answer"``: the last block computes queries, MLP and logits at the ``=``
  position alone: about 2/3 of the FLOPs of ``"full"``.
- ``"factorized"`` (the default): every equation reads ``[a, ∘, b, =]`` with
  ∘ and = the same two tokens in every row, and attention is causal, so the
  hidden states at positions 0 and 1 depend on ``a`` alone, and in the first
  block the queries, keys and values at position 2 depend on ``b`` alone.
  Those are computed once per symbol and gathered, which leaves per example
  only what truly depends on the pair: about half the FLOPs of ``"answer"``.
  Per-example randomness inside the model (dropout) needs ``"answer"``;
  weight noise, one draw per step for the whole batch, does not.

Residual dropout (Power et al. Figure 2 left) drops the output of each
attention and MLP branch before it joins the residual stream; its rate is a
call argument, so it can be a traced per-run number, and a rate of 0 is the
identity exactly.

Tensor names carry their shapes: B batch, L positions, Q query positions,
D width, H heads, K head width, V vocabulary, F MLP width, S symbols (all V
tokens, used as the first operand of a precomputed prefix).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from grokjax.errors import SpecError

PATHS = ("factorized", "answer", "full")



def float32_draws(init):
    """``init`` drawing in float32 whatever the parameter's dtype, then cast:
    a seed then gives the same initial weights under ``x64`` as without."""
    return lambda key, shape, dtype=jnp.float32: init(key, shape, jnp.float32).astype(dtype)


# PyTorch's nn.Linear default, U(±1/√fan_in), and nn.Embedding's N(0, 1).
torch_linear_init = float32_draws(nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform"))
torch_embed_init = float32_draws(nn.initializers.normal(1.0))


def dot_rows(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None):
    """``nn.Dense``'s matmul with the input's leading axes flattened into rows.

    The same products, summed in the same order (same bits on CPU, tested).
    What changes is the backward pass: for ``[B, L, D] · [D, F]`` XLA:CPU
    surrounds the gradient dots with transposes and copies that the
    flattened ``[B·L, D] · [D, F]`` does not need (``sweeps/dense_copies.py``),
    and the paper step ran 1.13–1.23× faster flattened
    (``python sweeps/options_ab.py OUT --dense batched``).
    """
    (lhs_contract, rhs_contract), batch = dimension_numbers
    if lhs.ndim <= 2 or tuple(lhs_contract) != (lhs.ndim - 1,) or tuple(rhs_contract) != (0,) or any(batch):
        return jax.lax.dot_general(lhs, rhs, dimension_numbers, precision=precision,
                                   preferred_element_type=preferred_element_type)
    rows = jax.lax.dot_general(lhs.reshape(-1, lhs.shape[-1]), rhs, (((1,), (0,)), ((), ())),
                               precision=precision, preferred_element_type=preferred_element_type)
    return rows.reshape(lhs.shape[:-1] + rhs.shape[1:])


def Dense(features: int, dtype, kernel_init=torch_linear_init, use_bias: bool = False) -> nn.Dense:
    # a bias starts at 0 (Nanda et al.'s MLP biases)
    return nn.Dense(features, use_bias=use_bias, kernel_init=kernel_init, dtype=dtype, param_dtype=dtype,
                    dot_general=dot_rows)


# How the transformer's weights start. "torch": PyTorch's defaults, as the
# paper's code. "nanda": Nanda et al.'s (and Omnigrok's Figure 7 notebook):
# every weight N(0, 1/d_model), the unembedding N(0, 1/vocab), so the
# embeddings are small and the init's norm is about 42 for their model
# (124 with PyTorch's: N(0, 1) embeddings dominate it).
WEIGHT_INITS = ("torch", "nanda")
# Where the transformer's positions come from. "sinusoid": Vaswani et al.'s
# fixed waves, as the paper. "learned": a parameter per position (Nanda et
# al.'s model), drawn as the token embeddings are.
POSITIONS = ("sinusoid", "learned")


def normal_init(stddev: float):
    return float32_draws(nn.initializers.normal(stddev))


def residual_dropout(x, rate, key):
    """Inverted dropout at a (possibly traced) rate; rate 0 returns x exactly."""
    keep = jax.random.uniform(key, x.shape, jnp.float32) >= rate
    return jnp.where(keep, x * (1 / (1 - rate)), 0).astype(x.dtype)  # see softmax: no divide by a broadcast


def sinusoid(seq_len: int, d_model: int) -> np.ndarray:
    """Fixed positions of Vaswani et al.: sin on even, cos on odd features."""
    pos = np.arange(seq_len)[:, None]
    i = np.arange(0, d_model, 2)[None, :]
    angle = pos / 10000 ** (i / d_model)
    pe = np.zeros((seq_len, d_model), np.float32)
    pe[:, 0::2], pe[:, 1::2] = np.sin(angle), np.cos(angle)
    return pe


def softmax(s, axis: int = -1):
    """Softmax with one reciprocal per row, written out. XLA rewrites
    ``e / sum`` into ``e * (1 / sum)`` in some programs and not in others (it
    did not under shard_map on 4 CPU devices), and the two round differently;
    written this way every device count computes the same bits."""
    e = jnp.exp(s - jax.lax.stop_gradient(s.max(axis, keepdims=True)))
    return e * (1 / e.sum(axis, keepdims=True))


def products_by_sum() -> bool:
    """Whether ``attend`` forms its products as multiply-and-sum (on CPU)
    rather than as einsums. Attention's products are tiny (per example and
    head, 2×32 by 32×4), and XLA:CPU runs a batched einsum as that many
    library matmuls one after another (about 2 GFLOP/s here), and transposes
    its operands first; multiply-and-sum is one fused loop: the paper step
    1.07–1.16× faster on this project's CPU (results/step_profile_xeon207/).
    Elsewhere (GPU) the einsums stay, so GPU programs are unchanged."""
    return jax.default_backend() == "cpu"


def attend(q_BxQxD, k_BxLxD, v_BxLxD, mask_QxL, n_heads: int, by_sum: bool | None = None):
    """Multi-head scaled dot-product attention; ``mask_QxL`` True where allowed (None: all).

    ``by_sum``: products as multiply-and-sum instead of einsums (None: by
    backend, ``products_by_sum``). The two agree to float32 rounding.
    """
    B, Q, D = q_BxQxD.shape
    L, K = k_BxLxD.shape[1], D // n_heads
    root_K = np.sqrt(K).astype(np.float32)
    if by_sum is None:
        by_sum = products_by_sum()
    if by_sum:
        s_BxQxLxH = (q_BxQxD.reshape(B, Q, 1, n_heads, K) * k_BxLxD.reshape(B, 1, L, n_heads, K)).sum(-1) / root_K
        if mask_QxL is not None:
            s_BxQxLxH = jnp.where(mask_QxL[:, :, None], s_BxQxLxH, -jnp.inf)
        p_BxQxLxH = softmax(s_BxQxLxH, axis=2)
        return (p_BxQxLxH[..., None] * v_BxLxD.reshape(B, 1, L, n_heads, K)).sum(2).reshape(B, Q, D)
    q_BxQxHxK = q_BxQxD.reshape(B, Q, n_heads, K)
    k_BxLxHxK = k_BxLxD.reshape(B, L, n_heads, K)
    v_BxLxHxK = v_BxLxD.reshape(B, L, n_heads, K)
    s_BxHxQxL = jnp.einsum("bqhk,blhk->bhql", q_BxQxHxK, k_BxLxHxK) / root_K
    if mask_QxL is not None:
        s_BxHxQxL = jnp.where(mask_QxL, s_BxHxQxL, -jnp.inf)
    p_BxHxQxL = softmax(s_BxHxQxL)
    return jnp.einsum("bhql,blhk->bqhk", p_BxHxQxL, v_BxLxHxK).reshape(B, Q, D)


# PyTorch's nn.LayerNorm default, which the paper's code (openai/grok) and the
# PyTorch reference use; Flax's own default is 1e-6.
LAYER_NORM_EPS = 1e-5


def layer_norm(dtype) -> nn.LayerNorm:
    return nn.LayerNorm(epsilon=LAYER_NORM_EPS, dtype=dtype, param_dtype=dtype)

class Block(nn.Module):
    """Post-LN: ``a = LN(x + Attn(x))``, ``out = LN(a + MLP(a))``.

    Split into its pieces so that a caller can compute queries, keys and
    values where they are cheapest (see ``Transformer.factorized``).
    """

    d_model: int
    n_heads: int
    d_mlp: int
    dtype: jnp.dtype = jnp.float32
    layer_norm: bool = True  # False: no LayerNorm (Nanda et al.'s model), the residual sums as they are
    weight_init: str = "torch"  # WEIGHT_INITS
    mlp_bias: bool = False

    def setup(self):
        dt = self.dtype
        # Nanda et al. scale every weight by 1/√d_model, W_out (fc2) included
        init = normal_init(1 / np.sqrt(self.d_model)) if self.weight_init == "nanda" else torch_linear_init
        self.q = Dense(self.d_model, dt, init)
        self.kv = Dense(2 * self.d_model, dt, init)  # keys and values in one matmul
        self.out = Dense(self.d_model, dt, init)
        self.fc1 = Dense(self.d_mlp, dt, init, self.mlp_bias)
        self.fc2 = Dense(self.d_model, dt, init, self.mlp_bias)
        if self.layer_norm:
            self.ln_attn = layer_norm(dt)
            self.ln_mlp = layer_norm(dt)
        else:
            self.ln_attn = self.ln_mlp = lambda h: h

    def keys_values(self, h_BxLxD):
        return jnp.split(self.kv(h_BxLxD), 2, axis=-1)

    def queries(self, h_BxQxD):
        return self.q(h_BxQxD)

    def finish(self, h_BxQxD, attn_BxQxD, dropout_rate=None):
        """Everything after attention, at the query positions."""
        branch = self.out(attn_BxQxD)
        if dropout_rate is not None:
            branch = residual_dropout(branch, dropout_rate, self.make_rng("dropout"))
        a_BxQxD = self.ln_attn(h_BxQxD + branch)
        branch = self.fc2(nn.relu(self.fc1(a_BxQxD)))
        if dropout_rate is not None:
            branch = residual_dropout(branch, dropout_rate, self.make_rng("dropout"))
        return self.ln_mlp(a_BxQxD + branch)

    def __call__(self, h_BxLxD, queries_at: slice, mask_QxL, dropout_rate=None):
        k_BxLxD, v_BxLxD = self.keys_values(h_BxLxD)
        hq_BxQxD = h_BxLxD[:, queries_at]
        attn_BxQxD = attend(self.queries(hq_BxQxD), k_BxLxD, v_BxLxD, mask_QxL, self.n_heads)
        return self.finish(hq_BxQxD, attn_BxQxD, dropout_rate)


class Transformer(nn.Module):
    vocab_size: int
    seq_len: int = 4
    n_layers: int = 2
    d_model: int = 128
    n_heads: int = 4
    d_mlp: int = 512
    dtype: jnp.dtype = jnp.float32
    layer_norm: bool = True
    weight_init: str = "torch"  # WEIGHT_INITS
    positions: str = "sinusoid"  # POSITIONS
    mlp_bias: bool = False

    def setup(self):
        dt = self.dtype
        nanda = self.weight_init == "nanda"
        embed_init = normal_init(1 / np.sqrt(self.d_model)) if nanda else torch_embed_init
        self.tok_embed = nn.Embed(self.vocab_size, self.d_model, embedding_init=embed_init, dtype=dt, param_dtype=dt)
        if self.positions == "learned":
            self.pos_embed = self.param("pos_embed", embed_init, (self.seq_len, self.d_model), dt)
        self.blocks = [Block(self.d_model, self.n_heads, self.d_mlp, dt, self.layer_norm, self.weight_init,
                             self.mlp_bias) for _ in range(self.n_layers)]
        self.unembed = Dense(self.vocab_size, dt, normal_init(1 / np.sqrt(self.vocab_size)) if nanda else torch_linear_init)

    def __call__(self, x_BxL, path: str = "factorized", dropout_rate=None):
        """Logits ``[B, V]`` at the answer position, or ``[B, L, V]`` for ``path="full"``.

        ``dropout_rate`` (a number, maybe traced) turns on residual dropout; it
        needs a ``"dropout"`` rng and a path other than ``"factorized"``.
        """
        if path == "factorized":
            if dropout_rate is not None:
                raise ValueError("dropout draws a mask per example: use path='answer'")
            return self.factorized(x_BxL)
        if path not in PATHS:
            raise ValueError(f"unknown model path {path!r}; valid: {', '.join(PATHS)}")
        L = x_BxL.shape[1]
        causal_LxL = np.tril(np.ones((L, L), bool))
        h_BxLxD = self.tok_embed(x_BxL) + self.position_table()[:L]
        for i, block in enumerate(self.blocks):
            if path == "answer" and i == self.n_layers - 1:
                # The last position attends to every position: no mask needed.
                h_BxLxD = block(h_BxLxD, slice(L - 1, L), None, dropout_rate)
            else:
                h_BxLxD = block(h_BxLxD, slice(0, L), causal_LxL, dropout_rate)
        logits = self.unembed(h_BxLxD)
        return logits[:, -1] if path == "answer" else logits

    def position_table(self):
        """``[seq_len, D]``: what each position adds to its token's embedding."""
        if self.positions == "learned":
            return self.pos_embed
        return sinusoid(self.seq_len, self.d_model).astype(self.dtype)

    def factorized(self, x_BxL):
        """The answer logits of ``[a, ∘, b, =]`` rows, prefix computed per symbol.

        Reads only columns 0 and 2: the ∘ and = tokens are the vocabulary's
        last two (``tables.Table``'s layout), the same in every row.
        """
        V, D = self.vocab_size, self.d_model
        a_B, b_B = x_BxL[:, 0], x_BxL[:, 2]
        op_tok, eq_tok = V - 2, V - 1
        pe_LxD = self.position_table()
        S = jnp.arange(V)
        # Prefix [s, ∘] for every symbol s: its hidden states see nothing later.
        hp_Sx2xD = self.tok_embed(jnp.stack([S, jnp.full_like(S, op_tok)], 1)) + pe_LxD[:2]
        # Suffix [b, =]: in the first block its inputs depend on b alone.
        hs_Sx2xD = self.tok_embed(jnp.stack([S, jnp.full_like(S, eq_tok)], 1)) + pe_LxD[2:4]
        # Row i of the suffix (position 2 + i) sees prefix 0, 1 and suffix ≤ i.
        mask_2x4 = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool)
        causal_2x2 = np.tril(np.ones((2, 2), bool))
        hs_Bx2xD = None
        for i, block in enumerate(self.blocks):
            last = i == self.n_layers - 1
            kp_Sx2xD, vp_Sx2xD = block.keys_values(hp_Sx2xD)
            if i == 0:  # per symbol, then gathered: queries, keys, values at b
                ks_Sx2xD, vs_Sx2xD = block.keys_values(hs_Sx2xD)
                qs_Sx2xD = block.queries(hs_Sx2xD[:, 1:] if last else hs_Sx2xD)
                ks_Bx2xD, vs_Bx2xD, qs_BxQxD = ks_Sx2xD[b_B], vs_Sx2xD[b_B], qs_Sx2xD[b_B]
                hs_Bx2xD = hs_Sx2xD[b_B]
            else:
                ks_Bx2xD, vs_Bx2xD = block.keys_values(hs_Bx2xD)
                qs_BxQxD = block.queries(hs_Bx2xD[:, 1:] if last else hs_Bx2xD)
            k_Bx4xD = jnp.concatenate([kp_Sx2xD[a_B], ks_Bx2xD], 1)
            v_Bx4xD = jnp.concatenate([vp_Sx2xD[a_B], vs_Bx2xD], 1)
            if last:
                attn_Bx1xD = attend(qs_BxQxD, k_Bx4xD, v_Bx4xD, None, self.n_heads)
                hs_Bx2xD = block.finish(hs_Bx2xD[:, 1:], attn_Bx1xD)
            else:
                attn_Bx2xD = attend(qs_BxQxD, k_Bx4xD, v_Bx4xD, mask_2x4, self.n_heads)
                hs_Bx2xD = block.finish(hs_Bx2xD, attn_Bx2xD)
                qp_Sx2xD = block.queries(hp_Sx2xD)
                hp_Sx2xD = block.finish(hp_Sx2xD, attend(qp_Sx2xD, kp_Sx2xD, vp_Sx2xD, causal_2x2, self.n_heads))
        return self.unembed(hs_Bx2xD[:, -1])


class MLP(nn.Module):
    """``depth`` linear maps with biases, ``activation`` between them:
    widths ``d_in → width → … → width → n_outputs``. PyTorch's default init
    (weight and bias U(±1/√fan_in)), as in Omnigrok's notebooks.

    Integer inputs are tokens (an operation table's ``x ∘ y =``): each
    position one-hot over the ``n_outputs`` symbols, concatenated, so
    ``d_in`` is positions × vocabulary and the first layer is one embedding
    per position, summed (``TokenDense``).

    With ``representation = (P, D)`` integer inputs are instead ids of P
    symbols, each a learned vector of D numbers (the parameter
    ``representation``), and a row's input is the sum of its symbols' vectors:
    Omnigrok's toy addition with its representation trained (its decoder's
    hard-coded addition). Its init is a placeholder: the task sets it
    (``train.init_run``).

    Dropout, when a rate is given, drops each hidden activation."""

    n_outputs: int
    depth: int = 3
    width: int = 200
    activation: str = "relu"
    dtype: jnp.dtype = jnp.float32
    representation: tuple[int, int] | None = None

    @nn.compact
    def __call__(self, x_BxI, path: str | None = None, dropout_rate=None):
        del path  # the transformer's; an MLP has one path
        act = ACTIVATIONS[self.activation]
        tokens = jnp.issubdtype(x_BxI.dtype, jnp.integer)
        h = x_BxI if tokens else x_BxI.astype(self.dtype)
        if tokens and self.representation is not None:
            rep_PxD = self.param("representation", nn.initializers.zeros, self.representation, self.dtype)
            h, tokens = rep_PxD[x_BxI].sum(axis=-2), False
        for i in range(self.depth):
            last = i == self.depth - 1
            features = self.n_outputs if last else self.width
            if i == 0 and tokens:
                h = TokenDense(features, self.n_outputs, self.dtype, name="linear0")(h)
            else:
                h = nn.Dense(features, kernel_init=torch_linear_init, bias_init=_uniform_bias(h.shape[-1]),
                             dtype=self.dtype, param_dtype=self.dtype, name=f"linear{i}")(h)
            if not last:
                h = act(h)
                if dropout_rate is not None:
                    h = residual_dropout(h, dropout_rate, self.make_rng("dropout"))
        return h


class TokenDense(nn.Module):
    """``nn.Dense`` on the one-hot tokens of ``L`` positions (``L × vocab``
    inputs, the same parameters and init), computed as a gather: the sum of
    the kernel's row for each position's token. A matmul with the one-hot
    would cost ``L × vocab`` times as much, nearly all of it on zeros."""

    features: int
    vocab: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, tokens_BxL):
        fan_in = tokens_BxL.shape[-1] * self.vocab
        kernel = self.param("kernel", torch_linear_init, (fan_in, self.features), self.dtype)
        bias = self.param("bias", _uniform_bias(fan_in), (self.features,), self.dtype)
        rows_BxL = tokens_BxL + self.vocab * jnp.arange(tokens_BxL.shape[-1])
        return kernel[rows_BxL].sum(axis=-2) + bias


def _uniform_bias(fan_in: int):
    """PyTorch's nn.Linear bias init, U(±1/√fan_in)."""
    bound = 1 / np.sqrt(fan_in)

    return float32_draws(lambda key, shape, dtype: jax.random.uniform(key, shape, dtype, -bound, bound))


ACTIVATIONS = {"relu": nn.relu, "tanh": jnp.tanh, "silu": nn.silu, "gelu": nn.gelu,
               # Omnigrok's toy-addition decoder: PyTorch's LeakyReLU(0.2)
               "leaky_relu_0.2": lambda x: nn.leaky_relu(x, 0.2)}


# ---------------------------------------------------------------- model specs


def _whole(name: str, v, low: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
        raise SpecError(f"{name} must be a whole number >= {low}, got {v!r}")
    return int(v)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TransformerSpec:
    """The paper's decoder-only transformer (appendix A.1.2); ``d_mlp``
    defaults to 4·``d_model``. The ``table`` task's model. ``layer_norm=False``
    drops both LayerNorms of every block (Nanda et al. 2023's model);
    ``weight_init="nanda"`` starts it from their init (``WEIGHT_INITS``),
    ``positions="learned"`` learns a vector per position in place of the
    paper's fixed sinusoids, and ``mlp_bias=True`` gives each MLP's two
    linear maps a bias (both as their model)."""

    name: ClassVar[str] = "transformer"
    n_layers: int = 2
    d_model: int = 128
    n_heads: int = 4
    d_mlp: int | None = None
    layer_norm: bool = True
    weight_init: str = "torch"
    positions: str = "sinusoid"
    mlp_bias: bool = False

    def __post_init__(self):
        for f in ("n_layers", "d_model", "n_heads"):
            object.__setattr__(self, f, _whole(f, getattr(self, f)))
        if self.weight_init not in WEIGHT_INITS:
            raise SpecError(f"unknown weight_init {self.weight_init!r}; valid: {', '.join(WEIGHT_INITS)}")
        if self.positions not in POSITIONS:
            raise SpecError(f"unknown positions {self.positions!r}; valid: {', '.join(POSITIONS)}")
        for f in ("layer_norm", "mlp_bias"):
            if not isinstance(getattr(self, f), (bool, np.bool_)):
                raise SpecError(f"{f} must be true or false, got {getattr(self, f)!r}")
            object.__setattr__(self, f, bool(getattr(self, f)))
        object.__setattr__(self, "d_mlp", 4 * self.d_model if self.d_mlp is None else _whole("d_mlp", self.d_mlp))
        if self.d_model % self.n_heads:
            raise SpecError(f"n_heads {self.n_heads} does not divide d_model {self.d_model}")

    def to_dict(self) -> dict:
        return {"name": self.name, **dataclasses.asdict(self)}


@dataclasses.dataclass(frozen=True, kw_only=True)
class MLPSpec:
    """An MLP of ``depth`` linear maps (``depth − 1`` hidden layers of
    ``width``) with biases: Omnigrok's model for teacher-student (5-100-100-5,
    tanh) and MNIST (784-200-200-10, ReLU), and on an operation table's
    one-hot tokens (``--model mlp``; the fast preset). Input and output widths
    follow the task."""

    name: ClassVar[str] = "mlp"
    depth: int = 3
    width: int = 200
    activation: str = "relu"

    def __post_init__(self):
        object.__setattr__(self, "depth", _whole("depth", self.depth))
        object.__setattr__(self, "width", _whole("width", self.width))
        if self.activation not in ACTIVATIONS:
            raise SpecError(f"unknown activation {self.activation!r}; valid: {', '.join(ACTIVATIONS)}")

    def to_dict(self) -> dict:
        return {"name": self.name, **dataclasses.asdict(self)}


MODELS = {m.name: m for m in (TransformerSpec, MLPSpec)}


def model_from_dict(d: dict, default_name: str = "transformer"):
    """A model spec from ``{"name": ..., field: value}``; no name is ``default_name``."""
    if not isinstance(d, dict):
        raise SpecError(f"model must be a table of settings, got {d!r}")
    d = dict(d)
    name = d.pop("name", default_name)
    if name not in MODELS:
        raise SpecError(f"unknown model {name!r}; valid: {', '.join(MODELS)}")
    fields = {f.name for f in dataclasses.fields(MODELS[name])}
    unknown = set(d) - fields
    if unknown:
        raise SpecError(f"model {name} has no setting {sorted(unknown)[0]!r}; its settings: {', '.join(sorted(fields))}")
    return MODELS[name](**d)


def make_model(spec, n_outputs: int, x64: bool = False, representation: tuple[int, int] | None = None) -> nn.Module:
    """The Flax module of a model spec, with ``n_outputs`` outputs (the
    transformer: its vocabulary, input and output), and for an MLP a trained
    representation of shape ``representation`` (P symbols × D) if given."""
    dtype = jnp.float64 if x64 else jnp.float32
    if isinstance(spec, MLPSpec):
        return MLP(n_outputs=n_outputs, depth=spec.depth, width=spec.width, activation=spec.activation, dtype=dtype,
                   representation=representation)
    if representation is not None:
        raise SpecError("a trained representation feeds an MLP decoder, not the transformer")
    return Transformer(vocab_size=n_outputs, n_layers=spec.n_layers, d_model=spec.d_model, n_heads=spec.n_heads,
                       d_mlp=spec.d_mlp, dtype=dtype, layer_norm=spec.layer_norm, weight_init=spec.weight_init,
                       positions=spec.positions, mlp_bias=spec.mlp_bias)


EMBEDDING_PARAMS = ("tok_embed", "pos_embed", "unembed")


def count_params(params, embeddings: bool = False) -> int:
    """Parameter count; by default without the embedding and unembedding, as the paper counts."""
    top = params["params"] if "params" in params else params
    return sum(
        int(v.size)
        for name, sub in top.items()
        if embeddings or name not in EMBEDDING_PARAMS
        for v in jax.tree.leaves(sub)
    )
