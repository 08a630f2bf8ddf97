"""Two commits' benchmark on this machine, in alternating fresh processes.

    python sweeps/bench_commits.py OUT.json --base COMMIT [--head COMMIT] [--pairs 4]
        [--cpu-isa avx2] [--bench-args "--runs 1 --steps 10 --repeats 3"]

Speed figures from two machines never compare (each session's CPU differs,
and one CPU drifts by ±20% within an hour), so a change's effect on speed
is measured here, side by side: each commit's ``grokjax`` package is
extracted from git (``git archive``, into a temporary folder; the work
tree is not touched) and its own ``python -m grokjax.bench ... --json``
runs in a fresh process, base and head, ``--pairs`` times, the order
alternating pair by pair. Reports each commit's model-steps/s per pair and
R, the head/base ratio per pair, their median, quartiles and range, and a
Wilcoxon signed-rank test of ratio = 1.

``--cpu-isa avx2`` applies today's ``grokjax.cpu_isa`` limit (XLA, YNNPACK
and PyTorch held to AVX2) in each child before it imports the commit's
package, so commits that predate the flag run under it too. The benchmark
arguments must be ones both commits' ``grokjax.bench`` accept (the default
is accepted by every version since the benchmark began) and give one case
per number of runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve()


def child(package_root: str, isa: str | None, bench_args: list[str]) -> None:
    """In this process: limit the ISA (today's code), then run the commit's benchmark."""
    import importlib.util
    import runpy

    if isa:  # loaded by path so that the commit's own grokjax package is the one imported below
        spec = importlib.util.spec_from_file_location("grokjax_cpu_isa_now", ROOT / "grokjax" / "cpu_isa.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
        print("cpu_isa_limit " + json.dumps(mod.limit(isa)), file=sys.stderr, flush=True)  # raises where refused
    sys.path.insert(0, package_root)
    sys.argv = ["grokjax.bench", *bench_args, "--json"]
    runpy.run_module("grokjax.bench", run_name="__main__", alter_sys=True)


def extract(commit: str, dest: Path) -> str:
    """The commit's full hash, its ``grokjax`` folder written under ``dest``."""
    full = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{commit}^{{commit}}"],
                          capture_output=True, text=True)
    if full.returncode:
        raise SystemExit(f"error: {commit!r} is not a commit of {ROOT}")
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", full.stdout.strip(), "grokjax"], capture_output=True)
    if archive.returncode:
        raise SystemExit(f"error: git archive {commit}: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return full.stdout.strip()


class BenchError(Exception):
    """A child's benchmark that cannot be compared: its message is the one-line error."""


def cases(doc) -> dict:
    """``{R: model-steps/s}`` of one benchmark's JSON (every benchmark
    version writes ``cases``); one case per R, else the pairs are ambiguous."""
    if not isinstance(doc, dict) or not isinstance(doc.get("cases"), list) or not doc["cases"]:
        raise BenchError("its output has no cases (--time-to-grok and --read are not timings to compare)")
    by_runs = {}
    for c in doc["cases"]:
        r = int(c["runs"])
        if r in by_runs:
            raise BenchError(f"two cases at R = {r}: give --bench-args one case per number of runs "
                             "(one --run-axis, --model-path, --matmul-precision and --devices)")
        by_runs[r] = float(c["model_steps_per_s"])
    return by_runs


def summarize(rates: dict) -> dict:
    """Per R: each commit's model-steps/s per pair and the head/base ratios
    (``grokjax.bench.paired_ratios``)."""
    from grokjax import bench

    if any(set(h) != set(b) for b, h in zip(rates["base"], rates["head"])):
        raise BenchError("the two commits timed different numbers of runs")
    return {str(r): {"base": [round(b[r], 2) for b in rates["base"]],
                     "head": [round(h[r], 2) for h in rates["head"]],
                     "head_over_base": bench.paired_ratios([h[r] / b[r] for b, h in zip(rates["base"], rates["head"])])}
            for r in rates["base"][0]}


def run_child(root: str, full: str, isa: str | None, bench_args: list[str], cwd: str) -> tuple[dict, dict]:
    """One fresh process of the commit's benchmark: ``({R: model-steps/s}, its environment)``."""
    cmd = [sys.executable, str(HERE), "--child", root, isa or "", *bench_args]
    # out of the repository, so that neither the work tree nor an editable install shadows the commit's package
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env={**os.environ, "PYTHONPATH": root})
    if run.returncode:
        tail = (run.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise BenchError(f"its benchmark exited with {run.returncode}: {tail}")
    try:
        doc = json.loads(run.stdout)
    except ValueError:
        raise BenchError("its benchmark printed no JSON") from None
    env = {**doc.get("environment", {}), "git_commit": full}  # the child runs from an archive, without git
    limits = [line.split(" ", 1)[1] for line in run.stderr.splitlines() if line.startswith("cpu_isa_limit ")]
    if limits:
        env["cpu_isa_limit"] = json.loads(limits[-1])
    return cases(doc), env


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3] or None, sys.argv[4:])
        return 0
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="JSON file to write")
    p.add_argument("--base", required=True, help="the earlier commit")
    p.add_argument("--head", default="HEAD", help="the later commit (default HEAD)")
    p.add_argument("--pairs", type=int, default=4,
                   help="pairs of processes, base and head, the order alternating pair by pair (default 4)")
    p.add_argument("--cpu-isa", choices=("avx2",), help="limit XLA, YNNPACK and PyTorch to this ISA in every child")
    p.add_argument("--bench-args", default="--runs 1 --steps 10 --repeats 3",
                   help="arguments both commits' grokjax.bench accept, one case per number of runs "
                        "(default: %(default)s)")
    args = p.parse_args()
    if args.pairs < 1:
        p.error("--pairs must be at least 1")
    if Path(args.out).exists():
        p.error(f"{args.out} exists; give a new file")

    from grokjax import report

    env = report.environment()  # this process's, before the children run: the commit this command ran from
    bench_args = shlex.split(args.bench_args)
    rates, envs = {"base": [], "head": []}, {}
    with tempfile.TemporaryDirectory(prefix="grokjax-bench-commits-") as tmp:
        roots = {name: (extract(commit, Path(tmp) / name), str(Path(tmp) / name))
                 for name, commit in (("base", args.base), ("head", args.head))}
        for i in range(args.pairs):
            order = ("base", "head") if i % 2 == 0 else ("head", "base")  # so that neither always runs first
            for name in order:
                full, root = roots[name]
                try:
                    by_runs, envs[name] = run_child(root, full, args.cpu_isa, bench_args, tmp)
                except BenchError as e:
                    print(f"error: {name} ({full[:8]}): {e}", file=sys.stderr)
                    return 1
                rates[name].append(by_runs)
                print(f"pair {i + 1}/{args.pairs} {name} {full[:8]}: "
                      + ", ".join(f"R={r} {v:.2f}" for r, v in by_runs.items()) + " model-steps/s",
                      file=sys.stderr, flush=True)
    try:
        summary = summarize(rates)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    doc = {"command": "python sweeps/bench_commits.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
           "base": roots["base"][0], "head": roots["head"][0], "cpu_isa": args.cpu_isa,
           "bench_args": bench_args, "pairs": args.pairs, "order": "base first in odd pairs, head first in even",
           "by_runs": summary, "environment": env, "child_environment": envs}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
    for r, s in summary.items():
        h = s["head_over_base"]
        print(f"R={r}: head/base per pair {h['per_pair']}, median {h['median']}, Wilcoxon p {h['wilcoxon_p']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
