"""The error type for the user's mistakes (a flag, a path, a config that does not fit the data).

The CLI prints such an error as one line and exits with code 2; training
never retries it (a worker that raises one ends the run at once).
"""
from __future__ import annotations


class UserError(ValueError):
    """Something the user asked for cannot be done as asked; the message says why and what to do."""
