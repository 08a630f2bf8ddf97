"""Ctrl-C in a ``python -m grokjax.<tool>`` run: not lost, and one line.

Python raises KeyboardInterrupt in whatever Python code the main thread runs
next after the signal. When that is code whose exceptions the interpreter
prints as "ignored" and drops (a garbage-collector callback, which JAX
registers and the collector runs many times a second while JAX imports and
traces; a ``__del__``; a weakref callback), the program carries on: of 8
Ctrl-Cs sent 0.3–0.7 s after the start of ``python -m grokjax.sweep``, 5
were lost and the sweep ran on. Every such drop passes through
``sys.unraisablehook``; the hook here sends SIGINT to the main thread again a
moment later, once that code has returned.

While the tool's module is still importing (its ``main`` not yet defined),
a Ctrl-C ends the process at once with status 130: nothing is written before
``main`` runs (tool modules do nothing at import), and a KeyboardInterrupt
raised inside an extension module's initialisation (numpy's, jaxlib's) can
crash the interpreter. An interrupt that reaches the top later prints one
line instead of a traceback, unless it cut short the handling of another
error, whose traceback is then shown.

A retried interrupt that arrives once a sweep trains is that sweep's first
Ctrl-C: it finishes the chunk and saves. Installed by ``grokjax/__init__.py``
only for command-line runs of grokjax's own tools, so that a notebook or
another program keeps its own handlers.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import time

RETRY_S = 0.05  # long enough for a collection to finish


def retry_later() -> threading.Thread:
    """SIGINT to the main thread again in ``RETRY_S`` (a daemon thread, so a
    pending retry never holds up the exit)."""
    main = threading.main_thread().ident

    def send():
        time.sleep(RETRY_S)
        signal.pthread_kill(main, signal.SIGINT)

    thread = threading.Thread(target=send, name="grokjax-interrupt-retry", daemon=True)
    try:
        thread.start()
    except RuntimeError:  # the interpreter is shutting down: nothing left to interrupt
        pass
    return thread


def _unraisable(unraisable, previous) -> None:
    if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
        retry_later()  # dropped where it was raised: deliver it again
        return
    previous(unraisable)


def _handler(signum, frame, prog: str):
    if "main" not in vars(sys.modules["__main__"]):  # the tool's module is still importing
        print(f"{prog}: interrupted", file=sys.stderr, flush=True)
        os._exit(128 + signum)
    raise KeyboardInterrupt


def _excepthook(kind, value, tb, prog: str, previous) -> None:
    if issubclass(kind, KeyboardInterrupt) and value.__context__ is None:
        print(f"{prog}: interrupted", file=sys.stderr)
        return
    previous(kind, value, tb)


def tool_name(argv: list[str] | None = None) -> str | None:
    """``grokjax.<tool>`` when this process is ``python -m grokjax.<tool>``
    (``-mgrokjax.<tool>`` too); ``argv`` is the interpreter's own command line."""
    argv = list(getattr(sys, "orig_argv", ()) if argv is None else argv)
    i = 1
    while i < len(argv):
        a = argv[i]
        if a.startswith("-m"):
            module = a[2:] or (argv[i + 1] if i + 1 < len(argv) else "")
            return module if module.split(".")[0] == "grokjax" else None
        if not a.startswith("-") or a.startswith("-c"):  # a script or -c: what follows is its own
            return None
        i += 2 if a in ("-X", "-W") else 1  # the two options whose value is the next word
    return None


def install(prog: str) -> None:
    """The SIGINT handler, the unraisable hook and the one-line report, in
    the main thread; a SIGINT handler someone else set stays in place."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return
    signal.signal(signal.SIGINT, functools.partial(_handler, prog=prog))
    sys.unraisablehook = functools.partial(_unraisable, previous=sys.unraisablehook)
    sys.excepthook = functools.partial(_excepthook, prog=prog, previous=sys.excepthook)
