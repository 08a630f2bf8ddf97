#!/usr/bin/env bash
# x+y mod 97 at frac 0.5, 3,000 steps on CPU (it groks at ~2,500), then the
# table the trained network predicts (python -m grokjax.inspect --table), the
# figure committed in results/add_inspect/inspect/.
set -euo pipefail
out=${1:-results/add_inspect}
python -m grokjax.sweep --op add --fracs 0.5 --steps 3000 --no-progress --out "$out"
python -m grokjax.inspect "$out" --run 0 --table
