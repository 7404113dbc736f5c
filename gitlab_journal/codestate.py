"""The code a run depends on: content hashes of its code dependencies, and the repository state.

Identity takes the code dependencies (tracked files matching the spec's ``code`` globs) as they
are in the work tree, uncommitted changes included, each by its git blob id. HEAD, the branch
and the dirty flag are recorded but are not identity.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from pathlib import Path

import pygit2

from gitlab_journal.journal.records import CodeState


def matches(path: str, globs: Sequence[str]) -> bool:
    """Whether a repository path matches any glob.

    A glob without '/' matches a file name at any depth (like .gitignore: ``*.py``); one with
    '/' matches the whole path, and ``**/`` stands for any number of folders, none included.
    """
    name = path.rsplit("/", 1)[-1]
    for glob in globs:
        if "/" not in glob:
            if fnmatch.fnmatchcase(name, glob):
                return True
            continue
        pattern = glob.lstrip("/")
        if fnmatch.fnmatchcase(path, pattern) or (
            "**/" in pattern and fnmatch.fnmatchcase(path, pattern.replace("**/", ""))
        ):
            return True
    return False


def code_files(
    repo: pygit2.Repository, globs: Sequence[str], *, staged: bool = False
) -> dict[str, str]:
    """Code dependency -> git blob id, from the work tree (or the index when ``staged``)."""
    if repo.workdir is None:
        return {}
    root = Path(repo.workdir)
    index = repo.index
    index.read(False)
    out: dict[str, str] = {}
    for entry in index:
        path = entry.path
        if not matches(path, globs):
            continue
        if staged:
            out[path] = str(entry.id)
            continue
        file = root / path
        if file.is_file():
            out[path] = str(pygit2.hashfile(str(file)))
    return dict(sorted(out.items()))


def head_state(repo: pygit2.Repository) -> tuple[str | None, str | None]:
    """(HEAD commit, branch name); None for an unborn HEAD or a detached one's branch."""
    if repo.head_is_unborn:
        try:
            target = repo.references["HEAD"].target
        except KeyError:
            return None, None
        return None, str(target).removeprefix("refs/heads/")
    head = repo.head
    branch = None if repo.head_is_detached else head.shorthand
    return str(head.target), branch


def is_dirty(repo: pygit2.Repository) -> bool:
    """Whether any tracked file differs from HEAD, staged or not."""
    if repo.workdir is None:
        return False
    status = repo.status(untracked_files="no", ignored=False)
    return any(flags not in (pygit2.enums.FileStatus.CURRENT,) for flags in status.values())


def code_state(repo: pygit2.Repository, globs: Sequence[str], *, staged: bool = False) -> CodeState:
    commit, branch = head_state(repo)
    return CodeState(
        commit=commit,
        branch=branch,
        dirty=is_dirty(repo),
        files=code_files(repo, globs, staged=staged),
    )
