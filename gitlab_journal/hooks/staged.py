"""`git journal check --staged`: what the pre-commit hook decides.

It builds every experiment of the *staged* spec (the spec's blob in git's index) with the
*staged* code dependencies, and looks each up in the journal. A matching run is a duplicate only
when it was recorded from an *earlier* state of the repository; runs made from the state being
committed are this commit's results. The rule, per matching run (its fingerprint already
guarantees the same model, params, data, evaluation and code dependencies):

- made on top of the current HEAD (``code.commit`` is HEAD; both unset before the first
  commit), or noted by the post-commit hook as committed as HEAD: the state being committed;
- made with uncommitted changes (``dirty``) on an ancestor of HEAD, when no commit since then
  touched the spec or a code dependency: the changes it ran are the ones being committed now
  ("edit, `git journal run`, commit what was run", with unrelated commits in between);
- anything else (a clean run of an older commit, a run from before the spec or the code moved
  on, a run made on another branch): an earlier state, so a duplicate.

And only experiments the commit *introduces* are reported: an experiment HEAD's own spec (with
HEAD's code) already had is not news, so an unrelated commit stays silent.

The staged code is the code as it will be committed: a tracked file counts by its index entry,
an untracked one that git does not ignore by its work-tree content (it is not part of the
commit, but stays in the work tree as an input of what is committed; see
:mod:`gitlab_journal.code.state`). So "edit, run, commit" stays quiet whether or not the files
were added before the run.

The staged data likewise is the data the commit holds: a file or folder git tracks by its
index entries, data DVC tracks by the md5 its staged ``.dvc`` file (or ``dvc.lock``) records,
and data the commit does not hold (untracked, ignored) by its work-tree content; HEAD's
experiments are those of HEAD's data (see :mod:`gitlab_journal.data.committed`). A table's
header (its columns, the default target) is read by the same rule: from the staged blob, or
HEAD's. An edit to the work-tree copy of staged data changes nothing until it is staged.

Nothing is trained, and scikit-learn is imported only when an estimator's defaults are not yet
in ``.git/journal/resolved.json``.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pygit2

from gitlab_journal.code.state import (
    blob_code_id,
    code_state,
    current_index,
    file_code_id,
    head_state,
    matches,
)
from gitlab_journal.data.committed import committed_file, committed_hashes
from gitlab_journal.data.hashing import hash_cache
from gitlab_journal.errors import JournalError
from gitlab_journal.journal.index import Index, Row
from gitlab_journal.journal.records import CodeState, Run
from gitlab_journal.journal.store import Store
from gitlab_journal.run.plan import Planned, make_plan
from gitlab_journal.spec.cache import load_spec_text_cached
from gitlab_journal.spec.locate import find_spec
from gitlab_journal.spec.model import Spec

if TYPE_CHECKING:
    from rich.console import Console

MODES = ("warn", "block")
DEFAULT_MODE = "warn"
MODE_KEY = "journal.hook.mode"
SHOWN = 20  # duplicates listed in the warning; --json gives them all
MAX_WALK = 500  # commits between a dirty run's base and HEAD searched for spec or code changes


@dataclass(frozen=True)
class StagedCheck:
    """What `check --staged` found.

    ``duplicates``: the introduced experiments that ran before, each with only the runs from
    earlier states in ``earlier``. ``current``: runs of staged experiments made from the state
    being committed. ``skipped``: why nothing was checked (no journal, spec not staged), else
    None.
    """

    spec: str
    points: int = 0
    duplicates: tuple[Planned, ...] = ()
    current: tuple[Run, ...] = ()
    skipped: str | None = None


def hook_mode(store: Store, override: str | None = None) -> str:
    """``warn`` or ``block``: the command line's choice, else ``git config journal.hook.mode``."""
    if override is not None:
        mode = override
    else:
        try:
            mode = str(store.repo.config[MODE_KEY]).strip().lower()
        except KeyError:
            mode = DEFAULT_MODE
    if mode not in MODES:
        raise JournalError(
            f"{MODE_KEY} is {mode!r}; it must be warn or block",
            hint=f"git config {MODE_KEY} warn",
        )
    return mode


def _staged_blob(repo: pygit2.Repository, relpath: str) -> bytes | None:
    index = current_index(repo)
    try:
        entry = index[relpath]
    except KeyError:
        return None
    blob = repo[entry.id]
    return blob.data if isinstance(blob, pygit2.Blob) else None


def _relpath(store: Store, path: Path) -> str:
    workdir = store.workdir
    if workdir is None:
        raise JournalError("check --staged needs a work tree (this repository is bare)")
    try:
        return path.resolve().relative_to(workdir.resolve()).as_posix()
    except ValueError:
        raise JournalError(
            f"{path} is outside the repository ({workdir})",
            hint="give a spec inside the repository",
        ) from None


def _head_commit(repo: pygit2.Repository) -> pygit2.Commit | None:
    if repo.head_is_unborn:
        return None
    commit = repo.head.peel(pygit2.Commit)
    return commit if isinstance(commit, pygit2.Commit) else None


def _head_code(
    repo: pygit2.Repository, head: pygit2.Commit, staged: CodeState, globs: tuple[str, ...]
) -> CodeState:
    """HEAD's code dependencies: the staged ones (``staged``, found with ``globs``) with the
    index's changes against HEAD undone: one diff in libgit2 instead of a walk over HEAD's tree.
    A file the commit adds that is in the work tree was an untracked input in HEAD's state:
    it counts as it is there, so adding a file that runs already read introduces nothing."""
    files = dict(staged.files)
    root = Path(repo.workdir) if repo.workdir else None
    diff = current_index(repo).diff_to_tree(head.tree)
    for delta in diff.deltas:
        # old_file: HEAD's side, new_file: the index's side.
        new_path, old_path = delta.new_file.path, delta.old_file.path
        if delta.status != pygit2.enums.DeltaStatus.DELETED:
            files.pop(new_path, None)
        if delta.status == pygit2.enums.DeltaStatus.ADDED and root is not None:
            file = root / new_path
            if matches(new_path, globs) and file.is_file():
                files[new_path] = file_code_id(file)
        if delta.status != pygit2.enums.DeltaStatus.ADDED and matches(old_path, globs):
            files[old_path] = blob_code_id(repo, old_path, delta.old_file.id)
    return replace(staged, files=dict(sorted(files.items())), dirty=False)


def _committed_data(
    store: Store, spec: Spec, source: pygit2.Index | pygit2.Tree
) -> Callable[[], dict[str, str]]:
    """What gives the spec's data hashes as ``source`` (the index, HEAD's tree) holds the data:
    called by the plan once the grid is known not to be too large to check."""
    root = store.workdir or spec.path.parent
    return functools.partial(
        committed_hashes, store.repo, root, spec.data, hash_cache(store.cache_dir()), source
    )


def _head_fingerprints(
    store: Store, head: pygit2.Commit, relpath: str, spec: Spec, staged: CodeState
) -> set[str]:
    """The fingerprints of HEAD's spec at the same path, with HEAD's code and data (empty when
    HEAD has no such spec or it does not load)."""
    try:
        blob = head.tree[relpath]
    except KeyError:
        return set()
    if not isinstance(blob, pygit2.Blob):
        return set()
    try:
        head_spec = load_spec_text_cached(
            blob.data, spec.path, (), store.cache_dir(), shown=f"HEAD:{relpath}"
        )
    except (JournalError, UnicodeDecodeError):
        return set()
    if head_spec.code != spec.code:
        staged = code_state(store.repo, head_spec.code, staged=True)
    code = _head_code(store.repo, head, staged, head_spec.code)
    try:
        data = _committed_data(store, head_spec, head.tree)
        header = committed_file(store.repo, head.tree)
        # warn=False: a repeated header name is said once, by the staged plan
        plan = make_plan(store, head_spec, code=code, data=data, header=header, warn=False)
    except JournalError:
        return set()
    return {p.fingerprint for p in plan.points}


class _History:
    """Whether a dirty run's changes are still the uncommitted ones: no commit between its base
    and HEAD touched the watched paths. Answers are cached by base commit."""

    def __init__(self, repo: pygit2.Repository, head: pygit2.Commit | None, watched: set[str]):
        self.repo = repo
        self.head = head
        self.watched = watched
        self.cache: dict[str, bool] = {}

    def unchanged_since(self, base: str) -> bool:
        if base not in self.cache:
            self.cache[base] = self._unchanged_since(base)
        return self.cache[base]

    def _unchanged_since(self, base: str) -> bool:
        if self.head is None:
            return False
        try:
            base_id = pygit2.Oid(hex=base)
            if not isinstance(self.repo.get(base_id), pygit2.Commit):
                return False  # made in another clone: not an ancestor here
            if not self.repo.descendant_of(self.head.id, base_id):
                return False
        except (ValueError, pygit2.GitError):
            return False
        walker = self.repo.walk(self.head.id, pygit2.enums.SortMode.TOPOLOGICAL)
        walker.hide(base_id)
        for count, commit in enumerate(walker):
            if count >= MAX_WALK:
                return False
            # The first parent's diff: what this commit brought into HEAD's line.
            if commit.parents:
                diff = commit.parents[0].tree.diff_to_tree(commit.tree)
            else:
                diff = commit.tree.diff_to_tree(swap=True)
            for delta in diff.deltas:
                if delta.old_file.path in self.watched or delta.new_file.path in self.watched:
                    return False
        return True


def is_current(run: Run, head: str | None, history: _History) -> bool:
    """Whether ``run`` was made from the state being committed (see the module's rule)."""
    if run.code.commit == head or (head is not None and run.code.committed == head):
        return True
    if run.code.dirty and run.code.commit is not None:
        return history.unchanged_since(run.code.commit)
    return False


class _IndexedStore(Store):
    """The store, with ``find`` answered by the derived SQLite index: one indexed query per
    point instead of a descent through two levels of packed, deltified trees (about a
    millisecond each at 100,000 runs). The runs it returns carry what the hook shows and
    decides on (status, metrics, code state, dates), not their identity documents."""

    def __init__(self, store: Store, index: Index):
        super().__init__(store.repo, store.branch)
        self.index = index

    def find(self, fingerprint: str, tree: pygit2.Tree | None = None) -> list[Run]:
        del tree  # the index reflects the tip it was synced to, read once
        rows = self.index.query([f'fingerprint == "{fingerprint}"'], ascending=True)
        return [_run_of(row) for row in rows]


def _run_of(row: Row) -> Run:
    code = row.code
    return Run(
        id=row.id,
        fingerprint=row.fingerprint,
        identity={},
        model=row.model,
        kind=row.kind or "sklearn",
        params=row.params,
        data=row.data,
        code=CodeState.from_dict(code),
        metrics=row.metrics,
        status=row.status,
        created=row.created,
        name=row.name,
        commit=row.commit,
    )


def _lookup_store(store: Store) -> tuple[Store, Index | None]:
    """The index-backed store when this clone has an index to bring up to date (a first
    build, after a fresh clone, is left to `log`: the plain store answers then)."""
    index = Index.open(store)
    try:
        if index.stored_tip() is None:
            index.close()
            return store, None
        index.sync()
    except (sqlite3.Error, JournalError):
        index.close()
        return store, None
    return _IndexedStore(store, index), index


def check_staged(
    store: Store, spec_arg: str | None, cwd: Path, overrides: tuple[str, ...] = ()
) -> StagedCheck:
    """Fingerprint the staged spec with the staged code; the duplicates the commit introduces."""
    lookup, index = _lookup_store(store) if store.tip() is not None else (store, None)
    try:
        return _check_staged(lookup, spec_arg, cwd, overrides)
    finally:
        if index is not None:
            index.close()


def _check_staged(
    store: Store, spec_arg: str | None, cwd: Path, overrides: tuple[str, ...]
) -> StagedCheck:
    path = find_spec(spec_arg, cwd)
    relpath = _relpath(store, path)
    if store.tip() is None:
        return StagedCheck(spec=relpath, skipped=f"no journal (branch '{store.branch}')")
    blob = _staged_blob(store.repo, relpath)
    if blob is None:
        return StagedCheck(spec=relpath, skipped=f"{relpath} is not in the index")
    try:
        spec = load_spec_text_cached(
            blob, path, overrides, store.cache_dir(), shown=f"{relpath} (staged)"
        )
    except UnicodeDecodeError as exc:
        raise JournalError(f"{relpath} (staged) is not UTF-8 text: {exc}") from exc
    repo = store.repo
    index = current_index(repo)
    data = _committed_data(store, spec, index)
    plan = make_plan(store, spec, staged=True, data=data, header=committed_file(repo, index))
    head_commit = _head_commit(repo)
    head, _ = head_state(repo)
    history = _History(repo, head_commit, {relpath, *plan.code.files})
    current: list[Run] = []
    earlier: list[Planned] = []
    for planned in plan.points:
        old = []
        for run in planned.earlier:
            if is_current(run, head, history):
                current.append(run)
            else:
                old.append(run)
        if old:
            earlier.append(replace(planned, earlier=tuple(old)))
    if earlier and head_commit is not None:
        known = _head_fingerprints(store, head_commit, relpath, spec, plan.code)
        earlier = [p for p in earlier if p.fingerprint not in known]
    return StagedCheck(
        spec=relpath,
        points=len(plan.points),
        duplicates=tuple(earlier),
        current=tuple(current),
    )


def staged_json(found: StagedCheck, mode: str) -> dict[str, Any]:
    """`check --staged --json`: the duplicates and the runs counted as this commit's; strict
    JSON, as `log --json` writes it: a param that is not finite as the journal records it
    (``{"__float__": "inf"}``), a metric that is not finite as null."""
    from gitlab_journal.journal.identity import finite_json, json_safe

    return {
        "spec": found.spec,
        "mode": mode,
        "skipped": found.skipped,
        "points": found.points,
        "duplicates": [
            {
                "fingerprint": p.fingerprint,
                "params": finite_json(dict(p.point.params)),
                "earlier": [
                    {
                        "id": r.id,
                        "created": r.created,
                        "status": r.status,
                        "metrics": json_safe(dict(r.metrics)),
                        "code_commit": r.code.commit,
                        "dirty": r.code.dirty,
                    }
                    for r in p.earlier
                ],
            }
            for p in found.duplicates
        ],
        "current": [r.id for r in found.current],
    }


def warn_staged(console: Console, found: StagedCheck, mode: str) -> None:
    """Nothing when there is nothing to say; else the earlier runs and what the mode does."""
    if not found.duplicates:
        return
    from gitlab_journal.run.summary import earlier_table

    count = len(found.duplicates)
    runs = sum(len(p.earlier) for p in found.duplicates)
    what = "experiment" if count == 1 else "experiments"
    console.print(
        f"[bold yellow]git journal:[/] {count} staged {what} of {found.spec} "
        f"{'was' if count == 1 else 'were'} already run from an earlier state of the "
        f"repository ({runs} run{'s' if runs != 1 else ''}):",
        highlight=False,
    )
    console.print(earlier_table(list(found.duplicates[:SHOWN])))
    if count > SHOWN:
        console.print(
            f"... and {count - SHOWN} more (`git journal check --staged --json` lists them all).",
            highlight=False,
            markup=False,
        )
    if mode == "block":
        console.print(
            "Commit refused (journal.hook.mode is block). The runs above hold these results; "
            "commit anyway with `git commit --no-verify`.",
            highlight=False,
            markup=False,
        )
    else:
        console.print(
            "Committing anyway (journal.hook.mode is warn; "
            "`git config journal.hook.mode block` refuses such commits).",
            highlight=False,
            markup=False,
        )
