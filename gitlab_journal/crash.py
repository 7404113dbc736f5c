"""What an unexpected exception becomes: one line for the user, the traceback in a log.

A bug must never look like "a check failed" (exit 1): a pre-commit hook in warn mode lets exit 1
through, so it would hide the bug, and a block-mode hook would stop a commit for the wrong reason.
Faults of the machine (a full disk, a read-only repository) are input errors, not bugs: one line,
exit 2, and nothing in the journal was changed, since every write there is one reference update.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

from gitlab_journal.errors import EXIT_BUG, EXIT_USAGE, FAULTS, machine_fault

LOG_NAME = "last-error.log"


def _git_dir(start: Path) -> Path | None:
    """The repository's git directory, found without importing pygit2: ``$GIT_DIR`` (which
    git sets for the hooks it runs, in a bare repository too), the ``.git`` above ``start``,
    or ``start`` (or a folder above it) when it is a bare repository."""
    from gitlab_journal.spec.locate import repo_root

    named = os.environ.get("GIT_DIR")
    if named:
        path = start / named
        return path.resolve() if path.is_dir() else None
    candidate = repo_root(start) / ".git"
    if candidate.is_dir():
        return candidate
    if candidate.is_file():  # a worktree or submodule: "gitdir: PATH"
        text = candidate.read_text(errors="replace").strip()
        if text.startswith("gitdir:"):
            return (candidate.parent / text.removeprefix("gitdir:").strip()).resolve()
    for folder in (start, *start.parents):
        bare = (folder / "HEAD").is_file() and (folder / "objects").is_dir()
        if bare and (folder / "refs").is_dir():
            return folder  # a bare repository
    return None


def _write_log(exc: BaseException) -> Path | None:
    """Keep the traceback where a bug report can find it: ``journal/last-error.log`` in the
    repository's git directory, else a new file of a name of its own in the temporary
    folder; None when nowhere is writable. Never through a symbolic link: the log is written
    as a new file, then renamed over the old one."""
    text = f"gitlab-journal {' '.join(sys.argv)}\n" + "".join(traceback.format_exception(exc))
    try:
        git_dir = _git_dir(Path.cwd())
    except OSError:
        git_dir = None
    if git_dir is not None:
        folder = git_dir / "journal"
        try:
            folder.mkdir(exist_ok=True)
            if not folder.is_symlink():
                return _replace(folder, LOG_NAME, text)
        except OSError:
            pass
    try:
        return _new_file(None, text)
    except OSError:
        return None


def _new_file(folder: Path | None, text: str) -> Path:
    """A new file holding ``text`` (created, never opened through a link: a name of its own,
    random, in ``folder`` or the temporary folder)."""
    import tempfile  # only on a crash

    handle, name = tempfile.mkstemp(prefix="gitlab-journal-error-", suffix=".log", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _replace(folder: Path, name: str, text: str) -> Path:
    """``folder/name`` holding ``text``: a new file renamed over it (a link there is replaced,
    not followed)."""
    written = _new_file(folder, text)
    target = folder / name
    try:
        os.replace(written, target)
    except OSError:
        written.unlink(missing_ok=True)
        raise
    return target


def report(exc: BaseException) -> int:
    """Print one line about ``exc`` and return its exit code."""
    fault = machine_fault(exc)
    if fault is not None:
        exc = fault
    if isinstance(exc, (FileExistsError, NotADirectoryError)) and exc.filename:
        print(f"error: {exc.filename} is in the way: a folder is needed there", file=sys.stderr)
        print(
            "hint: move it aside; nothing was recorded, the journal is as it was", file=sys.stderr
        )
        return EXIT_USAGE
    if isinstance(exc, OSError) and exc.errno in FAULTS:
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {FAULTS[exc.errno]}{where}", file=sys.stderr)
        print("hint: nothing was recorded; the journal is as it was", file=sys.stderr)
        return EXIT_USAGE
    log = _write_log(exc)
    detail = str(exc).splitlines()[0] if str(exc) else ""
    print(
        f"error: unexpected {type(exc).__name__}{': ' + detail if detail else ''}"
        " (a bug in gitlab-journal)",
        file=sys.stderr,
    )
    where = f"the traceback is in {log}" if log is not None else "no log could be written"
    print(f"hint: please report it with the command you ran; {where}", file=sys.stderr)
    return EXIT_BUG
