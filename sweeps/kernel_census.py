"""Where a sweep program's kernels come from: the paper config's compiled
``sweep_chunk`` (or ``sweep_steps``, ``sweep_init``) at R runs, its fusions
grouped by the JAX source they were traced from, counting distinct fusion
bodies (XLA:CPU compiles one LLVM module per distinct kernel, so these, not
the fusions, cost compile time).

    python sweeps/kernel_census.py [--runs 64] [--program chunk] [--json OUT.json]

Groups: the training loop (forward, backward, optimizer), the evaluation's
blocks, the ``lax.map`` over runs slicing out and writing back each state
array (``map DS``, ``map DUS``), the run's shuffled split order
(``jax.random.permutation``, recomputed per chunk), and the rest by their
outermost op. Bodies are compared with names and metadata stripped, an
approximation of XLA's own deduplication (within a few kernels of the
count its log gives, ``sweeps/compile_cost.py``).
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import re
import sys
from pathlib import Path


def census(hlo: str) -> dict:
    """``{group: (fusions, distinct bodies)}`` of an optimized HLO module's
    text, and the distinct bodies of the whole program (a body two groups
    share counts once there)."""
    bodies = {m.group(1): m.group(2) for m in
              re.finditer(r"^(?:ENTRY )?%?([\w.\-]+) (?:\([^\n]*\) -> [^\n]*)?\{\n(.*?)\n\}", hlo, re.S | re.M)}

    def norm(body: str) -> str:
        body = re.sub(r"metadata=\{[^}]*\}", "", body)
        body = re.sub(r"%[\w.\-]+", "%x", body)
        return re.sub(r"\b[\w.\-]+(?=\s*=)", "v", body)

    seen, count = collections.defaultdict(set), collections.Counter()
    for m in re.finditer(r'fusion\([^\n]*?calls=%?([\w.\-]+)[^\n]*?op_name="([^"]*)"', hlo):
        name, op = m.group(1), re.sub(r"\[[^]]*\]", "", m.group(2))
        if "dynamic_update_index_in_dim" in op:
            group = "map DUS (write back each run's state)"
        elif "dynamic_index_in_dim" in op:
            group = "map DS (slice out each run's state)"
        elif "_shuffle" in op:
            group = "split order (permutation)"
        elif "closed_call/while/body/closed_call" in op or "closed_call/while/body/jit(_pad)" in op:
            group = "evaluation blocks"
        elif "closed_call/while" in op:
            group = "training loop"
        else:
            group = "other: " + "/".join(op.split("/")[3:5])
        seen[group].add(norm(bodies.get(name, name)))
        count[group] += 1
    out = {g: (count[g], len(seen[g])) for g in sorted(count, key=lambda g: -len(seen[g]))}
    return out, len(set().union(*seen.values()))


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=64, help="R, runs in the program (64)")
    p.add_argument("--program", choices=("chunk", "steps", "init"), default="chunk")
    p.add_argument("--json", help="also write the census here")
    args = p.parse_args(argv)

    import jax

    from grokjax import report, train
    from grokjax.config import Config, make_runs

    cfg = Config(run_axis="map")
    data = cfg.task.data()
    x, y = jax.numpy.asarray(data.x), jax.numpy.asarray(data.y)
    runs = make_runs(data, [dict(seed=s, frac=0.5) for s in range(args.runs)])
    if args.program == "init":
        lowered = train.sweep_init.lower(cfg, x, runs)
    else:
        states = jax.eval_shape(functools.partial(train.sweep_init, cfg), x, runs)
        fn = train.sweep_chunk if args.program == "chunk" else train.sweep_steps
        lowered = fn.lower(cfg, x, y, runs, states, 0)
    got, total = census(lowered.compile().as_text())
    print(f"sweep_{args.program}, R = {args.runs}: {sum(f for f, _ in got.values())} fusions, {total} distinct bodies")
    for group, (fusions, distinct) in got.items():
        print(f"{fusions:5d} fusions {distinct:4d} distinct  {group}")
    if args.json:
        report.write_json(Path(args.json), {"command": "python sweeps/kernel_census.py " + " ".join(argv),
                                      "program": f"sweep_{args.program}", "runs": args.runs, "distinct": total,
                                      "groups": {g: {"fusions": f, "distinct": d} for g, (f, d) in got.items()},
                                      "environment": report.environment()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
