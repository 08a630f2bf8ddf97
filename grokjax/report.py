"""What a sweep writes: runs.csv, curves.csv and config.json, and reading them back.

Each file is written to a temporary name and renamed, so a reader never sees
a half-written table. Numbers are written in the shortest form that reads
back to the same value in the dtype they were computed in, so the tables are
an exact record: ``grokjax.load`` rebuilds from them what ``grokjax.run`` returned.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
from pathlib import Path

import numpy as np

from grokjax.summary import METRICS, SUMMARY, metric_names


class TableError(ValueError):
    """A runs.csv or curves.csv that cannot be read back (cut short, or not grokjax's), in one line."""


# steps: the step the sweep stopped at; stop_reason: budget, stop_at, or the signal (SIGINT, SIGTERM)
SUMMARY_COLUMNS = (*SUMMARY, "steps", "stop_reason")


def fmt(v, float32: bool = True) -> str:
    """A CSV cell: empty for None (a threshold never reached); a float in the
    shortest digits that read back to it in its own precision: a numpy
    float32 as float32, a numpy float64 exactly, and a Python float as
    float32 when it is one and ``float32`` says the table's numbers are
    (False for an ``x64`` sweep, whose values may merely fit in float32)."""
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, np.float32):
        return str(v)
    if isinstance(v, (float, np.floating)):
        python_float = type(v) is float
        v = float(v)
        if float32 and python_float and np.isfinite(v) and float(np.float32(v)) == v:
            return str(np.float32(v))
        return repr(v)
    return str(v)


def write_atomic(path: Path, data: str | bytes) -> None:
    """``path`` holds ``data`` (text, or bytes such as a PNG) whole, or is left as it was."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # no stray temp file beside a failed write
        raise


def table_text(header, rows, float32: bool = True) -> str:
    if len(set(header)) != len(header):
        dup = sorted({c for c in header if list(header).count(c) > 1})
        raise ValueError(f"a table would have two columns named {dup[0]!r}")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows([[fmt(r.get(c), float32) for c in header] for r in rows])
    return buf.getvalue()


def runs_header(rows: list[dict]) -> list[str]:
    """The run's settings in the order of its row (curves.csv's order), then its summary."""
    return [*(k for k in rows[0] if k not in SUMMARY_COLUMNS), *SUMMARY_COLUMNS]


def curves_header(settings: list[dict], curves: dict | None = None) -> list[str]:
    metrics = METRICS if curves is None else metric_names(curves)
    return [*(k for k in settings[0] if k != "n_train"), "step", *metrics]


def write_runs(path: Path, rows: list[dict], float32: bool = True) -> None:
    write_atomic(path, table_text(runs_header(rows), rows, float32))


def curve_rows(settings: list[dict], steps: np.ndarray, curves: dict[str, np.ndarray]) -> list[dict]:
    """Long format: one dict per run × evaluation."""
    return [
        {**s, "step": int(steps[t]), **{m: curves[m][t, r] for m in metric_names(curves)}}
        for r, s in enumerate(settings)
        for t in range(len(steps))
    ]


def write_curves(path: Path, settings: list[dict], steps: np.ndarray, curves: dict[str, np.ndarray],
                 float32: bool = True) -> None:
    write_atomic(path, table_text(curves_header(settings, curves), curve_rows(settings, steps, curves), float32))


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def cell(text: str):
    """A CSV cell back to the value ``fmt`` wrote: None, bool, int, float or str."""
    if text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_curves(path: Path, n_runs: int, dtype=np.float32) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """curves.csv as ``(steps [T], metric -> [T, R])`` in ``dtype``: every
    metric it holds (older folders have no per-layer norms)."""
    records = read_csv(path)
    metrics = metric_names(records[0]) if records else list(METRICS)
    parsed = []  # (step, run, values), line by line, so that an error can name its line
    for line, c in enumerate(records, start=2):
        try:
            parsed.append((int(c["step"]), int(c["run"]), [dtype(c[m]) for m in metrics]))
        except KeyError as e:
            raise TableError(f"{path} has no column {e}: not a grokjax curves.csv") from None
        except (ValueError, TypeError) as e:
            raise TableError(f"{path} cannot be read at line {line} ({e}); cut short, or not a grokjax "
                             f"curves.csv") from None
    steps = np.array(sorted({s for s, _, _ in parsed}))
    at = {int(s): t for t, s in enumerate(steps)}
    curves = {m: np.full((len(steps), n_runs), np.nan, dtype) for m in metrics}
    for s, r, values in parsed:
        if not 0 <= r < n_runs:
            raise TableError(f"{path} has run {r}, but the sweep has {n_runs} runs")
        for m, v in zip(metrics, values):
            curves[m][at[s], r] = v
    return steps, curves


def read_sweep(out: Path) -> tuple[list[dict], np.ndarray, dict[str, np.ndarray]]:
    """A sweep folder's runs.csv and curves.csv as ``(rows, steps, curves)``, the
    values the sweep drew its figures from: rows typed, curves ``[T, R]``.
    Needs no spec, so it reads folders of older grokjax versions too."""
    rows = [{k: cell(v) for k, v in r.items()} for r in read_csv(Path(out) / "runs.csv")]
    if not rows:
        raise TableError(f"{Path(out) / 'runs.csv'} has no runs")
    steps, curves = read_curves(Path(out) / "curves.csv", len(rows))
    return rows, steps, curves


def cpuinfo() -> dict:
    """The first processor's fields in /proc/cpuinfo ({} where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            fields = dict(line.split(":", 1) for line in f.read().split("\n\n")[0].splitlines() if ":" in line)
    except OSError:
        return {}
    return {k.strip(): v.strip() for k, v in fields.items()}


def cpu() -> dict:
    """The processor, from /proc/cpuinfo where there is one: XLA:CPU's speed
    depends on its family and vector extensions, so figures record them."""
    info = {"name": platform.processor() or platform.machine()}
    fields = cpuinfo()
    if not fields:
        return info
    flags = set(fields.get("flags", "").split())
    siblings, cores = fields.get("siblings", ""), fields.get("cpu cores", "")
    try:
        mhz = float(fields["cpu MHz"])
    except (KeyError, ValueError):
        mhz = None
    return {
        "name": fields.get("model name", info["name"]),
        "family": fields.get("cpu family"),
        "model": fields.get("model"),
        "vector_extensions": [f for f in ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile") if f in flags],
        # what else makes one CPU model run slower on one machine than another
        "mhz": mhz,  # as read at the time: the clock may move
        "cache": fields.get("cache size"),
        "threads_per_core": int(siblings) // int(cores) if siblings.isdigit() and cores.isdigit() and int(cores) else None,
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_quota": cgroup_cpu_quota(),
        "virtualized": ("hypervisor" in flags) if flags else None,
    }


def cgroup_cpu_quota(root: str = "/sys/fs/cgroup", own: str = "/proc/self/cgroup") -> float | str | None:
    """The CPUs this process's cgroup may use on average (quota / period):
    a number, ``"unlimited"``, or None where it cannot be read. cgroup v2's
    ``cpu.max`` or v1's ``cpu.cfs_quota_us`` and ``cpu.cfs_period_us``, in
    the process's own cgroup (``own``) where that folder is visible, else
    at the root of the mount (what a container sees of its own)."""
    try:
        with open(own) as f:
            entries = [line.strip().split(":", 2) for line in f if line.count(":") >= 2]
    except OSError:
        entries = []
    v2 = [path for _, controllers, path in entries if controllers == ""]
    v1 = [path for _, controllers, path in entries if "cpu" in controllers.split(",")]
    candidates = []
    for path in v2 + [""]:
        candidates.append(("v2", Path(root, path.lstrip("/"))))
    for path in v1 + [""]:
        for mount in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
            candidates.append(("v1", Path(root, mount, path.lstrip("/"))))
    for version, folder in candidates:
        try:
            if version == "v2":
                quota, period = (folder / "cpu.max").read_text().split()[:2]
                unlimited = quota == "max"
            else:
                quota = (folder / "cpu.cfs_quota_us").read_text().strip()
                period = (folder / "cpu.cfs_period_us").read_text().strip()
                unlimited = int(quota) < 0
            return "unlimited" if unlimited else round(int(quota) / int(period), 2)
        except (OSError, ValueError):
            continue
    return None


def environment() -> dict:
    """Versions, processor and devices, for config.json."""
    import flax
    import jax
    import jaxlib
    import optax

    import grokjax
    from grokjax import compile_cache, xla_options

    devices = jax.devices()
    proc = cpu()
    return {
        "python": platform.python_version(),
        "grokjax": grokjax.__version__,
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "flax": flax.__version__,
        "optax": optax.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu": proc["name"],
        "cpu_detail": proc,
        "cpu_count": os.cpu_count(),
        "backend": jax.default_backend(),
        "devices": [d.device_kind for d in devices],
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "compiler_options": xla_options.compiler_options(),
        "compile_cache": compile_cache.state(),
        "git_commit": _git_commit(),
    }


def _git_commit(root: Path | None = None) -> str | None:
    import subprocess

    try:
        root = root or Path(__file__).resolve().parent.parent
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        if out.returncode:
            return None
        # "+dirty": tracked files changed outside results/; rewriting a committed
        # result (a benchmark re-made in place) changes no code.
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results"],
            capture_output=True, text=True, timeout=5,
        ).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def process_seconds(stat: str = "/proc/self/stat", uptime: str = "/proc/uptime") -> float | None:
    """Seconds since this process started (Linux's /proc; None elsewhere):
    what a user waits for a command, imports and compiles included."""
    try:
        start_ticks = int(Path(stat).read_text().rsplit(")", 1)[1].split()[19])  # field 22, starttime
        return round(float(Path(uptime).read_text().split()[0]) - start_ticks / os.sysconf("SC_CLK_TCK"), 2)
    except (OSError, ValueError, IndexError):
        return None


def run_by_a_command() -> bool:
    """Whether a grokjax command line (``python -m grokjax.…``) is this
    process: only then does the process's age time the work."""
    import sys

    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(spec, "name", "").startswith("grokjax.")


def write_json(path: Path, obj: dict) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def command_line(argv: list[str], module: str = "grokjax.sweep") -> str:
    """The command that reproduces this sweep, as a user would type it.
    ``argv`` starting with ``-m MODULE`` names another tool than ``module``."""
    import shlex

    if argv[:1] == ["-m"] and len(argv) > 1:
        module, argv = argv[1], argv[2:]
    return " ".join(shlex.quote(a) for a in ["python", "-m", module, *argv])
