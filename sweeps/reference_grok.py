"""Steps to grok in the PyTorch reference, danielmamay/grokking, run as it is.

    git clone https://github.com/danielmamay/grokking CHECKOUT
    python sweeps/reference_grok.py CHECKOUT --seeds 8 --out results/steps_to_grok_cpu/reference.json

Runs the checkout's own ``training.main`` (model, data split, epoch batches,
AdamW with its warmup, evaluation every 100 steps) once per seed, seeded by
``torch.manual_seed(seed)``, x+y mod 97 at 50% by default. Its ``wandb``
logging is replaced by a recorder, which also ends a run at its first
evaluation at or above 99% val accuracy (the reference has no stop rule).
The reference logs at loop index s after s+1 updates; both are recorded,
and ``updates_to_99_val`` is what compares with grokjax's ``steps_to_99_val``.
Needs torch; grokjax does not depend on it, nor on the checkout.

Two switches move the reference toward the paper's own code (openai/grok),
which grokjax follows, to find which difference changes steps to grok:
``--fixed-positions`` replaces its learned position embeddings with the
paper's fixed sinusoids, and ``--linear-attention-init`` re-draws its
attention input projections as PyTorch's ``nn.Linear`` default, U(±1/√D), as
the paper's per-head linear maps are, instead of ``nn.MultiheadAttention``'s
Xavier-uniform. Both act on the model after the reference builds it.

``--eval-every N`` also evaluates every N steps between the reference's own
evaluations (it evaluates at steps 1, 10 and every 100), and ``--stop-at 1.1``
never stops: with both, the late collapses can be counted at a finer cadence
(``sweeps/count_collapses.py --reference``).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
import types
from argparse import Namespace
from pathlib import Path


class _Reached(Exception):
    pass


def _recorder(records: list, stop_at: float):
    wandb = types.ModuleType("wandb")

    def init(project=None, config=None):
        wandb.config = Namespace(**config)
        wandb.run = object()

    def log(values, step):
        records.append({"step": step, **values})
        if values.get("validation/accuracy", 0) >= stop_at:
            raise _Reached

    wandb.init, wandb.log, wandb.run = init, log, None
    return wandb


def sinusoids(seq_len: int, dim: int):
    """The paper's fixed positions (openai/grok's ``_position_encoding``)."""
    import torch

    pos = torch.arange(seq_len, dtype=torch.float64)[:, None]
    i = torch.arange(dim)
    angle = pos / 10000 ** ((i - i % 2) / dim)
    return torch.where(i % 2 == 0, torch.sin(angle), torch.cos(angle)).float()


def patch_setup(training, fixed_positions: bool, linear_attention_init: bool, seen: dict) -> None:
    """Wraps the reference's ``setup_model`` to change its model as asked,
    and its ``load_data``, to keep both in ``seen`` for extra evaluations."""
    import torch

    setup, load = training.setup_model, training.load_data

    def load_data(*a, **kw):
        seen["data"] = load(*a, **kw)
        return seen["data"]

    def setup_model(*a, **kw):
        model, optimizer, scheduler, criterion = setup(*a, **kw)
        seen["model"], seen["criterion"] = model, criterion
        with torch.no_grad():
            if fixed_positions:
                emb = model.position_embeddings.weight
                emb.copy_(sinusoids(*emb.shape))
                emb.requires_grad_(False)  # no gradient: AdamW skips it, decay included
            if linear_attention_init:
                for block in model.layers[:-1]:
                    w = block.self_attn.in_proj_weight  # [3D, D]
                    bound = 1 / w.shape[1] ** 0.5
                    w.uniform_(-bound, bound)
        return model, optimizer, scheduler, criterion

    training.setup_model, training.load_data = setup_model, load_data


def patch_cadence(training, every: int, seen: dict, records: list, stop_at: float) -> None:
    """Evaluates every ``every`` steps besides the reference's own: its loop
    asks its ``tqdm`` for step s+1 once step s is trained, so the wrapper
    evaluates then, as the reference would have at step s."""

    def steps(iterable, **kw):
        for step in iterable:
            done = step - 1
            if done > 0 and done % every == 0 and not (done in (1, 10) or done % 100 == 0):
                _evaluate(training, seen, records, done, stop_at)
            yield step

    training.tqdm = steps


def _evaluate(training, seen, records, step, stop_at):
    train_x, train_y, val_x, val_y, _ = seen["data"]
    train_loss, train_acc = training.evaluate(seen["model"], train_x, train_y, seen["criterion"])
    val_loss, val_acc = training.evaluate(seen["model"], val_x, val_y, seen["criterion"])
    records.append({"step": step, "training/loss": train_loss, "training/accuracy": train_acc,
                    "validation/loss": val_loss, "validation/accuracy": val_acc})
    if val_acc >= stop_at:
        raise _Reached


def first(log: list, key: str, threshold: float = 0.99):
    return next((r["step"] for r in log if r[key] >= threshold), None)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkout", type=Path, help="a clone of danielmamay/grokking")
    p.add_argument("--seeds", type=int, default=8, help="seeds 0..N-1 (8)")
    p.add_argument("--operation", default="x+y", help="the reference's --operation (x+y)")
    p.add_argument("--training-fraction", type=float, default=0.5)
    p.add_argument("--steps", type=int, default=4000, help="budget per seed (4000)")
    p.add_argument("--stop-at", type=float, default=0.99, help="end a seed's run at this val accuracy (0.99)")
    p.add_argument("--fixed-positions", action="store_true", help="the paper's fixed sinusoidal positions, not learned ones")
    p.add_argument("--linear-attention-init", action="store_true",
                   help="attention input projections drawn U(±1/√D) as nn.Linear's default, not Xavier-uniform")
    p.add_argument("--eval-every", type=int, default=100, help="also evaluate every N steps (100: only the reference's own)")
    p.add_argument("--out", type=Path, help="write the record here as JSON")
    args = p.parse_args(argv)
    code = args.checkout / "grokking"
    if not (code / "training.py").is_file():
        print(f"reference_grok: error: {args.checkout} is not a checkout of danielmamay/grokking (no grokking/training.py)",
              file=sys.stderr)
        return 2
    os.environ.setdefault("TQDM_DISABLE", "1")
    import torch

    from grokjax import report

    sys.path.insert(0, str(code))
    log: list = []
    sys.modules["wandb"] = _recorder(log, args.stop_at)
    import training

    seen: dict = {}
    patch_setup(training, args.fixed_positions, args.linear_attention_init, seen)
    if args.eval_every != 100:
        patch_cadence(training, args.eval_every, seen, log, args.stop_at)
    torch.set_num_threads(os.cpu_count() or 1)
    runs = []
    for seed in range(args.seeds):
        log.clear()
        torch.manual_seed(seed)
        t0 = time.perf_counter()
        try:
            training.main(Namespace(operation=args.operation, training_fraction=args.training_fraction, prime=97,
                                    num_layers=2, dim_model=128, num_heads=4, batch_size=512, learning_rate=1e-3,
                                    weight_decay=1, num_steps=args.steps, device="cpu"))
        except _Reached:
            pass
        val, train = first(log, "validation/accuracy"), first(log, "training/accuracy")
        runs.append({"seed": seed, "logged_step_99_val": val, "updates_to_99_val": None if val is None else val + 1,
                     "updates_to_99_train": None if train is None else train + 1, "wall_s": round(time.perf_counter() - t0, 1),
                     "curve": [{k: (round(v, 5) if isinstance(v, float) else v) for k, v in r.items()} for r in log]})
        print(f"seed {seed}: 99% val after {runs[-1]['updates_to_99_val']} updates ({runs[-1]['wall_s']} s)", flush=True)
    try:
        commit = subprocess.run(["git", "-C", str(args.checkout), "rev-parse", "HEAD"], capture_output=True,
                                text=True).stdout.strip() or None
    except OSError:
        commit = None
    reached = [r["updates_to_99_val"] for r in runs if r["updates_to_99_val"] is not None]
    record = {"command": " ".join(shlex.quote(a) for a in ["python", *sys.argv]), "reference_commit": commit,
              "torch": torch.__version__, "environment": report.environment(), "args": {k: str(v) for k, v in vars(args).items()},
              "mean_updates_to_99_val": sum(reached) / len(reached) if reached else None, "reached": len(reached),
              "runs": runs}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        report.write_json(args.out, record)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
