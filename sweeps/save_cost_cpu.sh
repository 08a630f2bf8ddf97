#!/usr/bin/env bash
# What checkpointing costs at the paper's scale (issue 4): 64 runs of the paper
# model (x+y mod 97, 8 fractions x 8 seeds), 20 steps, a checkpoint every 10
# steps. config.json's "checkpoints" has the size on disk of one checkpoint and
# the time of each save. 20 steps trains nothing; it is here to be timed.
set -euo pipefail
out=${1:-results/save_cost_cpu}
python -m grokjax.sweep --op add --fracs 0.2:0.9 --seeds 8 --steps 20 --eval-every 10 --ckpt-every 10 --no-progress --out "$out"
python - "$out" <<'PY'
import json, sys
c = json.load(open(f"{sys.argv[1]}/config.json"))
print(json.dumps({"n_runs": c["n_runs"], **c["checkpoints"], **c["timing"]}, indent=1))
PY
