"""Omnigrok's reduced trajectory (Figures 6a-d, 6f): the landscape as a
surface, Eq. 6's flow on it, the test loss's descents, the gradient check,
and the command's refusals."""

import json
import subprocess
import sys

import numpy as np
import pytest

from grokjax import tasks, trajectory

NORMS = np.linspace(10.0, 100.0, 19)
XIS = np.linspace(0.0, 0.2, 9)


def _rows(train_ln, test_ln=lambda w, xi: 3.0 * xi, seeds=(0,)):
    """Landscape rows with ln train loss ``train_ln(w, ξ)`` (+ 0.2 per seed:
    the seeds' mean in log loss is the function + 0.1 for two seeds) and ln
    test loss ``test_ln``."""
    return [{"weight_norm_target": float(w), "messiness": float(xi), "n_train": 45, "seed": s,
             "min_train_loss": float(np.exp(train_ln(w, xi) + 0.2 * s)),
             "val_loss_at_min_train": float(np.exp(test_ln(w, xi))), "val_acc_at_min_train": float(1.0 - xi)}
            for s in seeds for xi in XIS for w in NORMS]


def _tilted(w, xi):
    """ln ℓ falling by 0.2 per unit of norm and rising by 20 per unit of ξ."""
    return 2.0 - 0.2 * w + 20.0 * xi


def _cliff(w, xi):
    """ln ℓ falling by 1 per unit of norm: a sharp boundary between regions I and II."""
    return 20.0 - w + 20.0 * xi


def test_swings_count_each_leg_of_at_least_tol_and_ignore_smaller_wiggles():
    y = [0.0, -0.05, -1.0, -0.95, -0.5, -0.55, -2.0, -1.97]
    legs = trajectory.swings(y, 0.1)
    assert [(a, b) for a, b, _ in legs] == [(0, 2), (2, 4), (4, 6)]
    assert [c for _, _, c in legs] == pytest.approx([-1.0, 0.5, -1.5])
    assert trajectory.swings([0.0, 0.05, -0.04, 0.03], 0.1) == []  # nothing moved by 0.1
    assert len(trajectory.swings(np.linspace(3, 0, 50), 0.1)) == 1  # one long descent is one leg
    # a rise first: the leg starts at the lowest point before it
    assert trajectory.swings([0.0, -0.05, 0.5, 0.0], 0.1)[0][:2] == (1, 2)


def test_the_grid_averages_seeds_in_log_loss_and_refuses_holes_and_divergence():
    g = trajectory.grid(_rows(_tilted, seeds=(0, 1)), 45, trajectory.TRAIN)
    assert g.seeds == 2 and g.z.shape == (len(XIS), len(NORMS))
    assert g.z == pytest.approx(_tilted(NORMS[None, :], XIS[:, None]) + 0.1)
    rows = _rows(_tilted)
    with pytest.raises(ValueError, match="no training size 30"):
        trajectory.grid(rows, 30, trajectory.TRAIN)
    with pytest.raises(ValueError, match="misses 1 of its"):
        trajectory.grid(_rows(_tilted, seeds=(0, 1))[1:], 45, trajectory.TRAIN)
    with pytest.raises(ValueError, match="needs 3 norms and 3 messiness values"):
        trajectory.grid([r for r in rows if r["messiness"] <= XIS[1]], 45, trajectory.TRAIN)
    rows[5]["min_train_loss"] = float("nan")
    with pytest.raises(ValueError, match="diverged"):
        trajectory.grid(rows, 45, trajectory.TRAIN)


def test_the_surface_gives_the_loss_and_its_gradient_where_ln_loss_is_exact():
    s = trajectory.surface(trajectory.grid(_rows(_tilted), 45, trajectory.TRAIN), sigma=0)
    w, xi = np.array([23.3, 71.0]), np.array([0.033, 0.151])
    assert s.loss(w, xi) == pytest.approx(np.exp(_tilted(w, xi)), rel=1e-6)
    dw, dxi = s.grad(w, xi)
    assert dw == pytest.approx(-0.2 * np.exp(_tilted(w, xi)), rel=1e-5)
    assert dxi == pytest.approx(20.0 * np.exp(_tilted(w, xi)), rel=1e-5)
    # outside the grid it reads the nearest edge
    assert s.loss(500.0, -1.0) == pytest.approx(np.exp(_tilted(100.0, 0.0)), rel=1e-6)


def test_on_a_flat_landscape_the_norm_decays_exponentially_and_the_representation_stays():
    s = trajectory.surface(trajectory.grid(_rows(lambda w, xi: -5.0 + 0 * w), 45, trajectory.TRAIN), sigma=0)
    p = trajectory.integrate(s, (90.0, 0.1), gamma=0.01, eta_r=1.0, t_max=150.0)
    assert p["t"][0] == 0 and p["t"][-1] == pytest.approx(150.0)
    assert p["norm"] == pytest.approx(90.0 * np.exp(-0.01 * p["t"]), rel=1e-4)
    assert p["messiness"] == pytest.approx(0.1, abs=1e-9)
    # the smallest norm of the grid holds it: no step out of the landscape
    p = trajectory.integrate(s, (12.0, 0.1), gamma=0.01, eta_r=1.0, t_max=300.0)
    assert p["norm"][-1] == pytest.approx(10.0, abs=1e-6) and p["norm"].min() >= 10.0


def test_a_path_from_region_ii_meets_the_boundary_then_drifts_to_the_ideal_representation():
    rows = _rows(_cliff, test_ln=lambda w, xi: 30.0 * xi)
    paths, got, train, test = trajectory.analyse(rows, 45, gamma=1e-3, eta_r=1e-4, sigma=0,
                                                 starts={"D": (95.0, 0.15)})
    d = got["paths"][0]
    assert d["starts_in_region_II"] and d["t_boundary"] is not None
    w_b, xi_b, loss_b = d["at_boundary"]
    # the boundary: −∂ℓ/∂w = ℓ reaches half of γw, located by the solver
    assert loss_b == pytest.approx(0.5 * 1e-3 * w_b, rel=1e-3)
    assert xi_b == pytest.approx(0.15, abs=2e-3) and d["messiness_drift_before_boundary"] < 2e-3
    assert d["messiness_drift_after_boundary"] > 0.1 and d["end"][1] < 0.02
    p = paths["D"]
    assert np.all(np.diff(p["messiness"]) <= 1e-6) and np.all(np.diff(p["norm"]) <= 1e-4)  # the solver's noise at rest
    # the test loss, 30ξ in ln, descends once, as ξ does; it comes within 2× of its lowest
    assert d["test_loss_descents"] == 1 and d["t_gen"] is not None
    assert got["generalizing_solution"]["messiness"] == 0.0
    # time ∝ 1/γ: on this landscape the whole path scales with γ
    assert got["gamma_scan"]["slope_ln_t_gen_vs_ln_gamma"] == pytest.approx(-1.0, abs=0.15)


def test_the_gradient_check_reads_the_sign_of_each_component_near_the_contour():
    g = trajectory.grid(_rows(_tilted), 45, trajectory.TRAIN)
    got = trajectory.boundary_gradients(g, level=0.05, band=3.0)
    assert got["points"] > 0 and got["both"] == got["points"] and got["share_both"] == 1.0
    near = np.abs(g.z - np.log(0.05)) <= np.log(3.0)
    assert got["points"] == int(near.sum())
    # a landscape whose loss falls as ξ grows: −∇ℓ points to larger ξ, so none qualifies
    flipped = trajectory.grid(_rows(lambda w, xi: 2.0 - 0.2 * w - 20.0 * xi), 45, trajectory.TRAIN)
    got = trajectory.boundary_gradients(flipped, level=0.05)
    assert got["toward_larger_norm"] == got["points"] > 0 and got["toward_smaller_messiness"] == 0


def test_the_rate_of_the_representation_is_one_over_its_squared_distance_to_the_ideal():
    task = tasks.ToyAdditionTask()
    v = task.vectors()
    assert trajectory.eta_r_of(task) == pytest.approx(1 / np.sum((v["own"] - v["ideal"]) ** 2))
    assert 0.05 < trajectory.eta_r_of(task) < 0.2
    assert trajectory.eta_r_of(tasks.DigitsTask()) == 1.0


def _folder(tmp_path, rows):
    folder = tmp_path / "land"
    folder.mkdir()
    header = list(rows[0])
    (folder / "landscape.csv").write_text(
        "\n".join([",".join(header)] + [",".join(repr(r[k]) for k in header) for r in rows]) + "\n")
    return folder


@pytest.mark.parametrize("args, says", [
    (["--gamma", "0"], "--gamma must be a number > 0"),
    (["--reach", "1.5"], "--reach must be a share in (0, 1]"),
    (["--sigma", "-1"], "--sigma must be a number >= 0"),
    (["--test-sigma", "nan"], "--test-sigma must be a number >= 0"),
    (["--start", "30"], "--start takes W,XI"),
    (["--start", "500,0.1"], "--start 500,0.1 lies outside the landscape (norms 10-100, messiness 0-0.2)"),
    (["--size", "30"], "--size 30: the landscape's training sizes are 45"),
])
def test_the_command_refuses_bad_flags_in_one_line_and_writes_nothing(tmp_path, capsys, args, says):
    folder = _folder(tmp_path, _rows(_tilted))
    assert trajectory.main([str(folder), *args]) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1
    assert [p.name for p in folder.iterdir()] == ["landscape.csv"]


def test_the_command_refuses_a_folder_without_a_landscape_over_messiness(tmp_path, capsys):
    assert trajectory.main([str(tmp_path)]) == 2
    assert "has no landscape.csv" in capsys.readouterr().err
    one = [r for r in _rows(_tilted) if r["messiness"] == 0.0]
    assert trajectory.main([str(_folder(tmp_path, one))]) == 2
    assert "holds one messiness value" in capsys.readouterr().err


def test_write_gives_the_three_files_whole(tmp_path):
    paths, got, train, test = trajectory.analyse(_rows(_tilted), 45, gamma=1e-3, eta_r=1e-3, sigma=1.0)
    written = trajectory.write(tmp_path, paths, got, train, test, "a title")
    assert [p.name for p in written] == ["trajectory.csv", "trajectory.png", "trajectory.json"]
    assert not list(tmp_path.glob("*.tmp"))
    lines = (tmp_path / "trajectory.csv").read_text().splitlines()
    assert lines[0] == ",".join(trajectory.COLUMNS) and len(lines) == 1 + len(trajectory.STARTS) * 400
    back = json.loads((tmp_path / "trajectory.json").read_text())
    assert [d["path"] for d in back["paths"]] == list(trajectory.STARTS)
    assert back["region_II_paths"] == sum(d["starts_in_region_II"] for d in back["paths"])


def test_the_command_reads_a_landscape_folder_and_writes_its_three_files(tmp_path):
    out = tmp_path / "rep"
    got = subprocess.run([sys.executable, "-m", "grokjax.landscape", "--task", "toy_addition", "--width", "8",
                          "--norms", "4:40:4", "--messiness", "0,0.1,0.2", "--sizes", "35,45", "--steps", "20",
                          "--eval-every", "10", "--devices", "1", "--out", str(out), "--no-progress"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    assert trajectory.main([str(out), "--start", "30,0.15", "--start", "8,0.05", "--gamma", "1e-3"]) == 0
    back = json.loads((out / "trajectory.json").read_text())
    assert back["n_train"] == 45 and [d["path"] for d in back["paths"]] == ["S1", "S2"]  # the largest size
    assert back["eta_r"] == pytest.approx(trajectory.eta_r_of(tasks.ToyAdditionTask()))
    assert back["command"] == "python -m grokjax.trajectory " + f"{out} --start 30,0.15 --start 8,0.05 --gamma 1e-3"
    assert back["paths"][0]["start"] == [30.0, 0.15]
    assert len((out / "trajectory.csv").read_text().splitlines()) == 1 + 2 * 400
    assert (out / "trajectory.png").stat().st_size > 50_000
    assert trajectory.main([str(out), "--size", "35", "--start", "30,0.15"]) == 0
    assert json.loads((out / "trajectory.json").read_text())["n_train"] == 35
