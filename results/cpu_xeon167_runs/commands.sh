set -x
export GROKJAX_COMPILE_CACHE=/tmp/x167_cache
rm -rf /tmp/x167_cache /tmp/x167_*
/usr/bin/time -f "wall %e s" python -m grokjax.sweep --preset fast --no-progress --out /tmp/x167_fast_cold
/usr/bin/time -f "wall %e s" python -m grokjax.sweep --preset fast --no-progress --out /tmp/x167_fast_warm
/usr/bin/time -f "wall %e s" python -m grokjax.sweep --preset fast --no-progress --out /tmp/x167_fast_warm2
/usr/bin/time -f "wall %e s" python -m grokjax.sweep --preset fast --no-progress --no-compile-cache --out /tmp/x167_fast_nocache
/usr/bin/time -f "wall %e s" python -m grokjax.sweep --spec sweeps/quickstart.toml --no-progress --out /tmp/x167_quickstart_cold
/usr/bin/time -f "wall %e s" python -m grokjax.sweep --spec sweeps/quickstart.toml --no-progress --out /tmp/x167_quickstart_warm
/usr/bin/time -f "wall %e s" python -m grokjax.sweep --spec sweeps/fast.toml --profile paper --no-progress --out /tmp/x167_fast_paper_cold
