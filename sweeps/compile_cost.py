"""Where a cold compile of the paper config goes, per program and phase.

    python sweeps/compile_cost.py OUT.json [--runs 1,64]

For the programs a sweep compiles (``sweep_init``, ``sweep_chunk``) and the
one the benchmark times (``sweep_steps``), at each R: seconds of tracing
(Python builds the jaxpr), lowering (jaxpr to StableHLO) and XLA's compile,
cold (no persistent cache) and then warm (the same programs loaded from a
fresh persistent cache in a second process), plus the count of StableHLO ops
and of fusions and while loops in the optimized HLO. Then the same programs
through grokjax's program cache (``grokjax.program_cache``, what a sweep
uses): seconds per program when it compiles and stores them (``store``), and
in a second process when it loads them whole (``load``). Each measurement
runs in its own process so that nothing is cached in memory.

On CPU the cold rows also count the kernels XLA hands to LLVM, one LLVM
module per fusion or loose op (``kernels``), and the CPU seconds LLVM spent
on them (``llvm_cpu_s``, summed over XLA's compile threads), from XLA's own
log (``TF_CPP_VMODULE=ir_compiler=1``). Last, a whole sweep's cold build as
``grokjax.run`` does it (``sweep``: ``compile_s`` of its config.json, init
and chunk), with its programs compiled side by side (the default) and in
turn (``program_cache.SIDE_BY_SIDE = False``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r'''
import json, os, re, sys, time
import jax
from grokjax import report, train
from grokjax.config import Config, make_runs
R, phase = int(sys.argv[1]), sys.argv[2]
warm = phase == "warm"
if phase.startswith("sweep"):
    import grokjax
    from grokjax import program_cache
    from grokjax.spec import SweepSpec
    program_cache.SIDE_BY_SIDE = phase == "sweep_side_by_side"
    res = grokjax.run(SweepSpec(fracs=(0.5,), seeds=R, steps=1, eval_every=1), progress=False)  # cache off: env
    print(json.dumps({"runs": R, "cache": phase, "compile_s": res.timing["compile_s"],
                      "environment": report.environment()}))
    sys.exit()
if phase in ("store", "load"):
    from grokjax import compile_cache, program_cache
    os.environ["GROKJAX_COMPILE_CACHE"] = os.environ["CACHE"]
    compile_cache.configure()
elif os.environ.get("CACHE"):
    jax.config.update("jax_compilation_cache_dir", os.environ["CACHE"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.05)
cfg = Config(run_axis="map")
data = cfg.task.data()
x, y = jax.numpy.asarray(data.x), jax.numpy.asarray(data.y)
runs = make_runs(data, [dict(seed=s, frac=0.5) for s in range(R)])
out = {}
def phases(name, fn, *args):  # JAX's own path: trace, lower, compile (or JAX's cache)
    t0 = time.perf_counter(); traced = fn.trace(*args)
    t1 = time.perf_counter(); lowered = traced.lower()
    t2 = time.perf_counter(); compiled = lowered.compile()
    t3 = time.perf_counter()
    print(f"@@compiled {name}", file=sys.stderr, flush=True)  # splits XLA's log by program
    hlo = compiled.as_text() or ""
    out[name] = {"trace_s": round(t1 - t0, 2), "lower_s": round(t2 - t1, 2), "compile_s": round(t3 - t2, 2),
                 "stablehlo_ops": lowered.as_text().count(" = "),
                 "fusions": len(re.findall(r"\bfusion\(", hlo)), "while_loops": hlo.count(" while(")}
    return compiled
def whole(name, fn, *args):
    t0 = time.perf_counter(); compiled = program_cache.compile(fn, name, cfg, *args)
    out[name] = {"total_s": round(time.perf_counter() - t0, 2), **program_cache.stats}
    return compiled
measure = whole if phase in ("store", "load") else lambda name, fn, *a: phases(name, fn, cfg, *a)
init = measure("sweep_init", train.sweep_init, x, runs)
states = init(x, runs)
measure("sweep_chunk", train.sweep_chunk, x, y, runs, states, 0)
measure("sweep_steps", train.sweep_steps, x, y, runs, states, 0)
print(json.dumps({"runs": R, "cache": phase, "programs": out, "environment": report.environment()}))
'''


LLVM_LINE = re.compile(r"Compiled LLVM module: .* time: ([0-9.]+) (us|ms|s) ")
UNIT_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def kernels(stderr: str) -> dict:
    """Per program, the LLVM modules XLA:CPU compiled and their CPU seconds,
    from the child's log (split at its ``@@compiled NAME`` lines)."""
    out, count, cpu_s = {}, 0, 0.0
    for line in stderr.splitlines():
        if line.startswith("@@compiled "):
            out[line.split()[1]] = {"kernels": count, "llvm_cpu_s": round(cpu_s, 2)}
            count, cpu_s = 0, 0.0
        elif m := LLVM_LINE.search(line):
            count, cpu_s = count + 1, cpu_s + float(m.group(1)) * UNIT_S[m.group(2)]
    return out


def _cells(v: dict) -> str:
    if "total_s" in v:
        return f"{v['total_s']} s"
    llvm = f", {v['kernels']} kernels, LLVM {v['llvm_cpu_s']} CPU s" if "kernels" in v else ""
    return (f"trace {v['trace_s']} lower {v['lower_s']} compile {v['compile_s']} "
            f"({v['stablehlo_ops']} ops, {v['fusions']} fusions{llvm})")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--runs", default="1,64")
    p.add_argument("--only-sweep", action="store_true", help="measure only the whole sweep's build, in turn against side by side")
    p.add_argument("--repeats", type=int, default=1, help="alternating pairs of the whole sweep's build (default 1)")
    args = p.parse_args()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)  # before the measurement, not after it
    rows = []
    for r in [int(v) for v in args.runs.split(",")]:
        for phases in () if args.only_sweep else (("cold", "warm"), ("store", "load")):
            with tempfile.TemporaryDirectory() as cache:
                for phase in phases:
                    env = {**os.environ, "CACHE": cache, "GROKJAX_COMPILE_CACHE": "0"}
                    if phase == "cold":  # XLA:CPU logs each LLVM module it compiles
                        env.update(TF_CPP_MIN_LOG_LEVEL="0", TF_CPP_VMODULE="ir_compiler=1")
                    got = subprocess.run([sys.executable, "-c", CHILD, str(r), phase], capture_output=True,
                                         text=True, env=env, check=True)
                    rows.append(json.loads(got.stdout.strip().splitlines()[-1]))
                    for name, counts in kernels(got.stderr).items():
                        if counts["kernels"]:
                            rows[-1]["programs"][name].update(counts)
                    print(f"R={r} {phase}: " + "; ".join(f"{k} {_cells(v)}" for k, v in rows[-1]["programs"].items()),
                          flush=True)
        for phase in ("sweep_in_turn", "sweep_side_by_side") * args.repeats:
            got = subprocess.run([sys.executable, "-c", CHILD, str(r), phase], capture_output=True, text=True,
                                 env={**os.environ, "GROKJAX_COMPILE_CACHE": "0"}, check=True)
            rows.append(json.loads(got.stdout.strip().splitlines()[-1]))
            print(f"R={r} {phase}: compile_s {rows[-1]['compile_s']}", flush=True)
    env = rows[0].pop("environment")
    for row in rows[1:]:
        row.pop("environment")
    doc = {"command": "python sweeps/compile_cost.py " + " ".join(sys.argv[1:]), "measurements": rows,
           "environment": env}
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
