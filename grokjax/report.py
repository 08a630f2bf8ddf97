"""What a sweep writes: runs.csv, curves.csv and config.json.

Each file is written to a temporary name and renamed, so a reader never sees
a half-written table.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
from pathlib import Path

import numpy as np

from grokjax import analysis

RUN_COLUMNS = ("run", "op", "modulus", "frac", "seed", "lr", "weight_decay", "n_train")
SUMMARY_COLUMNS = (
    "steps_to_99_train",
    "steps_to_99_val",
    "best_val_acc",
    "final_train_acc",
    "final_val_acc",
    "final_train_loss",
    "final_val_loss",
    "final_weight_norm",
    "steps",
)
CURVE_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "weight_norm")


def fmt(v) -> str:
    """CSV cell: empty for a threshold never reached, 7 significant digits for floats."""
    if v is None:
        return ""
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.7g}"
    return str(v)


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _csv(header, rows) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows([[fmt(r.get(c)) for c in header] for r in rows])
    return buf.getvalue()


def run_rows(settings: list[dict], steps: np.ndarray, curves: dict[str, np.ndarray]) -> list[dict]:
    """One dict per run: its settings joined to the summary of its curves."""
    summary = analysis.summarize(steps, curves)
    return [{**s, **m, "steps": int(steps[-1])} for s, m in zip(settings, summary)]


def write_runs(path: Path, rows: list[dict]) -> None:
    extra = [k for k in rows[0] if k not in RUN_COLUMNS and k not in SUMMARY_COLUMNS]
    write_atomic(path, _csv([*RUN_COLUMNS, *extra, *SUMMARY_COLUMNS], rows))


def write_curves(path: Path, settings: list[dict], steps: np.ndarray, curves: dict[str, np.ndarray]) -> None:
    keys = [k for k in settings[0] if k != "n_train"]
    rows = [
        {**s, "step": int(steps[t]), **{m: float(curves[m][t, r]) for m in CURVE_METRICS}}
        for r, s in enumerate(settings)
        for t in range(len(steps))
    ]
    write_atomic(path, _csv([*keys, "step", *CURVE_METRICS], rows))


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _cell(text: str):
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


def read_sweep(out: Path) -> tuple[list[dict], np.ndarray, dict[str, np.ndarray]]:
    """A sweep folder's runs.csv and curves.csv as ``(rows, steps, curves)``, the
    values the sweep drew its figures from: rows typed, curves ``[T, R]``."""
    rows = [{k: _cell(v) for k, v in r.items()} for r in read_csv(Path(out) / "runs.csv")]
    if not rows:
        raise ValueError(f"{Path(out) / 'runs.csv'} has no runs")
    records = read_csv(Path(out) / "curves.csv")
    steps = np.array(sorted({int(c["step"]) for c in records}))
    at = {int(s): t for t, s in enumerate(steps)}
    curves = {m: np.full((len(steps), len(rows)), np.nan, np.float32) for m in CURVE_METRICS}
    for c in records:
        for m in CURVE_METRICS:
            curves[m][at[int(c["step"])], int(c["run"])] = float(c[m])
    return rows, steps, curves


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict:
    """Versions and device, for config.json."""
    import flax
    import jax
    import jaxlib
    import optax

    import grokjax

    devices = jax.devices()
    return {
        "python": platform.python_version(),
        "grokjax": grokjax.__version__,
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "flax": flax.__version__,
        "optax": optax.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "backend": jax.default_backend(),
        "devices": [d.device_kind for d in devices],
        "git_commit": _git_commit(),
    }


def _git_commit() -> str | None:
    import subprocess

    try:
        root = Path(__file__).resolve().parent.parent
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        if out.returncode:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5,
        ).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def write_json(path: Path, obj: dict) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def command_line(argv: list[str], module: str = "grokjax.sweep") -> str:
    """The command that reproduces this sweep, as a user would type it."""
    import shlex

    return " ".join(shlex.quote(a) for a in ["python", "-m", module, *argv])
