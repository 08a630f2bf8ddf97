"""The two kinds of settings (see DESIGN.md).

``Config`` fixes shapes and control flow: it is a hashable, static argument of
``jit`` and changing it recompiles. ``RunParams`` holds the numbers that may
differ between runs of one sweep: a pytree of arrays with a leading run axis
``R``, traced and vmapped, so one compiled program serves every run. Its
fields are the seed, the data fraction and the knobs of ``knobs.KNOBS``.
"""

from __future__ import annotations

import dataclasses

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from grokjax import tasks
from grokjax.errors import SpecError
from grokjax.knobs import KNOBS, TRANSFORMS
from grokjax.losses import CLASSIFICATION_ONLY, LOSSES
from grokjax.model import MLPSpec, TransformerSpec

MATMUL_PRECISIONS = ("highest", "tensorfloat32", "bfloat16")
BATCHES = ("fresh", "epoch")


@dataclasses.dataclass(frozen=True)
class Config:
    """Static settings of one compiled program. Defaults are the paper's (appendix A.1.2)."""

    # what is learned (tasks.py) and by what (model.py)
    task: tasks.Task = tasks.TableTask()
    model: TransformerSpec | MLPSpec = TransformerSpec()
    # optimization
    batch_size: int = 512
    warmup_steps: int = 10
    # the learning rate times lr_drop_factor every lr_drop_every updates (0: never; the
    # Omnigrok notebooks' 0.2 every 5,000)
    lr_drop_every: int = 0
    lr_drop_factor: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.98
    eps: float = 1e-8
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
    # transforms in the program beyond AdamW (TRANSFORMS); each run sets its
    # strength through its knob, and the default number is "off".
    transforms: tuple = ()
    # Grokfast-MA's ring of gradients: the largest window among the
    # program's runs (each run averages its own last grokfast_window)
    grokfast_window: int = 0
    # the loss (losses.py): "softmax" or "stablemax" cross-entropy, or "mse"
    loss: str = "softmax"
    # every step's gradient from the whole training set instead of a minibatch
    full_batch: bool = False
    # how minibatches are drawn: "fresh" (B distinct rows each step) or
    # "epoch" (a new permutation of the training rows each epoch, as the
    # paper's code and PyTorch's loaders do; the last batch is the remainder)
    batches: str = "fresh"
    # the model, its optimizer state and its loss in float64
    x64: bool = False

    def __post_init__(self):
        if self.run_axis not in ("vmap", "map"):
            raise ValueError(f"run_axis must be 'vmap' or 'map', got {self.run_axis!r}")
        if self.model_path not in ("factorized", "answer"):
            raise ValueError(f"model_path must be 'factorized' or 'answer', got {self.model_path!r}")
        if self.matmul_precision not in MATMUL_PRECISIONS:
            raise ValueError(f"matmul_precision must be one of {MATMUL_PRECISIONS}, got {self.matmul_precision!r}")
        if self.batches not in BATCHES:
            raise SpecError(f"unknown batches {self.batches!r}; valid: {', '.join(BATCHES)}")
        if self.loss not in LOSSES:
            raise SpecError(f"unknown loss {self.loss!r}; valid: {', '.join(LOSSES)}")
        family = "mlp" if isinstance(self.model, MLPSpec) else "transformer"
        self.task.check_model(family)
        regression = self.task.data().kind == "regression"
        if regression and self.loss in CLASSIFICATION_ONLY:
            raise SpecError(f"loss {self.loss} needs class labels; the {self.task.describe()} task is a regression: use mse")
        if regression and "outliers" in self.transforms:
            raise SpecError(f"outliers swap class labels; the {self.task.describe()} task is a regression and has none")
        data = self.task.data()
        if "messiness" in self.transforms and data.x_ideal is None and data.symbols is None:
            raise SpecError(tasks.no_ideal(self.task))
        if "representation_lr" in self.transforms and data.symbols is None:
            raise SpecError(tasks.no_trained_representation(self.task, "representation_lr"))
        if "weight_norm_target" in self.transforms and data.symbols is not None:
            raise SpecError("weight_norm_target holds the norm of every parameter, the trained representation's too; "
                            "hold the decoder's with representation = \"fixed\"")
        unknown = set(self.transforms) - set(TRANSFORMS)
        if unknown:
            raise ValueError(f"unknown transforms {sorted(unknown)}; valid: {', '.join(TRANSFORMS)}")
        if "dropout" in self.transforms and self.model_path == "factorized" and family == "transformer":
            raise ValueError("dropout needs model_path='answer': its masks differ per example")
        if "grokfast_ma" in self.transforms and self.grokfast_window < 1:
            raise ValueError("the grokfast_ma transform needs grokfast_window >= 1: the ring of gradients it averages")
        if self.devices < 1:
            raise ValueError(f"devices must be >= 1, got {self.devices}")
        if self.map_batch < 1:
            raise ValueError(f"map_batch must be >= 1, got {self.map_batch}")

    def replace(self, **kw) -> "Config":
        return dataclasses.replace(self, **kw)


@flax.struct.dataclass
class RunParams:
    """Per-run numbers; every field has shape ``[R]`` (or ``[]`` inside vmap).

    ``seed`` fixes the run's init, split, batches and noise; ``n_train`` is
    its training-set size, drawn from the task's pool, and ``frac`` that
    size as a fraction of the pool, for the record; ``op_index`` picks its table
    when its program trains several ops. The rest are the knobs of ``KNOBS``.
    """

    seed: jax.Array  # int32
    frac: jax.Array  # float32, for the record
    n_train: jax.Array  # int32
    lr: jax.Array
    weight_decay: jax.Array
    init_scale: jax.Array
    weight_decay_l2: jax.Array
    weight_decay_init: jax.Array
    update_noise: jax.Array
    grad_noise: jax.Array
    grokfast_lambda: jax.Array
    grokfast_alpha: jax.Array
    grokfast_ma_lambda: jax.Array
    grokfast_window: jax.Array  # float32 holding a count
    orthograd: jax.Array
    weight_norm_target: jax.Array
    weight_noise: jax.Array
    dropout: jax.Array
    outliers: jax.Array  # float32 holding a count
    messiness: jax.Array
    representation_lr: jax.Array
    # int32: which of the program's stacked tables the run learns (TableTask.ops); 0 for one task
    op_index: jax.Array

    @property
    def n_runs(self) -> int:
        return int(np.shape(self.seed)[0])

    def run(self, i: int) -> "RunParams":
        """Run ``i`` alone, keeping a run axis of length 1."""
        return jax.tree.map(lambda v: v[i : i + 1], self)


def make_runs(pool, rows: list[dict]) -> RunParams:
    """RunParams from per-run dicts with keys seed, and n_train or frac, and
    any of KNOBS (a knob left out takes its default), and ``op_index`` for a
    program of several ops. ``pool`` is the task's
    TaskData, or the pool's size for a task without a fixed test set."""
    if not isinstance(pool, tasks.TaskData):
        pool = tasks.TaskData(np.zeros((pool, 0)), np.zeros(pool), int(pool), 2, 2)

    def size(r):
        return r["n_train"] if "n_train" in r else tasks.n_train(r["frac"], pool)

    return RunParams(
        seed=jnp.asarray([r["seed"] for r in rows], jnp.int32),
        frac=jnp.asarray([r.get("frac", size(r) / pool.n_pool) for r in rows], jnp.float32),
        n_train=jnp.asarray([size(r) for r in rows], jnp.int32),
        **{k.name: jnp.asarray([r.get(k.name, k.default) for r in rows], jnp.float32) for k in KNOBS},
        op_index=jnp.asarray([r.get("op_index", 0) for r in rows], jnp.int32),
    )
