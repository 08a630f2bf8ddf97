"""Ctrl-C in a command-line run is never lost: where Python would print the
KeyboardInterrupt as "ignored" (a garbage-collector callback, which JAX
registers), the signal comes again a moment later."""

import gc
import os
import signal
import subprocess
import sys
import time

import pytest

from grokjax import interrupt


def _inside_a_gc_callback(fn):
    """What ``fn(frame)`` returns, and any exception it raised, when called
    inside a garbage-collector callback."""
    got = {}

    def callback(phase, info):
        if phase == "start" and "value" not in got:
            try:
                got["value"] = fn(sys._getframe())
            except BaseException as e:  # the collector would print and drop it
                got["raised"] = e

    gc.callbacks.append(callback)
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(callback)
    return got


def test_swallowed_here_inside_a_gc_callback_and_a_del_only():
    assert not interrupt.swallowed_here(sys._getframe())
    assert _inside_a_gc_callback(interrupt.swallowed_here) == {"value": True}

    seen = []

    class Dying:
        def __del__(self):
            seen.append(interrupt.swallowed_here(sys._getframe()))

    Dying()
    assert seen == [True]


def test_an_interrupt_inside_a_gc_callback_comes_again_after_it():
    received = []
    old = signal.signal(signal.SIGINT, lambda s, f: received.append(s))
    try:
        got = _inside_a_gc_callback(lambda frame: interrupt.raise_or_retry(signal.SIGINT, frame))
        assert got == {"value": None}  # nothing raised where it would be ignored
        deadline = time.time() + 10
        while not received and time.time() < deadline:
            time.sleep(0.01)
    finally:
        signal.signal(signal.SIGINT, old)
    assert received == [signal.SIGINT]


def test_outside_it_an_interrupt_raises_at_once():
    with pytest.raises(KeyboardInterrupt):
        interrupt.raise_or_retry(signal.SIGINT, sys._getframe())


@pytest.mark.parametrize("after_s", [0.4, 0.7, 1.0, 1.3])
def test_ctrl_c_while_a_sweep_starts_stops_it(tmp_path, after_s, tiny_args):
    # While JAX imports, much of the interpreter's time is garbage collection;
    # before the handler, 3 of these 4 signals were lost and the sweep ran on.
    out = tmp_path / "sweep"
    proc = subprocess.Popen([sys.executable, "-m", "grokjax.sweep", *tiny_args, "--steps", "1000000",
                             "--eval-every", "100", "--out", str(out)],
                            env={**os.environ, "JAX_PLATFORMS": "cpu"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    time.sleep(after_s)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"a SIGINT {after_s} s after the start was lost: the sweep ran on")
    assert proc.returncode in (130, -signal.SIGINT), err
    assert "Traceback" not in err and "ignored" not in err, err
    last = err.strip().splitlines()[-1] if err.strip() else ""
    assert "interrupted" in last or "--resume" in last, err  # stopped at once, or after saving its first chunk


def test_ctrl_c_while_the_tool_imports_exits_130_with_one_line():
    # Raised inside an extension module's initialisation, a KeyboardInterrupt
    # can crash the interpreter; while the tool imports, the handler exits.
    code = ("import os, signal, sys; sys.argv[0] = '-m'; sys.orig_argv = [sys.executable, '-m', 'grokjax.sweep'];"
            "import grokjax; os.kill(os.getpid(), signal.SIGINT); import time; time.sleep(30)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 130 and done.stderr == "grokjax.sweep: interrupted\n", done.stderr
