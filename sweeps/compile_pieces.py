"""Where the kernels of one training step come from: pieces of the paper
config's step compiled alone, one run, each in a fresh process.

    python sweeps/compile_pieces.py OUT.json

Pieces, each containing the one before: ``fwd`` (the model's forward pass
on a batch of 512), ``loss`` (plus cross-entropy), ``grad`` (plus the
backward pass), ``grad_adam`` (plus AdamW's update), ``step`` (one
``train.train_step``: plus batch sampling), ``loop`` (a ``fori_loop`` of
steps); ``sample`` alone. For each: StableHLO ops, fusions after XLA's
passes, and seconds of XLA compile (no cache).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r'''
import json, re, sys, time
import jax, jax.numpy as jnp, optax
jax.config.update("jax_enable_compilation_cache", False)
from grokjax import losses, optim, report, train
from grokjax.config import Config, make_runs
cfg = Config(run_axis="map")
data = cfg.task.data()
x, y = jnp.asarray(data.x), jnp.asarray(data.y)
runs = make_runs(data, [dict(seed=0, frac=0.5)])
states = train.sweep_init(cfg, x, runs)
run, state = jax.tree.map(lambda a: a[0], runs), jax.tree.map(lambda a: a[0], states)
model, order, rows = train.model_for(cfg), train.run_order(cfg, run), jnp.arange(512)
def fwd(p): return model.apply(p, x[rows], path=cfg.model_path).sum()
def loss(p): return losses.per_example("softmax", model.apply(p, x[rows], path=cfg.model_path), y[rows]).sum()
def grad(p): return jax.grad(loss)(p)
def grad_adam(s):
    u, o = optim.make_optimizer(cfg, run).update(jax.grad(loss)(s.params), s.opt_state, s.params)
    return optax.apply_updates(s.params, u), o
def step(s): return train.train_step(cfg, x, y, order, run, s)
def sample(k): return train.sample_batch(jax.random.fold_in(k, 3), order, run.n_train, 512)
def loop(s): return jax.lax.fori_loop(0, 10, lambda _, t: train.train_step(cfg, x, y, order, run, t), s)
pieces = dict(fwd=(fwd, state.params), loss=(loss, state.params), grad=(grad, state.params),
              grad_adam=(grad_adam, state), step=(step, state), sample=(sample, jax.random.key(0)), loop=(loop, state))
fn, arg = pieces[sys.argv[1]]
with jax.default_matmul_precision("highest"):
    lowered = jax.jit(fn).trace(arg).lower()
t = time.perf_counter(); compiled = lowered.compile(); dt = time.perf_counter() - t
print(json.dumps({"piece": sys.argv[1], "compile_s": round(dt, 2), "stablehlo_ops": lowered.as_text().count(" = "),
                  "fusions": len(re.findall(r"\bfusion\(", compiled.as_text())), "environment": report.environment()}))
'''
PIECES = ("fwd", "loss", "grad", "grad_adam", "sample", "step", "loop")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="the JSON file to write")
    out = p.parse_args().out
    rows = []
    for piece in PIECES:
        got = subprocess.run([sys.executable, "-c", CHILD, piece], capture_output=True, text=True, check=True)
        rows.append(json.loads(got.stdout.strip().splitlines()[-1]))
        print(f"{piece}: {rows[-1]['fusions']} fusions, {rows[-1]['stablehlo_ops']} ops, compile {rows[-1]['compile_s']} s",
              flush=True)
    env = rows[0].pop("environment")
    for row in rows[1:]:
        row.pop("environment")
    with open(out, "w") as f:
        json.dump({"command": "python sweeps/compile_pieces.py " + out, "pieces": rows, "environment": env}, f,
                  indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
