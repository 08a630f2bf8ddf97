#!/usr/bin/env bash
# What checkpointing costs at the paper's scale (sweeps/save_cost.toml): 64 runs
# of the paper model, 20 steps, a checkpoint every 10; prints the size of one
# checkpoint and the time of each save from config.json.
set -euo pipefail
out=${1:-results/save_cost_cpu}
python -m grokjax.sweep --spec sweeps/save_cost.toml --no-progress --out "$out"
python - "$out" <<'PY'
import json, sys
c = json.load(open(f"{sys.argv[1]}/config.json"))
print(json.dumps({"n_runs": c["n_runs"], **c["checkpoints"], **c["timing"]}, indent=1))
PY
