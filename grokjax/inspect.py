"""``python -m grokjax.inspect <out> --run i``: open one trained run of a sweep.

Prints the run's settings and its train and val accuracy, evaluated afresh
from its checkpointed params (and the accuracy curves.csv recorded at that
step, to compare). ``--table`` draws the operation table the network
predicts, validation cells marked, like Figure 1 (right) of Power et al.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from grokjax import checkpoint, engine
from grokjax.checkpoint import CheckpointError
from grokjax.cli import Parser, UsageError, os_error_line


def recorded_row(out: Path, run: int, step: int) -> dict | None:
    """curves.csv's row for this run at this step, if the sweep wrote one."""
    from grokjax import report

    path = Path(out) / "curves.csv"
    if not path.is_file():
        return None
    for row in report.read_csv(path):
        if int(row["run"]) == run and int(row["step"]) == step:
            return row
    return None


def make_parser() -> Parser:
    p = Parser(
        prog="python -m grokjax.inspect",
        description="Load one run of a sweep from its orbax checkpoint: print its settings and accuracy, "
                    "and with --table draw the operation table it predicts.",
    )
    p.add_argument("out", type=Path, help="the sweep's folder (what --out named)")
    p.add_argument("--run", type=int, required=True, help="run index, the 'run' column of runs.csv")
    p.add_argument("--step", type=int, help="checkpoint step (default: the latest readable one)")
    p.add_argument("--table", action="store_true", help="draw the predicted operation table as a PNG under "
                   "<out>/analysis/ (the same as python -m grokjax.analysis table <out> --runs i)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = make_parser().parse_args(argv)
        loaded = checkpoint.load(args.out, args.run, args.step)
        if args.table and loaded.config.task.name != "table":
            raise UsageError(f"--table draws an operation table; run {args.run} learns the "
                             f"{loaded.config.task.name} task")
    except (UsageError, CheckpointError) as e:
        return UsageError(str(e)).report("grokjax.inspect")
    got = engine.evaluate_run(loaded.config, loaded.run, loaded.params)
    m = got["metrics"]
    task = loaded.config.task
    print(f"run {args.run} of {args.out} at step {loaded.step} ({task.describe()})")
    first = ("run", "frac", "seed", "n_train", "lr", "weight_decay", "full_batch")
    for k in [*first, *(k for k in loaded.run if k not in first and k not in task.columns())]:
        print(f"  {k:18s} {loaded.run[k]}")
    from grokjax.report import fmt

    dtype = np.float64 if loaded.config.x64 else np.float32  # printed as the tables print it
    print(f"  {'train_acc':18s} {fmt(dtype(m['train_acc']))}")
    print(f"  {'val_acc':18s} {fmt(dtype(m['val_acc']))}")
    rec = recorded_row(args.out, args.run, loaded.step)
    if rec is not None:
        print(f"  (curves.csv at step {loaded.step}: train_acc {rec['train_acc']}, val_acc {rec['val_acc']})")
    if args.table:  # moved: the analysis draws it (for any runs at once)
        from grokjax.analysis import table

        try:
            table.run(args.out, [args.run], loaded.step)
        except OSError as e:
            return UsageError(os_error_line(e)).report("grokjax.inspect")
        print(f"wrote {Path(args.out) / 'analysis'}/table_step{loaded.step}_runs{args.run}.png "
              f"(the same as: python -m grokjax.analysis table {args.out} --runs {args.run} --step {loaded.step})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
