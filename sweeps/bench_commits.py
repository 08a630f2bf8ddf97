"""Two commits' benchmark on this machine, in alternating fresh processes.

    python sweeps/bench_commits.py OUT.json --base COMMIT [--head COMMIT] [--pairs 4]
        [--cpu-isa avx2] [--bench-args "--runs 1 --steps 10 --repeats 3"]

Speed figures from two machines never compare (each session's CPU differs,
and one CPU drifts by ±20% within an hour), so a change's effect on speed
is measured here, side by side: each commit's ``grokjax`` package is
extracted from git (``git archive``, into a temporary folder; the work
tree is not touched) and its own ``python -m grokjax.bench ... --json``
runs in a fresh process, base and head in turn, ``--pairs`` times. Reports
each commit's model-steps/s per pair and R, the head/base ratio per pair,
their median, and a Wilcoxon signed-rank test of ratio = 1.

``--cpu-isa avx2`` applies today's ``grokjax.cpu_isa`` limit (XLA, YNNPACK
and PyTorch held to AVX2) in each child before it imports the commit's
package, so commits that predate the flag run under it too. The benchmark
arguments must be ones both commits' ``grokjax.bench`` accept; the default
is the set the earliest benchmark knew.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
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


def cases(doc: dict) -> dict:
    """``{R: model-steps/s}`` of one benchmark's JSON (every benchmark version writes ``cases``)."""
    return {int(c["runs"]): float(c["model_steps_per_s"]) for c in doc["cases"]}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3] or None, sys.argv[4:])
        return 0
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="JSON file to write")
    p.add_argument("--base", required=True, help="the earlier commit")
    p.add_argument("--head", default="HEAD", help="the later commit (default HEAD)")
    p.add_argument("--pairs", type=int, default=4, help="alternating base/head processes (default 4)")
    p.add_argument("--cpu-isa", choices=("avx2",), help="limit XLA, YNNPACK and PyTorch to this ISA in every child")
    p.add_argument("--bench-args", default="--runs 1 --steps 10 --repeats 3",
                   help="arguments for both commits' grokjax.bench (default: %(default)s)")
    args = p.parse_args()
    if args.pairs < 1:
        p.error("--pairs must be at least 1")
    if Path(args.out).exists():
        p.error(f"{args.out} exists; give a new file")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)

    from scipy.stats import wilcoxon

    from grokjax import report

    bench_args = shlex.split(args.bench_args)
    with tempfile.TemporaryDirectory(prefix="grokjax-bench-commits-") as tmp:
        roots = {}
        for name, commit in (("base", args.base), ("head", args.head)):
            roots[name] = (extract(commit, Path(tmp) / name), str(Path(tmp) / name))
        rates = {"base": [], "head": []}
        envs = {}
        for i in range(args.pairs):
            for name, (full, root) in roots.items():
                cmd = [sys.executable, str(HERE), "--child", root, args.cpu_isa or "", *bench_args]
                # out of the repository, so that neither the work tree nor an editable install shadows the commit's package
                run = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp,
                                     env={**os.environ, "PYTHONPATH": root})
                if run.returncode:
                    tail = (run.stderr.strip().splitlines() or ["(no output)"])[-1]
                    print(f"error: the benchmark of {name} ({full[:8]}) failed: {tail}", file=sys.stderr)
                    return 1
                doc = json.loads(run.stdout)
                rates[name].append(cases(doc))
                envs[name] = doc.get("environment", {})
                limits = [line.split(" ", 1)[1] for line in run.stderr.splitlines() if line.startswith("cpu_isa_limit ")]
                if limits:
                    envs[name]["cpu_isa_limit"] = json.loads(limits[-1])
                print(f"pair {i + 1}/{args.pairs} {name} {full[:8]}: "
                      + ", ".join(f"R={r} {v:.2f}" for r, v in rates[name][-1].items()) + " model-steps/s",
                      file=sys.stderr, flush=True)
    summary = {}
    for r in rates["base"][0]:
        ratio = [h[r] / b[r] for b, h in zip(rates["base"], rates["head"])]
        summary[str(r)] = {
            "base": [round(b[r], 2) for b in rates["base"]],
            "head": [round(h[r], 2) for h in rates["head"]],
            "head_over_base": [round(x, 3) for x in ratio],
            "median_ratio": round(statistics.median(ratio), 3),
            "wilcoxon_p": round(float(wilcoxon([x - 1 for x in ratio]).pvalue), 4) if len(ratio) > 1 else None,
        }
    doc = {"command": "python sweeps/bench_commits.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
           "base": roots["base"][0], "head": roots["head"][0], "cpu_isa": args.cpu_isa,
           "bench_args": bench_args, "pairs": args.pairs, "by_runs": summary,
           "environment": report.environment(), "child_environment": envs}
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
    for r, s in summary.items():
        print(f"R={r}: head/base per pair {s['head_over_base']}, median {s['median_ratio']}, Wilcoxon p {s['wilcoxon_p']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
