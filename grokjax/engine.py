"""The engine: a plan's programs trained side by side, chunk by chunk.

``train(plan)`` places every program's runs on the mesh, compiles, and
advances all programs from one evaluation step to the next; the host wakes
once per evaluation (one gather of the metrics) and never once per step.
Between chunks it calls its hooks: progress, a checkpoint save, and a stop
poll. It knows nothing of files, flags or orbax: the API wires those in.
"""

from __future__ import annotations

import dataclasses
import functools
import signal as signal_module
import time
from typing import Callable

import numpy as np

from grokjax import program_cache, summary, tasks, train as training, xla_options
from grokjax.plan import Plan


@dataclasses.dataclass
class Outcome:
    """What a sweep's training produced."""

    steps: np.ndarray  # [T] evaluated steps
    curves: dict  # metric -> [T, R], runs in grid order
    states: list  # final TrainState of each program, run axis leading (padded)
    compile_s: float
    train_s: float  # training and evaluation, saves excluded
    start_step: int = 0  # > 0 when resumed
    save_s: list = dataclasses.field(default_factory=list)  # seconds of each checkpoint save
    stop_reason: str = "budget"  # "budget", "stop_at", or the signal's name
    signal: int | None = None  # the signal that stopped it early
    programs: dict = dataclasses.field(default_factory=dict)  # {"loaded": n, "compiled": n} from the program cache


def signal_name(signum: int) -> str:
    try:
        return signal_module.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def abstract_states(plan: Plan) -> list:
    """Shapes, dtypes and shardings of each program's TrainState (padded run
    axis, split over the devices): what a restore fills."""
    import jax

    out = []
    with jax.enable_x64(plan.spec.x64):
        for p in plan.programs:
            x = p.config.task.data().x
            out.append(_abstract(p.config, jax.eval_shape(functools.partial(training.sweep_init, p.config), x,
                                                          plan.run_params(p))))
    return out


def _abstract(config, states):
    """Shapes and dtypes of ``states`` (arrays or shapes) on the run axis's
    sharding: what a program is built for, however they were obtained."""
    import jax

    sharding = training.run_sharding(config)
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), states)


def train(
    plan: Plan,
    *,
    resume=None,
    save: Callable | None = None,
    ckpt_every: int = 0,
    on_chunk: Callable | None = None,
    stop: Callable[[], int | None] = lambda: None,
    on_compiled: Callable[[], None] | None = None,
) -> Outcome:
    """Trains every program of ``plan`` to its budget, side by side.

    - ``resume``: a start point with ``states``, ``steps`` and ``curves``
      (``checkpoint.Restored``) instead of a fresh init.
    - ``save(step, states, steps, curves)``: called at the first evaluation at
      or after each multiple of ``ckpt_every``, and once at the end (or stop).
    - ``on_chunk(step, steps, curves)``: after each evaluation, for progress.
    - ``on_compiled()``: once every program is built, before training.
    - ``stop()``: polled after each chunk; a signal number ends the sweep
      early (after a save). The spec's ``stop_at`` ends it once every run (or
      its ``stop_share`` of the runs) has
      reached that val accuracy (or diverged).
    """
    import jax

    with jax.enable_x64(plan.spec.x64):
        return _train(plan, resume, save, ckpt_every, on_chunk, stop, on_compiled)


def _train(plan: Plan, resume, save, ckpt_every, on_chunk, stop, on_compiled) -> Outcome:
    import jax
    from jax.experimental import multihost_utils
    from jax.sharding import NamedSharding, PartitionSpec

    spec = plan.spec
    mesh = training.run_mesh(plan.programs[0].config.devices)
    # each program's own table(s), replicated: a sweep of several ops has one per vocabulary
    tables = {}
    for p in plan.programs:
        if p.config.task not in tables:
            d = p.config.task.data()
            tables[p.config.task] = tuple(training.put_global(a, NamedSharding(mesh, PartitionSpec())) for a in (d.x, d.y))
    xys = [tables[p.config.task] for p in plan.programs]
    runs = [training.put_global(plan.run_params(p), training.run_sharding(p.config)) for p in plan.programs]
    order = plan.grid_order()

    def chunk(states, n):
        """Every program advances n steps; metrics of the real runs in grid order, on every host."""
        outs = [c(x, y, r, s, n) for c, (x, y), r, s in zip(compiled, xys, runs, states)]
        wait_ready([o[1] for o in outs])
        got = multihost_utils.process_allgather([o[1] for o in outs], tiled=True)  # the one host sync per chunk
        got = [{k: np.asarray(v)[: len(p.runs)] for k, v in m.items()} for m, p in zip(got, plan.programs)]
        return [o[0] for o in outs], {k: np.concatenate([m[k] for m in got])[order] for k in got[0]}

    # compile_s: tracing, lowering and XLA's compile of every program (or
    # their load from the program cache, or XLA's part from JAX's cache), the
    # init's included (which also runs: milliseconds); the step-0 evaluation
    # counts as training
    t0 = time.perf_counter()
    before = dict(program_cache.stats)
    # The init programs from the store where they are, then every program
    # still to build at once: the chunk programs are built from the states'
    # shapes (an init's, without tracing when it was loaded), so XLA
    # compiles a sweep's inits and chunks side by side.
    if resume is None:
        init_jobs = [(training.sweep_init, "sweep_init", p.config, (x, r)) for p, (x, _), r in zip(plan.programs, xys, runs)]
        inits = [program_cache.find(fn, name, config, *args) for fn, name, config, args in init_jobs]
        shapes = [exe.out_info if exe is not None else jax.eval_shape(functools.partial(training.sweep_init, p.config), x, r)
                  for exe, p, (x, _), r in zip(inits, plan.programs, xys, runs)]
    else:
        init_jobs, inits, shapes = [], [], resume.states
    chunk_jobs = [(training.sweep_chunk, "sweep_chunk", p.config, (x, y, r, _abstract(p.config, s), 0))
                  for p, (x, y), r, s in zip(plan.programs, xys, runs, shapes)]
    missing = [i for i, exe in enumerate(inits) if exe is None]
    built = program_cache.compile_many([init_jobs[i] for i in missing] + chunk_jobs)
    for i, exe in zip(missing, built):
        inits[i] = exe
    compiled = built[len(missing):]
    if resume is None:
        states = [init(x, r) for init, (x, _), r in zip(inits, xys, runs)]
    else:
        states = resume.states
    compile_s = time.perf_counter() - t0
    programs = {k: program_cache.stats[k] - before[k] for k in ("loaded", "compiled")}
    if on_compiled:
        on_compiled()
    t0 = time.perf_counter()
    if resume is None:
        states, m = chunk(states, 0)  # evaluates step 0
        history, steps = [m], [0]
    else:
        history = [{k: v[t] for k, v in resume.curves.items()} for t in range(len(resume.steps))]
        steps = [int(s) for s in resume.steps]

    def curves():
        return {k: np.stack([h[k] for h in history]) for k in history[0]}

    save_s = []

    def timed_save(step):
        t = time.perf_counter()
        if save(step, states, np.asarray(steps), curves()) is not False:  # False: it held that step already
            save_s.append(time.perf_counter() - t)

    start = done = steps[-1]
    schedule = [int(s) for s in spec.eval_steps() if s > done]
    reason, signum = "budget", stop()
    if spec.stop_at is not None and all_done(steps, curves(), spec.stop_at, spec.stop_share):
        reason = "stop_at"
    for target in schedule:
        if signum is not None or reason != "budget":
            break
        n = target - done
        states, m = chunk(states, n)
        history.append(m)
        done = target
        steps.append(done)
        if on_chunk:
            on_chunk(done, np.asarray(steps), curves())
        if spec.stop_at is not None and all_done(steps, curves(), spec.stop_at, spec.stop_share):
            reason = "stop_at"
        if save and ckpt_every and done // ckpt_every > (done - n) // ckpt_every and done < spec.steps and reason == "budget":
            timed_save(done)
        signum = stop()
    if signum is not None and done < spec.steps and reason == "budget":
        reason = signal_name(signum)  # a signal during the last chunk cut nothing short
    else:
        signum = None
    if save:
        timed_save(done)  # the final (or interrupted) state; the saver skips a step it holds already
    train_s = time.perf_counter() - t0 - sum(save_s)
    return Outcome(np.asarray(steps), curves(), states, compile_s, train_s, start, save_s, reason, signum, programs)


def wait_ready(tree) -> None:
    """Block until every array of ``tree`` is computed, in a wait that runs
    Python's signal handlers (JAX's ``block_until_ready`` does; reading a
    pending array with ``np.asarray`` waits inside XLA, where they cannot
    run): a Ctrl-C during a long chunk is answered at once, and a second one
    aborts, instead of both waiting for the chunk's end."""
    import jax

    jax.block_until_ready(tree)


def all_done(steps, curves, stop_at: float, share: float = 1.0) -> bool:
    """Has every run (or ``share`` of the runs) reached ``stop_at`` val
    accuracy or diverged?"""
    diverged = summary.diverged_at(curves) < len(steps)
    done = summary.reached(np.asarray(steps), curves, stop_at) | diverged
    return bool(done.mean() >= share - 1e-9)


def evaluate_run(config, row: dict, params) -> dict:
    """One run's evaluation from its params, as the sweep computes it: its
    metrics, and per row of the task's data its output, predicted class
    (classification), label and split."""
    import jax

    from grokjax.config import make_runs

    data = config.task.data()
    with jax.enable_x64(config.x64), jax.default_matmul_precision(config.matmul_precision):
        run = jax.tree.map(lambda v: v[0], make_runs(data, [row]))
        order = training.run_order(config, run)
        x, y = training.run_table(config, jax.numpy.asarray(data.x), jax.numpy.asarray(data.y), run)
        y = training.run_labels(config, y, order, run)
        mask = tasks.train_mask(order, run.n_train, data.size)
        metrics = xla_options.jit(training.evaluate, static_argnums=0)(config, x, y, mask, params)
        model = training.model_for(config)
        out = xla_options.jit(lambda p, x: model.apply(p, x, path=config.model_path))(params, x)
        return {
            "metrics": {k: float(v) for k, v in metrics.items()},
            "output": np.asarray(out),
            "pred": np.asarray(jax.numpy.argmax(out, -1)) if data.n_classes is not None else None,
            "labels": np.asarray(y),
            "train": np.asarray(mask),
            "test": np.asarray(tasks.test_mask(mask, data.n_pool)),
        }
