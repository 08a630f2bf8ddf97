import csv
import json
import subprocess
import sys

import pytest

from grokjax import plots, report, sweep

TINY_ARGS = ["--op", "add", "--modulus", "11", "--n-layers", "1", "--d-model", "32", "--n-heads", "2", "--batch-size", "32",
             "--steps", "30", "--eval-every", "10", "--no-progress"]


@pytest.mark.parametrize(
    "text, want",
    [
        ("0.3:0.7", [0.3, 0.4, 0.5, 0.6, 0.7]),
        ("0.2:0.9", [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]),
        ("0.3:0.9:0.2", [0.3, 0.5, 0.7, 0.9]),
        ("0.25:0.5:0.05", [0.25, 0.3, 0.35, 0.4, 0.45, 0.5]),
        ("0.1,0.5", [0.1, 0.5]),
        ("0.5", [0.5]),
    ],
)
def test_parse_fracs(text, want):
    assert sweep.parse_fracs(text) == want


def test_lists_are_crossed_with_fractions_and_seeds(tmp_path):
    args = sweep.make_parser().parse_args(
        ["--fracs", "0.3,0.5", "--seeds", "3", "--lr", "1e-3,3e-3", "--weight-decay", "0,1", "--out", str(tmp_path / "o")]
    )
    plan = sweep.plan_from_args(args)
    assert len(plan.grid) == 2 * 3 * 2 * 2
    assert {(g["frac"], g["seed"], g["lr"], g["weight_decay"]) for g in plan.grid} == {
        (f, s, lr, wd) for f in (0.3, 0.5) for s in range(3) for lr in (1e-3, 3e-3) for wd in (0.0, 1.0)
    }
    assert [g["run"] for g in plan.grid] == list(range(24))
    assert plan.config.modulus == 97 and plan.config.op == "add"


def test_intervention_lists_are_crossed_and_put_their_transform_in_the_chain(tmp_path):
    args = sweep.make_parser().parse_args(
        ["--fracs", "0.5", "--seeds", "2", "--update-noise", "0,0.01", "--orthograd", "0,1", "--out", str(tmp_path / "o")]
    )
    plan = sweep.plan_from_args(args)
    assert len(plan.grid) == 2 * 2 * 2
    assert {(g["update_noise"], g["orthograd"]) for g in plan.grid} == {(0, 0), (0, 1), (0.01, 0), (0.01, 1)}
    assert plan.config.transforms == ("orthograd", "update_noise")
    assert all(g["grokfast_alpha"] == 0.98 and g["weight_decay_init"] == 0 for g in plan.grid)
    plain = sweep.plan_from_args(sweep.make_parser().parse_args(["--out", str(tmp_path / "p")]))
    assert plain.config.transforms == ()  # the paper's run: AdamW alone


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--op", "mul_mod"], "unknown op 'mul_mod'; valid ops: add, sub, div"),
        (["--fracs", "0.5,1.2"], "fraction 1.2 is outside (0, 1)"),
        (["--fracs", "0:0.5"], "fraction 0 is outside (0, 1)"),
        (["--fracs", "0.3:0.7:0.1:0.1"], "malformed --fracs"),
        (["--fracs", "0.7:0.3"], "bad --fracs range"),
        (["--fracs", "a:b"], "malformed --fracs"),
        (["--op", "div", "--modulus", "96"], "modulus must be prime; 96 is not"),
        (["--op", "mix", "--modulus", "91"], "modulus must be prime; 91 is not"),
        (["--steps", "0"], "--steps must be positive"),
        (["--steps", "-5"], "--steps must be positive"),
        (["--seeds", "0"], "--seeds must be positive"),
        (["--seeds", "x"], "invalid int value"),
        (["--lr", "0"], "--lr 0 must be > 0"),
        (["--weight-decay", "-1"], "--weight-decay -1 must be >= 0"),
        (["--bogus"], "unrecognized arguments"),
        (["--orthograd", "0,2"], "--orthograd takes 0 or 1"),
        (["--grokfast-alpha", "1"], "--grokfast-alpha must be in [0, 1)"),
        (["--update-noise", "-0.1"], "--update-noise -0.1 must be >= 0"),
        (["--weight-norm", "x"], "malformed --weight-norm"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert sweep.main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert err.count("\n") == 1 and err.startswith("grokjax.sweep: error: ")
    assert not out.exists()


def test_existing_output_folder_is_refused(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    assert sweep.main(["--out", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_list_ops_and_help_from_the_command_line():
    out = subprocess.run([sys.executable, "-m", "grokjax.sweep", "--list-ops"], capture_output=True, text=True)
    assert out.returncode == 0 and "s5_conj" in out.stdout and "x/y if y is odd" in out.stdout
    out = subprocess.run([sys.executable, "-m", "grokjax.sweep", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--weight-decay" in out.stdout


def test_end_to_end_sweep_writes_its_folder(tmp_path):
    out = tmp_path / "sweep"
    assert sweep.main([*TINY_ARGS, "--fracs", "0.4,0.6", "--seeds", "2", "--lr", "1e-3,3e-3", "--grad-noise", "0.01",
                       "--out", str(out)]) == 0
    for f in ("runs.csv", "curves.csv", "config.json", "accuracy.png", "data_efficiency.png", "steps_to_generalize.png"):
        assert (out / f).stat().st_size > 0, f
    runs = list(csv.DictReader(open(out / "runs.csv")))
    assert len(runs) == 8
    need = ("op modulus frac seed lr weight_decay steps_to_99_train steps_to_99_val best_val_acc final_train_acc "
            "final_val_acc weight_decay_init update_noise grad_noise grokfast_lambda grokfast_alpha orthograd weight_norm")
    assert set(need.split()) <= set(runs[0])
    curves = list(csv.DictReader(open(out / "curves.csv")))
    assert len(curves) == 8 * 4  # evaluations at steps 0, 10, 20, 30
    assert {c["step"] for c in curves} == {"0", "10", "20", "30"}
    cfg = json.load(open(out / "config.json"))
    assert "--fracs 0.4,0.6" in cfg["command"] and cfg["config"]["modulus"] == 11
    assert cfg["environment"]["jax"] and cfg["n_runs"] == 8
    assert cfg["config"]["transforms"] == ["grad_noise"] and {r["grad_noise"] for r in runs} == {"0.01"}
    for r in runs:  # a threshold never reached is an empty cell, never a made-up number
        assert r["steps_to_99_val"] == "" or int(r["steps_to_99_val"]) % 10 == 0


def test_figures_redraw_from_the_tables_alone(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert sweep.main([*TINY_ARGS, "--fracs", "0.4,0.6", "--lr", "1e-3,3e-3", "--out", str(out)]) == 0
    runs = (out / "runs.csv").read_bytes()
    rows, steps, arrays = report.read_sweep(out)  # the tables read back are the values written
    report.write_runs(out / "runs.csv", rows)
    assert (out / "runs.csv").read_bytes() == runs
    assert list(steps) == [0, 10, 20, 30] and arrays["val_acc"].shape == (4, 4)
    for c in report.read_csv(out / "curves.csv"):
        at = list(steps).index(int(c["step"]))
        assert report.fmt(arrays["train_loss"][at, int(c["run"])]) == c["train_loss"]
    for png in out.glob("*.png"):
        png.unlink()
    assert plots.main([str(out)]) == 0
    assert {p.name for p in out.glob("*.png")} == {"accuracy.png", "data_efficiency.png", "steps_to_generalize.png"}
    assert plots.main([str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
