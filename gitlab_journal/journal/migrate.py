"""A journal of format 1 rewritten in format 2, every run kept as it is.

Format 1 shards run folders by one level of the fingerprint (``runs/<fp[:2]>/<fp[2:]>/``), so
at a million runs each shard folder holds about 3,900 fingerprints and every record rewrites a
tree of a third of a megabyte. Format 2 shards by two levels (``runs/<fp[:2]>/<fp[2:4]>/
<fp[4:]>/``). The migration moves each fingerprint's folder, unchanged (the same git tree, so
every record, file and run folder keeps its blob and tree ids), into the new layout, sets
``FORMAT`` to 2 and renders the branch's README for it: one commit on top of the history, which
stays as it was. No record is read.

The commit is made holding the writer lock: records made meanwhile wait and then land on top of
it, in the new layout. An interrupted migration moves nothing (the branch moves once, at the
end); running it again starts over and finds the trees it had written already.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pygit2

from gitlab_journal.errors import JournalError
from gitlab_journal.journal import format as fmt
from gitlab_journal.journal import leaderboard
from gitlab_journal.journal.store import Store, blob_at, format_version, runs_tree

TARGET = 2
_TREE = pygit2.enums.FileMode.TREE
_BLOB = pygit2.enums.FileMode.BLOB
_SHARD, _REST = fmt.folder_patterns(1)
MESSAGE = (
    f"Migrate the journal to format {TARGET}\n\n"
    f"Every run folder moves, unchanged, to {fmt.layout(TARGET)}\n"
    "(two levels of fingerprint shards); no record changes.\n"
)

Progress = Callable[[int, int], None]  # (shards done, shards in all)


@dataclass(frozen=True)
class Migration:
    """What a migration did: ``commit`` None when the journal was in format 2 already."""

    before: int
    after: int
    experiments: int
    commit: str | None
    written: tuple[pygit2.Oid, ...] = ()  # the objects it wrote (to pack them)


def migrate(store: Store, progress: Progress | None = None) -> Migration:
    """Rewrite the journal in format 2 (nothing to do when it is in it already)."""
    before = format_version(store.require().tree)
    if before >= TARGET:
        return Migration(before, before, 0, None)
    moved: list[int] = []
    written: list[pygit2.Oid] = []

    def build(tree: pygit2.Tree) -> pygit2.Oid:
        if format_version(tree) >= TARGET:
            raise JournalError(
                f"the journal moved to format {format_version(tree)} meanwhile",
                hint="another `git journal migrate` did it; nothing more to do",
            )
        moved.clear()
        written.clear()
        return _in_format_2(store.repo, tree, moved, written, progress)

    commit = store.rewrite(build, MESSAGE)
    return Migration(before, TARGET, sum(moved), str(commit), (*written, commit))


def _in_format_2(
    repo: pygit2.Repository,
    tree: pygit2.Tree,
    moved: list[int],
    written: list[pygit2.Oid],
    progress: Progress | None,
) -> pygit2.Oid:
    """The root tree of ``tree`` (format 1) in format 2."""
    groups: dict[str, dict[str, dict[str, pygit2.Oid]]] = {}
    strays: list[str] = []
    runs = runs_tree(repo, tree)
    for shard in runs if runs is not None else ():
        if shard.filemode != _TREE or shard.name is None or not _SHARD.fullmatch(shard.name):
            strays.append(f"{fmt.RUNS_DIR}/{shard.name}")
            continue
        shard_tree = repo[shard.id]
        assert isinstance(shard_tree, pygit2.Tree)
        for entry in shard_tree:
            name = entry.name or ""
            if entry.filemode != _TREE or not _REST.fullmatch(name):
                strays.append(f"{fmt.RUNS_DIR}/{shard.name}/{name}")
                continue
            groups.setdefault(shard.name, {}).setdefault(name[:2], {})[name[2:]] = entry.id
    if strays:
        shown = ", ".join(strays[:3]) + (f" and {len(strays) - 3} more" if len(strays) > 3 else "")
        raise JournalError(
            f"{len(strays)} entries under {fmt.RUNS_DIR}/ are not run folders of format 1: "
            f"{shown}; format 2 has no place for them",
            hint="`git journal verify` lists them; nothing was written",
        )
    runs_builder = repo.TreeBuilder()
    for done, (first, seconds) in enumerate(sorted(groups.items()), 1):
        first_builder = repo.TreeBuilder()
        for second, rests in sorted(seconds.items()):
            second_builder = repo.TreeBuilder()
            for rest, folder in rests.items():
                second_builder.insert(rest, folder, _TREE)
            written.append(second_builder.write())
            first_builder.insert(second, written[-1], _TREE)
            moved.append(len(rests))
        written.append(first_builder.write())
        runs_builder.insert(first, written[-1], _TREE)
        if progress is not None:
            progress(done, len(groups))
    root = repo.TreeBuilder(tree)
    if groups:
        written.append(runs_builder.write())
        root.insert(fmt.RUNS_DIR, written[-1], _TREE)
    written.append(repo.create_blob(fmt.format_text(TARGET)))
    root.insert(fmt.FORMAT_FILE, written[-1], _BLOB)
    board = blob_at(tree, leaderboard.LEADERBOARD_FILE)
    readme = (
        leaderboard.readme(leaderboard.load(board), TARGET)
        if board is not None
        else fmt.readme_text(TARGET)
    )
    written.append(repo.create_blob(readme.encode()))
    root.insert(fmt.README_FILE, written[-1], _BLOB)
    written.append(root.write())
    return written[-1]
