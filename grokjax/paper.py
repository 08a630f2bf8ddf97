"""Power et al.'s figures, read back from sweep folders, each with its claim
measured and a verdict.

``python -m grokjax.paper FIG OUT`` reads the sweep in ``OUT`` (runs.csv and
curves.csv; for fig3 and fig7 the CSVs ``grokjax.analysis`` wrote), draws
``OUT/FIG.png`` in the paper's manner and writes ``OUT/FIG.json``: the claim,
the numbers that test it, and one check per part of the claim, each with a
criterion stated in advance. A check is ``held``, ``not held``, or
``untested`` when the sweep's budget or grid cannot decide it (a 20,000-step
run cannot show what happens at 10⁵). No JAX: it runs on finished folders.

The verdict of a figure: ``held`` when every check held, ``not held`` when
any did not, ``held where tested`` when some were untested, ``untested``
when none could be decided.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Callable

import numpy as np

from grokjax import plots, report, summary

HELD, NOT_HELD, UNTESTED = "held", "not held", "untested"


@dataclasses.dataclass(frozen=True)
class Check:
    what: str  # the part of the claim, with its criterion
    held: bool | None  # None: the sweep cannot decide it
    value: object  # what was measured for it

    def __post_init__(self):
        object.__setattr__(self, "held", None if self.held is None else bool(self.held))  # numpy bools too

    def to_dict(self) -> dict:
        return {"what": self.what, "verdict": UNTESTED if self.held is None else HELD if self.held else NOT_HELD,
                "value": self.value}


def verdict(checks: list[Check]) -> str:
    decided = [c.held for c in checks if c.held is not None]
    if not decided:
        return UNTESTED
    if not all(decided):
        return NOT_HELD
    return HELD if len(decided) == len(checks) else "held where tested"


# ---------------------------------------------------------------- helpers


def _median(values) -> float | None:
    return summary.median_steps(list(values))


def _by(rows: list[dict], key: str) -> dict:
    out = defaultdict(list)
    for r in rows:
        out[r[key]].append(r)
    return dict(out)


def _mean_best(rows: list[dict]) -> float:
    # a run that diverged before its first evaluation has no best: it counts as a failure, 0
    v = [0.0 if r["best_val_acc"] is None else r["best_val_acc"] for r in rows]
    return float(np.mean(v)) if v else float("nan")


def _least_frac(rows: list[dict], threshold: float = 0.99) -> float | None:
    """The least fraction whose mean best val accuracy over seeds reached ``threshold``."""
    got = [f for f, rs in sorted(_by(rows, "frac").items()) if _mean_best(rs) >= threshold]
    return got[0] if got else None


def _budget(rows: list[dict]) -> int:
    return int(rows[0]["steps"])


def _best_before(steps, curve, limit: int) -> float:
    keep = (steps > 0) & (steps < limit)
    return float(np.nanmax(curve[keep])) if keep.any() else float("nan")


def _scale(rows: list[dict]) -> str:
    seeds = len({r["seed"] for r in rows})
    return f"{seeds} seed{'s' if seeds > 1 else ''}, {_budget(rows):,} steps"


# ---------------------------------------------------------------- the figures


def fig1_left(out: Path, rows, steps, curves) -> list[Check]:
    """Train and validation accuracy on a log axis of steps."""
    _curve_plot(out / "fig1_left.png", rows, steps, curves, "acc", "accuracy")
    budget = _budget(rows)
    train = [r["steps_to_99_train"] for r in rows]
    val = [r["steps_to_99_val"] for r in rows]
    before = {f"best_val_before_{n}": [round(_best_before(steps, curves["val_acc"][:, i], n), 4) for i in range(len(rows))]
              for n in (10**3, 10**4, 10**5) if n <= budget}
    early = train_ok = None
    if all(t is not None for t in train) or budget >= 1000:
        train_ok = all(t is not None and t < 1000 for t in train)
    # "very little evidence of generalization before 10^5": best val below 0.5 before 10^5
    best_early = [_best_before(steps, curves["val_acc"][:, i], 10**5) for i in range(len(rows))]
    if budget >= 10**5 or any(b >= 0.5 for b in best_early):
        early = all(b < 0.5 for b in best_early)
    # "val reaches 99% close to 10^6 steps": between 3·10^5 and 3·10^6. A run
    # that got there outside the window refutes it; one not there yet decides
    # only once the budget has passed the window
    late = None
    if any(v is not None and not 3 * 10**5 <= v <= 3 * 10**6 for v in val):
        late = False
    elif all(v is not None for v in val) or budget >= 3 * 10**6:
        late = all(v is not None for v in val)
    return [
        Check("train accuracy ≥ 99% before step 1,000", train_ok, {"steps_to_99_train": train}),
        Check("little sign of generalization before 10⁵ steps (best val < 0.5 before step 100,000)", early,
              {"best_val_before_100000_within_budget": [round(b, 4) for b in best_early], **before}),
        Check("val accuracy ≥ 99% only near 10⁶ steps (between 3·10⁵ and 3·10⁶)", late,
              {"steps_to_99_val": val, "final_val_acc": [round(r["final_val_acc"], 4) for r in rows]}),
    ]


def fig4(out: Path, rows, steps, curves) -> list[Check]:
    """Train and validation loss on log axes: the validation loss's double descent."""
    if steps[-1] < 100:
        raise ValueError(f"Figure 4 reads the val loss from step 100 on; this sweep ends at step {int(steps[-1])}")
    _curve_plot(out / "fig4.png", rows, steps, curves, "loss", "loss (cross-entropy)")
    budget = _budget(rows)
    rise, second = [], []
    values = []
    for i in range(len(rows)):
        val = curves["val_loss"][:, i]
        at100 = float(val[np.searchsorted(steps, 100)])
        window = (steps >= 100) & (steps <= 10**5)
        peak_i = int(np.flatnonzero(window)[np.argmax(val[window])])
        peak, final = float(val[peak_i]), float(val[-1])
        # a rise not seen yet may come before 10^5: only a budget past it refutes one
        rise.append(True if peak > 1.5 * at100 else (False if budget >= 10**5 else None))
        # a second descent: after the peak the loss falls below half of it
        second.append(bool(np.nanmin(val[peak_i:]) < 0.5 * peak))
        values.append({"val_loss_at_100": round(at100, 4), "peak_val_loss": round(peak, 4), "peak_step": int(steps[peak_i]),
                       "min_val_loss_after_peak": round(float(np.nanmin(val[peak_i:])), 4), "final_val_loss": round(final, 4)})
    # a run whose val loss has not descended again may yet, within the paper's 10^6
    descends = True if all(second) else (False if budget >= 10**6 else None)
    return [
        Check("validation loss rises after step 100 (its peak up to 10⁵ is over 1.5× its value at 100)",
              False if False in rise else (True if all(rise) else None), values),
        Check("then descends a second time (falls below half its peak)", descends, values),
    ]


def fig1_center(out: Path, rows, steps, curves) -> list[Check]:
    """Median steps to 99% val and train against the fraction."""
    plots.steps_to_generalize(out / "fig1_center.png", rows, spec=plots.read_spec(out), evals=steps)
    by_frac = sorted(_by(rows, "frac").items())
    med_val = {f: _median(r["steps_to_99_val"] for r in rs) for f, rs in by_frac}
    med_train = {f: _median(r["steps_to_99_train"] for r in rs) for f, rs in by_frac}
    fracs = [f for f, _ in by_frac]
    growth = []  # per pair of neighbouring fractions: more steps per 1% less data
    for lo, hi in zip(fracs, fracs[1:]):
        if med_val[lo] and med_val[hi]:
            growth.append({"fracs": [lo, hi],
                           "per_percent": round((med_val[lo] / med_val[hi]) ** (1 / (100 * (hi - lo))) - 1, 4)})
    near = [g for g in growth if 0.2 <= g["fracs"][0] and g["fracs"][1] <= 0.35]
    steep = all(0.3 <= g["per_percent"] <= 0.6 for g in near) if near else None
    grows, rho_val = _trend(med_val, lambda rho: rho <= -0.8)
    # "generally trends down as dataset size decreases": rises with the fraction
    trend, rho_train = _trend(med_train, lambda rho: rho >= 0.5)
    trains = {f: m for f, m in med_train.items() if m is not None}
    within = None
    if trains and (len(trains) == len(fracs) or _budget(rows) >= 10**4 or any(not 1e3 <= m <= 1e4 for m in trains.values())):
        within = len(trains) == len(fracs) and all(1e3 <= m <= 1e4 for m in trains.values())
    return [
        Check("steps to 99% val grow as the fraction falls (Spearman ρ of median against fraction ≤ −0.8, "
              "over the fractions whose median reached it)", grows, {"median_steps_to_99_val": med_val, "rho": rho_val}),
        Check("near 25–30% of data, 1% less data costs 40–50% more steps (criterion 30–60%)", steep,
              {"growth_per_percent": growth}),
        Check("steps to 99% train stay within 10³–10⁴", within, {"median_steps_to_99_train": med_train}),
        Check("steps to 99% train trend down as the fraction falls (Spearman ρ ≥ 0.5)", trend,
              {"median_steps_to_99_train": med_train, "rho": rho_train}),
    ]


def _trend(medians: dict, ok) -> tuple:
    """``ok(ρ)`` for Spearman's ρ of the reached medians against the fraction; None under 3 points."""
    from scipy.stats import spearmanr

    got = [(f, m) for f, m in medians.items() if m is not None]
    if len(got) < 3 or len({m for _, m in got}) < 2:
        return None, None
    rho = float(spearmanr([f for f, _ in got], [m for _, m in got])[0])
    return bool(ok(rho)), round(rho, 3)


def fig2_left(out: Path, rows, steps, curves) -> list[Check]:
    """Best val accuracy against the fraction, one line per optimizer variant."""
    if "variant" not in rows[0]:
        raise ValueError("Figure 2 (left) compares the optimizer variants of a --variant sweep "
                         "(sweeps/fig2_left.toml); this sweep has no variant column")
    plots.variants(out / "fig2_left.png", rows, spec=plots.read_spec(out), evals=steps)
    variants = _by(rows, "variant")
    mean = {v: round(_mean_best(rs), 4) for v, rs in variants.items()}
    top = max(rows, key=lambda r: r["frac"])["frac"]
    best_ok = None
    # something generalized, so the ranking means something; under the paper's
    # 10^5 steps the others may yet catch up, so a short budget decides nothing
    if max(mean.values()) >= 0.5 and _budget(rows) >= 10**5:
        best_ok = max(mean, key=mean.get) in ("adamw", "adamw_to_init")
    full = {v: round(_mean_best([r for r in rs if r["frac"] == top]), 4) for v, rs in variants.items() if "fullbatch" in v}
    some = any(b >= 0.5 for b in full.values()) if full else None
    if some is False and _budget(rows) < 10**5:
        some = None  # the paper's budget may yet show it
    train = [r["steps_to_99_train"] for r in rows]
    fits = None
    if _budget(rows) >= 10**4 or all(t is not None for t in train):
        fits = all(t is not None and t <= 10**4 for t in train)
    return [
        Check("weight decay helps most (a weight-decay variant has the highest mean best val accuracy)", best_ok,
              {"mean_best_val_acc": mean}),
        Check(f"some generalization with full batch at the highest fraction ({top:g}; criterion best val ≥ 0.5)", some,
              {"best_val_acc_full_batch": full}),
        Check("train accuracy reaches 99% within 10⁴ updates for every variant", fits,
              {"steps_to_99_train": {v: [r["steps_to_99_train"] for r in rs] for v, rs in variants.items()}}),
    ]


# the paper's pairs (section 3.2): a symmetric operation and its asymmetric
# kin, among the mod-p ops; it pairs nothing in S5 (neither x·y nor x·y·x⁻¹
# is symmetric in x and y)
SYMMETRIC_PAIRS = (("add", "sub"), ("x2_y2", "x2_xy_y2_x"), ("x2_xy_y2", "x2_xy_y2_x"))


def fig2_right(out: Path, rows, steps, curves) -> list[Check]:
    """Best val accuracy against the fraction, one line per operation."""
    plots.data_efficiency(out / "fig2_right.png", rows, spec=plots.read_spec(out), evals=steps)
    ops = _by(rows, "op")
    # the data an op needs: where its mean best val accuracy first reaches 0.5
    # (interpolated), less brittle under a short budget than the first 99%
    half = {op: _half_frac(rs) for op, rs in ops.items()}
    least = {op: _least_frac(rs) for op, rs in ops.items()}
    fracs = sorted({r["frac"] for r in rows})
    step = min(np.diff(fracs)) if len(fracs) > 1 else 1.0
    table = {op: {f"{f:g}": round(_mean_best([r for r in rs if r["frac"] == f]), 4) for f in fracs} for op, rs in ops.items()}

    def need(op):  # a fraction past the grid for an op that never got there
        return np.inf if half[op] is None else half[op]

    # Under a budget shorter than the paper's, an op that never got there may
    # yet: a comparison that rests on it is untested, whichever way it points.
    short = _budget(rows) < 10**5

    def decided(*names):
        seen = [half[n] for n in names]
        return all(v is not None for v in seen) or (not short and any(v is not None for v in seen))

    same = None
    if "sub" in half and "div" in half and decided("sub", "div"):
        same = abs(need("sub") - need("div")) <= step + 1e-9
    pairs = [(a, b) for a, b in SYMMETRIC_PAIRS if a in half and b in half and decided(a, b)]
    symmetric = all(need(a) <= need(b) for a, b in pairs) if pairs else None
    anyone = any(v is not None for v in half.values())
    hard = (half["x3_xy2_y"] is None and anyone) if "x3_xy2_y" in half and not short else None
    rounded = {op: None if v is None else round(v, 3) for op, v in half.items()}
    return [
        Check("x−y and x/y need about the same data (their fractions at half accuracy within one grid step)", same,
              {"frac_at_half_acc": {k: rounded.get(k) for k in ("sub", "div")}}),
        Check("symmetric operations need no more data than their asymmetric kin (fraction at half accuracy)", symmetric,
              {"pairs": [[a, rounded[a], b, rounded[b]] for a, b in pairs]}),
        Check("a complicated operation (x³+xy²+y) does not generalize where others do (never half accuracy)", hard,
              {"frac_at_half_acc": rounded, "least_frac_99": least, "mean_best_val_acc": table}),
    ]


def _half_frac(rows: list[dict], level: float = 0.5) -> float | None:
    """The fraction at which the mean best val accuracy over seeds first
    reaches ``level``, linearly interpolated between grid points; the least
    fraction if it starts above; None if it never does."""
    pts = [(f, _mean_best(rs)) for f, rs in sorted(_by(rows, "frac").items())]
    for i, (f, v) in enumerate(pts):
        if v >= level:
            if i == 0:
                return float(f)
            f0, v0 = pts[i - 1]
            return float(f0 + (f - f0) * (level - v0) / (v - v0))
    return None


def fig6(out: Path, rows, steps, curves) -> list[Check]:
    """Best val accuracy against the fraction, one line per number of outliers."""
    plots.data_efficiency(out / "fig6.png", rows, spec=plots.read_spec(out), evals=steps)
    ks = _by(rows, "outliers")
    good = {int(k): sorted(f for f, rs in _by(v, "frac").items() if _mean_best(rs) >= 0.99) for k, v in ks.items()}
    best = {int(k): {f"{f:g}": round(_mean_best(rs), 4) for f, rs in sorted(_by(v, "frac").items())} for k, v in ks.items()}
    base = good.get(0)
    few = many = None
    short = _budget(rows) < 10**5  # a run not there yet may get there within the paper's budget
    if base and not short:  # the fractions that reach 99% may yet change, with or without outliers
        few_ks = [k for k in good if 0 < k <= 1000]  # none trained: untested, not vacuously held
        few = all(good[k] == base for k in few_ks) if few_ks else None
        big = [k for k in good if k > 1000]
        many = all(len(good[k]) < len(base) for k in big) if big and not short else None
    fits = all(r["steps_to_99_train"] is not None for r in rows)
    if not fits and short:
        fits = None
    return [
        Check("up to 1,000 outliers barely matter (the same fractions reach 99% val as with none)", few,
              {"fracs_reaching_99_val": good, "mean_best_val_acc": best}),
        Check("more outliers (2,000, 3,000) shrink the range of fractions that generalize", many, {"fracs_reaching_99_val": good}),
        Check("train accuracy still reaches 99% for every run, outliers included", fits,
              {"steps_to_99_train": {int(k): [r["steps_to_99_train"] for r in v] for k, v in ks.items()}}),
    ]


def _columns(rows: list[dict], *names: str) -> dict:
    """Each named column over ``rows``, rounded; a column no row has is left
    out (older tables lack the scores measured on the rows before t-SNE)."""
    return {c: [None if r.get(c) is None else round(r[c], 3) for r in rows]
            for c in names if any(r.get(c) is not None for r in rows)}


def fig3(out: Path, rows, steps, curves) -> list[Check]:
    """From ``grokjax.analysis tsne``'s scores in ``OUT/analysis``."""
    path = _latest(out, "tsne_unembed_step*_runs.csv", exclude="_H")
    got = _read(path)
    done = [r for r in got if r["val_acc"] is not None and r["val_acc"] >= 0.99]  # at the measured step
    # the paper's maps are of models trained 10^5 steps: structure may yet form
    # (or fade) in a shorter run, so a short budget decides nothing
    decides = _budget(rows) >= 10**5
    checks = []
    if "plus8_ratio" in got[0]:
        ratios = [round(r["plus8_ratio"], 3) for r in done]
        # "+8 lines": the x → x+8 lines are short (mean under half the mean pair distance)
        checks.append(Check("addition: a number line formed by adding 8 (plus8_ratio < 0.5 for generalized runs)",
                            all(v < 0.5 for v in ratios) if ratios and decides else None,
                            {"generalized": f"{len(done)} of {len(got)} runs", "plus8_ratio": ratios,
                             **_columns(done, "best_step", "best_step_ratio", "rows_plus8_ratio",
                                        "rows_best_step", "rows_best_step_ratio"),
                             "csv": path.name}))
    if "silhouette" in got[0] and "plus8_ratio" not in got[0]:
        sil = [round(r["silhouette"], 3) for r in done]
        checks.append(Check("S5: clusters by the cosets of ⟨(0,3)(1,4), (1,2)(3,4)⟩ (silhouette > 0.25 for generalized runs)",
                            all(v > 0.25 for v in sil) if sil and decides else None,
                            {"generalized": f"{len(done)} of {len(got)} runs", "silhouette": sil,
                             **_columns(done, "best_silhouette", "rows_silhouette", "rows_best_silhouette"),
                             "csv": path.name}))
    return checks


def fig7(out: Path, rows, steps, curves) -> list[Check]:
    """From ``grokjax.analysis sharpness``'s CSV in ``OUT/analysis`` (default ε)."""
    from scipy.stats import spearmanr

    path = _latest(out, "sharpness_step*_eps0.0001.csv")
    got = _read(path)
    rho, p = spearmanr([r["phi"] for r in got], [r["val_acc"] for r in got])
    rho, p = float(rho), float(p)
    grokked = sum(r["val_acc"] >= 0.99 for r in got)
    # the paper's protocol: stopped when about half the runs have grokked; far
    # from that, val accuracy barely varies and ρ is not the paper's measure
    about_half = 0.25 <= grokked / len(got) <= 0.75
    return [Check("φ against val accuracy: Spearman ρ ≈ −0.80 (criterion ρ ≤ −0.5 with p < 0.05, "
                  "when a quarter to three quarters of the runs have grokked)",
                  (rho <= -0.5 and p < 0.05) if about_half else None,
                  {"spearman_rho": round(rho, 3), "p": round(p, 4), "runs": len(got), "grokked": grokked,
                   "csv": path.name})]


def _read(path: Path) -> list[dict]:
    return [{k: report.cell(v) for k, v in r.items()} for r in report.read_csv(path)]


def _latest(out: Path, pattern: str, exclude: str | None = None) -> Path:
    found = sorted((p for p in (out / "analysis").glob(pattern) if not exclude or exclude not in p.name),
                   key=lambda p: int(p.name.split("step")[1].split("_")[0].split(".")[0]))
    if not found:
        import errno

        what = pattern.split("_")[0]  # the analysis that writes it: tsne, sharpness
        raise FileNotFoundError(errno.ENOENT, f"no {pattern}: run python -m grokjax.analysis {what} {out} first",
                                str(out / "analysis"))
    return found[-1]


# ---------------------------------------------------------------- drawing


def _curve_plot(path: Path, rows, steps, curves, what: str, ylabel: str):
    """Train (red) and validation (green) ``what`` against steps on a log
    axis, every run of the folder. A loss of exactly 0 (float32 rounds it
    there once the margins are large) is drawn at a named floor, not dropped.
    Returns the figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.2, 4.4), layout="constrained")
    ax = fig.subplots()
    keep = steps > 0
    train, val = curves[f"train_{what}"][keep], curves[f"val_{what}"][keep]
    floor = None
    if what == "loss":
        ax.set_yscale("log")
        floor = plots.zero_floor(np.concatenate([train.ravel(), val.ravel()]))
    else:
        ax.set_ylim(-0.02, 1.02)
    for i in range(len(rows)):
        t, v = (train[:, i], val[:, i]) if floor is None else (np.maximum(train[:, i], floor), np.maximum(val[:, i], floor))
        ax.plot(steps[keep], t, color=plots.TRAIN, lw=1.3, alpha=0.8, label="train" if i == 0 else None)
        ax.plot(steps[keep], v, color=plots.VAL, lw=1.3, alpha=0.8, label="validation" if i == 0 else None)
    if floor is not None and ((train <= 0).any() or (val <= 0).any()):
        ax.axhline(floor, color="0.5", lw=0.8, ls="--", zorder=0,
                   label=f"loss exactly 0, drawn at $10^{{{round(np.log10(floor))}}}$")  # as the ticks write it
    plots.log_steps_axis(ax, steps[keep])
    ax.set_xlabel("optimization steps")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    r = rows[0]
    ax.set_title(f"{plots.sweep_title(rows)}, frac {r['frac']:g}, weight decay {r['weight_decay']:g}: {_scale(rows)} "
                 f"(the paper's figure: to 10⁶ steps)\n{plots.settings_line(rows, plots.read_spec(path.parent), steps)}",
                 fontsize=10)
    fig.savefig(path, dpi=130)
    return fig


@dataclasses.dataclass(frozen=True)
class PaperFigure:
    claim: str
    spec: str  # the sweep file (and profile suffix) that makes its runs
    measure: Callable
    # the operations the claim is about (None: any, as Figure 2 right
    # compares whichever ran), and settings every run must have: a claim
    # about Adam without weight decay says nothing of an AdamW sweep
    ops: tuple | None = None
    settings: tuple = ()

    def check_sweep(self, rows: list[dict]) -> None:
        """A one-line ValueError where the sweep is not one the claim is about."""
        ops = sorted({r["op"] for r in rows})
        if self.ops is not None and not set(ops) <= set(self.ops):
            raise ValueError(f"the claim is about {' or '.join(self.ops)}; this sweep trained {', '.join(ops)} "
                             f"(its runs: {self.spec})")
        for key, want in self.settings:
            got = sorted({r.get(key) for r in rows}, key=str)
            if got != [want]:
                raise ValueError(f"the claim is about runs with {key} = {want:g}; this sweep has {key} = "
                                 f"{', '.join(map(str, got))} (its runs: {self.spec})")


FIGURES = {
    "fig1_left": PaperFigure("train accuracy near 100% before 10³ steps; val accuracy near 100% only at about 10⁶, "
                             "with little sign of it before 10⁵ (x/y mod 97, 50%, Adam, no weight decay)",
                             "sweeps/fig1_left.toml", fig1_left, ("div",), (("modulus", 97), ("weight_decay", 0.0))),
    "fig4": PaperFigure("validation loss rises from 10² to about 10⁵ steps, then descends a second time (Figure 1's runs)",
                        "sweeps/fig1_left.toml", fig4, ("div",), (("modulus", 97), ("weight_decay", 0.0))),
    "fig1_center": PaperFigure("near 25–30% of data, 1% less data costs 40–50% more steps to 99% val; steps to 99% "
                               "train stay within 10³–10⁴ (S5)", "sweeps/fig1_center.toml", fig1_center, ("s5_mul",)),
    "fig2_left": PaperFigure("weight decay helps generalization most; some generalization even with full batch at high "
                             "fractions; train accuracy reaches 100% in 10³–10⁴ updates (S5, 10⁵ steps)",
                             "sweeps/fig2_left.toml", fig2_left, ("s5_mul",)),
    "fig2_right": PaperFigure("x−y and x/y need about the same data; symmetric operations need less than their "
                              "asymmetric kin; complicated ones need more (10⁵ steps)", "sweeps/fig2_right.toml", fig2_right),
    "fig3": PaperFigure("t-SNE of the output layer: a circle with +8 lines for x+y; clusters by coset for S5",
                        "sweeps/fig3.toml", fig3, ("add", "s5_mul")),
    "fig6": PaperFigure("up to 1,000 outliers barely matter; more shrink the fractions that generalize; train accuracy "
                        "still reaches 100%", "sweeps/fig6.toml", fig6),  # the paper does not name its op
    "fig7": PaperFigure("Spearman ρ of sharpness φ against val accuracy ≈ −0.80 (S5)", "sweeps/fig7.toml", fig7,
                        ("s5_mul",)),
}


def judge(name: str, out) -> dict:
    """Figure ``name`` of the sweep in ``out``: draws it (where it draws) and
    returns the record written to ``OUT/<name>.json``."""
    out = Path(out)
    fig = FIGURES[name]
    rows, steps, curves = report.read_sweep(out)
    if rows and "op" not in rows[0]:
        raise ValueError(f"Power et al.'s figures read sweeps of operation tables; this one trains the "
                         f"{rows[0].get('task', 'unknown')} task")
    fig.check_sweep(rows)
    png = out / f"{name}.png"
    drawn_before = png.exists()
    try:
        checks = fig.measure(out, rows, steps, curves)
    except Exception:
        if not drawn_before:  # nothing half-written: no figure without its verdict
            png.unlink(missing_ok=True)
        raise
    # its only inputs are the figure and the folder, whose config.json holds the rest
    record = {"figure": name, "command": f"python -m grokjax.paper {name} {out}", "claim": fig.claim,
              "spec": fig.spec, "sweep": str(out), "runs": len(rows),
              "scale": _scale(rows), "verdict": verdict(checks),
              "checks": [c.to_dict() for c in checks]}
    report.write_json(out / f"{name}.json", record)
    return record


def main(argv: list[str] | None = None) -> int:
    from grokjax.cli import Parser, UsageError, os_error_line

    p = Parser(prog="python -m grokjax.paper",
               description="Power et al.'s figures from finished sweep folders: draws OUT/FIG.png in the paper's manner "
                           "(fig3 and fig7 draw nothing new: they read what `python -m grokjax.analysis tsne|sharpness OUT` wrote) and writes "
                           "OUT/FIG.json: the claim, the numbers that test it, and a verdict per part of the claim "
                           "(held, not held, or untested where the sweep's budget or grid cannot decide it).",
               formatter_class=argparse.RawDescriptionHelpFormatter,
               epilog="figures:\n" + "\n".join(f"  {k:12s} {f.claim}\n  {'':12s} runs: {f.spec}" for k, f in FIGURES.items()))
    p.add_argument("figure", choices=tuple(FIGURES), metavar="FIG", help=f"one of {', '.join(FIGURES)}")
    p.add_argument("out", type=Path, help="the sweep folder")
    try:
        args = p.parse_args(argv)
    except UsageError as e:
        return e.report("grokjax.paper")
    try:
        record = judge(args.figure, args.out)
    except OSError as e:  # an unreadable table or an unwritable folder: the path says which
        return UsageError(os_error_line(e)).report("grokjax.paper")
    except (ValueError, KeyError, IndexError) as e:
        print(f"grokjax.paper: error: {args.out}: cannot read {args.figure} from it ({e})", file=sys.stderr)
        return 2
    runs = record["runs"]
    print(f"{args.figure}: {record['verdict']} ({record['scale']}, {runs} run{'s' if runs != 1 else ''})")
    for c in record["checks"]:
        print(f"  [{c['verdict']}] {c['what']}")
    print(f"wrote {args.out / (args.figure + '.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
