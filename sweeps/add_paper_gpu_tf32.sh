#!/usr/bin/env bash
# sweeps/add_paper_gpu.sh with TF32 matmuls: does rounding change the curves?
set -euo pipefail
python -m grokjax.sweep --op add --fracs 0.1:0.9 --seeds 3 --steps 20000 --eval-every 200 --matmul-precision tensorfloat32 --no-progress --out "${1:-results/add_gpu_20k_tf32}"
