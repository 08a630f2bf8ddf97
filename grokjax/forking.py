"""A fork: a saved sweep continued from one of its checkpoints with some
per-run numbers changed from then on (a what-if), into a folder of its own.

Turn weight decay off at step 34,000 of a network that has collapsed, or
raise the learning rate after it has memorized, and train on at the
sweep's full speed. Every run of the source continues, each from its own
saved state (params and optimizer state), so a fork that changes nothing
continues exactly as the source would have.

Pure: the fork's spec from the source's, and the checks that it can
continue the source's states. ``api.fork`` reads and writes the folders.
"""

from __future__ import annotations

import dataclasses

from grokjax.errors import SpecError
from grokjax.knobs import FIXED, KNOB
# Spec fields a fork may give anew besides the knobs (the budget, the
# evaluation schedule, stopping, checkpoints, devices): none of them
# changes a compiled program's state.
MAY_CHANGE = ("steps", "eval_every", "stop_at", "stop_share", "ckpt_every", "ckpt_keep", "devices")


def check_names(settings: dict) -> None:
    """Every key of ``settings`` is a per-run number a fork may change, given
    one value (``Product`` checks the value itself)."""
    for name, value in settings.items():
        if name not in KNOB:
            raise SpecError(f"a fork sets per-run numbers; {name!r} is not one (valid: "
                            f"{', '.join(k for k in KNOB if k not in FIXED)})")
        if name in FIXED:
            raise SpecError(f"a fork cannot change {name}: it {FIXED[name]}")
        if isinstance(value, (list, tuple)):
            raise SpecError(f"a fork sets one value of {name} for every run, got {list(value)}")


def source_values(spec, name: str) -> list:
    """The values knob ``name`` takes in ``spec``'s grid, one per product."""
    return [getattr(p, name)[0] for p in spec.grid]


def forked_spec(spec, settings: dict, **changes):
    """``spec`` with every run's ``settings`` changed and ``changes`` (of
    ``MAY_CHANGE``) applied. Each knob set must take one value in each of
    the source's products, so that the fork's runs are the source's, one
    for one, in the same order."""
    bad = sorted(set(changes) - set(MAY_CHANGE))
    if bad and bad[0] in KNOB:
        raise SpecError(f"a fork takes its per-run numbers in settings, e.g. settings={{{bad[0]!r}: ...}}")
    if bad:
        raise SpecError(f"a fork keeps its source's task, model and grid; it cannot change {bad[0]} "
                        f"(it may change {', '.join(MAY_CHANGE)}, and the per-run numbers)")
    check_names(settings)
    for name in settings:
        for p in spec.grid:
            values = getattr(p, name)
            if len(values) > 1:
                raise SpecError(f"the source sweeps {name} over {', '.join(f'{v:g}' for v in values)}; a fork sets one "
                                f"value for every run, so those runs would become one: fork a sweep of one {name}")
    # each product records what it had before (before its first fork, for a fork of a fork), so that the
    # fork's programs keep what those numbers compiled in: Grokfast turned off keeps its averages' slot
    grid = tuple(dataclasses.replace(p, **{k: (v,) for k, v in settings.items()},
                                     was={**{k: getattr(p, k)[0] for k in settings}, **dict(p.was)})
                 for p in spec.grid)
    if len({dataclasses.replace(p, was=()) for p in grid}) < len(grid):
        raise SpecError(f"two of the source's grid entries differ only in {', '.join(settings)}; a fork sets one value "
                        f"for every run, so their runs would become one: fork each on its own")
    return spec.replace(grid=grid, **changes)


def settings_of(spec, settings: dict) -> dict:
    """The values ``settings`` became in ``spec`` (a fork's), as ``Product`` checked them."""
    return {k: getattr(spec.grid[0], k)[0] for k in settings}


def check_programs(source_plan, fork_plan, settings: dict) -> None:
    """The fork compiles the source's programs, runs for runs: else its
    states (the optimizer's, above all) are not the source's shapes."""
    for a, b in zip(source_plan.programs, fork_plan.programs, strict=True):
        if a.runs != b.runs:  # cannot happen when each product keeps its runs; checked all the same
            raise SpecError("the fork's runs would not be its source's, one for one")
        if a.config == b.config:
            continue
        added = sorted(set(b.config.transforms) - set(a.config.transforms))
        what = (f"turns on {', '.join(added)}, which no run of the source's program had" if added
                else f"needs a Grokfast-MA window of {b.config.grokfast_window} gradients, where the source's program "
                     f"keeps {a.config.grokfast_window}" if a.config.grokfast_window != b.config.grokfast_window
                else "changes the compiled program (its static settings)")
        names = ", ".join(f"{k}={v:g}" for k, v in settings.items())
        raise SpecError(f"{names} {what}; a fork continues the source's saved states, so it can only change numbers "
                        f"the source's programs already apply")
