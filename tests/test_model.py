import jax
import jax.numpy as jnp
import numpy as np

from grokjax import data
from grokjax.config import Config
from grokjax.model import count_params, make_model


def test_paper_model_has_about_4e5_non_embedding_parameters():
    model = make_model(Config(), vocab_size=99)
    params = model.init(jax.random.key(0), jnp.zeros((1, 4), jnp.int32))
    n = count_params(params)
    # Appendix A.1.2: "about 4·10⁵ non-embedding parameters".
    assert 3.6e5 <= n <= 4.4e5, n
    # 2 blocks × (attention 4·128² + MLP 2·128·512 + 2 LayerNorms 2·256), no biases
    assert n == 2 * (4 * 128**2 + 2 * 128 * 512 + 2 * 256) == 394_240
    assert count_params(params, embeddings=True) == n + 2 * 99 * 128


def _tiny():
    cfg = Config(d_model=32, n_heads=4, d_mlp=64)
    model = make_model(cfg, vocab_size=13)
    x = jnp.asarray(data.make_table("add", 11).x[:16])
    return model, model.init(jax.random.key(1), x), x


def test_shapes():
    model, params, x = _tiny()
    assert model.apply(params, x).shape == (16, 13)
    assert model.apply(params, x, last_only=False).shape == (16, 4, 13)


def test_causal_changing_a_later_token_never_changes_an_earlier_output():
    model, params, x = _tiny()
    full = model.apply(params, x, last_only=False)
    for i in range(3):
        x2 = x.at[:, i + 1 :].set((x[:, i + 1 :] + 5) % 13)
        full2 = model.apply(params, x2, last_only=False)
        np.testing.assert_allclose(full2[:, : i + 1], full[:, : i + 1], rtol=1e-6, atol=1e-6)
        assert not np.allclose(full2[:, i + 1 :], full[:, i + 1 :])  # and later ones do change


def test_last_only_path_equals_the_full_model_at_the_answer_position():
    model, params, x = _tiny()
    np.testing.assert_allclose(model.apply(params, x), model.apply(params, x, last_only=False)[:, -1], rtol=1e-5, atol=1e-6)
