"""``python -m grokjax.bench``: how fast a sweep trains on this machine.

For each number of runs R (default 1, 8, 64) of the paper's config (x+y mod
97 at frac 0.5, 2 layers, width 128, batch 512, AdamW) it compiles the
training loop of ``train.sweep_steps`` and times it, printing:

- model-steps/s: optimizer steps summed over the R runs, per second;
- GFLOP/s achieved, crediting each step with the ``"answer"`` path's count,
  3.36 GFLOP at batch 512 (forward and backward; the last block's queries,
  MLP and logits at the answer position only), whatever the path computes:
  the ``factorized`` path (default) executes 1.98 (``executed_gflops``), so
  its credited rate can exceed the hardware's matmul rate, and the
  reference, which computes every position, 4.99 (its rate is
  ``reference_executed_gflops``: compare it with ``executed_gflops`` for
  speed per FLOP);
- compile time of the timed program, and memory: XLA's own account of the
  program (``program_mb``: arguments, outputs and temporaries) and the
  process's peak so far (``peak_mb``: the device's peak on a GPU, peak RSS
  on a CPU, the reference and earlier cases of the same call included).

Evaluation is left out of the timing: it runs once per ``--eval-every``
steps in a sweep, and ``--time-to-grok`` measures it in place.

``--time-to-grok`` trains one paper run (x+y at frac 0.5, seed 0) until 99%
validation accuracy and reports the wall time and steps.

Where torch is installed, the PyTorch reference's step (danielmamay/grokking,
rebuilt in ``grokjax.reference_torch``) is timed in the same process, alone
first and then after each of a case's timed calls; each case reports
``ratio_to_reference``, the median over those pairs of its model-steps/s over
the reference's, and ``reference_steps_per_s``, the reference's median.
Every output names the CPU's family, model and vector extensions: XLA:CPU's
speed depends on them, so never compare across CPUs. The JSON also records
the clock as read, cache, threads per core, usable CPUs and any cgroup CPU
quota (``environment.cpu_detail``), and each timing run on a CPU first times one
matmul alone at this model's shapes in XLA, numpy and PyTorch
(``matmul_gflops``), and a chain of small ops in XLA (``op_latency_us``,
the cost of each when split over threads): where XLA's matmul alone runs as fast as the others
but the step is slow, the step loses the time, maybe per op; where XLA's
matmul alone is slow, the machine does.
``--cpu-isa avx2`` holds XLA, its matmul library YNNPACK and the reference's
PyTorch to AVX2 in this process (``grokjax.cpu_isa``): on an AVX-512 CPU,
the closest stand-in for an AVX2-only one.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import resource
import sys
import time

import numpy as np

from grokjax import cpu_isa
from grokjax.cli import Parser, UsageError, add_compile_cache_flag, apply_compile_cache, given_flags, print_lines
from grokjax.plan import resolve_run_axis


# ---------------------------------------------------------------- FLOPs


def step_flops(config, vocab_size: int, path: str = "answer", seq_len: int = 4) -> float:
    """Matmul FLOPs of one training step (forward + backward ≈ 3 × forward).

    ``path`` "full": every position of every block, logits at every position
    (what the PyTorch reference executes). "answer": every position in all
    blocks but the last, whose
    queries, MLP and logits are at the answer position alone: what the loss
    must read. "factorized": what ``model.Transformer.factorized`` computes,
    per-symbol tables included. Attention scores and LayerNorms are left out
    (under 2% here).
    """
    m = config.model
    D, F, L, V, B = m.d_model, m.d_mlp, seq_len, vocab_size, config.batch_size
    qkv, out, mlp = 3 * D * D, D * D, 2 * D * F
    block = qkv + out + mlp  # MACs per position of a full block
    last = L * 2 * D * D + (D * D + out + mlp)  # keys/values everywhere, the rest at "="
    n = m.n_layers
    if path == "full":
        per_example, per_step = n * L * block + L * D * V, 0
    elif path == "answer":
        per_example = (n - 1) * L * block + last + D * V
        per_step = 0
    elif path == "factorized":
        # per example: the two suffix positions [b, =]; block 0's q, k, v come from tables
        first = 2 * (out + mlp) if n > 1 else out + mlp
        middle = max(n - 2, 0) * 2 * block
        final = (2 * 2 * D * D + D * D + out + mlp) if n > 1 else 0
        per_example = first + middle + final + D * V
        # per step: the prefix [s, ∘] and the suffix tables, for every token s
        prefix = (n - 1) * 2 * block + 2 * 2 * D * D
        per_step = V * (prefix + 2 * qkv)
    else:
        raise ValueError(f"unknown path {path!r}")
    return 2 * 3 * (B * per_example + per_step)


# ---------------------------------------------------------------- timing


@dataclasses.dataclass(frozen=True)
class Case:
    runs: int
    run_axis: str
    map_batch: int
    model_path: str
    matmul_precision: str
    devices: int = 1


def _peak_memory_mb() -> float:
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        return stats["peak_bytes_in_use"] / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB on Linux


def paper_step(xla_defaults: bool = False):
    """The paper config's training loop for one run (the ``sweep_steps``
    program ``time_case`` times), compiled and warmed: ``(call, states,
    compiled)``, where ``call(states, steps)`` runs ``steps`` updates;
    ``xla_defaults``: compiled without grokjax's compile options."""
    import jax
    import jax.numpy as jnp

    from grokjax import train
    from grokjax.config import Config, make_runs

    config = Config(run_axis="map")
    table = config.task.data()
    x, y = jnp.asarray(table.x), jnp.asarray(table.y)
    runs = make_runs(table, [dict(seed=0, frac=0.5)])
    states = train.sweep_init(config, x, runs)
    program = train.sweep_steps.with_xla_defaults() if xla_defaults else train.sweep_steps
    compiled = program.lower(config, x, y, runs, states, 0).compile()

    def call(s, steps):
        return compiled(x, y, runs, s, steps)

    return call, jax.block_until_ready(call(states, 5)), compiled


def op_events(call, states):
    """Runs ``call(states)`` once under the JAX profiler; returns the new
    states and the trace's events of XLA ops (``name``, ``ts``, ``dur`` in
    µs, ``tid``), without the runtime's own."""
    import glob
    import gzip
    import tempfile

    import jax

    with tempfile.TemporaryDirectory() as tmp:
        with jax.profiler.trace(tmp, create_perfetto_trace=True):
            states = jax.block_until_ready(call(states))
        (path,) = glob.glob(f"{tmp}/**/*.trace.json.gz", recursive=True)
        with gzip.open(path) as f:
            events = json.load(f)["traceEvents"]
    skip = ("$", "Thunk", "Pjit", "Slinky", "end:", "Threadpool", "jit_")
    return states, [e for e in events if e.get("ph") == "X" and not e.get("name", "").startswith(skip)]


def op_times(call, states):
    """Runs ``call(states)`` once under the JAX profiler; returns the new
    states and the device time of each XLA op, by its name, in ms."""
    import collections

    states, events = op_events(call, states)
    ms = collections.Counter()
    for e in events:
        ms[e["name"]] += e.get("dur", 0) / 1e3
    return states, ms


def _profile(call, states):
    """``op_times`` summed per op kind (XLA's op name up to its first '.'): the 12 largest."""
    import collections

    states, ms = op_times(call, states)
    kinds = collections.Counter()
    for name, t in ms.items():
        kinds[name.split(".")[0]] += t
    return states, dict(kinds.most_common(12))


def time_case(case: Case, steps: int, repeats: int, frac: float = 0.5, profile: bool = False,
              reference=None) -> dict:
    """Compiles and times ``steps`` updates of ``case.runs`` paper runs.

    With ``reference`` (a function returning the reference's steps/s for one
    timed call), each timed call is followed by one of the reference's, and
    ``ratio_to_reference`` is the median of the pairs' ratios: this CPU's
    speed drifts between minutes, so a ratio against a reference timed
    once, earlier, would carry that drift."""
    import jax

    from grokjax import train
    from grokjax.config import Config, make_runs

    config = Config(run_axis=case.run_axis, map_batch=case.map_batch, model_path=case.model_path,
                    matmul_precision=case.matmul_precision, devices=case.devices)
    table = config.task.data()
    replicated = jax.sharding.NamedSharding(train.run_mesh(case.devices), jax.sharding.PartitionSpec())
    x, y = train.put_global(table.x, replicated), train.put_global(table.y, replicated)
    runs = make_runs(table, [dict(seed=s, frac=frac, lr=1e-3, weight_decay=1.0) for s in range(case.runs)])
    runs = train.put_global(runs, train.run_sharding(config))
    states = jax.block_until_ready(train.sweep_init(config, x, runs))

    t0 = time.perf_counter()
    compiled = train.sweep_steps.lower(config, x, y, runs, states, steps).compile()
    compile_s = time.perf_counter() - t0
    mem = compiled.memory_analysis()
    program_mb = None
    if mem is not None:
        program_mb = (mem.argument_size_in_bytes + mem.output_size_in_bytes + mem.temp_size_in_bytes
                      - mem.alias_size_in_bytes) / 2**20

    states = jax.block_until_ready(compiled(x, y, runs, states, steps))  # warm-up
    if profile:
        states, ops = _profile(lambda s: compiled(x, y, runs, s, steps), states)
    times, ref = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        states = jax.block_until_ready(compiled(x, y, runs, states, steps))
        times.append(time.perf_counter() - t0)
        if reference is not None:
            ref.append(reference())
    dt = float(np.median(times))
    paired = {}
    if ref:
        ratios = [case.runs * steps / t / r for t, r in zip(times, ref)]
        full = step_flops(config, table.n_outputs, "full")  # what the reference executes
        paired = {"reference_steps_per_s": round(float(np.median(ref)), 2),
                  "ratio_to_reference": round(float(np.median(ratios)), 2),
                  "reference_executed_gflops": round(float(np.median(ref)) * full / 1e9, 1)}
    rate = case.runs * steps / dt
    must = step_flops(config, table.n_outputs, "answer")
    executed = step_flops(config, table.n_outputs, case.model_path)
    extra = {"profile_ms_per_model_step": {k: round(v / (steps * case.runs), 3) for k, v in ops.items()}} if profile else {}
    return {
        **extra,
        **dataclasses.asdict(case),
        "steps_timed": steps,
        "repeats": repeats,
        "model_steps_per_s": round(rate, 2),
        "ms_per_model_step": round(1e3 / rate, 3),
        "gflop_per_step": round(must / 1e9, 3),
        "gflop_executed": round(executed / 1e9, 3),
        "achieved_gflops": round(rate * must / 1e9, 1),
        "executed_gflops": round(rate * executed / 1e9, 1),
        "compile_s": round(compile_s, 2),
        "program_mb": None if program_mb is None else round(program_mb, 1),
        "peak_mb": round(_peak_memory_mb(), 1),
        **paired,
    }


def time_to_grok(config, frac: float, seed: int, max_steps: int, eval_every: int = 100,
                 threshold: float = 0.99) -> dict:
    """Trains one run until ``threshold`` val accuracy, evaluating every ``eval_every`` steps."""
    import jax

    from grokjax import train
    from grokjax.config import make_runs

    table = config.task.data()
    x, y = jax.device_put(table.x), jax.device_put(table.y)
    runs = make_runs(table, [dict(seed=seed, frac=frac, lr=1e-3, weight_decay=1.0)])
    t0 = time.perf_counter()
    states = train.sweep_init(config, x, runs)
    states, m = train.sweep_chunk(config, x, y, runs, states, 0)
    jax.block_until_ready(m)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    step, grok_step, train_step = 0, None, None
    while step < max_steps:
        states, m = train.sweep_chunk(config, x, y, runs, states, eval_every)
        m = jax.device_get(m)
        step += eval_every
        if train_step is None and m["train_acc"][0] >= threshold:
            train_step = step
        if m["val_acc"][0] >= threshold:
            grok_step = step
            break
    wall = time.perf_counter() - t0
    return {
        **config.task.columns(), "frac": frac, "seed": seed,
        "eval_every": eval_every, "run_axis": config.run_axis, "model_path": config.model_path,
        "matmul_precision": config.matmul_precision,
        "steps_to_99_train": train_step, "steps_to_99_val": grok_step, "steps_run": step,
        "final_val_acc": round(float(m["val_acc"][0]), 4),
        "wall_s": round(wall, 1), "compile_s": round(compile_s, 2),
    }


# ---------------------------------------------------------------- CLI


def _ints(name, text):
    try:
        vals = [int(v) for v in text.split(",")]
    except ValueError:
        raise UsageError(f"malformed {name} {text!r}: use an integer or a comma list") from None
    if any(v <= 0 for v in vals):
        raise UsageError(f"{name} values must be positive, got {text!r}")
    return vals


def _axes(text):
    """``auto``, ``vmap``, ``map`` or ``map:K`` (lax.map with batch_size K), comma-separated."""
    axes = []
    for item in text.split(","):
        name, _, k = item.partition(":")
        if name not in ("auto", "vmap", "map") or (k and name != "map"):
            raise UsageError(f"bad --run-axis {item!r}: use auto, vmap, map or map:K")
        try:
            batch = int(k) if k else 1
        except ValueError:
            raise UsageError(f"bad --run-axis {item!r}: K must be an integer") from None
        if batch < 1:
            raise UsageError(f"bad --run-axis {item!r}: K must be >= 1")
        axes.append((resolve_run_axis(name), batch))
    return axes


def _choices(name, text, valid):
    vals = text.split(",")
    for v in vals:
        if v not in valid:
            raise UsageError(f"bad {name} {v!r}; valid: {', '.join(valid)}")
    return vals


def make_parser():
    from grokjax.config import MATMUL_PRECISIONS

    p = Parser(
        prog="python -m grokjax.bench",
        description="Time the paper's config on this machine: model-steps/s, GFLOP/s, compile time and "
                    "memory for each number of runs R; or, with --time-to-grok, the wall time to 99% val.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--runs", default="1,8,64", help="numbers of runs R in one program, comma list")
    p.add_argument("--steps", type=int, default=20, help="updates per timed call")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per case; the median is reported")
    p.add_argument("--run-axis", default="auto",
                   help="auto (map on CPU, vmap on GPU), vmap, map, or map:K (lax.map over groups of K vmapped runs); comma list")
    p.add_argument("--model-path", default="factorized", help="factorized and/or answer (see grokjax.model), comma list")
    p.add_argument("--devices", default="1",
                   help="devices the runs are split over, comma list; each R must be a multiple "
                        "(XLA_FLAGS=--xla_force_host_platform_device_count=4 makes 4 CPU devices)")
    p.add_argument("--matmul-precision", default="highest",
                   help=f"float32 matmul precision, comma list of {', '.join(MATMUL_PRECISIONS)}")
    p.add_argument("--time-to-grok", action="store_true", help="train one paper run (x+y, frac 0.5) to 99%% val instead")
    p.add_argument("--max-steps", type=int, default=20000, help="with --time-to-grok: give up after this many steps")
    p.add_argument("--profile", action="store_true",
                   help="also run each case once under the JAX profiler and report device time per XLA op kind "
                        "(ms per model-step; on CPU, ops of the two threads overlap)")
    add_compile_cache_flag(p)
    p.add_argument("--cpu-isa", choices=cpu_isa.ISAS,
                   help="limit XLA's kernels, YNNPACK's matmuls and the PyTorch reference (ATen, MKL, oneDNN) "
                        "to this ISA in this process: on an AVX-512 CPU, the closest stand-in for an AVX2-only "
                        "CPU such as AMD Zen 3 (see grokjax.cpu_isa)")
    p.add_argument("--no-calibration", action="store_true",
                   help="skip timing one matmul alone in XLA, numpy and PyTorch and a chain of small XLA ops before "
                        "the cases (a few seconds; CPU only)")
    p.add_argument("--no-reference", action="store_true",
                   help="skip timing the PyTorch reference's step (timed only where torch is installed)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    p.add_argument("--read", nargs="+", metavar="JSON", help="print the tables of saved --json outputs as markdown, and exit")
    return p


def markdown(docs: list[dict]) -> str:
    """Markdown tables of saved ``--json`` documents (for the README and results/)."""
    lines = []
    cases = [c for d in docs for c in d.get("cases", [])]
    if any(c.get("reference_steps_per_s") and "reference_executed_gflops" not in c for c in cases):
        # documents written before the column: the reference ran the same paper step
        from grokjax.config import Config

        full = step_flops(Config(), Config().task.data().n_outputs, "full")
        cases = [c if "reference_executed_gflops" in c or not c.get("reference_steps_per_s") else
                 {**c, "reference_executed_gflops": round(c["reference_steps_per_s"] * full / 1e9, 1)} for c in cases]
    if cases:
        lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(str(c.get(k, 1 if k == "devices" else "")) for k in COLUMNS) + " |" for c in cases]
    groks = [g for d in docs for g in d.get("time_to_grok", [])]
    if groks:
        keys = list(groks[0])
        lines += ["", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        lines += ["| " + " | ".join(str(g[k]) for k in keys) + " |" for g in groks]
    # each with its machine: a calibration means nothing without the CPU and its limit
    mats = [f"{calibration_line(d['matmul_gflops'], d.get('op_latency_us'))} ({cpu_line(d['environment'])})"
            for d in docs if d.get("matmul_gflops")]
    lines += [""] + list(dict.fromkeys(mats)) if mats else []
    envs = {f"{d['environment']['backend']}: {', '.join(sorted(set(d['environment']['devices'])))}, "
            f"{cpu_line(d['environment'])}, jax {d['environment']['jax']}" for d in docs}
    refs = {f"PyTorch reference step, timed alone: {d['reference']['steps_per_s']} steps/s (torch {d['reference']['torch']}, "
            f"{d['reference']['cpu_capability']})" for d in docs if d.get("reference", {}).get("steps_per_s")}
    lines += [""] + sorted(refs) if refs else []
    lines += [""] + [f"Measured on {e}." for e in sorted(envs)]
    return "\n".join(lines)


def main(argv=None) -> int:
    import jax

    from grokjax import report
    from grokjax.config import MATMUL_PRECISIONS, Config

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = make_parser().parse_args(argv)
        if args.read:
            others = sorted(given_flags(make_parser(), argv) - {"read"})
            if others:
                raise UsageError(f"--read only prints the tables of saved JSON; it takes no --{others[0].replace('_', '-')}")
            docs = []
            for f in args.read:
                try:
                    docs.append(json.loads(open(f).read()))
                except OSError as e:
                    raise UsageError(f"--read: {f}: {e.strerror}") from None
                except ValueError as e:
                    raise UsageError(f"--read: {f} is not JSON ({e})") from None
            for f, d in zip(args.read, docs):
                if not isinstance(d, dict) or not ({"cases", "time_to_grok"} & set(d)) \
                        or not isinstance(d.get("cases", []), list) \
                        or not all(isinstance(c, dict) for c in d.get("cases", [])):
                    raise UsageError(f"--read: {f} is not what `python -m grokjax.bench --json` writes")
            try:
                text = markdown(docs)
            except (KeyError, TypeError, ValueError, AttributeError) as e:  # JSON of another shape
                raise UsageError(f"--read: {', '.join(args.read)}: not what `python -m grokjax.bench --json` "
                                 f"writes ({type(e).__name__}: {e})") from None
            return print_lines([text])
        if args.steps <= 0 or args.repeats <= 0 or args.max_steps <= 0:
            raise UsageError("--steps, --repeats and --max-steps must be positive")
        runs = _ints("--runs", args.runs)
        isa_limit = None
        if args.cpu_isa:  # before anything starts JAX's backend (--run-axis auto reads it) or imports torch
            try:
                isa_limit = cpu_isa.limit(args.cpu_isa)
            except cpu_isa.IsaError as e:
                raise UsageError(f"--cpu-isa {args.cpu_isa}: {e}") from None
        axes = _axes(args.run_axis)
        paths = _choices("--model-path", args.model_path, ("factorized", "answer"))
        precisions = _choices("--matmul-precision", args.matmul_precision, MATMUL_PRECISIONS)
        devices = _ints("--devices", args.devices)
        for d in devices:
            if d > jax.device_count():
                raise UsageError(f"--devices {d}: only {jax.device_count()} device(s) visible")
            if any(r % d for r in runs):
                raise UsageError(f"--runs {args.runs}: each must be a multiple of --devices {d}")
    except UsageError as e:
        return e.report("grokjax.bench")

    apply_compile_cache(args)
    env = report.environment()
    if isa_limit:
        env["cpu_isa_limit"] = isa_limit
    doc = {"command": report.command_line(argv, module="grokjax.bench"), "environment": env}
    if args.time_to_grok:
        results = []
        for (axis, batch), path, prec in itertools.product(axes, paths, precisions):
            config = Config(run_axis=axis, map_batch=batch, model_path=path, matmul_precision=prec)
            results.append(time_to_grok(config, frac=0.5, seed=0, max_steps=args.max_steps))
            if not args.json:
                print(json.dumps(results[-1]), flush=True)
        doc["time_to_grok"] = results
    else:
        if args.no_calibration or jax.default_backend() != "cpu":
            doc["matmul_gflops"] = None  # skipped: asked, or not a CPU backend (XLA on the device, numpy on the host)
        else:
            doc["matmul_gflops"], doc["op_latency_us"] = matmul_calibration(), op_latency_us()
        if not args.json and doc["matmul_gflops"]:
            print(f"# {calibration_line(doc['matmul_gflops'], doc['op_latency_us'])}", flush=True)
        reference, paired = None, None
        if not args.no_reference:
            reference, paired = time_reference(args.steps, args.repeats)
            doc["reference"] = reference
            if not args.json:
                print("# PyTorch reference (danielmamay/grokking's step, rebuilt): "
                      + (f"{reference['steps_per_s']} steps/s alone, torch {reference['torch']}, {reference['threads']} "
                         f"threads, {reference['cpu_capability']}; each case's ratio pairs its timings with the "
                         f"reference's" if reference.get("steps_per_s") else reference["skipped"]),
                      flush=True)
        results = []
        for r, (axis, batch), path, prec, d in itertools.product(runs, axes, paths, precisions, devices):
            results.append(time_case(Case(r, axis, batch, path, prec, d), args.steps, args.repeats, profile=args.profile,
                                     reference=paired))
            if not args.json:
                _print_row(results[-1], header=len(results) == 1)
                if args.profile:
                    for op, ms in results[-1]["profile_ms_per_model_step"].items():
                        print(f"{'':>16s} {op:>32s} {ms:8.3f} ms/step", flush=True)
        doc["cases"] = results
    if args.json:
        print(json.dumps(doc, indent=1))
    else:
        print(f"# {env['backend']}: {', '.join(sorted(set(env['devices'])))}; {cpu_line(env)}; jax {env['jax']}")
    return 0


COLUMNS = ("runs", "devices", "run_axis", "map_batch", "model_path", "matmul_precision", "model_steps_per_s",
           "reference_steps_per_s", "ratio_to_reference", "achieved_gflops", "executed_gflops",
           "reference_executed_gflops", "compile_s",
           "program_mb", "peak_mb")


def cpu_line(env: dict) -> str:
    """The processor as figures must name it: model name, family/model, vector extensions, cores."""
    d = env.get("cpu_detail") or {}
    ext = "/".join(e for e in d.get("vector_extensions", []) if e in ("avx2", "avx512f", "amx_tile")) or "no AVX2"
    fam = f"family {d['family']} model {d['model']}, " if d.get("family") else ""
    isa = [f.split("=", 1)[1] for f in env.get("xla_flags", "").split() if f.startswith("--xla_cpu_max_isa=")]
    if env.get("cpu_isa_limit"):
        limited = f", XLA, YNNPACK and PyTorch limited to {env['cpu_isa_limit']['isa'].upper()}"
    else:
        limited = f", XLA limited to {isa[0]}" if isa else ""
    return f"{env['cpu']} ({fam}{ext}{limited}; {env['cpu_count']} cores)"


def time_reference(steps: int, repeats: int) -> tuple[dict, object]:
    """The PyTorch reference's steps/s on the paper's table alone (or why it
    was skipped), and a function that times one more call of it (steps/s),
    for pairing with grokjax's timings (None when skipped)."""
    from grokjax import reference_torch, tasks
    from grokjax.config import Config

    if not reference_torch.available():
        return {"skipped": "torch is not installed (pip install torch to time the reference beside grokjax)"}, None
    data = Config().task.data()
    order = np.random.default_rng(0).permutation(data.size)
    timed, info = reference_torch.stepper(data.x[order], data.y[order], tasks.n_train(0.5, data), steps)
    alone = float(np.median([timed() for _ in range(repeats)]))
    return {"steps_per_s": round(steps / alone, 2), "repeats": repeats, **info}, lambda: steps / timed()


# this model's forward matmul x @ W at two row counts (the shapes),
# and the step's largest input gradient dy @ Wᵀ (B·2 rows)
CALIBRATION = (("512x128 @ 128x512", (512, 128), (128, 512), False),
               ("2048x128 @ 128x512", (2048, 128), (128, 512), False),
               ("1024x512 @ (128x512)T", (1024, 512), (128, 512), True))


def calibration_calls(a, b, transposed: bool) -> dict:
    """``{library: call}``, each call computing ``a @ b`` (``a @ bᵀ`` when
    ``transposed``) in float32: XLA as grokjax compiles it, numpy, and
    PyTorch where installed."""
    import jax
    import jax.numpy as jnp

    from grokjax import reference_torch, xla_options

    hi = jax.lax.Precision.HIGHEST
    xla = xla_options.jit(lambda a, b: jnp.matmul(a, b.T if transposed else b, precision=hi))
    ja, jb = jnp.asarray(a), jnp.asarray(b)
    calls = {"xla": lambda: xla(ja, jb), "numpy": lambda: a @ (b.T if transposed else b)}
    if reference_torch.available():
        import torch

        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        calls["torch"] = lambda: ta @ (tb.T if transposed else tb)
    return calls


def seconds_per_call(call, n: int, pause: float = 0.0) -> float:
    """Seconds per call of ``n`` calls of ``call`` in a row (results waited
    for), after ``pause`` seconds and one untimed call: other libraries'
    threads spin a while after their last call, taking the cores, and this
    one's must wake up."""
    import time

    import jax

    time.sleep(pause)
    jax.block_until_ready(call())
    t0 = time.perf_counter()
    for _ in range(n):
        r = call()
    jax.block_until_ready(r)
    return (time.perf_counter() - t0) / n


def matmul_calibration(repeats: int = 3) -> dict:
    """GFLOP/s of one float32 matmul alone (median of ``repeats`` timings of
    about 1 GFLOP each), in XLA as grokjax compiles it, in numpy's BLAS and
    in PyTorch where installed: the machine's own matmul speed, beside which
    a step's rates read. Where XLA alone runs as fast as the others but the
    step does not, the step loses the time; where XLA alone is slower, the
    machine does. CPU only: elsewhere XLA's matmul runs on the device and
    the others on the host."""
    rng = np.random.default_rng(0)
    out = {}
    for name, a_shape, b_shape, transposed in CALIBRATION:
        a, b = (rng.standard_normal(s, dtype=np.float32) for s in (a_shape, b_shape))
        flop = 2 * a_shape[0] * a_shape[1] * (b_shape[0] if transposed else b_shape[1])
        calls = calibration_calls(a, b, transposed)
        times = {lib: [] for lib in calls}
        for _ in range(repeats):  # the libraries in turn, so that drift hits each alike
            for lib, call in calls.items():
                times[lib].append(seconds_per_call(call, max(1, int(1e9 // flop)), pause=0.1))
        out[name] = {lib: round(flop / float(np.median(t)) / 1e9, 1) for lib, t in times.items()}
    return out


def op_latency_us(n_ops: int = 256, repeats: int = 7) -> float:
    """Microseconds per op of a chain of ``n_ops`` dependent small ops in
    one XLA program (a 64×64 matmul and a tanh each, about 0.5 MFLOP): what
    a small op costs when XLA splits it over its threads, as it does many of
    a step's 400 ops and as a large matmul alone does not show. A machine
    whose threads hand work over slowly shows it here (15–18 µs on a 2-core
    Zen 4, ``results/bench_cpu_zen4/calibration/``)."""
    import time

    import jax
    import jax.numpy as jnp

    from grokjax import xla_options

    def chain(x, ws):
        return jax.lax.scan(lambda x, w: (jnp.tanh(x @ w), None), x, ws, unroll=True)[0]

    f = xla_options.jit(chain)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((64, 64), dtype=np.float32))
    ws = jnp.asarray(rng.standard_normal((n_ops, 64, 64), dtype=np.float32) / 8)
    jax.block_until_ready(f(x, ws))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(f(x, ws))
        times.append(time.perf_counter() - t0)
    return round(float(np.median(times)) / n_ops * 1e6, 1)


def paired_ratios(ratios) -> dict:
    """What alternating pairs of timings say: each pair's ratio (B over A,
    or later over earlier), their median, quartiles and range, and a
    Wilcoxon signed-rank test of ratio = 1 (None with one pair)."""
    from scipy.stats import wilcoxon

    r = np.asarray(ratios, dtype=float)
    return {"per_pair": [round(float(x), 3) for x in r],
            "median": round(float(np.median(r)), 3),
            "quartiles": [round(float(q), 3) for q in np.percentile(r, [25, 75])],
            "range": [round(float(r.min()), 3), round(float(r.max()), 3)],
            "wilcoxon_p": round(float(wilcoxon(r - 1).pvalue), 4) if len(r) > 1 else None}


LIBRARIES = {"xla": "XLA", "numpy": "numpy", "torch": "PyTorch"}


def calibration_line(gflops: dict, latency_us: float | None = None) -> str:
    """``matmul_calibration``'s and ``op_latency_us``'s figures as one line."""
    line = "One matmul alone, GFLOP/s: " + "; ".join(
        f"{shape}: " + ", ".join(f"{LIBRARIES.get(lib, lib)} {v}" for lib, v in row.items()) for shape, row in gflops.items())
    return line + (f". XLA's small ops in a chain: {latency_us} µs each" if latency_us is not None else "")


def _print_row(row: dict, header: bool) -> None:
    if header:
        print(" ".join(f"{c:>16s}" for c in COLUMNS), flush=True)
    print(" ".join(f"{str(row.get(c, '')):>16s}" for c in COLUMNS), flush=True)


if __name__ == "__main__":
    sys.exit(main())
