"""grokjax from Python: run, load and resume give the same numbers; early
stops, divergence, tables and imports behave."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import grokjax
from grokjax import report
from grokjax.spec import Product

PACKAGE = Path(grokjax.__file__).parent
CLI_MODULES = {"sweep", "inspect", "bench", "landscape", "contours", "trajectory", "full_trajectory", "scaling", "analysis.__main__"}


def same_results(a, b):
    assert a.spec == b.spec and a.runs == b.runs and a.stop_reason == b.stop_reason
    np.testing.assert_array_equal(a.steps, b.steps)
    assert a.curves.keys() == b.curves.keys()
    for k in a.curves:
        assert a.curves[k].dtype == b.curves[k].dtype
        np.testing.assert_array_equal(a.curves[k], b.curves[k], err_msg=k)


@pytest.fixture(scope="module")
def swept(tmp_path_factory, tiny_spec):
    out = tmp_path_factory.mktemp("api") / "sweep"
    spec = tiny_spec.replace(grid=(Product(lr=(1e-3, 3e-3)),), ckpt_every=10)
    return grokjax.run(spec, out, progress=False)


def test_load_returns_what_run_returned(swept):
    same_results(grokjax.load(swept.out), swept)


def test_a_run_in_memory_writes_nothing_and_gives_the_same_numbers(swept, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mem = grokjax.run(swept.spec, progress=False)
    assert mem.out is None and list(tmp_path.iterdir()) == []
    assert mem.runs == swept.runs
    on_disk = grokjax.load(swept.out)
    for a, b in zip(*(jax_leaves(r.params(3)) for r in (mem, on_disk))):
        np.testing.assert_array_equal(a, b)


def jax_leaves(tree):
    import jax

    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_params_at_any_saved_step(swept):
    loaded = grokjax.load(swept.out)
    assert loaded.saved_steps() == [10, 20, 30]
    early, late = loaded.params(2, step=10), loaded.params(2)
    assert not all(np.array_equal(a, b) for a, b in zip(jax_leaves(early), jax_leaves(late)))
    m = loaded.evaluate(2, step=20)
    t = list(loaded.steps).index(20)
    assert report.fmt(np.float32(m["val_acc"])) == report.fmt(loaded.curves["val_acc"][t, 2])


def test_a_run_re_evaluates_to_its_recorded_numbers_in_float64_and_with_outliers(tiny_spec, tmp_path):
    res = grokjax.run(tiny_spec.replace(x64=True, grid=(Product(outliers=(0, 3)),), steps=10, seeds=1, fracs=(0.5,)),
                      tmp_path / "x64", progress=False)
    assert res.curves["val_acc"].dtype == np.float64
    loaded = grokjax.load(tmp_path / "x64")  # the tables hold float64 exactly, values that fit float32 too
    for k in res.curves:
        np.testing.assert_array_equal(loaded.curves[k], res.curves[k])
    rows = report.read_csv(tmp_path / "x64" / "runs.csv")
    assert [float(r["final_val_acc"]) for r in rows] == [r["final_val_acc"] for r in res.runs]
    for run in (0, 1):
        m = res.evaluate(run)
        for k in m:
            assert m[k] == res.curves[k][-1, run], k
    with pytest.raises(grokjax.CheckpointError, match="run 2 is out of range: the sweep has runs 0..1"):
        res.params(2)


def test_to_pandas_says_how_to_install_pandas(swept, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install pandas"):
        swept.to_pandas()


def test_no_table_has_two_columns_of_one_name(tiny_spec, tmp_path):
    every = Product(weight_decay_init=(0.1,), update_noise=(0.01,), grad_noise=(0.01,), grokfast_lambda=(2,),
                    grokfast_ma_lambda=(1,), grokfast_window=(3,),
                    orthograd=(1,), weight_norm_target=(25,), weight_noise=(0.01,), dropout=(0.1,), outliers=(2,))
    res = grokjax.run(tiny_spec.replace(grid=(every, Product(variant="adam")), steps=10, seeds=1), tmp_path / "o",
                      progress=False)
    for name in ("runs.csv", "curves.csv"):
        header = (tmp_path / "o" / name).read_text().splitlines()[0].split(",")
        assert len(header) == len(set(header)), name
    curves = report.read_csv(tmp_path / "o" / "curves.csv")
    assert {c["weight_norm_target"] for c in curves} == {"25.0", "0.0"}  # the setting, never the metric
    assert all(float(c["weight_norm"]) > 0 for c in curves)
    assert res.runs[0]["weight_norm_target"] == 25


def test_first_seed_trains_the_same_runs_as_those_seeds_of_a_larger_sweep(tiny_spec):
    spec = tiny_spec.replace(steps=10, fracs=(0.5,), run_axis="map")
    both = grokjax.run(spec.replace(seeds=2), progress=False)
    second = grokjax.run(spec.replace(seeds=1, first_seed=1), progress=False)
    assert [r["seed"] for r in both.runs] == [0, 1] and second.runs[0]["seed"] == 1
    for k in both.curves:  # under map, bit for bit
        np.testing.assert_array_equal(second.curves[k][:, 0], both.curves[k][:, 1], err_msg=k)
    assert both.runs[0]["final_train_loss"] != both.runs[1]["final_train_loss"]  # seed 1 is not seed 0


def test_stop_at_ends_the_sweep_once_every_run_has_reached_it(tiny_spec):
    full = grokjax.run(tiny_spec.replace(steps=100, eval_every=10), progress=False)
    best = np.maximum.accumulate(full.curves["val_acc"], axis=0)
    threshold = float(best[-1].min())  # reached by every run, the last of them at `when`
    when = int(full.steps[np.argmax((best >= threshold).all(1))])
    assert 0 < when < 100
    early = grokjax.run(tiny_spec.replace(steps=100, eval_every=10, stop_at=threshold), progress=False)
    assert int(early.steps[-1]) == when and early.stop_reason == "stop_at"
    assert all(r["steps"] == when and r["stop_reason"] == "stop_at" for r in early.runs)
    for k in full.curves:  # the same trajectory, cut short
        np.testing.assert_array_equal(early.curves[k], full.curves[k][: len(early.steps)])


def test_a_run_that_grokked_before_it_diverged_counts_as_grokked_everywhere(tiny_spec):
    from grokjax import summary

    steps = np.array([0, 10, 20, 30])
    curves = {"val_acc": np.array([[0.1], [0.995], [0.5], [0.5]]), "train_acc": np.full((4, 1), 1.0),
              "train_loss": np.array([[1.0], [0.1], [np.nan], [np.nan]]), "val_loss": np.full((4, 1), 0.1),
              "weight_norm": np.full((4, 1), 10.0)}
    (row,) = summary.summarize(steps, curves)
    assert (row["steps_to_99_val"], row["diverged_step"]) == (10, 20)
    assert summary.reached(steps, curves, 0.99).tolist() == [True]
    res = grokjax.Results(tiny_spec, [row], steps, curves, None, "budget", {})
    assert res.n_grokked == 1 and res.n_diverged == 1


@pytest.mark.parametrize("final, fallen", [(0.95, 0), (0.5, 1)])
def test_a_run_that_grokked_and_ended_below_0_9_is_counted_and_said(tiny_spec, capsys, final, fallen):
    from grokjax import summary, sweep

    steps = np.array([0, 10, 20, 30])
    grokked_then = {"val_acc": np.array([[0.1, 0.1], [0.995, 0.3], [0.1, 0.4], [final, 0.5]]),
                    "train_acc": np.full((4, 2), 1.0), "train_loss": np.full((4, 2), 0.1),
                    "val_loss": np.full((4, 2), 0.1), "weight_norm": np.full((4, 2), 10.0)}
    rows = summary.summarize(steps, grokked_then)  # the second run never grokked: it does not count
    res = grokjax.Results(tiny_spec, rows, steps, grokked_then, Path("OUT"), "budget",
                          {"compile_s": 1.0, "train_s": 2.0})
    assert (res.n_grokked, res.n_fallen) == (1, fallen)
    assert sweep._summary(res) == 0
    said = capsys.readouterr().out
    assert ("(1 of them below 90% val at the end: a late collapse)" in said) == bool(fallen)
    assert said.startswith("2 runs, 1 reached 99% val")


def test_a_diverged_run_is_marked_and_never_counts_as_grokked(tiny_spec, tiny_args, tmp_path, capsys):
    from grokjax import sweep

    spec = tiny_spec.replace(grid=(Product(lr=(1e-3, 30.0)),), fracs=(0.5,), seeds=1, steps=40, eval_every=10)
    res = grokjax.run(spec, progress=False)
    ok, bad = res.runs
    assert ok["diverged_step"] is None and bad["diverged_step"] is not None
    t = list(res.steps).index(bad["diverged_step"])
    assert np.isfinite(res.curves["train_loss"][:t, 1]).all() and not np.isfinite(res.curves["train_loss"][t, 1])
    assert res.n_diverged == 1 and bad["steps_to_99_val"] is None
    # stop_at waits for the live runs only
    assert grokjax.run(spec.replace(stop_at=0.01), progress=False).stop_reason == "stop_at"
    assert sweep.main([*tiny_args, "--fracs", "0.5", "--steps", "40", "--eval-every", "10", "--lr", "1e-3,30",
                       "--out", str(tmp_path / "d")]) == 0
    assert "2 runs, 0 reached 99% val, 1 diverged" in capsys.readouterr().out
    rows = report.read_csv(tmp_path / "d" / "runs.csv")
    assert rows[0]["diverged_step"] == "" and rows[1]["diverged_step"] == str(bad["diverged_step"])


def test_a_bad_output_folder_or_spec_is_refused_before_anything_runs(tiny_spec, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("keep")
    with pytest.raises(grokjax.OutputError, match="already exists and is not empty"):
        grokjax.run(tiny_spec, tmp_path / "full")
    with pytest.raises(grokjax.OutputError, match="is a file"):
        grokjax.run(tiny_spec, tmp_path / "full" / "mine.txt")
    (tmp_path / "locked").mkdir(mode=0o500)
    if os.geteuid() != 0:  # root writes anywhere
        with pytest.raises(grokjax.OutputError, match="is not a writable folder"):
            grokjax.run(tiny_spec, tmp_path / "locked" / "new")
    with pytest.raises(grokjax.OutputError, match="is not a writable folder"):
        grokjax.run(tiny_spec, tmp_path / "full" / "mine.txt" / "below")
    with pytest.raises(TypeError, match="takes a SweepSpec"):
        grokjax.run({"steps": 10})
    with pytest.raises(grokjax.CheckpointError, match="not a sweep folder"):
        grokjax.load(tmp_path / "full")


# ---------------------------------------------------------------- imports


def module_name(path: Path) -> str:
    """``grokjax/analysis/tsne.py`` → ``analysis.tsne``; a package's __init__ is the package."""
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__")


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """grokjax modules (of ``known``) a file imports, at the top or inside functions."""
    tree = ast.parse(path.read_text())
    got = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("grokjax"):
            base = node.module.removeprefix("grokjax").lstrip(".")
            for a in node.names:  # "from grokjax.analysis import tsne" imports analysis.tsne
                name = f"{base}.{a.name}".lstrip(".")
                got.add(name if name in known else base)
        elif isinstance(node, ast.Import):
            got |= {a.name.removeprefix("grokjax.") for a in node.names if a.name.startswith("grokjax.")}
    return (got & known) - {""}


def test_imports_point_one_way():
    files = {module_name(p): p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE}
    graph = {m: imported_modules(p, set(files)) - {m} for m, p in files.items()}
    assert "analysis.tsne" in graph and "analysis.snapshot" in graph["analysis.tsne"]
    for module, deps in graph.items():
        assert not (module not in CLI_MODULES and deps & CLI_MODULES), f"{module} imports a command line: {deps & CLI_MODULES}"
    # a topological order exists: no cycle, even through imports inside functions
    left = dict(graph)
    while left:
        ready = [m for m, deps in left.items() if not (deps & set(left))]
        assert ready, f"import cycle among {sorted(left)}"
        for m in ready:
            del left[m]


def test_importing_the_library_loads_no_command_line_and_leaves_the_user_setup_alone(tiny_spec, tmp_path):
    spec = json.loads(json.dumps(tiny_spec.replace(steps=10, seeds=1).to_dict()))
    code = f"""
import logging, signal, sys
def mine(signum, frame): pass
signal.signal(signal.SIGINT, mine)
hook = sys.excepthook
import matplotlib
matplotlib.use("svg")
from absl import logging as absl_logging
absl_logging.set_verbosity(absl_logging.INFO)
logging.getLogger("absl").setLevel(logging.INFO)
import grokjax.checkpoint, grokjax.api
assert not {{"grokjax.sweep", "grokjax.inspect", "grokjax.bench"}} & set(sys.modules), sorted(sys.modules)
from grokjax.spec import SweepSpec
res = grokjax.api.run(SweepSpec.from_dict({spec!r}), {str(tmp_path / "o")!r}, progress=False)
res.params(0)
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
assert logging.getLogger("absl").level == logging.INFO
assert absl_logging.get_verbosity() == absl_logging.INFO
assert signal.getsignal(signal.SIGINT) is mine and sys.excepthook is hook
print("ok")
"""
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent)}
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=PACKAGE.parent)
    assert got.returncode == 0 and got.stdout.strip() == "ok", got.stderr[-2000:]


def test_the_folder_records_the_spec_and_the_checkpoint_the_same(swept):
    record = json.loads((swept.out / "config.json").read_text())
    meta = json.loads((swept.out / "checkpoints" / "sweep.json").read_text())
    assert record["spec"] == meta["spec"] == swept.spec.to_dict()
    assert record["stop_reason"] == "budget" and record["n_runs"] == 8
    assert record["environment"]["cpu_detail"]["name"]


def test_a_log_schedule_compiles_one_program_whatever_its_chunk_lengths(tiny_spec, monkeypatch):
    from grokjax import program_cache

    built = []
    real = program_cache.compile_many

    def counting(jobs):  # the engine compiles ahead of time, through the program cache
        built.extend(name for _, name, _, _ in jobs)
        return real(jobs)

    monkeypatch.setattr(program_cache, "compile_many", counting)
    spec = tiny_spec.replace(steps=60, eval_every="log:12", seeds=1)
    res = grokjax.run(spec, progress=False)
    lengths = set(np.diff(res.steps).tolist())
    assert len(lengths) > 3  # many chunk lengths ...
    assert built.count("sweep_chunk") == 1  # ... one compiled program


def test_progress_names_the_compile_before_the_bar(swept, capsys):
    """A cold build is seconds without a bar: one line says what is happening
    (and whether the cache will spare the next run)."""
    grokjax.run(swept.spec.replace(steps=2, eval_every=1, ckpt_every=0), progress=True)
    err = capsys.readouterr().err
    line = next(l for l in err.splitlines() if l.startswith("grokjax: building"))
    assert line.startswith("grokjax: building 2 compiled programs (")  # the init and the chunk
    assert err.index("grokjax: building") < err.index(" R=")  # before the bar
    grokjax.run(swept.spec.replace(steps=2, eval_every=1, ckpt_every=0), progress=False)
    assert "building" not in capsys.readouterr().err


def test_a_sweep_that_fails_before_its_first_checkpoint_leaves_no_stub(tiny_spec, tmp_path, monkeypatch):
    from grokjax import engine

    def fail(*a, **k):
        raise KeyboardInterrupt  # a second Ctrl-C while compiling
    monkeypatch.setattr(engine, "train", fail)
    with pytest.raises(KeyboardInterrupt):
        grokjax.run(tiny_spec.replace(steps=5), tmp_path / "new", progress=False)
    assert not (tmp_path / "new").exists()  # made by run: removed
    (tmp_path / "empty").mkdir()
    with pytest.raises(KeyboardInterrupt):
        grokjax.run(tiny_spec.replace(steps=5), tmp_path / "empty", progress=False)
    assert (tmp_path / "empty").is_dir() and not any((tmp_path / "empty").iterdir())  # the user's: kept, empty
