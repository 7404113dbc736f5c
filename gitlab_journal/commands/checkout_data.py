"""`git journal checkout-data RUN`: bring back, with DVC, the data a run was made from."""

from __future__ import annotations

import argparse

import pygit2

from gitlab_journal.commands.common import open_store
from gitlab_journal.console import make_console
from gitlab_journal.errors import CheckFailed, JournalError

HELP = "bring back the data a run used (its .dvc / dvc.lock files, then dvc checkout or pull)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="a run id or journal commit (a unique prefix is enough)")
    parser.add_argument(
        "--force",
        action="store_true",
        help="overwrite uncommitted changes to the tracking files and the data",
    )
    parser.add_argument(
        "--no-pull", action="store_true", help="only `dvc checkout` from the local cache"
    )


def run(args: argparse.Namespace) -> int:
    from gitlab_journal.data.dvc import parse_record, record_paths, restore, tracking
    from gitlab_journal.data.hashing import hash_cache
    from gitlab_journal.journal.format import DVC_RECORD_FILE
    from gitlab_journal.journal.index import open_index

    store = open_store()
    console = make_console()
    with open_index(store) as index:
        target = index.resolve(args.run)
    blob = store.files(target).get(DVC_RECORD_FILE)
    doc = parse_record(blob, f"run {target.id}") if blob is not None else None
    recorded = set((doc or {}).get("inputs") or {})
    root = store.workdir
    # Inputs DVC tracked that the run has no record of: data edited but not `dvc add`ed when
    # it ran (its source "path" since, "dvc" in runs recorded before that was checked).
    unrecorded = sorted(
        name
        for name, source in target.data_sources.items()
        if name not in recorded
        and (
            source.get("source") == "dvc"
            or (
                source.get("source") == "path"
                and root is not None
                and tracking(root, name) is not None
            )
        )
    )
    if unrecorded:
        data = ", ".join(f"{name} md5 {target.data.get(name, '?')}" for name in unrecorded)
        raise CheckFailed(
            f"run {target.id} used data that was not `dvc add`ed when it ran ({data}): "
            "DVC has no record of that data to bring it back from",
            hint="nothing was changed; if that data was `dvc add`ed later, `dvc checkout` "
            "with the .dvc file (or dvc.lock) of that md5 brings it back",
        )
    if doc is None:
        data = ", ".join(f"{name} {md5}" for name, md5 in sorted(target.data.items()))
        raise JournalError(
            f"run {target.id} used data that DVC did not track ({data or 'no data files'})",
            hint="only data tracked by a .dvc file or dvc.lock can be brought back",
        )
    if root is None:
        raise JournalError("checkout-data needs a work tree (this repository is bare)")
    where = f"run {target.id}"
    names, _ = record_paths(root, doc, where)  # refused here when a path leads out
    dirty = [path for path in names if _dirty(store.repo, path)]
    done = restore(
        root,
        doc,
        expected=target.data,
        cache=hash_cache(store.cache_dir()),
        dirty=dirty,
        force=args.force,
        pull=not args.no_pull,
        where=where,
    )
    for path in done.written:
        console.print(f"restored {path} as run {target.id} recorded it")
    how = "dvc pull" if done.pulled else "dvc checkout"
    console.print(f"{how}: {', '.join(done.targets)} as run {target.id} used them.")
    for name in sorted(recorded):
        console.print(f"  {name}  {target.data.get(name, '')}".rstrip())
    return 0


def _dirty(repo: pygit2.Repository, path: str) -> bool:
    """Whether ``path`` differs from what HEAD holds (untracked counts as different)."""
    try:
        flags = repo.status_file(path)
    except KeyError:
        return False  # neither in the work tree nor in git: nothing to lose
    return flags != pygit2.enums.FileStatus.CURRENT
