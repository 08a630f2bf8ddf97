"""What the command lines share: one-line errors with exit status 2.

Every ``python -m grokjax.<tool>`` reports bad input as one line,
``grokjax.<tool>: error: <what>``, exits 2, and writes nothing.
"""

from __future__ import annotations

import argparse
import os
import sys


class UsageError(Exception):
    """Bad input on a command line."""

    def report(self, prog: str) -> int:
        """Prints the one line and gives the exit status."""
        print(f"{prog}: error: {self}", file=sys.stderr)
        return 2


def os_error_line(e: OSError) -> str:
    """A failed read or write as one line: the path and the reason, say
    ``results/x/analysis: Read-only file system``."""
    return f"{e.filename}: {e.strerror}" if e.filename is not None and e.strerror else f"{type(e).__name__}: {e}"


def print_lines(lines) -> int:
    """Print lines to stdout; a reader that stops early (``| head``) is no error."""
    try:
        for line in lines:
            print(line)
        sys.stdout.flush()
    except BrokenPipeError:
        # what is left in the buffer would fail again at exit: drop it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag raises UsageError (one line) instead of
    printing the usage block; no flag may be abbreviated."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)  # --seed 3 would run as --seeds 3: a prefix is an unknown flag
        super().__init__(*args, **kwargs)

    def error(self, message):
        if message.startswith("argument --") and message.endswith("expected one argument"):
            flag = message.removeprefix("argument ").split(":")[0].split("/")[0]  # say, --norms -1,2: read as a flag
            message += f" (a value that starts with '-' is written {flag}=VALUE)"
        raise UsageError(message)


def given_flags(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The destinations of the flags written on the command line (argparse
    fills defaults only into attributes that are not there yet)."""
    unset = object()
    # an "append" flag extends its default, which must be a list or None
    probe = argparse.Namespace(**{a.dest: None if isinstance(a, argparse._AppendAction) else unset
                                  for a in parser._actions if a.dest != "help"})
    parser.parse_args(argv, namespace=probe)
    return {k for k, v in vars(probe).items() if v is not unset and v is not None}


def add_compile_cache_flag(parser: argparse.ArgumentParser) -> None:
    from grokjax.compile_cache import ENV

    parser.add_argument("--no-compile-cache", action="store_true",
                        help=f"compile every program afresh instead of loading it from grokjax's program cache or "
                             f"JAX's persistent compilation cache (both in ~/.cache/grokjax/jax, or ${ENV}; {ENV}=0 "
                             f"also turns both off)")


def apply_compile_cache(args: argparse.Namespace) -> dict:
    """Configures the cache as the command line asks, before anything compiles."""
    from grokjax import compile_cache

    return compile_cache.configure(enabled=not getattr(args, "no_compile_cache", False))
