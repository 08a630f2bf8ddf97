"""The two kinds of settings (see DESIGN.md).

``Config`` fixes shapes and control flow: it is a hashable, static argument of
``jit`` and changing it recompiles. ``RunParams`` holds the numbers that may
differ between runs of one sweep: a pytree of arrays with a leading run axis
``R``, traced and vmapped, so one compiled program serves every run.
"""

from __future__ import annotations

import dataclasses

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from grokjax import data


MATMUL_PRECISIONS = ("highest", "tensorfloat32", "bfloat16")


@dataclasses.dataclass(frozen=True)
class Config:
    """Static settings of a sweep. Defaults are the paper's (appendix A.1.2)."""

    op: str = "add"
    modulus: int = data.DEFAULT_MODULUS
    # model
    n_layers: int = 2
    d_model: int = 128
    n_heads: int = 4
    d_mlp: int = 512
    # optimization
    batch_size: int = 512
    warmup_steps: int = 10
    beta1: float = 0.9
    beta2: float = 0.98
    eps: float = 1e-8
    # budget
    steps: int = 5000
    eval_every: int = 100
    # how the run axis is executed: "vmap" (batched matmuls) or "map"
    # (a loop of plain matmuls, faster on a 2-core CPU); same results.
    run_axis: str = "vmap"
    # with run_axis "map": runs per loop iteration, vmapped inside (lax.map's
    # batch_size); 1 is a plain loop.
    map_batch: int = 1
    # devices the run axis is split over (a 1-D mesh named "runs"); the
    # sweep pads R to a multiple of it. 1 is a plain single-device program.
    devices: int = 1
    # how the model computes the answer logits (model.PATHS); all give the
    # same numbers, "factorized" with about half the FLOPs of "answer".
    model_path: str = "factorized"
    # float32 matmul precision: "highest" is exact float32 everywhere; the
    # opt-in "tensorfloat32" or "bfloat16" let a GPU's tensor cores round.
    matmul_precision: str = "highest"
    # optimizer transforms in the chain beyond AdamW (optim.TRANSFORMS); each
    # run sets its strength, 0 = off. See transforms_for.
    transforms: tuple = ()
    # the loss: "softmax" cross-entropy or "stablemax" (Prieto et al. 2025)
    loss: str = "softmax"
    # every step's gradient from the whole training set instead of a minibatch
    full_batch: bool = False
    # the model, its optimizer state and its loss in float64
    x64: bool = False

    def __post_init__(self):
        if self.run_axis not in ("vmap", "map"):
            raise ValueError(f"run_axis must be 'vmap' or 'map', got {self.run_axis!r}")
        if self.model_path not in ("factorized", "answer"):
            raise ValueError(f"model_path must be 'factorized' or 'answer', got {self.model_path!r}")
        if self.matmul_precision not in MATMUL_PRECISIONS:
            raise ValueError(f"matmul_precision must be one of {MATMUL_PRECISIONS}, got {self.matmul_precision!r}")
        if self.loss not in ("softmax", "stablemax"):
            raise ValueError(f"loss must be 'softmax' or 'stablemax', got {self.loss!r}")
        if "dropout" in self.transforms and self.model_path == "factorized":
            raise ValueError("dropout needs model_path='answer': its masks differ per example")
        if self.devices < 1:
            raise ValueError(f"devices must be >= 1, got {self.devices}")
        if self.map_batch < 1:
            raise ValueError(f"map_batch must be >= 1, got {self.map_batch}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")

    def replace(self, **kw) -> "Config":
        return dataclasses.replace(self, **kw)

    def program(self) -> "Config":
        """What the compiled program depends on. The budget and the eval
        cadence only steer the host loop (a chunk's length is traced), so a
        sweep extended on resume, or one of another length, reuses the program."""
        return self.replace(steps=0, eval_every=0)


@flax.struct.dataclass
class RunParams:
    """Per-run numbers; every field has shape ``[R]`` (or ``[]`` inside vmap)."""

    seed: jax.Array  # int32: init and split keys derive from it
    frac: jax.Array  # float32: the data fraction, for the record
    n_train: jax.Array  # int32: round(frac·N), computed once on the host
    lr: jax.Array  # float32: peak learning rate
    weight_decay: jax.Array  # float32: AdamW's decoupled decay toward 0
    init_scale: jax.Array  # float32: α, every initial parameter times α (Omnigrok)
    weight_decay_init: jax.Array  # float32: decoupled decay toward the initial parameters
    update_noise: jax.Array  # float32: σ of Gaussian noise added to Adam's direction
    grad_noise: jax.Array  # float32: σ of Gaussian noise added to the gradient
    grokfast_lambda: jax.Array  # float32: Grokfast-EMA amplification λ (0 = off)
    grokfast_alpha: jax.Array  # float32: Grokfast-EMA decay α
    orthograd: jax.Array  # float32: 1 = ⊥Grad on, 0 = off
    weight_norm: jax.Array  # float32: total parameter norm kept after each step (0 = off)
    weight_noise: jax.Array  # float32: σ of the Gaussian noise on the weights the forward pass sees
    dropout: jax.Array  # float32: residual dropout rate
    outliers: jax.Array  # float32 (a count): training answers replaced by other training answers

    @property
    def n_runs(self) -> int:
        return int(np.shape(self.seed)[0])

    def run(self, i: int) -> "RunParams":
        """Run ``i`` alone, keeping a run axis of length 1."""
        return jax.tree.map(lambda v: v[i : i + 1], self)

    def rows(self) -> list[dict]:
        """One dict of plain Python numbers per run, for tables."""
        cols = {f.name: np.asarray(getattr(self, f.name)).tolist() for f in dataclasses.fields(self)}
        return [dict(zip(cols, vals)) for vals in zip(*cols.values())]


# Per-run numbers beyond seed, frac, lr and weight_decay, with the value that
# means "as the paper's default AdamW run", and the transform each one drives.
RUN_DEFAULTS = {
    "init_scale": 1.0,
    "weight_decay_init": 0.0,
    "update_noise": 0.0,
    "grad_noise": 0.0,
    "grokfast_lambda": 0.0,
    "grokfast_alpha": 0.98,
    "orthograd": 0.0,
    "weight_norm": 0.0,
    "weight_noise": 0.0,
    "dropout": 0.0,
    "outliers": 0,
}
TRANSFORM_OF = {
    "weight_decay_init": "decay_to_init",
    "update_noise": "update_noise",
    "grad_noise": "grad_noise",
    "grokfast_lambda": "grokfast",
    "orthograd": "orthograd",
    "weight_norm": "weight_norm",
    "weight_noise": "weight_noise",
    "dropout": "dropout",
    "outliers": "outliers",
}


def transforms_for(grid: list[dict]) -> tuple:
    """The transforms a sweep's chain needs: those some run turns on."""
    return tuple(sorted({t for k, t in TRANSFORM_OF.items() if any(g.get(k, RUN_DEFAULTS[k]) != RUN_DEFAULTS[k] for g in grid)}))


def make_runs(table_size: int, grid: list[dict]) -> RunParams:
    """RunParams from per-run dicts with keys seed, frac, lr, weight_decay and
    optionally any of RUN_DEFAULTS."""
    extra = {k: jnp.asarray([g.get(k, d) for g in grid], jnp.float32) for k, d in RUN_DEFAULTS.items() if k != "init_scale"}
    return RunParams(
        seed=jnp.asarray([g["seed"] for g in grid], jnp.int32),
        frac=jnp.asarray([g["frac"] for g in grid], jnp.float32),
        n_train=jnp.asarray([data.n_train(g["frac"], table_size) for g in grid], jnp.int32),
        lr=jnp.asarray([g["lr"] for g in grid], jnp.float32),
        weight_decay=jnp.asarray([g["weight_decay"] for g in grid], jnp.float32),
        init_scale=jnp.asarray([g.get("init_scale", 1.0) for g in grid], jnp.float32),
        **extra,
    )
