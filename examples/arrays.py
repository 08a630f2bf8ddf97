"""Your own data: save arrays to an .npz file and train on it with the arrays task.

    python examples/arrays.py [FOLDER]

The file holds ``x`` and ``y``, and optionally ``x_test`` and ``y_test``.
Integer ``y`` means classification (labels 0..C-1: an MLP with softmax
cross-entropy by default), float ``y`` regression (MSE; a sample is correct
when its mean squared error is below ``threshold``). Here: the 8×8 digits of
scikit-learn as 64 float features, split into 1,000 training candidates and
797 test images, with the labels as integers; the same file works from the
command line:

    python -m grokjax.sweep --task arrays --data FOLDER/digits.npz --train-size 200,1000 --init-scale 1,8
"""

import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

import grokjax

folder = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="grokjax-arrays-"))
folder.mkdir(parents=True, exist_ok=True)
d = load_digits()
x, y = (d.data / 16).astype(np.float32), d.target.astype(np.int64)
order = np.random.default_rng(0).permutation(len(y))
train, test = order[:1000], order[1000:]
path = folder / "digits.npz"
np.savez(path, x=x[train], y=y[train], x_test=x[test], y_test=y[test])
print(f"saved {path}: x {x[train].shape}, y {y[train].shape}, x_test {x[test].shape}, y_test {y[test].shape}")

task = grokjax.ArraysTask(data_path=str(path))  # checks the file; records its SHA-256
spec = grokjax.SweepSpec(task=task, model=grokjax.MLPSpec(width=200, depth=3), train_sizes=(200, 1000),
                         grid=(grokjax.Product(init_scale=(1.0, 8.0)),), loss="mse", batch_size=200,
                         steps=3000, eval_every=500)
res = grokjax.run(spec, out=folder / "sweep", progress=False)
for r in res.runs:
    print(f"n_train {r['n_train']:4d}, init scale {r['init_scale']:g}: final train acc {r['final_train_acc']:.3f}, "
          f"test acc {r['final_val_acc']:.3f}")
print(f"wrote {res.out}")
