"""Reading runs for the index: the tip tree walked once, each run's records decoded and checked,
and turned into the compact entry the index stores; on two cores when there are many runs.

The index keeps only what queries and table rows use; the records stay in git. Decoding goes
through :func:`format.decode_run`, the one reader of the format, so a record the schema refuses
is refused here too, with the same message.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import math
import os
import re
import struct
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TextIO

import pygit2

from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.identity import flatten, json_safe
from gitlab_journal.journal.records import CodeState, Run, reproduction_status
from gitlab_journal.journal.schema import InvalidRecord
from gitlab_journal.journal.store import TREE_OBJECT, fingerprint_folders, format_version

PARALLEL_MIN_RUNS = 4000  # fewer runs than this: one process (starting another costs more)
_BATCH = 500
TRAILER_RE = re.compile(rb"^" + fmt.TRAILER_RUN.encode() + rb":\s*(\S+)\s*$", re.MULTILINE)
_TRAILER = fmt.TRAILER_RUN.encode()


@functools.cache
def _orjson() -> Any:
    import orjson  # where many records are read or indexed: its import costs a few ms

    return orjson


# orjson refuses what only json accepts (NaN, a lone surrogate, a byte-order mark: json then
# decides and words the error) and gives json's result for every other text, but for integers
# beyond 64 bits, which some of its versions read as floats, and for nesting deeper than json's
# recursion limit, which it reads where json fails: a text with many brackets, or with a run
# of 19 digits that starts a number (perhaps such an integer), is read by json. Runs of digits
# are looked for by `in` over the text with every digit made a 9 (much faster than a regular
# expression over every text); the expression then keeps the runs that start where JSON starts
# a number (after a space, ':', '[', ',' or '-'), not a fraction's or a hex digest's digits.
_NINES = bytes.maketrans(b"0123456789", b"9" * 10)
_LONG_RUN = b"9" * 19
_LONG_INTEGER = re.compile(rb"(?<=[\s:\[,-])[0-9]{19}")
_MANY_BRACKETS = 200  # records nest at most schema.MAX_DEPTH deep


def loads(text: bytes | str) -> Any:
    """``json.loads(text)``: the same value or the same error, about twice as fast."""
    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    if raw.count(b"[") + raw.count(b"{") < _MANY_BRACKETS and (
        _LONG_RUN not in raw.translate(_NINES) or _LONG_INTEGER.search(raw) is None
    ):
        orjson = _orjson()
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def dump(value: Any) -> str:
    """The JSON the index keeps of a record's object: compact, NaN and infinities as null.

    orjson writes plain JSON data; a value it would write otherwise (a datetime, a dataclass,
    a subclass of a JSON type) or refuses (a key that is not a string, an integer beyond 64
    bits) is written by json, with str() for what JSON has no type for. Either way a value
    always gets the same text, which the index interns."""
    orjson = _orjson()
    options = (
        orjson.OPT_PASSTHROUGH_DATETIME
        | orjson.OPT_PASSTHROUGH_DATACLASS
        | orjson.OPT_PASSTHROUGH_SUBCLASS
    )
    try:
        text: str = orjson.dumps(value, option=options).decode()
        return text
    except orjson.JSONEncodeError:
        return json.dumps(
            json_safe(value),
            ensure_ascii=False,
            allow_nan=False,
            default=str,
            separators=(",", ":"),
        )


class Entry(NamedTuple):
    """What the index stores of one valid run (documents as JSON text, interned on insert)."""

    pos: int  # order of the run in the walk: with two folders of one id, the later one wins
    id: str
    fingerprint: str
    created: str
    status: str
    model: str
    kind: str | None
    name: str | None
    params: str  # JSON of the resolved params
    data: str  # JSON of the data hashes
    code: str  # JSON of the code state (CodeState.to_dict)
    metrics: bytes | str  # packed doubles (names in ``metric_names``) or, failing that, JSON
    metric_names: str | None  # JSON list of the metric names of a packed ``metrics``
    reproduction: str | None
    table: str = "{}"  # JSON of how a table was read (identity's ``table``, flattened)


@dataclass(frozen=True)
class Bad:
    """A run folder the schema refused."""

    pos: int
    where: str
    run_id: str
    problem: str


_NAMES: dict[tuple[str, ...], str] = {}  # metric names -> their JSON list, made once


def pack_metrics(metrics: Mapping[str, Any]) -> tuple[bytes | str, str | None]:
    """Metric values as doubles (null, NaN and infinities as NaN: all read back as None)
    when every value is a float or null; otherwise their JSON."""
    values = list(metrics.values())
    if not all(v is None or type(v) is float for v in values):
        return dump(json_safe(dict(metrics))), None
    keys = tuple(metrics)
    names = _NAMES.get(keys)
    if names is None:
        if len(_NAMES) > 1000:
            _NAMES.clear()
        if not all(type(k) is str for k in keys):
            return dump(json_safe(dict(metrics))), None
        names = _NAMES.setdefault(keys, json.dumps(list(keys), ensure_ascii=False))
    packed = struct.pack(
        f"<{len(values)}d", *(v if v is not None and math.isfinite(v) else math.nan for v in values)
    )
    return packed, names


def unpack_values(packed: bytes, count: int) -> tuple[float, ...]:
    return struct.unpack(f"<{count}d", packed)


def unpack_metrics(metrics: bytes | str, names: Sequence[str] | None) -> dict[str, Any]:
    if isinstance(metrics, str) or names is None:
        loaded: dict[str, Any] = json.loads(metrics)
        return loaded
    values = struct.unpack(f"<{len(names)}d", metrics)
    return {k: (None if v != v else v) for k, v in zip(names, values, strict=True)}


_NO_TABLE = "{}"


def table_text(table: Any) -> str:
    """The JSON the index keeps of an identity's ``table``: flattened (``dtypes.sex``), keys
    sorted; ``{}`` for none."""
    if not isinstance(table, Mapping) or not table:
        return _NO_TABLE
    return dump(dict(sorted(flatten(table).items())))


def entry_of(run: Run, pos: int = 0) -> Entry:
    metrics, names = pack_metrics(run.metrics)
    return Entry(
        pos,
        run.id,
        run.fingerprint,
        run.created,
        run.status,
        run.model,
        run.kind,
        run.name,
        dump(dict(run.params)),
        dump(dict(run.data)),
        dump(run.code.to_dict()),
        metrics,
        names,
        run.reproduction,
        table_text(run.identity.get("table")),
    )


# -- jobs: what one process reads -------------------------------------------------------------


class Job(NamedTuple):
    """A shard folder (``runs/<fp[:2]>``, walked) or one run folder (``run_id`` set)."""

    pos: int
    path: str  # runs/<fp[:2]> or the run folder
    oid: pygit2.Oid
    fingerprint: str = ""
    run_id: str = ""
    levels: int = 1  # folder levels of the fingerprint below a shard folder, down to its rest


def read_run(tree: pygit2.Tree, where: str, fingerprint: str, run_id: str, pos: int) -> Entry | Bad:
    files: dict[str, bytes] = {}
    for name in fmt.REQUIRED_FILES:  # by name: faster than walking the folder's entries
        try:
            entry = tree[name]
        except KeyError:
            continue
        if isinstance(entry, pygit2.Blob):
            files[name] = entry.data
    try:
        doc, metrics, identity = fmt.check_run_files(
            files, where=where, fingerprint=fingerprint, run_id=run_id, loads=loads
        )
    except InvalidRecord as exc:
        return Bad(pos, where, run_id, exc.message)
    # What decode_run would make of these records, without building the whole Run.
    code_files = (identity.get("code") or {}).get("files") or {}
    code = CodeState.from_dict(doc.get("code") or {}, code_files)
    packed, names = pack_metrics(metrics)
    reproduction = reproduction_status(doc.get("reproductions") or ())
    return Entry(
        pos,
        doc["id"],
        doc["fingerprint"],
        doc["created"],
        doc.get("status", "ok"),
        doc["model"],
        doc.get("kind", "sklearn"),
        doc.get("name"),
        dump(doc.get("params") or {}),
        dump(doc.get("data") or {}),
        dump(code.to_dict()),
        packed,
        names,
        reproduction,
        table_text(identity.get("table")),
    )


def _read_jobs(repo: pygit2.Repository, jobs: Iterable[Job]) -> Iterator[Entry | Bad]:
    for job in jobs:
        obj = repo[job.oid]
        if not isinstance(obj, pygit2.Tree):
            continue
        if job.run_id:
            yield read_run(obj, job.path, job.fingerprint, job.run_id, job.pos)
            continue
        shard = job.path.rsplit("/", 1)[-1]
        k = 0
        for path, prefix, folder in fingerprint_folders(obj, job.path, shard, job.levels):
            for run_tree in folder:
                if run_tree.type != TREE_OBJECT or run_tree.name is None:
                    continue
                assert isinstance(run_tree, pygit2.Tree)
                k += 1
                where = f"{path}/{run_tree.name}"
                yield read_run(run_tree, where, prefix, run_tree.name, job.pos + k)


def shard_jobs(tree: pygit2.Tree) -> list[Job]:
    """One job per shard of ``runs/`` (what :meth:`Store.run_paths` walks)."""
    try:
        runs = tree[fmt.RUNS_DIR]
    except KeyError:
        return []
    if not isinstance(runs, pygit2.Tree):
        return []
    levels = len(fmt.shard_widths(format_version(tree)))
    return [
        Job(i << 32, f"{fmt.RUNS_DIR}/{shard.name}", shard.id, levels=levels)
        for i, shard in enumerate(runs)
        if shard.type == TREE_OBJECT and shard.name is not None
    ]


def estimated_runs(repo: pygit2.Repository, jobs: Sequence[Job]) -> int:
    if not jobs:
        return 0
    if jobs[0].run_id:
        return len(jobs)
    estimate, folder = len(jobs), repo[jobs[0].oid]
    for _ in range(jobs[0].levels):  # the first folder's width at each level, down to runs
        if not isinstance(folder, pygit2.Tree) or not len(folder):
            break
        estimate *= len(folder)
        folder = repo[folder[0].id]
    return estimate


# -- progress: many runs take a while --------------------------------------------------------

PROGRESS_MIN_RUNS = 2000  # reading fewer runs is quick: nothing said
_PROGRESS_EVERY = 0.25  # seconds between two updates of the count on a terminal


class Progress:
    """What a long read says on ``stream`` (stderr): a line when it starts, on a terminal the
    count of runs read so far, and a line when it ends. ``what``: "the journal's runs" or
    "the journal's new runs"."""

    def __init__(self, stream: TextIO, what: str):
        self.stream = stream
        self.what = what
        self.count = 0
        self.started = time.monotonic()
        self.shown = self.started
        isatty = getattr(stream, "isatty", None)  # journal/ imports no module outside it
        self.terminal = bool(isatty and isatty())
        end = "" if self.terminal else "\n"
        self._write(f"Indexing {what} (once: later commands read the index){end}")

    def _write(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # a closed stream loses only the news
            self.stream.write(text)
            self.stream.flush()

    def add(self, count: int) -> None:
        self.count += count
        now = time.monotonic()
        if self.terminal and now - self.shown >= _PROGRESS_EVERY:
            self.shown = now
            self._write(f"\r\x1b[KIndexing {self.what}: {self.count:,} read")

    def done(self) -> None:
        seconds = time.monotonic() - self.started
        start = "\r\x1b[K" if self.terminal else ""
        self._write(f"{start}Indexed {self.what}: {self.count:,} in {seconds:.1f} s.\n")


# -- trailers: which commit recorded each run --------------------------------------------------


def trailer_map(
    repo: pygit2.Repository, tip: pygit2.Oid, hide: pygit2.Oid | None = None
) -> dict[str, str]:
    """``Journal-Run`` id -> the oldest commit that names it (the one that recorded it), over
    the history of ``tip`` (less that of ``hide``)."""
    found: dict[str, str] = {}
    walker = repo.walk(tip, pygit2.enums.SortMode.TOPOLOGICAL)
    if hide is not None:
        walker.hide(hide)
    for commit in walker:
        message = commit.raw_message
        if _TRAILER not in message:
            continue
        for match in TRAILER_RE.finditer(message):
            # newest first: the oldest wins
            found[match.group(1).decode("utf-8", "replace")] = str(commit.id)
    return found


# -- on one or two cores -------------------------------------------------------------------------


class _Turns:
    """The jobs a forked reader takes, ``grab`` at a time, from a count shared with the
    other readers (``taken``: a ``multiprocessing.Value`` inherited through the fork)."""

    def __init__(self, jobs: Sequence[Job], taken: Any, grab: int) -> None:
        self.jobs = jobs
        self.taken = taken
        self.grab = grab

    def __iter__(self) -> Iterator[Job]:
        while True:
            with self.taken.get_lock():
                start = self.taken.value
                self.taken.value = start + self.grab
            if start >= len(self.jobs):
                return
            yield from self.jobs[start : start + self.grab]


def _worker(
    path: str, jobs: Iterable[Job], trailers: tuple[str, str | None] | None, conn: Any
) -> None:
    gc.disable()  # a short-lived reader that makes no cycles: no collections to pay for
    try:
        pygit2.settings.cache_max_size(_OBJECT_CACHE)
        repo = pygit2.Repository(path)
        if trailers is not None:
            tip, hide = trailers
            hidden = None if hide is None else pygit2.Oid(hex=hide)
            conn.send(("trailers", trailer_map(repo, pygit2.Oid(hex=tip), hidden)))
        same: dict[str, str] = {}  # one object per distinct text: pickled once per batch
        batch: list[Entry | Bad] = []
        for item in _read_jobs(repo, jobs):
            if isinstance(item, Entry):
                item = item._replace(
                    model=same.setdefault(item.model, item.model),
                    params=same.setdefault(item.params, item.params),
                    data=same.setdefault(item.data, item.data),
                    code=same.setdefault(item.code, item.code),
                    table=same.setdefault(item.table, item.table),
                    metric_names=item.metric_names
                    and same.setdefault(item.metric_names, item.metric_names),
                )
            batch.append(item)
            if len(batch) >= _BATCH:
                conn.send(("items", batch))
                batch = []
                same.clear()  # only a batch's texts are pickled together: keep no more
        conn.send(("items", batch))
        conn.send(("done", None))
    except BaseException:  # reported to the parent, which then reads alone
        import traceback  # only on a reader's failure: not paid by every command

        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


Consume = Callable[[list[Entry | Bad]], None]


_WINDOW = 16 << 20  # pack bytes mapped at a time
_MAPPED = 64 << 20  # at most this much of the packs mapped at once
_OBJECT_CACHE = 32 << 20
_DEFAULT_OBJECT_CACHE = 256 << 20  # libgit2's


def bound_pack_maps() -> None:
    """Map packs in small windows, at most ``_MAPPED`` bytes at once: reading every run of a
    large journal touches all of its packs, and with libgit2's default (one window of up to
    1 GiB a pack) all of it stays mapped and counted in the process's memory. Windows are
    sized when mapped, so this runs when this module is imported, before the packs are read."""
    settings = pygit2.settings
    settings.mwindow_size = min(settings.mwindow_size, _WINDOW)
    settings.mwindow_mapped_limit = min(settings.mwindow_mapped_limit, _MAPPED)


bound_pack_maps()


@contextlib.contextmanager
def bounded_memory() -> Iterator[None]:
    """Few objects cached by libgit2 while every run is read (they are read once)."""
    pygit2.settings.cache_max_size(_OBJECT_CACHE)
    try:
        yield
    finally:
        pygit2.settings.cache_max_size(_DEFAULT_OBJECT_CACHE)


@contextlib.contextmanager
def no_collections() -> Iterator[None]:
    """The cyclic garbage collector off: reading a journal allocates many long-lived objects
    and no cycles, and each full collection would walk all of them again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_all(
    repo: pygit2.Repository,
    jobs: Sequence[Job],
    consume: Consume,
    reset: Callable[[], None],
    trailers: tuple[pygit2.Oid, pygit2.Oid | None] | None = None,
    workers: int | None = None,
) -> dict[str, str]:
    """Every run of ``jobs``, read and checked, handed to ``consume`` in batches; returns the
    trailer map of ``trailers`` (tip, hidden) when given. With many runs, forked processes
    share the reading and the history walk while this one consumes; if one of them fails,
    ``reset()`` forgets what they handed over and this process reads everything alone."""
    if workers is None:
        workers = _default_workers(repo, jobs)
    if workers > 1:
        try:
            return _read_forked(repo, jobs, consume, trailers, workers)
        except _WorkerFailed:
            reset()
    with bounded_memory():
        return _read_here(repo, jobs, consume, trailers)


def _read_here(
    repo: pygit2.Repository,
    jobs: Sequence[Job],
    consume: Consume,
    trailers: tuple[pygit2.Oid, pygit2.Oid | None] | None,
) -> dict[str, str]:
    batch: list[Entry | Bad] = []
    for item in _read_jobs(repo, jobs):
        batch.append(item)
        if len(batch) >= _BATCH:
            consume(batch)
            batch = []
    if batch:
        consume(batch)
    return trailer_map(repo, *trailers) if trailers is not None else {}


def _default_workers(repo: pygit2.Repository, jobs: Sequence[Job]) -> int:
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return 1  # fork is what makes a worker cheap; elsewhere read alone
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if not cores or cores < 2 or estimated_runs(repo, jobs) < PARALLEL_MIN_RUNS:
        return 1
    return 2


class _WorkerFailed(Exception):
    pass


def _read_forked(
    repo: pygit2.Repository,
    jobs: Sequence[Job],
    consume: Consume,
    trailers: tuple[pygit2.Oid, pygit2.Oid | None] | None,
    workers: int,
) -> dict[str, str]:
    import multiprocessing
    from multiprocessing.connection import wait

    ctx = multiprocessing.get_context("fork")
    # The readers take the jobs in turns, a few at a time, from one shared count: the one
    # that also walks the history (or meets bigger shards) reads fewer, and none idles
    # while another still has a long share before it.
    turns = _Turns(jobs, ctx.Value("q", 0), max(1, len(jobs) // (workers * 32)))
    procs = []
    conns = []
    for w in range(workers):
        receive, send = ctx.Pipe(duplex=False)
        walk = None
        if w == workers - 1 and trailers is not None:
            walk = (str(trailers[0]), None if trailers[1] is None else str(trailers[1]))
        proc = ctx.Process(target=_worker, args=(repo.path, turns, walk, send), daemon=True)
        proc.start()
        send.close()
        procs.append(proc)
        conns.append(receive)
    found: dict[str, str] = {}
    failed: str | None = None
    try:
        pending: list[Any] = list(conns)
        while pending:
            for ready in wait(pending):
                conn: Any = ready
                kind: str
                payload: Any
                try:
                    kind, payload = conn.recv()
                except EOFError:
                    kind, payload = "error", "a reader ended without a word"
                if kind == "items":
                    consume(payload)
                elif kind == "trailers":
                    found = payload
                else:
                    if kind == "error":
                        failed = str(payload)
                    pending.remove(conn)
    finally:
        for conn in conns:
            conn.close()
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()
    if failed is not None:
        raise _WorkerFailed(failed)
    return found
