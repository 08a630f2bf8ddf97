"""The reduced trajectory over weight norm × representation: Omnigrok
Figures 6a-d and 6f.

Omnigrok §5.1 reduces training on the toy addition to two numbers, the
decoder's weight norm w and the representation's messiness ξ, under two
assumptions (its appendix, "reduced trajectory analysis"): the decoder's
direction is at its best for every (w, ξ) at every moment (scale
separation), so the loss is the landscape's reduced train loss ℓ(w, ξ); and
the representation moves along the line between the random one (ξ = 1) and
the ideal one (ξ = 0). What is left is gradient flow on ℓ, with weight decay
γ acting on w alone (the paper's Eq. 6, whose symbols did not survive in our
copy of the text; this is the form its preceding sentence describes):

    dξ/dt = −η_r ∂ℓ/∂ξ,        dw/dt = −η_d (∂ℓ/∂w + γ w).

The paper draws its paths by hand (the authors' notebook places the arrows
at fixed coordinates). Here they are integrated on a measured landscape
(``python -m grokjax.landscape ... --messiness``): ℓ and the reduced test
loss are each run's lowest train loss and the test loss at that moment,
averaged over seeds in log loss and interpolated by a cubic spline in log
loss, so that they stay positive across their orders of magnitude. ℓ is
first smoothed with a Gaussian of ``sigma`` grid steps (the notebook's
figure smooths with σ = 1): the noise of a measured landscape's region II
would otherwise trap the flow in pits of its own. The test loss is only
read along the paths, so it is read as measured (``test_sigma`` 0): on the
flat ideal line only ξ = 0 generalizes fully, one grid row wide, and
smoothing would blur it into its neighbours.
The claims it reads:

- 6a-b, 6f: a path starting in region II (fitted at a large norm) slides
  down in w at the speed weight decay sets, meets the boundary where the
  loss's gradient balances weight decay (−∂ℓ/∂w = γw), then drifts along it
  toward smaller ξ and the generalizing solution;
- 6c: along such a path the test loss descends more than once;
- 6d: near the contour (train loss = ``level``) the negative gradient of ℓ
  points toward larger w and smaller ξ (read on the measured grid by finite
  differences, and on the smoothed surface);
- t ∝ 1/γ: the time to reach the generalizing solution, over a range of γ.

Time is in units of 1/η_d (η_d = 1). η_r is relative to it: by default the
rate at which gradient flow at one learning rate for the symbols' vectors
and the decoder moves ξ. The representation is ideal + ξ·Δ (Δ the symbols'
own vectors minus the ideal ones), so flow on the vectors, projected on that
line, gives dξ/dt = −η ∂ℓ/∂ξ / ‖Δ‖², while w, the decoder's norm, moves at
−η ∂ℓ/∂w: η_r = 1/‖Δ‖² (0.09 on the toy addition mod 10). ``--eta-r`` sets
another; a task without symbol vectors takes 1.

    python -m grokjax.trajectory results/omnigrok_representation_toy_fine_cpu

writes ``trajectory.csv`` (every path's points), ``trajectory.json`` (the
settings, each path's summary, the gradient check, the scan over γ) and
``trajectory.png`` into the folder.
"""

from __future__ import annotations

import dataclasses
import io
import sys
from pathlib import Path

import numpy as np

from grokjax.contours import read_folder

TRAIN = "min_train_loss"  # the reduced train loss, as grokjax.contours reads it
TEST = "val_loss_at_min_train"  # the test loss at that moment
LEVEL = 0.05  # Figure 6a's dashed contour between regions I and II
FLOOR = 1e-12  # a loss of exactly 0 is drawn at this
BAND = 3.0  # "near the contour": a train loss within this factor of the level
SIGMA = 1.0  # the notebook's smoothing, in grid steps, of the train loss
TEST_SIGMA = 0.0  # the test loss as measured
GAMMA = 1e-4  # on the toy addition's landscape the boundary's balance then lies inside the contour
ETA_SCAN = (1.0, 1e-1, 1e-2, 1e-3, 1e-4)  # times η_r
# generalized: the test loss has come this share of the way (in log loss) from
# the worst fitted grid point's to the best's
REACH = 0.9
FIT_SLACK = 2.0  # and the train loss is at most this times the level
# a descent or rise of the test loss counts from this change in ln loss (a factor
# e): neighbouring points of a measured landscape are separate runs, and on the
# toy addition's ξ = 0 row their test losses differ by up to a factor 2
SWING = 1.0
GAMMA_SCAN = (0.25, 0.5, 1.0, 2.0, 4.0)  # times --gamma
# the notebook's six starts (its Figure 6a-b, plot-addition-landscape.ipynb) as
# fractions of the grid's norm and ξ ranges: three at a small norm (region I),
# three at 85% of the largest norm (region II), at low, middle and high ξ
STARTS = {"A": (0.05, 0.3), "B": (0.15, 0.5), "C": (0.1, 0.975),
          "D": (0.85, 0.225), "E": (0.85, 0.6), "F": (0.85, 0.95)}
COLUMNS = ("path", "t", "norm", "messiness", "train_loss", "test_loss")


@dataclasses.dataclass(frozen=True)
class Grid:
    """A reduced loss on the landscape's grid: ``z[i, j]`` is ln loss at
    messiness ``xis[i]`` and norm ``norms[j]``, averaged over seeds."""

    norms: np.ndarray
    xis: np.ndarray
    z: np.ndarray
    seeds: int


def grid(rows: list[dict], n_train: int, column: str) -> Grid:
    """The landscape rows of one training size as a ``Grid`` of ``column``;
    ValueError when a (ξ, norm) point is missing for a seed, or a loss is not finite."""
    mine = [r for r in rows if r["n_train"] == n_train]
    if not mine:
        raise ValueError(f"the landscape has no training size {n_train}")
    norms = np.array(sorted({r["weight_norm_target"] for r in mine}), float)
    xis = np.array(sorted({r.get("messiness", 1.0) for r in mine}), float)
    seeds = sorted({r["seed"] for r in mine})
    z = np.full((len(seeds), len(xis), len(norms)), np.nan)
    for r in mine:
        v = float(r[column])
        if not np.isfinite(v):
            raise ValueError(f"{column} is {v} at norm {r['weight_norm_target']:g}, messiness "
                             f"{r.get('messiness', 1.0):g}, seed {r['seed']}: a diverged run leaves no surface")
        z[seeds.index(r["seed"]), np.searchsorted(xis, r.get("messiness", 1.0)),
          np.searchsorted(norms, r["weight_norm_target"])] = np.log(max(v, FLOOR))
    if np.isnan(z).any():
        raise ValueError(f"the landscape at size {n_train} misses {int(np.isnan(z).sum())} of its "
                         f"(seed, messiness, norm) points")
    if len(norms) < 3 or len(xis) < 3:  # a gradient needs a spline of degree 2 at least
        raise ValueError(f"a trajectory needs 3 norms and 3 messiness values at least; the landscape has "
                         f"{len(norms)} and {len(xis)}")
    return Grid(norms, xis, z.mean(0), len(seeds))


def smooth(z: np.ndarray, sigma: float) -> np.ndarray:
    """``z`` smoothed by a Gaussian of ``sigma`` grid steps (0: as it is), its edges extended."""
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(z, sigma, mode="nearest") if sigma > 0 else z


@dataclasses.dataclass(frozen=True)
class Surface:
    """ln loss over (w, ξ), smoothed and splined; values and gradients
    anywhere, read at the nearest point of the grid's rectangle outside it."""

    grid: Grid
    sigma: float
    spline: object = dataclasses.field(repr=False)

    def clip(self, w, xi):
        g = self.grid
        return np.clip(w, g.norms[0], g.norms[-1]), np.clip(xi, g.xis[0], g.xis[-1])

    def ln(self, w, xi):
        w, xi = self.clip(w, xi)
        return self.spline(xi, w, grid=False)

    def loss(self, w, xi):
        return np.exp(self.ln(w, xi))

    def grad(self, w, xi):
        """(∂ℓ/∂w, ∂ℓ/∂ξ) of the loss itself (ℓ times the gradient of ln ℓ)."""
        w, xi = self.clip(w, xi)
        ell = np.exp(self.spline(xi, w, grid=False))
        return ell * self.spline(xi, w, dy=1, grid=False), ell * self.spline(xi, w, dx=1, grid=False)


def surface(g: Grid, sigma: float = SIGMA) -> Surface:
    """``g`` smoothed by a Gaussian of ``sigma`` grid steps (0: as measured)
    and interpolated by a spline through every point, cubic where the grid
    allows."""
    from scipy.interpolate import RectBivariateSpline

    z = smooth(g.z, sigma)
    spline = RectBivariateSpline(g.xis, g.norms, z, kx=min(3, len(g.xis) - 1), ky=min(3, len(g.norms) - 1), s=0)
    return Surface(g, sigma, spline)


WALL = 0.005  # the soft wall at the grid's edges, as a share of each axis's range


def velocity(train: Surface, w: float, xi: float, gamma: float, eta_r: float) -> tuple[float, float]:
    """(dw/dt, dξ/dt) by Eq. 6 (η_d = 1). A component that would leave the
    grid slows in proportion to its distance from the edge over the last
    ``WALL`` of the axis: a soft wall, continuous, so the solver does not
    chatter where a hard one would switch the flow on and off."""
    dw, dxi = train.grad(w, xi)
    v = [-(float(dw) + gamma * w), -eta_r * float(dxi)]
    g = train.grid
    for i, (x, axis) in enumerate(((w, g.norms), (xi, g.xis))):
        lo, hi = float(axis[0]), float(axis[-1])
        room = (hi - x) if v[i] > 0 else (x - lo)
        v[i] *= min(1.0, max(room, 0.0) / (WALL * (hi - lo)))
    return v[0], v[1]


def integrate(train: Surface, start: tuple[float, float], gamma: float, eta_r: float,
              t_max: float | None = None, n_points: int = 400, crossings: dict | None = None,
              max_evaluations: int = 200_000) -> dict:
    """The path from ``start`` = (w, ξ) up to ``t_max`` (default 12/γ: pure
    weight decay shrinks w by e⁻¹² in that time), at ``n_points`` times
    spaced evenly in log time after t = 0: arrays ``t``, ``norm``,
    ``messiness``; and under ``crossed``, for each function f(w, ξ) of
    ``crossings``, the first time it is ≥ 0 (0 if it is at the start), located
    by the solver (None if never). LSODA: it switches to a stiff method where
    ξ relaxes much faster than weight decay moves w. RuntimeError past
    ``max_evaluations`` of the velocity (a path chattering against an edge)."""
    from scipy.integrate import solve_ivp

    t_max = 12.0 / gamma if t_max is None else t_max
    times = np.concatenate([[0.0], np.geomspace(t_max * 1e-6, t_max, n_points - 1)])
    g = train.grid
    scale = np.array([g.norms[-1] - g.norms[0], g.xis[-1] - g.xis[0]])
    crossings = crossings or {}
    calls = [0]

    def rhs(t, y):
        calls[0] += 1
        if calls[0] > max_evaluations:
            raise RuntimeError(f"the path from w = {start[0]:g}, messiness = {start[1]:g} took more than "
                               f"{max_evaluations:,} evaluations")
        return velocity(train, y[0], y[1], gamma, eta_r)

    def event(f):
        e = lambda t, y: float(f(*train.clip(y[0], y[1])))  # noqa: E731
        e.direction = 1.0
        return e

    events = [event(f) for f in crossings.values()]
    # tolerances much tighter than these make the solver chatter where the flow is held at an edge
    sol = solve_ivp(rhs, (0.0, t_max), np.asarray(start, float), method="LSODA", t_eval=times, rtol=1e-5,
                    atol=1e-6 * scale, events=events or None)
    if not sol.success:
        raise RuntimeError(f"the path from w = {start[0]:g}, messiness = {start[1]:g} did not integrate: {sol.message}")
    w, xi = train.clip(sol.y[0], sol.y[1])
    crossed = {}
    for i, (name, f) in enumerate(crossings.items()):
        if f(*train.clip(*start)) >= 0:
            crossed[name] = (0.0, float(w[0]), float(xi[0]))
        elif len(sol.t_events[i]):
            y = train.clip(*sol.y_events[i][0])
            crossed[name] = (float(sol.t_events[i][0]), float(y[0]), float(y[1]))
        else:
            crossed[name] = None
    return {"t": sol.t, "norm": w, "messiness": xi, "crossed": crossed}


def crossings_of(train: Surface, test: Surface, gamma: float, gen_test_loss: float, level: float = LEVEL) -> dict:
    """The two moments a path is read at: ``boundary``, where −∂ℓ/∂w first
    reaches half of γw (the loss pushes back against weight decay), and
    ``generalized``, where the test loss first falls to ``gen_test_loss``
    while the train loss is at most ``FIT_SLACK`` times the contour's level
    (a small norm's constant output has a modest test loss too, but fits
    nothing)."""
    return {"boundary": lambda w, xi: -train.grad(w, xi)[0] - 0.5 * gamma * w,
            "generalized": lambda w, xi: np.minimum(np.log(gen_test_loss) - test.ln(w, xi),
                                                    np.log(level * FIT_SLACK) - train.ln(w, xi))}


def swings(y, tol: float = SWING) -> list[tuple[int, int, float]]:
    """The legs of ``y`` up and down, each a change of at least ``tol`` from
    the extreme before it: (first index, last index, change), alternating in
    sign. A wiggle smaller than ``tol`` does not end a leg."""
    y = np.asarray(y, float)
    legs, pivot, ext, direction = [], 0, 0, 0
    lo = hi = 0
    for i in range(1, len(y)):
        if direction == 0:
            lo, hi = (i if y[i] < y[lo] else lo), (i if y[i] > y[hi] else hi)
            if y[i] - y[lo] >= tol:
                pivot, ext, direction = lo, i, 1
            elif y[hi] - y[i] >= tol:
                pivot, ext, direction = hi, i, -1
        elif (y[i] - y[ext]) * direction > 0:
            ext = i
        elif (y[ext] - y[i]) * direction >= tol:
            legs.append((pivot, ext, float(y[ext] - y[pivot])))
            pivot, ext, direction = ext, i, -direction
    if direction:
        legs.append((pivot, ext, float(y[ext] - y[pivot])))
    return legs


def boundary_gradients(g: Grid, level: float = LEVEL, band: float = BAND, sigma: float = 0.0) -> dict:
    """At the grid's points whose train loss lies within a factor ``band``
    of ``level``, the direction of −∇ℓ by finite differences (on the grid
    smoothed by ``sigma`` steps; 0: as measured): how many point toward a
    larger norm, toward a smaller ξ, and both (Figure 6d's claim)."""
    z = smooth(g.z, sigma)
    dz_dxi, dz_dw = np.gradient(z, g.xis, g.norms)
    near = np.abs(z - np.log(level)) <= np.log(band)
    larger_w, smaller_xi = (-dz_dw > 0) & near, (-dz_dxi < 0) & near
    n = int(near.sum())
    return {"level": level, "band": band, "sigma": sigma, "points": n,
            "toward_larger_norm": int(larger_w.sum()), "toward_smaller_messiness": int(smaller_xi.sum()),
            "both": int((larger_w & smaller_xi).sum()),
            "share_both": None if n == 0 else round(float((larger_w & smaller_xi).sum()) / n, 4)}


def describe_path(name: str, path: dict, train: Surface, test: Surface, gamma: float,
                  tol: float = SWING) -> dict:
    """One path's summary: where it starts and ends; where it meets the
    boundary and how far ξ moved before and after; when it generalizes
    (``t_gen``); and the legs of its test loss (each at least ``tol`` in ln
    loss), how many descend."""
    w, xi, t = path["norm"], path["messiness"], path["t"]
    ln_test = test.ln(w, xi)
    b, g = path["crossed"]["boundary"], path["crossed"]["generalized"]
    after = t >= (b[0] if b else np.inf)
    legs = swings(ln_test, tol)
    rnd = lambda v, d=4: None if v is None else round(float(v), d)  # noqa: E731
    return {
        "path": name, "start": [rnd(w[0]), rnd(xi[0])], "end": [rnd(w[-1]), rnd(xi[-1])],
        "start_train_loss": rnd(train.loss(w[0], xi[0]), 6), "end_train_loss": rnd(train.loss(w[-1], xi[-1]), 6),
        "start_test_loss": rnd(np.exp(ln_test[0]), 6), "end_test_loss": rnd(np.exp(ln_test[-1]), 6),
        "starts_in_region_II": bool(b is None or b[0] > 0),
        "t_boundary": None if b is None else rnd(b[0], 6),
        "at_boundary": None if b is None else [rnd(b[1]), rnd(b[2]), rnd(train.loss(b[1], b[2]), 6)],
        "messiness_drift_before_boundary": None if b is None else rnd(xi[0] - b[2]),
        "messiness_drift_after_boundary": None if b is None else rnd(b[2] - xi[-1]),
        "train_loss_range_after_boundary": None if not after.any() else
        [rnd(train.loss(w[after], xi[after]).min(), 6), rnd(train.loss(w[after], xi[after]).max(), 6)],
        "t_gen": None if g is None else rnd(g[0], 6),
        "t_gen_times_gamma": None if g is None else rnd(g[0] * gamma, 6),
        "test_loss_descents": sum(c < 0 for _, _, c in legs),
        "test_loss_legs": [{"t_from": rnd(t[a], 6), "t_to": rnd(t[b_], 6), "ln_change": rnd(c)} for a, b_, c in legs],
    }


def gamma_scan(train: Surface, test: Surface, start: tuple[float, float], gamma: float, eta_r: float,
               gen_test_loss: float, level: float = LEVEL, factors=GAMMA_SCAN, done: dict | None = None) -> dict:
    """t_gen from ``start`` at γ times each factor, and the slope of ln t_gen
    against ln γ (the paper: −1, time ∝ 1/γ); None where a path never
    generalizes or fewer than two do. ``done``: the path at γ itself, already
    integrated."""
    out = []
    for f in factors:
        p = done if f == 1.0 and done is not None else integrate(
            train, start, gamma * f, eta_r, crossings=crossings_of(train, test, gamma * f, gen_test_loss, level))
        g = p["crossed"]["generalized"]
        out.append({"gamma": gamma * f, "t_gen": None if g is None else round(g[0], 6)})
    ok = [r for r in out if r["t_gen"]]
    slope = None
    if len(ok) >= 2:
        slope = round(float(np.polyfit(np.log([r["gamma"] for r in ok]), np.log([r["t_gen"] for r in ok]), 1)[0]), 4)
    return {"start": [round(float(v), 4) for v in start], "runs": out, "slope_ln_t_gen_vs_ln_gamma": slope}


def generalizing_solution(train: Surface, test: Surface, level: float = LEVEL) -> dict:
    """The figure's green star: the grid point of lowest (smoothed) test loss
    among those whose train loss is at most ``level``; among all of them
    where none is (``fitted`` False)."""
    g = train.grid
    ln_test, ln_train = test.spline(g.xis, g.norms), train.spline(g.xis, g.norms)
    fitted = ln_train <= np.log(level)
    i, j = np.unravel_index(np.argmin(np.where(fitted, ln_test, np.inf) if fitted.any() else ln_test), ln_test.shape)
    worst = np.max(ln_test[fitted]) if fitted.any() else np.max(ln_test)
    return {"norm": round(float(g.norms[j]), 6), "messiness": round(float(g.xis[i]), 6),
            "test_loss": round(float(np.exp(ln_test[i, j])), 6), "train_loss": round(float(np.exp(ln_train[i, j])), 6),
            "fitted": bool(fitted.any()), "worst_fitted_test_loss": round(float(np.exp(worst)), 6),
            "reading": f"the grid point of lowest smoothed test loss among those of train loss <= {level:g}"}


def share_after_boundary(d: dict) -> float | None:
    """Of the ξ a path cleans (its fall in ξ), the share that falls after it meets the boundary."""
    before, after = d["messiness_drift_before_boundary"], d["messiness_drift_after_boundary"]
    if before is None or before + after <= 0:
        return None
    return round(max(after, 0.0) / (max(before, 0.0) + max(after, 0.0)), 4)


def eta_scan(train: Surface, test: Surface, starts: dict, gamma: float, eta_r: float, gen_test_loss: float,
             level: float = LEVEL, factors=ETA_SCAN, done: list[dict] | None = None) -> dict:
    """The region-II paths at η_r times each factor: per path the share of
    its cleaning of ξ that comes after it meets the boundary (the paper's
    drift along the boundary: near 1; cleaning while still in region II:
    near 0), its t_gen and its test-loss descents. ``done``: the paths at
    η_r itself, already described."""
    runs, crossings = [], crossings_of(train, test, gamma, gen_test_loss, level)
    for f in factors:
        described = done if f == 1.0 and done is not None else [
            describe_path(k, integrate(train, s, gamma, eta_r * f, crossings=crossings), train, test, gamma)
            for k, s in starts.items()]
        runs.append({"eta_r": eta_r * f, "paths": {
            d["path"]: {"share_after_boundary": share_after_boundary(d), "t_gen": d["t_gen"],
                        "test_loss_descents": d["test_loss_descents"]}
            for d in described if d["starts_in_region_II"]}})
    return {"factors": list(factors), "runs": runs}


def starts_on(g: Grid, named: dict[str, tuple[float, float]] | None = None) -> dict[str, tuple[float, float]]:
    """``STARTS`` (fractions of the grid's ranges) as (w, ξ) on ``g``."""
    named = STARTS if named is None else named
    return {k: (float(g.norms[0] + a * (g.norms[-1] - g.norms[0])), float(g.xis[0] + b * (g.xis[-1] - g.xis[0])))
            for k, (a, b) in named.items()}


def eta_r_of(task) -> float:
    """1/‖Δ‖² for a task with symbol vectors (``vectors()``: its own and
    ideal ones), the rate of ξ under gradient flow at the decoder's learning
    rate; else 1."""
    if not hasattr(task, "vectors"):
        return 1.0
    v = task.vectors()
    return float(1.0 / np.sum((v["own"] - v["ideal"]) ** 2))


def analyse(rows: list[dict], n_train: int, gamma: float = GAMMA, eta_r: float = 1.0, sigma: float = SIGMA,
            level: float = LEVEL, starts: dict[str, tuple[float, float]] | None = None, reach: float = REACH,
            scan_from: str | None = None, test_sigma: float = TEST_SIGMA) -> tuple[dict, dict, Surface, Surface]:
    """For one training size: every path, what trajectory.json holds, and the train and test surfaces."""
    gt, gv = grid(rows, n_train, TRAIN), grid(rows, n_train, TEST)
    train, test = surface(gt, sigma), surface(gv, test_sigma)
    starts = starts_on(gt) if starts is None else starts
    best = generalizing_solution(train, test, level)
    spread = np.log(best["worst_fitted_test_loss"] / best["test_loss"])
    gen = float(best["test_loss"] * np.exp((1 - reach) * spread))
    crossings = crossings_of(train, test, gamma, gen, level)
    paths = {k: integrate(train, s, gamma, eta_r, crossings=crossings) for k, s in starts.items()}
    described = [describe_path(k, p, train, test, gamma) for k, p in paths.items()]
    region_ii = [d for d in described if d["starts_in_region_II"]]
    scan_from = scan_from or next((d["path"] for d in region_ii), next(iter(starts)))
    got = {
        "n_train": n_train, "seeds": gt.seeds, "gamma": gamma, "eta_r": eta_r, "eta_d": 1.0, "sigma": sigma, "test_sigma": test_sigma,
        "level": level, "reach": reach,
        "generalized_at": {"test_loss": round(gen, 6), "train_loss": level * FIT_SLACK,
                           "reading": f"the test loss {reach:g} of the way in log loss from the worst fitted grid "
                                      f"point's to the generalizing solution's, the train loss at most "
                                      f"{FIT_SLACK:g} x the level"},
        "equation": "dxi/dt = -eta_r dl/dxi, dw/dt = -eta_d (dl/dw + gamma w); l the reduced train loss "
                    f"({TRAIN}, ln-averaged over seeds, smoothed, cubic spline in ln l)",
        "test_loss": f"{TEST} on the same grid, read the same way",
        "generalizing_solution": best,
        "paths": described,
        "boundary_gradients": {"measured": boundary_gradients(gt, level), "smoothed": boundary_gradients(gt, level,
                                                                                                       sigma=sigma)},
        "gamma_scan": gamma_scan(train, test, starts[scan_from], gamma, eta_r, gen, level, done=paths[scan_from])
        | {"path": scan_from},
        "eta_r_scan": eta_scan(train, test, starts, gamma, eta_r, gen, level, done=described),
        "claims": {
            "6a-b, 6f": "from region II the path slides down in norm, meets the boundary, then drifts along it to "
                        "smaller messiness and the generalizing solution",
            "6c": "the test loss along the path descends more than once",
            "6d": "near the contour the negative gradient points toward larger norm and smaller messiness",
            "time": "the time to generalize scales as 1/gamma",
        },
        "region_II_paths": len(region_ii),
        "region_II_paths_cleaning_mostly_after_the_boundary": sum((share_after_boundary(d) or 0) > 0.5
                                                                  for d in region_ii),
        "region_II_paths_generalizing": sum(d["t_gen"] is not None for d in region_ii),
        "region_II_paths_multiple_descent": sum(d["test_loss_descents"] >= 2 for d in region_ii),
    }
    return paths, got, train, test


def path_rows(paths: dict, train: Surface, test: Surface) -> list[dict]:
    """trajectory.csv's rows: every path's points with the train and test loss there."""
    out = []
    for k, p in paths.items():
        tr, te = train.loss(p["norm"], p["messiness"]), test.loss(p["norm"], p["messiness"])
        out += [{"path": k, "t": float(t), "norm": float(w), "messiness": float(x), "train_loss": float(a),
                 "test_loss": float(b)} for t, w, x, a, b in zip(p["t"], p["norm"], p["messiness"], tr, te)]
    return out


def plot(paths: dict, got: dict, train: Surface, test: Surface, title: str, loss: str = "MSE"):
    """Six panels: the train loss over norm × ξ with its contour, the
    paths and −∇ℓ near the contour (6a, 6d, 6f); the test loss with the
    paths and the generalizing solution (6b); the test loss along each path
    against time (6c); t_gen against γ (the 1/γ claim); and over η_r, the
    share of each region-II path's cleaning of ξ that comes after it meets
    the boundary, and its t_gen. Returns the figure."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    gt = train.grid
    fig = Figure(figsize=(20, 11), layout="constrained")
    (ax, bx, ex), (cx, dx, fx) = fig.subplots(2, 3)
    ww = np.linspace(gt.norms[0], gt.norms[-1], 200)
    xx = np.linspace(gt.xis[0], gt.xis[-1], 200)
    W, X = np.meshgrid(ww, xx)
    star = got["generalizing_solution"]
    for panel, surf, name in ((ax, train, f"train loss ({loss})"), (bx, test, f"test loss ({loss})")):
        z = surf.ln(W, X) / np.log(10)
        m = panel.pcolormesh(W, X, z, cmap="Reds", shading="auto")  # the notebook's: dark where the loss is high
        fig.colorbar(m, ax=panel, label=f"log10 {name}")
        cs = panel.contour(W, X, train.ln(W, X), [np.log(got["level"])], colors="gold", linestyles="--")
        panel.clabel(cs, fmt={cs.levels[0]: f"train {got['level']:g}"}, fontsize=8)
        for i, (k, p) in enumerate(paths.items()):
            panel.plot(p["norm"], p["messiness"], "-", color=f"C{i}", lw=2)
            panel.plot(p["norm"][0], p["messiness"][0], "o", color=f"C{i}")
            panel.annotate(k, (p["norm"][0], p["messiness"][0]), xytext=(4, 4), textcoords="offset points")
            panel.plot(p["norm"][-1], p["messiness"][-1], "x", color=f"C{i}", ms=8)
        panel.plot(star["norm"], star["messiness"], "*", color="green", ms=16, mec="k")
        pad = 0.02 * (gt.xis[-1] - gt.xis[0])  # a path along an edge stays in sight
        panel.set_ylim(gt.xis[0] - pad, gt.xis[-1] + pad)
        panel.set_xlabel("weight norm w")
        panel.set_ylabel("representation messiness ξ (0 ideal)")
        panel.set_title(name + (": paths of Eq. 6 (6a, 6f); arrows: −∇ℓ near the contour (6d)" if surf is train else
                                ": the same paths (6b); ★ the generalizing solution"), fontsize=10)
    # −∇ℓ at grid points near the contour, drawn in axis-normalized units (the axes' units differ)
    z = smooth(gt.z, got["sigma"])
    dz_dxi, dz_dw = np.gradient(z, gt.xis, gt.norms)
    near = np.abs(z - np.log(got["level"])) <= np.log(BAND)
    sw, sx = gt.norms[-1] - gt.norms[0], gt.xis[-1] - gt.xis[0]
    Gw, Gx = np.meshgrid(gt.norms, gt.xis)
    u, v = -dz_dw * sw, -dz_dxi * sx
    n = np.hypot(u, v) + 1e-30
    ax.quiver(Gw[near], Gx[near], (u / n)[near] * sw, (v / n)[near] * sx, angles="xy", scale_units="xy",
              scale=25, width=0.003, color="k")
    for i, (k, p) in enumerate(paths.items()):
        t = p["t"][1:]
        cx.plot(t, test.loss(p["norm"][1:], p["messiness"][1:]), "-", color=f"C{i}", lw=2,
                label=f"{k}: {_count(next(d['test_loss_descents'] for d in got['paths'] if d['path'] == k), 'descent')}")
        cx.plot(t, train.loss(p["norm"][1:], p["messiness"][1:]), ":", color=f"C{i}", lw=1)
    cx.set_xscale("log")
    cx.set_yscale("log")
    cx.axhline(star["test_loss"], color="green", lw=0.8)
    cx.set_xlabel("time t (units of 1/η_d)")
    cx.set_ylabel(f"loss along the path ({loss})")
    cx.set_title("test loss (solid) and train loss (dotted) along each path (6c);\ngreen: the generalizing solution's "
                 "test loss", fontsize=10)
    cx.legend(fontsize=8)
    cx.grid(alpha=0.3)
    scan = got["gamma_scan"]
    ok = [r for r in scan["runs"] if r["t_gen"]]
    if ok:
        dx.loglog([r["gamma"] for r in ok], [r["t_gen"] for r in ok], "o-", label=f"path {scan['path']}")
        g0 = ok[0]["gamma"]
        dx.loglog([r["gamma"] for r in ok], [ok[0]["t_gen"] * g0 / r["gamma"] for r in ok], ":", color="0.4",
                  label="∝ 1/γ")
        dx.legend(fontsize=8)
    slope = scan["slope_ln_t_gen_vs_ln_gamma"]
    dx.set_xlabel("weight decay γ")
    never = len(scan["runs"]) - len(ok)
    gen = got["generalized_at"]
    dx.set_ylabel(f"t_gen: test loss ≤ {gen['test_loss']:.3g}, train ≤ {gen['train_loss']:.3g}")
    dx.set_title("time to generalize against γ" + ("" if slope is None else f" (slope {slope:.2f}; the paper: −1)")
                 + (f"\n{never} of {len(scan['runs'])} values of γ never generalize" if never else ""), fontsize=10)
    dx.grid(alpha=0.3, which="both")
    dx.xaxis.set_minor_formatter(NullFormatter())
    names = list(paths)
    scan_r = got["eta_r_scan"]["runs"]
    etas = [r["eta_r"] for r in scan_r]
    for k in scan_r[0]["paths"]:
        colour = f"C{names.index(k)}" if k in names else None
        share = [np.nan if r["paths"][k]["share_after_boundary"] is None else r["paths"][k]["share_after_boundary"]
                 for r in scan_r]
        ex.semilogx(etas, share, "o-", color=colour, label=f"path {k}")
        tg = [np.nan if r["paths"][k]["t_gen"] is None else r["paths"][k]["t_gen"] for r in scan_r]
        fx.loglog(etas, tg, "o-", color=colour, label=f"path {k}")
    for panel in (ex, fx):
        panel.axvline(got["eta_r"], color="0.5", lw=0.8, ls="--")
        panel.set_xlabel("η_r / η_d (dashed: the one drawn)")
        panel.grid(alpha=0.3, which="both")
        if scan_r[0]["paths"]:
            panel.legend(fontsize=8)
    ex.set_ylim(-0.03, 1.03)
    ex.set_ylabel("share of the fall in ξ after the boundary")
    ex.set_title("region-II paths: does ξ fall along the boundary (1)\nor while still in region II (0)? (6f)", fontsize=10)
    fx.set_ylabel("t_gen")
    fx.set_title("region-II paths: time to generalize against η_r\n(no point: never)", fontsize=10)
    fig.suptitle(title + f"\nEq. 6 with γ = {got['gamma']:g}, η_r/η_d = {got['eta_r']:g}, smoothed σ = "
                 f"{got['sigma']:g} grid steps (the test loss: {got['test_sigma']:g}); o: starts, x: ends at t = {12 / got['gamma']:g}", fontsize=10)
    return fig


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def write(out: Path, paths: dict, got: dict, train: Surface, test: Surface, title: str,
          loss: str = "MSE") -> list[Path]:
    """trajectory .csv, .json and .png in ``out``, each written whole (the figure drawn before any file is)."""
    from grokjax import report

    png = io.BytesIO()
    plot(paths, got, train, test, title, loss).savefig(png, dpi=110, format="png")
    paths_out = [Path(out) / f"trajectory.{ext}" for ext in ("csv", "png", "json")]
    report.write_atomic(paths_out[0], report.table_text(COLUMNS, path_rows(paths, train, test), float32=False))
    report.write_atomic(paths_out[1], png.getvalue())
    report.write_json(paths_out[2], got)
    return paths_out


def parse_start(text: str) -> tuple[float, float]:
    """``W,XI`` as two finite numbers; ValueError otherwise."""
    parts = text.split(",")
    try:
        w, xi = (float(v) for v in parts)
    except ValueError:
        raise ValueError(f"--start takes W,XI (a norm and a messiness), got {text!r}") from None
    if not (np.isfinite(w) and np.isfinite(xi)):
        raise ValueError(f"--start takes finite numbers, got {text!r}")
    return w, xi


def main(argv: list[str] | None = None) -> int:
    from grokjax import api, plots, report
    from grokjax.checkpoint import CheckpointError
    from grokjax.cli import Parser, UsageError, os_error_line

    argv = sys.argv[1:] if argv is None else argv
    p = Parser(prog="python -m grokjax.trajectory",
               description="Omnigrok Figures 6a-d and 6f, the reduced trajectory: integrates the paper's Eq. 6 "
                           "(dξ/dt = −η_r ∂ℓ/∂ξ, dw/dt = −η_d (∂ℓ/∂w + γw), η_d = 1) on a landscape's reduced train "
                           "loss over weight norm w × representation messiness ξ (python -m grokjax.landscape ... "
                           "--messiness), from six starts placed as in the authors' figure, and reads the test loss "
                           "along each path: where it meets the boundary and drifts along it, how often the test "
                           "loss descends, the direction of −∇ℓ near the contour, and the time to generalize "
                           "against γ. Writes trajectory.csv, .json and .png into the folder.")
    p.add_argument("out", type=Path, help="a landscape folder over several ξ (its landscape.csv)")
    p.add_argument("--size", type=int, metavar="N", help="the training size to read (default: the largest)")
    p.add_argument("--gamma", type=float, default=GAMMA, help=f"weight decay γ of Eq. 6 (default {GAMMA:g})")
    p.add_argument("--eta-r", type=float,
                   help="the rate η_r of ξ, relative to the decoder's η_d (default 1/‖Δ‖², Δ the symbols' own "
                        "vectors minus the ideal ones: gradient flow at one learning rate for both; 1 for a task "
                        "without symbol vectors)")
    p.add_argument("--test-sigma", type=float, default=TEST_SIGMA,
                   help="smooth the test loss read along the paths by TEST_SIGMA grid steps (default 0: as measured)")
    p.add_argument("--sigma", type=float, default=SIGMA,
                   help=f"smooth the train loss by a Gaussian of SIGMA grid steps before the flow (default "
                        f"{SIGMA:g}, the notebook's; 0: as measured, where noise may trap a path in a pit of its own)")
    p.add_argument("--level", type=float, default=LEVEL,
                   help=f"the train loss of the contour drawn and of the gradient check (default {LEVEL:g}, Figure 6a's)")
    p.add_argument("--reach", type=float, default=REACH,
                   help=f"a path has generalized once its test loss has come this share of the way, in log loss, "
                        f"from the worst fitted grid point's to the generalizing solution's, with its train loss at "
                        f"most {FIT_SLACK:g}× the level (default {REACH:g})")
    p.add_argument("--start", action="append", metavar="W,XI",
                   help="start a path at norm W and messiness XI instead of the six default starts (repeatable)")
    try:
        args = p.parse_args(argv)
        for name in ("gamma", "eta_r", "level"):
            v = getattr(args, name)
            if v is None:
                continue
            if not (np.isfinite(v) and v > 0):
                raise UsageError(f"--{name.replace('_', '-')} must be a number > 0, got {v:g}")
        for name in ("sigma", "test_sigma"):
            v = getattr(args, name)
            if not (np.isfinite(v) and v >= 0):
                raise UsageError(f"--{name.replace('_', '-')} must be a number >= 0, got {v:g}")
        if not 0 < args.reach <= 1:
            raise UsageError(f"--reach must be a share in (0, 1], got {args.reach:g}")
        rows = read_folder(args.out)
        sizes = sorted({r["n_train"] for r in rows})
        n = sizes[-1] if args.size is None else args.size
        if n not in sizes:
            raise UsageError(f"--size {n}: the landscape's training sizes are {', '.join(map(str, sizes))}")
        starts = None
        if args.start:
            starts = {f"S{i + 1}": parse_start(t) for i, t in enumerate(args.start)}
            mine = [r for r in rows if r["n_train"] == n]
            norms = [r["weight_norm_target"] for r in mine]
            xis = [r.get("messiness", 1.0) for r in mine]
            for w, xi in starts.values():
                if not (min(norms) <= w <= max(norms) and min(xis) <= xi <= max(xis)):
                    raise UsageError(f"--start {w:g},{xi:g} lies outside the landscape (norms {min(norms):g}-"
                                     f"{max(norms):g}, messiness {min(xis):g}-{max(xis):g})")
        spec = api.load_spec(args.out)
        eta_r = eta_r_of(spec.task) if args.eta_r is None else args.eta_r
        paths, got, train, test = analyse(rows, n, args.gamma, eta_r, args.sigma, args.level, starts, args.reach,
                                          test_sigma=args.test_sigma)
    except (UsageError, CheckpointError, ValueError, OSError, RuntimeError) as e:
        return UsageError(os_error_line(e) if isinstance(e, OSError) else str(e)).report("grokjax.trajectory")
    got = {"command": report.command_line(argv, "grokjax.trajectory"), **got}
    title = (f"Omnigrok's reduced trajectory on a measured landscape: {spec.task.describe()}, {n:,} training samples, "
             f"{spec.steps:,} steps at each fixed norm and representation, {got['seeds']} seed"
             f"{'s' if got['seeds'] > 1 else ''}")
    try:
        written = write(args.out, paths, got, train, test, title, plots.loss_name(spec.loss or spec.task.default_loss))
    except OSError as e:
        return UsageError(os_error_line(e)).report("grokjax.trajectory")
    star = got["generalizing_solution"]
    print(f"{n:,} training samples; the lowest test loss {star['test_loss']:.3g} at w = {star['norm']:g}, "
          f"ξ = {star['messiness']:g}")
    for d in got["paths"]:
        meets = ("never meets the boundary" if d["t_boundary"] is None else
                 "rolls downhill from the start" if not d["starts_in_region_II"] else
                 f"meets the boundary at t = {d['t_boundary']:.3g} (w {d['at_boundary'][0]:.3g}, ξ "
                 f"{d['at_boundary'][1]:.3g}); ξ falls {d['messiness_drift_before_boundary']:.3g} before, "
                 f"{d['messiness_drift_after_boundary']:.3g} after")
        gen = "never generalizes" if d["t_gen"] is None else f"generalizes at t = {d['t_gen']:.3g}"
        print(f"path {d['path']} from w {d['start'][0]:.3g}, ξ {d['start'][1]:.3g} "
              f"({'region II' if d['starts_in_region_II'] else 'region I'}): {meets}; {gen}; "
              f"{d['test_loss_descents']} test-loss descent{'s' if d['test_loss_descents'] != 1 else ''}; "
              f"ends at w {d['end'][0]:.3g}, ξ {d['end'][1]:.3g}")
    b = got["boundary_gradients"]
    print("near the contour, −∇ℓ toward larger w and smaller ξ: "
          + "; ".join(f"{k} {v['both']} of {v['points']} points" for k, v in b.items()))
    scan = got["gamma_scan"]
    slope = scan["slope_ln_t_gen_vs_ln_gamma"]
    print(f"time to generalize against γ from path {scan['path']}: "
          + ("too few paths generalize for a slope" if slope is None else f"slope {slope:.3g} (the paper: −1)"))
    print("wrote " + ", ".join(str(q) for q in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
