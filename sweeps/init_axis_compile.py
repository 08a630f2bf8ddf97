"""Would building the init with vmap instead of lax.map compile faster?

    python sweeps/init_axis_compile.py [R]

Compiles ``train.sweep_init`` of the paper config for R runs (64) under each
run axis, each in a fresh process without the persistent cache, and checks
that both give the same bits. (The answer on a 2-core Xeon: no; see README,
"Where a cold compile goes".)
"""

import os
import subprocess
import sys
import tempfile

CHILD = r'''
import sys, time, jax, numpy as np
from grokjax import train
from grokjax.config import Config, make_runs
axis, R, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cfg = Config(run_axis=axis)
d = cfg.task.data(); x = jax.numpy.asarray(d.x)
runs = make_runs(d, [dict(seed=s, frac=0.5) for s in range(R)])
t0 = time.perf_counter(); init = train.sweep_init.lower(cfg, x, runs).compile(); dt = time.perf_counter() - t0
np.save(path, np.concatenate([np.asarray(v).ravel() for v in jax.tree.leaves(init(x, runs))]))
print(f"{axis}: sweep_init at R = {R} compiles in {dt:.2f} s")
'''


def main() -> int:
    import numpy as np

    import argparse

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="?", type=int, default=64, help="R, the runs in the program (default 64)")
    runs = str(p.parse_args().runs)
    env = {**os.environ, "GROKJAX_COMPILE_CACHE": "0"}
    with tempfile.TemporaryDirectory() as tmp:
        for axis in ("map", "vmap"):
            out = subprocess.run([sys.executable, "-c", CHILD, axis, runs, f"{tmp}/{axis}.npy"], env=env,
                                 capture_output=True, text=True, check=True)
            print(out.stdout.strip())
        same = np.array_equal(np.load(f"{tmp}/map.npy"), np.load(f"{tmp}/vmap.npy"))
    print("same bits:", same)
    return 0


if __name__ == "__main__":
    sys.exit(main())
