"""Where one training step's time goes, op by op: which ops lose speed.

    python sweeps/step_profile.py OUT.json [--steps 40] [--repeats 5] [--cpu-isa avx2] [--xla-default]

Runs the paper config's step (x+y mod 97 at frac 0.5, one run, the
``sweep_steps`` program ``grokjax.bench`` times) under the JAX profiler and
sorts every XLA op of the optimized program into a kind:

- ``dot A·B``: a matmul whose operands are in the order the dot reads them
  (the forward pass's ``x @ W``);
- ``dot A·Bᵀ``: the right operand contracted on its last dimension (the
  backward pass's input gradient ``dy @ Wᵀ``);
- ``dot Aᵀ·B``: the left operand contracted on its first dimension (the
  weight gradient ``xᵀ @ dy``);
- ``dot batched``: dots with batch dimensions (attention's two einsums over
  batch × heads);
- ``layout copy``: fusions that only transpose or copy (XLA's layout
  changes around dots);
- ``library reduce/elementwise``: XLA:CPU's YNNPACK fusions with no dot
  (LayerNorm's gradient sums);
- ``other``: every other fusion and op.

Each dot counts its FLOPs (2 × output size × contracted size), so each kind
gets GFLOP/s as run inside the step. Then each distinct dot (shape and
dimension numbers) is run alone as one jitted ``lax.dot_general`` at the
same precision, timed (median of ``--repeats``), for its standalone GFLOP/s:
the issue's question of why a step's matmuls run slower than a matmul alone.
``--cpu-isa avx2`` limits XLA's own code and its matmul library YNNPACK to
AVX2, as ``grokjax.bench --cpu-isa`` does (``grokjax.cpu_isa``): the
closest stand-in for an AVX2-only CPU on an AVX-512 one. ``--xla-default``
compiles the step with XLA's default options instead of grokjax's
(``grokjax.xla_options``: on CPU grokjax hands YNNPACK matmuls only; XLA's
defaults hand it reductions and elementwise ops too).
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import statistics
import sys

DOT = re.compile(r"= (\S+) dot\(([^)]*)\),(.*)")


def _dims(text: str, key: str) -> tuple:
    m = re.search(key + r"=\{([\d,]*)\}", text)
    return tuple(int(v) for v in m.group(1).split(",") if v) if m else ()


def _shape(s: str) -> tuple:
    m = re.match(r"f32\[([\d,]*)\]", s)
    return tuple(int(v) for v in m.group(1).split(",") if v) if m else ()


def parse_dots(hlo: str) -> dict:
    """Each op name of the optimized HLO that runs a dot (a library fusion
    around one, or a plain ``dot``): its kind, FLOPs and a key that
    identifies the dot's shapes and dimension numbers."""
    comps = dict(re.findall(r"\n(%[\w.-]+) [^\n]*\{\n(.*?)\n\}", hlo, re.S))
    defined = {n: _shape(s) for n, s in re.findall(r"(%[\w.-]+) = (f32\[[\d,]*\])", hlo)}
    out = {}
    # ops that run (and show in a profile): those outside fused computations
    running = "\n".join(body for name, body in comps.items() if "fused_computation" not in name)
    entry = re.search(r"\nENTRY [^\n]*\{\n(.*?)\n\}", hlo, re.S)
    for line in (running + "\n" + (entry.group(1) if entry else "")).split("\n"):
        m = re.match(r"\s*(?:ROOT )?%([\w.-]+) = \S+ (fusion|dot)\(", line)
        if not m:
            continue
        name, body = m.group(1), line
        if m.group(2) == "fusion":
            called = re.search(r"calls=(%[\w.-]+)", line)
            body = comps.get(called.group(1), "") if called else ""
        d = DOT.search(body)
        if not d:
            continue
        # operand shapes: instruction names are unique in the module
        shapes = [defined.get(n, ()) for n in re.findall(r"%[\w.-]+", d.group(2))]
        dn = {k: _dims(d.group(3), k) for k in ("lhs_batch_dims", "rhs_batch_dims",
                                                 "lhs_contracting_dims", "rhs_contracting_dims")}
        out_shape = _shape(d.group(1))
        lhs = shapes[0] if shapes else ()
        contracted = 1
        for i in dn["lhs_contracting_dims"]:
            contracted *= lhs[i] if i < len(lhs) else 0
        size = 1
        for v in out_shape:
            size *= v
        if dn["lhs_batch_dims"]:
            kind = "dot batched"
        elif dn["lhs_contracting_dims"] == (0,) and len(lhs) == 2:
            kind = "dot Aᵀ·B"
        elif shapes and len(shapes) > 1 and dn["rhs_contracting_dims"] == (len(shapes[1]) - 1,):
            kind = "dot A·Bᵀ"
        else:
            kind = "dot A·B"
        out[name] = {"kind": kind, "flops": 2 * size * contracted, "shapes": [list(s) for s in shapes],
                     "dims": {k: list(v) for k, v in dn.items()}, "library": m.group(2) == "fusion"}
    return out


def kind_of(name: str, dots: dict) -> str:
    if name in dots:
        return dots[name]["kind"]
    if name.startswith("ynn_fusion"):
        return "library reduce/elementwise"
    if re.match(r"(copy|transpose)[\w-]*fusion|copy\b", name) or "transpose_copy" in name:
        return "layout copy"
    return "other"


def profile_step(steps: int, xla_defaults: bool = False):
    """(ms per step of each XLA op, by name; the dots of the compiled step, by op name)."""
    from grokjax import bench

    call, states, compiled = bench.paper_step(xla_defaults)
    _, ms = bench.op_times(lambda s: call(s, steps), states)
    ms = collections.Counter({name: t / steps for name, t in ms.items()})
    return ms, parse_dots(compiled.as_text())


def standalone_gflops(dot: dict, repeats: int) -> float:
    """The same dot alone, jitted, float32 at full precision: GFLOP/s (median)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from grokjax import bench

    dims = dot["dims"]
    dn = ((tuple(dims["lhs_contracting_dims"]), tuple(dims["rhs_contracting_dims"])),
          (tuple(dims["lhs_batch_dims"]), tuple(dims["rhs_batch_dims"])))
    rng = np.random.default_rng(0)
    a, b = (jnp.asarray(rng.standard_normal(s, dtype=np.float32)) for s in dot["shapes"][:2])
    f = jax.jit(lambda a, b: jax.lax.dot_general(a, b, dn, precision=jax.lax.Precision.HIGHEST))
    n = max(1, int(2e8 // max(dot["flops"], 1)))  # about 0.2 GFLOP per timing
    times = [bench.seconds_per_call(lambda: f(a, b), n) for _ in range(repeats)]
    return dot["flops"] / statistics.median(times) / 1e9


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="JSON file to write")
    p.add_argument("--steps", type=int, default=40, help="steps profiled (default 40)")
    p.add_argument("--repeats", type=int, default=5, help="timings of each standalone dot (default 5)")
    p.add_argument("--cpu-isa", choices=("avx2",), help="limit XLA and YNNPACK to this ISA (grokjax.cpu_isa)")
    p.add_argument("--xla-default", action="store_true",
                   help="compile the step with XLA's default options, without grokjax's (grokjax.xla_options: on "
                        "CPU grokjax gives YNNPACK matmuls only; XLA's defaults give it reductions and elementwise "
                        "ops too)")
    args = p.parse_args()
    from grokjax import cpu_isa, report

    try:
        isa_limit = cpu_isa.limit(args.cpu_isa) if args.cpu_isa else None
    except cpu_isa.IsaError as e:
        print(f"error: --cpu-isa {args.cpu_isa}: {e}", file=sys.stderr)
        return 2

    ms, dots = profile_step(args.steps, args.xla_default)
    kinds = collections.defaultdict(lambda: {"ms_per_step": 0.0, "ops": 0, "gflop_per_step": 0.0})
    for name, t in ms.items():
        k = kinds[kind_of(name, dots)]
        k["ms_per_step"] += t
        k["ops"] += 1
        k["gflop_per_step"] += dots[name]["flops"] / 1e9 if name in dots else 0.0
    total = sum(ms.values())
    table = {}
    for kind, k in sorted(kinds.items(), key=lambda kv: -kv[1]["ms_per_step"]):
        row = {"ms_per_step": round(k["ms_per_step"], 3), "share": round(k["ms_per_step"] / total, 3), "ops": k["ops"]}
        if k["gflop_per_step"]:
            row["gflop_per_step"] = round(k["gflop_per_step"], 4)
            row["gflops_in_step"] = round(k["gflop_per_step"] / (k["ms_per_step"] / 1e3), 1)
        table[kind] = row
    # each distinct dot alone, against the same dot inside the step
    distinct = {}
    for name, d in dots.items():
        if name not in ms:
            continue
        key = json.dumps([d["shapes"], d["dims"]])
        e = distinct.setdefault(key, {**d, "ms_in_step": 0.0, "count": 0})
        e["ms_in_step"] += ms[name]
        e["count"] += 1
    per_dot = []
    for e in sorted(distinct.values(), key=lambda e: -e["ms_in_step"]):
        per_dot.append({"kind": e["kind"], "shapes": e["shapes"], "dims": e["dims"], "count": e["count"],
                        "library_fusion": e["library"], "ms_in_step": round(e["ms_in_step"], 3),
                        "gflops_in_step": round(e["count"] * e["flops"] / (e["ms_in_step"] / 1e3) / 1e9, 1),
                        "gflops_alone": round(standalone_gflops(e, args.repeats), 1)})
    doc = {"command": "python sweeps/step_profile.py " + " ".join(sys.argv[1:]),
           "scale": "paper config (x+y mod 97, frac 0.5, batch 512, factorized path), one run, "
                    f"{args.steps} profiled steps; the profiler's own overhead is included",
           "ms_per_step_profiled": round(total, 2), "kinds": table, "dots": per_dot,
           "xla_default": args.xla_default,
           "environment": {**report.environment(), **({"cpu_isa_limit": isa_limit} if isa_limit else {}),
                           # the options the profiled step compiled with
                           **({"compiler_options": {}} if args.xla_default else {})}}
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"{total:.1f} ms per profiled step")
    for kind, row in table.items():
        extra = f", {row['gflops_in_step']} GFLOP/s" if "gflops_in_step" in row else ""
        print(f"  {kind:28s} {row['ms_per_step']:7.2f} ms ({row['share']:.0%}), {row['ops']} ops{extra}")
    print("dots (in step against alone, GFLOP/s):")
    for d in per_dot[:12]:
        print(f"  {d['kind']:12s} {d['shapes']} ×{d['count']}: {d['ms_in_step']} ms, "
              f"{d['gflops_in_step']} in step, {d['gflops_alone']} alone")
    return 0


if __name__ == "__main__":
    sys.exit(main())
