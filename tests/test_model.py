import jax
import pytest
import jax.numpy as jnp
import numpy as np

from grokjax import tables

from grokjax import model as model_module
from grokjax.model import Transformer, TransformerSpec, attend, count_params, dot_rows, make_model, products_by_sum


def test_paper_model_has_about_4e5_non_embedding_parameters():
    model = Jitted(make_model(TransformerSpec(), 99))
    params = model.init(jax.random.key(0), jnp.zeros((1, 4), jnp.int32))
    n = count_params(params)
    # Appendix A.1.2: "about 4·10⁵ non-embedding parameters".
    assert 3.6e5 <= n <= 4.4e5, n
    # 2 blocks × (attention 4·128² + MLP 2·128·512 + 2 LayerNorms 2·256), no biases
    assert n == 2 * (4 * 128**2 + 2 * 128 * 512 + 2 * 256) == 394_240
    assert count_params(params, embeddings=True) == n + 2 * 99 * 128


class Jitted:
    """A model whose ``apply`` is compiled: eager Flax is slow on CPU."""

    def __init__(self, model):
        self.init = jax.jit(model.init)
        self.apply = jax.jit(model.apply, static_argnames="path")


def _tiny():
    model = Jitted(make_model(TransformerSpec(d_model=32, n_heads=4, d_mlp=64), 13))
    x = jnp.asarray(tables.make_table("add", 11).x[:16])
    return model, model.init(jax.random.key(1), x), x


def test_shapes():
    model, params, x = _tiny()
    assert model.apply(params, x).shape == (16, 13)
    assert model.apply(params, x, path="answer").shape == (16, 13)
    assert model.apply(params, x, path="full").shape == (16, 4, 13)


def test_causal_changing_a_later_token_never_changes_an_earlier_output():
    model, params, x = _tiny()
    full = model.apply(params, x, path="full")
    for i in range(3):
        x2 = x.at[:, i + 1 :].set((x[:, i + 1 :] + 5) % 13)
        full2 = model.apply(params, x2, path="full")
        np.testing.assert_allclose(full2[:, : i + 1], full[:, : i + 1], rtol=1e-6, atol=1e-6)
        assert not np.allclose(full2[:, i + 1 :], full[:, i + 1 :])  # and later ones do change


@pytest.mark.parametrize("op, modulus, n_layers", [("add", 11, 2), ("s5_conj", None, 2), ("x3_xy", 7, 1), ("mix", 7, 3)])
def test_every_path_gives_the_full_models_answer_logits(op, modulus, n_layers):
    table = tables.make_table(op, modulus) if modulus else tables.make_table(op)
    model = Jitted(Transformer(vocab_size=table.vocab_size, n_layers=n_layers, d_model=32, n_heads=4, d_mlp=64))
    x = jnp.asarray(table.x[:200])
    params = model.init(jax.random.key(2), x[:1])
    full = model.apply(params, x, path="full")[:, -1]
    for path in ("answer", "factorized"):
        np.testing.assert_allclose(model.apply(params, x, path=path), full, rtol=1e-5, atol=2e-6, err_msg=path)


def test_factorized_path_has_the_same_gradients():
    model, params, x = _tiny()

    def loss(p, path):
        return (model.apply(p, x, path=path) ** 2).sum()

    grad = jax.jit(jax.grad(loss), static_argnums=1)
    ref, got = grad(params, "answer"), grad(params, "factorized")
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), got, ref)


@pytest.mark.parametrize("Q, masked", [(2, True), (1, False), (4, True)])
def test_attention_by_sum_agrees_with_einsums_values_and_gradients(Q, masked):
    kq, kk, kv = jax.random.split(jax.random.key(3), 3)
    q, k, v = jax.random.normal(kq, (8, Q, 64)), jax.random.normal(kk, (8, 4, 64)), jax.random.normal(kv, (8, 4, 64))
    mask = np.tril(np.ones((4, 4), bool))[4 - Q:] if masked else None
    fn = {by_sum: jax.jit(lambda q, k, v, s=by_sum: attend(q, k, v, mask, 4, by_sum=s)) for by_sum in (False, True)}
    out = {by_sum: f(q, k, v) for by_sum, f in fn.items()}
    np.testing.assert_allclose(out[True], out[False], rtol=1e-5, atol=1e-6)
    if masked:  # the mask holds: the last position's value never reaches the first query
        np.testing.assert_allclose(fn[True](q, k, v.at[:, -1].add(1.0))[:, 0], out[True][:, 0], rtol=1e-6, atol=1e-6)
    grads = {by_sum: jax.grad(lambda q, k, v, s=by_sum: (attend(q, k, v, mask, 4, by_sum=s) ** 2).sum(), (0, 1, 2))(q, k, v)
             for by_sum in (False, True)}
    for a, b in zip(grads[True], grads[False]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_cpu_step_has_no_batched_matmul():
    """On CPU attention is multiply-and-sum: XLA would run a batched einsum
    as one tiny library matmul per example and head."""
    if jax.default_backend() != "cpu":
        pytest.skip("a CPU property")
    assert products_by_sum()
    model, params, x = _tiny()
    hlo = jax.jit(jax.grad(lambda p: (model.apply(p, x) ** 2).sum())).lower(params).compile().as_text()
    assert "lhs_contracting_dims" in hlo  # the dense layers' matmuls are there
    assert [line for line in hlo.splitlines() if "lhs_batch_dims" in line] == []


@pytest.mark.parametrize("shape", [(8, 3, 16), (8, 16), (2, 4, 3, 16)])
def test_dot_rows_is_the_dense_dot_bit_for_bit(shape):
    """Flattening the leading axes changes no product and no sum: the same
    bits forward and in both gradients."""
    kx, kw = jax.random.split(jax.random.key(4))
    x, w = jax.random.normal(kx, shape), jax.random.normal(kw, (16, 24))
    dims = (((len(shape) - 1,), (0,)), ((), ()))

    def loss(dot):
        return jax.jit(jax.value_and_grad(lambda x, w: jnp.sin(dot(x, w, dims)).sum(), (0, 1)))

    (v_rows, g_rows), (v_plain, g_plain) = loss(dot_rows)(x, w), loss(jax.lax.dot_general)(x, w)
    assert dot_rows(x, w, dims).shape == shape[:-1] + (24,)
    np.testing.assert_array_equal(v_rows, v_plain)
    for a, b in zip(g_rows, g_plain):
        np.testing.assert_array_equal(a, b)


def test_the_model_with_rows_gives_the_same_bits_on_every_path(monkeypatch):
    """Flattened rows change the compiled program, not a single number."""
    def grads():
        model, params, x = _tiny()
        return {path: jax.jit(jax.value_and_grad(lambda p: (model.apply(p, x, path=path) ** 2).mean()))(params)
                for path in ("factorized", "answer", "full")}

    rows = grads()
    monkeypatch.setattr(model_module, "dot_rows", jax.lax.dot_general)
    jax.clear_caches()
    for path, plain in grads().items():
        for a, b in zip(jax.tree.leaves(rows[path]), jax.tree.leaves(plain)):
            np.testing.assert_array_equal(a, b, err_msg=path)


def test_cpu_gradient_with_rows_has_fewer_layout_copies(monkeypatch):
    """Why ``dot_rows`` exists: on ``[B, L, D]`` inputs XLA:CPU surrounds the
    backward matmuls with transposes and copies that the flattened form does
    not need (measured 1.15× faster on the paper step)."""
    if jax.default_backend() != "cpu":
        pytest.skip("a CPU property")

    def copies(path):
        model, params, x = _tiny()
        hlo = jax.jit(jax.grad(lambda p: (model.apply(p, x, path=path) ** 2).sum())).lower(params).compile().as_text()
        return sum(line.count(" transpose(") + line.count(" copy(") for line in hlo.splitlines())

    rows = {path: copies(path) for path in ("factorized", "answer")}
    monkeypatch.setattr(model_module, "dot_rows", jax.lax.dot_general)
    jax.clear_caches()  # trace the model again with the plain dot
    for path, n in rows.items():
        assert n < copies(path), path


def test_unknown_path_is_an_error():
    model, params, x = _tiny()
    with pytest.raises(ValueError, match="unknown model path"):
        model.apply(params, x, path="fast")


def test_layer_norm_uses_pytorchs_epsilon_as_the_papers_code():
    """ε = 1e-5 (openai/grok and the PyTorch reference use nn.LayerNorm's
    default): visible where the variance is small against it."""
    from grokjax.model import layer_norm

    x = jnp.asarray([[0.0, 2e-3]])  # variance 1e-6: ε = 1e-6 would give ±0.71, 1e-5 gives ±0.30
    ln = layer_norm(jnp.float32)
    got = ln.apply(ln.init(jax.random.key(0), x), x)
    centred = x - x.mean()
    np.testing.assert_allclose(got, centred / np.sqrt(x.var() + 1e-5), rtol=1e-3)
