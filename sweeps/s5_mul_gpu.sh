#!/usr/bin/env bash
# Products in S5 (the paper's hardest family, Figure 2 right): fractions
# 0.2..0.9, 2 seeds, 40,000 steps (the paper: 10^5, 3 seeds), evaluated every 500.
set -euo pipefail
python -m grokjax.sweep --op s5_mul --fracs 0.2:0.9 --seeds 2 --steps 40000 --eval-every 500 --no-progress --out "${1:-results/s5_mul_gpu_40k}"
