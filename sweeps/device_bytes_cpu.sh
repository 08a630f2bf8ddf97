#!/usr/bin/env bash
# Which process configurations give byte-identical tables on a CPU: x+y mod 23,
# fracs 0.3, 0.5, 0.7 × 2 seeds, 200 steps, the map run axis, in a plain
# process and in processes started with 2 and 4 forced host devices. Prints
# which curves.csv files are identical and the largest difference otherwise.
set -euo pipefail
out=${1:-results/device_bytes_cpu}
mkdir -p "$out"
args=(--op add --modulus 23 --fracs 0.3,0.5,0.7 --seeds 2 --steps 200 --eval-every 20 --run-axis map --no-progress)
env -u XLA_FLAGS python -m grokjax.sweep "${args[@]}" --devices 1 --out "$out/plain_devices1"
XLA_FLAGS=--xla_force_host_platform_device_count=2 python -m grokjax.sweep "${args[@]}" --devices 1 --out "$out/forced2_devices1"
XLA_FLAGS=--xla_force_host_platform_device_count=4 python -m grokjax.sweep "${args[@]}" --devices 1 --out "$out/forced4_devices1"
XLA_FLAGS=--xla_force_host_platform_device_count=4 python -m grokjax.sweep "${args[@]}" --devices 4 --out "$out/forced4_devices4"
python - "$out" <<'PY' | tee "$out/comparison.txt"
import itertools, sys
from pathlib import Path
import numpy as np
from grokjax import report
out = Path(sys.argv[1])
names = ["plain_devices1", "forced2_devices1", "forced4_devices1", "forced4_devices4"]
tables = {n: report.read_sweep(out / n) for n in names}
for a, b in itertools.combinations(names, 2):
    same = (out / a / "curves.csv").read_bytes() == (out / b / "curves.csv").read_bytes()
    diff = max(float(np.nanmax(np.abs(tables[a][2][m] - tables[b][2][m]))) for m in tables[a][2])
    print(f"{a:18s} {b:18s} {'identical bytes' if same else f'differ: max |diff| {diff:.3g}'}")
PY
