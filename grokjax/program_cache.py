"""A sweep's compiled programs kept whole on disk: a rerun neither traces nor compiles.

JAX's persistent cache (``compile_cache``) spares XLA's compile, but JAX
must still trace and lower each program in Python before it can look the
program up: about 2 s for the paper's model, every process. This store keeps
the finished executables of the engine's two programs (``sweep_init``,
``sweep_chunk``), keyed by everything that decides them, and loads them
instead of tracing when the key matches:

- the program's name and its static ``Config`` (``repr``), and the task's
  facts that tracing reads (``n_pool``, ``n_outputs``, ...);
- the arguments' tree, shapes, dtypes and shardings;
- grokjax's own source (every ``.py`` file of the package, hashed), and the
  versions of Python, jax, jaxlib, flax, optax, chex, numpy;
- every ``jax.config`` value as it stands at the call (``enable_x64`` and
  matmul precision included; not those of logs, dumps and caches), the
  devices (platform, kind, id), the backend's version, the ``XLA_*``
  environment, and the CPU's model and feature flags (an executable built
  for AVX-512 must not run on an AVX2 machine).

Any change to any of these is a miss: the program is traced and compiled
afresh (past JAX's cache, see ``compile``) and stored. A loaded program is
the very executable a cold run built, so numbers are identical bit for bit
(tested).

It lives inside JAX's cache folder, in ``<cache folder>/grokjax-programs``,
and follows its switches (``--no-compile-cache``, ``GROKJAX_COMPILE_CACHE``);
a read-only cache folder is read, never written. Entries are pickles, so
load only a cache folder you trust, as with any cache of code. It stands
aside under several processes (``jax.distributed``), where each process
compiles its part of the program.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
import sys
from pathlib import Path

from grokjax import compile_cache, report, xla_options

FORMAT = 2  # bump when what an entry holds changes
FOLDER = "grokjax-programs"
PACKAGES = ("jax", "jaxlib", "flax", "optax", "chex", "numpy")
# JAX's own environment variables land in jax.config, which the key reads
ENV_PREFIXES = ("XLA_", "TF_", "LIBTPU", "CUDA_VISIBLE", "NVIDIA_TF32")
# jax.config settings that change logs, dumps or caching, never a program
IGNORED_SETTINGS = frozenset({
    "jax_log_compiles", "jax_explain_cache_misses", "jax_logging_level", "jax_debug_log_modules",
    "jax_pprint_use_color", "jax_traceback_filtering", "jax_tracer_error_num_traceback_frames",
    "jax_include_full_tracebacks_in_locations", "jax_traceback_in_locations_limit",
    "jax_dump_ir_to", "jax_dump_ir_modes", "jax_include_debug_info_in_dumps",
    "jax_enable_compilation_cache", "jax_compilation_cache_dir", "jax_compilation_cache_max_size",
    "jax_persistent_cache_min_compile_time_secs", "jax_persistent_cache_min_entry_size_bytes",
    "jax_raise_persistent_cache_errors", "jax_persistent_cache_enable_xla_caches",
})

_memory: dict = {}  # key -> executable, for repeated calls in one process
MEMORY_ENTRIES = 16  # the newest kept; older ones are loaded again from disk if asked for
stats = {"loaded": 0, "compiled": 0, "stored": 0}  # this process's counts (config.json records them per sweep)
SIDE_BY_SIDE = True  # False: each program traced, lowered and compiled in turn (for measuring the difference)


def folder() -> tuple[Path | None, bool]:
    """The store's folder and whether it may be written, or (None, False)
    when the compilation cache is off (or unset) or several processes run."""
    import jax

    st = compile_cache.state()
    if st["mode"] in ("off", "unset") or not st["dir"] or jax.process_count() > 1:
        return None, False
    path = Path(st["dir"]) / FOLDER
    if st["mode"] == "read-only":
        return path, False
    try:
        path.mkdir(exist_ok=True)
    except OSError:
        return (path if path.is_dir() else None), False
    return path, os.access(path, os.W_OK | os.X_OK)


def compile(fn, name: str, config, *args):
    """``fn.lower(config, *args).compile()``, or the same executable loaded
    from the store. ``fn`` is a jitted function whose first argument is the
    static config. Returns the executable, called with ``*args``."""
    return compile_many([(fn, name, config, args)])[0]


def compile_many(jobs) -> list:
    """``compile`` for each ``(fn, name, config, args)`` of ``jobs``, in
    order. Programs that must be built are traced and lowered here, one
    after the other (Python), and XLA compiles them side by side in threads
    (its compile releases the GIL): a sweep's init and chunk programs, and
    the programs of a sweep of several, overlap. ``args`` may hold
    ``jax.ShapeDtypeStruct`` in place of arrays (the key reads only shapes,
    dtypes and shardings), so a program can be built before its inputs exist.
    """
    from concurrent.futures import ThreadPoolExecutor

    path, writable = folder()
    out, misses = [None] * len(jobs), []  # misses: (index, key, file, material)
    for i, job in enumerate(jobs):
        out[i], key, file, material = _lookup(path, *job)
        if out[i] is None:
            misses.append((i, key, file, material))
    if not misses:
        return out
    # XLA:CPU cannot serialize again an executable it loaded from JAX's
    # cache (the copy lacks its code: "Function ... not found" when run),
    # so programs meant for the store are compiled afresh, past that cache;
    # without a writable store, JAX's cache may spare XLA's part
    bypass = _jax_cache_bypassed() if writable else contextlib.nullcontext()
    with bypass, ThreadPoolExecutor(max_workers=len(misses)) as pool:
        futures = []
        for i, *_ in misses:
            fn, name, config, args = jobs[i]
            lowered = fn.lower(config, *args)  # in this thread: tracing reads its jax.config contexts
            futures.append(pool.submit(lowered.compile))
            if not SIDE_BY_SIDE:
                futures[-1].result()
        for (i, key, file, material), future in zip(misses, futures):
            out[i] = future.result()
            stats["compiled"] += 1
            if key is not None:
                if writable and _store(file, material, out[i]):
                    stats["stored"] += 1
                _remember(key, out[i])
    return out


def find(fn, name: str, config, *args):
    """The stored executable of ``compile(fn, name, config, *args)``, or None
    (nothing is traced or compiled)."""
    return _lookup(folder()[0], fn, name, config, args)[0]


def _lookup(path, fn, name: str, config, args) -> tuple:
    """(executable or None, key, file, material) of one program."""
    if path is None:
        return None, None, None, None
    material = key_material(name, config, args)
    key = hashlib.sha256(repr(material).encode()).hexdigest()[:40]
    file = path / f"{name}-{key}.pkl"
    exe = _memory.pop(key, None)
    exe = _load(file, material) if exe is None else exe
    if exe is not None:
        stats["loaded"] += 1
        _remember(key, exe)  # now the newest
    return exe, key, file, material


def _remember(key: str, exe) -> None:
    _memory[key] = exe
    while len(_memory) > MEMORY_ENTRIES:
        _memory.pop(next(iter(_memory)))


@contextlib.contextmanager
def _jax_cache_bypassed():
    """JAX's persistent cache neither read nor written inside; JAX decides
    whether to use it once per process, hence the resets."""
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    if not jax.config.jax_enable_compilation_cache:
        yield
        return
    compilation_cache.reset_cache()
    jax.config.update("jax_enable_compilation_cache", False)
    try:
        yield
    finally:
        jax.config.update("jax_enable_compilation_cache", True)
        compilation_cache.reset_cache()


def _load(file: Path, material: dict):
    """The stored executable, or None when absent, unreadable or not for this key."""
    import jax
    from jax.experimental import serialize_executable

    try:
        with open(file, "rb") as f:
            entry = pickle.load(f)
        if entry.get("format") != FORMAT or entry.get("key") != material:
            return None
        # onto the devices it was built for (by default it would claim them all)
        by_id = {d.id: d for d in jax.devices()}
        devices = [by_id[i] for i in entry["device_ids"]]
        return serialize_executable.deserialize_and_load(*entry["executable"], execution_devices=devices)
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - a torn or foreign entry is a miss, never an error
        return None


def _store(file: Path, material: dict, exe) -> bool:
    """Writes the entry atomically (a reader sees all of it or nothing)."""
    from jax.experimental import serialize_executable

    tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    try:
        entry = {"format": FORMAT, "key": material, "executable": serialize_executable.serialize(exe),
                 "device_ids": [d.id for d in exe.runtime_executable().local_devices()]}
        with open(tmp, "wb") as f:
            pickle.dump(entry, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, file)
        return True
    except Exception:  # noqa: BLE001 - a full disk or an unserializable program: just not stored
        tmp.unlink(missing_ok=True)
        return False


def key_material(name: str, config, args) -> dict:
    """Everything that decides the compiled program, as plain values."""
    import jax
    from jax.extend import backend

    leaves, tree = jax.tree.flatten(args)
    data = config.task.data()
    return {
        "format": FORMAT,
        "program": name,
        "config": repr(config),
        "task_data": {k: v for k, v in vars(data).items() if k not in ("x", "y")},
        "args": str(tree),
        "avals": [_aval(a) for a in leaves],
        "source": source_digest(),
        "versions": versions(),
        "jax_config": {k: repr(getattr(jax.config, k, v)) for k, v in sorted(jax.config.values.items())
                       if k not in IGNORED_SETTINGS},
        "devices": [(d.platform, d.device_kind, d.id, d.process_index) for d in jax.devices()],
        "backend": (jax.default_backend(), backend.get_backend().platform_version),
        "compiler_options": xla_options.compiler_options(),
        "env": {k: v for k, v in sorted(os.environ.items()) if k.startswith(ENV_PREFIXES)},
        "cpu": cpu_identity(),
    }


def _aval(a) -> tuple:
    import jax
    import numpy as np

    if isinstance(a, (jax.Array, jax.ShapeDtypeStruct)):
        return (a.shape, str(a.dtype), bool(getattr(a, "weak_type", False)), repr(a.sharding))
    arr = np.asarray(a)  # a Python scalar or a host array: traced as a (weak) value of its type
    return (arr.shape, str(arr.dtype), not isinstance(a, np.ndarray), type(a).__name__)


@functools.cache
def source_digest() -> str:
    """A hash of every Python file of the grokjax package, names and bytes."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


@functools.cache
def versions() -> dict:
    from importlib import metadata

    got = {"python": sys.version}
    for pkg in PACKAGES:
        try:
            got[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            got[pkg] = None
    return got


@functools.cache
def cpu_identity() -> str:
    """The first processor's vendor, family, model, name and feature flags
    (or the platform's name where /proc/cpuinfo is missing)."""
    import platform

    fields = report.cpuinfo()
    if not fields:
        return f"{platform.machine()} {platform.processor()}"
    keep = ("vendor_id", "cpu family", "model", "model name", "flags")
    return "\n".join(f"{k}: {fields.get(k)}" for k in keep)
