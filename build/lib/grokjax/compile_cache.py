"""JAX's persistent compilation cache, on by default.

XLA compiles each program of a sweep anew in every process: 5–15 s on a CPU,
up to a minute or two on a GPU, paid again by a resume, a rerun with other
seeds, and each test. JAX can keep the compiled executables on disk, keyed
by the program, the devices, the compile options and the versions; a later
process that builds the same program loads it instead. grokjax turns that on
in a per-user folder unless told not to.

- The folder: ``$GROKJAX_COMPILE_CACHE`` when it names one, else
  ``$XDG_CACHE_HOME/grokjax/jax`` (``~/.cache/grokjax/jax``).
- Off: ``GROKJAX_COMPILE_CACHE=0`` (or ``off``), ``--no-compile-cache`` on
  the command lines, or ``configure(False)`` from Python. A user who set
  ``jax_compilation_cache_dir`` themselves keeps their own setting.
- A folder that exists but cannot be written (a read-only home, a shared
  cache) is read, never written; one that cannot be made turns the cache
  off with one warning.
- Several processes (``jax.distributed``): JAX writes entries from process
  0 only, and every process reads, so a folder on a filesystem all hosts
  share serves them all; on per-host folders only process 0 is served.

JAX's cache spares XLA's compile, not the tracing and lowering in Python
before it (about 2 s for the paper's model); ``program_cache`` keeps the
engine's own programs whole, in a subfolder of the same folder, and spares
both: see README, "Speed".
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV = "GROKJAX_COMPILE_CACHE"
OFF = ("0", "off", "false", "no", "none")
# programs that compile faster than this are rebuilt, not stored: a cache read
# costs about a millisecond per entry, and tiny jitted helpers would crowd it
MIN_COMPILE_S = 0.05

_state: dict = {}  # what configure() decided, once per process


def default_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "grokjax" / "jax"


def wanted_dir() -> Path | None:
    """The folder the environment asks for, or None when it turns the cache off."""
    value = os.environ.get(ENV, "").strip()
    if value.lower() in OFF and value:
        return None
    return Path(value).expanduser() if value else default_dir()


def decide(enabled: bool = True) -> dict:
    """What configure() would do, without doing it: ``{"dir": path or None,
    "mode": "read-write" | "read-only" | "off", "why": ...}``. Makes the
    folder if it can."""
    path = wanted_dir() if enabled else None
    if path is None:
        why = "--no-compile-cache" if not enabled else f"{ENV}={os.environ.get(ENV)}"
        return {"dir": None, "mode": "off", "why": why}
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return {"dir": None, "mode": "off", "why": f"cannot create {path} ({e.strerror or e})"}
    if not os.access(path, os.R_OK | os.X_OK):
        return {"dir": None, "mode": "off", "why": f"cannot read {path}"}
    mode = "read-write" if os.access(path, os.W_OK | os.X_OK) else "read-only"
    return {"dir": str(path), "mode": mode, "why": ENV if os.environ.get(ENV) else "default"}


def configure(enabled: bool = True) -> dict:
    """Turns the cache on (or off) for this process, once, before anything
    compiles; later calls return the first decision (``decide``'s dict),
    which config.json records."""
    if _state:
        return dict(_state)
    import jax

    if jax.config.jax_compilation_cache_dir:  # the user's own setting stands
        _state.update(dir=jax.config.jax_compilation_cache_dir, mode="user", why="jax_compilation_cache_dir was set")
        return dict(_state)
    _state.update(decide(enabled))
    if _state["mode"] == "off":
        if enabled and _state["why"].startswith("cannot"):
            _warn(f"compile cache off: {_state['why']}; set {ENV} to a writable folder, or {ENV}=0")
        return dict(_state)
    jax.config.update("jax_compilation_cache_dir", _state["dir"])
    # read-only: serve hits, never try a write that would warn at every compile
    jax.config.update("jax_persistent_cache_min_compile_time_secs",
                      MIN_COMPILE_S if _state["mode"] == "read-write" else float("inf"))
    return dict(_state)


def state() -> dict:
    """What configure() decided in this process (``mode`` "unset" before it ran)."""
    return dict(_state) if _state else {"dir": None, "mode": "unset", "why": "configure() not called"}


def _warn(text: str) -> None:
    print(f"grokjax: {text}", file=sys.stderr, flush=True)
