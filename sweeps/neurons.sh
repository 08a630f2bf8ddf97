#!/usr/bin/env bash
# Nanda et al.'s MLP neurons by frequency, over grokking, on two models:
# - neurons_nanda_cpu: their model on x+y mod 113 at 30%, 1 layer without
#   LayerNorm, their init, learned positions, MLP biases, full batch, weight
#   decay 1 (the profile nanda_free_cpu of sweeps/omnigrok_norm.toml, 1 seed,
#   10,000 steps: it groks near step 7,500), a checkpoint every 250 steps
#   (40 of 2.6 MB, not in git);
# - neurons_add97_cpu: the paper's 2-layer model on x+y mod 97, fracs 0.3 and
#   0.5 × 2 seeds, 3,000 steps, a checkpoint every 500 (the command of
#   results/look_add_cpu, trained again with checkpoints on this machine);
# - neurons_nanda_held_cpu: their model with the weight norm held at 33.9 and
#   no weight decay (Omnigrok Figure 7b, the profile nanda_held_cpu with
#   learned positions and MLP biases), seeds 0 and 1 (seed 1 groks by step
#   450, seed 0 not within 2,000), a checkpoint every 100 steps;
# - neurons_nanda_preset_cpu: --preset nanda (their recipe on the paper's
#   model: fixed positions, no biases, PyTorch's init), 20,000 steps, a
#   checkpoint every 500 (the command of results/nanda_add113_cpu, trained
#   again here);
# then the neurons and the Fourier measures at every saved step.
# About 40 minutes of training and 4 of analyses on a 2-core CPU.
#
#   bash sweeps/neurons.sh [train|analyse|all]
#   ROOT=/tmp/look bash sweeps/neurons.sh     # into /tmp/look/ instead of results/
#
# results/ holds the committed folders already (without their checkpoints),
# so a fresh clone re-makes them under another ROOT.
set -euo pipefail
what=${1:-all}
root=${ROOT:-results}

if [[ $what == train || $what == all ]]; then
  python -m grokjax.sweep --spec sweeps/omnigrok_norm.toml --profile nanda_free_cpu --seeds 1 --steps 10000 \
    --ckpt-every 250 --ckpt-keep 1000 --out $root/neurons_nanda_cpu --no-progress
  python -m grokjax.sweep --op add --fracs 0.3,0.5 --seeds 2 --steps 3000 --ckpt-every 500 --ckpt-keep 100 \
    --out $root/neurons_add97_cpu --no-progress
  python -m grokjax.sweep --spec sweeps/omnigrok_norm.toml --profile nanda_held_cpu --positions learned --mlp-bias \
    --seeds 2 --ckpt-every 100 --ckpt-keep 1000 --out $root/neurons_nanda_held_cpu --no-progress
  python -m grokjax.sweep --preset nanda --steps 20000 --ckpt-every 500 --ckpt-keep 1000 \
    --out $root/neurons_nanda_preset_cpu --no-progress
fi

if [[ $what == analyse || $what == all ]]; then
  for out in $root/neurons_nanda_cpu $root/neurons_add97_cpu $root/neurons_nanda_held_cpu \
      $root/neurons_nanda_preset_cpu; do
    python -m grokjax.analysis neurons "$out"
    python -m grokjax.analysis fourier "$out"
  done
fi
