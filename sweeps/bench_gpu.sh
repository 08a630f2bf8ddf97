#!/usr/bin/env bash
# GPU benchmark of the paper config (issue 5): run axis, model path, matmul
# precision, and the time to grok one run. Writes JSON into $1 (the committed
# results/bench_gpu was made in two device calls; each line is one file).
set -euo pipefail
out=${1:-results/bench_gpu}
mkdir -p "$out"
python -m grokjax.bench --runs 1,8,64,512 --run-axis vmap --model-path factorized,answer --steps 200 --json > "$out/vmap.json"
python -m grokjax.bench --time-to-grok --run-axis vmap --json > "$out/time_to_grok.json"
python -m grokjax.bench --runs 64 --run-axis vmap --matmul-precision highest,tensorfloat32,bfloat16 --steps 200 --json > "$out/precision.json"
python -m grokjax.bench --runs 8 --run-axis map --steps 50 --repeats 2 --json > "$out/map.json"
python -m grokjax.bench --read "$out"/*.json
