"""Redraw every committed figure under results/ from its tables, with no
training and no checkpoint: each sweep folder's own figures
(``python -m grokjax.plots``), its analyses' figures (``python -m
grokjax.analysis redraw``, from the CSVs under ``analysis/``), the paper
figures it was judged for (``python -m grokjax.paper FIG``, from its
``fig*.json``), its landscape (``lu.png``, from ``landscape.csv``'s sweep)
and its scaling fits (the command each ``scaling_*.json`` records).

    python sweeps/redraw_results.py [results]

Run it after a change to how figures are drawn, then ``git diff --stat``:
only images may change. A changed CSV or verdict means the change was not
only drawing.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import grokjax
from grokjax import landscape, paper, plots, scaling
from grokjax.analysis import __main__ as analysis


def sweep_folders(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.rglob("runs.csv") if (p.parent / "curves.csv").exists())


def scaling_args(path: Path) -> list[str]:
    """The recorded command's arguments, with the folder as it is now."""
    command = shlex.split(json.loads(path.read_text())["command"])
    args = command[command.index("grokjax.scaling") + 1:]
    return [str(path.parent), *args[1:]]


def _landscape(out: Path) -> int:
    landscape.reduce(grokjax.load(out))  # writes landscape.csv and lu.png
    return 0


def main(argv: list[str] | None = None) -> int:
    root = Path((argv if argv is not None else sys.argv[1:] or ["results"])[0])
    failed = []
    for out in sweep_folders(root):
        steps = [(["plots"], lambda: plots.main([str(out)]))]
        if (out / "analysis").is_dir():
            steps.append((["analysis"], lambda: analysis.main(["redraw", str(out)])))
        steps += [([f.stem], lambda f=f: paper.main([json.loads(f.read_text())["figure"], str(out)]))
                  for f in sorted(out.glob("fig*.json"))]
        if (out / "landscape.csv").exists():
            steps.append((["landscape"], lambda: _landscape(out)))
        steps += [([f.stem], lambda f=f: scaling.main(scaling_args(f))) for f in sorted(out.glob("scaling_*.json"))]
        for what, step in steps:
            print(f"== {out} {' '.join(what)}", flush=True)
            if step():
                failed.append(f"{out} {' '.join(what)}")
    if failed:
        print("failed:\n  " + "\n  ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
