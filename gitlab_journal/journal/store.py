"""The store: the only code that writes the journal branch.

Records are written with pygit2 plumbing (blobs, TreeBuilder, ``create_commit``) and never touch
HEAD, the index or the work tree. Each run is one commit whose parent is the previous tip; the
branch moves by compare-and-swap on the old tip, and a writer that loses the race rebuilds its
commit on the new tip and tries again. Nothing is ever rewritten.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pygit2

from gitlab_journal.errors import JournalError
from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.records import Run

DEFAULT_BRANCH = "journal"
CAS_ATTEMPTS = 200
_TREE = pygit2.enums.FileMode.TREE
_BLOB = pygit2.enums.FileMode.BLOB
_FALLBACK_SIGNATURE = ("gitlab-journal", "journal@localhost")

# What ``Store._commit`` takes: the tip's tree in, the new root tree out.
BuildTree = Callable[[pygit2.Tree], pygit2.Oid]


def open_repository(path: str | Path = ".") -> pygit2.Repository:
    """The git repository containing ``path``, or a one-line error with a hint."""
    found = pygit2.discover_repository(str(path))
    if found is None:
        raise JournalError(
            f"not a git repository: {Path(path).resolve()}",
            hint="run this inside a git repository, or create one with `git init`",
        )
    return pygit2.Repository(found)


class Store:
    """The journal branch of one repository."""

    def __init__(self, repo: pygit2.Repository, branch: str | None = None):
        self.repo = repo
        if branch is None:
            try:
                branch = str(repo.config["journal.branch"])
            except KeyError:
                branch = DEFAULT_BRANCH
        self.branch = branch
        self.ref_name = f"refs/heads/{branch}"

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

    def cache_dir(self) -> Path:
        """``<git dir>/journal``: derived caches (index, hashes); never the source of truth."""
        path = self.git_dir / "journal"
        path.mkdir(exist_ok=True)
        return path

    # -- reading ---------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.ref_name in self.repo.references

    def tip(self) -> pygit2.Oid | None:
        ref = self.repo.references.get(self.ref_name)
        if ref is None:
            return None
        target = ref.resolve().target
        return target if isinstance(target, pygit2.Oid) else None

    def require(self) -> pygit2.Commit:
        """The tip commit, its format checked; an error with a hint when there is no journal."""
        tip = self.tip()
        if tip is None:
            raise JournalError(
                f"no journal yet: branch '{self.branch}' does not exist",
                hint="create it with `git journal init`",
            )
        commit = self.repo[tip]
        if not isinstance(commit, pygit2.Commit):
            raise JournalError(f"'{self.branch}' does not point at a commit")
        fmt.check_format(_blob_at(commit.tree, fmt.FORMAT_FILE))
        return commit

    def has(self, fingerprint: str, tree: pygit2.Tree | None = None) -> bool:
        """Has this experiment run? One tree lookup."""
        tree = tree if tree is not None else self.require().tree
        try:
            tree[fmt.fingerprint_dir(fingerprint)]
        except KeyError:
            return False
        return True

    def find(self, fingerprint: str, tree: pygit2.Tree | None = None) -> list[Run]:
        """Every recorded run of one experiment, oldest first."""
        tree = tree if tree is not None else self.require().tree
        try:
            fp_tree = _subtree(tree, fmt.fingerprint_dir(fingerprint))
        except KeyError:
            return []
        runs = [
            self._read_dir(_subtree(fp_tree, name), f"{fingerprint[:12]}/{name}")
            for name in _names(fp_tree, _TREE)
        ]
        return sorted(runs, key=lambda r: (r.created, r.id))

    def run_paths(self, tree: pygit2.Tree | None = None) -> Iterator[tuple[str, str, pygit2.Oid]]:
        """(fingerprint, run id, tree id) of every run, without reading any record."""
        tree = tree if tree is not None else self.require().tree
        try:
            runs = _subtree(tree, fmt.RUNS_DIR)
        except KeyError:
            return
        for shard in _names(runs, _TREE):
            shard_tree = _subtree(runs, shard)
            for rest in _names(shard_tree, _TREE):
                fp_tree = _subtree(shard_tree, rest)
                for run_id in _names(fp_tree, _TREE):
                    yield shard + rest, run_id, fp_tree[run_id].id

    def read(self, fingerprint: str, run_id: str, tree: pygit2.Tree | None = None) -> Run:
        tree = tree if tree is not None else self.require().tree
        path = fmt.run_dir(fingerprint, run_id)
        try:
            run_tree = _subtree(tree, path)
        except KeyError as exc:
            raise JournalError(f"no run {run_id} under {fingerprint[:12]}") from exc
        return self._read_dir(run_tree, path)

    def read_tree(self, tree_id: pygit2.Oid, where: str) -> Run:
        obj = self.repo[tree_id]
        assert isinstance(obj, pygit2.Tree)
        return self._read_dir(obj, where)

    def files(self, run: Run, tree: pygit2.Tree | None = None) -> dict[str, bytes]:
        """Every file of a run's directory (records, history, plots), by name."""
        tree = tree if tree is not None else self.require().tree
        return _read_files(self.repo, _subtree(tree, fmt.run_dir(run.fingerprint, run.id)))

    def _read_dir(self, tree: pygit2.Tree, where: str) -> Run:
        files = {
            e.name: self.repo[e.id].data  # type: ignore[attr-defined]
            for e in tree
            if e.name in fmt.REQUIRED_FILES
        }
        return fmt.decode_run(files, where=where)

    def iter_runs(self, tree: pygit2.Tree | None = None) -> Iterator[Run]:
        for fingerprint, run_id, tree_id in self.run_paths(tree):
            yield self.read_tree(tree_id, fmt.run_dir(fingerprint, run_id))

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

    def init(self) -> bool:
        """Create the orphan journal branch. False if it already exists."""
        if self.exists():
            self.require()
            return False
        tree = self.repo.TreeBuilder()
        tree.insert(fmt.FORMAT_FILE, self.repo.create_blob(fmt.format_text()), _BLOB)
        tree.insert(fmt.README_FILE, self.repo.create_blob(fmt.README_TEXT.encode()), _BLOB)
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
        fmt.check_run_id(run.id)
        files = dict(extra_files or {})
        files.update(fmt.encode_run(run))
        path = fmt.run_dir(run.fingerprint, run.id)
        message = fmt.commit_message(run)

        def build(tree: pygit2.Tree) -> pygit2.Oid:
            try:
                _subtree(tree, path)
            except KeyError:
                pass
            else:
                raise JournalError(f"run {run.id} is already recorded", exit_code=1)
            return _insert(self.repo, tree, path.split("/"), _write_files(self.repo, files))

        commit = self._commit(build, message)
        return run.with_commit(str(commit))

    def update_files(self, run: Run, files: Mapping[str, bytes], message: str) -> str:
        """A new commit that adds or replaces files in a recorded run's directory."""
        path = fmt.run_dir(run.fingerprint, run.id)

        def build(tree: pygit2.Tree) -> pygit2.Oid:
            current = _read_files(self.repo, _subtree(tree, path))
            current.update(files)
            return _insert(self.repo, tree, path.split("/"), _write_files(self.repo, current))

        return str(self._commit(build, message))

    def _commit(self, build: BuildTree, message: str) -> pygit2.Oid:
        """Build a tree on the current tip and move the branch by compare-and-swap, retrying."""
        sig = self.signature()
        for attempt in range(CAS_ATTEMPTS):
            tip_commit = self.require()
            ref = self.repo.lookup_reference(self.ref_name)
            if ref.target != tip_commit.id:
                continue  # moved between the two reads: start again
            new_tree = build(tip_commit.tree)
            commit = self.repo.create_commit(None, sig, sig, message, new_tree, [tip_commit.id])
            try:
                ref.set_target(commit, f"journal: {message.splitlines()[0]}")
            except (pygit2.GitError, OSError):
                # Another writer moved the branch (or holds its lock): rebuild on the new tip.
                time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 25)))
                continue
            return commit
        raise JournalError(
            f"could not update '{self.branch}': other writers kept moving it",
            hint="try again; nothing was written",
            exit_code=1,
        )


def _subtree(tree: pygit2.Tree, path: str) -> pygit2.Tree:
    obj = tree[path]
    if not isinstance(obj, pygit2.Tree):
        raise KeyError(path)
    return obj


def _names(tree: pygit2.Tree, mode: int) -> list[str]:
    """Names of the entries of ``tree`` with filemode ``mode``."""
    return [entry.name for entry in tree if entry.filemode == mode and entry.name is not None]


def _blob_at(tree: pygit2.Tree, name: str) -> bytes | None:
    try:
        obj = tree[name]
    except KeyError:
        return None
    return obj.data if isinstance(obj, pygit2.Blob) else None


def _read_files(repo: pygit2.Repository, tree: pygit2.Tree) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for entry in tree:
        obj = repo[entry.id]
        if entry.name is None:
            continue
        if isinstance(obj, pygit2.Blob):
            out[entry.name] = obj.data
        elif isinstance(obj, pygit2.Tree):
            for name, data in _read_files(repo, obj).items():
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
        builder.insert(name, repo.create_blob(data), _BLOB)
    for name, inner in sub.items():
        builder.insert(name, _write_files(repo, inner), _TREE)
    return builder.write()


def _insert(
    repo: pygit2.Repository, base: pygit2.Tree | None, parts: list[str], leaf: pygit2.Oid
) -> pygit2.Oid:
    """A copy of ``base`` with the tree ``leaf`` at ``parts``; only the path's trees are new."""
    builder = repo.TreeBuilder(base) if base is not None else repo.TreeBuilder()
    head = parts[0]
    if len(parts) == 1:
        builder.insert(head, leaf, _TREE)
    else:
        child: pygit2.Tree | None = None
        if base is not None:
            try:
                child = _subtree(base, head)
            except KeyError:
                child = None
        builder.insert(head, _insert(repo, child, parts[1:], leaf), _TREE)
    return builder.write()
