#!/usr/bin/env bash
# The sweeps behind the README's "Looking inside a run", then every analysis
# of each (python -m grokjax.analysis). CPU scale: about 70 minutes of training
# on a 2-core CPU in all, plus a few minutes of analyses. Each results/ folder's
# config.json records what it ran at.
#
#   bash sweeps/look_inside.sh [train|analyse|all]
#   ROOT=/tmp/look bash sweeps/look_inside.sh     # into /tmp/look/ instead of results/
#
# results/ holds the committed folders already (without their checkpoints),
# so a fresh clone re-makes them under another ROOT.
set -euo pipefail
what=${1:-all}
root=${ROOT:-results}

if [[ $what == train || $what == all ]]; then
  # Nanda et al.'s recipe (1 layer, no LayerNorm, x+y mod 113, 30%, full
  # batch, weight decay 1), a checkpoint every 500 steps for the Fourier
  # progress measures: 40 checkpoints of 2.6 MB (not in git).
  python -m grokjax.sweep --preset nanda --steps 20000 --ckpt-every 500 --ckpt-keep 1000 \
    --out $root/nanda_add113_cpu --no-progress
  # The paper's model and optimizer on x+y mod 97: two fractions, two seeds.
  python -m grokjax.sweep --op add --fracs 0.3,0.5 --seeds 2 --steps 3000 --ckpt-every 500 --ckpt-keep 100 \
    --out $root/look_add_cpu --no-progress
  # S5 at four fractions × two seeds, 3,000 steps: half of them have grokked.
  python -m grokjax.sweep --op s5_mul --fracs 0.6:0.9 --seeds 2 --steps 3000 --ckpt-every 500 --ckpt-keep 100 \
    --out $root/look_s5_cpu --no-progress
  # Figure 7's protocol: one fraction, many seeds, stopped when some have
  # grokked (2,000 steps gave 2 of 8, so the budget was extended to 2,500).
  python -m grokjax.sweep --op s5_mul --fracs 0.8 --seeds 8 --steps 2000 --eval-every 100 \
    --out $root/fig7_s5_cpu --no-progress
  python -m grokjax.sweep --resume $root/fig7_s5_cpu --steps 2500 --no-progress
fi

if [[ $what == analyse || $what == all ]]; then
  python -m grokjax.analysis fourier $root/nanda_add113_cpu
  python -m grokjax.analysis fourier $root/look_add_cpu
  for out in $root/nanda_add113_cpu $root/look_add_cpu $root/look_s5_cpu $root/fig7_s5_cpu; do
    python -m grokjax.analysis norms "$out"
    python -m grokjax.analysis tsne "$out"
  done
  python -m grokjax.analysis tsne $root/nanda_add113_cpu --matrix embed
  # S5 coloured by A5's two cosets (even and odd permutations) as well
  python -m grokjax.analysis tsne $root/look_s5_cpu --subgroup "(0,1,2); (0,1,2,3,4)"
  for out in $root/look_s5_cpu $root/fig7_s5_cpu $root/look_add_cpu; do
    for eps in 1e-3 1e-4 1e-5; do python -m grokjax.analysis sharpness "$out" --eps $eps; done
  done
  python -m grokjax.analysis sharpness $root/nanda_add113_cpu
  python -m grokjax.analysis table $root/nanda_add113_cpu --runs 0
  python -m grokjax.analysis table $root/look_add_cpu --runs 2
  python -m grokjax.analysis table $root/look_s5_cpu --runs 7
  python sweeps/fourier_cost.py $root/nanda_add113_cpu
fi
