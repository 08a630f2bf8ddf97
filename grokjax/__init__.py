"""grokjax: grokking (Power et al. 2022) and Omnigrok (Liu et al. 2022) in JAX.

A whole sweep (seeds × data sizes × optimizer settings) is one compiled
program, for any task: operation tables, teacher-student, digits, your own arrays. From the command line: ``python -m grokjax.sweep --help``. From Python::

    import grokjax
    spec = grokjax.SweepSpec(task=grokjax.TableTask(op="add", modulus=23), fracs=(0.3, 0.5), steps=2000)
    res = grokjax.run(spec)              # or run(spec, out="results/mine") to write the folder
    res.runs, res.steps, res.curves      # per-run summary, evaluated steps, metric -> [T, R]
    grokjax.load("results/mine").params(0, step=1000)

The names below load on first use, so ``import grokjax`` stays light.
"""

__version__ = "0.2.0"

import sys as _sys

if _sys.argv[:1] == ["-m"]:  # ``python -m grokjax.<tool>``, while Python finds the tool
    from grokjax import interrupt as _interrupt

    if _tool := _interrupt.tool_name():
        _interrupt.install(_tool)

_EXPORTS = {
    "run": "grokjax.api",
    "resume": "grokjax.api",
    "fork": "grokjax.api",
    "load": "grokjax.api",
    "Results": "grokjax.api",
    "OutputError": "grokjax.api",
    "SweepSpec": "grokjax.spec",
    "TableTask": "grokjax.tasks",
    "TeacherStudentTask": "grokjax.tasks",
    "DigitsTask": "grokjax.tasks",
    "ArraysTask": "grokjax.tasks",
    "TransformerSpec": "grokjax.model",
    "MLPSpec": "grokjax.model",
    "Product": "grokjax.spec",
    "VARIANTS": "grokjax.spec",
    "variant_grid": "grokjax.spec",
    "SpecError": "grokjax.errors",
    "CheckpointError": "grokjax.checkpoint",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'grokjax' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
