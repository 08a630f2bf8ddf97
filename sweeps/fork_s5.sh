#!/usr/bin/env bash
# What-ifs from a saved step (README: "Late collapses" → "What if, from a
# saved step"). S5 at 90%, seed 0 (results/fig3_s5_long_cpu) collapsed for good at
# step 33,690 and stayed at chance to step 100,000 with weight decay 1. It is
# trained again, the same run bit for bit, to step 34,000 with a checkpoint every
# 500 steps; then python -m grokjax.sweep --fork continues it from before and
# after the collapse with one number changed, at the sweep's full speed.
#
#   bash sweeps/fork_s5.sh [ROOT]    (ROOT: results; about 80 minutes on 2 cores)
#
# Checkpoints stay out of git.
set -euo pipefail
ROOT=${1:-results}
SRC=$ROOT/fork_src_s5_cpu
fork() { python -m grokjax.sweep --fork "$SRC" --no-progress "$@"; }

python -m grokjax.sweep --spec sweeps/fig3.toml --profile s5_cpu_long --steps 34000 --ckpt-every 500 --ckpt-keep 100 \
    --no-progress --out "$SRC"
# a control: nothing changed, from before the collapse; its evaluations (every 500 steps, as the
# source's) must equal fig3_s5_long_cpu's to step 36,000
fork --at 33500 --steps 36000 --out "$ROOT/fork_s5_control_cpu"
# before the collapse (33,500), without weight decay, or at a third of the learning rate
fork --at 33500 --weight-decay 0 --steps 40000 --out "$ROOT/fork_s5_33500_wd0_cpu"
fork --at 33500 --lr 3e-4 --steps 40000 --out "$ROOT/fork_s5_33500_lr3e-4_cpu"
# after it (34,000: input-blind), without weight decay, and with a tenth of it
fork --at 34000 --weight-decay 0 --steps 60000 --out "$ROOT/fork_s5_34000_wd0_cpu"
fork --at 34000 --weight-decay 0.1 --steps 60000 --out "$ROOT/fork_s5_34000_wd0.1_cpu"
# the two from 33,500 extended to 60,000 (a fork resumes like any sweep)
python -m grokjax.sweep --resume "$ROOT/fork_s5_33500_wd0_cpu" --steps 60000 --no-progress
python -m grokjax.sweep --resume "$ROOT/fork_s5_33500_lr3e-4_cpu" --steps 60000 --no-progress
python sweeps/fork_summary.py "$ROOT"/fork_s5_{control,33500_wd0,33500_lr3e-4,34000_wd0,34000_wd0.1}_cpu \
    --baseline results/fig3_s5_long_cpu --plot "$ROOT/fork_s5_34000_wd0_cpu/forks.png"
