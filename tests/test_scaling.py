"""grokjax.scaling: time to a threshold, medians over seeds, the power-law fit."""

from types import SimpleNamespace

import numpy as np
import pytest

from grokjax import scaling


def test_fit_power_law_recovers_an_exact_slope():
    x = np.array([0.01, 0.1, 1.0, 10.0])
    fit = scaling.fit_power_law(x, 500 / x)
    assert fit["slope"] == pytest.approx(-1.0, abs=1e-12)
    assert fit["intercept"] == pytest.approx(np.log10(500), abs=1e-12)
    assert fit["r2"] == pytest.approx(1.0) and fit["n_points"] == 4
    assert scaling.fit_power_law([1, 2], [3, 4]) is None  # two points fit any line
    # unreached medians (NaN) and x = 0 are left out of the fit
    assert scaling.fit_power_law([0, 1, 2, 4, 8], [9, 8, np.nan, 2, 1])["n_points"] == 3


def _results():
    steps = np.array([0, 100, 200, 300, 400])
    # runs: weight decay 0.1 (seeds 0, 1), 1.0 (seeds 0, 1), and one with init_scale 1
    val = np.array([
        [0.0, 0.5, 0.9, 0.96, 0.99],
        [0.0, 0.1, 0.5, 0.9, 0.97],
        [0.0, 0.5, 0.96, 1.0, 1.0],
        [0.0, 0.95, 1.0, 1.0, 1.0],
        [0.0, 0.99, 1.0, 1.0, 1.0],
    ]).T  # written one run per line; curves are [T, R]
    runs = [dict(weight_decay=0.1, init_scale=2.0, seed=0), dict(weight_decay=0.1, init_scale=2.0, seed=1),
            dict(weight_decay=1.0, init_scale=2.0, seed=0), dict(weight_decay=1.0, init_scale=2.0, seed=1),
            dict(weight_decay=1.0, init_scale=1.0, seed=0)]
    curves = {"val_acc": val, "train_loss": np.ones_like(val), "val_loss": np.ones_like(val),
              "weight_norm": np.ones_like(val)}
    return SimpleNamespace(runs=runs, steps=steps, curves=curves)


def test_scaling_takes_medians_over_seeds_and_counts_a_miss_as_infinitely_slow():
    res = _results()
    assert scaling.time_to(res.steps, res.curves, 0.95) == [300, 400, 200, 100, 100]
    rows, fit = scaling.scaling(res, "weight_decay", 0.95, {"init_scale": 2.0})
    assert [(r["value"], r["median_steps"], r["n_reached"]) for r in rows] == [(0.1, 350.0, 2), (1.0, 150.0, 2)]
    assert fit is None  # two values
    rows, _ = scaling.scaling(res, "weight_decay", 0.985, {"init_scale": 2.0})
    assert rows[0]["median_steps"] is None and rows[0]["steps"] == "400 -"
    with pytest.raises(ValueError, match="no run matches"):
        scaling.scaling(res, "weight_decay", 0.95, {"init_scale": 5.0})


@pytest.mark.parametrize("against, threshold, where, message", [
    ("weight_decay", 2.0, {}, "not an accuracy in"),
    ("weight_decay", 0.95, {"weight_decay": 0.1}, "the sweep did not vary it"),
    ("variant", 0.95, {}, "its values are not numbers ('adamw')"),
    ("weight_decay", 0.95, {"variant": 1.0}, "its values are not numbers"),
    ("final_val_acc", 0.95, {}, "a result of each run, not a setting"),
])
def test_scaling_refuses_what_it_cannot_fit(against, threshold, where, message):
    res = _results()
    res.runs = [{**r, "variant": "adamw", "final_val_acc": 0.5 + i / 10} for i, r in enumerate(res.runs)]
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        scaling.scaling(res, against, threshold, where)
