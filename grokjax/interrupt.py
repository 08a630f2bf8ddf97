"""Ctrl-C in a ``python -m grokjax.<tool>`` run: never lost, and one line.

Python raises KeyboardInterrupt in whatever Python code the main thread runs
next after the signal. When that is a garbage-collector callback (JAX
registers one, and the collector runs it many times a second while JAX
imports and traces) or a ``__del__``, the interpreter prints the exception
as "ignored" and carries on: a Ctrl-C in the first seconds of ``python -m
grokjax.sweep`` was lost about half the time, and the sweep ran. The
handler here sends such a signal again a moment later, once that code has
returned. One that comes while the tool is still importing ends the process
at once (nothing is written yet); one that reaches the top later prints one
line, not a traceback.

Installed by ``grokjax/__init__.py`` only for command-line runs of grokjax's
own tools, so that a notebook or another program keeps its own handler.
"""

from __future__ import annotations

import functools
import gc
import os
import signal
import sys
import threading

RETRY_S = 0.05  # long enough for a collection to finish


def swallowed_here(frame) -> bool:
    """Whether an exception raised in ``frame`` would be printed and ignored:
    inside a garbage-collector callback or a ``__del__``, at any depth."""
    callbacks = {getattr(cb, "__code__", None) for cb in gc.callbacks}
    while frame is not None:
        if frame.f_code in callbacks or frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


def raise_or_retry(signum: int, frame) -> None:
    """KeyboardInterrupt here, or the same signal again in ``RETRY_S`` where
    raising would be ignored."""
    if swallowed_here(frame):
        threading.Timer(RETRY_S, os.kill, (os.getpid(), signum)).start()
        return
    raise KeyboardInterrupt


def _handler(signum, frame, prog: str):
    if "main" not in vars(sys.modules["__main__"]):
        # the tool's module is still importing (its ``main`` not yet defined):
        # nothing is written, and an exception raised inside an extension
        # module's initialisation (numpy's, jaxlib's) can crash the interpreter
        print(f"{prog}: interrupted", file=sys.stderr, flush=True)
        os._exit(128 + signum)
    raise_or_retry(signum, frame)


def tool_name() -> str | None:
    """``grokjax.<tool>`` when this process is ``python -m grokjax.<tool>``."""
    argv = list(getattr(sys, "orig_argv", ()))
    if "-m" not in argv[:-1]:
        return None
    module = argv[argv.index("-m") + 1]
    return module if module.split(".")[0] == "grokjax" else None


def install(prog: str) -> None:
    """The handler for SIGINT, and a one-line report of an interrupt that
    reaches the top; leaves a handler someone else set in place."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return
    signal.signal(signal.SIGINT, functools.partial(_handler, prog=prog))
    previous = sys.excepthook

    def excepthook(kind, value, tb):
        if issubclass(kind, KeyboardInterrupt):
            print(f"{prog}: interrupted", file=sys.stderr)
            return
        previous(kind, value, tb)

    sys.excepthook = excepthook
