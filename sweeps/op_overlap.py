"""Do the ops of one training step run at the same time? Why per-op rates
in a profile read low.

    python sweeps/op_overlap.py OUT.json [--steps 40]

Times the paper config's step (one run, the ``sweep_steps`` program the
benchmark times) without the profiler, then runs it under it and compares the sum
of every XLA op's duration with the union of their intervals (the time at
least one op ran). XLA:CPU runs independent ops side by side on its
threads, so where the sum exceeds the union, ops shared the cores, and an
op's profiled duration (what ``step_profile.py`` divides its FLOPs by)
includes time it ran beside another. Counts the dots (YNNPACK fusions and
dot ops) that overlap an op on another thread.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time


def union_ms(intervals) -> float:
    """Total length of the union of ``(start, end)`` intervals (µs in, ms out)."""
    busy, start, end = 0.0, None, None
    for s, e in sorted(intervals):
        if end is None or s > end:
            busy += 0.0 if end is None else end - start
            start, end = s, e
        else:
            end = max(end, e)
    return (busy + (0.0 if end is None else end - start)) / 1e3


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="JSON file to write")
    p.add_argument("--steps", type=int, default=40, help="steps per timing (default 40)")
    args = p.parse_args()
    if args.steps < 1:
        p.error(f"--steps must be positive, got {args.steps}")

    import jax

    from grokjax import bench, report

    call, states, _ = bench.paper_step()
    t0 = time.perf_counter()
    states = jax.block_until_ready(call(states, args.steps))
    wall = (time.perf_counter() - t0) * 1e3 / args.steps
    states, ops = bench.op_events(lambda s: call(s, args.steps), states)
    dots = [e for e in ops if "ynn" in e["name"] or "dot" in e["name"]]
    overlapping = sum(any(o is not d and o.get("tid") != d.get("tid") and o["ts"] < d["ts"] + d["dur"]
                          and o["ts"] + o["dur"] > d["ts"] for o in ops) for d in dots)
    doc = {"command": "python sweeps/op_overlap.py " + " ".join(sys.argv[1:]),
           "scale": f"paper config (x+y mod 97, frac 0.5, batch 512, factorized path), one run, {args.steps} steps",
           "ms_per_step_unprofiled": round(wall, 2),
           "ms_per_step_sum_of_ops": round(sum(e["dur"] for e in ops) / 1e3 / args.steps, 2),
           "ms_per_step_union_of_ops": round(union_ms((e["ts"], e["ts"] + e["dur"]) for e in ops) / args.steps, 2),
           "threads_running_ops": len(collections.Counter(e.get("tid") for e in ops)),
           "dot_events": len(dots), "dot_events_overlapping_another_thread": overlapping,
           "environment": report.environment()}
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"{doc['ms_per_step_unprofiled']} ms a step unprofiled; profiled, its ops: "
          f"{doc['ms_per_step_sum_of_ops']} ms summed, {doc['ms_per_step_union_of_ops']} ms when at least one ran; "
          f"{overlapping} of {len(dots)} dot events overlap an op on another thread")
    return 0


if __name__ == "__main__":
    sys.exit(main())
