"""The post-commit hook: runs made from uncommitted changes learn the commit that holds them.

A run records the commit it was made on (``code.commit``), whether its code is not all in that
commit (``code.dirty``: tracked files differed from it, or code files were untracked), and the
tree id of the code as it was (``code.tree``). When a
new commit's tree is exactly that tree and its parent is that commit, the run's code is now
committed: one new journal commit sets ``code.committed`` in each such run's ``run.json``
(nothing is rewritten), so `show` prints a clean commit for them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pygit2

from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.index import open_index
from gitlab_journal.journal.records import Run
from gitlab_journal.journal.store import Store


@dataclass(frozen=True)
class Noted:
    commit: str  # the code commit that now holds the runs' code
    runs: tuple[Run, ...]
    journal_commit: str | None  # the journal commit that says so; None when nothing matched


def dirty_runs_of(store: Store, parent: str | None, tree: str) -> list[Run]:
    """Runs made with uncommitted changes on ``parent`` whose work tree was ``tree``, and not
    yet noted as committed."""
    where = ["code.dirty == true", f'code.tree == "{tree}"']
    where.append(f'code.commit == "{parent}"' if parent else "code.commit == null")
    with open_index(store) as index:
        runs = index.runs(where)
    return [run for run in runs if run.code.committed is None]


def note_committed(store: Store, commit: str | None = None) -> Noted | None:
    """Note the runs whose dirty state ``commit`` (default: HEAD) committed; None without a
    journal or a commit."""
    if store.tip() is None:
        return None
    repo = store.repo
    try:
        target = repo.revparse_single(commit or "HEAD").peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError):
        return None
    parent = str(target.parent_ids[0]) if target.parent_ids else None
    sha = str(target.id)
    runs = dirty_runs_of(store, parent, str(target.tree_id))
    if not runs:
        return Noted(commit=sha, runs=(), journal_commit=None)
    noted = [replace(run, code=replace(run.code, committed=sha)) for run in runs]
    count = f"{len(runs)} run{'s' if len(runs) != 1 else ''}"
    base = parent[:10] if parent else "an unborn branch"
    message = (
        f"Code of {count} committed as {sha[:10]}\n\n"
        f"{'These runs were' if len(runs) != 1 else 'This run was'} made from uncommitted "
        f"changes on {base}; commit {sha[:10]} holds exactly that tree."
    )
    journal_commit = store.update_run_records(noted, message, first=[f"{fmt.TRAILER_CODE}: {sha}"])
    return Noted(commit=sha, runs=tuple(runs), journal_commit=journal_commit)
