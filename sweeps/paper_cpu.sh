#!/usr/bin/env bash
# Power et al., figure by figure, at CPU scale: each figure's `cpu` profile
# (sweeps/fig*.toml) into results/<spec>_<profile>/, the analyses that fig3
# and fig7 read, then `python -m grokjax.paper` draws each figure and judges
# its claim into OUT/<fig>.png and OUT/<fig>.json.
#
#   bash sweeps/paper_cpu.sh          # train what is missing, analyse, judge all
#   bash sweeps/paper_cpu.sh judge    # judge the committed folders only (also two H100 folders)
#   ROOT=/tmp/paper bash sweeps/paper_cpu.sh   # train, analyse and judge under /tmp/paper/ instead
#
# results/ holds the committed folders (without checkpoints, which the t-SNE
# and sharpness analyses read), so a fresh clone trains anew under another ROOT.
#
# About 1 h 30 min of training on a 2-core CPU without fig2_left, whose cpu
# profile (36 runs, two of them full batch) takes 45-80 minutes more, and
# fig7's cpu_half and cpu_half70 (16 seeds at 80% and at 70% of the data,
# stopped once half have grokked, the paper's protocol: about 40 and 35
# minutes, plus 15-17 of sharpness each), and fig3's add_cpu_long (at 50%
# and, with --fracs 0.6, at 60%) and s5_cpu_long (at 90% and 80%; one seed
# each at the paper's 10^5 steps: about 35 minutes each), and x+y at 50% for
# seeds 0-1 (about 70 minutes) and S5 at 90% for seed 1 (40). FIG2_LEFT=0,
# FIG7_HALF=0 or FIG3_LONG=0 leaves any of them out.
set -euo pipefail
what=${1:-all}
root=${ROOT:-results}
# Figure 3 at the paper's 10^5 steps: results/fig3_<name>_cpu
fig3_long="add_long add60_long s5_long s5_80_long add_long_2seeds s5_long_seed1"

train() {  # train SPEC PROFILE: a figure's profile into $root/SPEC_PROFILE, unless it holds it already
  local out="$root/$1_$2"
  if [[ ! -f $out/runs.csv ]]; then
    python -m grokjax.sweep --spec "sweeps/$1.toml" --profile "$2" --out "$out" --no-progress
  fi
}

if [[ $what == all ]]; then
  train fig1_left cpu        # also Figure 4
  train fig7 cpu
  train fig3 add_cpu
  train fig1_center cpu
  train fig3 s5_cpu
  train fig2_right cpu
  train fig6 cpu
  train fig6 cpu_fit70       # 70% only, 8,000 steps: about 22 minutes
  # the analyses read checkpoints: a committed folder (none kept) keeps its tables
  for out in $root/fig3_add_cpu $root/fig3_s5_cpu; do
    [[ ! -d $out/checkpoints ]] || python -m grokjax.analysis tsne "$out"
  done
  if [[ -d $root/fig3_s5_cpu/checkpoints ]]; then  # S5 coloured by A5's two cosets (even and odd permutations) as well
    python -m grokjax.analysis tsne $root/fig3_s5_cpu --subgroup "(0,1,2); (0,1,2,3,4)"
  fi
  if [[ -d $root/fig7_cpu/checkpoints ]]; then
    for eps in 1e-3 1e-4 1e-5; do python -m grokjax.analysis sharpness $root/fig7_cpu --eps $eps; done
  fi
  [[ ${FIG2_LEFT:-1} == 1 ]] && train fig2_left cpu
  if [[ ${FIG7_HALF:-1} == 1 ]]; then
    for half in half half70; do  # the paper's protocol at 80% and at 70% of the data
      [[ -f $root/fig7_${half}_cpu/runs.csv ]] ||
        python -m grokjax.sweep --spec sweeps/fig7.toml --profile cpu_$half --out $root/fig7_${half}_cpu --no-progress
      for eps in 1e-3 1e-4 1e-5; do  # each unless made already: a rerun finishes what a stop left out
        tag=$(python -c "print(float('$eps'))")  # as the file names write it: 0.001, 0.0001, 1e-05
        ls $root/fig7_${half}_cpu/analysis/sharpness_step*_eps$tag.csv >/dev/null 2>&1 ||
          python -m grokjax.analysis sharpness $root/fig7_${half}_cpu --eps $eps
      done
    done
  fi
  if [[ ${FIG3_LONG:-1} == 1 ]]; then
    for name in $fig3_long; do
      out=$root/fig3_${name}_cpu
      case $name in  # the same two profiles at another fraction, or more seeds
        add60_long) args=(--profile add_cpu_long --fracs 0.6) ;;
        s5_80_long) args=(--profile s5_cpu_long --fracs 0.8) ;;
        add_long_2seeds) args=(--profile add_cpu_long --seeds 2) ;;  # seeds 0 and 1: seed 0 again, to check it repeats
        s5_long_seed1) args=(--profile s5_cpu_long --first-seed 1) ;;
        *) args=(--profile ${name%_long}_cpu_long) ;;
      esac
      [[ -f $out/runs.csv ]] ||
        python -m grokjax.sweep --spec sweeps/fig3.toml "${args[@]}" --out $out --no-progress
      # the paper's colouring (another subgroup's tables carry _H in their names)
      ls $out/analysis/tsne_unembed_step*_runs.csv 2>/dev/null | grep -qv _H || python -m grokjax.analysis tsne $out
      # every saved step, where the checkpoints are (the committed folders hold none)
      [[ -f $out/analysis/tsne_unembed_by_step.csv || ! -d $out/checkpoints ]] ||
        python -m grokjax.analysis tsne $out --every-step
    done
  fi
fi

python -m grokjax.paper fig1_left $root/fig1_left_cpu
python -m grokjax.paper fig4 $root/fig1_left_cpu
python -m grokjax.paper fig1_center $root/fig1_center_cpu
[[ -f $root/fig2_left_cpu/runs.csv ]] && python -m grokjax.paper fig2_left $root/fig2_left_cpu
python -m grokjax.paper fig2_right $root/fig2_right_cpu
python -m grokjax.paper fig3 $root/fig3_add_cpu
python -m grokjax.paper fig3 $root/fig3_s5_cpu
for name in $fig3_long; do
  [[ -f $root/fig3_${name}_cpu/runs.csv ]] && python -m grokjax.paper fig3 $root/fig3_${name}_cpu
done
python -m grokjax.paper fig6 $root/fig6_cpu
python -m grokjax.paper fig6 $root/fig6_fit70_cpu
python -m grokjax.paper fig7 $root/fig7_cpu
for half in half half70; do
  [[ -f $root/fig7_${half}_cpu/runs.csv ]] && python -m grokjax.paper fig7 $root/fig7_${half}_cpu
done
# the earlier H100 sweeps of the same specs at 10^4-4·10^4 steps (committed folders)
if [[ $root == results ]]; then
  python -m grokjax.paper fig2_left results/s5_variants_gpu_10k
  python -m grokjax.paper fig1_center results/s5_mul_gpu_40k
fi
