"""The code a run depends on: content hashes of its code dependencies, and the repository state.

Identity takes the code dependencies (tracked files matching the spec's ``code`` globs) as they
are in the work tree, uncommitted changes included, each by its git blob id. HEAD, the branch,
the dirty flag and the work tree's tree id are recorded but are not identity.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pygit2

from gitlab_journal.journal.records import CodeState

REGULAR, EXECUTABLE, SYMLINK, GITLINK = 0o100644, 0o100755, 0o120000, 0o160000


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


def current_index(repo: pygit2.Repository) -> pygit2.Index:
    """The index git itself would use: ``GIT_INDEX_FILE`` when set (`git commit -a` and
    `git commit PATH` run the pre-commit hook on a temporary index), else the repository's."""
    path = os.environ.get("GIT_INDEX_FILE")
    if path:
        from_env = pygit2.Index(path)
        from_env._repo = repo  # type: ignore[assignment]  # lets libgit2 diff it against trees
        return from_env
    index: pygit2.Index = repo.index
    index.read(False)
    return index


def code_files(
    repo: pygit2.Repository, globs: Sequence[str], *, staged: bool = False
) -> dict[str, str]:
    """Code dependency -> git blob id, from the work tree (or the index when ``staged``)."""
    if repo.workdir is None:
        return {}
    root = Path(repo.workdir)
    index = current_index(repo)
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


def tree_id(entries: Mapping[str, tuple[int, str]]) -> str:
    """The git tree id of ``path -> (mode, object id)``, computed as git does, writing nothing."""
    root: dict[str, Any] = {}
    for path, value in entries.items():
        *folders, name = path.split("/")
        node = root
        for folder in folders:
            node = node.setdefault(folder, {})
        node[name] = value
    sha256 = any(len(oid) == 64 for _, oid in entries.values())

    def write(node: dict[str, Any]) -> str:
        items: list[tuple[bytes, bytes]] = []
        for name, value in node.items():
            if isinstance(value, dict):
                key, mode, oid = name + "/", 0o40000, write(value)
            else:
                key, (mode, oid) = name, value
            items.append((key.encode(), f"{mode:o} {name}".encode() + b"\0" + bytes.fromhex(oid)))
        body = b"".join(entry for _, entry in sorted(items))
        digest = hashlib.sha256() if sha256 else hashlib.sha1()
        digest.update(b"tree %d\0" % len(body) + body)
        return digest.hexdigest()

    return write(root)


def worktree_tree(repo: pygit2.Repository) -> str | None:
    """The tree id of the tracked files as they are in the work tree (what `git add -u` and
    `git write-tree` would give), computed without writing anything; None without a work tree
    or mid-conflict."""
    if repo.workdir is None:
        return None
    index = repo.index
    index.read(False)
    if index.conflicts is not None:
        return None
    root = Path(repo.workdir)
    changed = pygit2.enums.FileStatus.WT_MODIFIED | pygit2.enums.FileStatus.WT_TYPECHANGE
    status = repo.status(untracked_files="no", ignored=False)
    try:
        filemode = bool(repo.config.get_bool("core.filemode"))
    except (KeyError, pygit2.GitError):
        filemode = True
    entries: dict[str, tuple[int, str]] = {}
    for entry in index:
        flags = status.get(entry.path, 0)
        if flags & pygit2.enums.FileStatus.WT_DELETED:
            continue
        if not flags & changed or entry.mode == GITLINK:
            entries[entry.path] = (entry.mode, str(entry.id))
            continue
        file = root / entry.path
        try:
            info = os.lstat(file)
            if stat.S_ISLNK(info.st_mode):
                entries[entry.path] = (SYMLINK, str(pygit2.hash(os.fsencode(os.readlink(file)))))
                continue
            oid = str(pygit2.hashfile(str(file)))
        except OSError:
            continue
        mode = entry.mode
        if filemode:
            mode = EXECUTABLE if info.st_mode & stat.S_IXUSR else REGULAR
        entries[entry.path] = (mode, oid)
    return tree_id(entries)


def code_state(repo: pygit2.Repository, globs: Sequence[str], *, staged: bool = False) -> CodeState:
    commit, branch = head_state(repo)
    dirty = is_dirty(repo)
    tree: str | None = None
    if not staged:
        clean = not dirty and commit is not None
        tree = str(repo.head.peel(pygit2.Commit).tree_id) if clean else worktree_tree(repo)
    return CodeState(
        commit=commit,
        branch=branch,
        dirty=dirty,
        files=code_files(repo, globs, staged=staged),
        tree=tree,
    )
