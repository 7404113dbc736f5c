"""Keep the repository packed: every run writes a few objects, and 100,000 runs must not leave
close to a million loose files.

At the end of a ``run`` the objects its records added (each commit's new trees and blobs, found
by comparing the commit's tree with its parent's along the paths that changed) go into one pack,
and their loose copies are removed: a grid leaves no loose objects and gives `git gc --auto` no
reason to start. `git gc --auto` (the git program) then still runs: it
costs almost nothing below git's thresholds and merges the packs once there are too many."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable

import pygit2

from gitlab_journal.journal.store import Store


def pack_if_needed(store: Store) -> bool:
    """Run `git gc --auto --quiet`; False when git could not be run or failed (packing is
    best effort)."""
    try:
        done = subprocess.run(
            ["git", "gc", "--auto", "--quiet"],
            cwd=store.git_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
    except OSError:
        return False
    return done.returncode == 0


def new_objects(repo: pygit2.Repository, commit: pygit2.Commit) -> list[pygit2.Oid]:
    """The objects ``commit`` adds to its first parent: itself, and the trees and blobs of its
    tree that the parent's tree lacks at the same path (only changed trees are descended)."""
    out = [commit.id]
    parent = commit.parents[0].tree if commit.parents else None
    _changed(repo, commit.tree, parent, out)
    return out


def _changed(
    repo: pygit2.Repository, tree: pygit2.Tree, old: pygit2.Tree | None, out: list[pygit2.Oid]
) -> None:
    if old is not None and old.id == tree.id:
        return
    out.append(tree.id)
    before = {entry.name: entry for entry in old} if old is not None else {}
    for entry in tree:
        was = before.get(entry.name)
        if was is not None and was.id == entry.id:
            continue
        if entry.type_str == "tree":
            sub = repo[entry.id]
            assert isinstance(sub, pygit2.Tree)
            prior = repo[was.id] if was is not None and was.type_str == "tree" else None
            _changed(repo, sub, prior if isinstance(prior, pygit2.Tree) else None, out)
        elif entry.type_str == "blob":
            out.append(entry.id)


def pack_runs(store: Store, commits: Iterable[str]) -> int:
    """Write the objects the commits ``commits`` added into one pack and remove their loose
    copies; the number of objects packed (0: nothing to do, or packing failed: best effort,
    the loose objects then stay where they are and `git gc` packs them later).

    The pack is written by `git pack-objects --window=0` from the list of objects: no delta
    search (libgit2's pack builder spent about 0.1 ms an object on it, more than the record's
    own writes); `git gc` compresses the packs when it merges them."""
    repo = store.repo
    objects: dict[pygit2.Oid, None] = {}
    try:
        for sha in commits:
            commit = repo[sha]
            assert isinstance(commit, pygit2.Commit)
            objects.update(dict.fromkeys(new_objects(repo, commit)))
    except (pygit2.GitError, KeyError, ValueError):
        return 0
    return pack_objects(store, objects)


def pack_objects(store: Store, objects: Iterable[pygit2.Oid]) -> int:
    """Write ``objects`` into one pack and remove their loose copies (best effort, as
    ``pack_runs``); the number packed."""
    objects = list(objects)
    if not objects:
        return 0
    root = store.objects_dir()
    try:
        done = subprocess.run(
            ["git", "pack-objects", "-q", "--window=0", str(root / "pack" / "pack")],
            input="".join(f"{oid}\n" for oid in objects).encode(),
            cwd=store.git_dir,
            capture_output=True,
            check=False,
        )
    except OSError:
        return 0
    if done.returncode != 0:
        return 0
    # The pack and its index are in place: the loose copies can go (as `git prune-packed`).
    for oid in objects:
        text = str(oid)
        try:
            os.unlink(root / text[:2] / text[2:])
        except OSError:
            continue
    return len(objects)
