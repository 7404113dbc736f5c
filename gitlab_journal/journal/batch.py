"""Recording runs in batches: each run still one commit on the one before, but a batch's objects
kept in memory, written to disk as one pack, and the branch moved once for the whole batch.

A grid of cheap points records a run every few milliseconds. Written one by one, each run's
dozen objects were as many loose files (created, then packed and deleted at the end of the
`run`), which cost more than the record itself on a slow disk. A :class:`Batch` builds every
commit exactly as :meth:`Store.record` does (the same trees, leaderboard and messages, through
:meth:`Store.recording`) into an object database in memory, and :meth:`Batch.flush` writes the
objects to disk first and only then moves the branch by compare-and-swap, as every record does:
a process killed before that leaves an unreferenced pack and the journal as it was, never a
branch naming a missing object. A writer that lost the race rebuilds the batch on the new tip.

A run waits in a batch at most ``MAX_SECONDS``, whatever the next point does: while the caller
trains it (or waits for a worker's result), a :class:`Timer` thread writes a batch that has
waited that long, so a next point that trains for an hour, or hangs, neither hides a cheap run
from `git log` nor loses it to a kill -9.

A batch of fewer than ``PACK_MIN_RUNS`` runs (a grid of slow points flushes after each) is
written as loose objects instead, which the end of the `run` packs as before: a pack per slow
point would soon make `git gc --auto` repack the whole repository.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType

import pygit2

from gitlab_journal.journal.packwrite import write_pack
from gitlab_journal.journal.records import Run
from gitlab_journal.journal.store import CAS_ATTEMPTS, BuildTree, Store, back_off

REFLOG_PREFIX = "journal: batch: "  # the reflog says "journal: batch: 12 runs" for a batch
MEMORY_PRIORITY = 1000  # above the writer's view of the repository (1): writes land in memory
PACK_MIN_RUNS = 16  # a batch this large is written as a pack; a smaller one as loose objects
MAX_RUNS = 1000  # a batch is due once it holds this many runs,
MAX_SECONDS = 2.0  # or once its first run has waited this long,
SLOW_POINT = 0.05  # or once a run took this long to train: slow points are recorded one by one,
MAX_BYTES = 64 * 1024 * 1024  # or once its objects take this much memory


class MemoryObjects(pygit2.OdbBackend):
    """An object database backend that keeps what is written to it in a dict."""

    def __init__(self) -> None:
        super().__init__()
        self.objects: dict[pygit2.Oid, tuple[int, bytes]] = {}
        self.size = 0  # bytes held

    def read_cb(self, oid: pygit2.Oid) -> tuple[int, bytes]:
        return self.objects[oid]  # KeyError: not here, libgit2 asks the next backend

    def read_prefix_cb(self, prefix: str) -> tuple[int, bytes, pygit2.Oid]:
        oid = self._unique(prefix)
        kind, data = self.objects[oid]
        return kind, data, oid

    def read_header_cb(self, oid: pygit2.Oid) -> tuple[int, int]:
        kind, data = self.objects[oid]
        return kind, len(data)

    def exists_cb(self, oid: pygit2.Oid) -> bool:
        return oid in self.objects

    def exists_prefix_cb(self, prefix: str) -> pygit2.Oid:
        return self._unique(prefix)

    def write_cb(self, oid: pygit2.Oid, data: bytes, kind: int) -> None:
        self.objects[oid] = (kind, data)
        self.size += len(data)

    def clear(self) -> None:
        self.objects.clear()
        self.size = 0

    def refresh_cb(self) -> None:
        pass

    def _unique(self, prefix: str) -> pygit2.Oid:
        if len(prefix) == 40:
            oid = pygit2.Oid(hex=prefix)
            if oid in self.objects:
                return oid
            raise KeyError(prefix)
        found = [oid for oid in self.objects if str(oid).startswith(prefix)]
        if len(found) == 1:
            return found[0]
        if not found:
            raise KeyError(prefix)
        raise ValueError(f"{prefix} is ambiguous")


class _Pending:
    """A run of the batch: how to build its tree, its message, and its commit so far."""

    __slots__ = ("build", "commit", "message", "run")

    def __init__(self, run: Run, build: BuildTree, message: str):
        self.run = run
        self.build = build
        self.message = message
        self.commit: pygit2.Oid | None = None


class DiskObjects(pygit2.OdbBackend):
    """The repository's own objects, for a batch's writer: read through the repository's object
    database, but never found by the look-up libgit2 makes before each write.

    libgit2 looks for an object in every backend before writing it, and on a miss reads the
    pack folder again and looks once more: 28 µs an object beside one pack, 140 µs beside 61
    (a long run of cheap points writes a pack every few seconds), where the write itself into
    memory takes 2 µs. Answering "not here" to that look-up writes an object the repository
    holds already into the batch's pack again, which git allows. Whether an object a record
    names exists (a tree's entries, a commit's parents) libgit2 asks by reading its header,
    which this answers truly."""

    def __init__(self, odb: pygit2.Odb):
        super().__init__()
        self.odb = odb

    def read_cb(self, oid: pygit2.Oid) -> tuple[int, bytes]:
        kind, data = self.odb.read(oid)  # NotFoundError (a KeyError): not in the repository
        return int(kind), data

    def read_prefix_cb(self, prefix: str) -> tuple[int, bytes, pygit2.Oid]:
        kind, data = self.odb.read(prefix)  # a full id, as a tree's entries are looked up
        if len(prefix) == pygit2.GIT_OID_HEXSZ:
            return int(kind), data, pygit2.Oid(hex=prefix)
        return int(kind), data, _object_id(int(kind), data)

    def read_header_cb(self, oid: pygit2.Oid) -> tuple[int, int]:
        kind, size = self.odb.read_header(oid)
        return int(kind), size

    def exists_cb(self, oid: pygit2.Oid) -> bool:
        return False

    def exists_prefix_cb(self, prefix: str) -> pygit2.Oid:
        return self.read_prefix_cb(prefix)[2]

    def refresh_cb(self) -> None:
        pass


_TYPE_NAMES = {1: b"commit", 2: b"tree", 3: b"blob", 4: b"tag"}


def _object_id(kind: int, data: bytes) -> pygit2.Oid:
    """The SHA-1 id git gives an object of this type and content."""
    header = _TYPE_NAMES[kind] + b" " + str(len(data)).encode() + b"\0"
    return pygit2.Oid(raw=hashlib.sha1(header + data).digest())


class Batch:
    """Runs recorded together: :meth:`add` each, :meth:`flush` when :meth:`due` (and at the
    end: what was never flushed is not recorded)."""

    def __init__(
        self,
        store: Store,
        *,
        max_runs: int | None = None,
        max_seconds: float | None = None,
        slow_point: float | None = None,
        pack_min_runs: int | None = None,
    ):
        self.store = store
        self.max_runs = MAX_RUNS if max_runs is None else max_runs
        self.max_seconds = MAX_SECONDS if max_seconds is None else max_seconds
        self.slow_point = SLOW_POINT if slow_point is None else slow_point
        self.pack_min_runs = PACK_MIN_RUNS if pack_min_runs is None else pack_min_runs
        self.slow = False  # the last run added took slow_point or longer to train
        self.memory = MemoryObjects()
        repo = pygit2.Repository(store.repo.path)
        odb = pygit2.Odb()
        odb.add_backend(self.memory, MEMORY_PRIORITY)
        odb.add_backend(DiskObjects(repo.odb), 1)
        repo.set_odb(odb)
        # The same branch, read and built through a repository whose writes stay in memory.
        self.writer = Store(repo, store.branch)
        self.pending: list[_Pending] = []
        self.base: pygit2.Oid | None = None  # the tip the pending commits were built on
        self.tip: pygit2.Commit | None = None  # the last pending commit
        self.first = 0.0  # when the first pending run was added
        self.loose: list[str] = []  # commits whose objects were written loose, to pack later
        self.packs = 0  # packs written
        # held by whoever uses the batch (and the journal) while a Timer may flush it
        self.lock = threading.RLock()

    def add(
        self, run: Run, files: Mapping[str, bytes] | None = None, *, seconds: float = 0.0
    ) -> None:
        """Build ``run``'s commit on the batch's last one (``seconds``: how long it trained);
        a run the journal (or the batch) holds already, or a record the schema refuses, raises
        here and leaves the batch as it was."""
        build, message = self.writer.recording(run, files)
        item = _Pending(run, build, message)
        if self.tip is None:
            self.store._start_from_remote()
            self.tip = self.writer.require()
            self.base = self.tip.id
        self.tip = self._build(item, self.tip)
        if not self.pending:
            self.first = time.monotonic()
        self.pending.append(item)
        self.slow = seconds >= self.slow_point

    def due(self) -> bool:
        """Whether to flush now. The next point may train for long, and what waits in the
        batch meanwhile is not recorded yet: so a batch waits only while points are cheap,
        and never longer than ``max_seconds``."""
        return bool(self.pending) and (
            self.slow
            or len(self.pending) >= self.max_runs
            or self.memory.size >= MAX_BYTES
            or self.waited()
        )

    def waited(self) -> bool:
        """Whether the first pending run has waited ``max_seconds``."""
        return bool(self.pending) and time.monotonic() - self.first >= self.max_seconds

    def wait_left(self) -> float:
        """Seconds until the first pending run will have waited ``max_seconds``."""
        if not self.pending:
            return self.max_seconds
        return max(0.0, self.first + self.max_seconds - time.monotonic())

    def flush(self) -> list[Run]:
        """Write the batch's objects, then move the branch to its last commit: the runs
        recorded, with their commits (none when nothing was pending)."""
        if not self.pending:
            return []
        assert self.tip is not None and self.base is not None
        count = len(self.pending)
        note = f"{REFLOG_PREFIX}{count} run{'s' if count != 1 else ''}"
        for attempt in range(CAS_ATTEMPTS):
            loose = self._write()
            ref = self.writer.repo.lookup_reference(self.store.ref_name)
            if ref.target == self.base and self.writer._move(ref, self.tip.id, note):
                recorded = [item.run.with_commit(str(item.commit)) for item in self.pending]
                if loose:
                    self.loose.extend(str(item.commit) for item in self.pending)
                self.pending = []
                self.tip = None
                self.base = None
                return recorded
            back_off(attempt)  # another writer moved the branch: build again on its tip
            self._rebuild()
        raise self.writer._gave_up()

    # -- inside ----------------------------------------------------------------------------

    def _build(self, item: _Pending, parent: pygit2.Commit) -> pygit2.Commit:
        repo = self.writer.repo
        sig = self.writer.signature()
        tree = item.build(parent.tree)
        item.commit = repo.create_commit(None, sig, sig, item.message, tree, [parent.id])
        commit = repo[item.commit]
        assert isinstance(commit, pygit2.Commit)
        return commit

    def _rebuild(self) -> None:
        tip = self.writer.require()
        self.base = tip.id
        for item in self.pending:
            tip = self._build(item, tip)
        self.tip = tip

    def _write(self) -> bool:
        """The objects in memory to disk: a pack, or loose objects for a small batch (True)."""
        objects = self.memory.objects
        loose = len(self.pending) < self.pack_min_runs or any(len(o.raw) != 20 for o in objects)
        if not objects:
            return loose
        if loose:
            odb = self.store.repo.odb  # the repository's own backends: loose objects
            for kind, data in objects.values():
                odb.write(kind, data)
        else:
            write_pack(
                self.store.objects_dir() / "pack",
                {oid.raw: value for oid, value in objects.items()},
            )
            self.packs += 1
        self.memory.clear()
        return loose

    def close(self) -> None:
        """Drop what was never flushed (not recorded) and the memory it held."""
        self.memory.clear()
        self.pending = []
        self.tip = None
        self.base = None


class Timer:
    """Writes the batch once its first run has waited ``max_seconds``, while the caller is busy
    elsewhere (training the next point in this thread, or waiting for a worker): ``with
    Timer(batch, settle):`` around the grid. ``settle`` gets the runs of each batch it wrote.

    The caller holds ``batch.lock`` whenever it uses the batch, the journal, or anything
    ``settle`` touches; the timer takes it to write. What goes wrong in the timer waits in
    :meth:`raise_error` for the caller to raise, and the timer stops: after a failed write (a
    full disk) the batch stays pending, as a failed :meth:`Batch.flush` leaves it; after a
    failed ``settle`` (a remote that refuses) its runs are in the journal already.
    """

    def __init__(self, batch: Batch, settle: Callable[[list[Run]], None]):
        self.batch = batch
        self.settle = settle
        self.stopped = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, name="journal-batch-timer", daemon=True)

    def __enter__(self) -> Timer:
        self.thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stopped.set()
        self.thread.join()  # a write under way ends first: the caller's own flush comes after

    def raise_error(self) -> None:
        """Raise what stopped the timer, once (call it holding ``batch.lock``)."""
        error, self.error = self.error, None
        if error is not None:
            raise error

    def _loop(self) -> None:
        batch = self.batch
        while not self.stopped.wait(batch.wait_left() + 0.01):
            with batch.lock:
                if self.stopped.is_set():
                    return
                if not batch.waited():
                    continue
                try:
                    self.settle(batch.flush())
                except BaseException as error:  # the caller raises it
                    self.error = error
                    return


def batch_commits(repo: pygit2.Repository, entry: pygit2.RefLogEntry) -> list[pygit2.Commit]:
    """The commits a batch wrote, from the reflog entry that moved the branch for it (newest
    first); none for any other entry. The entry is this clone's own: these commits were made
    here, whatever their messages say."""
    message = entry.message or ""
    if not message.startswith(REFLOG_PREFIX):
        return []
    count = message.removeprefix(REFLOG_PREFIX).split(" ", 1)[0]
    if not count.isdigit():
        return []
    out: list[pygit2.Commit] = []
    oid = entry.oid_new
    for _ in range(min(int(count), MAX_RUNS)):
        if oid == entry.oid_old:
            break
        try:
            commit = repo[oid]
        except (KeyError, ValueError):
            break
        if not isinstance(commit, pygit2.Commit) or not commit.parent_ids:
            break
        out.append(commit)
        oid = commit.parent_ids[0]
    return out
