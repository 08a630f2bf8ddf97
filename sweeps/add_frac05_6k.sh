#!/usr/bin/env bash
# x+y mod 97 at frac 0.5, one seed, 6,000 steps, paper defaults: how long the
# paper model takes to generalize on this implementation. Paper: 10^5 steps, 3 seeds.
set -euo pipefail
python -m grokjax.sweep --op add --fracs 0.5 --steps 6000 --eval-every 100 --out "${1:-results/add_frac05_6k}"
