"""XLA compile options for grokjax's programs, and the ``jit`` that applies them.

On CPU, XLA hands matmuls, and also some reductions and elementwise ops, to
its YNNPACK library fusions. For these models the reductions there are
slow: a LayerNorm parameter gradient, a sum over 512 rows of 128 columns,
takes about 0.75 ms, and such ops fill 11% of the paper step
(``results/step_profile_xeon207/``). So on CPU grokjax's programs keep
YNNPACK for matmuls only, and XLA compiles the rest itself. Measured in
alternating pairs in one process (``sweeps/options_ab.py``, a 2-core Xeon),
the paper step ran 13% faster at R = 1, 5% at R = 8, and 14% with XLA's
code limited to AVX2. The float32 rounding of some sums changes with it.

Every program grokjax compiles for training, evaluation and analysis goes
through ``jit`` here, so they all round alike. The options are chosen at
first use, once JAX's backend is set: none on GPU, and none where the
installed XLA does not know the option (it is marked experimental).
"""

from __future__ import annotations

import functools

# YNNPACK for matmuls only (XLA's default also gives it reductions and
# elementwise ops)
CPU_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_DOT"}


@functools.cache
def compiler_options() -> dict:
    """The options grokjax compiles with on this process's backend."""
    import jax
    import numpy as np

    if jax.default_backend() != "cpu":
        return {}
    try:
        jax.jit(lambda a: a + 1, compiler_options=CPU_OPTIONS).lower(np.float32(0)).compile()
    except Exception:  # an XLA without this option: its defaults
        return {}
    return dict(CPU_OPTIONS)


class _Jit:
    """``jax.jit(fn, compiler_options=compiler_options(), **kwargs)``, built
    at first use rather than at import (the backend may not be chosen yet)."""

    def __init__(self, fn, kwargs):
        functools.update_wrapper(self, fn)
        self._fn, self._kwargs, self._jitted, self._nested = fn, kwargs, None, None

    def _get(self):
        if self._jitted is None:
            import jax

            self._jitted = jax.jit(self._fn, compiler_options=compiler_options(), **self._kwargs)
        return self._jitted

    def __call__(self, *args, **kwargs):
        import jax

        if any(isinstance(v, jax.core.Tracer) for v in jax.tree.leaves((args, kwargs))):
            # called inside another trace (jax.eval_shape, an outer jit):
            # JAX takes compile options only at the top level
            if self._nested is None:
                self._nested = jax.jit(self._fn, **self._kwargs)
            return self._nested(*args, **kwargs)
        return self._get()(*args, **kwargs)

    def with_xla_defaults(self):
        """The same function and jit arguments, without grokjax's compile
        options: the program as XLA compiles it by default (for measuring
        what the options change)."""
        import jax

        return jax.jit(self._fn, **self._kwargs)

    def __getattr__(self, name):  # lower, trace, eval_shape, ...
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._get(), name)


def jit(fn=None, **kwargs):
    """``jax.jit`` with grokjax's compile options; also a decorator factory
    (``functools.partial(jit, static_argnames=...)``)."""
    if fn is None:
        return functools.partial(jit, **kwargs)
    return _Jit(fn, kwargs)
