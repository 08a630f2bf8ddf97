"""sweeps/bench_commits.py benchmarks each commit's own package: it extracts
that commit's ``grokjax`` from git, and a child process started as the
script starts it imports that copy, not the work tree or the installed one."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench_commits():
    spec = importlib.util.spec_from_file_location("bench_commits", ROOT / "sweeps" / "bench_commits.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout")
def test_extracts_the_commits_package_and_a_child_imports_it(bench_commits, tmp_path):
    full = bench_commits.extract("HEAD", tmp_path / "head")
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert full == head
    extracted = tmp_path / "head" / "grokjax"
    committed = subprocess.run(["git", "-C", str(ROOT), "show", "HEAD:grokjax/__init__.py"], capture_output=True).stdout
    assert (extracted / "__init__.py").read_bytes() == committed
    out = subprocess.run([sys.executable, "-c", "import grokjax; print(grokjax.__file__)"], capture_output=True,
                         text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path / "head")})
    assert Path(out.stdout.strip()).resolve() == (extracted / "__init__.py").resolve()


def test_unknown_commit_is_one_line_error(bench_commits, tmp_path):
    with pytest.raises(SystemExit, match="is not a commit"):
        bench_commits.extract("no-such-commit", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_cases_reads_steps_per_run_count_one_case_each(bench_commits):
    doc = {"cases": [{"runs": 1, "model_steps_per_s": 40.5}, {"runs": 8, "model_steps_per_s": 33.0}]}
    assert bench_commits.cases(doc) == {1: 40.5, 8: 33.0}
    with pytest.raises(bench_commits.BenchError, match="two cases at R = 1"):
        bench_commits.cases({"cases": doc["cases"] + [{"runs": 1, "model_steps_per_s": 20.0}]})
    with pytest.raises(bench_commits.BenchError, match="no cases"):
        bench_commits.cases({"time_to_grok": []})


def test_summary_pairs_head_over_base_and_refuses_other_run_counts(bench_commits):
    rates = {"base": [{1: 20.0}, {1: 25.0}, {1: 20.0}], "head": [{1: 30.0}, {1: 25.0}, {1: 40.0}]}
    got = bench_commits.summarize(rates)["1"]
    assert got["base"] == [20.0, 25.0, 20.0] and got["head"] == [30.0, 25.0, 40.0]
    assert got["head_over_base"]["per_pair"] == [1.5, 1.0, 2.0]
    assert got["head_over_base"]["median"] == 1.5 and got["head_over_base"]["range"] == [1.0, 2.0]
    with pytest.raises(bench_commits.BenchError, match="different numbers of runs"):
        bench_commits.summarize({"base": [{1: 20.0}], "head": [{8: 30.0}]})
