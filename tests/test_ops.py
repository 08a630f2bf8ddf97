"""Several operations in one sweep (``--op all``, ``--op add,sub``): the op is a
per-run choice, ops of one vocabulary share a compiled program, and every run
trains exactly as it would alone."""

import json

import numpy as np
import pytest

import grokjax
from grokjax import paper, tables
from grokjax.analysis.__main__ import main as analysis_main
from grokjax.plan import expand
from grokjax.spec import Product, SpecError, SweepSpec, TableTask, TransformerSpec
from grokjax.sweep import main

SMALL = TransformerSpec(n_layers=1, d_model=32, n_heads=2, d_mlp=64)


def small_spec(op: str, **kw) -> SweepSpec:
    base = dict(task=TableTask(op=op, modulus=11), model=SMALL, batch_size=16, fracs=(0.5,), seeds=2, steps=20,
                eval_every=10, devices=1)
    return SweepSpec(**{**base, **kw})


def test_op_names_several_ops_in_order():
    assert TableTask(op="all").ops == tuple(tables.OPS)
    assert TableTask(op="sub, add").ops == ("sub", "add")
    assert TableTask(op=["div", "s5_mul"]).op == "div,s5_mul"
    assert not TableTask(op="add").stacked and TableTask(op="add,sub").stacked
    assert [p.op for p in TableTask(op="add,s5_aba").parts()] == ["add", "s5_aba"]


@pytest.mark.parametrize("op, message", [
    ("add,nope", "unknown op 'nope'"),
    ("add,sub,add", "lists an operation twice"),
    (",", "names no operation"),
])
def test_bad_op_lists_are_refused(op, message):
    with pytest.raises(SpecError, match=message):
        TableTask(op=op)


def test_all_ops_are_two_programs_one_per_vocabulary():
    spec = SweepSpec(task=TableTask(op="all"), fracs=(0.5,), seeds=1, steps=10, devices=1)
    plan = expand(spec)
    assert [p.config.task.ops for p in plan.programs] == [tuple(tables.OPS)[:9], ("s5_mul", "s5_conj", "s5_aba")]
    assert [r["op"] for r in plan.rows] == list(tables.OPS)
    # each run's training set is its own table's fraction: x/y has no y = 0
    n = {r["op"]: r["n_train"] for r in plan.rows}
    assert n["add"] == round(0.5 * 97 * 97) and n["div"] == round(0.5 * 97 * 96) and n["s5_mul"] == 120 * 120 // 2
    # the stack: one table per op, the shorter padded to the longest
    data = plan.programs[0].config.task.data()
    assert data.x.shape == (9, 97 * 97, 4) and data.size == 97 * 97
    div = tables.table_for("div", 97)
    np.testing.assert_array_equal(data.y[2, : div.size], div.y)
    # run_params point each run at its table
    assert list(np.asarray(plan.run_params(plan.programs[1]).op_index)) == [0, 1, 2]


def test_a_run_among_several_ops_equals_the_run_alone():
    """Bit for bit: metrics at every evaluation, with outliers and full batch
    exercising the labels and the slices of a padded table (x/y)."""
    ops = ["mix", "div"]  # x/y's table is the shorter: its rows past 110 are padding
    grid = (Product(outliers=(0, 3), full_batch=(False, True)),)
    together = grokjax.run(small_spec(",".join(ops), grid=grid, seeds=1), progress=False)
    assert len(expand(together.spec).programs) == 2  # minibatch, full batch
    alone = [grokjax.run(small_spec(op, grid=grid, seeds=1), progress=False) for op in ops]
    assert [r["op"] for r in together.runs] == [op for op in ops for _ in range(4)]
    for name in ("train_acc", "val_acc", "train_loss", "val_loss", "weight_norm"):
        np.testing.assert_array_equal(together.curves[name], np.concatenate([a.curves[name] for a in alone], axis=1),
                                      err_msg=name)


def test_several_ops_from_the_command_line_load_and_evaluate(tmp_path, capsys):
    out = tmp_path / "ops"
    args = ["--op", "sub,s5_conj", "--modulus", "11", "--n-layers", "1", "--d-model", "32", "--n-heads", "2",
            "--batch-size", "16", "--fracs", "0.5", "--seeds", "1", "--steps", "10", "--eval-every", "10",
            "--devices", "1", "--no-progress", "--out", str(out)]
    assert main(args) == 0
    runs = grokjax.report.read_csv(out / "runs.csv")
    assert [r["op"] for r in runs] == ["sub", "s5_conj"]
    assert json.loads((out / "config.json").read_text())["spec"]["task"]["op"] == "sub,s5_conj"
    # one fraction: no figure against the data size, whose one column would say nothing
    assert (out / "accuracy.png").stat().st_size > 0
    assert not (out / "data_efficiency.png").exists() and not (out / "steps_to_generalize.png").exists()
    results = grokjax.load(out)
    assert results.load_run(0).config.task.op == "sub"
    # a run of the S5 program loads as its own op's task, and evaluates to what the sweep recorded
    assert results.load_run(1).config.task.op == "s5_conj"
    assert results.evaluate(1)["val_acc"] == pytest.approx(results.curves["val_acc"][-1, 1], abs=1e-6)
    # the paper's Figure 2 (right) reads it; an analysis of one table refuses it in one line
    assert paper.main(["fig2_right", str(out)]) == 0
    assert json.loads((out / "fig2_right.json").read_text())["runs"] == 2
    capsys.readouterr()
    assert analysis_main(["tsne", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "reads one operation's table" in err[0]


def test_git_commit_is_dirty_for_changed_code_not_for_rewritten_results(tmp_path):
    """A benchmark re-made in place rewrites a committed result: the code is
    still the commit's, so the record must not say "+dirty"."""
    import subprocess

    from grokjax import report

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "bench.json").write_text("{}\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    clean = report._git_commit(tmp_path)
    assert clean and len(clean) == 40
    (tmp_path / "results" / "bench.json").write_text('{"new": 1}\n')
    assert report._git_commit(tmp_path) == clean
    (tmp_path / "code.py").write_text("x = 2\n")
    assert report._git_commit(tmp_path) == clean + "+dirty"
