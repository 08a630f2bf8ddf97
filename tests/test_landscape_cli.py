"""The LU landscape's figure and command line, from made-up rows: no training."""

import numpy as np
import pytest

from grokjax import api, landscape, tasks
from grokjax.model import MLPSpec
from grokjax.spec import SweepSpec

SPEC = landscape.landscape_spec(
    SweepSpec(task=tasks.TeacherStudentTask(n_train=40, n_test=30, widths=(5, 16, 16, 5)),
              model=MLPSpec(depth=3, width=16, activation="tanh"), train_sizes=(20,), steps=40), (5.0, 40.0))


def rows(norms=(5.0, 10.0, 20.0, 40.0)):
    """One point per norm whose run ended at its lowest train loss: the dotted line lies on the solid."""
    return [{k: 0.5 for k in landscape.COLUMNS} | {"weight_norm_target": w, "n_train": 20, "seed": 0,
                                                   "final_train_loss": 1 / w, "min_train_loss": 1 / w}
            for w in norms]


def test_the_landscape_names_no_init_scale_and_ticks_its_least_and_greatest_norm(tmp_path):
    fig = landscape.plot(tmp_path / "lu.png", rows(), SPEC)
    title = fig.get_suptitle()
    # the init is rescaled to the held norm: init_scale=1 said nothing
    assert "init_scale" not in title and "weight_decay=0" in title
    fig.canvas.draw()
    ax = fig.axes[2]  # a bottom panel: its x ticks are labelled
    lo, hi = ax.get_xlim()
    labels = {t.get_text() for t in ax.get_xticklabels() if lo <= t.get_position()[0] <= hi and t.get_text()}
    assert {"5", "40"} <= labels, labels  # 5, 10, 20, 30 before: 40 had none


def test_the_line_at_the_lowest_train_loss_shows_where_it_lies_on_the_end_of_run_line(tmp_path):
    fig = landscape.plot(tmp_path / "lu.png", rows(), SPEC)
    for ax in fig.axes:
        solid, dotted = ax.get_lines()[:2]
        np.testing.assert_array_equal(solid.get_ydata(), dotted.get_ydata())  # the case: one on the other
        assert solid.get_linestyle() == "-" and dotted.get_linestyle() == ":"
        assert dotted.get_zorder() > solid.get_zorder()  # drawn over it, not under
        assert solid.get_linewidth() > 1.5 * dotted.get_linewidth() and solid.get_alpha() < 0.6  # wide and light under it


def test_the_landscape_help_says_its_weight_decay_is_honoured(tmp_path, monkeypatch, capsys):
    """``--weight-decay 0.5`` runs at 0.5: the help said weight decay 0."""
    with pytest.raises(SystemExit):
        landscape.main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "(weight decay 0 unless --weight-decay or the sweep file's grid gives one value)" in help_text
    assert "--weight-decay X AdamW's decoupled weight decay toward 0, one value for every point (0, Omnigrok's)" in help_text
    options = help_text.split("options:", 1)[1]  # the flags it refuses are not offered
    for flag in ("--resume", "--fork", "--at ", "--variant", "--init-scale", "--weight-norm-target"):
        assert flag not in options, flag
    assert "--norms A:B:log:N" in options and "--steps" in options
    got = {}

    def run(spec, out, **kw):  # the spec the landscape would train, and no training
        got["spec"] = spec
        raise api.OutputError("not trained in this test")

    monkeypatch.setattr(api, "run", run)
    argv = ["--task", "teacher_student", "--norms", "1,10", "--sizes", "20", "--devices", "1", "--no-progress",
            "--out", str(tmp_path / "lu")]
    assert landscape.main([*argv, "--weight-decay", "0.5"]) == 2
    assert got["spec"].grid[0].weight_decay == (0.5,)
    assert landscape.main(argv) == 2
    assert got["spec"].grid[0].weight_decay == (0.0,)
    assert landscape.main([*argv, "--weight-decay", "0,1"]) == 2
    assert "a landscape takes one weight decay (--weight-decay, or the sweep file's grid), not 0,1" in capsys.readouterr().err


def test_the_landscape_keeps_a_sweep_files_weight_decay_unless_the_flag_overrides(tmp_path, monkeypatch, capsys):
    got = {}

    def run(spec, out, **kw):
        got["spec"] = spec
        raise api.OutputError("not trained in this test")

    monkeypatch.setattr(api, "run", run)
    path = tmp_path / "lu.toml"
    path.write_text('task = { name = "teacher_student" }\nnorms = "1,10"\ntrain_sizes = [20]\ngrid = { weight_decay = 0.3 }\n')
    argv = ["--spec", str(path), "--devices", "1", "--no-progress", "--out", str(tmp_path / "lu")]
    assert landscape.main(argv) == 2
    assert got["spec"].grid[0].weight_decay == (0.3,)  # the file's, not silently 0
    assert landscape.main([*argv, "--weight-decay", "0.1"]) == 2
    assert got["spec"].grid[0].weight_decay == (0.1,)
    path.write_text(path.read_text().replace("0.3", "[0.3, 1]"))
    assert landscape.main(argv) == 2
    assert "not 0.3,1;" in capsys.readouterr().err


def test_the_landscape_lists_as_the_sweep_does_and_refuses_what_it_cannot_do(tmp_path, monkeypatch, capsys):
    """--list-ops needs no --norms; --fork, --at and half the host flags are refused, not ignored."""
    assert landscape.main(["--list-tasks"]) == 0
    assert "teacher_student" in capsys.readouterr().out
    assert landscape.main(["--import", "grokjax.grokfast_task", "--list-ops"]) == 0
    assert "mul " in capsys.readouterr().out  # the --import came first
    monkeypatch.setattr(api, "run", lambda *a, **kw: pytest.fail("nothing may train"))
    base = ["--task", "teacher_student", "--norms", "1,10", "--out", str(tmp_path / "lu")]
    for extra, message in ((["--fork", str(tmp_path)], "a landscape is forked as a sweep"),
                           (["--at", "10"], "a landscape is forked as a sweep"),
                           (["--num-processes", "2"], "--num-processes and --process-id need --coordinator"),
                           (["--init-scale", "2"], "--init-scale would change nothing"),
                           (["--sizes", "20", "--train-size", "30"], "give the training-set sizes once")):
        assert landscape.main([*base, *extra]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "lu").exists()
