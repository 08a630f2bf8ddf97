"""``SweepSpec``: one plain, frozen description of a sweep.

A spec holds what defines a sweep and nothing else: the task, the model, the
static switches, the per-run grid, the budget and evaluation schedule, and
checkpointing and devices. It is built three ways and validated once, here:

- from Python: ``SweepSpec(task=TableTask(op="s5_mul"), fracs=(0.3, 0.5), ...)``;
- from a dict or a TOML file: ``SweepSpec.from_dict(d)``, ``from_toml(path, profile)``;
- from command-line flags (``grokjax.sweep`` turns them into a dict).

``spec.to_dict()`` is plain JSON-able data and ``from_dict`` reads it back to
an equal spec. That dict is what ``config.json`` and the checkpoint record, so
resume and load rebuild a sweep from it, never from a command line.

**The grid** is a union of cross products (``Product``): every combination of
one product's knob values, crossed with every fraction and seed. Figure 2
(left) of Power et al. is nine products, one per named ``VARIANTS`` preset.
"""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import math
from pathlib import Path

import numpy as np

from grokjax import tasks
from grokjax.config import BATCHES, MATMUL_PRECISIONS
from grokjax.errors import SpecError
from grokjax.knobs import KNOB, KNOBS
from grokjax.losses import LOSSES
from grokjax.model import MLPSpec, TransformerSpec, model_from_dict
from grokjax.tasks import ArraysTask, DigitsTask, TableTask, TeacherStudentTask, task_from_dict

__all__ = ["SweepSpec", "Product", "SpecError", "TableTask", "TeacherStudentTask", "DigitsTask", "ArraysTask",
           "TransformerSpec", "MLPSpec", "VARIANTS", "variant_grid", "parse_fracs", "read_toml"]


# Figure 2 (left) of Power et al., in the paper's order (appendix A.1.2).
# Adam is AdamW with weight decay 0; update noise is unit Gaussian, as written.
VARIANTS: dict[str, dict] = {
    "adam_fullbatch": dict(weight_decay=0.0, full_batch=True),
    "adam": dict(weight_decay=0.0),
    "adam_fullbatch_noise": dict(weight_decay=0.0, full_batch=True, update_noise=1.0),
    "adam_dropout": dict(weight_decay=0.0, dropout=0.1),
    "adamw": dict(weight_decay=1.0),
    "adamw_to_init": dict(weight_decay=0.0, weight_decay_init=1.0),
    "adam_lr3e-4": dict(weight_decay=0.0, lr=3e-4),
    "adam_lr3e-3": dict(weight_decay=0.0, lr=3e-3),
    "adam_weight_noise": dict(weight_decay=0.0, weight_noise=0.01),
}

RUN_AXES = ("auto", "vmap", "map")


# ---------------------------------------------------------------- parsing helpers


def parse_fracs(text: str) -> tuple[float, ...]:
    """``a:b`` (step 0.1, both ends), ``a:b:step``, or ``a,b,c``."""
    text = str(text).strip()
    try:
        if ":" in text:
            parts = [float(p) for p in text.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            a, b, step = parts[0], parts[1], parts[2] if len(parts) == 3 else 0.1
            if step <= 0 or b < a:
                raise SpecError(f"bad fracs range {text!r}: need a <= b and step > 0")
            n = int(np.floor((b - a) / step + 1e-9))
            grid = tuple(round(a + i * step, 10) for i in range(n + 1))
            if grid[-1] >= 1:  # named as typed, not as the first grid point past it (1 for 0.5:1.2)
                raise SpecError(f"bad fracs range {text!r}: it reaches {grid[-1]:g}; fractions lie below 1")
            return grid
        return tuple(float(p) for p in text.split(","))
    except ValueError as e:
        if isinstance(e, SpecError):
            raise
        raise SpecError(f"malformed fracs {text!r}: use a:b, a:b:step or a,b,c") from None


def eval_schedule(eval_every: int | str, steps: int) -> np.ndarray:
    """The evaluated steps: 0, then every ``eval_every`` steps and the last;
    or for ``"log:N"`` about N steps spaced evenly on a log axis from 1 to
    ``steps``, rounded to distinct integers (the official code's cadence)."""
    if isinstance(eval_every, str):
        n = int(eval_every.split(":")[1])
        points = np.unique(np.round(np.geomspace(1, steps, n)).astype(np.int64))
    else:
        points = np.arange(eval_every, steps + eval_every, eval_every, dtype=np.int64)
        points[-1] = min(points[-1], steps)
        points = np.unique(points)
    return np.concatenate([[0], points[points > 0]])


def _tuple(value) -> tuple:
    if isinstance(value, np.ndarray):
        return tuple(value.ravel().tolist())
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return (value,)


# what one sweep may ask for: beyond these, a number is a typo, not a plan
MAX_STEPS = 2**31 - 1  # the step counter is int32
MAX_SEED = 2**31 - 1  # a run's seed is int32
MAX_EVALS = 1_000_000
MAX_RUNS = 100_000


def _str(name: str, v) -> str:
    if v is None:
        return ""
    if not isinstance(v, str):
        raise SpecError(f"{name} must be a string, got {v!r}")
    return v.strip()


def _number(name: str, v, kind=float):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        if isinstance(v, str):
            try:
                v = float(v)
            except ValueError:
                raise SpecError(f"{name} {v!r} is not a number") from None
        else:
            raise SpecError(f"{name} {v!r} is not a number")
    if not math.isfinite(v):
        raise SpecError(f"{name} {v} is not finite")
    if kind is int:
        if v != int(v):
            raise SpecError(f"{name} takes whole numbers, got {v:g}")
        return int(v)
    return float(v)


def _int(name: str, v, low: int) -> int:
    v = _number(name, v, int)
    if v < low:
        raise SpecError(f"{name} must be {'positive' if low == 1 else f'>= {low}'}, got {v}")
    return v


def _bool(name: str, v) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if v in (0, 1):
        return bool(v)
    raise SpecError(f"{name} takes true or false, got {v!r}")


def _choice(name: str, v, valid) -> str:
    if v not in valid:
        raise SpecError(f"unknown {name} {v!r}; valid: {', '.join(valid)}")
    return v


def import_modules(modules) -> tuple[str, ...]:
    """Imports each module (one may register an op); their names."""
    names = tuple(str(m) for m in _tuple(modules))
    for m in names:
        if not m.strip():
            raise SpecError("import: an empty module name")
        try:
            importlib.import_module(m)
        except ImportError as e:
            raise SpecError(f"import {m}: {e}") from None
    return names


def _check_keys(what: str, d, cls) -> None:
    """``d`` is a dict whose keys are fields of dataclass ``cls``."""
    if not isinstance(d, dict):
        raise SpecError(f"{what} must be a table, got {d!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise SpecError(f"unknown {what} key {sorted(unknown)[0]!r}; valid: {', '.join(sorted(names))}")


def _set(obj, **kw):
    for k, v in kw.items():
        object.__setattr__(obj, k, v)


# ---------------------------------------------------------------- the parts


def _product_init(self):
    """Every knob a tuple of valid numbers; a knob left unset takes the
    variant's value, else its default (config.KNOBS)."""
    _set(self, variant=_str("variant", self.variant))
    if self.variant and self.variant not in VARIANTS:
        hint = "; for several in one grid, variant_grid('all') or variant_grid('adam,adamw')" if "," in self.variant \
            or self.variant == "all" else ""
        raise SpecError(f"unknown variant {self.variant!r}; valid: {', '.join(VARIANTS)}{hint}")
    preset = VARIANTS.get(self.variant, {})
    _set(self, unset=tuple(k.name for k in KNOBS if getattr(self, k.name) is None and k.name not in preset))
    for k in KNOBS:
        given = getattr(self, k.name)
        vals = _tuple(preset.get(k.name, k.default) if given is None else given)
        if not vals:
            raise SpecError(f"{k.name} has no values")
        out = []
        for v in vals:
            v = _number(k.name, v, k.kind)
            problem = k.check(v)
            if problem:
                raise SpecError(f"{k.name} {v:g} {problem}")
            out.append(v)
        if len(set(out)) != len(out):
            raise SpecError(f"{k.name} repeats a value: {list(out)}")
        _set(self, **{k.name: tuple(out)})
    _set(self, was=_was(self.was))
    fb = _tuple(preset.get("full_batch", False) if self.full_batch is None else self.full_batch)
    fb = tuple(_bool("full_batch", v) for v in fb)
    if not fb or len(set(fb)) != len(fb):
        raise SpecError(f"full_batch must list false and/or true once each, got {list(fb)}")
    _set(self, full_batch=fb)


def _was(was) -> tuple:
    """A fork's record of the numbers its runs had before it: (knob, value)
    pairs in KNOBS order, from a dict or such pairs."""
    try:
        pairs = dict(was)
    except (TypeError, ValueError):
        raise SpecError(f"was must be a table of knob values, got {was!r}") from None
    out = {}
    for name, v in pairs.items():
        if name not in KNOB:
            raise SpecError(f"was: {name!r} is not a per-run number")
        v = _number(f"was {name}", v, KNOB[name].kind)
        problem = KNOB[name].check(v)
        if problem:
            raise SpecError(f"was {name} {v:g} {problem}")
        out[name] = v
    return tuple((k.name, out[k.name]) for k in KNOBS if k.name in out)


def _product_settings(self) -> list[dict]:
    """Every combination of this product's values, knobs in KNOBS order
    (the first varies slowest), then full_batch."""
    names = [k.name for k in KNOBS]
    combos = itertools.product(*(getattr(self, n) for n in names), self.full_batch)
    return [dict(zip([*names, "full_batch"], c)) for c in combos]


def _product_under(self, defaults: dict):
    """This product with the knobs it left unset taken from ``defaults``
    (a task's, say) instead of the paper's."""
    given = {k: v for k, v in defaults.items() if k in self.unset}
    return dataclasses.replace(self, **given) if given else self


def _product_to_dict(self) -> dict:
    d = {"variant": self.variant} if self.variant else {}
    d.update({k.name: list(getattr(self, k.name)) for k in KNOBS})
    d["full_batch"] = list(self.full_batch)
    if self.was:
        d["was"] = dict(self.was)
    return d


# One field per knob of config.KNOBS (a value or a tuple of values), so the
# knobs are listed once; plus the variant label and full_batch.
Product = dataclasses.make_dataclass(
    "Product",
    [("variant", str, dataclasses.field(default=""))]
    + [(k.name, tuple, dataclasses.field(default=None)) for k in KNOBS]
    + [("full_batch", tuple, dataclasses.field(default=None)),
       ("was", tuple, dataclasses.field(default=())),
       ("unset", tuple, dataclasses.field(default=(), init=False, compare=False, repr=False))],
    frozen=True,
    kw_only=True,
    namespace={"__module__": __name__,
        "__doc__": "One cross product of per-run knobs: every combination of the listed values.\n\n"
                   "Each knob of ``config.KNOBS`` is a field taking a number or a tuple of numbers; "
                   "``full_batch`` takes False and/or True (a static switch: each value is its own program). "
                   "``variant`` names a preset of ``VARIANTS``, whose numbers fill the knobs left unset, "
                   "and labels its runs. ``was`` (a fork's, ``forking.py``) holds the numbers its runs had "
                   "before their first fork: the program keeps what they compiled in (a transform turned off keeps "
                   "its saved state), so the fork continues its source's states.",
        "__post_init__": _product_init,
        "settings": _product_settings,
        "under": _product_under,
        "to_dict": _product_to_dict,
    },
)


def variant_grid(names: str = "all", **values) -> tuple:
    """One product per named preset (a comma list, or ``all`` for the nine
    of Figure 2, left), each with the knob ``values`` given here too."""
    names = list(VARIANTS) if names == "all" else [n.strip() for n in str(names).split(",") if n.strip()]
    for n in names:
        if n not in VARIANTS:
            raise SpecError(f"unknown variant {n!r}; valid: all, {', '.join(VARIANTS)}")
    return tuple(Product(variant=n, **values) for n in names)


def products_from_dict(d: dict) -> list:
    """A grid entry: a dict of knob values (a value or a list), optionally
    with ``variant``, which may be one name, a comma list, or ``all``: one
    product per variant, each with the other values of the entry."""
    if not isinstance(d, dict):
        raise SpecError(f"a grid entry must be a table of knob values, got {d!r}")
    valid = {"variant", "full_batch", "was", *KNOB}
    unknown = set(d) - valid
    if unknown:
        raise SpecError(f"unknown grid key {sorted(unknown)[0]!r}; valid: {', '.join(sorted(valid))}")
    rest = {k: v for k, v in d.items() if k != "variant"}
    if not d.get("variant"):
        return [Product(**rest)]
    return list(variant_grid(d["variant"], **rest))


# ---------------------------------------------------------------- the spec


@dataclasses.dataclass(frozen=True, kw_only=True)
class SweepSpec:
    """A whole sweep. What is left unset (None) takes the task's default:
    for the ``table`` task the paper's settings at CPU scale."""

    name: str = ""  # names the default output folder, results/<name>-<time>
    task: tasks.Task = TableTask()  # TableTask, TeacherStudentTask, DigitsTask or ArraysTask
    model: TransformerSpec | MLPSpec | None = None  # the task's model family, at its default size
    # the grid: data sizes × seeds × every setting of every product. A data
    # size is a fraction of the task's pool (fracs) or a count (train_sizes).
    fracs: tuple | None = None
    train_sizes: tuple | None = None
    seeds: int = 1  # seeds first_seed..first_seed+seeds-1; a seed fixes the init, the split, the batches and the noise
    first_seed: int = 0  # to add seeds to a study without training its first ones again
    grid: tuple = (Product(),)
    # static switches: each value compiles its own program
    batch_size: int | None = None  # B; the table task uses min(B, ⌈n_train/2⌉), the paper's rule, others min(B, n_train)
    loss: str | None = None  # softmax, stablemax or mse (losses.py)
    beta2: float | None = None  # Adam's β₂: 0.98 for the table task (the paper), else PyTorch's 0.999
    adam_eps: float = 1e-8  # Adam's ε, PyTorch's and optax's default (the late-collapse study raises it)
    batches: str = "fresh"  # minibatches drawn afresh each step, or "epoch": a permutation per epoch (the paper's code)
    warmup_steps: int | None = None  # linear learning-rate warmup: 10 for the table task, else 0
    lr_drop_every: int = 0  # the learning rate times lr_drop_factor every this many updates (0: never)
    lr_drop_factor: float = 1.0  # the Omnigrok notebooks: 0.2 every 5,000
    x64: bool = False  # model, optimizer and loss in float64
    matmul_precision: str = "highest"  # exact float32; "tensorfloat32"/"bfloat16" are opt-in GPU speed-ups
    run_axis: str = "auto"  # vmap or map over runs; auto: map on CPU, vmap elsewhere
    # budget and evaluation
    steps: int = 5000  # the paper: 10^5
    eval_every: int | str = 100  # steps between evaluations, or "log:N"
    stop_at: float | None = None  # end once every run's val accuracy has reached this; "off" (TOML) is None
    stop_share: float = 1.0  # ... or once this share of the runs has (Figure 7: "when about half have grokked")
    # checkpoints and devices
    ckpt_every: int = 0  # also checkpoint every N steps (0: only at the end)
    ckpt_keep: int = 3
    devices: int = 0  # split the runs over the first N devices; 0: all
    imports: tuple = ()  # modules imported first, e.g. one that registers an op

    def __post_init__(self):
        name = _str("name", self.name)
        if "/" in name or "\\" in name or name in (".", ".."):
            raise SpecError(f"name {name!r} names a folder of results, so it may hold no / or \\ and is not . or ..")
        _set(self, imports=import_modules(self.imports), name=name)
        task = self.task
        if not isinstance(task, tuple(tasks.TASKS.values())):
            raise SpecError(f"task must be one of {', '.join(c.__name__ for c in tasks.TASKS.values())}, got {task!r}")
        model = task.default_model() if self.model is None else self.model
        if not isinstance(model, (TransformerSpec, MLPSpec)):
            raise SpecError(f"model must be a TransformerSpec or MLPSpec, got {model!r}")
        task.check_model(model.name)
        if isinstance(task, TeacherStudentTask) and self.train_sizes is not None:
            biggest = max((_number("train size", n, int) for n in _tuple(self.train_sizes)), default=0)
            if biggest > max(task.n_train, task.pool):  # its pool grows to the largest size; its test set stays
                task = dataclasses.replace(task, pool=biggest)
                _set(self, task=task)
        # each op of a several-op table task is checked on its own table
        parts = [part.data() for part in task.parts()]
        data = parts[0]
        fracs, sizes = [self._data_sizes(d) for d in parts][-1]
        grid = tuple(_tuple(self.grid))
        if not grid or not all(isinstance(p, Product) for p in grid):
            raise SpecError("grid must be one or more Product")
        grid = tuple(p.under(task.knob_defaults) for p in grid)
        if len(set(grid)) != len(grid):
            raise SpecError("grid lists one product twice: its runs would repeat")
        n_trains = [tasks.n_train(f, d) for f in fracs for d in parts] if fracs else list(sizes)
        for p in grid:
            if any(m != 1 for m in p.messiness) and data.x_ideal is None and data.symbols is None:
                raise SpecError(tasks.no_ideal(task))
            if any(v != 1 for v in p.representation_lr) and data.symbols is None:
                raise SpecError(tasks.no_trained_representation(task, "representation_lr"))
            for k in p.outliers:
                if k and data.kind == "regression":
                    raise SpecError(f"outliers swap class labels; the {task.describe()} task is a regression and has none")
                for n in n_trains:
                    if k >= n:
                        raise SpecError(f"outliers {k} is not below the {n} training rows of a run")
        eval_every = self.eval_every.strip() if isinstance(self.eval_every, str) else self.eval_every
        if isinstance(eval_every, str) and not eval_every.startswith("log:"):
            if not eval_every.lstrip("-").isdigit():
                raise SpecError(f"eval_every {eval_every!r}: use a number of steps or log:N")
        if isinstance(eval_every, str) and eval_every.startswith("log:"):
            n = eval_every[4:]
            if not n.isdigit() or int(n) < 2:
                raise SpecError(f"eval_every {eval_every!r}: log:N needs a whole N >= 2")
            eval_every = f"log:{int(n)}"
        else:
            eval_every = _int("eval_every", eval_every, 1)
        off = self.stop_at is None or (isinstance(self.stop_at, str) and self.stop_at.strip().lower() in ("off", "none"))
        stop_at = None if off else _number("stop_at", self.stop_at)
        if stop_at is not None and not 0 < stop_at <= 1:
            raise SpecError(f"stop_at {stop_at:g} must be in (0, 1]")
        stop_share = _number("stop_share", self.stop_share)
        if not 0 < stop_share <= 1:
            raise SpecError(f"stop_share {stop_share:g} must be in (0, 1]")
        if stop_share < 1 and stop_at is None:
            raise SpecError(f"stop_share {stop_share:g} needs stop_at (the val accuracy that share of the runs must reach)")
        d = task.defaults
        loss = _choice("loss", task.default_loss if self.loss is None else self.loss, LOSSES)
        if data.kind == "regression" and loss != "mse":
            raise SpecError(f"loss {loss} needs class labels; the {task.describe()} task is a regression: use mse")
        beta2 = d["beta2"] if self.beta2 is None else _number("beta2", self.beta2)
        if not 0 <= beta2 < 1:
            raise SpecError(f"beta2 {beta2:g} must be in [0, 1)")
        adam_eps = _number("adam_eps", self.adam_eps)
        if adam_eps <= 0:
            raise SpecError(f"adam_eps {adam_eps:g} must be > 0")
        lr_drop_factor = _number("lr_drop_factor", self.lr_drop_factor)
        if not 0 < lr_drop_factor <= 1:
            raise SpecError(f"lr_drop_factor {lr_drop_factor:g} must be in (0, 1]")
        _set(
            self, model=model, fracs=fracs, train_sizes=sizes, grid=grid, eval_every=eval_every, stop_at=stop_at, stop_share=stop_share,
            seeds=_int("seeds", self.seeds, 1), first_seed=_int("first_seed", self.first_seed, 0), steps=_int("steps", self.steps, 1),
            batch_size=_int("batch_size", d["batch_size"] if self.batch_size is None else self.batch_size, 1),
            loss=loss, beta2=beta2, adam_eps=adam_eps, batches=_choice("batches", self.batches, BATCHES),
            warmup_steps=_int("warmup_steps", d["warmup_steps"] if self.warmup_steps is None else self.warmup_steps, 0),
            lr_drop_every=_int("lr_drop_every", self.lr_drop_every, 0), lr_drop_factor=lr_drop_factor,
            x64=_bool("x64", self.x64),
            ckpt_every=_int("ckpt_every", self.ckpt_every, 0), ckpt_keep=_int("ckpt_keep", self.ckpt_keep, 1),
            devices=_int("devices", self.devices, 0), run_axis=_choice("run_axis", self.run_axis, RUN_AXES),
            matmul_precision=_choice("matmul_precision", self.matmul_precision, MATMUL_PRECISIONS),
        )
        self._check_size(len(task.parts()), len(fracs or sizes))

    def _check_size(self, n_ops: int, n_sizes: int) -> None:
        """Refuse a sweep too large to be meant, in one line, before anything
        allocates for it (a typo's 10^20 seeds or steps)."""
        if self.steps > MAX_STEPS:
            raise SpecError(f"steps {self.steps:,} is more than the step counter (int32) holds: at most {MAX_STEPS:,}")
        if self.first_seed + self.seeds - 1 > MAX_SEED:
            raise SpecError(f"seeds {self.first_seed:,}..{self.first_seed + self.seeds - 1:,} pass the largest seed (int32): {MAX_SEED:,}")
        per_eval = isinstance(self.eval_every, int)
        n_evals = (self.steps // self.eval_every + 2 if per_eval else int(self.eval_every[4:])) \
            + (self.steps // self.ckpt_every if self.ckpt_every else 0)
        if n_evals > MAX_EVALS:
            raise SpecError(f"{n_evals:,} evaluations over {self.steps:,} steps: at most {MAX_EVALS:,} "
                            f"(raise eval_every{' or ckpt_every' if self.ckpt_every else ''})")
        per_product = [math.prod(len(getattr(p, k.name)) for k in KNOBS) * len(p.full_batch) for p in self.grid]
        n_runs = n_ops * sum(per_product) * n_sizes * self.seeds
        if n_runs > MAX_RUNS:
            raise SpecError(f"{n_runs:,} runs in one sweep: at most {MAX_RUNS:,} (split it into several sweeps)")

    def _data_sizes(self, data: tasks.TaskData) -> tuple:
        """``(fracs, None)`` or ``(None, train_sizes)``, checked against the pool."""
        fracs, sizes = self.fracs, self.train_sizes
        if fracs is not None and sizes is not None:
            raise SpecError("give fracs or train_sizes, not both")
        if fracs is None and sizes is None:
            d = self.task.default_sizes()
            fracs, sizes = d.get("fracs"), d.get("train_sizes")
        top = data.n_pool if data.fixed_test else data.n_pool - 1
        if sizes is not None:
            sizes = tuple(_number("train size", n, int) for n in _tuple(sizes))
            if not sizes:
                raise SpecError("train_sizes is empty")
            if len(set(sizes)) != len(sizes):
                raise SpecError(f"train_sizes repeats a size: {list(sizes)}")
            for n in sizes:
                if not 1 <= n <= top:
                    left = "" if data.fixed_test else ", leaving at least one held-out row"
                    raise SpecError(f"train size {n} is outside 1..{top}: the task's pool has {data.n_pool} rows{left}")
            return None, sizes
        fracs = parse_fracs(fracs) if isinstance(fracs, str) else tuple(_number("fraction", f) for f in _tuple(fracs))
        if not fracs:
            raise SpecError("fracs is empty")
        for f in fracs:
            if not (0 < f <= 1 if data.fixed_test else 0 < f < 1):
                raise SpecError(f"fraction {f:g} is outside {'(0, 1]' if data.fixed_test else '(0, 1)'}")
        if len(set(fracs)) != len(fracs):
            raise SpecError(f"fracs repeats a fraction: {list(fracs)}")
        for f in fracs:
            n = round(f * data.n_pool)
            if n < 2 or n > top:
                raise SpecError(f"fraction {f:g} of {data.n_pool} rows leaves no training pair or no held-out row")
        return fracs, None

    # ------------------------------------------------------------ derived

    def eval_steps(self) -> np.ndarray:
        """The evaluation schedule, plus every multiple of ``ckpt_every``:
        a checkpoint is saved after an evaluation, so it lands on the multiple."""
        steps = eval_schedule(self.eval_every, self.steps)
        if self.ckpt_every:
            steps = np.union1d(steps, np.arange(self.ckpt_every, self.steps + 1, self.ckpt_every))
        return steps

    @property
    def has_variants(self) -> bool:
        return any(p.variant for p in self.grid)

    @property
    def data_axis(self) -> str:
        """What tells a sweep's data sizes apart: ``frac`` or ``n_train``."""
        return "frac" if self.fracs is not None else "n_train"

    def replace(self, **kw) -> "SweepSpec":
        """A copy with ``kw`` changed. Settings filled in from a task's
        defaults stay filled in: to change the task, build a new spec."""
        return dataclasses.replace(self, **kw)

    # ------------------------------------------------------------ dicts

    def to_dict(self) -> dict:
        """Plain data (JSON and TOML types, ``None`` for an unset stop_at);
        ``from_dict`` gives back an equal spec."""
        return {
            "name": self.name,
            "task": self.task.to_dict(),
            "model": self.model.to_dict(),
            "fracs": None if self.fracs is None else list(self.fracs),
            "train_sizes": None if self.train_sizes is None else list(self.train_sizes),
            "seeds": self.seeds,
            "first_seed": self.first_seed,
            "grid": [p.to_dict() for p in self.grid],
            "batch_size": self.batch_size,
            "loss": self.loss,
            "beta2": self.beta2,
            "adam_eps": self.adam_eps,
            "batches": self.batches,
            "warmup_steps": self.warmup_steps,
            "lr_drop_every": self.lr_drop_every,
            "lr_drop_factor": self.lr_drop_factor,
            "x64": self.x64,
            "matmul_precision": self.matmul_precision,
            "run_axis": self.run_axis,
            "steps": self.steps,
            "eval_every": self.eval_every,
            "stop_at": self.stop_at,
            "stop_share": self.stop_share,
            "ckpt_every": self.ckpt_every,
            "ckpt_keep": self.ckpt_keep,
            "devices": self.devices,
            "imports": list(self.imports),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "SweepSpec":
        """A spec from plain data: ``to_dict``'s output, or a TOML file's
        tables. Keys left out take their defaults; ``fracs`` may be a range
        string (``"0.2:0.9"``); ``grid`` a list of tables (or one table)."""
        if isinstance(d, dict) and "norms" in d:
            raise SpecError("norms belongs to a landscape: run this file with python -m grokjax.landscape")
        _check_keys("spec", d, cls)
        kw = dict(d)
        import_modules(kw.get("imports", ()))  # first: a module may register the op that the task names
        if "task" in kw:
            kw["task"] = task_from_dict(kw["task"])
        if "model" in kw:
            task, model = kw.get("task", TableTask()), kw["model"]
            default = task.default_model()
            if isinstance(model, dict) and model.get("name", task.family) == default.name:
                # what it leaves unset is the task's model's (--width on teacher_student keeps tanh):
                # the settings where that differs from the family's own defaults, so derived ones stay derived
                bare = type(default)().to_dict()
                model = {**{k: v for k, v in default.to_dict().items() if v != bare[k]}, **model}
            kw["model"] = model_from_dict(model, task.family)
        if "grid" in kw:
            entries = kw["grid"] if isinstance(kw["grid"], (list, tuple)) else [kw["grid"]]
            kw["grid"] = tuple(p for e in entries for p in products_from_dict(e))
        for key in ("fracs", "train_sizes", "imports"):
            if isinstance(kw.get(key), list):
                kw[key] = tuple(kw[key])
        try:
            return cls(**kw)
        except TypeError as e:  # a wrongly typed value the checks above did not name
            raise SpecError(str(e)) from None

    @classmethod
    def from_toml(cls, path, profile: str | None = None) -> "SweepSpec":
        return cls.from_dict(read_toml(path, profile))


# ---------------------------------------------------------------- TOML files


def _toml_load(path: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise SpecError(f"spec file {path} does not exist") from None
    except OSError as e:
        raise SpecError(f"spec file {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"spec file {path} is not valid TOML: {e}") from None
    except UnicodeDecodeError:
        raise SpecError(f"spec file {path} is not valid TOML: not UTF-8 text") from None


def read_toml(path, profile: str | None = None) -> dict:
    """A sweep file as the dict ``SweepSpec.from_dict`` reads.

    A file may hold ``[profile.NAME]`` tables (say ``cpu`` and ``gpu``): the
    chosen one's keys replace the file's own (``task`` and ``model`` key by
    key). Without ``profile`` the file's ``default_profile`` applies, if it
    names one. ``name`` defaults to the file's stem.
    """
    path = Path(path)
    d = _toml_load(path)
    profiles = d.pop("profile", {})
    default = d.pop("default_profile", None)
    if not isinstance(profiles, dict) or not all(isinstance(v, dict) for v in profiles.values()):
        raise SpecError(f"{path}: [profile.NAME] must be tables")
    profile = profile or default
    if profile is not None and profile not in profiles:
        have = ", ".join(profiles) or "none"
        raise SpecError(f"{path} has no profile {profile!r}; its profiles: {have}")
    # every profile is checked now, not only the chosen one: a typo in the gpu
    # profile should not wait for the GPU to surface
    for name, over in profiles.items():
        if name != profile:
            try:
                SweepSpec.from_dict({k: v for k, v in merge(d, over).items() if k != "norms"})
            except SpecError as e:
                raise SpecError(f"{path}: profile {name}: {e}") from None
    landscape = "norms" in d or any("norms" in over for over in profiles.values())
    if profile is not None:
        d = merge(d, profiles[profile])
    if landscape:  # a landscape file: grokjax.sweep refuses it even where this profile names no norms
        d.setdefault("norms", None)
    d.setdefault("name", path.stem)
    return d


def toml_profiles(path) -> list[str]:
    """The profile names a sweep file defines."""
    return list(_toml_load(Path(path)).get("profile", {}))


def merge(base: dict, over: dict) -> dict:
    """``base`` with ``over``'s keys replacing its own; ``task`` and ``model``
    tables merge key by key, unless ``over`` names another task or model family."""
    out = dict(base)
    for k, v in over.items():
        other_task = k == "task" and isinstance(v, dict) and isinstance(out.get(k), dict) \
            and v.get("name", "table") != out[k].get("name", "table")
        if k == "model" and isinstance(v, dict) and isinstance(out.get(k), dict):
            task = out.get("task")
            family = tasks.TASKS.get(task.get("name", "table") if isinstance(task, dict) else "table", TableTask).family
            if v.get("name", family) != out[k].get("name", family):  # the base's sizes were the other family's
                out[k] = v
                continue
        if other_task:  # another task: the base's options were the other task's, and so was its model
            out.pop("model", None) if "model" not in over else None
            out[k] = v
        elif k in ("task", "model") and isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = {**out[k], **v}
        else:
            out[k] = v
    return out
