#!/usr/bin/env bash
# CPU benchmark of the paper config, for the README: throughput per R beside
# the PyTorch reference's step (timed in the same process when torch is
# installed), the same with XLA, its matmul library YNNPACK and PyTorch all
# limited to AVX2 (--cpu-isa avx2: what an AVX2-only CPU such as AMD Zen 3
# would run; on such a CPU it changes nothing), the run-axis and model-path
# comparison at R=8, the time to grok one run, a profile, a sweep's runs split
# one device per core, and today's code against the code the Zen 3 ran
# (f649e43), side by side. Writes JSON into $1; name the folder after the CPU
# (results/bench_cpu is the Zen 3's).
set -euo pipefail
out=${1:?usage: bash sweeps/bench_cpu.sh OUT  (e.g. results/bench_cpu_<cpu>)}
mkdir -p "$out"
python -m grokjax.bench --runs 1,8,64 --steps 10 --repeats 3 --no-compile-cache --json > "$out/runs.json"  # cold compile times
python -m grokjax.bench --runs 1,8,64 --steps 10 --repeats 3 --no-compile-cache --cpu-isa avx2 --json \
  > "$out/runs_avx2.json" || { rm -f "$out/runs_avx2.json"; echo "AVX2 rows skipped (the error above)" >&2; }
# the same math with more arithmetic: the answer path (3.36 GFLOP a step) beside the factorized default (1.98)
# and the reference (every position, 4.99), all in one process
python -m grokjax.bench --runs 1 --model-path factorized,answer --steps 10 --repeats 3 --no-compile-cache \
  --json > "$out/paths.json"
python -m grokjax.bench --runs 8 --run-axis map,vmap,map:4 --model-path factorized,answer --steps 10 --repeats 2 \
  --no-reference --json > "$out/options.json"
python -m grokjax.bench --time-to-grok --json > "$out/time_to_grok.json"
python -m grokjax.bench --runs 1 --steps 20 --repeats 1 --profile --no-reference --json > "$out/profile.json"
# one forced host device per core: a sweep's runs split over the cores (results/bench_cpu_zen4/devices/)
cores=$(python -c "import os; print(len(os.sched_getaffinity(0)))")
XLA_FLAGS=--xla_force_host_platform_device_count=$cores python -m grokjax.bench \
  --runs $((cores * 4)),$((cores * 32)) --devices 1,$cores \
  --steps 10 --repeats 3 --json > "$out/devices.json" || { rm -f "$out/devices.json"; echo "device rows skipped" >&2; }
python -m grokjax.bench --read "$out"/*.json
# the code the Zen 3 ran against this checkout's, each commit's own benchmark in alternating processes
python sweeps/bench_commits.py "$out/commits.json" --base f649e43 --pairs 4 \
  || echo "commit comparison skipped (the error above; it needs a git checkout)" >&2
