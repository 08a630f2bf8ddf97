#!/usr/bin/env bash
# Sharding on one CPU (issue 6): the paper model at R = 8 on 1 device and on 4
# forced host devices of this 2-core machine, same process. The point is that
# the sharded program runs, not speed: 4 devices share the same 2 cores.
set -euo pipefail
out=${1:-results/bench_cpu}
mkdir -p "$out"
XLA_FLAGS=--xla_force_host_platform_device_count=4 python -m grokjax.bench --runs 8 --devices 1,4 --steps 10 --repeats 2 --json > "$out/devices.json"
python -m grokjax.bench --read "$out/devices.json"
