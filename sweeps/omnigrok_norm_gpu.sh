#!/usr/bin/env bash
# Omnigrok §5 (Figure 7b) follow-up to omnigrok_add_gpu.sh: x+y mod 97 at frac
# 0.3 with the total weight norm held at 20, 30 or 40 from the first step (the
# generalizing runs of omnigrok_add_gpu end at 26 to 43; initialization is 117),
# weight decay 0 or 1, 2 seeds, 20,000 steps evaluated every 100. Rescaling
# every parameter at once is the same as a smaller init scale α = w / 117.
# About 3 minutes on one H100.
set -euo pipefail
python -m grokjax.sweep --op add --fracs 0.3 --seeds 2 --weight-decay 0,1 --weight-norm 20,30,40 --steps 20000 --eval-every 100 --no-progress --out "${1:-results/omnigrok_norm_gpu_20k}"
