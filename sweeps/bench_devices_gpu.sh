#!/usr/bin/env bash
# Sharding on a GPU machine (issue 6): the paper model at R = 64 on the GPU(s)
# through the sharded path, and at R = 8 on that machine's CPU split into 1, 4
# and 8 forced host devices. The committed files were made on one H100 with
# 16 CPU cores; on an 8-GPU machine use --devices 1,8 for the first line.
set -euo pipefail
out=${1:-results/bench_gpu}
mkdir -p "$out"
python -m grokjax.bench --runs 64 --devices 1 --steps 200 --json > "$out/devices.json"
JAX_PLATFORMS=cpu XLA_FLAGS=--xla_force_host_platform_device_count=8 python -m grokjax.bench --runs 8 --devices 1,4,8 --steps 10 --repeats 2 --json > "$out/devices_host_cpu.json"
python -m grokjax.bench --read "$out/devices.json" "$out/devices_host_cpu.json"
