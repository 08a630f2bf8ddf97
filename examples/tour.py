"""grokjax from Python, as a notebook would use it (about two minutes on a 2-core CPU).

    python examples/tour.py
"""
import tempfile

import matplotlib.pyplot as plt

import grokjax

# x+y mod 97 with the paper's model and optimizer, at two data fractions: 2 runs, one compiled program,
# stopped once both generalize (stop_at), a checkpoint every 500 steps, all kept
spec = grokjax.SweepSpec(task=grokjax.TableTask(op="add", modulus=97), fracs=(0.6, 0.7), seeds=1, steps=3000,
                         eval_every="log:60", stop_at=0.99, ckpt_every=500, ckpt_keep=10)
out = tempfile.mkdtemp(prefix="grokjax-tour-")
res = grokjax.run(spec, out, progress=False)  # out=None keeps it all in memory
print(res)
for r in res.runs:  # one dict per run, as in runs.csv
    print(f"frac {r['frac']}: 99% train at step {r['steps_to_99_train']}, 99% val at step {r['steps_to_99_val']}")

fig, ax = plt.subplots()  # one run's curves: run 1 is frac 0.7
ax.semilogx(res.steps[1:], res.curves["train_acc"][1:, 1], label="train")
ax.semilogx(res.steps[1:], res.curves["val_acc"][1:, 1], label="val")
ax.legend(), fig.savefig(f"{out}/run1.png")

again = grokjax.load(out)  # the same numbers, read back from the folder
print("saved steps:", again.saved_steps())
print("run 1 at step 500, re-evaluated from its params:", {k: round(v, 4) for k, v in again.evaluate(1, step=500).items()})
print("run 1 at step 500, as recorded in curves.csv:   ",
      {k: round(float(v[list(again.steps).index(500), 1]), 4) for k, v in again.curves.items()})
