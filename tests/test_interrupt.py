"""Ctrl-C in a command-line run is not lost: where the interpreter would print
the KeyboardInterrupt as "ignored" and drop it (a garbage-collector callback,
which JAX registers; a ``__del__``), SIGINT comes again a moment later; while
the tool still imports, it exits 130 with one line."""

import functools
import gc
import os
import signal
import subprocess
import sys
import time

import pytest

from grokjax import interrupt


@pytest.fixture
def sigint_recorder(monkeypatch):
    """The SIGINTs this process receives, with grokjax's unraisable hook on."""
    received = []
    monkeypatch.setattr(sys, "unraisablehook", functools.partial(interrupt._unraisable, previous=sys.unraisablehook))
    old = signal.signal(signal.SIGINT, lambda s, f: received.append(s))
    yield received
    deadline = time.time() + 10  # no retry may arrive after the handler is restored
    while threading_retries() and time.time() < deadline:
        time.sleep(0.01)
    signal.signal(signal.SIGINT, old)


def threading_retries():
    import threading

    return [t for t in threading.enumerate() if t.name == "grokjax-interrupt-retry"]


def wait_for(received, n=1):
    deadline = time.time() + 10
    while len(received) < n and time.time() < deadline:
        time.sleep(0.01)
    return received


def test_an_interrupt_dropped_in_a_gc_callback_comes_again(sigint_recorder):
    def callback(phase, info):
        if phase == "start":
            raise KeyboardInterrupt  # printed as ignored and dropped by the collector

    gc.callbacks.append(callback)
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(callback)
    assert wait_for(sigint_recorder) == [signal.SIGINT]


def test_an_interrupt_dropped_in_a_del_comes_again(sigint_recorder):
    class Dying:
        def __del__(self):
            raise KeyboardInterrupt

    Dying()
    assert wait_for(sigint_recorder) == [signal.SIGINT]


def test_other_dropped_errors_go_to_the_previous_hook():
    seen = []
    hook = functools.partial(interrupt._unraisable, previous=lambda u: seen.append(u.exc_type))
    old, sys.unraisablehook = sys.unraisablehook, hook
    try:
        class Dying:
            def __del__(self):
                raise ValueError("in a __del__")

        Dying()
    finally:
        sys.unraisablehook = old
    assert seen == [ValueError] and not threading_retries()


def test_an_uncaught_interrupt_is_one_line_unless_it_cut_another_error_short(capsys):
    shown = []
    hook = functools.partial(interrupt._excepthook, prog="grokjax.sweep", previous=lambda *a: shown.append(a[0]))
    hook(KeyboardInterrupt, KeyboardInterrupt(), None)
    assert capsys.readouterr().err == "grokjax.sweep: interrupted\n" and not shown
    cut = KeyboardInterrupt()
    cut.__context__ = OSError("the error being handled")
    hook(KeyboardInterrupt, cut, None)
    hook(ValueError, ValueError(), None)
    assert shown == [KeyboardInterrupt, ValueError] and capsys.readouterr().err == ""


@pytest.mark.parametrize("argv, tool", [
    (["python", "-m", "grokjax.sweep", "--op", "add"], "grokjax.sweep"),
    (["python", "-mgrokjax.analysis", "tsne"], "grokjax.analysis"),
    (["python", "-X", "dev", "-u", "-m", "grokjax.paper"], "grokjax.paper"),
    (["python", "-m", "pytest", "-m", "grokjax.sweep"], None),
    (["python", "run.py", "-m", "grokjax.sweep"], None),
    (["python", "-c", "import grokjax", "-m", "grokjax.sweep"], None),
    (["python"], None),
])
def test_tool_name_reads_the_interpreters_command_line(argv, tool):
    assert interrupt.tool_name(argv) == tool


def test_install_leaves_a_handler_set_by_someone_else_and_any_other_thread_alone(monkeypatch):
    import threading

    hooks = (sys.excepthook, sys.unraisablehook)

    def mine(signum, frame):
        pass

    old = signal.signal(signal.SIGINT, mine)
    try:
        interrupt.install("grokjax.sweep")
        assert signal.getsignal(signal.SIGINT) is mine and (sys.excepthook, sys.unraisablehook) == hooks
    finally:
        signal.signal(signal.SIGINT, old)
    thread = threading.Thread(target=interrupt.install, args=("grokjax.sweep",))
    thread.start()
    thread.join()
    assert (sys.excepthook, sys.unraisablehook) == hooks


# A sitecustomize that sends the sweep its own SIGINT at a chosen moment: as
# it imports JAX, or from inside a garbage-collector callback once ``main``
# runs, where a KeyboardInterrupt is dropped.
SITECUSTOMIZE = '''
import gc, os, signal, sys, threading
WHEN = os.environ["GROKJAX_TEST_SIGINT"]
fired = []

class AtImport:
    def find_spec(self, name, path=None, target=None):
        if WHEN == "import" and name == "jax" and not fired:
            fired.append(name)
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, AtImport())

def in_gc(phase, info):
    main = sys.modules.get("__main__")
    if (WHEN == "gc" and phase == "start" and not fired and main is not None and "main" in vars(main)
            and threading.current_thread() is threading.main_thread()):
        fired.append(phase)
        try:  # the interrupt is raised at once, in the callback
            os.kill(os.getpid(), signal.SIGINT)
            sum(range(10))
        except KeyboardInterrupt:
            sys.stderr.write("raised in the gc callback\\n")
            raise

gc.callbacks.append(in_gc)
'''


def sweep_signalled(tmp_path, when, tiny_args):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "GROKJAX_TEST_SIGINT": when,
           "PYTHONPATH": os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])}
    out = tmp_path / "sweep"
    proc = subprocess.Popen([sys.executable, "-m", "grokjax.sweep", *tiny_args, "--steps", "1000000",
                             "--eval-every", "100", "--out", str(out)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"the SIGINT sent {when!r} was lost: the sweep ran on")
    return proc.returncode, err, out


def test_ctrl_c_while_the_sweep_imports_jax_exits_130_with_one_line(tmp_path, tiny_args):
    rc, err, out = sweep_signalled(tmp_path, "import", tiny_args)
    assert rc == 130 and err == "grokjax.sweep: interrupted\n", err
    assert not out.exists()


def test_ctrl_c_dropped_in_a_gc_callback_still_stops_the_sweep(tmp_path, tiny_args):
    # before the unraisable hook: "Exception ignored in: <function in_gc ...>", and the sweep ran on
    rc, err, out = sweep_signalled(tmp_path, "gc", tiny_args)
    assert rc in (130, -signal.SIGINT), err
    assert "raised in the gc callback" in err, err  # the test did put the interrupt where it is dropped
    assert "Traceback" not in err and "ignored" not in err, err
    last = err.strip().splitlines()[-1] if err.strip() else ""
    assert "interrupted" in last or "--resume" in last, err  # stopped at once, or after saving its first chunk
