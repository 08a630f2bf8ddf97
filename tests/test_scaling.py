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


def test_a_column_or_value_not_in_the_runs_is_refused_naming_the_ones_there():
    res = _results()  # weight_decay, init_scale and the seed vary; lr does not, a variant is no number, a best a result
    res.runs = [{**r, "lr": 1e-3, "variant": "adamw", "best_val_acc": 0.5} for r in res.runs]
    for flag, call in (("--against", lambda: scaling.scaling(res, "wd", 0.95)),
                       ("--where", lambda: scaling.scaling(res, "weight_decay", 0.95, {"wd": 1.0}))):
        with pytest.raises(ValueError) as e:
            call()
        assert str(e.value) == (f"{flag} wd: the runs have no column 'wd'; the settings that vary across them: "
                                "weight_decay, init_scale, seed")
    with pytest.raises(ValueError) as e:
        scaling.scaling(res, "weight_decay", 0.95, {"lr": 5.0, "init_scale": 2.0})
    assert str(e.value) == "no run matches lr=5 init_scale=2: lr takes 0.001; init_scale takes 1, 2"


def test_medians_on_fewer_than_3_levels_are_a_step_not_a_slope(tmp_path):
    # fitting at step 800 up to γ 0.2 and at 600 from 0.5, evaluated every 200: a
    # least-squares slope through two levels would read as a trend; it is no fit
    x = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]
    assert scaling.fit_power_law(x, [800, 800, 800, 800, 800, 600, 600]) is None
    assert scaling.fit_power_law(x, [800, 800, 800, 800, 700, 600, 600])["n_points"] == 7  # three levels fit
    rows = [{"value": v, "n_runs": 1, "n_reached": 1, "median_steps": m, "steps": str(m)}
            for v, m in zip([0.0, *x], [800, 800, 800, 800, 800, 800, 600, 600])]
    why = scaling.no_fit_reason(rows, np.arange(0, 2001, 200))
    assert why == "no fit: medians take fewer than 3 distinct values (evaluation every 200 steps)"
    log_grid = np.unique(np.round(np.geomspace(1, 3000, 100)).astype(int))
    assert "log-spaced evaluations, " in scaling.no_fit_reason(rows, log_grid, log=True)
    assert "unevenly spaced evaluations, " in scaling.no_fit_reason(rows, log_grid)  # a grid with checkpoints' steps?
    missed = [{**r, "median_steps": None} for r in rows[:6]] + rows[6:]
    assert scaling.no_fit_reason(missed, np.arange(0, 2001, 200)).startswith("no fit: fewer than 3 values reached")
    fig = scaling.plot(tmp_path / "s.png", rows, None, "weight_decay", 0.95, "t", 2000, "train_acc", why=why)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert why in labels and "each seed" in labels
    assert "weight_decay 0: not on a log axis (median 800 steps)" in labels
    assert fig.axes[0].get_xlabel() == "weight decay γ (weight_decay)"


def test_an_unreached_median_points_up_from_the_budget_and_ticks_are_plain(tmp_path):
    rows = [{"value": v, "n_runs": 2, "n_reached": n, "median_steps": m, "steps": s}
            for v, n, m, s in [(200, 0, None, "- -"), (400, 2, 1500.0, "1400 1600"), (800, 1, 900.0, "900 -"),
                               (1400, 2, 700.0, "600 800")]]
    fit = scaling.fit_power_law([r["value"] for r in rows], [np.nan if r["median_steps"] is None else r["median_steps"]
                                                           for r in rows])
    fig = scaling.plot(tmp_path / "s.png", rows, fit, "n_train", 0.9, "t", 4000)
    ax = fig.axes[0]
    (up,) = [line for line in ax.get_lines() if line.get_color() == "C3"]
    assert up.get_marker() == "^" and list(up.get_ydata()) == [4000]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "median ≥ 4,000 steps (not reached)" in labels and "a seed not reached" in labels
    fig.canvas.draw()
    ticks = [t.get_text() for t in ax.get_yticklabels() + ax.get_xticklabels() if t.get_text()]
    assert ticks and not any("10^" in t or "times" in t or "×" in t for t in ticks), ticks
    assert {"200", "400", "800", "1,400"} <= set(ticks)



def test_the_command_reads_a_committed_sweep_and_records_itself(tmp_path, capsys):
    import json
    import shutil
    from pathlib import Path

    out = tmp_path / "wd"
    src = Path(__file__).parent.parent / "results" / "omnigrok_time_vs_wd_add_cpu"
    out.mkdir()
    for name in ("runs.csv", "curves.csv", "config.json"):  # the tables alone: no checkpoint, no training
        shutil.copy(src / name, out / name)
    assert scaling.main([str(out), "--against", "final_val_acc"]) == 2
    assert "a result of each run, not a setting" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "curves.csv", "runs.csv"]  # nothing half-written
    assert scaling.main([str(out), "--against", "weight_decay", "--claim", "-1"]) == 0
    doc = json.loads((out / "scaling_weight_decay.json").read_text())
    assert doc["command"] == f"python -m grokjax.scaling {out} --against weight_decay --claim -1"
    assert doc["claim"] == -1 and [r["value"] for r in doc["rows"]] == [0.3, 0.5, 1.0, 2.0]
    assert -1.05 < doc["fit"]["slope"] < -0.69  # results/README.md: -0.87
    assert (out / "scaling_weight_decay.png").stat().st_size > 0
