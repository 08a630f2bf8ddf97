"""A spec expanded into what runs: one row per run, and the compiled programs.

``expand(spec)`` resolves what depends on the machine (``run_axis: auto``,
``devices: 0``) and groups the runs into programs: runs that share every
static setting train in one ``jit``. Only ``full_batch`` and the table's
vocabulary split a grid: Figure 2 (left) is two programs however many
variants it holds, and ``--op all`` is two (the mod-p ops, the S5 ops).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from grokjax import tasks
from grokjax.config import Config, RunParams, make_runs
from grokjax.knobs import transforms_for
from grokjax.spec import SpecError, SweepSpec


@dataclasses.dataclass(frozen=True)
class Program:
    """One compiled program and the runs it trains.

    ``runs`` are the grid indices of its real runs, in grid order; on several
    devices the program pads them to a multiple of ``config.devices`` with
    copies of its last run, which never reach the results.
    """

    config: Config
    runs: tuple[int, ...]

    @property
    def padded(self) -> tuple[int, ...]:
        return self.runs + (self.runs[-1],) * (-len(self.runs) % self.config.devices)


@dataclasses.dataclass(frozen=True, eq=False)
class Plan:
    spec: SweepSpec
    rows: tuple  # one dict per run: run, task columns, frac, seed, [variant], every knob, full_batch, n_train
    programs: tuple  # Program, ...

    @property
    def n_runs(self) -> int:
        return len(self.rows)

    def run_params(self, program: Program) -> RunParams:
        """The program's per-run numbers, padded (host arrays)."""
        task = program.config.task
        ops = task.ops if task.stacked else ()
        rows = [self.rows[i] for i in program.padded]
        return make_runs(task.data(), [{**r, "op_index": ops.index(r["op"])} if ops else r for r in rows])

    def run_config(self, run: int) -> Config:
        """The config of run ``run``'s program, with the run's own task: in a
        program of several ops, its op alone (it evaluates the same there)."""
        config = next(p.config for p in self.programs if run in p.runs)
        if config.task.stacked:
            config = config.replace(task=dataclasses.replace(config.task, op=self.rows[run]["op"]))
        return config

    def grid_order(self) -> np.ndarray:
        """Indexes program-major results (programs' real runs, concatenated) into grid order."""
        return np.argsort(np.concatenate([p.runs for p in self.programs]))


def resolve_devices(n: int) -> int:
    """``devices``: 0 means all visible devices (of every process)."""
    import jax

    visible = jax.device_count()
    if n > visible:
        raise SpecError(f"devices {n}: only {visible} {jax.default_backend()} device(s) visible "
                        f"(--devices 0 uses all there are; a resumed sweep takes it too)")
    return n or visible


def resolve_run_axis(choice: str) -> str:
    """``auto``: lax.map on CPU (XLA:CPU runs batched matmuls no faster than
    a loop of plain ones), vmap on accelerators."""
    if choice != "auto":
        return choice
    import jax

    return "map" if jax.default_backend() == "cpu" else "vmap"


def program_batch(spec: SweepSpec, rows: list[dict], full_batch: bool) -> int:
    """The program's static batch: min(B, the most rows any of its runs uses
    in a step). Rows past a run's own batch get weight 0 but are computed, so
    a small table (x+y mod 23 at 0.6 uses 159 of 512) would mostly compute
    zeros. The runs' numbers are the same up to float32 summation order."""
    halve = spec.task.halve_batch and not full_batch  # a full-batch slice holds every training row
    used = max(tasks.rows_per_step(r["n_train"], halve) for r in rows)
    return max(1, min(spec.batch_size, used))


def op_groups(task) -> list:
    """The task of each program: for a table task of several ops, one per
    vocabulary (the mod-p ops share one, the S5 ops another), its ops in the
    task's order; a group of one op is that op's own task, so it compiles
    the program it would alone. Any other task is its own group."""
    parts = task.parts()
    if len(parts) == 1:
        return [task]
    by_vocab: dict[int, list] = {}
    for part in parts:
        by_vocab.setdefault(part.vocab_size(), []).append(part.op)
    return [dataclasses.replace(task, op=",".join(ops)) for ops in by_vocab.values()]


def expand(spec: SweepSpec, devices: int | None = None) -> Plan:
    """The runs of ``spec`` in grid order (ops, for a table task of several;
    then products, each product's settings, fractions, seeds) and its programs. ``devices``
    overrides the spec's (loading a run uses one device, whatever the sweep used)."""
    task = spec.task
    rows, was = [], []  # was: each run's numbers before a fork (its own where no fork changed them)
    for part in task.parts():  # the operation, for a table task of several: the slowest axis
        data = part.data()
        if spec.fracs is not None:
            sizes = [(frac, tasks.n_train(frac, data)) for frac in spec.fracs]
        else:  # a count: its fraction of the pool, for the record
            sizes = [(float(n / data.n_pool), n) for n in spec.train_sizes]
        for product in spec.grid:
            for setting in product.settings():
                for frac, n_train in sizes:
                    for seed in range(spec.first_seed, spec.first_seed + spec.seeds):
                        row = {"run": len(rows), **part.columns(), "frac": frac, "seed": seed}
                        if spec.has_variants:
                            row["variant"] = product.variant
                        rows.append({**row, **setting, "n_train": n_train})
                        was.append({**setting, **dict(product.was)})
    base = Config(
        task=task.parts()[0], model=spec.model, beta2=spec.beta2, eps=spec.adam_eps, batches=spec.batches, warmup_steps=spec.warmup_steps,
        lr_drop_every=spec.lr_drop_every, lr_drop_factor=spec.lr_drop_factor,
        batch_size=spec.batch_size, run_axis=resolve_run_axis(spec.run_axis),
        devices=resolve_devices(spec.devices if devices is None else devices),
        matmul_precision=spec.matmul_precision, loss=spec.loss, x64=spec.x64,
    )
    programs = []
    for group in op_groups(task):
        ops = set(getattr(group, "ops", ()))
        mine = [i for i, r in enumerate(rows) if not ops or r["op"] in ops]
        for full in sorted({rows[i]["full_batch"] for i in mine}):
            idx = tuple(i for i in mine if rows[i]["full_batch"] == full)
            # what the runs turn on, now or before a fork (whose runs continue its source's states)
            now_and_was = [rows[i] for i in idx] + [was[i] for i in idx]
            transforms = transforms_for(now_and_was)
            # Grokfast-MA's ring: the longest window of a run that uses it (runs at λ 0 pass through)
            ring = max((int(r["grokfast_window"]) for r in now_and_was if r["grokfast_ma_lambda"] > 0), default=0)
            config = base.replace(task=group, full_batch=full, transforms=transforms, grokfast_window=ring,
                                  batch_size=program_batch(spec, [rows[i] for i in idx], full),
                                  model_path="answer" if "dropout" in transforms else "factorized")
            programs.append(Program(config, idx))
    return Plan(spec, tuple(rows), tuple(programs))
