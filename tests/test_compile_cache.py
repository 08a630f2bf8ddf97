"""The persistent compilation cache: on by default, off on request, safe on
folders it cannot write. Each case is a fresh process, as a user's run is."""

import json
import os
import subprocess
import sys

import pytest

from grokjax import compile_cache, program_cache

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


def programs(cache):
    folder = cache / program_cache.FOLDER
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def test_a_second_run_loads_its_programs_whole_and_trains_alike_and_a_torn_entry_is_replaced(tmp_path):
    cache = tmp_path / "cache"
    _, first = sweep(tmp_path / "a", cache)
    assert first["environment"]["compile_cache"]["mode"] == "read-write"
    assert (first["timing"]["programs_loaded"], first["timing"]["programs_compiled"]) == (0, 2)
    if sys.platform == "linux":  # a command's wall time: at least its compile and training
        t = first["timing"]
        assert t["process_s"] >= t["compile_s"] + t["train_s"]
    stored = programs(cache)
    assert [e.split("-")[0] for e in stored] == ["sweep_chunk", "sweep_init"], stored
    got, second = sweep(tmp_path / "b", cache, log=True)
    assert (second["timing"]["programs_loaded"], second["timing"]["programs_compiled"]) == (2, 0)
    assert "sweep_chunk" not in got.stderr and "sweep_init" not in got.stderr  # neither traced nor compiled
    assert programs(cache) == stored
    # the very executable the first run built: identical numbers
    assert (tmp_path / "a" / "curves.csv").read_text() == (tmp_path / "b" / "curves.csv").read_text()
    # a torn entry is a miss: compiled again, replaced, and the same numbers
    entry = cache / program_cache.FOLDER / next(f for f in stored if f.startswith("sweep_chunk"))
    entry.write_bytes(entry.read_bytes()[:1000])
    _, third = sweep(tmp_path / "c", cache)
    assert (third["timing"]["programs_loaded"], third["timing"]["programs_compiled"]) == (1, 1)
    assert entry.stat().st_size > 1000
    assert (tmp_path / "a" / "curves.csv").read_text() == (tmp_path / "c" / "curves.csv").read_text()


def test_the_program_key_sees_the_config_the_shapes_and_the_jax_settings(tiny):
    import jax
    import jax.numpy as jnp

    args = (jnp.zeros((3, 4), jnp.int32), 0)
    base = program_cache.key_material("sweep_chunk", tiny, args)
    assert program_cache.key_material("sweep_chunk", tiny, args) == base
    assert program_cache.key_material("sweep_init", tiny, args) != base
    assert program_cache.key_material("sweep_chunk", tiny.replace(batch_size=16), args) != base
    assert program_cache.key_material("sweep_chunk", tiny, (jnp.zeros((3, 5), jnp.int32), 0)) != base
    with jax.enable_x64(True):
        assert program_cache.key_material("sweep_chunk", tiny, args) != base
    with jax.default_matmul_precision("tensorfloat32"):
        assert program_cache.key_material("sweep_chunk", tiny, args) != base
    assert len(base["source"]) == 64 and "flags" in base["cpu"]


def test_no_compile_cache_turns_it_off(tmp_path):
    cache = tmp_path / "cache"
    _, record = sweep(tmp_path / "a", cache, "--no-compile-cache")
    assert record["environment"]["compile_cache"] == {"dir": None, "mode": "off", "why": "--no-compile-cache"}
    assert entries(cache) == [] and programs(cache) == []
    assert record["timing"]["programs_compiled"] == 2


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
    stored, stored_programs = entries(cache), programs(cache)
    os.chmod(cache, 0o555)
    try:
        got, record = sweep(tmp_path / "b", cache, "--seeds", "2", log=True)  # another program: a miss
    finally:
        os.chmod(cache, 0o755)
    assert record["environment"]["compile_cache"]["mode"] == "read-only"
    assert entries(cache) == stored and programs(cache) == stored_programs
    assert "Error writing" not in got.stderr


def test_a_read_only_cache_folder_gives_a_read_only_program_store(monkeypatch, tmp_path):
    (tmp_path / program_cache.FOLDER).mkdir()
    monkeypatch.setattr(compile_cache, "state", lambda: {"dir": str(tmp_path), "mode": "read-only", "why": "test"})
    assert program_cache.folder() == (tmp_path / program_cache.FOLDER, False)
    monkeypatch.setattr(compile_cache, "state", lambda: {"dir": None, "mode": "off", "why": "test"})
    assert program_cache.folder() == (None, False)
