"""grokjax's programs compile with its XLA options: on CPU, YNNPACK keeps
matmuls and XLA compiles reductions itself (grokjax.xla_options)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from grokjax import report, train, xla_options


def _options_or_skip() -> dict:
    opts = xla_options.compiler_options()
    if not opts:
        pytest.skip("this XLA does not know the option, so grokjax compiles with XLA's defaults")
    return opts


def test_a_reduction_is_not_a_library_fusion():
    _options_or_skip()

    def layer_norm_scale_grad(a, b):  # the shape of a LayerNorm parameter gradient: a sum over rows
        return (a * b).sum(0)

    a = np.ones((512, 128), np.float32)
    hlo = xla_options.jit(layer_norm_scale_grad).lower(a, a).compile().as_text()
    assert "__ynn_fusion" not in hlo


def test_every_training_program_uses_them_and_the_environment_says_so():
    opts = _options_or_skip()
    assert report.environment()["compiler_options"] == opts
    for fn in (train.sweep_init, train.sweep_chunk, train.sweep_steps):
        assert isinstance(fn, xla_options._Jit)
        assert fn._get() is fn._get()  # built once


def test_the_wrapper_keeps_jit_semantics():
    f = xla_options.jit(lambda x, n: x * n, static_argnames="n")
    assert f(jnp.arange(3.0), n=2).tolist() == [0.0, 2.0, 4.0]
    assert f.lower(jnp.arange(3.0), n=2).compile()(jnp.arange(3.0)).tolist() == [0.0, 2.0, 4.0]
    assert jax.eval_shape(lambda x: f(x, n=3), jnp.zeros(4)).shape == (4,)


def test_with_xla_defaults_is_the_same_function_without_the_options():
    _options_or_skip()

    def layer_norm_scale_grad(a, b):  # as above: grokjax keeps this sum out of YNNPACK, XLA's defaults do not
        return (a * b).sum(0)

    f = xla_options.jit(layer_norm_scale_grad)
    a = np.ones((512, 128), np.float32)
    assert "__ynn_fusion" not in f.lower(a, a).compile().as_text()
    plain = f.with_xla_defaults()
    assert "__ynn_fusion" in plain.lower(a, a).compile().as_text()
    assert plain(a, a).tolist() == f(a, a).tolist()
    g = xla_options.jit(lambda x, n: x * n, static_argnames="n").with_xla_defaults()  # the jit arguments kept
    assert g(jnp.arange(3.0), n=2).tolist() == [0.0, 2.0, 4.0]
