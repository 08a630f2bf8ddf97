"""A spec expanded into what runs: one row per run, and the compiled programs.

``expand(spec)`` resolves what depends on the machine (``run_axis: auto``,
``devices: 0``) and groups the runs into programs: runs that share every
static setting train in one ``jit``. Today only ``full_batch`` splits a grid,
so Figure 2 (left) is two programs however many variants it holds.
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
        return make_runs(self.spec.task.data(), [self.rows[i] for i in program.padded])

    def grid_order(self) -> np.ndarray:
        """Indexes program-major results (programs' real runs, concatenated) into grid order."""
        return np.argsort(np.concatenate([p.runs for p in self.programs]))


def resolve_devices(n: int) -> int:
    """``devices``: 0 means all visible devices (of every process)."""
    import jax

    visible = jax.device_count()
    if n > visible:
        raise SpecError(f"devices {n}: only {visible} {jax.default_backend()} device(s) visible")
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
    a small table (x+y mod 23 at 0.6 uses 158 of 512) would mostly compute
    zeros. The runs' numbers are the same up to float32 summation order."""
    halve = spec.task.halve_batch and not full_batch  # a full-batch slice holds every training row
    used = max(r["n_train"] // 2 if halve else r["n_train"] for r in rows)
    return max(1, min(spec.batch_size, used))


def expand(spec: SweepSpec, devices: int | None = None) -> Plan:
    """The runs of ``spec`` in grid order (products, then each product's
    settings, then fractions, then seeds) and its programs. ``devices``
    overrides the spec's (loading a run uses one device, whatever the sweep used)."""
    task, data = spec.task, spec.task.data()
    if spec.fracs is not None:
        sizes = [(frac, tasks.n_train(frac, data)) for frac in spec.fracs]
    else:  # a count: its fraction of the pool, for the record
        sizes = [(float(n / data.n_pool), n) for n in spec.train_sizes]
    rows = []
    for product in spec.grid:
        for setting in product.settings():
            for frac, n_train in sizes:
                for seed in range(spec.seeds):
                    row = {"run": len(rows), **task.columns(), "frac": frac, "seed": seed}
                    if spec.has_variants:
                        row["variant"] = product.variant
                    rows.append({**row, **setting, "n_train": n_train})
    base = Config(
        task=task, model=spec.model, beta2=spec.beta2, warmup_steps=spec.warmup_steps,
        batch_size=spec.batch_size, run_axis=resolve_run_axis(spec.run_axis),
        devices=resolve_devices(spec.devices if devices is None else devices),
        matmul_precision=spec.matmul_precision, loss=spec.loss, x64=spec.x64,
    )
    programs = []
    for full in sorted({r["full_batch"] for r in rows}):
        idx = tuple(i for i, r in enumerate(rows) if r["full_batch"] == full)
        transforms = transforms_for([rows[i] for i in idx])
        # Grokfast-MA's ring: the longest window of a run that uses it (runs at λ 0 pass through)
        ring = max((int(rows[i]["grokfast_window"]) for i in idx if rows[i]["grokfast_ma_lambda"] > 0), default=0)
        config = base.replace(full_batch=full, transforms=transforms, grokfast_window=ring,
                              batch_size=program_batch(spec, [rows[i] for i in idx], full),
                              model_path="answer" if "dropout" in transforms else "factorized")
        programs.append(Program(config, idx))
    return Plan(spec, tuple(rows), tuple(programs))
