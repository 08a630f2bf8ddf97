"""The persistent compilation cache: on by default, off on request, safe on
folders it cannot write. Each case is a fresh process, as a user's run is."""

import json
import os
import subprocess
import sys

import pytest

from grokjax import compile_cache

FLAGS = ["--op", "add", "--modulus", "7", "--n-layers", "1", "--d-model", "16", "--n-heads", "2", "--batch-size", "8",
         "--fracs", "0.5", "--seeds", "1", "--steps", "4", "--eval-every", "2", "--devices", "1", "--no-progress"]


def sweep(out, cache, *extra, log=False):
    env = {**os.environ, "GROKJAX_COMPILE_CACHE": str(cache)}
    if log:
        env["JAX_LOG_COMPILES"] = "1"  # JAX then logs each persistent-cache hit as a warning
    got = subprocess.run([sys.executable, "-m", "grokjax.sweep", *FLAGS, "--out", str(out), *extra],
                         capture_output=True, text=True, env=env)
    assert got.returncode == 0, got.stderr
    return got, json.loads((out / "config.json").read_text())


def entries(folder):
    return sorted(f for f in os.listdir(folder) if f.endswith("-cache")) if folder.is_dir() else []


def test_a_second_run_loads_its_programs_from_the_cache_and_trains_alike(tmp_path):
    cache = tmp_path / "cache"
    _, first = sweep(tmp_path / "a", cache)
    assert first["environment"]["compile_cache"]["mode"] == "read-write"
    stored = entries(cache)
    assert any(e.startswith("jit_sweep_chunk-") for e in stored), stored
    got, second = sweep(tmp_path / "b", cache, log=True)
    assert "Persistent compilation cache hit for 'jit_sweep_chunk'" in got.stderr
    assert entries(cache) == stored  # nothing new to compile
    assert (tmp_path / "a" / "curves.csv").read_text() == (tmp_path / "b" / "curves.csv").read_text()


def test_no_compile_cache_turns_it_off(tmp_path):
    cache = tmp_path / "cache"
    _, record = sweep(tmp_path / "a", cache, "--no-compile-cache")
    assert record["environment"]["compile_cache"] == {"dir": None, "mode": "off", "why": "--no-compile-cache"}
    assert entries(cache) == []


@pytest.mark.parametrize("value", ["0", "off", "OFF", "false"])
def test_the_environment_variable_turns_it_off(monkeypatch, value):
    monkeypatch.setenv(compile_cache.ENV, value)
    assert compile_cache.decide() == {"dir": None, "mode": "off", "why": f"GROKJAX_COMPILE_CACHE={value}"}


def test_the_default_folder_is_per_user(monkeypatch, tmp_path):
    monkeypatch.delenv(compile_cache.ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compile_cache.decide() == {"dir": str(tmp_path / "grokjax" / "jax"), "mode": "read-write", "why": "default"}


def test_a_folder_it_cannot_write_is_read_only(monkeypatch, tmp_path):
    monkeypatch.setenv(compile_cache.ENV, str(tmp_path))
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if mode & os.W_OK else real(p, mode))
    assert compile_cache.decide()["mode"] == "read-only"


def test_a_folder_it_cannot_make_turns_it_off(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(compile_cache.ENV, str(blocker / "cache"))
    got = compile_cache.decide()
    assert got["mode"] == "off" and got["why"].startswith(f"cannot create {blocker / 'cache'}")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_cache_is_read_but_never_written(tmp_path):
    cache = tmp_path / "cache"
    sweep(tmp_path / "a", cache)
    stored = entries(cache)
    os.chmod(cache, 0o555)
    try:
        got, record = sweep(tmp_path / "b", cache, "--seeds", "2", log=True)  # another program: a miss
    finally:
        os.chmod(cache, 0o755)
    assert record["environment"]["compile_cache"]["mode"] == "read-only"
    assert entries(cache) == stored
    assert "Error writing" not in got.stderr
