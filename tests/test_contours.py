"""Omnigrok Figure 6e's contours: where the reduced train loss falls to a
level over weight norm × messiness, its interpolation, its tilt, and the
command's refusals."""

import json

import numpy as np
import pytest

from grokjax import contours


def test_the_crossing_interpolates_in_log_loss_and_says_when_it_leaves_the_grid():
    # ln loss halfway from 0.1 to 0.001 at 0.01: the norm halfway from 20 to 30
    assert contours.crossing([10, 20, 30], [1.0, 0.1, 0.001], 0.01) == (pytest.approx(25.0), "inside")
    assert contours.crossing([10, 20, 30], [1.0, 0.01, 0.001], 0.01) == (pytest.approx(20.0), "inside")
    # the first crossing from small norms: a loss that rises again later does not move it
    assert contours.crossing([10, 20, 30, 40], [1.0, 0.1, 0.001, 0.5], 0.01) == (pytest.approx(25.0), "inside")
    # a loss of exactly 0: linear in the loss instead
    assert contours.crossing([0, 10], [1.0, 0.0], 0.25) == (pytest.approx(7.5), "inside")
    norm, where = contours.crossing([10, 20], [0.005, 0.001], 0.01)
    assert np.isnan(norm) and where == "below"
    norm, where = contours.crossing([10, 20], [1.0, np.nan], 0.01)
    assert np.isnan(norm) and where == "above"


def _landscape(rise: dict, seeds=(0, 1), norms=np.arange(20.0, 61.0, 4.0), xis=(0.0, 0.05, 0.1)):
    """Rows whose train loss is level·exp(−(w − w_c)/3) with w_c = 30 + rise·ξ
    per size: log-linear in w, so the interpolated contour is exact; the
    test accuracy 1 − ξ."""
    rows = []
    for n, r in rise.items():
        for s in seeds:
            for xi in xis:
                w_c = 30 + r * xi + s  # each seed shifted by 1: same slope
                for w in norms:
                    rows.append({"weight_norm_target": float(w), "messiness": xi, "n_train": n, "seed": s,
                                 "min_train_loss": 0.02 * np.exp(-(w - w_c) / 3), "val_acc_at_min_train": 1 - xi,
                                 "val_loss_at_min_train": xi})
    return rows


def test_the_contours_norm_and_tilt_recover_a_known_landscape():
    rows = _landscape({25: 0.0, 45: 100.0})
    pts = contours.points(rows, 0.02)
    assert len(pts) == 2 * 2 * 3 and all(p["where"] == "inside" for p in pts)
    for p in pts:
        assert p["norm_at_level"] == pytest.approx(30 + (100 if p["n_train"] == 45 else 0) * p["messiness"] + p["seed"])
        assert p["norm_past_level"] >= p["norm_at_level"] and p["norm_past_level"] - p["norm_at_level"] < 4
    got = contours.summary(pts)["sizes"]
    assert got["25"]["fit"]["slope"] == pytest.approx(0, abs=1e-9)
    assert got["45"]["fit"]["slope"] == pytest.approx(100) and got["45"]["rise_over_messiness"] == pytest.approx(10)
    # the seeds' offset widens the interval, but not past the slope
    assert 0 < got["45"]["fit"]["slope_low"] < 100 < got["45"]["fit"]["slope_high"]
    assert got["45"]["slope_per_seed"] == {"0": 100.0, "1": 100.0}
    assert got["45"]["mean_norm_at_level"] == [30.5, 35.5, 40.5]
    assert got["45"]["mean_val_acc_past_level"] == [1.0, 0.95, 0.9]
    # fitted over the ideal end only
    assert contours.summary(pts, max_messiness=0.05)["sizes"]["45"]["messiness"] == [0.0, 0.05]


def test_a_contour_off_the_grid_is_counted_not_drawn_and_the_mean_says_so():
    rows = _landscape({45: 400.0}, seeds=(0,))  # w_c = 70 at ξ = 0.1: past the largest norm, 60
    pts = contours.points(rows, 0.02)
    assert [p["where"] for p in pts] == ["inside", "inside", "above"]
    got = contours.summary(pts)["sizes"]["45"]
    assert got["outside_grid"] == 1 and got["mean_norm_at_level"][-1] is None
    assert got["fit"] is None  # two points left: no line with an interval


def _write_table(folder, rows):
    from grokjax import report

    folder.mkdir()
    cols = list(rows[0])
    (folder / "landscape.csv").write_text(report.table_text(cols, rows))


@pytest.mark.parametrize("args, says", [
    (["--level", "0"], "--level must be a train loss > 0"),
    (["--max-messiness", "0.01"], "--max-messiness 0.01 leaves fewer than 2"),
])
def test_the_command_refuses_bad_flags_in_one_line_and_writes_nothing(tmp_path, capsys, args, says):
    folder = tmp_path / "land"
    _write_table(folder, _landscape({25: 0.0}, seeds=(0,)))
    assert contours.main([str(folder), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in folder.iterdir()) == ["landscape.csv"]


def test_the_command_refuses_a_folder_without_a_landscape_over_messiness(tmp_path, capsys):
    assert contours.main([str(tmp_path)]) == 2
    assert "has no landscape.csv" in capsys.readouterr().err
    folder = tmp_path / "plain"
    _write_table(folder, [{k: v for k, v in r.items() if k != "messiness"} for r in _landscape({25: 0.0}, xis=(1.0,))])
    assert contours.main([str(folder)]) == 2
    assert "holds one messiness value" in capsys.readouterr().err
