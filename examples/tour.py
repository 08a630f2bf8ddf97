"""grokjax from Python, as a notebook would use it: about a minute on a 2-core CPU.

    python examples/tour.py
"""
import tempfile

import matplotlib.pyplot as plt

import grokjax

# x+y mod 23 at two data fractions × 2 seeds, a 1-layer model: 4 runs, one compiled program
spec = grokjax.SweepSpec(task=grokjax.TaskSpec(op="add", modulus=23), model=grokjax.ModelSpec(n_layers=1),
                         fracs=(0.4, 0.7), seeds=2, steps=1500, eval_every="log:50", ckpt_every=500)
out = tempfile.mkdtemp(prefix="grokjax-tour-")
res = grokjax.run(spec, out, progress=False)  # out=None keeps it all in memory

for r in res.runs:  # one dict per run, as in runs.csv
    print(f"frac {r['frac']} seed {r['seed']}: 99% train at {r['steps_to_99_train']}, 99% val at {r['steps_to_99_val']}")

fig, ax = plt.subplots()
ax.semilogx(res.steps[1:], res.curves["train_acc"][1:, 2], label="train")  # run 2: frac 0.7, seed 0
ax.semilogx(res.steps[1:], res.curves["val_acc"][1:, 2], label="val")
ax.legend(), fig.savefig(f"{out}/run2.png")

again = grokjax.load(out)  # the same numbers, read back from the folder
print("saved steps:", again.saved_steps())
print("run 2 at step 500, re-evaluated:", {k: round(v, 3) for k, v in again.evaluate(2, step=500).items()})
print("wrote", out)
