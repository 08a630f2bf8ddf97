set -x
cd /work/main
/usr/bin/time -f "wall %e s" python -m grokjax.sweep --spec sweeps/fast.toml --profile paper --out /tmp/zen4_fast_paper_cold --no-progress
/usr/bin/time -f "wall %e s" python -m grokjax.sweep --spec sweeps/fast.toml --profile paper --out results/cpu_zen4_runs/fast_paper_warm --no-progress
