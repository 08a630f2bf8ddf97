#!/usr/bin/env bash
# x+y mod 97, fractions 0.3..0.7, 2 seeds, paper defaults (AdamW lr 1e-3, wd 1,
# batch min(512, n/2)). Paper scale: 3 seeds, 10^5 steps; this is CPU scale:
# the default budget of `python -m grokjax.sweep`.
set -euo pipefail
python -m grokjax.sweep --op add --fracs 0.3:0.7 --seeds 2 --out "${1:-results/add_data_efficiency}"
