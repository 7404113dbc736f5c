"""The user-facing error types and every exit code, in one place."""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1  # a check failed: a duplicate was found, a run failed
EXIT_USAGE = 2  # usage or input error
EXIT_BUG = 3  # an unexpected error: a bug in gitlab-journal
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT


class JournalError(Exception):
    """An error meant for the user: one line, an optional hint, an exit code.

    Everything else that escapes a command is a bug: the top-level handler in ``cli`` prints one
    line, keeps the traceback in ``.git/journal/last-error.log`` and exits with ``EXIT_BUG``.
    """

    default_exit_code = EXIT_USAGE

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = self.default_exit_code if exit_code is None else exit_code

    def __str__(self) -> str:
        return self.message


class CheckFailed(JournalError):
    """A check that did not pass (a duplicate, a failed run, a run that does not reproduce):
    exit 1, which a hook in warn mode reports without blocking."""

    default_exit_code = EXIT_CHECK_FAILED
