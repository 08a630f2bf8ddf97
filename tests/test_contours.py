"""Omnigrok Figure 6e's contours: where the reduced train loss falls to a
level over weight norm × messiness, its interpolation, its tilt, and the
command's refusals."""

import json

import numpy as np
import pytest

from grokjax import contours


def test_the_crossing_interpolates_in_log_loss_and_says_when_it_leaves_the_grid():
    # ln loss halfway from 0.1 to 0.001 at 0.01: the norm halfway from 20 to 30
    assert contours.crossing([10, 20, 30], [1.0, 0.1, 0.001], 0.01) == (pytest.approx(25.0), "inside", 2)
    assert contours.crossing([10, 20, 30], [1.0, 0.01, 0.001], 0.01) == (pytest.approx(20.0), "inside", 1)
    # the first crossing from small norms: a loss that rises again later does not move it
    assert contours.crossing([10, 20, 30, 40], [1.0, 0.1, 0.001, 0.5], 0.01) == (pytest.approx(25.0), "inside", 2)
    # the lower loss floored at level/100: 0, 1e-9 and 1e-4 all read as 1e-4
    for tiny in (0.0, 1e-9, 1e-4):
        assert contours.crossing([10, 20], [0.01 * 100, tiny], 0.01)[0] == pytest.approx(15.0)
    assert contours.crossing([10, 20], [0.005, 0.001], 0.01)[1:] == ("below", 0)
    assert contours.crossing([10, 20], [1.0, 0.5], 0.01)[1:] == ("above", None)
    for loss in ([1.0, np.nan], [np.nan, np.nan]):  # a NaN never counts as under the level
        assert contours.crossing([10, 20], loss, 0.01)[1:] == ("diverged", None)
    norm, where, k = contours.crossing([10, 20, 30], [np.inf, 1.0, 0.001], 0.01)
    assert np.isnan(norm) and where == "diverged" and k == 2


def _landscape(rise: dict, seeds=(0, 1), norms=np.arange(20.0, 61.0, 4.0), xis=(0.0, 0.05, 0.1)):
    """Rows whose train loss is level·exp(−(w − w_c)/3) with w_c = 30 + rise·ξ
    (+ the seed) per size: log-linear in w, so the interpolated contour is
    exact; the test accuracy 1 − ξ."""
    rows = []
    for n, r in rise.items():
        for s in seeds:
            for xi in xis:
                w_c = 30 + r * xi + s
                for w in norms:
                    rows.append({"weight_norm_target": float(w), "messiness": xi, "n_train": n, "seed": s,
                                 "min_train_loss": 0.02 * np.exp(-(w - w_c) / 3), "val_acc_at_min_train": 1 - xi,
                                 "val_loss_at_min_train": xi})
    return rows


def test_the_contours_norm_and_tilt_recover_a_known_landscape():
    rows = _landscape({25: 0.0, 35: 50.0, 45: 100.0})
    pts = contours.points(rows, 0.02)
    assert len(pts) == 3 * 2 * 3 and all(p["where"] == "inside" and not p["recrosses"] for p in pts)
    for p in pts:
        assert p["norm_at_level"] == pytest.approx(30 + {25: 0, 35: 50, 45: 100}[p["n_train"]] * p["messiness"]
                                                   + p["seed"], abs=1e-4)
        assert p["norm_before_level"] < p["norm_at_level"] <= p["norm_past_level"] == p["norm_before_level"] + 4
    got = contours.summary(pts)
    s = got["sizes"]
    assert s["25"]["fit"]["slope"] == pytest.approx(0, abs=1e-3)
    assert s["45"]["fit"]["slope"] == pytest.approx(100, abs=1e-3) and s["45"]["rise_over_messiness"] == pytest.approx(10)
    # an intercept per seed: the seeds' offset of 1 widens nothing
    assert s["45"]["fit"]["slope_high"] - s["45"]["fit"]["slope_low"] < 0.01 and s["45"]["fit"]["n_seeds"] == 2
    assert s["45"]["fit"]["intercept"] == pytest.approx(30.5, abs=1e-3)
    assert s["45"]["fit_log_norm"]["slope"] > 0
    assert s["45"]["slope_per_seed"] == {"0": pytest.approx(100, abs=1e-3), "1": pytest.approx(100, abs=1e-3)}
    assert s["45"]["mean_norm_at_level"] == [30.5, 35.5, 40.5]
    assert s["45"]["mean_val_acc_past_level"] == [1.0, 0.95, 0.9]
    assert got["slope_rises_with_size"] is True and got["slope_rises_with_size_beyond_intervals"] is True
    json.dumps(got, allow_nan=False)  # no NaN in contours.json
    # fitted over the ideal end only
    assert contours.summary(pts, max_messiness=0.05)["sizes"]["45"]["messiness"] == [0.0, 0.05]
    assert contours.summary(contours.points(_landscape({25: 50.0, 45: 0.0})))["slope_rises_with_size"] is False


def test_the_fit_has_an_intercept_per_seed_and_no_fit_without_a_degree_of_freedom():
    # two seeds, each exactly on slope 2, offset by 10: slope 2, no scatter
    f = contours.fit_tilt([0, 1, 2, 0, 1, 2], [0, 2, 4, 10, 12, 14], [0, 0, 0, 1, 1, 1])
    assert f["slope"] == pytest.approx(2) and f["stderr"] == pytest.approx(0) and f["r2"] == 1.0
    # with scatter: the slope and its standard error as least squares with a dummy per seed gives them
    x, y, s = [0, 1, 2, 0, 1, 2], [0, 1, 4, 5, 7, 9], [0, 0, 0, 1, 1, 1]
    design = np.column_stack([x, np.array(s) == 0, np.array(s) == 1]).astype(float)
    coef, ssr, *_ = np.linalg.lstsq(design, y, rcond=None)
    f = contours.fit_tilt(x, y, s)
    assert f["slope"] == pytest.approx(coef[0])
    xd = np.array(x, float) - np.repeat([1.0, 1.0], 3)
    assert f["stderr"] == pytest.approx(np.sqrt(ssr[0] / (6 - 2 - 1) / (xd @ xd)))
    assert contours.fit_tilt([0, 1, 0, 1], [0, 1, 5, 6], [0, 0, 1, 1])["slope"] == 1  # 4 points − 2 seeds − 1: 1 dof
    assert contours.fit_tilt([0, 1, 0], [0, 1, 5], [0, 0, 1]) is None  # a seed of one point moves nothing: 0 dof
    assert contours.fit_tilt([0.1, 0.1, 0.1], [1, 2, 3], [0, 0, 0]) is None  # one ξ: no slope
    assert contours.fit_tilt([0, 1], [0, 1], [0, 0]) is None  # two points: no interval


def test_contours_off_the_grid_are_counted_by_kind_and_not_averaged():
    rows = _landscape({45: 400.0}, seeds=(0,))  # w_c = 70 at ξ = 0.1: past the largest norm, 60
    rows += [dict(r, n_train=25, min_train_loss=1e-3) for r in rows]  # under the level everywhere
    pts = contours.points(rows, 0.02)
    assert [p["where"] for p in pts if p["n_train"] == 45] == ["inside", "inside", "above"]
    below = [p for p in pts if p["n_train"] == 25]
    assert all(p["where"] == "below" and p["norm_past_level"] == 20.0 and p["val_acc_past_level"] is not None
               for p in below)
    got = contours.summary(pts)["sizes"]
    assert got["45"]["outside_grid"] == {"below": 0, "above": 1, "diverged": 0}
    assert got["45"]["mean_norm_at_level"][-1] is None and got["45"]["mean_val_acc_past_level"][-1] is None
    assert got["45"]["fit"] is None  # two points of one seed: no interval
    assert got["25"]["outside_grid"]["below"] == 3 and got["25"]["fit"] is None


def test_a_loss_that_rises_above_the_level_again_is_flagged():
    rows = _landscape({45: 0.0}, seeds=(0,), xis=(0.0, 0.1))
    for r in rows:
        if r["weight_norm_target"] == 60.0 and r["messiness"] == 0.1:
            r["min_train_loss"] = 0.5
    got = {p["messiness"]: p["recrosses"] for p in contours.points(rows)}
    assert got == {0.0: False, 0.1: True}


def test_a_landscape_that_varied_another_setting_has_no_one_contour():
    rows = _landscape({45: 0.0}, seeds=(0,))
    assert contours.one_run_per_point(rows) and not contours.one_run_per_point(rows + rows[:1])
    with pytest.raises(ValueError, match="varied another setting"):
        contours.points(rows + rows[:1])


def test_write_gives_the_three_files_even_where_a_size_has_no_fit(tmp_path):
    rows = _landscape({25: 0.0}, seeds=(0,), xis=(0.0, 0.05, 0.1, 0.5, 1.0))
    rows += [dict(r, n_train=45, min_train_loss=1.0) for r in rows if r["n_train"] == 25]  # never fits
    paths, got = contours.write(tmp_path, rows, "a title")
    assert [p.name for p in paths] == ["contours.csv", "contours.png", "contours.json"]
    assert all(p.stat().st_size > 0 for p in paths) and not list(tmp_path.glob("*.tmp"))
    assert got["max_messiness"] == 0.1  # the notebook's range, where the landscape reaches past it
    assert got["sizes"]["25"]["messiness"] == [0.0, 0.05, 0.1] and got["sizes"]["45"]["fit"] is None
    assert got["slope_rises_with_size"] is None
    assert len((tmp_path / "contours.csv").read_text().splitlines()) == 1 + 2 * 5


def _write_table(folder, rows):
    from grokjax import report

    folder.mkdir()
    (folder / "landscape.csv").write_text(report.table_text(list(rows[0]), rows))


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
    rows = _landscape({25: 0.0}, seeds=(0,))
    for name, table, says in (
            ("plain", [{k: v for k, v in r.items() if k != "messiness"} for r in rows if r["messiness"] == 0.0],
             "holds one messiness value"),
            ("nocol", [{k: v for k, v in r.items() if k != "min_train_loss"} for r in rows], "no column 'min_train_loss'"),
            ("text", [dict(r, seed="x") for r in rows], "seed = 'x' is not a number"),
            ("twice", rows + rows[:1], "varied another setting")):
        _write_table(tmp_path / name, table)
        assert contours.main([str(tmp_path / name)]) == 2
        err = capsys.readouterr().err.strip()
        assert says in err and len(err.splitlines()) == 1, err
        assert [p.name for p in (tmp_path / name).iterdir()] == ["landscape.csv"]
