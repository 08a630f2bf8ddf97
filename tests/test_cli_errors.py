"""Bad input and failed writes on the command lines: one line on stderr, exit 2,
nothing half-written. Made-up tables only: no training."""

import os

import numpy as np
import pytest

from grokjax import bench, paper, plots, report, scaling, summary
from grokjax.analysis import __main__ as analysis

ROW = {"run": 0, "op": "add", "modulus": 97, "frac": 0.5, "seed": 0, "weight_decay": 1.0}


def write_sweep(out, outliers=None):
    """A finished-looking sweep folder of one run: runs.csv and curves.csv."""
    out.mkdir(parents=True, exist_ok=True)
    steps = np.arange(0, 1001, 100)
    fit = np.where(steps >= 300, 1.0, 0.01)[:, None]
    curves = {"train_acc": fit, "val_acc": np.where(steps >= 800, 1.0, 0.01)[:, None], "train_loss": 1.01 - fit,
              "val_loss": 1.01 - fit, "weight_norm": np.ones((len(steps), 1))}
    row = ROW | ({} if outliers is None else {"outliers": outliers})
    report.write_runs(out / "runs.csv", [{**row, **s, "steps": 1000} for s in summary.summarize(steps, curves)])
    report.write_curves(out / "curves.csv", [row], steps, curves)
    return out


def one_line_error(capsys, *words):
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    return err


def test_a_failed_atomic_write_leaves_no_temp_file(tmp_path):
    (tmp_path / "t.csv").mkdir()  # a folder where the table should go: the rename fails
    with pytest.raises(OSError):
        report.write_atomic(tmp_path / "t.csv", "a,b\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_a_figure_that_cannot_be_written_is_one_line(tmp_path, capsys):
    out = write_sweep(tmp_path / "s")
    (out / "accuracy.png").mkdir()
    assert plots.main([str(out)]) == 2
    one_line_error(capsys, "grokjax.plots: error:", "accuracy.png")


def test_a_curves_table_cut_short_is_named_with_its_line(tmp_path, capsys):
    out = write_sweep(tmp_path / "s")
    text = (out / "curves.csv").read_text()
    (out / "curves.csv").write_text(text[: text.index("\n", text.index("\n") + 1) + 20])  # 20 characters of row 1
    with pytest.raises(report.TableError, match="curves.csv cannot be read at line 3"):
        report.read_curves(out / "curves.csv", 1)
    (out / "curves.csv").write_text("run,train_acc\n0,0.5\n")
    with pytest.raises(report.TableError, match="has no column 'step'"):
        report.read_curves(out / "curves.csv", 1)
    assert analysis.main(["norms", str(out)]) == 2
    one_line_error(capsys, "grokjax.analysis: error:", "not a sweep folder")  # no checkpoint, no config.json


def test_bench_read_takes_no_other_flag_and_names_a_file_that_is_not_json(tmp_path, capsys):
    bad = tmp_path / "x.json"
    bad.write_text("not json")
    assert bench.main(["--read", str(bad), "--steps", "-4"]) == 2
    one_line_error(capsys, "--read only prints the tables of saved JSON; it takes no --steps")
    assert bench.main(["--read", str(bad)]) == 2
    one_line_error(capsys, f"--read: {bad} is not JSON")


def test_scaling_refuses_a_slope_that_json_cannot_hold(tmp_path, capsys):
    out = write_sweep(tmp_path / "s")  # refused before the folder is read
    assert scaling.main([str(out), "--against", "seed", "--claim", "nan"]) == 2
    one_line_error(capsys, "--claim must be a finite slope, got nan")
    assert sorted(p.name for p in out.iterdir()) == ["curves.csv", "runs.csv"]


def test_fig6_without_outlier_runs_leaves_the_outlier_claims_untested(tmp_path):
    """No run with 0 < k ≤ 1,000 outliers: 'barely matter' is untested, not held over nothing."""
    out = write_sweep(tmp_path / "s", outliers=0)
    rows, steps, curves = report.read_sweep(out)
    for r in rows:
        r["steps"] = 100_000  # the paper's budget: only the missing runs leave it undecided
    few, many, _ = paper.fig6(out, rows, steps, curves)
    assert few.held is None and many.held is None


def test_a_replay_table_of_an_older_grokjax_names_the_column_it_lacks(tmp_path):
    from grokjax.analysis import replay

    cols = ["run", "frac", "seed", "step", "train_acc", "val_acc", "batch_acc", "train_loss", "val_loss", "batch_loss",
            "grad_norm", "update_norm", "max_logit", "zero_loss_frac"]  # no logit_spread
    path = tmp_path / "replay_step10_to11.csv"
    path.write_text(",".join(cols) + "\n" + ",".join(["0", "0.5", "0", "10"] + ["0.5"] * (len(cols) - 4)) + "\n")
    with pytest.raises(ValueError, match="no column logit_spread"):
        replay.draw(path, plan=None)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_process_seconds_reads_the_start_time_from_proc(tmp_path):
    from grokjax import report

    stat, uptime = tmp_path / "stat", tmp_path / "uptime"
    ticks = os.sysconf("SC_CLK_TCK")
    # the command name may hold spaces and parentheses; starttime is field 22
    stat.write_text("42 (python (x) y) S " + " ".join(["0"] * 18) + f" {150 * ticks} 0 0\n")
    uptime.write_text("200.50 380.00\n")
    assert report.process_seconds(str(stat), str(uptime)) == 50.5
    assert report.process_seconds(str(tmp_path / "none"), str(uptime)) is None
    assert not report.run_by_a_command()  # pytest is no grokjax command line
