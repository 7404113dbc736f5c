"""Git worktrees for reproductions, through GitPython (git's own `worktree` and `apply`).

A worktree is a second work tree of the same repository: it has its own HEAD, index and files,
and shares the objects and refs (the journal branch included). So the user's own work tree,
index and HEAD are never touched, and what a reproduction records lands in the same journal.
"""

from __future__ import annotations

import contextlib
import posixpath
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pygit2

from gitlab_journal.errors import CheckFailed, JournalError
from gitlab_journal.pathsafe import confined, refusal

PATCH_NAME = "code.patch"
# The commit a run made before the repository's first commit is checked out at: the empty tree,
# with a fixed author and date, so that it is the same commit every time.
EMPTY_COMMIT_MESSAGE = "The empty tree: the code of runs made before the first commit\n"


def _git(root: Path) -> Any:
    """GitPython's ``git`` command runner for the repository (or worktree) at ``root``."""
    import git

    return git.Repo(str(root)).git


def _message(exc: Exception) -> str:
    """The last line git wrote to stderr, without GitPython's decoration."""
    stderr = str(getattr(exc, "stderr", "") or exc).strip()
    stderr = stderr.removeprefix("stderr:").strip().strip("'").strip()
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else str(exc)


def add_worktree(root: Path, path: Path, commit: str, *, branch: str | None = None) -> None:
    """``git worktree add`` at ``commit``: detached, or on a new ``branch``."""
    import git

    args = ["add", "--quiet"]
    args += ["-b", branch] if branch else ["--detach"]
    try:
        _git(root).worktree(*args, str(path), commit)
    except git.GitCommandError as exc:
        raise JournalError(f"cannot create a worktree at {path}: {_message(exc)}") from exc


def empty_commit(repo: pygit2.Repository) -> str:
    """A commit of the empty tree with no parent (written to the object database, no ref
    moved): what a run made in a repository with no commit yet is checked out at, its
    ``code.patch`` being a patch against the empty tree."""
    tree = repo.TreeBuilder().write()
    signature = pygit2.Signature("gitlab-journal", "gitlab-journal@localhost", 0, 0)
    return str(repo.create_commit(None, signature, signature, EMPTY_COMMIT_MESSAGE, tree, []))


def orphan_branch(path: Path, branch: str) -> None:
    """Put the worktree at ``path`` on a new ``branch`` with no commit yet (`git switch
    --orphan`), as the repository a run was made in before its first commit."""
    import git

    try:
        _git(path).switch("--quiet", "--orphan", branch)
    except git.GitCommandError as exc:
        raise JournalError(f"cannot create the branch {branch!r}: {_message(exc)}") from exc


def remove_worktree(root: Path, path: Path) -> None:
    """``git worktree remove --force`` and ``git worktree prune``; never raises."""
    import git

    try:
        repo_git = _git(root)
    except (git.GitError, OSError):
        return
    # In a session of their own, so a Ctrl-C at the terminal does not kill the clean-up.
    with contextlib.suppress(git.GitError, OSError):
        repo_git.execute(
            ["git", "worktree", "remove", "--force", "--force", str(path)],
            start_new_session=True,
        )
    shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(git.GitError, OSError):
        repo_git.execute(["git", "worktree", "prune"], start_new_session=True)


def delete_branch(root: Path, branch: str) -> None:
    """``git branch -D``; never raises (clean-up after a failed checkout)."""
    import git

    with contextlib.suppress(git.GitError, OSError):
        _git(root).branch("-D", "--quiet", branch)


@contextlib.contextmanager
def temporary_worktree(root: Path, commit: str, *, label: str) -> Iterator[Path]:
    """A detached worktree at ``commit`` in a new temporary directory, removed afterwards:
    after success, an error or Ctrl-C (a second Ctrl-C cannot cut the clean-up short)."""
    base = Path(tempfile.mkdtemp(prefix=f"journal-{label}-"))
    path = base / "tree"
    try:
        add_worktree(root, path, commit)
        yield path
    finally:
        with interrupts_deferred():
            remove_worktree(root, path)
            shutil.rmtree(base, ignore_errors=True)


def confine_patch(worktree: Path, patch: bytes, untracked: Sequence[str], *, where: str) -> None:
    """Refuse a ``code.patch`` that touches a path outside ``worktree`` (or in ``.git``), writes
    a symbolic link that points out of it, or names untracked files that are not its own."""
    from gitlab_journal.code.patch import patch_entries
    from gitlab_journal.journal.format import PATCH_FILE

    label = f"{where}, {PATCH_FILE}"
    entries = patch_entries(patch, where=where)
    for entry in entries:
        for path in dict.fromkeys((entry.old_path, entry.path)):
            confined(worktree, path, where=label)
        if entry.link is not None:
            target = posixpath.normpath(posixpath.join(posixpath.dirname(entry.path), entry.link))
            if entry.link.startswith("/") or target == ".." or target.startswith("../"):
                raise refusal(
                    entry.path,
                    f"a symbolic link to {entry.link!r}, out of the repository",
                    where=label,
                )
    paths = {entry.path for entry in entries}
    for path in untracked:
        confined(worktree, path, where=f"{where}, run.json code.untracked")
        if path not in paths:
            raise refusal(path, f"untracked, but not in its {PATCH_FILE}", where=where)


def apply_patch(
    worktree: Path, patch: bytes, untracked: Sequence[str] = (), *, where: str = "the run"
) -> None:
    """Apply a run's ``code.patch`` to the work tree and the index of ``worktree``, then leave
    the files that were untracked when the run was made untracked again. Every path it names
    is confined to ``worktree`` first (:func:`confine_patch`)."""
    import git

    if not patch:
        if untracked:
            raise refusal(untracked[0], "untracked, but the run has no patch", where=where)
        return
    confine_patch(worktree, patch, untracked, where=where)
    with tempfile.TemporaryDirectory(prefix="journal-patch-") as tmp:
        patch_file = Path(tmp) / PATCH_NAME
        patch_file.write_bytes(patch)
        repo_git = _git(worktree)
        try:
            repo_git.apply("--binary", "--index", "--whitespace=nowarn", str(patch_file))
        except git.GitCommandError as exc:
            raise CheckFailed(
                f"the run's code.patch does not apply to its commit: {_message(exc)}",
            ) from exc
        if untracked:
            repo_git.rm("--cached", "--quiet", "--", *untracked)


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C back while the block runs (clean-up, or two journal writes that belong
    together); an interrupt that came meanwhile is raised when it ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        received.append(signum)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt
