"""The one user-facing error type and the exit codes, in one place."""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1  # a check failed: a duplicate was found, a run failed
EXIT_USAGE = 2  # usage or input error


class JournalError(Exception):
    """An error meant for the user: one line, an optional hint, an exit code.

    Everything else that escapes a command is a bug and keeps its traceback.
    """

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int = EXIT_USAGE):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message
