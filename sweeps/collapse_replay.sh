#!/usr/bin/env bash
# Late collapses, update by update (README: "Late collapses"). Figure 3's networks
# trained 10^5 steps that never recovered (results/fig3_s5_long_cpu, its seed 1, and
# seed 1 of results/fig3_add_long_2seeds_cpu) are trained again, the same runs bit
# for bit, to just past their last collapse with a checkpoint every 500 steps; then
# python -m grokjax.analysis replay takes every update around it again, measured.
#
#   bash sweeps/collapse_replay.sh [ROOT]    (ROOT: results; about 90 minutes on 2 cores)
#
# Each replay ends on a saved step, so its JSON says whether the replayed state is
# that checkpoint, bit for bit. Checkpoints stay out of git.
set -euo pipefail
ROOT=${1:-results}
fig3() { python -m grokjax.sweep --spec sweeps/fig3.toml --ckpt-every 500 --no-progress "$@"; }
replay() { python -m grokjax.analysis replay --no-progress "$@"; }

# S5 at 90%, seed 0: collapsed for good at step 33,690; at step 28,000 it had
# fallen to chance as well, and recovered
S5=$ROOT/collapse_replay_s5_cpu
fig3 --profile s5_cpu_long --steps 36000 --out "$S5"
replay "$S5" --step 33500 --leaves                 # the collapse it never left
replay "$S5" --step 27500 --updates 1000 --leaves  # one it recovered from
replay "$S5" --step 35500                          # the state it stayed in
replay "$S5" --step 34000 --updates 4000 --set weight_decay=0  # a what-if: that state without weight decay

# S5 at 90%, seed 1: collapsed for good between steps 66,500 and 67,000
S5B=$ROOT/collapse_replay_s5_seed1_cpu
fig3 --profile s5_cpu_long --first-seed 1 --steps 67500 --out "$S5B"
replay "$S5B" --step 66500 --leaves

# x+y mod 97 at 50%, seed 1: lost its training set for good at step 16,500
ADD=$ROOT/collapse_replay_add_seed1_cpu
fig3 --profile add_cpu_long --first-seed 1 --steps 17000 --out "$ADD"
replay "$ADD" --step 16000 --leaves
