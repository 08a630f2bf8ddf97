"""The AVX2 limit of ``python -m grokjax.bench --cpu-isa avx2``
(grokjax.cpu_isa): what it sets, how it finds YNNPACK's flags, and that
they read back limited. Speed is the benchmark's to measure, not a test's."""

import ctypes
import json
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

from grokjax import bench, cpu_isa


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            return next((set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags")), set())
    except OSError:
        return set()


X86_AVX2 = platform.machine().lower() in ("x86_64", "amd64") and "avx2" in _cpu_flags()


def test_the_environment_limits_xla_and_every_library_of_torch():
    env = cpu_isa.environment("avx2", {"XLA_FLAGS": "--xla_force_host_platform_device_count=4 --xla_cpu_max_isa=SSE4_2",
                                       "HOME": "/h"})
    assert env["XLA_FLAGS"] == "--xla_force_host_platform_device_count=4 --xla_cpu_max_isa=AVX2"
    assert (env["ATEN_CPU_CAPABILITY"], env["MKL_ENABLE_INSTRUCTIONS"], env["ONEDNN_MAX_CPU_ISA"]) == (
        "avx2", "AVX2", "AVX2")
    assert env["HOME"] == "/h"
    assert cpu_isa.environment("avx2", {})["XLA_FLAGS"] == "--xla_cpu_max_isa=AVX2"
    with pytest.raises(cpu_isa.IsaError, match="unknown ISA 'sse2'"):
        cpu_isa.environment("sse2", {})


def test_elf_symbols_give_the_address_dlsym_finds():
    """A symbol's value plus the library's load address (its mapping at file
    offset 0) is where the dynamic linker put it."""
    core = getattr(np, "_core", None) or np.core  # numpy 2 renamed it
    path = os.path.realpath(core._multiarray_umath.__file__)
    name = "PyInit__multiarray_umath"
    found = cpu_isa.elf_symbols(path, {name, "no_such_symbol"})
    assert set(found) == {name} and found[name].type == cpu_isa.STT_FUNC
    with open("/proc/self/maps") as maps:
        base = min(int(line.split("-")[0], 16) for line in maps
                   if os.path.realpath(line.split()[-1]) == path and line.split()[2] == "00000000")
    assert ctypes.cast(getattr(ctypes.CDLL(path), name), ctypes.c_void_p).value == base + found[name].value


def test_not_an_elf_file_is_named(tmp_path):
    f = tmp_path / "x.so"
    f.write_bytes(b"not elf" * 20)
    with pytest.raises(cpu_isa.IsaError, match="not a 64-bit little-endian ELF"):
        cpu_isa.elf_symbols(str(f), {"a"})
    f.write_bytes(b"\x7fELF\x02\x01" + b"\xff" * 58)  # a header whose section table lies past the end
    with pytest.raises(cpu_isa.IsaError, match="unreadable ELF"):
        cpu_isa.elf_symbols(str(f), {"a"})


CHILD = r"""
import json, jax, numpy as np
from grokjax import cpu_isa, xla_options
try:
    done = cpu_isa.limit("avx2")
except cpu_isa.IsaError as e:
    print(json.dumps({"skip": str(e)})); raise SystemExit
a = np.random.default_rng(0).standard_normal((256, 128)).astype(np.float32)
got = np.asarray(xla_options.jit(lambda a: a @ a.T)(a))
narrower = cpu_isa.limit_ynnpack(0x3F)  # also without fma3 (bit 6): a bit every AVX2 CPU has
try:
    cpu_isa.limit("avx2")
    again = None
except cpu_isa.IsaError as e:
    again = str(e)
print(json.dumps({**done, "narrower": narrower, "max_err": float(np.abs(got - a @ a.T).max()), "again": again}))
"""


@pytest.mark.skipif(not X86_AVX2, reason="YNNPACK's x86 flags, on a CPU with AVX2")
def test_a_limited_process_reads_back_its_flags_and_still_multiplies_right():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True,
                         env={**os.environ, "JAX_PLATFORMS": "cpu"})
    got = json.loads(out.stdout.strip().splitlines()[-1])
    if "skip" in got:  # a jaxlib built without YNNPACK or without its symbol table
        assert "no loaded jaxlib library defines" in got["skip"]
        pytest.skip(got["skip"])
    before, after = int(got["ynnpack_flags"]["before"], 16), int(got["ynnpack_flags"]["after"], 16)
    # YNNPACK's bits as this module assumes them: avx2 is bit 5, avx512f bit 7
    assert bool(before & (1 << 5)) == ("avx2" in _cpu_flags())
    assert bool(before & (1 << 7)) == ("avx512f" in _cpu_flags())
    assert after == before & cpu_isa.YNN_AVX2_MASK and not after & (1 << 7)
    # a write that changes a bit this CPU has reads back (on any AVX2 CPU, not only AVX-512 ones)
    assert int(got["narrower"]["after"], 16) == after & 0x3F != after
    assert "--xla_cpu_max_isa=AVX2" in got["xla_flags"]
    assert got["max_err"] < 1e-3
    assert "backend has started" in got["again"]  # a second call is too late to limit XLA


def test_the_benchmark_refuses_once_jax_has_started(capsys):
    import jax

    jax.devices()  # as every test process has
    assert bench.main(["--cpu-isa", "avx2", "--runs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("grokjax.bench: error: --cpu-isa avx2: ") and "\n" not in err
    if platform.machine().lower() in ("x86_64", "amd64"):
        assert "backend has started" in err


def test_figures_name_the_whole_limit():
    env = {"backend": "cpu", "devices": ["cpu"], "cpu": "Some CPU", "cpu_count": 2, "jax": "0.0",
           "xla_flags": "--xla_cpu_max_isa=AVX2",
           "cpu_detail": {"family": "25", "model": "17", "vector_extensions": ["avx2", "avx512f"]},
           "cpu_isa_limit": {"isa": "avx2"}}
    assert bench.cpu_line(env) == ("Some CPU (family 25 model 17, avx2/avx512f, XLA, YNNPACK and PyTorch limited "
                                   "to AVX2; 2 cores)")
