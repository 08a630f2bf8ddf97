"""The one error a user's bad input raises, below the spec and the CLI.

Tasks, models and the spec all raise ``SpecError``: a sweep that cannot run,
said in one line. The CLIs print it and exit 2.
"""


class SpecError(ValueError):
    """A sweep that cannot run, said in one line."""
