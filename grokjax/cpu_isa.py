"""Limit a process to AVX2 instructions on a CPU with AVX-512: for benchmarks.

grokjax's speed against the PyTorch reference differs between CPUs with and
without AVX-512, and a session cannot choose its CPU. On an AVX-512 CPU the
closest stand-in for an AVX2-only one (AMD Zen 3, say) limits every library
that picks its vector code from the CPU:

- XLA's own kernels (LLVM): ``--xla_cpu_max_isa=AVX2`` in ``XLA_FLAGS``;
- YNNPACK, to which XLA:CPU hands its matmuls: it reads the CPU once,
  through cpuinfo, into a function-local static of
  ``ynn::get_supported_arch_flags``, and has no option or environment
  variable. ``limit_ynnpack`` clears the AVX-512 bits of that static in the
  loaded jaxlib, found by name in the library's ELF symbol table, before any
  program is compiled;
- PyTorch (for the reference): ``ATEN_CPU_CAPABILITY`` (its own kernels),
  ``MKL_ENABLE_INSTRUCTIONS`` (its BLAS) and ``ONEDNN_MAX_CPU_ISA`` (oneDNN).

On AMD Zen 4, AVX-512 runs on the same two 256-bit FMA units as AVX2, so an
AVX2-limited Zen 4 has a Zen 3's peak FLOPs per cycle; caches and clocks
still differ. Nothing here is used by training: ``python -m grokjax.bench
--cpu-isa avx2`` calls ``limit`` before JAX starts its backend.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import os
import platform
import struct
import sys

import numpy as np

ISAS = ("avx2",)
# ynn::arch_flag bits on x86 (ynnpack/base/arch.h): sse2, ssse3, sse41, avx,
# f16c, avx2, fma3 are bits 0-6; AVX-512 and AMX come after.
YNN_AVX2_MASK = (1 << 7) - 1
YNN_FLAGS_FN = "_ZN3ynn24get_supported_arch_flagsEv"
YNN_FLAGS_STATIC = "_ZZN3ynn24get_supported_arch_flagsEvE5flags"
TORCH_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


class IsaError(RuntimeError):
    """The ISA cannot be limited here (another jaxlib build, a started backend, not x86)."""


def environment(isa: str = "avx2", base: dict | None = None) -> dict:
    """The environment variables that limit XLA's kernels and PyTorch to ``isa``
    (``base``, default ``os.environ``, with them set; XLA_FLAGS appended to)."""
    if isa not in ISAS:
        raise IsaError(f"unknown ISA {isa!r}; valid: {', '.join(ISAS)}")
    base = dict(os.environ if base is None else base)
    flags = [f for f in base.get("XLA_FLAGS", "").split() if not f.startswith("--xla_cpu_max_isa=")]
    return {**base, "XLA_FLAGS": " ".join(flags + [f"--xla_cpu_max_isa={isa.upper()}"]), **TORCH_ENV}


SYMBOL = np.dtype([("name", "<u4"), ("info", "u1"), ("other", "u1"), ("shndx", "<u2"), ("value", "<u8"),
                   ("size", "<u8")])  # Elf64_Sym
SHT_SYMTAB, SHT_DYNSYM = 2, 11
STT_OBJECT, STT_FUNC = 1, 2


@dataclasses.dataclass(frozen=True)
class Symbol:
    value: int  # the address in the file's own numbering: add the load bias
    size: int
    type: int  # STT_OBJECT, STT_FUNC, ...


def _symbol_tables(path: str, types: tuple[int, ...]):
    """``(entries, strings)`` of each symbol table of the given section types
    in a 64-bit little-endian ELF file."""
    with open(path, "rb") as f:
        head = f.read(64)
        if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
            raise IsaError(f"{path}: not a 64-bit little-endian ELF file")
        try:
            shoff, = struct.unpack_from("<Q", head, 0x28)
            shentsize, shnum = struct.unpack_from("<HH", head, 0x3A)
            f.seek(shoff)
            table = f.read(shentsize * shnum)
            # Elf64_Shdr: name, type, flags, addr, offset, size, link, ...
            sections = [struct.unpack_from("<IIQQQQI", table, i * shentsize) for i in range(shnum)]

            def read(section):
                f.seek(section[4])
                return f.read(section[5])

            for sh in sections:
                if sh[1] in types:
                    yield np.frombuffer(read(sh), SYMBOL), read(sections[sh[6]])
        except (struct.error, ValueError, IndexError, OverflowError, OSError) as e:
            raise IsaError(f"{path}: unreadable ELF section or symbol table ({e})") from None


def elf_symbols(path: str, names: set[str]) -> dict[str, Symbol]:
    """Those of ``names`` defined in a 64-bit ELF file's ``.symtab`` or
    ``.dynsym``, local symbols included."""
    found = {}
    for entries, strings in _symbol_tables(path, (SHT_SYMTAB, SHT_DYNSYM)):
        for name in names - set(found):
            key, at = b"\0" + name.encode() + b"\0", -1
            while (at := strings.find(key, at + 1)) >= 0:  # the same string may be stored twice
                hit = entries[(entries["name"] == at + 1) & (entries["value"] != 0)]
                if len(hit):
                    found[name] = Symbol(int(hit["value"][0]), int(hit["size"][0]), int(hit["info"][0]) & 0xF)
                    break
    return found


def _exported_function(path: str) -> str | None:
    """The name of one function ``path`` exports (for dlsym), or None."""
    for entries, strings in _symbol_tables(path, (SHT_DYNSYM,)):
        for e in entries:
            if e["value"] and e["info"] & 0xF == STT_FUNC and e["info"] >> 4 == 1:  # STB_GLOBAL
                return strings[e["name"]:strings.index(b"\0", e["name"])].decode()
    return None


def _mappings() -> list[tuple[int, int, str, str]]:
    """This process's memory mappings: start, end, permissions, path."""
    out = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split()
            start, end = (int(v, 16) for v in parts[0].split("-"))
            out.append((start, end, parts[1], os.path.realpath(parts[5]) if len(parts) > 5 else ""))
    return out


def _jaxlib_with(symbol: str) -> tuple[str, int]:
    """The loaded library of JAX's CPU backend that defines ``symbol``, and
    its load bias (from one exported function's address, found by dlsym)."""
    paths = []
    for *_, path in _mappings():
        if path.endswith(".so") and ("jaxlib" in path or "jax_plugins" in path) and path not in paths:
            paths.append(path)
    for path in paths:
        exported = _exported_function(path)
        if exported is None:
            continue
        values = elf_symbols(path, {symbol, exported})
        if symbol in values and exported in values:
            address = ctypes.cast(getattr(ctypes.CDLL(path), exported), ctypes.c_void_p).value
            return path, address - values[exported].value
    raise IsaError(f"no loaded jaxlib library defines {symbol} (jaxlib built without YNNPACK, or stripped)")


@functools.cache
def _ynnpack_addresses() -> tuple[int, int]:
    """Where YNNPACK's flag function and its static are in this process
    (read once: the symbol table is about 100 MB). Checked before anything
    is called or written: the function is code of that library, the static
    an 8-byte object in writable memory."""
    path, bias = _jaxlib_with(YNN_FLAGS_FN)
    values = elf_symbols(path, {YNN_FLAGS_FN, YNN_FLAGS_STATIC})
    fn, static = values.get(YNN_FLAGS_FN), values.get(YNN_FLAGS_STATIC)
    if fn is None or fn.type != STT_FUNC:
        raise IsaError(f"{path}: {YNN_FLAGS_FN} is not a function")
    if static is None or static.type != STT_OBJECT or static.size != 8:
        raise IsaError(f"{path}: {YNN_FLAGS_STATIC} is not YNNPACK's 8-byte flags (another YNNPACK?)")
    maps = _mappings()

    def mapped(address, size, perms, own_file):
        return any(a <= address and address + size <= b and all(c in p for c in perms)
                   and (path == f if own_file else True) for a, b, p, f in maps)

    if not mapped(bias + fn.value, 1, "rx", True):
        raise IsaError(f"{path}: {YNN_FLAGS_FN} does not fall in the library's code (wrong load address?)")
    if not mapped(bias + static.value, 8, "rw", False):
        raise IsaError(f"{path}: {YNN_FLAGS_STATIC} does not fall in writable memory (wrong load address?)")
    return bias + fn.value, bias + static.value


def ynnpack_flags() -> tuple[int, int]:
    """YNNPACK's arch flags as it reads them now, and the address of the
    static that holds them (the backend must be started)."""
    fn, static = _ynnpack_addresses()
    return int(ctypes.CFUNCTYPE(ctypes.c_uint64)(fn)()), static  # the call also fills the static


def limit_ynnpack(mask: int = YNN_AVX2_MASK) -> dict:
    """Keep only ``mask``'s bits of YNNPACK's arch flags, in this process.
    Call after JAX's CPU backend starts and before any program is compiled;
    returns the flags before and after."""
    before, static = ynnpack_flags()
    ctypes.c_uint64.from_address(static).value = before & mask
    after, _ = ynnpack_flags()
    if after != before & mask:
        raise IsaError(f"YNNPACK's flags read {after:#x} after being set to {before & mask:#x}")
    return {"before": hex(before), "after": hex(after)}


def _backend_started() -> bool:
    from jax._src import xla_bridge  # no public test for this

    return bool(getattr(xla_bridge, "_backends", {}))


def limit(isa: str = "avx2") -> dict:
    """Limit XLA, YNNPACK and (once imported after this) PyTorch to ``isa``
    in this process; starts JAX's backend. Returns what was done, for the
    benchmark's JSON. It refuses before changing anything when the machine
    is not x86-64, JAX's backend has started or torch is imported; after
    setting the environment, when the backend is not the CPU or YNNPACK's
    flags cannot be found."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        raise IsaError(f"--cpu-isa needs an x86-64 CPU, not {platform.machine()}")
    if _backend_started():
        raise IsaError("JAX's backend has started: limit the ISA before any JAX computation")
    if "torch" in sys.modules:  # ATen reads its variable on import
        raise IsaError("torch was imported before the ISA was limited")
    os.environ.update(environment(isa))
    import jax

    if jax.default_backend() != "cpu":
        raise IsaError(f"--cpu-isa is for the CPU backend, not {jax.default_backend()}")
    return {"isa": isa, "xla_flags": os.environ["XLA_FLAGS"], "torch_env": dict(TORCH_ENV),
            "ynnpack_flags": limit_ynnpack(YNN_AVX2_MASK)}
