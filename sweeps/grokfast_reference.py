"""Steps to grok in the Grokfast authors' own code (ironjr/grokfast), run as it is.

    git clone https://github.com/ironjr/grokfast CHECKOUT
    python sweeps/grokfast_reference.py CHECKOUT --filter ema --weight-decay 0.005 --seeds 0,1,2 \
        --out results/grokfast_cpu/reference_ema_l2.json

Runs the checkout's own ``main.main`` (x·y mod 97 with y ≠ 0, 50% split,
its 2-layer decoder, epochs of 512-row batches, ``torch.optim.Adam`` at lr
1e-3, β = (0.9, 0.98), a 10-update warmup, evaluation after every epoch of
10 updates) once per seed, with the flags of the authors' README: Grokfast-
EMA ``--alpha 0.98 --lamb 2`` and ``--weight_decay 0.005``, which is
PyTorch's Adam weight decay, an L2 term added to the gradient (grokjax's
``weight_decay_l2``). Each run trains its whole ``--budget``; the JSON keeps
its curves and the first evaluated update with 99% train and val accuracy.
Its train accuracy is the authors': the mean over the epoch's batches, each
taken before its update (grokjax's is the whole training set after it). Its
warmup is the authors' too: lr 0 at the first update, full lr from the 11th
(grokjax's reaches lr/10 at the first, full lr at the 10th).

``--model paper`` swaps in Power et al.'s transformer as grokjax trains it,
rebuilt in PyTorch (``grokjax.reference_torch``: post-LN blocks, ReLU, no
biases, no final LayerNorm), everything else the authors': it separates
what the model does from what the framework does. Needs torch; grokjax does
not depend on it, nor on the checkout.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from argparse import Namespace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from grokjax import report  # noqa: E402


def paper_decoder(dim=128, num_layers=2, num_heads=4, num_tokens=99, seq_len=5):
    """The paper's model, taking the authors' [L, B] tokens and giving [L, B, V] logits."""
    import torch

    from grokjax.reference_torch import _model

    model = _model(num_layers, dim, num_heads, num_tokens, seq_len=4)  # 4 input tokens: [a, ∘, b, =]

    class Paper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, x):
            return self.inner(x.transpose(0, 1))

    return Paper()


def first_at(its, acc, level=0.99):
    return next((int(i) for i, a in zip(its, acc) if a >= level), None)


def run_one(checkout: Path, seed: int, args) -> dict:
    import torch

    sys.path.insert(0, str(checkout.resolve()))
    spec = importlib.util.spec_from_file_location("grokfast_main", checkout / "main.py")
    main = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(main)
    if args.model == "paper":
        main.Decoder = paper_decoder
    torch.set_num_threads(os.cpu_count() or 1)
    label = f"s{seed}"
    ns = Namespace(label=label, seed=seed, p=97, budget=args.budget, batch_size=512, lr=args.lr, beta1=0.9, beta2=0.98,
                   weight_decay=args.weight_decay, optimizer="Adam", filter=args.filter, alpha=args.alpha,
                   window_size=100, lamb=args.lamb, two_stage=False, save_weights=False)
    here = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        (Path(tmp) / "results").mkdir()
        try:
            t0 = time.perf_counter()
            main.main(ns)
            wall = time.perf_counter() - t0
            (saved,) = (Path(tmp) / "results").glob("res_*.pt")
            res = torch.load(saved, weights_only=False)
        finally:
            os.chdir(here)
    its = [int(i) for i in res["its"]]
    return {"seed": seed, "wall_s": round(wall, 1), "updates_to_99_train": first_at(its, res["train_acc"]),
            "updates_to_99_val": first_at(its, res["val_acc"]), "final_train_acc": res["train_acc"][-1],
            "final_val_acc": res["val_acc"][-1], "its": its, "train_acc": res["train_acc"], "val_acc": res["val_acc"],
            "train_loss": res["train_loss"], "val_loss": res["val_loss"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkout", type=Path, help="a clone of ironjr/grokfast")
    p.add_argument("--filter", choices=["none", "ema"], default="ema")
    p.add_argument("--alpha", type=float, default=0.98)
    p.add_argument("--lamb", type=float, default=2.0)
    p.add_argument("--weight-decay", type=float, default=0.005, help="PyTorch Adam's (L2) weight decay (0.005)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--budget", type=int, default=2000, help="updates per run (2000)")
    p.add_argument("--seeds", default="0", help="comma list (0)")
    p.add_argument("--model", choices=["authors", "paper"], default="authors")
    p.add_argument("--out", type=Path, required=True, help="the JSON to write (rewritten after each seed)")
    args = p.parse_args(argv)
    if not (args.checkout / "main.py").is_file() or not (args.checkout / "grokfast.py").is_file():
        p.error(f"{args.checkout} is not a checkout of ironjr/grokfast (no main.py and grokfast.py)")
    if args.budget < 1000 or args.budget % 1000:
        p.error(f"--budget {args.budget}: the authors' code saves its curves every 100 epochs of 10 updates, "
                "so give a multiple of 1000")
    if args.out.exists():
        p.error(f"{args.out} exists; pick another path")
    import torch

    commit = subprocess.run(["git", "-C", str(args.checkout), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    record = {"command": ["python", *sys.argv], "checkout_commit": commit or None, "model": args.model,
              "filter": args.filter, "alpha": args.alpha, "lamb": args.lamb, "weight_decay_l2": args.weight_decay,
              "lr": args.lr, "budget": args.budget, "torch": torch.__version__, "environment": report.environment(),
              "runs": []}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for seed in [int(s) for s in args.seeds.split(",")]:
        got = run_one(args.checkout, seed, args)
        print(f"seed {seed}: 99% train at {got['updates_to_99_train']}, 99% val at {got['updates_to_99_val']}, "
              f"final val {got['final_val_acc']:.3f}, {got['wall_s']} s", flush=True)
        record["runs"].append(got)
        args.out.write_text(json.dumps(record, indent=1) + "\n")  # a crash keeps the seeds done
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
