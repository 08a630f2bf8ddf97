#!/usr/bin/env bash
# CPU benchmark of the paper config (issue 5), for the README: throughput per
# R with the default settings, the run-axis and model-path comparison at R=8,
# and the time to grok one run. Writes JSON into $1.
set -euo pipefail
out=${1:-results/bench_cpu}
mkdir -p "$out"
python -m grokjax.bench --runs 1,8,64 --steps 10 --repeats 2 --json > "$out/runs.json"
python -m grokjax.bench --runs 8 --run-axis map,vmap,map:4 --model-path factorized,answer --steps 10 --repeats 2 --json > "$out/options.json"
python -m grokjax.bench --time-to-grok --json > "$out/time_to_grok.json"
python -m grokjax.bench --runs 1 --steps 20 --repeats 1 --profile --json > "$out/profile.json"
python -m grokjax.bench --read "$out"/*.json
