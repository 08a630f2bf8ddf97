"""The per-run knobs: every number a sweep can vary from run to run besides
the seed and the data fraction, listed once.

Each knob has its default (the paper's plain AdamW run), the transform it
switches on when it leaves that default, its type, its valid range and its
help. The spec, the command line, ``RunParams``, the tables and the figures
all read this table. Pure Python: no JAX.
"""

from __future__ import annotations

import dataclasses
from typing import Callable


def _positive(v) -> str | None:
    return None if v > 0 else "must be > 0"


def _nonneg(v) -> str | None:
    return None if v >= 0 else "must be >= 0"


def _unit(v) -> str | None:
    return None if 0 <= v < 1 else "must be in [0, 1)"


def _closed_unit(v) -> str | None:
    return None if 0 <= v <= 1 else "must be in [0, 1]"


def _switch(v) -> str | None:
    return None if v in (0, 1) else "takes 0 or 1"


@dataclasses.dataclass(frozen=True)
class Knob:
    """A per-run number of a sweep."""

    name: str
    default: float
    transform: str | None  # the transform it switches on away from its default; None: always in the program
    check: Callable[[float], str | None]  # None if valid, else what is wrong
    help: str
    kind: type = float  # float, or int for counts


KNOBS: tuple[Knob, ...] = (
    Knob("lr", 1e-3, None, _positive, "peak learning rate, reached after warmup_steps updates of linear warmup (10 for tables, 0 for the other tasks)"),
    Knob("weight_decay", 1.0, None, _nonneg, "AdamW's decoupled weight decay toward 0"),
    Knob("init_scale", 1.0, None, _positive, "α: every initial parameter times α (Omnigrok); no effect where weight_norm_target > 0, which rescales the init to its norm"),
    Knob("weight_decay_l2", 0.0, "weight_decay_l2", _nonneg,
         "coupled weight decay: the L2 penalty's gradient λ·θ added to the gradient before Adam, as PyTorch's "
         "Adam(weight_decay=λ) does (the Grokfast authors' runs); weight_decay is AdamW's decoupled decay"),
    Knob("weight_decay_init", 0.0, "weight_decay_init", _nonneg,
         "decoupled weight decay toward the initial parameters (Power et al. A.1.2)"),
    Knob("update_noise", 0.0, "update_noise", _nonneg, "σ of Gaussian noise added to Adam's update direction, constant in time"),
    Knob("grad_noise", 0.0, "grad_noise", _nonneg, "σ of Gaussian noise added to the gradient before Adam"),
    Knob("grokfast_lambda", 0.0, "grokfast", _nonneg, "Grokfast-EMA amplification λ of the slow gradient (Lee et al. 2024 use 2)"),
    Knob("grokfast_alpha", 0.98, None, _unit, "Grokfast-EMA decay α"),
    Knob("grokfast_ma_lambda", 0.0, "grokfast_ma", _nonneg,
         "Grokfast-MA amplification λ of the mean of the last w gradients (Lee et al. 2024 use 5)"),
    Knob("grokfast_window", 100, None, _positive, "Grokfast-MA window w, in steps; the program keeps the largest "
         "window's gradients (w × the model's size per run)", kind=int),
    Knob("orthograd", 0.0, "orthograd", _switch,
         "1 turns on ⊥Grad: the gradient's component along the weights removed (Prieto et al. 2025)"),
    Knob("weight_norm_target", 0.0, "weight_norm_target", _nonneg,
         "total parameter L2 norm, set at init and restored after each step, 0 = free (Omnigrok §5)"),
    Knob("weight_noise", 0.0, "weight_noise", _nonneg, "σ of Gaussian noise on every weight in the forward pass, fresh each step"),
    Knob("dropout", 0.0, "dropout", _unit, "residual dropout rate; runs the unfactorized model path: same numbers, slower"),
    Knob("outliers", 0, "outliers", _nonneg, "k training answers replaced by answers of other training equations (Power et al. A.4)",
         kind=int),
    Knob("messiness", 1.0, "messiness", _closed_unit,
         "Omnigrok §5's representation messiness ξ: the run's inputs are ξ·x + (1−ξ)·x_ideal, from the task's ideal "
         "representation x_ideal (toy_addition, digits, an arrays file's x_ideal) at 0 to its own inputs at 1; "
         "with a trained representation, where it starts"),
    Knob("representation_lr", 1.0, "representation_lr", _positive,
         "a trained representation's learning rate over the decoder's, η_r/η (toy_addition with representation "
         "= \"trained\"; Omnigrok's reduced trajectory assumes it small)"),
)
KNOB = {k.name: k for k in KNOBS}

# Transforms a program can hold; the chain's order is optim.py's. The last
# four act on the model or the data rather than in the optimizer chain.
TRANSFORMS = ("orthograd", "grokfast", "grokfast_ma", "grad_noise", "weight_decay_l2", "weight_decay_init", "update_noise",
              "representation_lr", "weight_norm_target", "weight_noise", "dropout", "outliers", "messiness")


def transforms_for(rows: list[dict]) -> tuple:
    """The transforms a program needs: those some run turns on."""
    return tuple(t for t in TRANSFORMS if any(
        k.transform == t and any(r.get(k.name, k.default) != k.default for r in rows) for k in KNOBS))


# Knobs no what-if from a saved state (a fork, a replay's ``--set``) may
# change, and why: changing them after the init would change nothing, or
# change the task instead of the training.
FIXED = {
    "init_scale": "acts only at the init, which a what-if from a saved state does not redo",
    "outliers": "changes the training labels: a different task, not a different training",
    "messiness": "changes the inputs: a different task, not a different training",
}


def change_problem(name: str, value: float, transforms: tuple | None = None, ring: int = 0) -> str | None:
    """Why per-run number ``name`` cannot become ``value`` from a saved state
    of a program that compiled ``transforms`` (None: whatever the program),
    with Grokfast-MA's ring holding ``ring`` gradients; None when it can.
    Turning a transform off is a number like any other: the program keeps
    it, and the run passes through."""
    if name not in KNOB:
        return f"{name!r} is not a per-run number (valid: {', '.join(k for k in KNOB if k not in FIXED)})"
    if name in FIXED:
        return f"{name} cannot change: it {FIXED[name]}"
    knob = KNOB[name]
    problem = knob.check(value)
    if problem:
        return f"{name} {value:g} {problem}"
    if transforms is None:
        return None
    if knob.transform and value != knob.default and knob.transform not in transforms:
        return f"{name}={value:g} turns on {knob.transform}, which the program does not compile in"
    if name == "grokfast_window" and "grokfast_ma" in transforms and value > ring:
        return f"grokfast_window={value:g} is longer than the {ring} gradients the program keeps"
    return None
