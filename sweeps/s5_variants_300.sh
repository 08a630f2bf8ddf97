#!/usr/bin/env bash
# Figure 2 (left) of Power et al. at CPU scale: the nine optimizer variants on
# S5 products, fracs 0.3, 0.5, 0.7, 0.9, one seed, 300 steps (issue 3's check).
# Paper scale: 10^5 steps, 3 seeds. At 300 steps no variant is expected to
# generalize; this shows the whole figure runs as two compiled programs.
set -euo pipefail
python -m grokjax.sweep --op s5_mul --variant all --fracs 0.3:0.9:0.2 --seeds 1 --steps 300 --out "${1:-results/s5_variants_300}"
