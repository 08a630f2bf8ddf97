#!/usr/bin/env bash
# Issue 15's GPU items as one prepared script, for a session that is lent a
# GPU (15 minutes of device time, at most 10 per call): run the cheap stages
# in one call and the S5 curve in a second.
#
#   bash sweeps/gpu_issue15.sh OUT fast bench compile   # about 5 minutes on an H100
#   bash sweeps/gpu_issue15.sh OUT s5                   # the paper-scale S5 curve, target <= 5 minutes
#   bash sweeps/gpu_issue15.sh OUT attention dense      # only if device time is left: two R = 64 compiles each
#
# Stages (default: all six, in this order), each under its own time limit:
#   fast     --preset fast twice (the first compiles, the second reads the cache): steps and wall time
#   bench    model-steps/s at R = 64 and 512 (vmap), with the per-op profile
#   compile  a whole sweep's cold build at R = 64 (the <= 15 s target), in turn and side by side
#   attention  attention as multiply-and-sum (the CPU's form) against the einsums GPU programs use,
#            alternating pairs at R = 64 over vmap: whether the GPU should switch too
#   dense    linear maps on flattened rows (grokjax's form, 1.13-1.23x on a CPU) against Flax's [B, L, D]
#            form, the same pairs: whether it helps, and keeps the same bits, on a GPU too
#   s5       s5_mul, fracs 0.2-0.9 x 3 seeds, 10^5 steps, stopped once all have grokked
# Writes into OUT/<stage>/; copy what is kept into results/ with a README.
set -euo pipefail
out=${1:?usage: bash sweeps/gpu_issue15.sh OUT [fast] [bench] [compile] [attention] [dense] [s5]}
shift
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(fast bench compile attention dense s5)
for stage in "${stages[@]}"; do
  case $stage in fast|bench|compile|attention|dense|s5) ;; *) echo "error: unknown stage '$stage' (fast, bench, compile, attention, dense, s5)" >&2; exit 2 ;; esac
done
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > /dev/null 2>&1 || echo "warning: no nvidia-smi; is this a GPU machine?" >&2
for stage in "${stages[@]}"; do
  mkdir -p "$out/$stage"
  echo "== $stage ($(date -u +%H:%M:%S))"
  case $stage in
    fast)
      for run in first second; do  # the first fills the compile cache (cold on a fresh machine), the second reads it
        start=$(date +%s%N)
        timeout 120 python -m grokjax.sweep --preset fast --out "$out/fast/$run" --no-progress
        echo "$run: $(( ($(date +%s%N) - start) / 1000000 )) ms wall" | tee -a "$out/fast/wall.txt"
      done ;;
    bench)
      timeout 240 python -m grokjax.bench --runs 64,512 --run-axis vmap --steps 200 --profile --no-reference \
        --json > "$out/bench/vmap.json"
      python -m grokjax.bench --read "$out/bench/vmap.json" ;;
    compile)
      timeout 240 python sweeps/compile_cost.py "$out/compile/sweep_build.json" --runs 64 --only-sweep --repeats 1 ;;
    attention)
      timeout 240 python sweeps/options_ab.py "$out/attention/r64_vmap.json" --attention sum --runs 64 --run-axis vmap \
        --steps 50 --pairs 10 ;;
    dense)
      timeout 240 python sweeps/options_ab.py "$out/dense/r64_vmap.json" --dense batched --runs 64 --run-axis vmap \
        --steps 50 --pairs 10 ;;
    s5)
      timeout 560 python -m grokjax.sweep --spec sweeps/s5_mul.toml --profile paper_gpu --out "$out/s5/s5_mul_gpu_paper" \
        --no-progress ;;
  esac
done
