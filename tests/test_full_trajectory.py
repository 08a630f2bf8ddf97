"""The full trajectory's reading (grokjax.full_trajectory): per-run steps,
falls and counts from a trained representation's curves, and the command."""

import json
import subprocess
import sys

import numpy as np
import pytest

from grokjax import full_trajectory

STEPS = np.arange(0, 2100, 100)


def test_first_step_and_half_fallen_read_the_first_evaluation_past_the_mark():
    assert full_trajectory.first_step(STEPS, STEPS >= 350) == 400
    assert full_trajectory.first_step(STEPS, STEPS > 5000) is None
    y = np.array([10.0, 9, 7, 5.5, 5, 4, 2, 2, 3, 4, 6])  # lowest 2: half the way is 6, first reached at 300
    assert full_trajectory.half_fallen(STEPS[:11], y) == 300
    assert full_trajectory.half_fallen(STEPS[:11], np.linspace(1, 2, 11)) is None  # it only rose
    # a norm that grows while the run fits counts its fall from the top: 30 → 10, half way (20) at step 400
    assert full_trajectory.half_fallen(STEPS[:6], np.array([10.0, 20, 30, 25, 15, 10])) == 400


def _curves(**over):
    """Three runs: 0 fits then generalizes late with its representation cleaned early,
    1 fits and never generalizes with its representation messier, 2 never fits."""
    n = len(STEPS)
    c = {k: np.zeros((n, 3)) for k in ("train_acc", "val_acc", "train_loss", "val_loss", "weight_norm")}
    c["train_acc"][:, 0] = STEPS >= 100
    c["val_acc"][:, 0] = STEPS >= 1500
    c["train_acc"][:, 1] = STEPS >= 200
    c["val_acc"][:, 1] = 0.5
    c["train_acc"][:, 2] = 0.3
    c["decoder_norm"] = np.stack([np.linspace(100, 40, n), np.full(n, 30.0), np.linspace(10, 40, n)], axis=1)
    c["line_residual"] = np.stack([np.r_[0.4, 0.1, np.zeros(n - 2)], np.linspace(0.2, 0.6, n), np.full(n, 0.9)], axis=1)
    c["messiness_projected"] = np.stack([np.linspace(0.12, 0.0, n), np.full(n, 0.12), np.ones(n)], axis=1)
    c["off_path"] = np.stack([np.full(n, 0.05), np.linspace(0, 0.3, n), np.zeros(n)], axis=1)
    c["norm_representation"] = np.full((n, 3), 2.0)
    c.update(over)
    return c


ROWS = [dict(seed=s, n_train=45, lr=1e-3, weight_decay=0.1, representation_lr=1.0, messiness=m, init_scale=a)
        for s, m, a in ((0, 0.12, 8.0), (0, 0.12, 1.0), (0, 1.0, 1.0))]


def test_analyse_counts_fitting_generalizing_grokking_and_the_representation_s_fate():
    runs, got = full_trajectory.analyse(ROWS, STEPS, _curves())
    first = runs[0]
    assert first["steps_to_99_train"] == 100 and first["steps_to_99_val"] == 1500
    assert first["start_norm"] == 100 and first["final_norm"] == 40 and first["lowest_norm"] == 40
    assert first["step_norm_half_fallen"] == 1000 and first["step_line_residual_half_fallen"] == 100
    assert first["messiness_change_after_norm_half_fall"] == pytest.approx(-0.06)  # ξ 0.12 → 0, half of it after step 1000
    assert runs[1]["steps_to_99_val"] is None and runs[2]["steps_to_99_train"] is None
    assert runs[2]["step_norm_half_fallen"] is None  # its norm only rose
    assert (got["runs"], got["fitted"], got["generalized_ever"], got["generalized_at_end"]) == (3, 2, 1, 1)
    assert got["grokked"] == 1 and "1,000 steps (10 evaluations)" in got["grokked_reads"]  # 1,400 steps after fitting
    soon = _curves()
    soon["val_acc"][:, 0] = STEPS >= 1000  # 900 steps after fitting: not grokking
    assert full_trajectory.analyse(ROWS, STEPS, soon)[1]["grokked"] == 0
    assert got["representation_cleaner_at_end"] == 1 and got["representation_messier_at_end"] == 1
    assert got["cleaned_before_norm_half_fell"] == 1 and got["off_path_above_0.1"] == 1
    near, far = got["by_representation_lr"]["1"]["from_near_the_line"], got["by_representation_lr"]["1"]["from_random"]
    assert (near["runs"], near["generalized_ever"], near["generalized_at_end"], far["runs"]) == (2, 1, 1, 1)
    assert type(near["generalized_at_end"]) is int
    assert near["line_residual_change_range"] == pytest.approx([-0.4, 0.4]) and far["line_residual_change_median"] == 0
    assert near["messiness_change_after_norm_half_fall_median"] == pytest.approx(-0.06)  # run 1's norm never fell


def test_a_diverged_run_is_read_up_to_its_last_finite_evaluation():
    c = _curves()
    c["decoder_norm"][10:, 1] = np.nan
    c["line_residual"][12:, 1] = np.inf
    runs, got = full_trajectory.analyse(ROWS, STEPS, c)
    assert runs[1]["diverged_step"] == 1000 and runs[0]["diverged_step"] is None
    assert runs[1]["final_norm"] == 30.0 and np.isfinite(runs[1]["final_line_residual"])
    assert got["diverged"] == 1
    json.dumps(got["by_representation_lr"], allow_nan=False)  # no NaN reaches a median


def test_analyse_refuses_curves_without_a_trained_representation():
    c = _curves()
    del c["line_residual"]
    with pytest.raises(ValueError, match="no line_residual: it trained no representation"):
        full_trajectory.analyse(ROWS, STEPS, c)


def _run(args, cwd):
    return subprocess.run([sys.executable, "-m", *args, "--no-progress"], capture_output=True, text=True, cwd=cwd)


def test_the_command_reads_a_full_trajectory_sweep_over_its_landscape_and_refuses_what_it_cannot(tmp_path):
    spec = tmp_path / "full.toml"
    spec.write_text('[profile.tiny]\ntask = { name = "toy_addition", representation = "trained", line_noise = 0.0 }\n'
                    'model = { name = "mlp", width = 8, activation = "leaky_relu_0.2" }\ntrain_sizes = [35, 45]\n'
                    'grid = { messiness = [0.1, 1], init_scale = [2], representation_lr = [1, 0.1] }\n'
                    'steps = 30\neval_every = 10\n')
    lands = tmp_path / "land.toml"  # the sweep's task (line_noise 0), and another
    lands.write_text("".join(f'[profile.{name}]\ntask = {{ name = "toy_addition", line_noise = {noise} }}\n'
                             f'model = {{ name = "mlp", width = 8, activation = "leaky_relu_0.2" }}\n'
                             f'norms = "4:40:3"\ntrain_sizes = [45]\ngrid = {{ messiness = [0, 0.1, 0.2] }}\n'
                             f'steps = 10\neval_every = 10\n' for name, noise in (("flat", 0), ("noisy", 0.3))))
    lands.write_text(lands.read_text().replace('[profile.noisy]', '[profile.wide]\ntask = { name = "toy_addition", '
                     'line_noise = 0 }\nmodel = { name = "mlp", width = 16, activation = "leaky_relu_0.2" }\n'
                     'norms = "4:40:3"\ntrain_sizes = [45]\ngrid = { messiness = [0, 0.1, 0.2] }\nsteps = 10\n'
                     'eval_every = 10\n[profile.noisy]'))
    full, land, other, wide, fixed, forked = (tmp_path / n for n in ("full", "land", "other", "wide", "fixed", "forked"))
    got = _run(["grokjax.sweep", "--spec", str(spec), "--profile", "tiny", "--out", str(full)], tmp_path)
    assert got.returncode == 0, got.stderr
    for out, name in ((land, "flat"), (other, "noisy"), (wide, "wide")):
        got = _run(["grokjax.landscape", "--spec", str(lands), "--profile", name, "--devices", "1",
                    "--out", str(out)], tmp_path)
        assert got.returncode == 0, got.stderr
    got = _run(["grokjax.sweep", "--task", "toy_addition", "--width", "8", "--train-size", "45", "--steps", "10",
                "--out", str(fixed)], tmp_path)
    assert got.returncode == 0, got.stderr
    got = _run(["grokjax.sweep", "--fork", str(full), "--weight-decay", "0", "--steps", "40", "--out", str(forked)],
               tmp_path)
    assert got.returncode == 0, got.stderr

    assert full_trajectory.main([str(full), "--landscape", str(land)]) == 0
    back = json.loads((full / "full_trajectory.json").read_text())
    assert back["n_train"] == 45 and back["runs"] == 4 and len(back["per_run"]) == 4
    assert set(back["lag_behind_landscape"]["by_representation_lr"]) == {"1", "0.1"}
    assert back["command"] == f"python -m grokjax.full_trajectory {full} --landscape {land}"
    assert [r["messiness"] for r in back["per_run"]] == [0.1, 0.1, 1.0, 1.0]
    assert back["per_run"][0]["start_messiness"] == pytest.approx(0.1, abs=1e-6)
    lines = (full / "full_trajectory.csv").read_text().splitlines()
    assert lines[0] == ",".join(full_trajectory.COLUMNS) and len(lines) == 5
    assert (full / "full_trajectory.png").stat().st_size > 50_000
    assert full_trajectory.main([str(full), "--size", "35"]) == 0  # no landscape: paths on bare axes
    without = json.loads((full / "full_trajectory.json").read_text())
    assert without["n_train"] == 35 and "lag_behind_landscape" not in without

    before = sorted(p.name for p in full.iterdir())
    for args, says in (([str(full), "--size", "50"], "--size 50: the sweep's training sizes are 35, 45"),
                       ([str(full), "--landscape", str(other)], "maps another task"),
                       ([str(full), "--landscape", str(wide)], "maps another decoder"),
                       ([str(forked)], "is a fork (of"),
                       ([str(fixed)], "it trained no representation")):
        got = subprocess.run([sys.executable, "-m", "grokjax.full_trajectory", *args], capture_output=True, text=True)
        lines = got.stderr.strip().splitlines()
        assert got.returncode == 2 and len(lines) == 1 and says in lines[0], got.stderr
    assert sorted(p.name for p in full.iterdir()) == before
    assert not (fixed / "full_trajectory.csv").exists() and not (forked / "full_trajectory.csv").exists()


def test_lag_compares_the_train_loss_with_the_landscape_only_where_its_coordinates_hold():
    from grokjax import trajectory

    norms, xis = np.linspace(10, 120, 5), np.linspace(0, 0.2, 4)
    flat = trajectory.surface(trajectory.Grid(norms, xis, np.full((4, 5), np.log(1e-3)), 1), sigma=0)
    c = {k: v[:, 0] for k, v in _curves().items()}  # fitted from step 100; w 100 → 40, ξ 0.12 → 0, on the segment
    c["train_loss"] = np.full(len(STEPS), 1e-2)
    c["train_loss"][0] = 1e3  # before the fit: not counted
    assert full_trajectory.lag(c, flat) == (20, pytest.approx(1.0))  # ten times the landscape's loss
    c["off_path"][:15] = 0.5  # off the segment for its first 15 evaluations: 6 left, too few
    assert full_trajectory.lag(c, flat) == (6, None)
    assert full_trajectory.lag(c, None) == (0, None)
    runs, got = full_trajectory.analyse(ROWS, STEPS, _curves(train_loss=np.full((len(STEPS), 3), 1e-6)), flat)
    by_rate = got["lag_behind_landscape"]["by_representation_lr"]
    assert list(by_rate) == ["1"] and by_rate["1"]["runs"] == 1  # run 0 alone stays on the map
    assert runs[0]["evaluations_on_map"] == 20 and runs[0]["median_log10_train_over_landscape"] == pytest.approx(-3)
