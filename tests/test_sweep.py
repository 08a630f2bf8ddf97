"""The command line: flags to a spec, one-line errors, the folder it writes."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from grokjax import plots, report, sweep
from grokjax.spec import Product, SweepSpec, TableTask


def spec_of(argv):
    parser = sweep.make_parser()
    return sweep.spec_from_args(parser.parse_args(argv), sweep.given_flags(parser, argv))


def test_flags_become_a_spec():
    got = spec_of(["--fracs", "0.3,0.5", "--seeds", "3", "--lr", "1e-3,3e-3", "--weight-decay", "0,1",
                   "--orthograd", "0,1", "--op", "sub", "--modulus", "31", "--eval-every", "log:50", "--stop-at", "0.99"])
    assert got == SweepSpec(task=TableTask(op="sub", modulus=31), fracs=(0.3, 0.5), seeds=3, eval_every="log:50",
                            stop_at=0.99, grid=(Product(lr=(1e-3, 3e-3), weight_decay=(0, 1), orthograd=(0, 1)),))
    assert spec_of([]) == SweepSpec()  # no flags: the defaults, the paper's AdamW run
    assert spec_of(["--full-batch", "--variant", "adam,adamw"]).grid == (
        Product(variant="adam", full_batch=True), Product(variant="adamw", full_batch=True))
    nanda = spec_of(["--no-layer-norm", "--weight-init", "nanda", "--positions", "learned", "--mlp-bias"]).model
    assert (nanda.layer_norm, nanda.weight_init, nanda.positions, nanda.mlp_bias) == (False, "nanda", "learned", True)
    # a spec written before these settings existed reads as the model it trained: the paper's
    old = SweepSpec().to_dict()
    for key in ("weight_init", "positions", "mlp_bias"):
        del old["model"][key]
    model = SweepSpec.from_dict(old).model
    assert (model.weight_init, model.positions, model.mlp_bias) == ("torch", "sinusoid", False)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--op", "mul_mod"], "unknown op 'mul_mod'; valid ops: add, sub, div"),
        (["--fracs", "0.5,1.2"], "fraction 1.2 is outside (0, 1)"),
        (["--fracs", "0:0.5"], "fraction 0 is outside (0, 1)"),
        (["--fracs", "0.3:0.7:0.1:0.1"], "malformed fracs"),
        (["--fracs", "0.7:0.3"], "bad fracs range"),
        (["--fracs", "0.5:1.2"], "bad fracs range '0.5:1.2': it reaches 1.2; fractions lie below 1"),
        (["--fracs", "a:b"], "malformed fracs"),
        (["--op", "div", "--modulus", "96"], "modulus must be prime; 96 is not"),
        (["--op", "mix", "--modulus", "91"], "modulus must be prime; 91 is not"),
        (["--steps", "0"], "steps must be positive"),
        (["--steps", "-5"], "steps must be positive"),
        (["--seeds", "0"], "seeds must be positive"),
        (["--seeds", "x"], "invalid int value"),
        (["--lr", "0"], "lr 0 must be > 0"),
        (["--weight-decay", "-1"], "weight_decay -1 must be >= 0"),
        (["--bogus"], "unrecognized arguments"),
        (["--seed", "3"], "unrecognized arguments: --seed 3"),  # not --seeds 3: no flag is abbreviated
        (["--fracs", "-0.1,0.5"], "argument --fracs: expected one argument (a value that starts with '-' is written "
                                  "--fracs=VALUE)"),  # argparse reads "-0.1,0.5" as a flag
        (["--orthograd", "0,2"], "orthograd 2 takes 0 or 1"),
        (["--grokfast-alpha", "1"], "grokfast_alpha 1 must be in [0, 1)"),
        (["--update-noise", "-0.1"], "update_noise -0.1 must be >= 0"),
        (["--weight-norm-target", "x"], "malformed --weight-norm-target"),
        (["--eval-every", "log:x"], "log:N needs a whole N >= 2"),
        (["--stop-at", "2"], "stop_at 2 must be in (0, 1]"),
        (["--stop-at", "soon"], "malformed --stop-at"),
        (["--spec", "no/such.toml"], "spec file no/such.toml does not exist"),
        (["--profile", "gpu"], "--profile needs --spec FILE"),
        (["--devices", "99"], "devices 99: only 4 cpu device(s) visible"),
        (["--import", "no_such_module_here"], "import no_such_module_here"),
        (["--variant", "adam, adam"], "grid lists one product twice"),
        (["--variant", "adam_fullbatch", "--no-full-batch"], "variant adam_fullbatch sets full_batch itself"),
        (["--out", __file__], "is a file; pick another folder"),
        (["--import", ""], "an empty module name"),
        (["--modulus", "1"], "modulus must be a whole number >= 2"),
        (["--stop-share", "0.5"], "stop_share 0.5 needs stop_at"),
        (["--coordinator", "nonsense", "--num-processes", "2", "--process-id", "0"], "is not HOST:PORT"),
        (["--coordinator", "localhost:1", "--num-processes", "0", "--process-id", "0"], "--num-processes must be at least 1"),
        (["--task", "arrays", "--data", __file__], "is not an .npz archive"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert sweep.main([*argv, "--out", str(out)] if "--out" not in argv else argv) == 2
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
    assert out.returncode == 0 and "--weight-decay" in out.stdout and "--spec FILE" in out.stdout


def test_end_to_end_sweep_writes_its_folder(tmp_path, tiny_args, capsys):
    out = tmp_path / "sweep"
    argv = [*tiny_args, "--steps", "30", "--eval-every", "10", "--fracs", "0.4,0.6", "--seeds", "2",
            "--lr", "1e-3,3e-3", "--grad-noise", "0.01", "--out", str(out)]
    assert sweep.main(argv) == 0
    assert f"8 runs, 0 reached 99% val; wrote {out}/" in capsys.readouterr().out
    for f in ("runs.csv", "curves.csv", "config.json", "accuracy.png", "data_efficiency.png", "steps_to_generalize.png"):
        assert (out / f).stat().st_size > 0, f
    runs = list(csv.DictReader(open(out / "runs.csv")))
    assert len(runs) == 8
    need = ("op modulus frac seed lr weight_decay steps_to_99_train steps_to_99_val best_val_acc final_train_acc "
            "final_val_acc weight_decay_init update_noise grad_noise grokfast_lambda grokfast_alpha orthograd "
            "weight_norm_target diverged_step steps stop_reason")
    assert set(need.split()) <= set(runs[0])
    assert {r["stop_reason"] for r in runs} == {"budget"} and {r["steps"] for r in runs} == {"30"}
    curves = list(csv.DictReader(open(out / "curves.csv")))
    assert len(curves) == 8 * 4  # evaluations at steps 0, 10, 20, 30
    assert {c["step"] for c in curves} == {"0", "10", "20", "30"}
    cfg = json.load(open(out / "config.json"))
    assert "--fracs 0.4,0.6" in cfg["command"] and cfg["spec"]["task"]["modulus"] == 11
    assert SweepSpec.from_dict(cfg["spec"]) == spec_of(argv[:-2])
    assert cfg["environment"]["jax"] and cfg["n_runs"] == 8
    assert cfg["programs"][0]["config"]["transforms"] == ["grad_noise"] and {r["grad_noise"] for r in runs} == {"0.01"}
    for r in runs:  # a threshold never reached is an empty cell, never a made-up number
        assert r["steps_to_99_val"] == "" or int(r["steps_to_99_val"]) % 10 == 0


def test_a_sweep_file_runs_from_the_command_line(tmp_path, capsys):
    path = tmp_path / "tiny.toml"
    path.write_text('fracs = "0.5"\nsteps = 20\neval_every = "log:5"\n[task]\nop = "add"\nmodulus = 11\n'
                    '[model]\nn_layers = 1\nd_model = 32\nn_heads = 2\n[profile.cpu]\nbatch_size = 32\n')
    out = tmp_path / "o"
    assert sweep.main(["--spec", str(path), "--profile", "cpu", "--seeds", "2", "--no-progress", "--out", str(out)]) == 0
    cfg = json.load(open(out / "config.json"))
    assert cfg["spec"]["name"] == "tiny" and cfg["spec"]["seeds"] == 2 and cfg["spec"]["batch_size"] == 32
    assert [int(r["step"]) for r in report.read_csv(out / "curves.csv") if r["run"] == "0"] == [0, 1, 2, 4, 9, 20]


def test_a_cell_reads_back_to_its_float_in_its_own_precision():
    for v in (np.float64(511 / 512), np.float64(0.1), np.float32(0.1), np.float32(335 / 512), np.float64(np.pi)):
        assert type(v)(report.cell(report.fmt(v))) == v
    assert report.cell(report.fmt(511 / 512, float32=False)) == 511 / 512  # an x64 sweep's Python float
    assert report.fmt(0.1) == report.fmt(np.float32(0.1)) == "0.1"  # float32 values stay short
    assert report.fmt(float(np.float32(0.1))) == "0.1" and report.fmt(None) == ""


def test_figures_redraw_from_the_tables_alone(tmp_path, tiny_args, capsys):
    out = tmp_path / "sweep"
    assert sweep.main([*tiny_args, "--steps", "30", "--eval-every", "10", "--fracs", "0.4,0.6", "--lr", "1e-3,3e-3",
                       "--out", str(out)]) == 0
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


def test_stop_share_ends_a_sweep_once_that_share_of_its_runs_has_reached():
    from grokjax.engine import all_done

    steps = np.array([0, 100])
    val = np.array([[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.5, 0.0]])
    curves = {"val_acc": val, "train_acc": val, "train_loss": 1 - val, "val_loss": 1 - val, "weight_norm": np.ones_like(val)}
    assert not all_done(steps, curves, 0.99)
    assert all_done(steps, curves, 0.99, share=0.5) and not all_done(steps, curves, 0.99, share=0.75)
    assert all_done(steps, curves, 0.5, share=0.75)


def test_batches_and_adam_eps_flags_reach_the_spec(tmp_path):
    args = sweep.make_parser().parse_args(["--batches", "epoch", "--adam-eps", "1e-6", "--stop-at", "0.99",
                                           "--stop-share", "0.5"])
    spec = SweepSpec.from_dict(sweep.spec_dict(args, {"batches", "adam_eps", "stop_at", "stop_share"}))
    assert (spec.batches, spec.adam_eps, spec.stop_at, spec.stop_share) == ("epoch", 1e-6, 0.99, 0.5)


def test_a_second_ctrl_c_before_the_first_checkpoint_is_one_line_and_leaves_nothing(tmp_path, tiny_args, monkeypatch, capsys):
    from grokjax import engine

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(engine, "train", interrupted)
    assert sweep.main([*tiny_args, "--steps", "5", "--out", str(tmp_path / "o")]) == 130
    assert capsys.readouterr().err.strip().endswith("grokjax.sweep: interrupted; nothing was kept")
    assert not (tmp_path / "o").exists()


def test_resume_refuses_a_preset(tmp_path, tiny_args, capsys):
    out = tmp_path / "r"
    assert sweep.main([*tiny_args, "--steps", "5", "--out", str(out)]) == 0
    assert sweep.main(["--resume", str(out), "--preset", "fast"]) == 2
    assert "drop --preset" in capsys.readouterr().err


def test_a_listing_piped_into_a_reader_that_stopped_is_no_error():
    import os
    import subprocess
    import sys

    read, write = os.pipe()
    os.close(read)  # the reader (``| head``) is gone before anything is written
    got = subprocess.run([sys.executable, "-m", "grokjax.sweep", "--list-ops"], stdout=write, stderr=subprocess.PIPE,
                         text=True)
    os.close(write)
    assert got.returncode == 0 and "BrokenPipe" not in got.stderr and got.stderr == "", got.stderr


def test_an_imported_op_takes_a_modulus():
    # the --import runs before --modulus is checked against the op: `mul` is registered by the module
    spec = spec_of(["--import", "grokjax.grokfast_task", "--op", "mul", "--modulus", "13"])
    assert (spec.task.op, spec.task.modulus, spec.imports) == ("mul", 13, ("grokjax.grokfast_task",))
