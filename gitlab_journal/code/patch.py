"""The uncommitted state of the work tree as a binary-safe git patch against HEAD (against the
empty tree in a repository with no commit yet).

A run made from a dirty work tree keeps this patch (``code.patch`` in its journal directory), so
the exact code can be had again: check out the recorded commit, then ``git apply --binary
--index code.patch``. The patch holds

- every tracked file (a path in the index) whose work-tree content differs from HEAD, staged
  or not, deletions included: the content is the work tree's, as the run read it; but a
  notebook's outputs and execution counts are left out (its code is what a run reads), and a
  notebook whose code cells are HEAD's is no change;
- untracked files that match the spec's code globs (a new module not yet added to git that the
  run may import), up to :data:`UNTRACKED_MAX_FILES` files of at most
  :data:`UNTRACKED_MAX_BYTES` each, none in an installed-packages folder (:data:`SKIPPED_DIRS`,
  e.g. a virtual environment nobody ignored); they are listed apart, so that a reproduction
  leaves them untracked, as they were;

and leaves out ignored files, submodules, and the data inputs of the run (which are recorded by
their md5 and their source instead, never copied into the journal).

The patch is built with pygit2: the target state is written as a tree (its blobs go to the
repository's object database, like ``git add`` would, but neither the index nor the work tree is
touched) and diffed against HEAD's tree with binary contents included.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pygit2

from gitlab_journal.code.state import (
    SKIPPED_DIRS,
    matches,
    notebook_without_outputs,
    same_notebook_code,
)
from gitlab_journal.journal.format import PATCH_FILE

UNTRACKED_MAX_FILES = 200
UNTRACKED_MAX_BYTES = 1024 * 1024

_BLOB = pygit2.enums.FileMode.BLOB
_EXEC = pygit2.enums.FileMode.BLOB_EXECUTABLE
_LINK = pygit2.enums.FileMode.LINK
_IGNORED = pygit2.enums.FileStatus.IGNORED


@dataclass(frozen=True)
class CodePatch:
    """The work tree's changes against HEAD. ``data`` is empty when there are none."""

    data: bytes = b""
    untracked: tuple[str, ...] = ()  # new files of the patch that were not in the index
    left_out: tuple[str, ...] = ()  # untracked code files too large or too many to keep

    def __bool__(self) -> bool:
        return bool(self.data)


def work_status(repo: pygit2.Repository) -> dict[str, int]:
    """``git status`` of every changed path (untracked files one by one), ignored ones left out."""
    if repo.workdir is None:
        return {}
    status = repo.status(untracked_files="all", ignored=False)
    return {path: int(flags) for path, flags in status.items() if not flags & _IGNORED}


def is_excluded(path: str, excluded: Iterable[str]) -> bool:
    """Whether ``path`` is one of ``excluded`` or lies under one of them (a directory)."""
    for item in excluded:
        item = item.rstrip("/")
        if item and (path == item or path.startswith(item + "/")):
            return True
    return False


def working_patch(
    repo: pygit2.Repository,
    globs: Sequence[str],
    *,
    exclude: Iterable[str] = (),
    status: Mapping[str, int] | None = None,
) -> CodePatch:
    """The patch from HEAD to the work tree as a run sees it (see the module's docstring).

    ``exclude``: repository paths (files or directories) whose changes stay out of the patch,
    the run's data inputs. ``status``: :func:`work_status`, when the caller has it already.
    """
    if repo.workdir is None:
        return CodePatch()
    excluded = tuple(exclude)
    changed = work_status(repo) if status is None else status
    if not changed:
        return CodePatch()
    root = Path(repo.workdir)
    head_tree = base_tree(repo)
    index = repo.index
    index.read(False)
    target = pygit2.Index()
    target.read_tree(head_tree)
    file_mode = _honours_file_mode(repo)
    untracked: list[str] = []
    left_out: list[str] = []
    for path in sorted(changed):
        if is_excluded(path, excluded):
            continue
        full = root / path
        try:
            info = os.lstat(full)
        except OSError:
            info = None
        if info is not None and stat.S_ISDIR(info.st_mode):
            continue  # a submodule, or a directory git reports as a whole
        tracked = path in index
        if tracked and _is_gitlink(index, path):
            continue
        if info is None or (not tracked and not _is_code(path, globs)):
            _remove(target, path)
            continue
        if not tracked:
            if info.st_size > UNTRACKED_MAX_BYTES or len(untracked) >= UNTRACKED_MAX_FILES:
                left_out.append(path)
                _remove(target, path)
                continue
            untracked.append(path)
        mode = _mode(info, index, path, file_mode)
        stripped = None
        if tracked and path.endswith(".ipynb") and mode != _LINK:
            # a notebook's code, not its results: outputs are kept out of the patch, and a
            # notebook whose code cells are HEAD's is no change at all
            if same_notebook_code(repo, path):
                continue
            stripped = notebook_without_outputs(full.read_bytes())
        if mode == _LINK:
            oid = repo.create_blob(os.fsencode(os.readlink(full)))
        elif stripped is not None:
            oid = repo.create_blob(stripped)
        else:
            oid = repo.create_blob_fromworkdir(path)
        target.add(pygit2.IndexEntry(path, oid, mode))
    tree = repo[target.write_tree(repo)]
    assert isinstance(tree, pygit2.Tree)
    diff = head_tree.diff_to_tree(tree, flags=pygit2.enums.DiffOption.SHOW_BINARY)
    data = b"".join(patch.data for patch in diff if patch is not None)
    return CodePatch(data=data, untracked=tuple(untracked), left_out=tuple(left_out))


def base_tree(repo: pygit2.Repository) -> pygit2.Tree:
    """HEAD's tree; the empty tree in a repository with no commit yet (every file of the work
    tree is then an uncommitted change)."""
    if repo.head_is_unborn:
        empty = repo[repo.TreeBuilder().write()]
        assert isinstance(empty, pygit2.Tree)
        return empty
    return repo.head.peel(pygit2.Commit).tree


def _is_code(path: str, globs: Sequence[str]) -> bool:
    """An untracked file worth keeping: matches the code globs, outside installed packages."""
    parts = path.split("/")[:-1]
    return matches(path, globs) and not any(part in SKIPPED_DIRS for part in parts)


def _honours_file_mode(repo: pygit2.Repository) -> bool:
    try:
        return bool(repo.config.get_bool("core.filemode"))
    except (KeyError, pygit2.GitError):
        return True


def _entry(index: pygit2.Index, path: str) -> pygit2.IndexEntry | None:
    """The index entry of ``path``; None for a conflicted path (it has only stages 1 to 3)."""
    try:
        return index[path]
    except KeyError:
        return None


def _is_gitlink(index: pygit2.Index, path: str) -> bool:
    entry = _entry(index, path)
    return entry is not None and entry.mode == pygit2.enums.FileMode.COMMIT


def _mode(
    info: os.stat_result, index: pygit2.Index, path: str, file_mode: bool
) -> pygit2.enums.FileMode:
    if stat.S_ISLNK(info.st_mode):
        return _LINK
    entry = _entry(index, path)
    if not file_mode and entry is not None:
        return pygit2.enums.FileMode(entry.mode)
    return _EXEC if info.st_mode & 0o111 else _BLOB


def _remove(target: pygit2.Index, path: str) -> None:
    if path in target:
        target.remove(path)


# -- reading a recorded patch (it may come from another clone) ----------------------------------


@dataclass(frozen=True)
class PatchEntry:
    """One file a recorded ``code.patch`` touches."""

    path: str  # the path after the change
    old_path: str  # the path before it (differs for a rename or copy)
    status: str  # git's letter: A added, M modified, D deleted, R renamed, ...
    link: str | None = None  # the target of a symbolic link the patch writes


def patch_entries(patch: bytes, *, where: str) -> list[PatchEntry]:
    """The files ``patch`` touches; a JournalError when git cannot read it as a patch."""
    from gitlab_journal.errors import JournalError

    if not patch:
        return []
    try:
        diff = pygit2.Diff.parse_diff(patch)
    except (pygit2.GitError, ValueError) as exc:
        raise JournalError(f"{where}: unreadable {PATCH_FILE}: {exc}") from exc
    entries: list[PatchEntry] = []
    for item in diff:
        if item is None:
            continue
        delta = item.delta
        link = None
        if delta.new_file.mode == _LINK and delta.status_char() != "D":
            added = [
                line.content for hunk in item.hunks for line in hunk.lines if line.origin == "+"
            ]
            link = "".join(added).rstrip("\n")
        entries.append(
            PatchEntry(delta.new_file.path, delta.old_file.path, delta.status_char(), link)
        )
    return entries


def diffstat(patch: bytes) -> str:
    """``git apply --stat``'s view of ``patch``: one line a file, and a summary."""
    if not patch:
        return ""
    diff = pygit2.Diff.parse_diff(patch)
    return str(diff.stats.format(pygit2.enums.DiffStatsFormat.FULL, 80)).rstrip("\n")
