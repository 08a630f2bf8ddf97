set -x
export GROKJAX_COMPILE_CACHE=/tmp/zen4_cache
rm -rf /tmp/zen4_cache /tmp/zen4_qs1 /tmp/zen4_qs2 /tmp/zen4_fast*
/usr/bin/time -f "wall %e s" python -m grokjax.sweep --spec sweeps/quickstart.toml --out /tmp/zen4_qs1
/usr/bin/time -f "wall %e s" python -m grokjax.sweep --spec sweeps/quickstart.toml --out /tmp/zen4_qs2
/usr/bin/time -f "wall %e s" python -m grokjax.sweep --preset fast --out /tmp/zen4_fast_cold1
/usr/bin/time -f "wall %e s" python -m grokjax.sweep --preset fast --out /tmp/zen4_fast_warm1
/usr/bin/time -f "wall %e s" python -m grokjax.sweep --preset fast --out /tmp/zen4_fast_warm2
/usr/bin/time -f "wall %e s" python -m grokjax.sweep --preset fast --no-compile-cache --out /tmp/zen4_fast_cold2
