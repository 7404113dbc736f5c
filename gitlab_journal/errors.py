"""The user-facing error types and every exit code, in one place."""

from __future__ import annotations

import errno
import os

EXIT_OK = 0
EXIT_CHECK_FAILED = 1  # a check failed: a duplicate was found, a run failed
EXIT_USAGE = 2  # usage or input error
EXIT_BUG = 3  # an unexpected error: a bug in gitlab-journal
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT


def describe_exit(code: int | None) -> str:
    """A child process's exit status in words: ``killed by SIGKILL``, ``exit code 3``; a shell
    reports a child killed by signal N as exit code 128 + N, named too."""
    if code is None:
        return "no exit code"
    import signal  # only once a child has exited: not paid by every command

    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    if code > 128:
        try:
            return f"exit code {code} ({signal.Signals(code - 128).name}, as a shell reports it)"
        except ValueError:
            pass
    return f"exit code {code}"


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
        if hint:  # shown under the message when Python prints it (a script, a notebook)
            self.add_note(f"hint: {hint}")

    def __str__(self) -> str:
        return self.message


class MissingExtra(JournalError):
    """What a command needs from an optional part of gitlab-journal that is not installed: an
    input error (exit 2) whose hint names the extra that installs it (pyproject.toml)."""

    def __init__(self, message: str, *, extra: str):
        super().__init__(
            message, hint=f"install the {extra} extra: pip install 'gitlab-journal[{extra}]'"
        )
        self.extra = extra


class CheckFailed(JournalError):
    """A check that did not pass (a duplicate, a failed run, a run that does not reproduce):
    exit 1, which a hook in warn mode reports without blocking."""

    default_exit_code = EXIT_CHECK_FAILED


class DuplicateRunError(CheckFailed):
    """The journal already holds this experiment (``on_duplicate="raise"``): raised before
    training starts."""


class DuplicateRunWarning(UserWarning):
    """The journal already holds this experiment (``on_duplicate="warn"``)."""


# errno -> what to tell the user; the journal is never half-written, whatever the fault.
FAULTS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


def machine_fault(exc: BaseException) -> OSError | None:
    """``exc`` as the OSError of a machine fault (a full disk, a read-only file system), also
    when libgit2 reports it as a ``GitError`` naming the system's message; None otherwise."""
    if isinstance(exc, OSError) and exc.errno in FAULTS:
        return exc
    text = str(exc)
    for code in FAULTS:
        if os.strerror(code) in text:
            return OSError(code, os.strerror(code), _quoted_path(text))
    return None


def _quoted_path(text: str) -> str | None:
    """The first path libgit2 quoted in its message (``failed to write '/x/y'``)."""
    start = text.find("'")
    end = text.find("'", start + 1)
    return text[start + 1 : end] if 0 <= start < end else None
