"""grokjax from Python: ``run``, ``resume``, ``fork`` and ``load``, and their ``Results``.

    import grokjax
    spec = grokjax.SweepSpec(task=grokjax.TableTask(op="add", modulus=23), fracs=(0.3, 0.5), steps=2000)
    res = grokjax.run(spec)                    # in memory; run(spec, out="results/x") also writes the folder
    res.runs[0]["steps_to_99_val"], res.curves["val_acc"][:, 0]
    again = grokjax.load("results/x")          # the same numbers, read back from the folder
    params = again.params(0, step=1000)        # any run at any saved step
    grokjax.fork("results/x", "results/y", step=1000, settings={"weight_decay": 0})  # a what-if from step 1000

A folder holds runs.csv, curves.csv, config.json, the figures, and orbax
checkpoints under checkpoints/ (see checkpoint.py).
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import signal as signal_module
import sys
import threading
from pathlib import Path

import numpy as np

from grokjax import checkpoint, compile_cache, distributed, engine, forking, report, summary
from grokjax.checkpoint import CheckpointError
from grokjax.plan import Plan, expand
from grokjax.spec import SpecError, SweepSpec

_UNSET = object()


@dataclasses.dataclass(eq=False)
class Results:
    """A sweep's results: what ``run``, ``resume`` and ``load`` return.

    - ``runs``: one dict per run, as a row of runs.csv: its settings (frac,
      seed, every knob, n_train) and its summary (steps_to_99_train,
      steps_to_99_val, best_val_acc, final_*, diverged_step, steps, stop_reason).
    - ``steps``: ``[T]`` the evaluated steps.
    - ``curves``: metric → ``[T, R]`` array (train_loss, train_acc, val_loss,
      val_acc, weight_norm, and each layer's norm ``norm_<layer>``), runs in
      the order of ``runs``.
    """

    spec: SweepSpec
    runs: list
    steps: np.ndarray
    curves: dict
    out: Path | None = None
    stop_reason: str = "budget"  # budget, stop_at, or the signal that stopped it (SIGINT, SIGTERM)
    timing: dict = dataclasses.field(default_factory=dict)
    _plan: Plan | None = dataclasses.field(default=None, repr=False)
    _states: list | None = dataclasses.field(default=None, repr=False)  # final states of an in-memory run

    def __repr__(self) -> str:
        reached = sum(r["steps_to_99_val"] is not None and r["diverged_step"] is None for r in self.runs)
        where = f", out={str(self.out)!r}" if self.out else ""
        n = len(self.runs)
        return (f"Results({self.spec.task.describe()}, {n} run{'s' if n != 1 else ''}, steps 0..{int(self.steps[-1])}, "
                f"{reached} reached 99% val, stop_reason={self.stop_reason!r}{where})")

    @property
    def n_diverged(self) -> int:
        return sum(r["diverged_step"] is not None for r in self.runs)

    @property
    def n_grokked(self) -> int:
        """Runs that reached 99% val accuracy (before diverging, if they did:
        those with a ``steps_to_99_val``, the rule of every table and figure)."""
        return sum(r["steps_to_99_val"] is not None for r in self.runs)

    @property
    def n_fallen(self) -> int:
        """Runs that reached 99% val accuracy but ended below ``summary.FALLEN`` (a late
        collapse at the last evaluation, or a network that never came back)."""
        return sum(r["steps_to_99_val"] is not None and r["diverged_step"] is None
                   and r["final_val_acc"] is not None and r["final_val_acc"] < summary.FALLEN for r in self.runs)

    def to_pandas(self, table: str = "runs"):
        """``runs`` (one row per run) or ``curves`` (one row per run and
        evaluation, as curves.csv) as a pandas DataFrame."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("Results.to_pandas needs pandas, which grokjax does not install: "
                              "pip install pandas (or pip install 'grokjax[pandas]')") from None
        if table == "runs":
            df = pd.DataFrame(self.runs, columns=report.runs_header(self.runs))
            for c in ("steps_to_99_train", "steps_to_99_val", "diverged_step"):  # steps, or missing
                df[c] = df[c].astype("Int64")
            return df
        if table == "curves":
            settings = [{k: v for k, v in r.items() if k in self._plan.rows[0]} for r in self.runs]
            return pd.DataFrame(report.curve_rows(settings, self.steps, self.curves),
                                columns=report.curves_header(settings, self.curves))
        raise ValueError(f"table must be 'runs' or 'curves', got {table!r}")

    # ------------------------------------------------------------ inside the runs

    def saved_steps(self) -> list[int]:
        """Steps at which checkpoints of this sweep are on disk."""
        return checkpoint.saved_steps(self.out) if self.out else []

    def load_run(self, run: int, step: int | None = None) -> checkpoint.Loaded:
        """Run ``run``'s program config, settings and Flax params at ``step``
        (default: the last). From the checkpoints in ``out``, or, for a sweep
        run in memory, from its final state."""
        if not 0 <= run < len(self.runs):
            raise CheckpointError(f"run {run} is out of range: the sweep has runs 0..{len(self.runs) - 1}")
        if self._states is not None and step in (None, int(self.steps[-1])):
            import jax

            p = next(i for i, prog in enumerate(self._plan.programs) if run in prog.runs)
            j = self._plan.programs[p].runs.index(run)
            params = jax.tree.map(lambda a: np.asarray(a)[j], jax.device_get(self._states[p].params))
            return checkpoint.Loaded(self._plan.run_config(run), self._plan.rows[run], params, int(self.steps[-1]))
        if self.out is None:
            raise CheckpointError("a sweep run in memory keeps only its final params; run it with out=FOLDER "
                                  "(and ckpt_every) to keep earlier steps")
        return checkpoint.load(self.out, run, step)

    def params(self, run: int, step: int | None = None) -> dict:
        """Run ``run``'s Flax params at ``step`` (default: the last saved)."""
        return self.load_run(run, step).params

    def evaluate(self, run: int, step: int | None = None) -> dict:
        """Run ``run``'s metrics at ``step``, computed afresh from its params
        (train/val loss and accuracy over all of the task's data, weight norm)."""
        loaded = self.load_run(run, step)
        return engine.evaluate_run(loaded.config, loaded.run, loaded.params)["metrics"]


# ---------------------------------------------------------------- run, resume, load


class OutputError(OSError):
    """An output folder that cannot take a sweep, said in one line."""


def check_output(out: Path) -> None:
    """``out`` may be written: an empty folder, or a new one under a writable folder."""
    if out.exists():
        if not out.is_dir():
            raise OutputError(f"output folder {out} is a file; pick another folder")
        if any(out.iterdir()):
            raise OutputError(f"output folder {out} already exists and is not empty; pick another folder")
        return
    parent = next(p for p in out.absolute().parents if p.exists())
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot create output folder {out}: {parent} is not a writable folder")


def run(spec: SweepSpec, out=None, *, progress: bool = True, on_eval=None, command: list[str] | None = None) -> Results:
    """Trains every run of ``spec`` as one or a few compiled programs.

    ``out=None`` keeps everything in memory. With a folder (which must not
    exist yet, or be empty) the sweep also writes runs.csv, curves.csv,
    config.json, figures and checkpoints there. ``on_eval(step, steps,
    curves)`` is called after each evaluation, with the curves so far (say,
    to draw them live). ``command`` is recorded in config.json as the command
    line that started it. Ctrl-C (or SIGTERM) stops after the current chunk
    and returns what ran, saved when ``out`` is given.
    """
    if not isinstance(spec, SweepSpec):
        raise TypeError(f"run() takes a SweepSpec, got {type(spec).__name__}")
    out = None if out is None else Path(out)
    compile_cache.configure()  # on by default; a command line may have turned it off first
    plan = expand(spec)
    started, environment = _now(), report.environment()
    made = _open_folder(out, spec, command)
    outcome = _train_new(plan, out, made, None, progress, on_eval)
    return _finish(plan, outcome, out, started, environment, command)


def _open_folder(out: Path | None, spec: SweepSpec, command, forked_from: dict | None = None) -> bool:
    """Checks that ``out`` can take a new sweep and records the sweep there
    (process 0); True when it made the folder."""
    if out is None:
        distributed.barrier("planned")
        return False
    check_output(out)
    distributed.barrier("planned")  # every process has checked the folder before process 0 writes to it
    made = not out.exists()
    if distributed.is_main():
        try:
            checkpoint.write_meta(out, spec, command, forked_from)
        except OSError as e:
            raise OutputError(f"cannot write output folder {out}: {e.strerror or e}") from None
    return made


def _train_new(plan: Plan, out: Path | None, made: bool, start, progress: bool, on_eval) -> engine.Outcome:
    """Trains a new folder's sweep (from ``start``, a fork's restored state,
    saved there first); if it fails before a checkpoint of its own, removes
    what it wrote, so that no stub is left behind."""
    try:
        return _train(plan, out, resume=start, progress=progress, on_eval=on_eval, save_start=start is not None)
    except BaseException:  # a second Ctrl-C while compiling, an error
        # a fork's folder holds its start from the beginning: kept once training has saved past it
        if out is not None and distributed.is_main() and not _has_checkpoint(out, after=-1 if start is None else start.step):
            _remove_started(out, made)
        raise


def _has_checkpoint(out: Path, after: int = -1) -> bool:
    """Does ``out`` hold a checkpoint past step ``after``?"""
    try:
        return any(s > after for s in checkpoint.saved_steps(out))
    except Exception:  # unsure: keep the folder
        return True


def _remove_started(out: Path, made: bool) -> None:
    """Undo what ``run`` wrote into ``out`` before its first checkpoint: the
    folder if it made it, else (it was empty) what it holds now."""
    import shutil

    if made:
        shutil.rmtree(out, ignore_errors=True)
        return
    for p in out.iterdir():
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def resume(out, steps: int | None = None, *, ckpt_every: int | None = None, ckpt_keep: int | None = None,
           devices: int | None = None, stop_at=_UNSET, progress: bool = True, on_eval=None,
           command: list[str] | None = None) -> Results:
    """Continues the sweep in ``out`` from its latest readable checkpoint.

    Only the budget (``steps``, to extend it), checkpointing, ``devices`` and
    ``stop_at`` may change. A finished sweep resumed without a new budget
    rewrites the same tables. An unreadable newest checkpoint is moved to
    ``checkpoints/unreadable/`` and the one before is used (that, and a
    sweep already finished, are said on stderr even with ``progress=False``).
    """
    import jax

    out = Path(out)
    compile_cache.configure()
    meta = checkpoint.read_meta(out)
    spec = checkpoint.read_spec(out)
    changes = {k: v for k, v in dict(steps=steps, ckpt_every=ckpt_every, ckpt_keep=ckpt_keep, devices=devices).items()
               if v is not None}
    if stop_at is not _UNSET:
        changes["stop_at"] = stop_at
    spec = spec.replace(**changes)
    plan = expand(spec)
    with jax.enable_x64(spec.x64):
        got = checkpoint.restore(checkpoint.manager(out, read_only=True), engine.abstract_states(plan))
    if spec.steps < got.step:
        raise SpecError(f"steps {spec.steps} is below the checkpoint's step {got.step}")
    distributed.barrier("restored")  # every process has read the checkpoint before any file moves
    if distributed.is_main():
        for s, reason in got.skipped:
            moved = checkpoint.set_aside(out, s)
            _say(f"checkpoint at step {s} is unreadable ({reason}); moved it to {moved} and resumed from step {got.step}")
        checkpoint.write_meta(out, spec, meta.get("command"), meta.get("forked_from"))  # a new budget becomes the sweep's own
        if got.step == spec.steps:
            _say(f"{out} already finished its {spec.steps:,} steps: nothing to train; its tables and figures are "
                 f"written again (--steps N extends it)")
        elif progress:  # progress=False: no word but warnings
            _say(f"resuming {out} at step {got.step:,} of {spec.steps:,}")
    distributed.barrier("resuming")
    started, environment = _now(), report.environment()
    outcome = _train(plan, out, resume=got, progress=progress, on_eval=on_eval)
    return _finish(plan, outcome, out, started, environment, meta.get("command"), resume_command=command,
                   forked_from=meta.get("forked_from"))


def fork(src, out=None, *, step: int | None = None, settings: dict | None = None, progress: bool = True,
         on_eval=None, command: list[str] | None = None, **changes) -> Results:
    """A what-if: the sweep saved in ``src`` continued from its checkpoint at
    ``step`` (default: the latest) with the per-run numbers in ``settings``
    (say ``{"weight_decay": 0}``) changed for every run from then on.

    - ``changes``: ``steps`` (default the source's budget; it must lie past
      ``step``), ``eval_every``, ``stop_at``, ``stop_share``,
      ``ckpt_every``, ``ckpt_keep``, ``devices``.
    - ``out``: a new folder (as ``run``'s), or None to keep it in memory.
      It starts with the source's checkpoint at ``step`` and its curves up
      to there, so its tables and figures show each run's whole life, and
      ``resume`` continues it like any sweep. config.json records
      ``forked_from``: the source, the step, the settings and what they were.
    - The source folder is only read.

    A knob that a fork sets must take one value in each of the source's
    grid entries, and may not switch on a transform that the source's
    program lacks (its saved optimizer state has no slot for it); turning
    one off is fine: the program keeps it (the grid records the numbers
    before, ``Product.was``) and each run passes through it. ``init_scale``
    and ``outliers`` do not change. A fork that changes nothing continues
    exactly as the source's own training would have.
    """
    import jax

    src = Path(src)
    out = None if out is None else Path(out)
    compile_cache.configure()
    meta = checkpoint.read_meta(src)
    source = checkpoint.read_spec(src)
    changes = {k: v for k, v in changes.items() if not (v is None and k != "stop_at")}
    spec = forking.forked_spec(source, settings or {}, **changes)
    settings = forking.settings_of(spec, settings or {})
    # the source's plan on the fork's devices: the programs must be the same
    plan = expand(spec)
    forking.check_programs(expand(source.replace(devices=spec.devices)), plan, settings)
    if step is not None and (isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0):
        raise SpecError(f"step must be a saved step (a whole number >= 0), got {step!r}")
    if out is not None:  # before the restore, which can take a while
        check_output(out)
        if out.resolve() == src.resolve() or src.resolve() in out.resolve().parents:
            raise OutputError(f"output folder {out} lies inside the source {src}, which a fork only reads; pick another")
    with jax.enable_x64(spec.x64):
        got = checkpoint.restore(checkpoint.manager(src, read_only=True), engine.abstract_states(plan), step=step)
    for s, reason in got.skipped:  # the source is only read: nothing is moved aside
        if distributed.is_main():
            _say(f"checkpoint at step {s} of {src} is unreadable ({reason}); forking from step {got.step}")
    if spec.steps <= got.step:
        raise SpecError(f"the fork would train nothing: its budget, {spec.steps:,} steps, does not pass step {got.step:,} "
                        f"(give steps beyond it)")
    if spec.stop_at is not None and engine.all_done(got.steps, got.curves, spec.stop_at, spec.stop_share):
        who = "every run" if spec.stop_share >= 1 else f"{spec.stop_share:.0%} of the runs"
        raise SpecError(f"{who} had reached stop_at {spec.stop_at:g} val by step {got.step:,}, so the fork would stop "
                        f"at once; turn stop_at off (None; --stop-at off)")
    forked_from = {
        "sweep": str(src),
        "step": got.step,
        "set": settings,
        "was": {k: forking.source_values(source, k) for k in settings},
        **({"command": meta["command"]} if meta.get("command") is not None else {}),
        **({"forked_from": meta["forked_from"]} if meta.get("forked_from") else {}),  # a fork of a fork
    }
    started, environment = _now(), report.environment()
    made = _open_folder(out, spec, command, forked_from)
    if progress and distributed.is_main():
        changed = ", ".join(f"{k} {'/'.join(f'{w:g}' for w in sorted(set(forked_from['was'][k])))} → {v:g}"
                            for k, v in settings.items())
        _say(f"forking {src} at step {got.step:,}" + (f": {changed}" if changed else ", nothing changed")
             + f", to step {spec.steps:,}" + (f", into {out}" if out is not None else ""))
    outcome = _train_new(plan, out, made, got, progress, on_eval)
    return _finish(plan, outcome, out, started, environment, command, forked_from=forked_from)


def load(out) -> Results:
    """The sweep in folder ``out``, read back: its spec, and the runs, steps
    and curves ``run`` returned (curves.csv holds every number exactly).
    ``.params(run, step)`` then opens its checkpoints."""
    out = Path(out)
    if not (out / "config.json").is_file() or not (out / "curves.csv").is_file():
        what = "a sweep stopped before writing its tables: resume it first" if (out / checkpoint.CKPT_DIR).is_dir() \
            else "not a sweep folder"
        raise CheckpointError(f"{out} has no config.json and curves.csv ({what})")
    spec, record = _load_record(out)
    plan = expand(spec, devices=1)
    steps, curves = report.read_curves(out / "curves.csv", plan.n_runs, np.float64 if spec.x64 else np.float32)
    reason = record.get("stop_reason", "budget")
    return Results(spec, _run_rows(plan, steps, curves, reason), steps, curves, out, reason,
                   record.get("timing", {}), _plan=plan)


def load_spec(out) -> SweepSpec:
    """The sweep spec a folder's config.json records, without its curves (a
    folder whose curves.csv was left out of git still names its sweep)."""
    out = Path(out)
    if not (out / "config.json").is_file():
        raise CheckpointError(f"{out} has no config.json (not a sweep folder)")
    return _load_record(out)[0]


def _load_record(out: Path) -> tuple[SweepSpec, dict]:
    import json

    record_path = out / "config.json"
    try:
        record = json.loads(record_path.read_text())
    except ValueError:
        raise CheckpointError(f"{record_path} is not JSON") from None
    if "spec" not in record:
        version = record.get("environment", {}).get("grokjax", "?")
        raise CheckpointError(f"{out} was written by grokjax {version}, which recorded no spec; "
                              f"its tables still read with grokjax.report.read_sweep")
    try:
        return SweepSpec.from_dict(record["spec"]), record
    except SpecError as e:
        raise CheckpointError(f"{out}: its recorded sweep is no longer valid: {e}") from None


# ---------------------------------------------------------------- the pieces


def _now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


def _say(text: str) -> None:
    print(f"grokjax: {text}", file=sys.stderr, flush=True)


def _run_rows(plan: Plan, steps, curves, stop_reason: str) -> list[dict]:
    per_run = summary.summarize(steps, curves)
    return [{**row, **s, "steps": int(steps[-1]), "stop_reason": stop_reason} for row, s in zip(plan.rows, per_run)]


class _Saver:
    """The engine's save hook: orbax checkpoints of the whole sweep."""

    def __init__(self, out: Path, plan: Plan):
        self.mgr = checkpoint.manager(out, keep=plan.spec.ckpt_keep)
        self.n_runs = [len(p.runs) for p in plan.programs]

    def __call__(self, step, states, steps, curves) -> bool:
        if self.mgr.latest_step() == step:  # a finished sweep resumed: it is on disk already
            return False
        checkpoint.save(self.mgr, step, states, steps, curves, self.n_runs)
        return True


class _Progress:
    """A tqdm bar over steps with the best val accuracy and the runs grokked.
    It starts once the programs are built (``start``), so that its rate and
    time left are training's, not the compile's."""

    def __init__(self, plan: Plan, start: int, enabled: bool):
        self.plan, self.done, self.enabled, self.bar = plan, start, enabled, None

    def building(self, n_programs: int):
        """One line while the programs are built: a cold compile is seconds
        of silence otherwise."""
        if self.enabled:
            from grokjax import compile_cache

            cached = compile_cache.state()["mode"] not in ("off", "unset")
            _say(f"building {n_programs} compiled program{'s' if n_programs > 1 else ''} "
                 + ("(seconds the first time on this machine; later runs load them from the cache)" if cached
                    else "(seconds: the compile cache is off)"))

    def start(self):
        from tqdm.auto import tqdm

        spec = self.plan.spec
        self.bar = tqdm(total=spec.steps, initial=self.done, unit="step", disable=not self.enabled, dynamic_ncols=True,
                        desc=f"{spec.name or spec.task.describe()} R={self.plan.n_runs}")

    def __call__(self, step, steps, curves):
        if self.bar is None:
            self.start()
        reached = summary.reached(steps, curves, 0.99)
        self.bar.set_postfix(best_val=f"{np.nanmax(curves['val_acc']):.3f}", grokked=f"{int(reached.sum())}/{len(reached)}")
        self.bar.update(step - self.done)
        self.done = step

    def close(self):
        if self.bar is not None:
            self.bar.close()


class _Signals:
    """SIGINT/SIGTERM while a sweep runs: the first asks it to stop after the
    current chunk (and save); a second one aborts at once. Installed only in
    the main thread, where Python delivers signals."""

    def __init__(self):
        self.signum = None
        self._old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = {s: signal_module.signal(s, self._handle) for s in (signal_module.SIGINT, signal_module.SIGTERM)}
        return self

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal_module.signal(s, h)

    def _handle(self, signum, frame):
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum
        _say(f"got {engine.signal_name(signum)}; finishing this chunk and saving (send it again to abort without saving)")

    def __call__(self):
        return self.signum


def _train(plan: Plan, out: Path | None, resume, progress: bool, on_eval, save_start: bool = False) -> engine.Outcome:
    saver = _Saver(out, plan) if out is not None else None
    if saver is not None and save_start:  # a fork's start, so that its folder resumes however soon it stops
        saver(resume.step, resume.states, resume.steps, resume.curves)
    start = int(resume.steps[-1]) if resume is not None else 0
    bar = _Progress(plan, start, progress and distributed.is_main())

    def on_chunk(step, steps, curves):
        bar(step, steps, curves)
        if on_eval is not None:
            on_eval(step, steps, curves)

    bar.building(len(plan.programs) * (1 if resume is not None else 2))  # chunks, and inits for a new sweep
    try:
        with _Signals() as signals:
            return engine.train(plan, resume=resume, save=saver, ckpt_every=plan.spec.ckpt_every, on_chunk=on_chunk,
                                stop=lambda: distributed.agree(signals()), on_compiled=bar.start)
    finally:
        bar.close()


def _finish(plan: Plan, outcome: engine.Outcome, out: Path | None, started: str, environment: dict,
            command, resume_command=None, forked_from: dict | None = None) -> Results:
    rows = _run_rows(plan, outcome.steps, outcome.curves, outcome.stop_reason)
    model_steps = plan.n_runs * (int(outcome.steps[-1]) - outcome.start_step)
    timing = {
        "compile_s": round(outcome.compile_s, 2),
        # programs loaded whole from the program cache (no tracing) or traced and compiled
        "programs_loaded": outcome.programs.get("loaded", 0),
        "programs_compiled": outcome.programs.get("compiled", 0),
        "train_s": round(outcome.train_s, 2),
        "model_steps_per_s": round(model_steps / max(outcome.train_s, 1e-9), 2),
    }
    process_s = report.process_seconds() if report.run_by_a_command() else None
    if process_s is not None:  # the command's wall time so far (imports, compile, training), figures aside
        timing["process_s"] = process_s
    results = Results(plan.spec, rows, outcome.steps, outcome.curves, out, outcome.stop_reason, timing,
                      _plan=plan, _states=outcome.states)
    if out is not None and distributed.is_main():
        _write(out, plan, results, outcome, started, environment, command, resume_command, forked_from)
    return results


def _write(out: Path, plan: Plan, results: Results, outcome: engine.Outcome, started: str, environment: dict,
           command, resume_command, forked_from: dict | None = None) -> None:
    from grokjax import plots

    out.mkdir(parents=True, exist_ok=True)
    float32 = not plan.spec.x64
    report.write_runs(out / "runs.csv", results.runs, float32)
    report.write_curves(out / "curves.csv", list(plan.rows), results.steps, results.curves, float32)
    stats = _checkpoint_stats(out, outcome)
    record = {
        **({"command": report.command_line(command)} if command is not None else {}),
        **({"resume_command": report.command_line(resume_command)} if resume_command is not None else {}),
        # a fork starts at its source's step: that is no resume
        **({"resumed_from_step": outcome.start_step}
           if outcome.start_step and outcome.start_step != (forked_from or {}).get("step") else {}),
        **({"forked_from": forked_from} if forked_from else {}),
        "spec": plan.spec.to_dict(),
        "started": started,
        "finished": _now(),
        "steps_done": int(results.steps[-1]),
        "stop_reason": results.stop_reason,
        "n_runs": plan.n_runs,
        "n_reached_99_val": results.n_grokked,
        "n_diverged": results.n_diverged,
        "programs": [{"config": {**dataclasses.asdict(p.config), "task": p.config.task.to_dict(),
                                 "model": p.config.model.to_dict()}, "runs": list(p.runs)} for p in plan.programs],
        "timing": results.timing,
        **({"checkpoints": stats} if stats else {}),
        "environment": environment,
    }
    report.write_json(out / "config.json", record)
    plots.write_all(out, results.runs, results.steps, results.curves, plan.spec.data_axis)


def _checkpoint_stats(out: Path, outcome: engine.Outcome) -> dict:
    """Size on disk of the newest checkpoint, and what saving cost."""
    d = checkpoint.ckpt_dir(out) / str(int(outcome.steps[-1]))
    if not outcome.save_s or not d.is_dir():
        return {}
    size = sum(f.stat().st_size for f in d.rglob("*") if f.is_file())
    return {
        "dir": checkpoint.CKPT_DIR,
        "latest_step": int(outcome.steps[-1]),
        "latest_bytes": size,
        "saves": len(outcome.save_s),
        "save_s_mean": round(float(np.mean(outcome.save_s)), 3),
        "save_s_max": round(float(np.max(outcome.save_s)), 3),
    }
