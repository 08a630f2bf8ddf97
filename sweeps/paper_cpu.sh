#!/usr/bin/env bash
# Power et al., figure by figure, at CPU scale: each figure's `cpu` profile
# (sweeps/fig*.toml), then `python -m grokjax.paper` draws the figure and
# judges its claim into OUT/<fig>.png and OUT/<fig>.json.
#
#   bash sweeps/paper_cpu.sh          # train what is missing, then judge all
#   bash sweeps/paper_cpu.sh judge    # judge the committed folders only (also two H100 folders)
#
# Four figures reuse sweeps made before their files existed, spec for spec:
# fig2_left's cpu profile is results/s5_variants_300 (1 h 19 min), fig1_center's
# is results/look_s5_cpu, fig3's are results/look_add_cpu and look_s5_cpu,
# fig7's is results/fig7_s5_cpu (the last four by sweeps/look_inside.sh, which
# also runs the analyses fig3 and fig7 read).
set -euo pipefail
what=${1:-all}

train() {  # train FILE OUT: a figure's cpu profile, unless OUT holds it already
  if [[ ! -f $2/runs.csv ]]; then
    python -m grokjax.sweep --spec "sweeps/$1.toml" --out "$2" --no-progress
  fi
}

if [[ $what == all ]]; then
  train fig1_left results/fig1_left_cpu      # also Figure 4
  train fig2_right results/fig2_right_cpu
  train fig6 results/fig6_cpu
fi

python -m grokjax.paper fig1_left results/fig1_left_cpu
python -m grokjax.paper fig4 results/fig1_left_cpu
python -m grokjax.paper fig1_center results/look_s5_cpu
python -m grokjax.paper fig2_left results/s5_variants_300
python -m grokjax.paper fig2_right results/fig2_right_cpu
python -m grokjax.paper fig3 results/look_add_cpu
python -m grokjax.paper fig3 results/look_s5_cpu
python -m grokjax.paper fig6 results/fig6_cpu
python -m grokjax.paper fig7 results/fig7_s5_cpu
# the earlier H100 sweeps of the same specs at 10^4-4·10^4 steps
python -m grokjax.paper fig2_left results/s5_variants_gpu_10k
python -m grokjax.paper fig1_center results/s5_mul_gpu_40k
