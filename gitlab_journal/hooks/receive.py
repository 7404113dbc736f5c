"""The pre-receive hook: a server refuses journal pushes that lose runs or carry bad records.

git runs ``pre-receive`` in the receiving (usually bare) repository with one line per updated
ref on standard input, ``<old> <new> <ref>``, and the pushed objects in a quarantine directory
(``GIT_OBJECT_DIRECTORY``, with the repository's own objects as an alternate). For the journal
branch it refuses:

- deleting the branch, or moving it to a commit that does not contain the old tip (a
  force-push: the runs only the old history holds would be lost);
- a tip whose tree lacks ``FORMAT``, or holds a newer format than this gitlab-journal reads;
- any run directory the push adds or changes whose record fails the journal's schema
  (journal/schema.py, docs/journal-format.md "Schema"): a missing file, unparsable JSON, a
  field of the wrong type, a number beyond the range of a float, an id or hash of the wrong
  shape, ``identity.json`` that does not hash to the fingerprint of its path, ``run.json``
  naming another run, a name with control characters or that is not UTF-8, a path that is
  absolute or climbs out with ``..``, a record over its size bound, a name held twice in a
  folder, a submodule entry; anything else under ``runs/`` that is not a run directory;
  removing a run;
- a recorded run whose files change other than by what a journal adds to it (notes,
  reproductions, ``code.committed``, new metrics);
- a run whose id another run folder holds;
- a ``leaderboard.json`` row naming no run of the pushed journal;
- a pushed commit that adds runs but names another in its ``Journal-Run`` trailer.

Other refs pass untouched. Nothing is written: no cache, no index.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pygit2

from gitlab_journal.errors import JournalError
from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.store import DEFAULT_BRANCH, Store

ZERO = "0" * 40
FORCE_HINT = (
    "fetch the journal and record on top of it (`git journal sync` merges two journals); "
    "never force-push it"
)
# A bad record (a problem may say better what to do: format.GROWN_HINT, say).
BAD_RECORD_HINT = (
    "the journal pushed holds a bad record: `git journal verify` in that clone lists it"
)


@dataclass(frozen=True)
class Refusal:
    ref: str
    reason: str
    hint: str | None = None  # what the pusher can do about it


def open_receiving_repository(path: str | Path = ".") -> pygit2.Repository:
    """The repository a hook runs in, with git's quarantined objects visible to libgit2."""
    git_dir = os.environ.get("GIT_DIR") or str(path)
    found = pygit2.discover_repository(git_dir)
    if found is None:
        raise JournalError(f"not a git repository: {Path(git_dir).resolve()}")
    repo = pygit2.Repository(found)
    quarantine = os.environ.get("GIT_OBJECT_DIRECTORY")
    alternates = [p for p in os.environ.get("GIT_ALTERNATE_OBJECT_DIRECTORIES", "").split(":") if p]
    for folder in [quarantine, *alternates]:
        if folder and Path(folder).is_dir():
            repo.odb.add_disk_alternate(str(Path(folder).resolve()))
    return repo


def journal_branch(repo: pygit2.Repository) -> str:
    try:
        return str(repo.config["journal.branch"])
    except KeyError:
        return DEFAULT_BRANCH


def parse_updates(lines: Iterable[str]) -> Iterator[tuple[str, str, str]]:
    for line in lines:
        parts = line.split()
        if len(parts) == 3:
            yield parts[0], parts[1], parts[2]


def _is_zero(oid: str) -> bool:
    return set(oid) == {"0"}


def check_update(repo: pygit2.Repository, old: str, new: str, ref: str) -> Refusal | None:
    """Why the journal update ``old -> new`` must be refused, or None when it may land."""
    if _is_zero(new):
        return Refusal(ref, "deleting the journal branch would lose every run it holds", FORCE_HINT)
    new_commit = _commit(repo, new)
    if new_commit is None:
        return Refusal(ref, f"{new[:10]} is not a commit")
    if not _is_zero(old) and not _contains(repo, new_commit, old):
        return Refusal(
            ref,
            f"{new[:10]} does not contain the current tip {old[:10]}: a force-push would "
            "rewrite the journal and lose the runs only its history holds",
            FORCE_HINT,
        )
    tree = new_commit.tree
    try:
        version = fmt.check_format(_blob(tree, fmt.FORMAT_FILE))
    except JournalError as exc:
        return Refusal(ref, exc.message, exc.hint)
    old_commit = None if _is_zero(old) else _commit(repo, old)
    if old_commit is not None:
        try:
            old_version = fmt.check_format(_blob(old_commit.tree, fmt.FORMAT_FILE))
        except JournalError:
            old_version = version
        if version < old_version:
            return Refusal(
                ref,
                f"the journal is in format {old_version}; a push may not take it back to "
                f"format {version} (`git journal migrate` the clone that pushes, then sync)",
            )
    store = Store(repo)
    problem = next(store.problems(old_commit.tree if old_commit is not None else None, tree), None)
    if problem is None:
        problem = store.misnamed_run(new_commit.id, None if old_commit is None else old_commit.id)
    if problem is None:
        return None
    return Refusal(ref, problem.message, problem.hint or BAD_RECORD_HINT)


def _commit(repo: pygit2.Repository, oid: str) -> pygit2.Commit | None:
    try:
        obj = repo.get(oid)
    except (ValueError, pygit2.GitError):
        return None
    return obj if isinstance(obj, pygit2.Commit) else None


def _contains(repo: pygit2.Repository, new: pygit2.Commit, old: str) -> bool:
    if str(new.id) == old:
        return True
    try:
        return bool(repo.descendant_of(new.id, pygit2.Oid(hex=old)))
    except (ValueError, KeyError, pygit2.GitError):
        return False


def _blob(tree: pygit2.Tree, path: str) -> bytes | None:
    try:
        obj = tree[path]
    except KeyError:
        return None
    return obj.data if isinstance(obj, pygit2.Blob) else None


def first_bad_run(repo: pygit2.Repository, old: pygit2.Tree | None, new: pygit2.Tree) -> str | None:
    """The first problem with what the new tree adds, changes or removes, naming the run:
    every run folder gets the full check of the journal's schema (``format.validate_files``),
    and :meth:`Store.problems` the rest."""
    problem = next(Store(repo).problems(old, new), None)
    return None if problem is None else problem.message


def check_push(repo: pygit2.Repository, lines: Iterable[str]) -> list[Refusal]:
    """Every refused update among the ``old new ref`` lines (only the journal's ref is looked
    at)."""
    ref = f"refs/heads/{journal_branch(repo)}"
    refusals = []
    for old, new, name in parse_updates(lines):
        if name != ref:
            continue
        refusal = check_update(repo, old, new, name)
        if refusal is not None:
            refusals.append(refusal)
    return refusals
