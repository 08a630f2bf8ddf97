"""``python -m grokjax.sweep``: train a whole data-efficiency curve as one program.

Every run of the grid (fractions × seeds × learning rates × weight decays)
trains side by side in one ``jit``; the host wakes once per ``--eval-every``
steps to record metrics. The sweep's folder gets runs.csv, curves.csv,
config.json and three figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib
import itertools
import sys
import time
from pathlib import Path

import numpy as np

from grokjax import data
from grokjax.config import transforms_for

# CPU-sized defaults: add @ frac 0.5 first reached 99% val at step 2,600 here
# (results/add_frac05_6k), so 5,000 steps leave room; the paper used 10^5.
DEFAULTS = dict(op="add", fracs="0.3:0.6", seeds=1, steps=5000, eval_every=100, lr="1e-3", weight_decay="1")


# Per-run intervention numbers: flag -> help. Each takes a comma list; the
# default (config.RUN_DEFAULTS) is the paper's plain AdamW run.
INTERVENTION_FLAGS = {
    "--weight-decay-init": "decoupled weight decay toward the initial parameters (Power et al. A.1.2) (0)",
    "--update-noise": "σ of Gaussian noise added to Adam's update direction, constant in time (0)",
    "--grad-noise": "σ of Gaussian noise added to the gradient before Adam (0)",
    "--grokfast-lambda": "Grokfast-EMA amplification λ of the slow gradient (Lee et al. 2024; they use 2) (0)",
    "--grokfast-alpha": "Grokfast-EMA decay α (0.98)",
    "--orthograd": "1 turns on ⊥Grad: the gradient's component along the weights removed (Prieto et al. 2025) (0)",
    "--weight-norm": "total parameter L2 norm restored after each step (Omnigrok §5) (0)",
    "--weight-noise": "σ of Gaussian noise on every weight in the forward pass, fresh each step (0)",
    "--dropout": "residual dropout rate; runs it through the unfactorized model path, same numbers, slower (0)",
    "--outliers": "k training answers replaced by answers of other training equations (Power et al. A.4) (0)",
}

# Figure 2 (left) of Power et al., in the paper's order (appendix A.1.2).
# Adam is AdamW with weight decay 0; update noise is unit Gaussian, as written.
VARIANTS = {
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


class UsageError(Exception):
    """Bad input, reported as one line and exit status 2."""


# ---------------------------------------------------------------- parsing


def parse_fracs(text: str) -> list[float]:
    """``a:b`` (step 0.1, both ends), ``a:b:step``, or ``a,b,c``; each in (0, 1)."""
    text = text.strip()
    try:
        if ":" in text:
            parts = [float(p) for p in text.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            a, b, step = parts[0], parts[1], parts[2] if len(parts) == 3 else 0.1
            if step <= 0 or b < a:
                raise UsageError(f"bad --fracs range {text!r}: need a <= b and step > 0")
            n = int(np.floor((b - a) / step + 1e-9))
            fracs = [round(a + i * step, 10) for i in range(n + 1)]
        else:
            fracs = [float(p) for p in text.split(",")]
    except ValueError:
        raise UsageError(f"malformed --fracs {text!r}: use a:b, a:b:step or a,b,c") from None
    for f in fracs:
        if not 0 < f < 1:
            raise UsageError(f"fraction {f:g} is outside (0, 1)")
    if len(set(fracs)) != len(fracs):
        raise UsageError(f"--fracs {text!r} repeats a fraction")
    return fracs


def parse_floats(name: str, text: str, *, positive: bool = False, nonneg: bool = False) -> list[float]:
    try:
        vals = [float(p) for p in text.split(",")]
    except ValueError:
        raise UsageError(f"malformed {name} {text!r}: use a number or a comma list") from None
    for v in vals:
        if not np.isfinite(v) or (positive and v <= 0) or (nonneg and v < 0):
            raise UsageError(f"{name} {v:g} must be {'> 0' if positive else '>= 0'}")
    return vals


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, instead of argparse's usage block
        raise UsageError(message)


def make_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m grokjax.sweep",
        description=(
            "Train every run of a grid (fractions × seeds × lr × weight decay) side by side as one "
            "compiled JAX program, then write runs.csv, curves.csv, config.json and figures. "
            "Defaults are the paper's (Power et al. 2022, A.1.2): 2 layers, width 128, 4 heads, "
            "AdamW lr 1e-3, weight decay 1, betas (0.9, 0.98), 10 warmup updates, batch min(512, n_train/2)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--op", default=DEFAULTS["op"], help="binary operation; see --list-ops")
    p.add_argument("--modulus", type=int, default=data.DEFAULT_MODULUS, help="modulus p of the arithmetic ops (prime for div, mix)")
    p.add_argument("--fracs", default=DEFAULTS["fracs"], help="training fractions: a:b (step 0.1, ends included), a:b:step, or a,b,c")
    p.add_argument("--seeds", type=int, default=DEFAULTS["seeds"], help="seeds per setting: 0..N-1; a seed fixes init, split and batches")
    p.add_argument("--steps", type=int, default=DEFAULTS["steps"], help="optimization steps (the budget) of every run")
    p.add_argument("--eval-every", type=int, default=DEFAULTS["eval_every"], help="steps between evaluations on the whole table; steps_to_99_* have this resolution")
    p.add_argument("--lr", default=DEFAULTS["lr"], help="peak learning rate(s), comma list crossed with the grid")
    p.add_argument("--weight-decay", default=DEFAULTS["weight_decay"], help="AdamW decoupled weight decay(s), comma list crossed with the grid")
    p.add_argument("--init-scale", default="1", help="init scale α (Omnigrok): every initial parameter times α; comma list crossed with the grid")
    g = p.add_argument_group(
        "interventions", "per-run numbers, each a comma list crossed with the grid; 0 is off (the paper's default run)")
    for flag, help_ in INTERVENTION_FLAGS.items():
        g.add_argument(flag, default=None, help=help_)
    p.add_argument("--variant", help="preset(s) of Figure 2 (left), comma list or 'all': " + ", ".join(VARIANTS)
                   + "; replaces --lr, --weight-decay and the interventions")
    p.add_argument("--loss", choices=("softmax", "stablemax"), default="softmax",
                   help="cross-entropy over softmax, or over StableMax (Prieto et al. 2025)")
    p.add_argument("--full-batch", action="store_true", help="every step uses the whole training set (exact gradient)")
    p.add_argument("--x64", action="store_true", help="model, optimizer and loss in float64")
    p.add_argument("--batch-size", type=int, default=512, help="minibatch B; a run uses min(B, n_train/2) as in the paper")
    p.add_argument("--n-layers", type=int, default=2, help="transformer layers")
    p.add_argument("--d-model", type=int, default=128, help="transformer width (MLP width is 4×)")
    p.add_argument("--n-heads", type=int, default=4, help="attention heads; must divide --d-model")
    p.add_argument("--run-axis", choices=("auto", "vmap", "map"), default="auto",
                   help="how runs share the program: vmap (batched matmuls) or map (a loop of plain ones); auto picks the faster for the device: map on CPU, vmap on GPU")
    p.add_argument("--devices", type=int, default=0, metavar="N",
                   help="split the runs over the first N devices (a 1-D mesh 'runs'; R is padded to a multiple of N "
                        "with runs that are dropped from the results); 0: every visible device")
    p.add_argument("--matmul-precision", choices=("highest", "tensorfloat32", "bfloat16"), default="highest",
                   help="float32 matmul precision; tensorfloat32/bfloat16 are opt-in GPU speed-ups that round (about 1.5x on an H100)")
    p.add_argument("--out", type=Path, help="output folder (default results/<op>-<timestamp>); must not exist yet")
    c = p.add_argument_group(
        "checkpoints", "orbax checkpoints of the whole sweep go to <out>/checkpoints/. The final state is always saved, "
        "and Ctrl-C or SIGTERM stops after the current chunk, saves, writes the tables and figures, and exits 130/143.")
    c.add_argument("--ckpt-every", type=int, default=0, metavar="N",
                   help="also save every N steps (at the first evaluation at or after each multiple); 0: only at the end")
    c.add_argument("--ckpt-keep", type=int, default=3, metavar="K", help="keep the newest K checkpoints")
    c.add_argument("--resume", type=Path, metavar="OUT",
                   help="continue the sweep in folder OUT from its latest readable checkpoint, with its recorded flags; "
                        "only --steps (to extend), --ckpt-every and --ckpt-keep may be given anew")
    h = p.add_argument_group(
        "several hosts", "run the same command on every host; JAX joins their devices into one mesh "
        "(see README, 'Many devices, many hosts')")
    h.add_argument("--coordinator", metavar="HOST:PORT",
                   help="address of process 0 for jax.distributed.initialize, or 'auto' on SLURM, Open MPI, Kubernetes or Cloud TPU")
    h.add_argument("--num-processes", type=int, metavar="N", help="processes in all (with --coordinator HOST:PORT)")
    h.add_argument("--process-id", type=int, metavar="I", help="this process, 0..N-1 (with --coordinator HOST:PORT)")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                   help="import MODULE first, e.g. one that calls grokjax.data.register_modular to add an op")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--list-ops", action="store_true", help="list the operations and exit")
    return p


@dataclasses.dataclass(frozen=True)
class Plan:
    """A validated sweep: static config, the per-run grid, and where it goes."""

    config: object
    grid: list[dict]
    out: Path


def plan_from_args(args: argparse.Namespace, resume: bool = False) -> Plan:
    """Validates everything before anything runs or is written. With
    ``resume``, ``args.out`` is the existing folder of the sweep."""
    from grokjax.config import RUN_DEFAULTS, Config

    for m in args.imports:
        try:
            importlib.import_module(m)
        except ImportError as e:
            raise UsageError(f"--import {m}: {e}") from None
    try:
        data.check_modulus(args.op, args.modulus)
    except data.OpError as e:
        raise UsageError(str(e)) from None
    fracs = parse_fracs(args.fracs)
    if args.seeds <= 0:
        raise UsageError(f"--seeds must be positive, got {args.seeds}")
    if args.steps <= 0:
        raise UsageError(f"--steps must be positive, got {args.steps}")
    if args.eval_every <= 0:
        raise UsageError(f"--eval-every must be positive, got {args.eval_every}")
    if args.ckpt_every < 0:
        raise UsageError(f"--ckpt-every must be >= 0 (0: save only at the end), got {args.ckpt_every}")
    if args.ckpt_keep < 1:
        raise UsageError(f"--ckpt-keep must be >= 1, got {args.ckpt_keep}")
    for flag in ("batch_size", "n_layers", "d_model", "n_heads"):
        if getattr(args, flag) <= 0:
            raise UsageError(f"--{flag.replace('_', '-')} must be positive, got {getattr(args, flag)}")
    if args.d_model % args.n_heads:
        raise UsageError(f"--n-heads {args.n_heads} does not divide --d-model {args.d_model}")
    lrs = parse_floats("--lr", args.lr, positive=True)
    wds = parse_floats("--weight-decay", args.weight_decay, nonneg=True)
    alphas = parse_floats("--init-scale", args.init_scale, positive=True)
    per_run = {}  # intervention name -> values, only for flags given
    variants = _parse_variants(args)
    for flag in INTERVENTION_FLAGS:
        name = flag[2:].replace("-", "_")
        text = getattr(args, name)
        if text is not None:
            vals = parse_floats(flag, text, nonneg=True)
            if name == "grokfast_alpha" and any(v >= 1 for v in vals):
                raise UsageError(f"{flag} must be in [0, 1), got {text!r}")
            if name == "orthograd" and any(v not in (0, 1) for v in vals):
                raise UsageError(f"{flag} takes 0 or 1, got {text!r}")
            if name == "dropout" and any(v >= 1 for v in vals):
                raise UsageError(f"{flag} must be in [0, 1), got {text!r}")
            if name == "outliers":
                if any(v != int(v) for v in vals):
                    raise UsageError(f"{flag} takes whole numbers, got {text!r}")
                vals = [int(v) for v in vals]
            per_run[name] = vals

    size = _table_size(args.op, args.modulus)
    for f in fracs:
        if round(f * size) < 2 or round(f * size) > size - 1:
            raise UsageError(f"fraction {f:g} of {size} equations leaves no training pair or no validation equation")
    if args.out is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path("results") / f"{args.op}-{stamp}"
    else:
        out = args.out
    if not resume and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"--out {out} already exists and is not empty; pick another folder")

    grid = []
    names = list(per_run)
    settings = []  # (variant, full_batch, per-run numbers) before fractions and seeds
    if variants:
        for v in variants:
            preset = dict(VARIANTS[v])
            full = preset.pop("full_batch", False) or args.full_batch
            settings += [(v, full, {**RUN_DEFAULTS, "lr": 1e-3, **preset, "init_scale": a}) for a in alphas]
    else:
        for lr, wd, a, *extra in itertools.product(lrs, wds, alphas, *per_run.values()):
            settings.append(("", args.full_batch,
                             {**RUN_DEFAULTS, "lr": lr, "weight_decay": wd, **dict(zip(names, extra)), "init_scale": a}))
    for (variant, full, numbers), f, seed in itertools.product(settings, fracs, range(args.seeds)):
        n_tr = data.n_train(f, size)
        if numbers["outliers"] >= n_tr:
            raise UsageError(f"--outliers {numbers['outliers']} is not below the {n_tr} training equations of fraction {f:g}")
        row = {"run": len(grid), "op": args.op, "modulus": args.modulus, "frac": f, "seed": seed}
        if variants:
            row["variant"] = variant
        grid.append({**row, **numbers, "full_batch": full, "n_train": n_tr})
    config = Config(
        op=args.op,
        modulus=args.modulus,
        steps=args.steps,
        eval_every=args.eval_every,
        batch_size=args.batch_size,
        n_layers=args.n_layers,
        d_model=args.d_model,
        n_heads=args.n_heads,
        d_mlp=4 * args.d_model,
        run_axis=resolve_run_axis(args.run_axis),
        devices=resolve_devices(args.devices),
        matmul_precision=args.matmul_precision,
        loss=args.loss,
        x64=args.x64,
        full_batch=args.full_batch,
        transforms=transforms_for(grid),  # of the whole grid; programs() narrows it per program
        model_path="answer" if "dropout" in transforms_for(grid) else "factorized",
    )
    return Plan(config, grid, out)


def _parse_variants(args) -> list[str]:
    if args.variant is None:
        return []
    names = list(VARIANTS) if args.variant == "all" else args.variant.split(",")
    for v in names:
        if v not in VARIANTS:
            raise UsageError(f"unknown variant {v!r}; valid: all, {', '.join(VARIANTS)}")
    given = [f for f in ("--lr", "--weight-decay", *INTERVENTION_FLAGS)
             if getattr(args, f[2:].replace("-", "_")) not in (None, DEFAULTS.get(f[2:].replace("-", "_")))]
    if given:
        raise UsageError(f"--variant sets {', '.join(given)} itself; drop {given[0]}")
    return names


def programs(plan: Plan) -> list[tuple]:
    """The compiled programs a plan needs, as (Config, run indices): one per
    full-batch setting (a static shape), each with the transforms its runs use."""
    out = []
    for full in sorted({g["full_batch"] for g in plan.grid}):
        idx = [i for i, g in enumerate(plan.grid) if g["full_batch"] == full]
        transforms = transforms_for([plan.grid[i] for i in idx])
        config = plan.config.replace(
            full_batch=full, transforms=transforms,
            model_path="answer" if "dropout" in transforms else "factorized",
        )
        out.append((config, idx))
    return out


def _table_size(op: str, modulus: int) -> int:
    from grokjax.train import table_for

    return table_for(op, modulus).size


def resolve_devices(n: int) -> int:
    """``--devices``: 0 means all visible devices (of every process)."""
    import jax

    visible = jax.device_count()
    if n < 0:
        raise UsageError(f"--devices must be >= 0 (0: all {visible}), got {n}")
    if n > visible:
        raise UsageError(f"--devices {n}: only {visible} {jax.default_backend()} device(s) visible")
    return n or visible


def resolve_run_axis(choice: str) -> str:
    """``auto``: lax.map on CPU (XLA:CPU runs batched matmuls at about half the
    rate of plain ones), vmap on accelerators."""
    if choice != "auto":
        return choice
    import jax

    return "map" if jax.default_backend() == "cpu" else "vmap"


# ---------------------------------------------------------------- running


@dataclasses.dataclass(frozen=True)
class Checkpointing:
    """When a sweep saves: every ``every`` steps (0: only when it finishes or
    is interrupted), keeping the newest ``keep``."""

    every: int = 0
    keep: int = 3


@dataclasses.dataclass
class SweepResult:
    steps: np.ndarray  # [T] evaluation steps
    curves: dict  # metric -> [T, R], runs in grid order
    states: list  # final TrainState of each program, run axis leading
    compile_s: float
    train_s: float
    start_step: int = 0  # > 0 when resumed
    save_s: list = dataclasses.field(default_factory=list)  # seconds of each checkpoint save
    interrupted: int | None = None  # the signal that stopped the sweep early


def program_runs(plan: Plan) -> list[tuple]:
    """(Config, run indices, RunParams) of each compiled program. The runs are
    padded to a multiple of the device count with copies of the last run;
    ``len(idx)`` says how many are real."""
    from grokjax.config import make_runs

    size = _table_size(plan.config.op, plan.config.modulus)
    out = []
    for c, idx in programs(plan):
        padded = idx + [idx[-1]] * (-len(idx) % c.devices)
        out.append((c, idx, make_runs(size, [plan.grid[i] for i in padded])))
    return out


def abstract_states(plan: Plan) -> list:
    """Shapes, dtypes and shardings of each program's TrainState (padded run
    axis, split over the devices): what a restore fills."""
    import functools

    import jax

    from grokjax import train

    table = train.table_for(plan.config.op, plan.config.modulus)
    out = []
    for c, _, r in program_runs(plan):
        shapes = jax.eval_shape(functools.partial(train.sweep_init, c.program()), table.x, r)
        sharding = train.run_sharding(c)
        out.append(jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), shapes))
    return out


def run_plan(plan: Plan, progress: bool = True, *, ckpt: Checkpointing | None = None,
             resume=None, stop=lambda: None) -> SweepResult:
    """Trains every program of the plan chunk by chunk, side by side.

    ``resume`` is a ``checkpoint.Restored`` to continue from. With ``ckpt``
    the sweep saves to ``<out>/checkpoints``. ``stop()`` is polled after each
    chunk; a signal number there ends the sweep early (with a checkpoint).
    """
    import jax

    with jax.enable_x64(plan.config.x64):
        return _run_plan(plan, progress, ckpt, resume, stop)


def _run_plan(plan: Plan, progress: bool, ckpt, resume, stop) -> SweepResult:
    import jax
    from tqdm.auto import tqdm

    from jax.experimental import multihost_utils

    from grokjax import checkpoint, train

    table = train.table_for(plan.config.op, plan.config.modulus)
    mesh = train.run_mesh(plan.config.devices)
    x, y = (train.put_global(a, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())) for a in (table.x, table.y))
    progs = [(c.program(), idx, train.put_global(r, train.run_sharding(c))) for c, idx, r in program_runs(plan)]
    order = np.argsort(np.concatenate([idx for _, idx, _ in progs]))  # program-major -> grid order

    def chunk(states, n):
        """Every program advances n steps; metrics of the real runs in grid order, on every host."""
        outs = [train.sweep_chunk(c, x, y, r, s, n) for (c, _, r), s in zip(progs, states)]
        m = multihost_utils.process_allgather([o[1] for o in outs], tiled=True)  # the one host sync per chunk
        m = [{k: np.asarray(v)[: len(idx)] for k, v in mp.items()} for mp, (_, idx, _) in zip(m, progs)]
        return [o[0] for o in outs], {k: np.concatenate([mp[k] for mp in m])[order] for k in m[0]}

    t0 = time.perf_counter()
    if resume is None:
        states = [train.sweep_init(c, x, r) for c, _, r in progs]
        states, m = chunk(states, 0)  # compiles, and evaluates step 0
        history, steps = [m], [0]
    else:
        states = resume.states
        states, _ = chunk(states, 0)  # compiles; the state is unchanged by 0 steps
        history = [{k: v[t] for k, v in resume.curves.items()} for t in range(len(resume.steps))]
        steps = [int(s) for s in resume.steps]
    compile_s = time.perf_counter() - t0

    mgr = checkpoint.manager(plan.out, keep=ckpt.keep) if ckpt else None
    save_s = []

    def save(done):
        t = time.perf_counter()
        checkpoint.save(mgr, done, states, np.asarray(steps), {k: np.stack([h[k] for h in history]) for k in history[0]},
                        [len(idx) for _, idx, _ in progs])
        save_s.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    total = plan.config.steps
    done = start = steps[-1]
    bar = tqdm(total=total, initial=done, unit="step", disable=not progress, dynamic_ncols=True,
               desc=f"{plan.config.op} R={len(plan.grid)}")
    signal = stop()
    while done < total and signal is None:
        n = min(plan.config.eval_every, total - done)
        states, m = chunk(states, n)
        history.append(m)
        done += n
        steps.append(done)
        if mgr and ckpt.every and done // ckpt.every > (done - n) // ckpt.every and done < total:
            save(done)
        best = np.max([h["val_acc"] for h in history], 0)
        bar.set_postfix(best_val=f"{best.max():.3f}", grokked=f"{int((best >= 0.99).sum())}/{len(best)}")
        bar.update(n)
        signal = stop()
    bar.close()
    if mgr and mgr.latest_step() != done:  # the final (or interrupted) state, always kept
        save(done)
    train_s = time.perf_counter() - t0 - sum(save_s)  # saves are reported on their own
    curves = {k: np.stack([h[k] for h in history]) for k in history[0]}
    stopped = signal if done < total else None  # a signal during the last chunk cut nothing short
    return SweepResult(np.asarray(steps), curves, states, compile_s, train_s, start, save_s, stopped)


class _Signals:
    """SIGINT/SIGTERM while a sweep runs: the first asks it to stop after the
    current chunk (and save); a second one aborts at once."""

    def __init__(self):
        self.signum = None

    def __enter__(self):
        import signal

        self._old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc):
        import signal

        for s, h in self._old.items():
            signal.signal(s, h)

    def _handle(self, signum, frame):
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum
        print(f"\ngrokjax.sweep: got signal {signum}; finishing this chunk and saving "
              f"(send it again to abort without saving)", file=sys.stderr, flush=True)

    def __call__(self):
        return self.signum


def write_results(out: Path, plan: Plan, result: SweepResult, started: str, argv: list[str],
                  resume_argv: list[str] | None = None, environment: dict | None = None) -> None:
    """The tables, config.json and figures. ``environment`` is best taken
    when the sweep starts: the code that ran is the code of that moment."""
    from grokjax import plots, report

    out.mkdir(parents=True, exist_ok=True)
    rows = report.run_rows(plan.grid, result.steps, result.curves)
    report.write_runs(out / "runs.csv", rows)
    report.write_curves(out / "curves.csv", plan.grid, result.steps, result.curves)
    model_steps = len(plan.grid) * (int(result.steps[-1]) - result.start_step)
    ckpt = checkpoint_stats(out, result)
    report.write_json(
        out / "config.json",
        {
            "command": report.command_line(argv),
            "argv": argv,
            **({"resume_command": report.command_line(resume_argv), "resumed_from_step": result.start_step}
               if resume_argv is not None else {}),
            "started": started,
            "finished": datetime.datetime.now().isoformat(timespec="seconds"),
            "steps_done": int(result.steps[-1]),
            **({"interrupted_by_signal": result.interrupted} if result.interrupted else {}),
            "config": dataclasses.asdict(plan.config),
            "programs": [{"config": dataclasses.asdict(c), "runs": idx} for c, idx in programs(plan)],
            "n_runs": len(plan.grid),
            "grid": {k: sorted({g[k] for g in plan.grid}) for k in plan.grid[0] if k not in ("run", "op", "modulus", "n_train", "full_batch")},
            "timing": {
                "compile_s": round(result.compile_s, 2),
                "train_s": round(result.train_s, 2),
                "model_steps_per_s": round(model_steps / max(result.train_s, 1e-9), 2),
            },
            **({"checkpoints": ckpt} if ckpt else {}),
            "environment": environment or report.environment(),
        },
    )
    plots.write_all(out, rows, result.steps, result.curves)


def checkpoint_stats(out: Path, result: SweepResult) -> dict:
    """Size on disk of the newest checkpoint, and what saving cost."""
    from grokjax import checkpoint

    d = checkpoint.ckpt_dir(out) / str(int(result.steps[-1]))
    if not result.save_s or not d.is_dir():
        return {}
    size = sum(f.stat().st_size for f in d.rglob("*") if f.is_file())
    return {
        "dir": str(Path(checkpoint.CKPT_DIR)),
        "latest_step": int(result.steps[-1]),
        "latest_bytes": size,
        "saves": len(result.save_s),
        "save_s_mean": round(float(np.mean(result.save_s)), 3),
        "save_s_max": round(float(np.max(result.save_s)), 3),
    }


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = make_parser()
    try:
        args = parser.parse_args(argv)
        if args.list_ops:
            for name, op in data.OPS.items():
                print(f"{name:12s} {op.description}")
            return 0
        _join_hosts(args)
        if args.resume is not None:
            return _resume(parser, args, argv)
        plan = plan_from_args(args)
    except UsageError as e:
        print(f"grokjax.sweep: error: {e}", file=sys.stderr)
        return 2
    from grokjax import checkpoint, distributed

    from grokjax import report

    started, environment = datetime.datetime.now().isoformat(timespec="seconds"), report.environment()
    distributed.barrier("planned")  # every process has checked --out before process 0 writes to it
    if distributed.is_main():
        checkpoint.write_meta(plan.out, {**recorded_flags(args), "out": str(plan.out)}, argv)
    with _Signals() as signals:
        result = run_plan(plan, progress=not args.no_progress and distributed.is_main(),
                          ckpt=Checkpointing(args.ckpt_every, args.ckpt_keep), stop=lambda: distributed.agree(signals()))
    return _finish(plan, result, started, argv, environment=environment)


def _join_hosts(args) -> None:
    """``jax.distributed.initialize`` when the sweep spans several processes."""
    trio = (args.coordinator, args.num_processes, args.process_id)
    if args.coordinator is None and any(v is not None for v in trio):
        raise UsageError("--num-processes and --process-id need --coordinator HOST:PORT")
    if args.coordinator is None:
        return
    if args.coordinator != "auto":
        if args.num_processes is None or args.process_id is None:
            raise UsageError("--coordinator HOST:PORT needs --num-processes and --process-id")
        if args.num_processes < 1 or not 0 <= args.process_id < args.num_processes:
            raise UsageError(f"--process-id {args.process_id} is not in 0..{args.num_processes - 1}")
    from grokjax import distributed

    distributed.initialize(args.coordinator, args.num_processes, args.process_id)


def _finish(plan: Plan, result: SweepResult, started: str, argv: list[str], resume_argv=None, environment=None) -> int:
    from grokjax import distributed

    if not distributed.is_main():
        return 128 + result.interrupted if result.interrupted else 0
    write_results(plan.out, plan, result, started, argv, resume_argv, environment)
    grokked = sum(s is not None for s in _steps_to_val(result))
    timing = f"compile {result.compile_s:.1f}s, train {result.train_s:.1f}s"
    if result.interrupted:
        print(f"grokjax.sweep: stopped at step {int(result.steps[-1])} of {plan.config.steps}; wrote {plan.out}/ "
              f"({timing}). Resume with: python -m grokjax.sweep --resume {plan.out}", file=sys.stderr)
        return 128 + result.interrupted
    print(f"{len(plan.grid)} runs, {grokked} reached 99% val; wrote {plan.out}/ ({timing})")
    return 0


# Flags --resume may change; any other flag must match the recorded sweep.
RESUME_MAY_CHANGE = ("steps", "ckpt_every", "ckpt_keep", "devices", "no_progress", "resume",
                     "coordinator", "num_processes", "process_id")


def recorded_flags(args: argparse.Namespace) -> dict:
    """The flags that define a sweep, as saved in checkpoints/sweep.json."""
    skip = {"resume", "no_progress", "list_ops", "coordinator", "num_processes", "process_id"}
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in skip}


def plan_from_meta(out, flags: dict | None = None) -> Plan:
    """The plan of the sweep in folder ``out``, rebuilt from its recorded
    flags (or from ``flags``, the recorded ones with some changed)."""
    from grokjax import checkpoint

    flags = checkpoint.read_meta(out)["flags"] if flags is None else flags
    args = make_parser().parse_args([])  # today's defaults, for flags newer than the record
    unknown = set(flags) - set(vars(args))
    if unknown:
        raise checkpoint.CheckpointError(f"{out} records flags this grokjax does not know: {', '.join(sorted(unknown))}")
    vars(args).update(flags)
    args.out = Path(out)
    try:
        return plan_from_args(args, resume=True)
    except UsageError as e:
        raise checkpoint.CheckpointError(f"{out}: its recorded sweep is no longer valid: {e}") from None


def _given_flags(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The flags written on the command line (argparse fills defaults only
    into attributes that are not there yet)."""
    unset = object()
    probe = argparse.Namespace(**{a.dest: unset for a in parser._actions if a.dest != "help"})
    parser.parse_args(argv, namespace=probe)
    return {k for k, v in vars(probe).items() if v is not unset}


def _resume(parser, args, argv) -> int:
    import jax

    from grokjax import checkpoint

    out = args.resume
    try:
        meta = checkpoint.read_meta(out)
        flags, given = dict(meta["flags"]), _given_flags(parser, argv)
        if "out" in given:
            raise UsageError("--resume continues in the sweep's own folder; drop --out")
        for k in sorted(given - set(RESUME_MAY_CHANGE) - {"out"}):
            if getattr(args, k) != flags.get(k):
                raise UsageError(f"--{k.replace('_', '-')} {getattr(args, k)} conflicts with the sweep in {out} "
                                 f"(recorded: {flags.get(k)}); on --resume only --steps, --ckpt-every, --ckpt-keep and --devices may change")
        flags.update({k: getattr(args, k) for k in ("steps", "ckpt_every", "ckpt_keep", "devices") if k in given})
        plan = plan_from_meta(out, flags)
        with jax.enable_x64(plan.config.x64):
            got = checkpoint.restore(checkpoint.manager(out, read_only=True), abstract_states(plan))
        if plan.config.steps < got.step:
            raise UsageError(f"--steps {plan.config.steps} is below the checkpoint's step {got.step}")
    except (UsageError, checkpoint.CheckpointError) as e:
        print(f"grokjax.sweep: error: {e}", file=sys.stderr)
        return 2
    from grokjax import distributed

    distributed.barrier("restored")  # every process has read the checkpoint before any file moves
    if distributed.is_main():
        for s, reason in got.skipped:
            moved = checkpoint.set_aside(out, s)
            print(f"grokjax.sweep: checkpoint at step {s} is unreadable ({reason}); moved it to {moved} "
                  f"and resumed from step {got.step}", file=sys.stderr)
        checkpoint.write_meta(out, flags, meta["argv"])  # a new --steps becomes the sweep's budget
        print(f"grokjax.sweep: resuming {out} at step {got.step} of {plan.config.steps}", file=sys.stderr)
    distributed.barrier("resuming")
    from grokjax import report

    started, environment = datetime.datetime.now().isoformat(timespec="seconds"), report.environment()
    with _Signals() as signals:
        result = run_plan(plan, progress=not args.no_progress and distributed.is_main(),
                          ckpt=Checkpointing(flags["ckpt_every"], flags["ckpt_keep"]),
                          resume=got, stop=lambda: distributed.agree(signals()))
    return _finish(plan, result, started, meta["argv"], resume_argv=argv, environment=environment)


def _steps_to_val(result: SweepResult):
    from grokjax import analysis

    return [analysis.steps_to(result.steps, result.curves["val_acc"][:, r]) for r in range(result.curves["val_acc"].shape[1])]


if __name__ == "__main__":
    sys.exit(main())
