#!/usr/bin/env bash
# Omnigrok (Liu et al. 2022) on the paper's transformer, x+y mod 97 at frac 0.3:
# init scale α ∈ {0.5, 1} × weight decay γ ∈ {0.3, 1, 3} × weight norm
# unconstrained (0) or held at 58 (about half the α = 1 initial norm of 117,
# Omnigrok §5 / Figure 7b), 2 seeds, 40,000 steps. Omnigrok's claims to check:
# the time to generalize falls as 1/γ, and holding the norm small removes the
# gap between fitting and generalizing. About 5 minutes on one H100.
set -euo pipefail
python -m grokjax.sweep --op add --fracs 0.3 --seeds 2 --init-scale 0.5,1 --weight-decay 0.3,1,3 --weight-norm 0,58 --steps 40000 --eval-every 200 --no-progress --out "${1:-results/omnigrok_add_gpu_40k}"
