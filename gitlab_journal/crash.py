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
    """The ``.git`` directory above ``start``, found without importing pygit2."""
    from gitlab_journal.spec.locate import repo_root

    candidate = repo_root(start) / ".git"
    if candidate.is_dir():
        return candidate
    if candidate.is_file():  # a worktree or submodule: "gitdir: PATH"
        text = candidate.read_text(errors="replace").strip()
        if text.startswith("gitdir:"):
            return (candidate.parent / text.removeprefix("gitdir:").strip()).resolve()
    return None


def _write_log(exc: BaseException) -> Path | None:
    """Keep the traceback where a bug report can find it; None when nowhere is writable."""
    text = "".join(traceback.format_exception(exc))
    try:
        git_dir = _git_dir(Path.cwd())
    except OSError:
        git_dir = None
    folders = [git_dir / "journal"] if git_dir is not None else []
    folders.append(Path(os.environ.get("TMPDIR", "/tmp")))
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / (LOG_NAME if folder.name == "journal" else f"gitlab-journal-{LOG_NAME}")
            path.write_text(f"gitlab-journal {' '.join(sys.argv)}\n{text}", encoding="utf-8")
            return path
        except OSError:
            continue
    return None


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
