#!/usr/bin/env bash
# x+y mod 97 data-efficiency curve at GPU scale: fractions 0.1..0.9, 3 seeds
# (the paper's count), 20,000 steps (the paper: 10^5), evaluated every 200.
set -euo pipefail
python -m grokjax.sweep --op add --fracs 0.1:0.9 --seeds 3 --steps 20000 --eval-every 200 --no-progress --out "${1:-results/add_gpu_20k}"
