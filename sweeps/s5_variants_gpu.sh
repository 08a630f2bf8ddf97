#!/usr/bin/env bash
# Figure 2 (left) of Power et al. on a GPU: the nine optimizer variants on S5
# products, fracs 0.3, 0.5, 0.7, 0.9, one seed, 10,000 steps evaluated every
# 250 (the paper: 10^5 steps, 3 seeds). Two compiled programs (minibatch and
# full batch). About 9 minutes on one H100.
set -euo pipefail
python -m grokjax.sweep --op s5_mul --variant all --fracs 0.3:0.9:0.2 --seeds 1 --steps 10000 --eval-every 250 --no-progress --out "${1:-results/s5_variants_gpu_10k}"
