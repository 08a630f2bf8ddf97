"""Orbax checkpoints of a whole sweep, and loading one run back for inspection.

A sweep's folder holds ``checkpoints/``: ``sweep.json`` (the sweep's spec,
``SweepSpec.to_dict()``, so resume and load rebuild the very same plan) and
one orbax step folder per checkpoint. A step folder has one item per compiled program,
``state_<p>`` (params, optimizer state and step of every run of program p,
run axis leading), and ``curves`` (the evaluation steps so far and every
metric, runs in grid order). Nothing else is needed: batches, noise and
dropout masks are all ``fold_in(key, step)`` of keys that come from the
run's seed, so a restored state continues exactly as if never stopped.

Orbax writes each step into a temporary folder and renames it when complete,
so a killed save leaves a folder that ``all_steps`` never lists.
"""

from __future__ import annotations

import dataclasses

import contextlib
import json
import re
import shutil
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from grokjax import engine
from grokjax.plan import expand
from grokjax.spec import SpecError, SweepSpec

# Bump when the layout or sweep.json changes incompatibly. 1 (grokjax 0.1.0)
# recorded command-line flags; 2 records the spec.
FORMAT = 2
META = "sweep.json"
CKPT_DIR = "checkpoints"


class CheckpointError(Exception):
    """A folder that cannot be resumed or loaded; one line for the user."""


def ckpt_dir(out: Path) -> Path:
    return Path(out).absolute() / CKPT_DIR


@contextlib.contextmanager
def quiet_orbax():
    """Orbax reports each save and restore through absl at INFO and WARNING;
    the sweep prints its own summary. Only for the call: the user's logging
    is as it was afterwards."""
    import logging

    from absl import logging as absl_logging

    logger, verbosity = logging.getLogger("absl"), absl_logging.get_verbosity()
    level = logger.level
    absl_logging.set_verbosity(absl_logging.ERROR)
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        absl_logging.set_verbosity(verbosity)
        logger.setLevel(level)


def write_meta(out: Path, spec: SweepSpec, command: list[str] | None = None, forked_from: dict | None = None) -> None:
    """Records the sweep's spec (and the command that started it, and for a
    fork where it came from: ``api.fork``), before it starts."""
    import grokjax
    from grokjax.report import write_atomic

    d = ckpt_dir(out)
    d.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT, "grokjax": grokjax.__version__, "command": command, "spec": spec.to_dict(),
            **({"forked_from": forked_from} if forked_from else {})}
    write_atomic(d / META, json.dumps(meta, indent=2) + "\n")


def _tables_only(out: Path) -> str:
    """For a sweep's folder kept without its checkpoints (as results/ keeps
    them): how to get them back."""
    try:
        command = json.loads((out / "config.json").read_text()).get("command")
    except (OSError, ValueError, AttributeError):
        return ""
    if isinstance(command, list):
        command = " ".join(map(str, command))
    if isinstance(command, str) and command:
        # its own --out exists (it holds the tables): the same command into a new folder
        command, n = re.subn(r"--out(=|\s+)\S+", "--out NEW_FOLDER", command)
        command = command if n else f"{command} --out NEW_FOLDER"
    return ": it holds a sweep's tables without its checkpoints; train it again to a new --out" + (
        f" ({command})" if isinstance(command, str) and command else "")


def read_meta(out: Path) -> dict:
    """The record of a sweep folder (format, grokjax, command, spec), or a
    CheckpointError saying why not."""
    out = Path(out)
    if not out.is_dir():
        raise CheckpointError(f"{out} is not a folder")
    path = ckpt_dir(out) / META
    if not path.is_file():
        raise CheckpointError(f"{out} has no checkpoint ({CKPT_DIR}/{META} is missing){_tables_only(out)}")
    try:
        meta = json.loads(path.read_text())
        fmt = meta["format"]
    except (ValueError, KeyError, TypeError):
        raise CheckpointError(f"{path} is not a grokjax sweep record") from None
    if fmt != FORMAT or "spec" not in meta:
        import grokjax

        raise CheckpointError(
            f"{out} was written by grokjax {meta.get('grokjax', '?')} (checkpoint format {fmt!r}), an incompatible "
            f"grokjax; this grokjax {grokjax.__version__} reads format {FORMAT}: rerun the sweep, or use that version"
        )
    return meta


def read_spec(out: Path) -> SweepSpec:
    """The spec recorded in a sweep folder's checkpoints."""
    try:
        return SweepSpec.from_dict(read_meta(out)["spec"])
    except SpecError as e:
        raise CheckpointError(f"{out}: its recorded sweep is no longer valid: {e}") from None


def manager(out: Path, keep: int | None = None, read_only: bool = False):
    """An orbax CheckpointManager over ``<out>/checkpoints``; saves are synchronous,
    so a state is on disk before training goes on and donates its buffers."""
    import orbax.checkpoint as ocp

    with quiet_orbax():
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, enable_async_checkpointing=False, create=not read_only, read_only=read_only
        )
        return ocp.CheckpointManager(ckpt_dir(out), options=options)


def save(mgr, step: int, states: list, steps: np.ndarray, curves: dict[str, np.ndarray], n_runs: list[int]) -> None:
    """Saves every program's state (sharded arrays stay sharded: each process
    writes its own shards) and the curves so far as checkpoint ``step``.
    ``n_runs`` counts each program's real runs; the rest are padding."""
    import jax
    import orbax.checkpoint as ocp

    padded = [jax.tree.leaves(s)[0].shape[0] for s in states]
    items = {f"state_{p}": ocp.args.StandardSave(s) for p, s in enumerate(states)}
    items["curves"] = ocp.args.StandardSave({
        "steps": np.asarray(steps), "n_runs": np.asarray(n_runs), "padded_runs": np.asarray(padded),
        **{k: np.asarray(v) for k, v in curves.items()}})
    with quiet_orbax():
        mgr.save(step, args=ocp.args.Composite(**items), force=True)


def good_steps(mgr) -> list[int]:
    """Committed checkpoints, newest first. A step folder without orbax's
    metadata file (not written by orbax, or not committed) is left out."""
    d = Path(mgr.directory)
    return [s for s in sorted(mgr.all_steps(), reverse=True) if (d / str(s) / "_CHECKPOINT_METADATA").is_file()]


class Restored(NamedTuple):
    step: int
    states: list  # per program; None where not asked for
    steps: np.ndarray  # [T] evaluation steps
    curves: dict  # metric -> [T, R], runs in grid order
    skipped: list  # (step, reason) of newer checkpoints that could not be read


def restore(mgr, abstract_states: list, programs: list[int] | None = None, step: int | None = None) -> Restored:
    """The latest readable checkpoint (or ``step``), restored onto
    ``abstract_states`` (shapes, dtypes and shardings per program).

    An unreadable newer checkpoint is skipped and reported in ``skipped``;
    with ``programs``, only those programs' states are read. A checkpoint
    saved on another device count (so padded to another run count) is read
    whole and re-padded for this one.
    """
    import orbax.checkpoint as ocp

    listed = sorted(mgr.all_steps(), reverse=True)
    if step is not None:
        if step not in listed:
            raise CheckpointError(f"no checkpoint at step {step}; saved steps: {sorted(listed) or 'none'}")
        listed = [step]
    if not listed:
        raise CheckpointError(f"{mgr.directory} holds no checkpoint")
    want = list(range(len(abstract_states)) if programs is None else programs)
    with quiet_orbax():
        return _restore(mgr, listed, abstract_states, want)


def _restore(mgr, listed: list[int], abstract_states: list, want: list[int]) -> Restored:
    import orbax.checkpoint as ocp

    skipped = []
    for s in listed:
        if not (Path(mgr.directory) / str(s) / "_CHECKPOINT_METADATA").is_file():
            skipped.append((s, "not an orbax checkpoint (no _CHECKPOINT_METADATA)"))
            continue
        try:
            got = mgr.restore(s, args=ocp.args.Composite(curves=ocp.args.StandardRestore()))
            curves = {k: np.asarray(v) for k, v in got["curves"].items()}
            n_runs, padded = curves.pop("n_runs").tolist(), curves.pop("padded_runs").tolist()
            if len(padded) != len(abstract_states):
                raise CheckpointError(f"it holds {len(padded)} programs, this sweep has {len(abstract_states)}")
            targets = {p: _saved_layout(abstract_states[p], padded[p]) for p in want}
            got = mgr.restore(s, args=ocp.args.Composite(
                **{f"state_{p}": ocp.args.StandardRestore(t) for p, t in targets.items()}))
        except Exception as e:  # orbax/tensorstore raise many kinds; the message says which
            skipped.append((s, _first_line(e)))
            continue
        states = [None] * len(abstract_states)
        for p in want:
            states[p] = _repad(got[f"state_{p}"], n_runs[p], abstract_states[p])
        return Restored(s, states, curves.pop("steps"), curves, skipped)
    reasons = "; ".join(f"step {s}: {r}" for s, r in skipped)
    raise CheckpointError(f"no readable checkpoint in {mgr.directory} ({reasons})")


def _rows(tree) -> int:
    import jax

    return jax.tree.leaves(tree)[0].shape[0]


def _saved_layout(abstract, saved_rows: int):
    """The restore target: ``abstract`` itself when the run counts agree,
    else the saved shape, replicated (it is re-split after re-padding)."""
    import jax

    if _rows(abstract) == saved_rows:
        return abstract
    mesh = jax.tree.leaves(abstract)[0].sharding.mesh
    rep = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct((saved_rows, *a.shape[1:]), a.dtype, sharding=rep), abstract)


def _repad(state, n_runs: int, abstract):
    """``state`` with its real ``n_runs`` runs kept and padded, by repeating
    the last, to the run count and sharding of ``abstract``."""
    import jax

    from grokjax.train import put_global

    if _rows(state) == _rows(abstract):
        return state
    pad = _rows(abstract) - n_runs
    def local(a):  # a replicated array is whole on each process
        return np.asarray(a if a.is_fully_addressable else a.addressable_data(0))

    host = jax.tree.map(lambda a: np.concatenate([local(a)[:n_runs]] + [local(a)[n_runs - 1 : n_runs]] * pad), state)
    sharding = jax.tree.leaves(abstract)[0].sharding
    return put_global(host, sharding)


def set_aside(out: Path, step: int) -> Path:
    """Moves an unreadable checkpoint out of orbax's sight (to
    ``checkpoints/unreadable/<step>``), so the resumed sweep can save that step again."""
    src = ckpt_dir(out) / str(step)
    dst = ckpt_dir(out) / "unreadable" / str(step)
    dst.parent.mkdir(exist_ok=True)
    if dst.exists():
        shutil.rmtree(dst)
    shutil.move(str(src), str(dst))
    return dst


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200] if text else ''}"


# ---------------------------------------------------------------- one run


class Loaded(NamedTuple):
    """One run of a sweep, as saved: ``train.model_for(config).apply(params, x)`` runs it."""

    config: Any  # grokjax.config.Config of the run's program, its task the run's own op
    run: dict  # the run's row: its settings, as in runs.csv
    params: dict  # its Flax params
    step: int  # the checkpoint's step


def saved_steps(out) -> list[int]:
    """The steps of a sweep folder's committed checkpoints, oldest first."""
    read_meta(out)
    return sorted(good_steps(manager(out, read_only=True)))


def load(out, run: int, step: int | None = None) -> Loaded:
    """The config, settings and Flax params of run ``run`` of the sweep in
    ``out``, from its latest readable checkpoint or from ``step``."""
    import jax

    # One device whatever the sweep used: loading must work on a laptop too.
    plan = expand(read_spec(out), devices=1)
    if not 0 <= run < plan.n_runs:
        raise CheckpointError(f"run {run} is out of range: the sweep has runs 0..{plan.n_runs - 1}")
    p = next(i for i, prog in enumerate(plan.programs) if run in prog.runs)
    j = plan.programs[p].runs.index(run)
    config = plan.run_config(run)
    with jax.enable_x64(config.x64):
        got = restore(manager(out, read_only=True), engine.abstract_states(plan), programs=[p], step=step)
        params = jax.tree.map(lambda a: np.asarray(a)[j], got.states[p].params)
    return Loaded(config, plan.rows[run], params, got.step)
