"""A/B of XLA compile options, or of how the model writes its products, on the paper step, in one process.

    python sweeps/options_ab.py OUT.json [--option KEY=VALUE ...] [--xla-default] [--attention sum|dot]
        [--dense rows|batched] [--runs 1] [--steps 30] [--pairs 20] [--run-axis map|vmap] [--cpu-isa avx2]

Compiles the step the benchmark times (``train.sweep_steps``, paper config:
x+y mod 97 at frac 0.5, ``--runs`` runs, over ``--run-axis``) twice: A as grokjax compiles it,
and B with the given compile options added (``lowered.compile(options)``),
or with XLA's own defaults in place of grokjax's compile options
(``--xla-default``: ``grokjax.xla_options``, on CPU YNNPACK for matmuls
only, left out), and/or attention's products formed as ``--attention`` says
(``model.attend``'s ``by_sum``; A keeps this backend's default), and/or the
linear maps' matmuls as ``--dense`` says (``rows``: ``model.dot_rows``, the
input's leading axes flattened, grokjax's form; ``batched``: a plain
``lax.dot_general`` on ``[B, L, D]``, Flax's), then times
``--pairs`` alternating pairs of ``--steps`` updates from the same state.
This CPU's speed drifts by ±20% between timings, so a single pair says
little: it reports each pair's ratio (B over A), their median and quartiles
and a Wilcoxon signed-rank test of ratio = 1, and the largest parameter
difference after the last timing (0 only if B computes the same bits).

``--cpu-isa avx2`` holds XLA and its matmul library YNNPACK to AVX2 in this
process first, as ``grokjax.bench --cpu-isa`` does (``grokjax.cpu_isa``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def parse_option(text: str) -> tuple:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--option needs KEY=VALUE, got {text!r}")
    return key, {"true": True, "false": False}.get(value.lower(), value)  # XLA's bool options take bools


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="JSON file to write")
    p.add_argument("--option", type=parse_option, action="append", default=[],
                   help="an XLA compile option for B, KEY=VALUE (repeatable), "
                        "e.g. xla_cpu_experimental_ynn_fusion_type=LIBRARY_FUSION_TYPE_DOT")
    p.add_argument("--xla-default", action="store_true",
                   help="B without grokjax's compile options (grokjax.xla_options): XLA's defaults")
    p.add_argument("--attention", choices=("sum", "dot"),
                   help="B's attention products: multiply-and-sum or einsums (default: as A)")
    p.add_argument("--dense", choices=("rows", "batched"),
                   help="B's linear maps: dot on flattened rows (grokjax's) or on [B, L, D] (Flax's; default: as A)")
    p.add_argument("--runs", type=int, default=1, help="runs in the program (default 1)")
    p.add_argument("--steps", type=int, default=30, help="updates per timing (default 30)")
    p.add_argument("--pairs", type=int, default=20, help="alternating A/B timings (default 20)")
    p.add_argument("--run-axis", choices=("map", "vmap"), default="map",
                   help="how the program steps its runs (default map, the CPU's; vmap is the GPU's)")
    p.add_argument("--cpu-isa", choices=("avx2",), help="limit XLA and YNNPACK to this ISA first (grokjax.cpu_isa)")
    args = p.parse_args()
    if not args.option and not args.attention and not args.dense and not args.xla_default:
        p.error("nothing to compare: give --option, --xla-default, --attention and/or --dense")

    from grokjax import cpu_isa

    try:  # before anything starts JAX's backend
        isa_limit = cpu_isa.limit(args.cpu_isa) if args.cpu_isa else None
    except cpu_isa.IsaError as e:
        print(f"error: --cpu-isa {args.cpu_isa}: {e}", file=sys.stderr)
        return 2

    import functools

    import jax
    import jax.numpy as jnp
    import numpy as np
    from grokjax import bench, model, report, train
    from grokjax.config import Config, make_runs

    options = dict(args.option)
    cfg = Config(run_axis=args.run_axis)
    data = cfg.task.data()
    x, y = jnp.asarray(data.x), jnp.asarray(data.y)
    runs = make_runs(data, [dict(seed=s, frac=0.5) for s in range(args.runs)])
    start = train.sweep_init(cfg, x, runs)
    default_attend, default_dot = model.attend, model.dot_rows
    compiled, compile_s = {}, {}
    for name, opts in (("A", {}), ("B", options)):
        if name == "B" and (args.attention or args.dense):  # traced anew with B's model
            if args.attention:
                model.attend = functools.partial(default_attend, by_sum=args.attention == "sum")
            if args.dense:
                model.dot_rows = default_dot if args.dense == "rows" else jax.lax.dot_general
            jax.clear_caches()
        fn = train.sweep_steps.with_xla_defaults() if name == "B" and args.xla_default else train.sweep_steps
        lowered = fn.lower(cfg, x, y, runs, start, 0)
        model.attend, model.dot_rows = default_attend, default_dot
        t0 = time.perf_counter()
        try:
            compiled[name] = lowered.compile(opts)
        except Exception as e:  # an unknown option or value: XLA says which
            print(f"error: XLA refused {opts}: {str(e).splitlines()[0]}", file=sys.stderr)
            return 2
        compile_s[name] = round(time.perf_counter() - t0, 2)
    rates, last = {"A": [], "B": []}, {}
    for _ in range(args.pairs):
        for name, c in compiled.items():
            s = c(x, y, runs, jax.tree.map(jnp.copy, start), 2)  # warm
            jax.block_until_ready(s)
            t0 = time.perf_counter()
            s = jax.block_until_ready(c(x, y, runs, s, args.steps))
            rates[name].append(args.runs * args.steps / (time.perf_counter() - t0))
            last[name] = s
    ratio = np.asarray(rates["B"]) / np.asarray(rates["A"])
    diff = max(float(jnp.max(jnp.abs(a - b))) for a, b in
               zip(jax.tree.leaves(last["A"].params), jax.tree.leaves(last["B"].params)))
    doc = {"command": "python sweeps/options_ab.py " + " ".join(sys.argv[1:]),
           "scale": f"paper config, {args.runs} run(s) over {args.run_axis}, "
                    f"{args.pairs} alternating pairs of {args.steps} updates",
           "options_B": options,
           "xla_default_B": args.xla_default,
           "attention": {"A": "sum" if model.products_by_sum() else "dot", "B": args.attention or "as A"},
           "dense": {"A": "rows", "B": args.dense or "as A"},
           "compile_s": compile_s,
           "model_steps_per_s": {k: [round(v, 2) for v in r] for k, r in rates.items()},
           "median_model_steps_per_s": {k: round(float(np.median(r)), 2) for k, r in rates.items()},
           "ratio_B_over_A": bench.paired_ratios(ratio),
           "max_param_diff": diff,
           "environment": {**report.environment(), **({"cpu_isa_limit": isa_limit} if isa_limit else {})}}
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
    r = doc["ratio_B_over_A"]
    print(f"A {doc['median_model_steps_per_s']['A']} / B {doc['median_model_steps_per_s']['B']} model-steps/s (medians); "
          f"B/A per pair: median {r['median']}, quartiles {r['quartiles']}, Wilcoxon p {r['wilcoxon_p']}; "
          f"max param diff {diff:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
