#!/usr/bin/env bash
# x+y mod 97 at frac 0.5 (the quick start's sweep), 3,000 steps evaluated every
# 100 on CPU (it groks at ~2,500), then the table the trained network predicts
# (python -m grokjax.analysis table), the figure committed in results/add_inspect/analysis/.
set -euo pipefail
out=${1:-results/add_inspect}
python -m grokjax.sweep --spec sweeps/quickstart.toml --steps 3000 --eval-every 100 --no-progress --out "$out"
python -m grokjax.analysis table "$out" --runs 0
