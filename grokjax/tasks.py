"""Tasks: what a sweep's runs learn.

A task supplies its data (``TaskData``: arrays ``x`` and ``y``, the pool a run
draws its training set from, the held-out rows), the model family that fits
it, its default loss, and what "correct" means. Five tasks:

- ``table``: an operation table of Power et al. (``grokjax.tables``), learned
  by the transformer with cross-entropy; correct is the argmax.
- ``teacher_student`` (Omnigrok §3): labels are a fixed random tanh MLP's
  outputs on Gaussian inputs, learned by an MLP with MSE; a sample is correct
  when its squared error, averaged over outputs, is below ``threshold``.
- ``digits``: scikit-learn's 8×8 digits (stands in for Omnigrok §4's MNIST),
  learned by a ReLU MLP with MSE on one-hot targets; correct is the argmax.
- ``toy_addition`` (Omnigrok §5.1): (i + j) mod p from fixed 2-D symbol
  vectors, learned by an MLP with MSE onto 30-D class vectors; correct is
  the nearest class vector.
- ``arrays``: a user's own ``.npz`` file of ``x`` and ``y`` (and optionally
  ``x_test``, ``y_test``); integer ``y`` is classification, float ``y`` regression.

**Splits.** A run's seed orders the pool; the run trains on the first
``n_train`` rows of that order, so for one seed a smaller training set is a
subset of a larger one. Its held-out rows are the task's fixed test rows
when it has them (``teacher_student``, ``arrays`` with ``x_test``), else the
pool rows it does not train on. Every shape stays fixed whatever ``n_train``.

Task objects are frozen and hashable: they sit in the static ``Config`` of a
compiled program, and ``data()`` is built once per task and shared.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from pathlib import Path
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from grokjax import tables
from grokjax.errors import SpecError
from grokjax.model import MLPSpec, TransformerSpec

KINDS = ("classification", "regression")


@dataclasses.dataclass(frozen=True, eq=False)
class TaskData:
    """A task's arrays. Rows ``[0, n_pool)`` are the pool a run's training
    set is drawn from; rows ``[n_pool, N)``, if any, are a fixed test set."""

    x: np.ndarray  # [N, ...]: int32 tokens (table) or float32 features
    y: np.ndarray  # [N] int32 classes, or [N, K] float32 targets
    n_pool: int
    n_outputs: int  # width of the model's output: vocabulary, classes or K
    n_classes: int | None  # labels lie in [0, n_classes); None for regression
    # several tables of one vocabulary stacked (TableTask.stacked): x [K, N, ...], y [K, N]
    stacked: bool = False
    # rows [0, n_shuffled) of the pool are shuffled per run, the rest follow
    # in order (None: the whole pool): a pool grown for larger train sizes
    # then leaves the smaller runs' subsets as they were (teacher_student)
    n_shuffled: int | None = None
    # Omnigrok §5's ideal representation of each row, shaped as x: a run at
    # messiness ξ sees ξ·x + (1−ξ)·x_ideal (None: the task has none)
    x_ideal: np.ndarray | None = None
    # regression onto one of a few vectors (toy_addition's class vectors, [C, K]):
    # a row is correct when its output is nearest its own target's vector
    targets: np.ndarray | None = None
    # a trained representation's own and ideal symbol vectors, [2, P, D]: x
    # holds symbol ids, the model learns a vector per symbol and sums a row's,
    # and a run at messiness ξ starts it at ξ·own + (1−ξ)·ideal (None: none)
    symbols: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(self.x.shape[1 if self.stacked else 0])

    @property
    def fixed_test(self) -> bool:
        return self.size > self.n_pool

    @property
    def kind(self) -> str:
        return "regression" if self.n_classes is None else "classification"


def no_ideal(task) -> str:
    """The error for messiness on a task without an ideal representation."""
    return (f"messiness interpolates toward a task's ideal representation; the {task.describe()} task has none "
            f"(toy_addition and digits have one; an arrays file may hold x_ideal)")


def no_trained_representation(task, what: str) -> str:
    """The error for a setting that needs a trained representation."""
    return (f"{what} acts on a trained representation; the {task.describe()} task has none "
            f"(toy_addition with representation = \"trained\")")


def _int(name: str, v, low: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
        raise SpecError(f"{name} must be a whole number >= {low}, got {v!r}")
    return int(v)


def _positive(name: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not 0 < v < float("inf"):
        raise SpecError(f"{name} must be a positive number, got {v!r}")
    return float(v)


def _set(obj, **kw):
    for k, v in kw.items():
        object.__setattr__(obj, k, v)


class _Task:
    """What every task has; subclasses are frozen dataclasses."""

    name: ClassVar[str]
    summary: ClassVar[str] = ""  # one line for --list-tasks
    family: ClassVar[str]  # the model family it defaults to: "transformer" or "mlp"
    also_learned_by: ClassVar[tuple[str, ...]] = ()  # other families that fit it
    default_loss: ClassVar[str]
    # the paper's minibatch min(B, ⌈n_train/2⌉) (Power et al.); else min(B, n_train)
    halve_batch: ClassVar[bool] = False
    # evaluate in padded blocks of train.EVAL_ROWS rows even when the data is smaller
    pad_eval: ClassVar[bool] = False
    # what a sweep of this task uses for what it leaves unset: static settings
    # (batch_size, beta2, warmup_steps) and per-run knobs (knobs.KNOBS).
    # Omnigrok's notebooks use PyTorch's Adam (β₂ 0.999, no warmup).
    defaults: ClassVar[dict] = {"batch_size": 512, "beta2": 0.999, "warmup_steps": 0}
    knob_defaults: ClassVar[dict] = {}

    # several tasks' data in one program (only TableTask, for several ops)
    stacked: ClassVar[bool] = False

    def parts(self) -> tuple:
        """The single tasks this one trains side by side: itself, for most."""
        return (self,)

    def default_model(self):
        return MLPSpec()

    def check_model(self, model_name: str):
        """A SpecError unless a model of family ``model_name`` can learn this task."""
        fits = (self.family, *self.also_learned_by)
        if model_name not in fits:
            raise SpecError(f"the {self.name} task is learned by the {' or the '.join(fits)}, not the {model_name}")

    def default_sizes(self) -> dict:
        """``{"fracs": ...}`` or ``{"train_sizes": ...}`` when a sweep names neither."""
        return {"fracs": (0.5,)}

    def data(self) -> TaskData:
        return task_data(self)

    def build(self) -> TaskData:
        raise NotImplementedError

    def to_dict(self) -> dict:
        return {"name": self.name, **dataclasses.asdict(self)}

    def columns(self) -> dict:
        """What runs.csv and curves.csv record of the task in every row."""
        return {"task": self.name}

    def describe(self) -> str:
        return self.name.replace("_", "-")


@functools.lru_cache(maxsize=16)
def task_data(task) -> TaskData:
    """``task.build()``, once per task and shared: treat it as read-only."""
    return task.build()


# ---------------------------------------------------------------- table


@dataclasses.dataclass(frozen=True, kw_only=True)
class TableTask(_Task):
    """The operation table ``op`` (``python -m grokjax.sweep --list-ops``), with
    modulus ``modulus`` for the arithmetic ops; Power et al.'s task.

    ``op`` may name several operations, as a comma list or ``all`` (every
    registered op, in registry order): the operation is then one more per-run
    choice, the slowest axis of the grid. Ops whose tables share a vocabulary
    (the mod-p ops; the S5 ops) train in one compiled program, their tables
    stacked (``stacked``) and each run reading its own (``RunParams.op_index``);
    a table with fewer rows (x/y has no y = 0) is padded with rows that are
    never drawn. ``parts()`` gives one single-op task per op."""

    name: ClassVar[str] = "table"
    summary: ClassVar[str] = ("an operation table of Power et al. (--op, --modulus); transformer (or --model mlp), "
                              "cross-entropy")
    family: ClassVar[str] = "transformer"
    # an MLP on the one-hot tokens: no attention, so it groks in a few hundred
    # cheap steps (the fast preset)
    also_learned_by: ClassVar[tuple[str, ...]] = ("mlp",)
    default_loss: ClassVar[str] = "softmax"
    halve_batch: ClassVar[bool] = True
    pad_eval: ClassVar[bool] = True
    defaults: ClassVar[dict] = {"batch_size": 512, "beta2": 0.98, "warmup_steps": 10}  # Power et al. A.1.2
    op: str = "add"
    modulus: int = tables.DEFAULT_MODULUS

    def __post_init__(self):
        op = self.op
        if isinstance(op, (list, tuple)):
            op = ",".join(str(o) for o in op)
        if not isinstance(op, str):
            raise SpecError(f"op must be a string, got {self.op!r}")
        ops = list(tables.OPS) if op.strip() == "all" else [o.strip() for o in op.split(",") if o.strip()]
        if not ops:
            raise SpecError(f"op {self.op!r} names no operation; valid ops: {', '.join(tables.OPS)}")
        if len(set(ops)) != len(ops):
            raise SpecError(f"op lists an operation twice: {op}")
        _set(self, op=",".join(ops), modulus=_int("modulus", self.modulus, 2))
        for o in ops:
            tables.check_modulus(o, self.modulus)

    @property
    def ops(self) -> tuple[str, ...]:
        return tuple(self.op.split(","))

    @property
    def stacked(self) -> bool:
        """Several tables in one program: data arrays gain a leading op axis."""
        return len(self.ops) > 1

    def parts(self) -> tuple["TableTask", ...]:
        """One single-op task per op, in order."""
        return tuple(dataclasses.replace(self, op=o) for o in self.ops) if self.stacked else (self,)

    def vocab_size(self) -> int:
        """The table's vocabulary: ops of one vocabulary can share a program."""
        return tables.table_for(self.op, self.modulus).vocab_size

    def pools(self) -> tuple[int, ...]:
        """Each op's table size, in ``ops`` order."""
        return tuple(tables.table_for(o, self.modulus).size for o in self.ops)

    def build(self) -> TaskData:
        if not self.stacked:
            t = tables.table_for(self.op, self.modulus)
            return TaskData(t.x, t.y, t.size, t.vocab_size, t.n_symbols)
        ts = [tables.table_for(o, self.modulus) for o in self.ops]
        if len({t.vocab_size for t in ts}) > 1:
            raise SpecError(f"ops {self.op} have tables of different vocabularies and cannot share a program")
        n = max(t.size for t in ts)

        def pad(a):  # rows past a table's end: copies of its last row, never drawn or scored
            return np.concatenate([a, np.repeat(a[-1:], n - a.shape[0], axis=0)])

        x, y = np.stack([pad(t.x) for t in ts]), np.stack([pad(t.y) for t in ts])
        return TaskData(x, y, n, ts[0].vocab_size, ts[0].n_symbols, stacked=True)

    def columns(self) -> dict:
        # S5's ops have no modulus: an empty cell, not the default's 97
        uses = any(tables.get_op(o).uses_modulus for o in self.ops)
        return {"op": self.op, "modulus": self.modulus if uses else None}

    def default_model(self):
        return TransformerSpec()

    def default_sizes(self) -> dict:
        return {"fracs": (0.3, 0.4, 0.5, 0.6)}

    def describe(self) -> str:
        if self.stacked:
            return f"{len(self.ops)} ops" + (f" mod {self.modulus}" if any(tables.get_op(o).uses_modulus
                                                                       for o in self.ops) else "")
        return f"{self.op} mod {self.modulus}" if tables.get_op(self.op).uses_modulus else self.op


# ---------------------------------------------------------------- teacher-student


def torch_linear(rng: np.random.Generator, fan_in: int, fan_out: int) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's ``nn.Linear`` default init: weight and bias U(±1/√fan_in)."""
    bound = 1 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, (fan_in, fan_out)), rng.uniform(-bound, bound, fan_out)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TeacherStudentTask(_Task):
    """Omnigrok §3: a fixed teacher MLP (``widths``, tanh, biases, PyTorch's
    default init from ``teacher_seed``) labels Gaussian inputs N(0, I).
    ``n_train`` samples form the pool, ``n_test`` more are the test set, all
    drawn once from ``teacher_seed``: every run sees the same teacher and
    data, and only the student's init (and its subset, when it trains on
    fewer than ``n_train``) follows the run's seed. A sweep with larger
    train sizes grows the pool to ``pool`` inputs, drawn after the first
    ``n_train`` from the same stream; a run's order shuffles only the first
    ``n_train`` and then takes the added ones in turn, so a run trains on the
    same samples whatever else its sweep holds. The test set stays the
    same. A sample is correct when its mean squared error is below
    ``threshold``."""

    name: ClassVar[str] = "teacher_student"
    summary: ClassVar[str] = "Omnigrok §3: a fixed 5-100-100-5 tanh teacher labels Gaussian inputs; MLP, MSE (--n-test, --threshold)"
    family: ClassVar[str] = "mlp"
    default_loss: ClassVar[str] = "mse"
    knob_defaults: ClassVar[dict] = {"lr": 3e-4, "weight_decay": 0.05}  # the authors' notebook
    n_train: int = 100
    n_test: int = 100
    widths: tuple = (5, 100, 100, 5)
    teacher_seed: int = 0
    threshold: float = 1e-3
    pool: int = 0  # training inputs drawn; 0: n_train (set by a sweep with larger train sizes)

    def __post_init__(self):
        widths = tuple(self.widths) if isinstance(self.widths, (list, tuple)) else (self.widths,)
        if len(widths) < 2:
            raise SpecError(f"widths needs an input and an output width, got {list(widths)}")
        _set(self, n_train=_int("n_train", self.n_train, 1), n_test=_int("n_test", self.n_test, 1),
             widths=tuple(_int("a width", w, 1) for w in widths), teacher_seed=_int("teacher_seed", self.teacher_seed, 0),
             threshold=_positive("threshold", self.threshold), pool=_int("pool", self.pool, 0))

    def build(self) -> TaskData:
        rng = np.random.default_rng(self.teacher_seed)
        layers = [torch_linear(rng, a, b) for a, b in zip(self.widths[:-1], self.widths[1:])]
        # test inputs first: a larger pool then only adds rows, the test set stays
        x_test = rng.standard_normal((self.n_test, self.widths[0]))
        n_pool = max(self.n_train, self.pool)
        x = np.concatenate([rng.standard_normal((n_pool, self.widths[0])), x_test])
        y = x
        for i, (w, b) in enumerate(layers):
            y = y @ w + b
            if i < len(layers) - 1:
                y = np.tanh(y)
        return TaskData(x.astype(np.float32), y.astype(np.float32), n_pool, self.widths[-1], None,
                        n_shuffled=self.n_train)

    def default_model(self):
        return MLPSpec(depth=len(self.widths) - 1, width=self.widths[1] if len(self.widths) > 2 else 100,
                       activation="tanh")

    def default_sizes(self) -> dict:
        return {"train_sizes": (self.n_train,)}

    def teacher(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The teacher's (weight, bias) per layer, as ``build`` draws them."""
        rng = np.random.default_rng(self.teacher_seed)
        return [torch_linear(rng, a, b) for a, b in zip(self.widths[:-1], self.widths[1:])]


# ---------------------------------------------------------------- digits


@dataclasses.dataclass(frozen=True, kw_only=True)
class DigitsTask(_Task):
    """scikit-learn's ``load_digits``: 1,797 images of 8×8 pixels in 0..16,
    scaled to [0, 1] and flattened to 64 features, 10 classes. It ships
    inside scikit-learn, so it needs no download; the pool is all 1,797."""

    name: ClassVar[str] = "digits"
    summary: ClassVar[str] = ("scikit-learn's 8×8 digits (for Omnigrok §4's MNIST); ReLU MLP, MSE on one-hot targets "
                              "(--messiness)")
    family: ClassVar[str] = "mlp"
    default_loss: ClassVar[str] = "mse"
    # the authors' MNIST notebook: batch 200, AdamW lr 1e-3, weight decay 0.01
    defaults: ClassVar[dict] = {"batch_size": 200, "beta2": 0.999, "warmup_steps": 0}
    knob_defaults: ClassVar[dict] = {"lr": 1e-3, "weight_decay": 0.01}

    def default_sizes(self) -> dict:
        return {"train_sizes": (1000,)}  # as the authors' MNIST notebook

    def build(self) -> TaskData:
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise SpecError("the digits task needs scikit-learn: pip install scikit-learn") from None
        d = load_digits()
        x = (d.data / 16.0).astype(np.float32)
        # Omnigrok Fig. 8's linearly separable images: every pixel of a c at
        # linspace(−0.5, 0.5, 10)[c] (its MNIST notebook's templates)
        ideal = np.repeat(np.linspace(-0.5, 0.5, 10)[d.target][:, None], x.shape[1], axis=1).astype(np.float32)
        return TaskData(x, d.target.astype(np.int32), x.shape[0], 10, 10, x_ideal=ideal)


# ---------------------------------------------------------------- toy addition

# how the toy addition's symbol vectors are held: data, or parameters that learn
REPRESENTATIONS = ("fixed", "trained")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ToyAdditionTask(_Task):
    """Omnigrok §5.1, the toy addition of Liu et al. (2022) that its Figure 6
    maps: symbols 0..p−1 (p = ``modulus``), each a fixed 2-D vector; a row is
    an unordered pair i ≤ j (p(p+1)/2 rows), its input the sum of the two
    vectors (the decoder's hard-coded addition), its target the 30-D vector of
    class (i + j) mod p, and it is correct when the output lies nearest that
    class's vector (MSE regression, as the authors' notebook).

    The vectors, all drawn once from ``representation_seed``: the task's own
    (messiness 1) uniform in [−1, 1]²; the ideal (messiness 0) a line, symbol
    k at (2k/(p−1) − 1, ``line_noise``·u), u uniform in [−1, 1] (0.3, the
    notebook's; 0 makes it exactly a line); the class vectors
    N(0, I). With ``representation = "fixed"`` the representation is data,
    not parameters: only the decoder trains (the notebook's landscape
    analysis). With ``"trained"`` each symbol's vector is a parameter too,
    started at ξ·own + (1−ξ)·ideal (the ``messiness`` knob) and learned with
    the decoder: the paper's full trajectory (its Table 1), which its reduced
    trajectory approximates. Weight decay acts on every parameter, as AdamW
    on any model; ``representation_lr`` sets the representation's learning
    rate (its step and its decay) relative to the decoder's."""

    name: ClassVar[str] = "toy_addition"
    summary: ClassVar[str] = ("Omnigrok §5.1: (i + j) mod p from fixed 2-D symbol vectors, 30-D class vectors; "
                              "MLP, MSE (--modulus, --messiness; a spec file's task table also takes line_noise, and "
                              "representation = \"trained\" to learn the vectors: the full trajectory)")
    family: ClassVar[str] = "mlp"
    default_loss: ClassVar[str] = "mse"
    # the authors' landscape notebook: Adam lr 1e-2, betas (0.9, 0.99), no decay, full batch of 45
    defaults: ClassVar[dict] = {"batch_size": 512, "beta2": 0.99, "warmup_steps": 0}
    knob_defaults: ClassVar[dict] = {"lr": 1e-2, "weight_decay": 0.0}
    modulus: int = 10
    dim: int = 30  # width of the class vectors
    representation_seed: int = 0
    line_noise: float = 0.3  # the ideal line's second coordinate, times u (the notebook's noise_scale)
    representation: str = "fixed"  # or "trained": the symbol vectors learn too (REPRESENTATIONS)

    def __post_init__(self):
        if self.representation not in REPRESENTATIONS:
            raise SpecError(f"unknown representation {self.representation!r}; valid: {', '.join(REPRESENTATIONS)}")
        noise = self.line_noise
        if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise < float("inf"):
            raise SpecError(f"line_noise must be a number >= 0, got {noise!r}")
        _set(self, modulus=_int("modulus", self.modulus, 2), dim=_int("dim", self.dim, 1),
             representation_seed=_int("representation_seed", self.representation_seed, 0), line_noise=float(noise))

    def vectors(self) -> dict[str, np.ndarray]:
        """The symbols' own vectors ``own`` and ideal ones ``ideal`` [p, 2],
        and the class vectors ``targets`` [p, dim]."""
        p = self.modulus
        rng = np.random.default_rng(self.representation_seed)
        own = rng.uniform(-1, 1, (p, 2))
        ideal = np.stack([np.linspace(-1, 1, p), self.line_noise * rng.uniform(-1, 1, p)], axis=1)
        return {"own": own, "ideal": ideal, "targets": rng.standard_normal((p, self.dim))}

    def pairs(self) -> np.ndarray:
        """The rows' pairs (i, j), i ≤ j, i major: [p(p+1)/2, 2]."""
        i, j = np.triu_indices(self.modulus)
        return np.stack([i, j], axis=1)

    def build(self) -> TaskData:
        v, ij = self.vectors(), self.pairs()
        label = ij.sum(1) % self.modulus
        f32 = np.float32
        if self.representation == "trained":
            return TaskData(ij.astype(np.int32), v["targets"][label].astype(f32), ij.shape[0], self.dim, None,
                            targets=v["targets"].astype(f32), symbols=np.stack([v["own"], v["ideal"]]).astype(f32))
        return TaskData((v["own"][ij[:, 0]] + v["own"][ij[:, 1]]).astype(f32), v["targets"][label].astype(f32),
                        ij.shape[0], self.dim, None,
                        x_ideal=(v["ideal"][ij[:, 0]] + v["ideal"][ij[:, 1]]).astype(f32),
                        targets=v["targets"].astype(f32))

    def default_model(self):
        return MLPSpec(depth=3, width=200, activation="leaky_relu_0.2")

    def default_sizes(self) -> dict:
        return {"train_sizes": (45,)}  # the notebook's Figure 6: 45 of 55

    def describe(self) -> str:
        trained = ", trained representation" if self.representation == "trained" else ""
        return f"toy-addition mod {self.modulus}{trained}"


# ---------------------------------------------------------------- arrays


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclasses.dataclass(frozen=True, kw_only=True)
class ArraysTask(_Task):
    """A user's ``.npz`` file: ``x`` ``[N, ...]`` (flattened to features) and
    ``y`` ``[N]`` or ``[N, K]``, and optionally ``x_test`` and ``y_test``, and
    an ideal representation for the ``messiness`` knob: ``x_ideal`` (and
    ``x_test_ideal``), shaped as ``x`` (and ``x_test``).
    Integer ``y`` means classification (labels 0..C-1), float ``y``
    regression (correct: mean squared error below ``threshold``). Without a
    test set, the pool rows a run does not train on are its test set.

    ``digest`` is the file's SHA-256, filled in when the task is made; a
    recorded sweep whose file has since changed will not load."""

    name: ClassVar[str] = "arrays"
    summary: ClassVar[str] = "your own arrays: --data FILE.npz with x, y [, x_test, y_test] [, x_ideal, x_test_ideal]; MLP"
    family: ClassVar[str] = "mlp"
    knob_defaults: ClassVar[dict] = {"lr": 1e-3, "weight_decay": 0.01}  # PyTorch's AdamW
    data_path: str = ""
    threshold: float = 1e-3
    digest: str = ""

    @property
    def default_loss(self) -> str:
        return "softmax" if self.data().n_classes is not None else "mse"

    def __post_init__(self):
        if not self.data_path:
            raise SpecError("the arrays task needs a data file: --data FILE.npz")
        path = Path(self.data_path)
        if not path.is_file():
            raise SpecError(f"data file {path} does not exist")
        # absolute, so that resume, load and inspect find it from any folder
        _set(self, data_path=str(path.resolve()), threshold=_positive("threshold", self.threshold))
        digest = file_digest(path)
        if self.digest and self.digest != digest:
            raise SpecError(f"data file {path} has changed since the sweep was recorded (its SHA-256 differs)")
        _set(self, digest=digest)
        self.data()  # every check of the file's contents, now

    def build(self) -> TaskData:
        return read_arrays(Path(self.data_path))

    def default_sizes(self) -> dict:
        # with a test set, train on all of x; else on half of it
        return {"fracs": (1.0,)} if self.data().fixed_test else {"fracs": (0.5,)}

    def describe(self) -> str:
        return f"arrays {Path(self.data_path).name}"


def read_arrays(path: Path) -> TaskData:
    """An ``.npz`` file as TaskData, every problem a one-line SpecError."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
        if not magic.startswith((b"PK", b"\x93NUMPY")):  # neither a zip (.npz) nor an .npy: numpy would speak of pickles
            raise ValueError("it is not an .npz archive (save x and y with np.savez)")
        f = np.load(path, allow_pickle=False)
        if not isinstance(f, np.lib.npyio.NpzFile):
            raise ValueError("it holds one array, not named arrays (save it with np.savez)")
        with f:
            arrays = {k: f[k] for k in f.files}
        if not all(isinstance(a, np.ndarray) for a in arrays.values()):
            raise ValueError("a member is not an array")
    except Exception as e:  # noqa: BLE001 - zip, zlib, format and pickle errors alike: one line
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SpecError(f"data file {path} is not a readable .npz file: {reason}") from None
    for k in ("x", "y"):
        if k not in arrays:
            raise SpecError(f"data file {path} has no array {k!r} (it has: {', '.join(arrays) or 'none'})")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise SpecError(f"data file {path} has one of x_test and y_test without the other")
    parts = [("x", "y")] + ([("x_test", "y_test")] if "x_test" in arrays else [])
    xs, ys = [], []
    for kx, ky in parts:
        x, y = arrays[kx], arrays[ky]
        if x.ndim < 1 or y.ndim < 1 or x.shape[0] == 0:
            raise SpecError(f"data file {path}: {kx} is empty")
        if x.shape[0] != y.shape[0]:
            raise SpecError(f"data file {path}: {kx} has {x.shape[0]} rows but {ky} has {y.shape[0]}")
        for k, a in ((kx, x), (ky, y)):
            _check_real(path, k, a)
        x = x.reshape(x.shape[0], -1)
        if x.shape[1] == 0:
            raise SpecError(f"data file {path}: {kx} has no features")
        xs.append(x.astype(np.float32))
        ys.append(y)
    if len({x.shape[1] for x in xs}) > 1:
        raise SpecError(f"data file {path}: x has {xs[0].shape[1]} features but x_test has {xs[1].shape[1]}")
    ideal = _ideal_arrays(path, arrays, [kx for kx, _ in parts])
    integer = [np.issubdtype(y.dtype, np.integer) or y.dtype == bool for y in ys]
    if len(set(integer)) > 1:
        raise SpecError(f"data file {path}: y and y_test must both be integer (classes) or both float (targets)")
    n_pool = xs[0].shape[0]
    x = np.concatenate(xs)
    if integer[0]:
        if any(y.ndim != 1 for y in ys):
            raise SpecError(f"data file {path}: integer y holds class labels and must be 1-D, got shape {ys[0].shape}")
        y = np.concatenate(ys).astype(np.int64)
        if y.min() < 0:
            raise SpecError(f"data file {path}: class labels must be >= 0, got {int(y.min())}")
        n_classes = int(y.max()) + 1
        if n_classes > y.shape[0]:
            raise SpecError(f"data file {path}: class label {n_classes - 1} is not below the {y.shape[0]} rows; "
                            "number the classes 0..C-1")
        if n_classes < 2:
            raise SpecError(f"data file {path}: classification needs at least 2 classes, y holds only 0")
        return TaskData(x, y.astype(np.int32), n_pool, n_classes, n_classes, x_ideal=ideal)
    ys = [y.reshape(y.shape[0], -1) for y in ys]
    if len({y.shape[1] for y in ys}) > 1:
        raise SpecError(f"data file {path}: y has {ys[0].shape[1]} targets per row but y_test has {ys[1].shape[1]}")
    y = np.concatenate(ys).astype(np.float32)
    return TaskData(x, y, n_pool, y.shape[1], None, x_ideal=ideal)


def _check_real(path: Path, k: str, a: np.ndarray) -> None:
    """A SpecError unless array ``k`` holds finite real numbers (float32's range)."""
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool) or np.issubdtype(a.dtype, np.complexfloating):
        raise SpecError(f"data file {path}: {k} is not real numbers ({a.dtype})")
    if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a.astype(np.float32)).all():
        raise SpecError(f"data file {path}: {k} holds non-finite values (NaN or inf, or beyond float32)")


def _ideal_arrays(path: Path, arrays: dict, xs: list[str]) -> np.ndarray | None:
    """The file's ideal representation (``x_ideal``, and ``x_test_ideal``
    with a test set), each shaped as its ``x``, flattened and stacked as x
    is; None without one."""
    keys = [f"{k}_ideal" for k in xs]
    if not any(k in arrays for k in keys):
        return None
    for k, kx in zip(keys, xs):
        if k not in arrays:
            raise SpecError(f"data file {path} has {', '.join(k for k in keys if k in arrays)} but no {k}: "
                            f"an ideal representation covers every x")
        a = arrays[k]
        if a.shape != arrays[kx].shape:
            raise SpecError(f"data file {path}: {k} has shape {a.shape} but {kx} has {arrays[kx].shape}")
        _check_real(path, k, a)
    return np.concatenate([arrays[k].reshape(arrays[k].shape[0], -1) for k in keys]).astype(np.float32)


# ---------------------------------------------------------------- the registry

TASKS = {t.name: t for t in (TableTask, TeacherStudentTask, DigitsTask, ToyAdditionTask, ArraysTask)}
Task = TableTask | TeacherStudentTask | DigitsTask | ToyAdditionTask | ArraysTask


def task_from_dict(d: dict):
    """A task from ``{"name": ..., option: value, ...}``; no name is ``table``."""
    if not isinstance(d, dict):
        raise SpecError(f"task must be a table of options, got {d!r}")
    d = dict(d)
    name = d.pop("name", "table")
    if name not in TASKS:
        raise SpecError(f"unknown task {name!r}; valid: {', '.join(TASKS)}")
    cls = TASKS[name]
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - fields
    if unknown:
        valid = ", ".join(sorted(fields)) or "none"
        raise SpecError(f"task {name} has no option {sorted(unknown)[0]!r}; its options: {valid}")
    if "widths" in d and isinstance(d["widths"], list):
        d["widths"] = tuple(d["widths"])
    return cls(**d)


# ---------------------------------------------------------------- splits


def n_train(frac: float, data: TaskData) -> int:
    """Training rows for a fraction of the pool: round(frac·pool), at least 1,
    and at most pool−1 unless the task has a fixed test set."""
    top = data.n_pool if data.fixed_test else data.n_pool - 1
    return int(min(max(round(frac * data.n_pool), 1), top))


def rows_per_step(n_train, halve: bool):
    """The training rows a step uses before the cap B: ⌈n_train/2⌉ for the
    paper's tables (its code takes min(512, ceil(n/2)), openai/grok, so a run
    of one training row still trains on it), else ``n_train``. For Python
    ints and integer arrays alike."""
    return (n_train + 1) // 2 if halve else n_train


def split_order(key: jax.Array, n_pool: int, n_shuffled: int | None = None) -> jax.Array:
    """A random order of the pool's rows; a run trains on its first ``n_train``.

    It depends on the key alone, so for one seed the training set of a smaller
    fraction is a prefix, hence a subset, of that of a larger one. With
    ``n_shuffled`` only the first that many rows are shuffled and the rest
    follow in order (``TaskData.n_shuffled``).
    """
    if n_shuffled is None or n_shuffled >= n_pool:
        return jax.random.permutation(key, n_pool)
    return jnp.concatenate([jax.random.permutation(key, n_shuffled), jnp.arange(n_shuffled, n_pool)])


def train_mask(order: jax.Array, n: jax.Array, size: int | None = None) -> jax.Array:
    """``mask[order[i]] = i < n`` over ``size`` rows (default: the pool's):
    the first ``n`` rows of ``order`` train; rows past the pool never do."""
    size = order.shape[0] if size is None else size
    return jnp.zeros(size, bool).at[order].set(jnp.arange(order.shape[0]) < n)


def test_mask(train: jax.Array, n_pool: int) -> jax.Array:
    """The held-out rows: the fixed test rows past the pool if there are any,
    else the pool rows not trained on."""
    rows = jnp.arange(train.shape[0])
    return rows >= n_pool if train.shape[0] > n_pool else ~train
