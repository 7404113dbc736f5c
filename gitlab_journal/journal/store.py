"""The store: the only code that writes the journal branch.

Records are written with pygit2 plumbing (blobs, TreeBuilder, ``create_commit``) and never touch
HEAD, the index or the work tree. Each run is one commit whose parent is the previous tip; the
branch moves by compare-and-swap on the old tip, and a writer that loses the race rebuilds its
commit on the new tip and tries again. Nothing is ever rewritten.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pygit2

from gitlab_journal.errors import CheckFailed, JournalError, machine_fault
from gitlab_journal.journal import format as fmt
from gitlab_journal.journal import leaderboard, schema
from gitlab_journal.journal.records import Run
from gitlab_journal.journal.schema import InvalidRecord

if TYPE_CHECKING:  # both imported where used: a command that only reads runs never needs them
    from gitlab_journal.journal.changes import RunChange
    from gitlab_journal.journal.merge import Merged

DEFAULT_BRANCH = "journal"
CAS_ATTEMPTS = 200
STALE_LOCK_SECONDS = 10  # a ref lock this old was left by a writer that died
WRITER_LOCK = "writer.lock"  # under .git/journal: held (flock) while a writer moves the branch
TREE_MODE = pygit2.enums.FileMode.TREE
BLOB_MODE = pygit2.enums.FileMode.BLOB
# A tree entry names a folder when its object is a tree: `.type` is a plain int, several times
# cheaper to read than `.filemode` (an enum made for each entry), where every run is walked.
TREE_OBJECT = int(pygit2.enums.ObjectType.TREE)
BLOB_OBJECT = int(pygit2.enums.ObjectType.BLOB)
_FALLBACK_SIGNATURE = ("gitlab-journal", "journal@localhost")
# datasets/<data key>.json: a data set's meta-features, written once per data key.
DATASETS_DIR = "datasets"
TRAILER_DATASET = "Journal-Dataset"
_DATA_KEY = re.compile(r"^[0-9a-f]{32,64}(\.dir)?$")

# What ``Store._commit`` takes: the tip's tree in, the new root tree out.
BuildTree = Callable[[pygit2.Tree], pygit2.Oid]
# Where the journal at a commit holds each of some run ids: {id: run folder} for those it
# holds, or None when the answer is not at hand (then the tree is walked). The index knows it.
HeldIds = Callable[[pygit2.Oid, Sequence[str]], "dict[str, str] | None"]
HeldHere = Callable[[Sequence[str]], "dict[str, str] | None"]  # the same, at one commit
_VERIFIED_MAX = 4096  # leaderboard rows found as recorded, kept to skip looking again


def open_repository(path: str | Path = ".") -> pygit2.Repository:
    """The git repository containing ``path``, or a one-line error with a hint."""
    found = pygit2.discover_repository(str(path))
    if found is None:
        raise JournalError(
            f"not a git repository: {Path(path).resolve()}",
            hint="run this inside a git repository, or create one with `git init`",
        )
    return pygit2.Repository(found)


def back_off(attempt: int) -> None:
    """Wait a random moment before the next try to move the branch, longer after each lost
    race (at most 50 ms), so writers that collided do not collide again."""
    import random  # only when another writer moved the branch first

    time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 25)))


class Store:
    """The journal branch of one repository."""

    def __init__(self, repo: pygit2.Repository, branch: str | None = None):
        self.repo = repo
        if branch is None:
            try:
                branch = str(repo.config["journal.branch"])
            except KeyError:
                branch = DEFAULT_BRANCH
        if not pygit2.reference_is_valid_name(f"refs/heads/{branch}"):
            raise JournalError(
                f"{branch!r} is not a valid branch name for the journal",
                hint="fix it with `git config journal.branch NAME` (default: journal)",
            )
        self.branch = branch
        self.ref_name = f"refs/heads/{branch}"
        # The parsed leaderboard.json last read, by blob id: most records leave it as it is.
        self._board: tuple[pygit2.Oid, dict[str, Any]] | None = None
        # Leaderboard rows found to be recorded runs with their score: (fingerprint, id,
        # metric, score).
        self._verified: set[tuple[str, str, str, float]] = set()

    @classmethod
    def discover(cls, path: str | Path = ".", branch: str | None = None) -> Store:
        return cls(open_repository(path), branch)

    # -- where things are ------------------------------------------------------------------

    @property
    def git_dir(self) -> Path:
        return Path(self.repo.path)

    @property
    def workdir(self) -> Path | None:
        return Path(self.repo.workdir) if self.repo.workdir else None

    def objects_dir(self) -> Path:
        """Where the repository's objects are: ``<git dir>/objects``, or the main repository's
        in a linked worktree (whose own git dir names it in ``commondir``)."""
        try:
            common = (self.git_dir / "commondir").read_text().strip()
        except OSError:
            return self.git_dir / "objects"
        return (self.git_dir / common).resolve() / "objects"

    def cache_dir(self) -> Path:
        """``<git dir>/journal``: derived caches (index, hashes); never the source of truth."""
        path = self.git_dir / "journal"
        path.mkdir(exist_ok=True)
        return path

    # -- reading ---------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether there is a journal to read: the local branch, or a remote's (see
        :meth:`remote_journal`)."""
        return self.tip() is not None

    def local_tip(self) -> pygit2.Oid | None:
        ref = self.repo.references.get(self.ref_name)
        if ref is None:
            return None
        target = ref.resolve().target
        return target if isinstance(target, pygit2.Oid) else None

    def tip(self) -> pygit2.Oid | None:
        """The journal's tip: the local branch's, else (a fresh clone) the remote's."""
        local = self.local_tip()
        if local is not None:
            return local
        remote = self.remote_journal()
        return None if remote is None else self._target(remote)

    def remote_journals(self) -> dict[str, str]:
        """remote name -> its journal as `git fetch` keeps it (``refs/remotes/NAME/BRANCH``)."""
        out: dict[str, str] = {}
        for name in self.repo.remotes.names():
            ref = f"refs/remotes/{name}/{self.branch}"
            if name and ref in self.repo.references:
                out[name] = ref
        return out

    def remote_journal(self) -> str | None:
        """The remote-tracking journal a clone without a local one reads and starts from.

        One remote with a journal: its. Several: `git config journal.remote`, else the remote
        of the current branch's upstream; else an error naming them."""
        found = self.remote_journals()
        if len(found) <= 1:
            return next(iter(found.values()), None)
        for key in ("journal.remote", f"branch.{self._head_branch()}.remote"):
            try:
                chosen = str(self.repo.config[key])
            except (KeyError, ValueError):
                continue
            if chosen in found:
                return found[chosen]
        names = ", ".join(sorted(found))
        raise JournalError(
            f"no local journal, and several remotes have one ({names})",
            hint=f"choose one: `git config journal.remote {sorted(found)[0]}`, "
            "then `git journal sync`",
        )

    def _target(self, ref: str) -> pygit2.Oid | None:
        target = self.repo.references[ref].resolve().target
        return target if isinstance(target, pygit2.Oid) else None

    def _head_branch(self) -> str:
        try:
            head = self.repo.references["HEAD"].target
        except KeyError:
            return ""
        return str(head).removeprefix("refs/heads/")

    def _start_from_remote(self, remote_ref: str | None = None) -> bool:
        """Before the first write in a clone that has only a remote's journal: create the
        local branch from it (``remote_ref``, else :meth:`remote_journal`), tracking it, as
        `git switch BRANCH` would. Whether it created the branch."""
        if self.local_tip() is not None:
            return False
        remote_ref = remote_ref or self.remote_journal()
        target = None if remote_ref is None else self._target(remote_ref)
        if remote_ref is None or target is None:
            return False
        remote = remote_ref.removeprefix("refs/remotes/").removesuffix(f"/{self.branch}")
        try:
            self.repo.create_reference_direct(
                self.ref_name, target, False, message=f"branch: Created from {remote_ref}"
            )
        except pygit2.AlreadyExistsError:
            return False  # another writer started it meanwhile
        self.repo.config[f"branch.{self.branch}.remote"] = remote
        self.repo.config[f"branch.{self.branch}.merge"] = self.ref_name
        return True

    def require(self) -> pygit2.Commit:
        """The tip commit, its format checked; an error with a hint when there is no journal."""
        tip = self.tip()
        if tip is None:
            hint = "create it with `git journal init`"
            if self.repo.remotes.names():
                hint += "; if the team's journal is on a remote, `git fetch` brings it here"
            raise JournalError(f"no journal yet: branch '{self.branch}' does not exist", hint=hint)
        commit = self.repo[tip]
        if not isinstance(commit, pygit2.Commit):
            raise JournalError(f"'{self.branch}' does not point at a commit")
        fmt.check_format(blob_at(commit.tree, fmt.FORMAT_FILE))
        return commit

    def has(self, fingerprint: str, tree: pygit2.Tree | None = None) -> bool:
        """Has this experiment run? One tree lookup."""
        tree = tree if tree is not None else self.require().tree
        try:
            tree[fmt.fingerprint_dir(fingerprint, version=format_version(tree))]
        except KeyError:
            return False
        return True

    def find(self, fingerprint: str, tree: pygit2.Tree | None = None) -> list[Run]:
        """Every recorded run of one experiment, oldest first."""
        tree = tree if tree is not None else self.require().tree
        version = format_version(tree)
        try:
            fp_tree = _subtree(tree, fmt.fingerprint_dir(fingerprint, version=version))
        except KeyError:
            return []
        runs = []
        for name in _names(fp_tree, TREE_MODE):
            where = fmt.run_dir(fingerprint, name, version=version)
            try:
                runs.append(self._read_dir(_subtree(fp_tree, name), where, fingerprint, name))
            except InvalidRecord as exc:
                warn_invalid(exc)
        return sorted(runs, key=lambda r: (r.created, r.id))

    def run_paths(self, tree: pygit2.Tree | None = None) -> Iterator[RunPath]:
        """(fingerprint, run id, tree id) of every run, without reading any record."""
        tree = tree if tree is not None else self.require().tree
        runs = runs_tree(self.repo, tree)
        if runs is None:
            return
        levels = len(fmt.shard_widths(format_version(tree))) + 1  # shards, then the rest
        for _, fingerprint, folder in fingerprint_folders(runs, fmt.RUNS_DIR, "", levels):
            for run_id in _names(folder, TREE_MODE):
                yield RunPath(fingerprint, run_id, folder[run_id].id)

    def runs_added(self, old: pygit2.Tree | None, new: pygit2.Tree) -> Iterator[RunPath]:
        """The runs ``new`` has and ``old`` lacks (``old`` None: every run of ``new``), without
        reading any record; subtrees equal on both sides are skipped unread."""
        from gitlab_journal.journal.changes import ADDED, run_changes

        for change in run_changes(self.repo, old, new):
            if change.kind == ADDED and change.tree_id is not None:
                yield RunPath(change.fingerprint, change.run_id, change.tree_id)

    def read(self, fingerprint: str, run_id: str, tree: pygit2.Tree | None = None) -> Run:
        tree = tree if tree is not None else self.require().tree
        path = run_dir_in(tree, fingerprint, run_id)
        try:
            run_tree = _subtree(tree, path)
        except KeyError as exc:
            raise JournalError(f"no run {run_id} under {fingerprint[:12]}") from exc
        return self._read_dir(run_tree, path, fingerprint, run_id)

    def read_tree(
        self,
        tree_id: pygit2.Oid,
        where: str,
        fingerprint: str | None = None,
        run_id: str | None = None,
    ) -> Run:
        """The run in the folder ``tree_id``; with ``fingerprint`` and ``run_id`` (its path),
        checked against them too. A bad record is an :class:`InvalidRecord` naming ``where``."""
        obj = self.repo[tree_id]
        assert isinstance(obj, pygit2.Tree)
        return self._read_dir(obj, where, fingerprint, run_id)

    def file(
        self, fingerprint: str, run_id: str, name: str, tree: pygit2.Tree | None = None
    ) -> bytes | None:
        """The bytes of the file ``name`` (a path inside the run's folder) of one run, or None
        when the run has no such file."""
        tree = tree if tree is not None else self.require().tree
        try:
            entry = tree[f"{run_dir_in(tree, fingerprint, run_id)}/{name}"]
        except KeyError:
            return None
        if entry.type != BLOB_OBJECT:
            return None  # a folder, or a submodule entry (whose commit is not here)
        obj = self.repo[entry.id]
        return obj.data if isinstance(obj, pygit2.Blob) else None

    def files(self, run: Run, tree: pygit2.Tree | None = None) -> dict[str, bytes]:
        """Every file of a run's directory (records, history, plots), by name."""
        tree = tree if tree is not None else self.require().tree
        path = run_dir_in(tree, run.fingerprint, run.id)
        return _read_files(self.repo, _subtree(tree, path))

    def _read_dir(
        self,
        tree: pygit2.Tree,
        where: str,
        fingerprint: str | None = None,
        run_id: str | None = None,
    ) -> Run:
        files: dict[str, bytes] = {}
        for entry in tree:
            if entry.name in fmt.REQUIRED_FILES and entry.type == BLOB_OBJECT:
                obj = self.repo[entry.id]
                if isinstance(obj, pygit2.Blob):
                    files[entry.name] = obj.data
        return fmt.decode_run(files, where=where, fingerprint=fingerprint, run_id=run_id)

    def iter_runs(self, tree: pygit2.Tree | None = None) -> Iterator[Run]:
        """Every valid run; a bad record is skipped with one warning line naming it."""
        tree = tree if tree is not None else self.require().tree
        version = format_version(tree)
        for fingerprint, run_id, tree_id in self.run_paths(tree):
            where = fmt.run_dir(fingerprint, run_id, version=version)
            try:
                yield self.read_tree(tree_id, where, fingerprint, run_id)
            except InvalidRecord as exc:
                warn_invalid(exc)

    def invalid_runs(self, tree: pygit2.Tree | None = None) -> Iterator[InvalidRecord]:
        """Every run folder (and stray entry under ``runs/``) that fails the full check of
        :func:`format.validate_files`, every run id two folders hold, and every leaderboard
        row naming no run: what `git journal verify` lists."""
        tree = tree if tree is not None else self.require().tree
        yield from self.problems(None, tree)

    def problems(
        self,
        old: pygit2.Tree | None,
        new: pygit2.Tree,
        added: list[RunChange] | None = None,
        held: HeldHere | None = None,
        taken: Mapping[str, str] | None = None,
    ) -> Iterator[InvalidRecord]:
        """Why the journal tree ``new`` may not follow ``old`` (None: why ``new`` holds bad
        records): each run folder it adds or changes fails the full check (:meth:`check_change`),
        a run it adds has an id that another folder holds, or its ``leaderboard.json`` names a
        run it does not hold. ``added`` collects the runs ``new`` adds; ``held`` tells where
        ``old`` holds some run ids, when it can (see :data:`HeldIds`); ``taken``: run folder ->
        the ``code.committed`` a merge kept there over the one ``old`` holds (both journals
        set one; :func:`~gitlab_journal.journal.merge.merge_run_json`)."""
        from gitlab_journal.journal.changes import ADDED, run_changes

        arrived: list[RunChange] = []
        for change in run_changes(self.repo, old, new):
            problem = self.check_change(change, (taken or {}).get(change.path))
            if problem is not None:
                yield problem
            if change.kind == ADDED:
                arrived.append(change)
        if added is not None:
            added.extend(arrived)
        yield from self._reused_ids(old, arrived, held)
        problem = self._board_problem(old, new)
        if problem is not None:
            yield problem

    def check_change(self, change: RunChange, committed: str | None = None) -> InvalidRecord | None:
        """Why a run folder that arrived (added or changed) fails the full check, or None; a
        folder that changed may only gain what a journal adds to a recorded run (``committed``:
        or hold this ``code.committed`` in place of its own, where a merge kept the other
        side's)."""
        from gitlab_journal.journal.changes import REMOVED, STRAY, TWICE

        if change.kind == STRAY:
            return InvalidRecord(
                f"not inside a run directory ({fmt.layout(change.version)})", change.path
            )
        if change.kind == TWICE:
            return InvalidRecord("named twice in one folder", change.path)
        if change.kind == REMOVED:
            return InvalidRecord("this run is removed; a journal only grows", change.path)
        assert change.tree_id is not None
        obj = self.repo[change.tree_id]
        assert isinstance(obj, pygit2.Tree)
        try:
            files = _read_files_checked(self.repo, obj, change.path)
            before = self.repo[change.before] if change.before is not None else None
            if isinstance(before, pygit2.Tree):
                fmt.check_grown(
                    _read_files(self.repo, before), files, where=change.path, committed=committed
                )
            fmt.validate_files(
                files,
                fingerprint=change.fingerprint,
                run_id=change.run_id,
                where=change.path,
            )
        except InvalidRecord as exc:
            return exc
        return None

    def _reused_ids(
        self,
        old: pygit2.Tree | None,
        added: Sequence[RunChange],
        held: HeldHere | None = None,
    ) -> Iterator[InvalidRecord]:
        """The runs ``added`` whose id another run folder holds: of those added, or of
        ``old``: asked of ``held`` when it knows, else found by listing every fingerprint's
        folder of ``old`` (only when runs are added: 0.8 s for 100,000 runs, 3 s from a cold
        disk). Ids are how every command names a run: two folders of one id would hide one
        of them."""
        first: dict[str, RunChange] = {}
        for change in added:
            seen = first.setdefault(change.run_id, change)
            if seen is not change:
                yield _reused(change, seen.path)
        if old is None or not first:
            return
        known = held(list(first)) if held is not None else None
        if known is not None:
            # An added folder is new to ``old``, so any folder of its id there is another.
            for run_id, change in first.items():
                if run_id in known:
                    yield _reused(change, known[run_id])
            return
        runs = runs_tree(self.repo, old)
        if runs is None:
            return
        version = tree_format(old)
        levels = len(fmt.shard_widths(version)) + 1
        for _, fingerprint, folder in fingerprint_folders(runs, fmt.RUNS_DIR, "", levels):
            for entry in folder:
                if entry.type != TREE_OBJECT:
                    continue  # a stray file, not a run: readers skip it, and so does the index
                reuse = first.get(entry.name or "")
                if reuse is not None and reuse.fingerprint != fingerprint:
                    yield _reused(reuse, fmt.run_dir(fingerprint, reuse.run_id, version=version))

    def _board_problem(self, old: pygit2.Tree | None, new: pygit2.Tree) -> InvalidRecord | None:
        """A row of ``new``'s ``leaderboard.json`` (when it is not ``old``'s) that names no
        run of ``new``."""
        entry = tree_entries(new).get(leaderboard.LEADERBOARD_FILE)
        if entry is None or entry.type != BLOB_OBJECT:
            return None
        seen = tree_entries(old).get(leaderboard.LEADERBOARD_FILE)
        if seen is not None and seen.id == entry.id:
            return None
        version = tree_format(new)
        blob = self.repo[entry.id]
        assert isinstance(blob, pygit2.Blob)
        for family, row in leaderboard.rows(leaderboard.load(blob.data)):
            fingerprint, run_id = row["fingerprint"], row["id"]
            if fmt.is_fingerprint(fingerprint) and fmt.is_run_id(run_id):
                try:
                    _subtree(new, fmt.run_dir(fingerprint, run_id, version=version))
                    continue
                except KeyError:
                    pass
            shown = run_id if fmt.is_run_id(run_id) else repr(run_id)
            return InvalidRecord(
                f"its row of run {shown} in family {family!r} names no run of the journal",
                leaderboard.LEADERBOARD_FILE,
            )
        return None

    def misnamed_run(self, tip: pygit2.Oid, hide: pygit2.Oid | None = None) -> InvalidRecord | None:
        """A commit of ``tip``'s history (less ``hide``'s) that adds runs but names in a
        ``Journal-Run`` trailer (what `git journal show COMMIT` shows) a run it neither adds
        nor changes. A commit whose trailers pair each run with its fingerprint (as every
        record, note and reproduction does) is decided by looking up those runs alone."""
        from gitlab_journal.journal.changes import ADDED, CHANGED, run_changes

        walker = self.repo.walk(tip, pygit2.enums.SortMode.TOPOLOGICAL)
        if hide is not None:
            walker.hide(hide)
        for commit in walker:
            message = commit.message
            named = fmt.trailer_runs(message)
            if not named:
                continue
            parent = commit.parents[0].tree if commit.parents else None
            after = tree_entries(commit.tree).get(fmt.RUNS_DIR)
            before = tree_entries(parent).get(fmt.RUNS_DIR)
            if after is None or (before is not None and before.id == after.id):
                continue  # no run added: a note that changed nothing, say
            if self._touches_named(commit.tree, parent, named, fmt.trailer_fingerprints(message)):
                continue
            touched: set[str] = set()
            adds: list[str] = []
            for change in run_changes(self.repo, parent, commit.tree):
                if change.kind in (ADDED, CHANGED):
                    touched.add(change.run_id)
                if change.kind == ADDED:
                    adds.append(change.run_id)
            other = next((run_id for run_id in named if run_id not in touched), None)
            if adds and other is not None:
                shown = other if fmt.is_run_id(other) else repr(other)
                return InvalidRecord(
                    f"commit {str(commit.id)[:10]} adds run {', '.join(adds)} but its trailer "
                    f"`{fmt.TRAILER_RUN}: {shown}` names another run",
                    hint="a journal commit names the runs it adds: record runs with gitlab-journal",
                )
        return None

    def _touches_named(
        self,
        tree: pygit2.Tree,
        parent: pygit2.Tree | None,
        named: Sequence[str],
        fingerprints: Sequence[str],
    ) -> bool:
        """Whether each run ``named``, with its fingerprint from ``fingerprints`` (one each,
        in order), is one ``tree`` adds or changes from ``parent``; False when unsure."""
        if len(fingerprints) != len(named):
            return False
        version = tree_format(tree)
        for fingerprint, run_id in zip(fingerprints, named, strict=True):
            if not (fmt.is_fingerprint(fingerprint) and fmt.is_run_id(run_id)):
                return False
            path = fmt.run_dir(fingerprint, run_id, version=version)
            try:
                now = tree[path]
            except KeyError:
                return False
            try:
                was: pygit2.Object | None = parent[path] if parent is not None else None
            except KeyError:
                was = None
            if was is not None and was.id == now.id:
                return False
        return True

    def commit_of(self, run: Run) -> str | None:
        """The journal commit that recorded ``run`` (its ``Journal-Run`` trailer), newest first."""
        tip = self.tip()
        if tip is None:
            return None
        needle = f"\n{fmt.TRAILER_RUN}: {run.id}\n"
        for commit in self.repo.walk(tip, pygit2.enums.SortMode.TOPOLOGICAL):
            if needle in "\n" + commit.message:
                return str(commit.id)
        return None

    # -- writing ---------------------------------------------------------------------------

    def signature(self) -> pygit2.Signature:
        try:
            return self.repo.default_signature
        except (KeyError, pygit2.GitError):
            name = os.environ.get("GIT_COMMITTER_NAME", _FALLBACK_SIGNATURE[0])
            email = os.environ.get("GIT_COMMITTER_EMAIL", _FALLBACK_SIGNATURE[1])
            return pygit2.Signature(name, email)

    def init(self, version: int = fmt.FORMAT_VERSION) -> bool:
        """Create the orphan journal branch (in format ``version``). False if it already exists
        (here, or on a remote: then the local branch starts from the remote's)."""
        if self.exists():
            self.require()
            self._start_from_remote()
            return False
        tree = self.repo.TreeBuilder()
        tree.insert(fmt.FORMAT_FILE, self.repo.create_blob(fmt.format_text(version)), BLOB_MODE)
        readme = fmt.readme_text(version).encode()
        tree.insert(fmt.README_FILE, self.repo.create_blob(readme), BLOB_MODE)
        sig = self.signature()
        commit = self.repo.create_commit(
            None, sig, sig, "Start the experiment journal\n", tree.write(), []
        )
        try:
            self.repo.create_reference_direct(self.ref_name, commit, False, message="journal: init")
        except pygit2.AlreadyExistsError:
            self.require()
            return False
        return True

    def record(self, run: Run, extra_files: Mapping[str, bytes] | None = None) -> Run:
        """Commit one run (its records and any extra files) on top of the journal's tip."""
        build, message = self.recording(run, extra_files)
        commit = self._commit(build, message)
        return run.with_commit(str(commit))

    def recording(
        self, run: Run, extra_files: Mapping[str, bytes] | None = None
    ) -> tuple[BuildTree, str]:
        """What recording ``run`` writes: the tree on a tip's tree (refused when the run is
        there already), and the commit message. The records are encoded and checked here, so
        a record the schema refuses is refused before anything is written."""
        fmt.check_run_id(run.id)
        files = dict(extra_files or {})
        files.update(fmt.encode_run(run))
        message = fmt.commit_message(run)

        def build(tree: pygit2.Tree) -> pygit2.Oid:
            path = run_dir_in(tree, run.fingerprint, run.id)
            try:
                _subtree(tree, path)
            except KeyError:
                pass
            else:
                raise CheckFailed(f"run {run.id} is already recorded")
            doc = self._leaderboard(tree)
            board = leaderboard.files_after(doc, run, format_version(tree))
            if board is not None:
                self._board = None  # changed in place: not the blob's document any more
            leaf = _write_files(self.repo, files)
            return _insert(self.repo, tree, path.split("/"), leaf, top_files=board)

        return build, message

    def _leaderboard(self, tree: pygit2.Tree) -> dict[str, Any]:
        """The tree's parsed ``leaderboard.json`` (kept while its blob stays the same), with
        only the rows of runs the tree holds with that score."""
        try:
            obj = tree[leaderboard.LEADERBOARD_FILE]
        except KeyError:
            return leaderboard.empty()
        if self._board is not None and self._board[0] == obj.id:
            return self._board[1]
        doc = leaderboard.load(obj.data if isinstance(obj, pygit2.Blob) else None)
        leaderboard.keep_rows(doc, self._recorded_row(tree))
        self._board = (obj.id, doc)
        return doc

    def _recorded_row(self, tree: pygit2.Tree) -> leaderboard.KeepRow:
        """Whether a leaderboard row (of a family ranked by ``metric``) names a run of
        ``tree`` that recorded its score: one look at the run's ``metrics.json`` (once per
        row and store)."""
        version = format_version(tree)

        def keep(metric: str, row: Mapping[str, Any]) -> bool:
            fingerprint, run_id, score = row["fingerprint"], row["id"], row["score"]
            key = (fingerprint, run_id, metric, score)
            if key in self._verified:
                return True
            if not (fmt.is_fingerprint(fingerprint) and fmt.is_run_id(run_id)):
                return False
            path = f"{fmt.run_dir(fingerprint, run_id, version=version)}/{fmt.METRICS_FILE}"
            metrics = _json_doc(blob_at(tree, path))
            value = None if metrics is None else metrics.get(metric)
            try:
                recorded = bool(schema.number(value, metric) == score)
            except (InvalidRecord, TypeError):
                recorded = False
            if recorded:
                if len(self._verified) >= _VERIFIED_MAX:
                    self._verified.clear()
                self._verified.add(key)
            return recorded

        return keep

    def update_run(self, run: Run, message: str, files: Mapping[str, bytes] | None = None) -> str:
        """Rewrite a recorded run's ``run.json`` and ``metrics.json`` from ``run`` (and add
        ``files``) in one commit whose message is ``message`` ended with the run's trailers; the
        leaderboard follows the run's new metrics and status."""
        records = fmt.encode_run(run)
        written = {name: records[name] for name in (fmt.RUN_FILE, fmt.METRICS_FILE)}
        written.update(files or {})

        def build(tree: pygit2.Tree) -> pygit2.Oid:
            path = run_dir_in(tree, run.fingerprint, run.id)
            folder = _subtree(tree, path)
            try:
                before: Run | None = self._read_dir(folder, path, run.fingerprint, run.id)
            except InvalidRecord:
                before = None
            current = _read_files(self.repo, folder)
            current.update(written)
            board = leaderboard.replaced_files(
                blob_at(tree, leaderboard.LEADERBOARD_FILE),
                before,
                run,
                format_version(tree),
                self._recorded_row(tree),
            )
            leaf = _write_files(self.repo, current)
            return _insert(self.repo, tree, path.split("/"), leaf, top_files=board)

        return str(self._commit(build, fmt.update_message(message, [run])))

    def update_run_records(
        self, runs: Sequence[Run], message: str, *, first: Sequence[str] = ()
    ) -> str:
        """Rewrite several recorded runs' ``run.json`` in one commit, its message ended with
        ``first`` and each run's ``Journal-Run`` trailer."""
        updates = {
            (run.fingerprint, run.id): {fmt.RUN_FILE: fmt.encode_run(run)[fmt.RUN_FILE]}
            for run in runs
        }
        text = fmt.update_message(message, runs, fingerprints=False, first=first)
        return self.update_runs(updates, text)

    def update_runs(
        self, updates: Mapping[tuple[str, str], Mapping[str, bytes]], message: str
    ) -> str:
        """One commit that adds or replaces files in several recorded runs' directories:
        ``updates`` maps a run's (fingerprint, run id) to its new files. A run that is not in
        the journal is an error; nothing is written then."""

        def build(tree: pygit2.Tree) -> pygit2.Oid:
            root = tree.id
            version = format_version(tree)
            for (fingerprint, run_id), files in updates.items():
                path = fmt.run_dir(fingerprint, run_id, version=version)
                current_root = self.repo[root]
                assert isinstance(current_root, pygit2.Tree)
                try:
                    current = _read_files(self.repo, _subtree(current_root, path))
                except KeyError as exc:
                    raise JournalError(f"no run at {path} in the journal") from exc
                current.update(files)
                root = _insert(
                    self.repo, current_root, path.split("/"), _write_files(self.repo, current)
                )
            return root

        return str(self._commit(build, message))

    # -- data sets ---------------------------------------------------------------------------

    def record_dataset(self, key: str, doc: Mapping[str, Any], summary: str = "") -> bool:
        """Commit ``datasets/<key>.json`` (a data set's meta-features) unless the journal holds
        it already: once per data key. False when it was there (nothing written)."""
        if not _DATA_KEY.match(key):
            raise JournalError(f"not a data key: {key!r}")
        path = f"{DATASETS_DIR}/{key}.json"
        blob = (json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()
        title = f"Describe data set {key[:12]}" + (f": {summary}" if summary else "")
        message = f"{title}\n\n{TRAILER_DATASET}: {key}\n"

        def build(tree: pygit2.Tree) -> pygit2.Oid:
            if blob_at(tree, path) is not None:
                raise _AlreadyRecorded(path)
            try:
                folder: pygit2.Tree | None = _subtree(tree, DATASETS_DIR)
            except KeyError:
                folder = None
            builder = (
                self.repo.TreeBuilder(folder) if folder is not None else self.repo.TreeBuilder()
            )
            builder.insert(f"{key}.json", self.repo.create_blob(blob), BLOB_MODE)
            root = self.repo.TreeBuilder(tree)
            root.insert(DATASETS_DIR, builder.write(), TREE_MODE)
            return root.write()

        try:
            self._commit(build, message)
        except _AlreadyRecorded:
            return False
        return True

    def dataset(self, key: str, tree: pygit2.Tree | None = None) -> dict[str, Any] | None:
        """The recorded meta-features of one data key, or None."""
        tree = tree if tree is not None else self.require().tree
        return _json_doc(blob_at(tree, f"{DATASETS_DIR}/{key}.json"))

    def datasets(self, tree: pygit2.Tree | None = None) -> dict[str, dict[str, Any]]:
        """Every described data set: data key -> its meta-features (unreadable files skipped)."""
        tree = tree if tree is not None else self.require().tree
        try:
            folder = _subtree(tree, DATASETS_DIR)
        except KeyError:
            return {}
        out: dict[str, dict[str, Any]] = {}
        for name in _names(folder, BLOB_MODE):
            doc = _json_doc(blob_at(folder, name))
            if name.endswith(".json") and doc is not None:
                out[name.removesuffix(".json")] = doc
        return out

    # -- merging another clone's journal -------------------------------------------------------

    def merge(
        self,
        other_tip: pygit2.Oid | str,
        *,
        message: str | None = None,
        held_ids: HeldIds | None = None,
    ) -> Merged:
        """Merge another journal (a fetched tip) into this one.

        The merged tree is the union of both trees: every run lives under its own path, so runs
        recorded on either side are all kept, a run present on both sides is kept once, and two
        runs of one fingerprint made on two machines sit side by side as repeats. A file both
        sides changed (a note added to one run on two machines) is resolved against its version
        in the two journals' merge base, the same way whichever side merges, but for a
        ``code.committed`` both set: the other side's, already published, is kept and the merge
        names the one dropped. Incoming runs are validated before anything is written
        (``held_ids``, the index's, saves listing every run of this side to find a reused run
        id). The branch moves by compare-and-swap: fast-forward when this side has nothing new,
        a merge commit otherwise (the trees' union is :mod:`~gitlab_journal.journal.merge`'s).
        """
        from gitlab_journal.journal.merge import (
            Merged,
            merged_leaderboard,
            mixed_formats,
            union,
        )

        other_id = pygit2.Oid(hex=str(other_tip)) if isinstance(other_tip, str) else other_tip
        other = self.repo.get(other_id)
        if not isinstance(other, pygit2.Commit):
            raise JournalError(f"cannot merge {other_id}: not a commit")
        theirs = format_version(other.tree)
        if self.local_tip() is None:
            incoming = self._validated_new_runs(None, other.tree)
            # A fresh clone: start from the remote's journal being merged, tracking it.
            same = [r for r in self.remote_journals().values() if self._target(r) == other.id]
            if same:
                created = self._start_from_remote(same[0])
            else:
                try:
                    self.repo.create_reference_direct(
                        self.ref_name, other.id, False, message="journal: from another clone"
                    )
                except pygit2.AlreadyExistsError:
                    created = False  # created meanwhile: merge into it below
                else:
                    created = True
            if created:
                return Merged("created", str(other.id), incoming=incoming)
        sig = self.signature()
        for attempt in range(CAS_ATTEMPTS):
            tip_commit = self.require()
            ref = self.repo.lookup_reference(self.ref_name)
            if ref.target != tip_commit.id:
                continue
            tip = tip_commit.id
            if tip == other.id or self.repo.descendant_of(tip, other.id):
                return Merged("up-to-date", str(tip))
            base_id = self.repo.merge_base(tip, other.id)
            ours = format_version(tip_commit.tree)
            if ours != theirs and (base_id != tip or theirs < ours):
                raise mixed_formats(ours, theirs)  # (a fast-forward may only go forward)
            base = self.repo[base_id].tree if base_id is not None else None
            resolved: list[str] = []
            taken: dict[str, str] = {}  # run folder -> the other side's code.committed, kept
            if ours != theirs:
                # A fast-forward to a migrated journal: its tree is the merge (a union would
                # keep every run folder at its old place too, beside the one it moved to).
                tree_id = other.tree.id
            else:
                tree_id = union(self.repo, base, tip_commit.tree, other.tree, "", resolved, taken)
                joined = self.repo[tree_id]
                assert isinstance(joined, pygit2.Tree)
                board = merged_leaderboard(
                    base, tip_commit.tree, other.tree, self._recorded_row(joined)
                )
                if board is not None:
                    tree_id = _replace_root_files(self.repo, tree_id, board)
                    resolved = [r for r in resolved if r.split(":")[0] not in board]
            merged = self.repo[tree_id]
            assert isinstance(merged, pygit2.Tree)
            held = None if held_ids is None else functools.partial(held_ids, tip)
            incoming = self._validated_new_runs(
                tip_commit.tree, merged, (other.id, tip), held, taken
            )
            outgoing = sum(1 for _ in self.runs_added(other.tree, merged))
            if base_id == tip and tree_id == other.tree.id:
                kind, new = "fast-forward", other.id
            else:
                text = (message or "Merge another clone's journal").rstrip("\n") + "\n"
                if resolved:
                    text += "\nBoth sides changed:\n" + "".join(f"- {r}\n" for r in resolved)
                kind = "merge"
                new = self.repo.create_commit(None, sig, sig, text, tree_id, [tip, other.id])
            if not self._move(ref, new, f"journal: {kind} {str(other.id)[:12]}"):
                back_off(attempt)
                continue
            return Merged(kind, str(new), incoming, outgoing, tuple(resolved))
        raise self._gave_up()

    def _validated_new_runs(
        self,
        old: pygit2.Tree | None,
        new: pygit2.Tree,
        commits: tuple[pygit2.Oid, pygit2.Oid | None] | None = None,
        held: HeldHere | None = None,
        taken: Mapping[str, str] | None = None,
    ) -> int:
        """How many runs ``new`` has that ``old`` lacks. Every run folder ``new`` adds or
        changes gets the full check first (:meth:`problems`; ``taken``: the merge's
        ``code.committed`` kept over this side's), and with ``commits`` (the other tip, this
        one) every commit that brings them names the runs it adds (:meth:`misnamed_run`): a
        bad one refuses the whole merge, naming it."""
        added: list[RunChange] = []
        problem = next(self.problems(old, new, added, held, taken), None)
        if problem is None and commits is not None:
            problem = self.misnamed_run(*commits)
        if problem is not None:
            raise CheckFailed(
                f"refusing to merge a bad record: {problem.message}",
                hint="nothing was merged; "
                + (problem.hint or "`git journal verify` on the other clone lists its bad records"),
            )
        return len(added)

    def _move(self, ref: pygit2.Reference, target: pygit2.Oid, log_message: str) -> bool:
        """Move the branch to ``target``; False when another writer moved it or holds its lock.

        Writers move the branch holding an ``flock`` on ``.git/journal/writer.lock``, which the
        kernel releases when a writer dies. So a ref lock older than ``STALE_LOCK_SECONDS``
        found while holding it was left by a writer killed in the middle of an update (libgit2
        writes ``<ref>.lock``, then renames it): it is removed and the next attempt goes on.
        """
        with self._writer_lock():
            return self._set_target(ref, target, log_message)

    def _set_target(self, ref: pygit2.Reference, target: pygit2.Oid, log_message: str) -> bool:
        """``_move``'s step, the writer lock held: False when the branch moved or a ref lock
        stood in the way (a stale one is removed)."""
        try:
            ref.set_target(target, log_message)
        except (pygit2.GitError, OSError) as exc:
            fault: Exception | None = machine_fault(exc)
            if fault is None and not self.holds(target):
                fault = self._write_fault()  # libgit2 lost an object write
            if fault is not None:  # a full disk is not another writer: say so
                raise fault from exc
            lock = self.git_dir / f"{self.ref_name}.lock"
            try:
                if time.time() - lock.stat().st_mtime > STALE_LOCK_SECONDS:
                    lock.unlink()
            except FileNotFoundError:
                pass
            return False
        return True

    @contextlib.contextmanager
    def _writer_lock(self) -> Iterator[None]:
        """Held while the branch moves (``_move``), or for a whole rewrite (``rewrite``)."""
        with open(self.cache_dir() / WRITER_LOCK, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def rewrite(self, build: BuildTree, message: str) -> pygit2.Oid:
        """Build a new tree from the tip and commit it, holding the writer lock throughout, so a
        long rewrite of the whole tree (a migration) is not overtaken by records: they wait,
        then land on top of it. A branch moved by a writer that takes no lock (plain git) is an
        error; nothing is written then."""
        self._start_from_remote()
        sig = self.signature()
        with self._writer_lock():
            tip_commit = self.require()
            ref = self.repo.lookup_reference(self.ref_name)
            new_tree = build(tip_commit.tree)
            commit = self.repo.create_commit(None, sig, sig, message, new_tree, [tip_commit.id])
            if not self._set_target(ref, commit, f"journal: {message.splitlines()[0]}"):
                raise CheckFailed(
                    f"could not move '{self.branch}' at the end of the rewrite",
                    hint="a git command moved it meanwhile, or a crashed one had left its lock "
                    "(removed if stale); run it again; nothing was written",
                )
            return commit

    def holds(self, oid: pygit2.Oid) -> bool:
        """Whether the repository holds the object ``oid`` (asked by reading its header, as
        libgit2 checks what a tree or a commit names: a batch's writer answers that truly)."""
        try:
            self.repo.odb.read_header(oid)
        except KeyError:
            return False
        return True

    def _write_fault(self) -> Exception:
        """Why objects just written are missing: the OSError a probe write into
        ``.git/objects`` meets (a full disk, say), else an input error saying what is known."""
        probe = self.objects_dir() / f".journal-probe-{os.getpid()}"
        try:
            with open(probe, "wb") as handle:
                handle.write(b"\0" * 65536)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            return exc
        finally:
            probe.unlink(missing_ok=True)
        return JournalError(
            f"the journal's new objects could not be written to {self.git_dir / 'objects'}",
            hint="check the disk and the repository's permissions; nothing was recorded",
        )

    def _gave_up(self) -> JournalError:
        """Why the branch could not be moved: other writers, or a lock a crashed one left."""
        lock = self.git_dir / f"{self.ref_name}.lock"
        if lock.exists() and time.time() - lock.stat().st_mtime > STALE_LOCK_SECONDS:
            return CheckFailed(
                f"could not update '{self.branch}': {lock} exists and is "
                f"{time.time() - lock.stat().st_mtime:.0f}s old",
                hint="a git process that crashed left it: if none is running here, delete it; "
                "nothing was written",
            )
        return CheckFailed(
            f"could not update '{self.branch}': other writers kept moving it",
            hint="try again; nothing was written",
        )

    def _commit(self, build: BuildTree, message: str) -> pygit2.Oid:
        """Build a tree on the current tip and move the branch by compare-and-swap, retrying."""
        self._start_from_remote()
        sig = self.signature()
        for attempt in range(CAS_ATTEMPTS):
            tip_commit = self.require()
            ref = self.repo.lookup_reference(self.ref_name)
            if ref.target != tip_commit.id:
                continue  # moved between the two reads: start again
            new_tree = build(tip_commit.tree)
            commit = self.repo.create_commit(None, sig, sig, message, new_tree, [tip_commit.id])
            if not self._move(ref, commit, f"journal: {message.splitlines()[0]}"):
                # Another writer moved the branch (or holds its lock): rebuild on the new tip.
                back_off(attempt)
                continue
            return commit
        raise self._gave_up()


class _AlreadyRecorded(Exception):
    """Raised inside a tree builder: what it would write is on the tip already."""


def _json_doc(blob: bytes | None) -> dict[str, Any] | None:
    if blob is None:
        return None
    try:
        doc = json.loads(blob)
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def tree_entries(tree: pygit2.Tree | None) -> dict[str, pygit2.Object]:
    return {e.name: e for e in tree or () if e.name is not None}


# The blob ids of the FORMAT files this package writes: a tree's version without a read.
_FORMAT_BLOBS = {pygit2.hash(fmt.format_text(v)): v for v in fmt.FORMAT_VERSIONS}


def format_version(tree: pygit2.Tree) -> int:
    """The format version of a journal tree (its FORMAT file); an error when it has none or
    one this package cannot read."""
    try:
        obj = tree[fmt.FORMAT_FILE]
    except KeyError:
        return fmt.check_format(None)
    known = _FORMAT_BLOBS.get(obj.id)
    if known is not None:
        return known
    return fmt.check_format(obj.data if isinstance(obj, pygit2.Blob) else None)


def run_dir_in(tree: pygit2.Tree, fingerprint: str, run_id: str) -> str:
    """Where a run's folder is in this journal tree (its format decides)."""
    return fmt.run_dir(fingerprint, run_id, version=format_version(tree))


class RunPath(NamedTuple):
    """Where one run sits: ``runs/<fingerprint[:2]>/<fingerprint[2:]>/<run_id>`` (tree_id)."""

    fingerprint: str
    run_id: str
    tree_id: pygit2.Oid


def tree_format(tree: pygit2.Tree) -> int:
    """The tree's format version; the current one when it has no readable FORMAT (whoever
    reads the tree says so)."""
    try:
        return format_version(tree)
    except JournalError:
        return fmt.FORMAT_VERSION


def fingerprint_folders(
    folder: pygit2.Tree, path: str, prefix: str, levels: int
) -> Iterator[tuple[str, str, pygit2.Tree]]:
    """(path, fingerprint, tree) of each fingerprint's folder ``levels`` below ``folder`` (at
    ``path``, the fingerprint's first ``prefix`` characters above it)."""
    for sub in folder:
        if sub.type != TREE_OBJECT or sub.name is None:
            continue
        assert isinstance(sub, pygit2.Tree)
        where, text = f"{path}/{sub.name}", prefix + sub.name
        if levels == 1:
            yield where, text, sub
        else:
            yield from fingerprint_folders(sub, where, text, levels - 1)


def runs_tree(repo: pygit2.Repository, tree: pygit2.Tree | None) -> pygit2.Tree | None:
    """The tree's ``runs/`` folder, if it has one."""
    entry = tree_entries(tree).get(fmt.RUNS_DIR)
    found = repo[entry.id] if entry is not None and entry.filemode == TREE_MODE else None
    assert found is None or isinstance(found, pygit2.Tree)
    return found


def _reused(change: RunChange, other: str) -> InvalidRecord:
    return InvalidRecord(
        f"run id {change.run_id} is the id of the run at {other} already; "
        "a run id names one run of a journal",
        change.path,
    )


_warned: set[str] = set()


def warn_invalid(problem: InvalidRecord) -> None:
    """One line on stderr for a bad record a reader skipped, once per record and process."""
    key = problem.message
    if key in _warned:
        return
    _warned.add(key)
    print(f"warning: skipped {problem.message}", file=sys.stderr)


def _subtree(tree: pygit2.Tree, path: str) -> pygit2.Tree:
    obj = tree[path]
    if not isinstance(obj, pygit2.Tree):
        raise KeyError(path)
    return obj


def _names(tree: pygit2.Tree, mode: int) -> list[str]:
    """Names of the entries of ``tree`` with filemode ``mode``."""
    return [entry.name for entry in tree if entry.filemode == mode and entry.name is not None]


def blob_at(tree: pygit2.Tree, name: str) -> bytes | None:
    try:
        obj = tree[name]
    except KeyError:
        return None
    return obj.data if isinstance(obj, pygit2.Blob) else None


_MAX_FOLDER_DEPTH = 16


def _read_files_checked(repo: pygit2.Repository, tree: pygit2.Tree, where: str) -> dict[str, bytes]:
    """Every file of a run's folder, its entries checked (:func:`schema.check_folder_entries`:
    no name twice, no submodule)."""
    try:
        return _read_files(repo, tree, strict=True)
    except InvalidRecord as exc:
        raise InvalidRecord(f"invalid run record: {exc.problem}", where) from exc


def _read_files(
    repo: pygit2.Repository,
    tree: pygit2.Tree,
    depth: int = 0,
    *,
    strict: bool = False,
    prefix: str = "",
) -> dict[str, bytes]:
    """Every file of a folder by path; a submodule entry is skipped (``strict``: refused,
    as a name held twice is)."""
    if depth > _MAX_FOLDER_DEPTH:
        raise InvalidRecord(f"folders nest deeper than {_MAX_FOLDER_DEPTH} levels")
    if strict:
        schema.check_folder_entries(
            (prefix + entry.name, entry.type_str) for entry in tree if entry.name is not None
        )
    out: dict[str, bytes] = {}
    for entry in tree:
        if entry.name is None or entry.type not in (BLOB_OBJECT, TREE_OBJECT):
            continue
        obj = repo[entry.id]
        if isinstance(obj, pygit2.Blob):
            out[entry.name] = obj.data
        elif isinstance(obj, pygit2.Tree):
            inner = _read_files(repo, obj, depth + 1, strict=strict, prefix=f"{entry.name}/")
            for name, data in inner.items():
                out[f"{entry.name}/{name}"] = data
    return out


def _write_files(repo: pygit2.Repository, files: Mapping[str, bytes]) -> pygit2.Oid:
    """A tree of ``files`` (names may hold '/' for subfolders)."""
    top: dict[str, bytes] = {}
    sub: dict[str, dict[str, bytes]] = {}
    for name, data in files.items():
        head, sep, rest = name.partition("/")
        if sep:
            sub.setdefault(head, {})[rest] = data
        else:
            top[name] = data
    builder = repo.TreeBuilder()
    for name, data in top.items():
        builder.insert(name, repo.create_blob(data), BLOB_MODE)
    for name, inner in sub.items():
        builder.insert(name, _write_files(repo, inner), TREE_MODE)
    return builder.write()


def _replace_root_files(
    repo: pygit2.Repository, root: pygit2.Oid, files: Mapping[str, bytes]
) -> pygit2.Oid:
    """A copy of the tree ``root`` with ``files`` (plain names) added or replaced at its top."""
    tree = repo[root]
    assert isinstance(tree, pygit2.Tree)
    builder = repo.TreeBuilder(tree)
    for name, data in files.items():
        builder.insert(name, repo.create_blob(data), BLOB_MODE)
    return builder.write()


def _insert(
    repo: pygit2.Repository,
    base: pygit2.Tree | None,
    parts: list[str],
    leaf: pygit2.Oid,
    *,
    top_files: Mapping[str, bytes] | None = None,
) -> pygit2.Oid:
    """A copy of ``base`` with the tree ``leaf`` at ``parts``, and ``top_files`` (plain names)
    added or replaced beside it at the top: only the path's trees are new, each written once."""
    builder = repo.TreeBuilder(base) if base is not None else repo.TreeBuilder()
    for name, data in (top_files or {}).items():
        builder.insert(name, repo.create_blob(data), BLOB_MODE)
    head = parts[0]
    if len(parts) == 1:
        builder.insert(head, leaf, TREE_MODE)
    else:
        child: pygit2.Tree | None = None
        if base is not None:
            try:
                child = _subtree(base, head)
            except KeyError:
                child = None
        builder.insert(head, _insert(repo, child, parts[1:], leaf), TREE_MODE)
    return builder.write()
