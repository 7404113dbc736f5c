"""What differs under ``runs/`` between two journal trees, one run folder at a time: what the
pre-receive hook, `sync`, `verify`, the index's catch-up and the browser view read."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pygit2

from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.store import (
    TREE_MODE,
    TREE_OBJECT,
    runs_tree,
    tree_entries,
    tree_format,
)

ADDED, CHANGED, REMOVED, STRAY = "added", "changed", "removed", "stray"
TWICE = "twice"  # a folder under runs/ (or the root) that holds one name twice


@dataclass(frozen=True)
class RunChange:
    """One difference under ``runs/`` between two trees: a run folder ``added``, ``changed``
    (``before``: its tree in the old one) or ``removed``, a ``stray`` entry that is not a run
    folder (``fingerprint`` and ``run_id`` are then what the path holds, maybe nothing), or a
    name a folder holds ``twice``."""

    kind: str
    path: str
    fingerprint: str = ""
    run_id: str = ""
    tree_id: pygit2.Oid | None = None
    version: int = fmt.FORMAT_VERSION  # the format of the tree the path is in
    before: pygit2.Oid | None = None


def run_changes(
    repo: pygit2.Repository, old: pygit2.Tree | None, new: pygit2.Tree
) -> Iterator[RunChange]:
    """What changed under ``runs/`` from ``old`` to ``new`` (``old`` None: everything is new),
    one entry per run folder; subtrees equal on both sides are skipped without being read.
    Between two formats (a migration) the runs are matched by fingerprint and id instead."""
    version = tree_format(new)
    old_version = tree_format(old) if old is not None else version
    before = runs_tree(repo, old)
    if old_version != version:
        yield from _moved_changes(repo, before, old_version, new, version)
        return
    yield from _twice(new, "", version)
    after = tree_entries(new).get(fmt.RUNS_DIR)
    shapes = fmt.folder_patterns(version)
    if after is None:
        if before is not None:
            yield from _walk_changes(repo, before, None, 0, fmt.RUNS_DIR, "", shapes, version)
        return
    if after.filemode != TREE_MODE:
        yield RunChange(STRAY, fmt.RUNS_DIR, version=version)
        return
    yield from _walk_changes(repo, before, repo[after.id], 0, fmt.RUNS_DIR, "", shapes, version)  # type: ignore[arg-type]


def _moved_changes(
    repo: pygit2.Repository,
    before: pygit2.Tree | None,
    old_version: int,
    new: pygit2.Tree,
    version: int,
) -> Iterator[RunChange]:
    """``run_changes`` between trees of two formats: a run folder is the same when its
    fingerprint, id and tree are, wherever each format puts it."""
    old_runs: dict[tuple[str, str], RunChange] = {}
    if before is not None:
        for change in _walk_changes(
            repo, None, before, 0, fmt.RUNS_DIR, "", fmt.folder_patterns(old_version), old_version
        ):
            if change.kind == ADDED:
                old_runs[(change.fingerprint, change.run_id)] = change
    for change in run_changes(repo, None, new):
        if change.kind != ADDED:
            yield change
            continue
        seen = old_runs.pop((change.fingerprint, change.run_id), None)
        if seen is None:
            yield change
        elif seen.tree_id != change.tree_id:
            yield RunChange(
                CHANGED,
                change.path,
                change.fingerprint,
                change.run_id,
                change.tree_id,
                version,
                before=seen.tree_id,
            )
    for gone in old_runs.values():
        yield RunChange(REMOVED, gone.path, gone.fingerprint, gone.run_id, version=old_version)


def _walk_changes(
    repo: pygit2.Repository,
    old: pygit2.Tree | None,
    new: pygit2.Tree | None,
    level: int,
    path: str,
    fingerprint: str,
    shapes: Sequence[re.Pattern[str]],
    version: int,
) -> Iterator[RunChange]:
    # levels 0 .. len(shapes) - 1: the fingerprint's shards, then the folder of its rest;
    # level len(shapes): run directories
    if old is not None and new is not None and old.id == new.id:
        return
    before, after = tree_entries(old), tree_entries(new)
    if new is not None and len(after) != len(new):
        yield from _twice(new, path + "/", version)
    runs_level = len(shapes)
    shape = shapes[level] if level < runs_level else None
    for name in sorted(set(before) | set(after)):
        seen, entry = before.get(name), after.get(name)
        if seen is not None and entry is not None and seen.id == entry.id:
            continue
        sub = f"{path}/{name}"
        if entry is None:
            assert seen is not None
            if level == runs_level or seen.type != TREE_OBJECT:
                run_id = name if level == runs_level else ""
                yield RunChange(REMOVED, sub, fingerprint, run_id, version=version)
            else:
                gone = repo[seen.id]
                assert isinstance(gone, pygit2.Tree)
                yield from _walk_changes(
                    repo, gone, None, level + 1, sub, fingerprint + name, shapes, version
                )
            continue
        if entry.type != TREE_OBJECT or (shape is not None and not shape.fullmatch(name)):
            yield RunChange(STRAY, sub, version=version)
            continue
        was_folder = seen is not None and seen.type == TREE_OBJECT
        if level == runs_level:
            kind = CHANGED if was_folder else ADDED
            old_id = seen.id if seen is not None and was_folder else None
            yield RunChange(kind, sub, fingerprint, name, entry.id, version, before=old_id)
            continue
        old_sub = repo[seen.id] if seen is not None and was_folder else None
        newer = repo[entry.id]
        assert isinstance(newer, pygit2.Tree) and (
            old_sub is None or isinstance(old_sub, pygit2.Tree)
        )
        yield from _walk_changes(
            repo, old_sub, newer, level + 1, sub, fingerprint + name, shapes, version
        )


def _twice(tree: pygit2.Tree | None, prefix: str, version: int) -> Iterator[RunChange]:
    """A change for each name ``tree`` (at ``prefix``) holds more than once."""
    counts = Counter(entry.name for entry in tree or () if entry.name is not None)
    for name in sorted(name for name, count in counts.items() if count > 1):
        yield RunChange(TWICE, f"{prefix}{name}", version=version)
