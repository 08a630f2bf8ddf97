"""What the Fourier progress measures cost, both ways, on a sweep with checkpoints:

- from checkpoints (what grokjax does): bytes per checkpoint, seconds to
  restore one, seconds of the measure per saved step (compiled once);
- in the training loop (the alternative): the same measure at each
  evaluation, against the evaluation it would ride on and the training
  chunk between two evaluations.

    python sweeps/fourier_cost.py results/nanda_add113_cpu

Writes <out>/analysis/fourier_cost.json and prints it.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import numpy as np

from grokjax import checkpoint, report, train
from grokjax.errors import SpecError
from grokjax.analysis import fourier, snapshot


def best_of(fn, n=5):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t)
    return min(times)


def main(out):
    out = Path(out)
    plan = snapshot.sweep_plan(out)
    task = fourier.check_task(plan)
    steps = snapshot.saved_steps(out)
    step_dir = checkpoint.ckpt_dir(out) / str(steps[-1])
    size = sum(f.stat().st_size for f in step_dir.rglob("*") if f.is_file())
    t = time.perf_counter()
    snap = snapshot.load(out, None, steps[-1])
    restore_s = time.perf_counter() - t
    g = snap.groups[0]
    K = (task.modulus - 1) // 2
    mask = np.zeros((len(g.runs), K), bool)
    measure = fourier.Progress(task.modulus, fourier.SIGNS[task.op])
    snapshot.apply(g, measure, mask, x64=True)  # compile
    measure_s = best_of(lambda: snapshot.apply(g, measure, mask, x64=True))
    config, data = g.config, task.data()
    run = jax.tree.map(lambda a: a[0], g.run_params)
    params = jax.tree.map(lambda a: a[0], g.params)
    y_run, mask1 = train.run_split(config, data.y, run)
    evaluate = jax.jit(train.evaluate, static_argnums=0)
    eval_s = best_of(lambda: evaluate(config, data.x, y_run, mask1, params))
    record = json.loads((out / "config.json").read_text())
    ckpt = record.get("checkpoints", {})
    steps_per_s = record["timing"]["model_steps_per_s"]
    every = plan.spec.eval_every
    result = {
        "sweep": str(out), "runs": len(g.runs), "modulus": task.modulus, "saved_steps": len(steps),
        "checkpoint_bytes": size, "checkpoint_bytes_per_run": size / plan.n_runs,
        "save_s_mean": ckpt.get("save_s_mean"), "restore_s": round(restore_s, 3),
        "measure_s_per_step": round(measure_s, 4), "evaluate_s": round(eval_s, 4),
        "train_s_per_eval_interval": round(every / steps_per_s, 3) if isinstance(every, int) else None,
        "eval_every": every, "environment": report.environment(),
    }
    path = snapshot.out_dir(out) / "fourier_cost.json"
    report.write_json(path, result)
    print(json.dumps({k: v for k, v in result.items() if k != "environment"}, indent=1))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="a sweep folder with checkpoints of the table task")
    folder = parser.parse_args().out
    try:
        main(folder)
    except (checkpoint.CheckpointError, SpecError) as e:
        sys.exit(f"fourier_cost.py: error: {e}")
