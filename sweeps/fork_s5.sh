#!/usr/bin/env bash
# What-ifs from a saved step (README: "Late collapses" → "What if, from a
# saved step"). S5 at 90%, seed 0 (results/fig3_s5_long_cpu) collapsed for good at
# step 33,690 and stayed at chance to step 100,000 with weight decay 1. It is
# trained again, the same run bit for bit, to step 34,000 with a checkpoint every
# 500 steps; then python -m grokjax.sweep --fork continues it from before and
# after the collapse with one number changed, at the sweep's full speed.
#
#   bash sweeps/fork_s5.sh [ROOT]    (ROOT: results; about 2.5 hours on 2 cores)
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

# The same what-if on Figure 3's two other networks that never recovered: x+y mod 97 at
# 50%, seed 1 (fell at 16,500), and S5's seed 1 (fell at 66,752), from the first saved
# step after their fall, with weight decay off or at a tenth
fig3() { python -m grokjax.sweep --spec sweeps/fig3.toml --ckpt-every 500 --ckpt-keep 100 --no-progress "$@"; }
ADD=$ROOT/fork_src_add_seed1_cpu
fig3 --profile add_cpu_long --first-seed 1 --steps 17000 --out "$ADD"
python -m grokjax.sweep --fork "$ADD" --no-progress --at 17000 --weight-decay 0 --steps 30000 --out "$ROOT/fork_add_seed1_17000_wd0_cpu"
python -m grokjax.sweep --fork "$ADD" --no-progress --at 17000 --weight-decay 0.1 --steps 30000 --out "$ROOT/fork_add_seed1_17000_wd0.1_cpu"
S5B=$ROOT/fork_src_s5_seed1_cpu
fig3 --profile s5_cpu_long --first-seed 1 --steps 67000 --out "$S5B"
python -m grokjax.sweep --fork "$S5B" --no-progress --at 67000 --weight-decay 0 --steps 90000 --out "$ROOT/fork_s5_seed1_67000_wd0_cpu"
python -m grokjax.sweep --fork "$S5B" --no-progress --at 67000 --weight-decay 0.1 --steps 90000 --out "$ROOT/fork_s5_seed1_67000_wd0.1_cpu"
python sweeps/fork_summary.py "$ROOT"/fork_add_seed1_17000_{wd0,wd0.1}_cpu \
    --plot "$ROOT/fork_add_seed1_17000_wd0_cpu/forks.png"
python sweeps/fork_summary.py "$ROOT"/fork_s5_seed1_67000_{wd0,wd0.1}_cpu --baseline results/fig3_s5_long_seed1_cpu \
    --plot "$ROOT/fork_s5_seed1_67000_wd0_cpu/forks.png"
