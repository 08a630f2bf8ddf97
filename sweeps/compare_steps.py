"""Steps to 99% val of several sweeps and PyTorch-reference records, side by side.

    python sweeps/compare_steps.py results/steps_to_grok_cpu results/steps_to_grok_epoch_cpu \
        results/steps_to_grok_cpu/reference.json results/steps_to_grok_cpu/reference_paper_model.json

Each argument is a sweep folder (its runs' ``steps_to_99_val``) or a JSON
written by ``sweeps/reference_grok.py`` (its ``updates_to_99_val``). Prints
per source the steps by seed, mean, median and standard deviation, and a
two-sided Mann-Whitney U test of each source against the first, and where
both are grokjax sweeps of the same seeds (the same inits and splits), a
paired Wilcoxon signed-rank test; writes the same as JSON with ``--out``.
"""

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.stats import mannwhitneyu, wilcoxon

from grokjax import report


def steps_of(path: Path) -> list:
    if path.is_dir():
        rows, _, _ = report.read_sweep(path)
        return [r["steps_to_99_val"] for r in sorted(rows, key=lambda r: r["seed"])]
    return [r["updates_to_99_val"] for r in json.loads(path.read_text())["runs"]]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("sources", nargs="+", type=Path)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    got, first, first_path, first_steps = [], None, None, None
    for path in args.sources:
        steps = steps_of(path)
        done = np.array([s for s in steps if s is not None], dtype=float)
        row = {"source": str(path), "steps_to_99_val": steps, "reached": len(done), "mean": round(float(done.mean()), 1),
               "median": float(np.median(done)), "std": round(float(done.std(ddof=1)), 1) if len(done) > 1 else None}
        if first is None:
            first, first_path, first_steps = done, path, steps
        else:
            row["ratio_of_means_to_first"] = round(float(done.mean() / first.mean()), 3)
            row["mann_whitney_p_vs_first"] = round(float(mannwhitneyu(first, done, alternative="two-sided").pvalue), 4)
            if path.is_dir() and first_path.is_dir() and len(steps) == len(first_steps) and None not in steps + first_steps:
                row["wilcoxon_p_paired_vs_first"] = round(float(wilcoxon(first_steps, steps).pvalue), 4)
        got.append(row)
        extra = "" if first is done else f", {row['ratio_of_means_to_first']}x the first (Mann-Whitney p = {row['mann_whitney_p_vs_first']}"
        extra += f"; paired Wilcoxon p = {row['wilcoxon_p_paired_vs_first']})" if "wilcoxon_p_paired_vs_first" in row else (")" if extra else "")
        print(f"{path}: {steps}; mean {row['mean']}, median {row['median']}, sd {row['std']}{extra}")
    if args.out:
        report.write_json(args.out, {"sources": got})
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
