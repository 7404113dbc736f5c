"""Executors: where grid points train.

The runner hands an executor a stream of :class:`Job` s and records each :class:`Outcome` as it
comes back; the runner's process stays the journal's only writer. A job names its point and the
spec's data block, never arrays: every worker loads the data itself (once per process) from the
repository, so nothing large travels between processes or machines.

- :class:`InProcess` trains in the runner's own process, one point after another (``--jobs 1``).
- :class:`ProcessPool` trains in N worker processes (``--jobs N``). A worker that dies (killed,
  out of memory, a crash in native code) loses only the point it was training: that point is
  trained again in a fresh worker, and recorded as failed after :data:`MAX_ATTEMPTS` deaths.
- :class:`DaskExecutor` sends jobs to a Dask distributed cluster (``--executor dask://HOST:PORT``).
  Dask re-runs the tasks of a lost worker; a point that keeps killing workers comes back as
  ``KilledWorker`` and is recorded as failed.

A failure inside a worker is a failed :class:`~gitlab_journal.train.backend.Result`, never a
crashed grid. Only a :class:`~gitlab_journal.errors.JournalError` (a problem with the spec or the
data that would fail every point alike) stops the grid, as it does in-process.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from gitlab_journal.errors import (
    EXIT_USAGE,
    CheckFailed,
    JournalError,
    MissingExtra,
    describe_exit,
)
from gitlab_journal.spec.model import DataSpec, EvaluationSpec, ModelSpec
from gitlab_journal.train import progress
from gitlab_journal.train.backend import Result, TrainOptions

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

MAX_ATTEMPTS = 2  # a point whose worker dies this many times is recorded as failed
TRACEBACK_LINES = 15
DASK_SCHEME = "dask://"
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# What the fork server imports once per model kind. TensorFlow is left out: it starts threads
# when imported, and a process with threads must not fork.
PRELOAD: dict[str, tuple[str, ...]] = {
    "sklearn": (
        "gitlab_journal.train.sklearn_backend",
        "sklearn.model_selection",
        "sklearn.metrics",
        "sklearn.datasets",
    ),
}


@dataclass(frozen=True)
class Job:
    """One point to train: small frozen records only, picklable, no arrays.

    ``key`` is the point's position in the runner's list of pending points. The spec's records
    travel rather than the spec's path, so a spec edited while the grid runs cannot change what
    a worker trains behind the fingerprint the runner already computed.
    """

    key: int
    root: str
    data: DataSpec
    model: ModelSpec
    params: Mapping[str, Any]
    evaluation: EvaluationSpec
    options: TrainOptions | None = None


@dataclass(frozen=True)
class Outcome:
    """What came back for one job: a result to record, or a fatal error for the whole grid."""

    key: int
    result: Result
    fatal: tuple[str, str | None, int] | None = None  # message, hint, exit code

    def raise_fatal(self) -> None:
        if self.fatal is not None:
            message, hint, code = self.fatal
            raise JournalError(message, hint=hint, exit_code=code)


# --- the work itself, the same in every executor -----------------------------------------------

_data_lock = threading.Lock()
_data_cache: dict[bytes, tuple[Any, Any]] = {}


def data_key(job: Job) -> bytes:
    """What identifies a job's data block: its repository and the spec's data block."""
    return pickle.dumps((job.root, job.data))


def _job_data(job: Job) -> tuple[Any, Any]:
    """``(X, y)`` of a job, loaded once per process (and per data block)."""
    key = data_key(job)
    with _data_lock:
        hit = _data_cache.get(key)
        if hit is None:
            from gitlab_journal.data.loaders import load_data

            hit = load_data(Path(job.root), job.data)
            _data_cache.clear()  # one data set in memory at a time
            _data_cache[key] = hit
        return hit


def remember_data(job: Job, data: tuple[Any, Any]) -> None:
    """Hold ``data`` as the job's ``(X, y)`` (sent by a client that loaded it)."""
    key = data_key(job)
    with _data_lock:
        _data_cache.clear()
        _data_cache[key] = data


def forget_data() -> None:
    """Drop the data this process loaded for jobs, the tables it read, and the folds split
    from them."""
    with _data_lock:
        _data_cache.clear()
    if "gitlab_journal.data.loaders" in sys.modules:
        from gitlab_journal.data.loaders import forget_tables

        forget_tables()
    if "gitlab_journal.train.sklearn_backend" in sys.modules:
        from gitlab_journal.train.sklearn_backend import forget_folds

        forget_folds()


def _tail() -> str:
    return "\n".join(traceback.format_exc().strip().splitlines()[-TRACEBACK_LINES:])


def _fatal(job: Job, exc: JournalError) -> Outcome:
    return Outcome(
        job.key, Result(status="failed", error=exc.message), (exc.message, exc.hint, exc.exit_code)
    )


def run_job(job: Job) -> Outcome:
    """Load the job's data (cached per process), train its point, and never raise except on
    Ctrl-C: a failure is a failed result; an error of the spec or data is a fatal outcome."""
    try:
        X, y = _job_data(job)
    except JournalError as exc:
        return _fatal(job, exc)
    except Exception as exc:
        last = _tail().splitlines()[-1]
        error = JournalError(f"cannot load the data: {last}", hint="see the data block of the spec")
        error.__cause__ = exc
        return _fatal(job, error)
    try:
        from gitlab_journal.train.backend import backend_for

        result = backend_for(job.model).train(
            job.model, job.params, X, y, job.evaluation, options=job.options
        )
    except JournalError as exc:
        return _fatal(job, exc)
    except Exception:
        return Outcome(job.key, Result(status="failed", error=_tail()))
    return Outcome(job.key, result)


# --- executors ------------------------------------------------------------------------------------


class Executor(Protocol):
    """Trains jobs, yielding each outcome as soon as it is known (in any order)."""

    name: str

    def run(self, jobs: Iterator[Job]) -> Iterator[Outcome]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Executor: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class _Closing:
    def close(self) -> None:
        forget_data()

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class InProcess(_Closing):
    """Train in this process, one point after another."""

    name = "in-process"

    def run(self, jobs: Iterator[Job]) -> Iterator[Outcome]:
        for job in jobs:
            yield run_job(job)


_limits: list[Any] = []  # keeps the worker's thread-pool limits in force


def _worker_main(conn: Connection, threads: int, path: list[str]) -> None:
    """A worker process: train the jobs the parent sends until it sends None or goes away."""
    # Ctrl-C is the parent's to handle (it ends the workers). The fork server started with
    # SIGINT blocked (see start_fork_server), so none reached this process before now.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    sys.path[:] = path  # the parent's, as it is now (the fork server may be older)
    for name in _THREAD_VARS:
        os.environ[name] = str(threads)
    try:
        from threadpoolctl import threadpool_limits

        _limits.append(threadpool_limits(threads))
    except ImportError:  # pragma: no cover - scikit-learn depends on threadpoolctl
        pass
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if job is None:
            return
        with progress.listening(functools.partial(_tell, conn, job.key)):
            outcome = run_job(job)
        try:
            conn.send(outcome)
        except (BrokenPipeError, OSError):
            return


def _tell(conn: Connection, key: int, text: str) -> None:
    """Send the parent what the worker's point is doing, for its claim (never fatal)."""
    with contextlib.suppress(BrokenPipeError, OSError):
        conn.send(Progress(key, text))


@dataclass(frozen=True)
class Progress:
    """What a worker's point in training is doing now (``fold 2/5``)."""

    key: int
    text: str


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    job: Job | None = None
    completed: int = 0


@dataclass
class ProcessPool(_Closing):
    """Train in ``workers`` processes; the caller's process records the outcomes."""

    workers: int
    preload: tuple[str, ...] = ()
    name: str = "processes"
    # told what each point in training is doing, by its job's key
    on_progress: Callable[[int, str], None] | None = None
    _pool: list[_Worker] = field(default_factory=list)

    def _context(self) -> Any:
        return _context(self.preload)

    def _start(self) -> _Worker:
        ctx = self._context()
        start_fork_server()
        parent, child = ctx.Pipe()
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        process = ctx.Process(
            target=_worker_main,
            args=(child, threads, list(sys.path)),
            name="git-journal-worker",
            daemon=True,
        )
        process.start()
        child.close()
        worker = _Worker(process, parent)
        self._pool.append(worker)
        return worker

    def run(self, jobs: Iterator[Job]) -> Iterator[Outcome]:
        from multiprocessing.connection import wait

        retry: deque[Job] = deque()
        deaths: dict[int, int] = {}
        exhausted = False
        failed_starts = 0

        def next_job() -> Job | None:
            nonlocal exhausted
            if retry:
                return retry.popleft()
            if exhausted:
                return None
            job = next(jobs, None)
            if job is None:
                exhausted = True
            return job

        try:
            while True:
                # Give every idle worker a job, starting workers while there is work.
                for worker in [w for w in self._pool if w.job is None]:
                    job = next_job()
                    if job is None:
                        break
                    if not self._assign(worker, job):
                        retry.appendleft(job)  # that worker had died idle: not the job's fault
                while len(self._pool) < self.workers and (retry or not exhausted):
                    job = next_job()
                    if job is None:
                        break
                    if not self._assign(self._start(), job):
                        retry.appendleft(job)
                        failed_starts += 1
                        if failed_starts > MAX_ATTEMPTS * self.workers:
                            raise CheckFailed(
                                "worker processes die as they start",
                                hint="see their errors above; --jobs 1 trains in this process",
                            )
                busy = [w for w in self._pool if w.job is not None]
                if not busy:
                    return
                waitables: list[Any] = [w.conn for w in busy] + [w.process.sentinel for w in busy]
                ready = set(wait(waitables))
                for worker in busy:
                    if worker.conn not in ready and worker.process.sentinel not in ready:
                        continue
                    job = worker.job
                    assert job is not None
                    outcome: Outcome | None = None
                    gone = worker.process.sentinel in ready
                    try:
                        while worker.conn.poll():
                            message = worker.conn.recv()
                            if not isinstance(message, Progress):
                                outcome = message
                                break
                            if self.on_progress is not None:
                                self.on_progress(message.key, message.text)
                    except (EOFError, OSError):
                        gone = True
                    if outcome is not None:
                        worker.job = None
                        worker.completed += 1
                        yield outcome
                        continue
                    if not gone:
                        continue
                    # The worker died while training ``job``.
                    worker.process.join(timeout=5)
                    if worker.process.is_alive():
                        worker.process.kill()
                        worker.process.join(timeout=5)
                    code = worker.process.exitcode
                    how = describe_exit(code)
                    self._discard(worker)
                    if code is not None and code > 0 and not worker.completed:
                        raise CheckFailed(
                            f"a worker process exited ({how}) before training anything",
                            hint="see its error above; --jobs 1 trains in this process",
                        )
                    deaths[job.key] = deaths.get(job.key, 0) + 1
                    if deaths[job.key] < MAX_ATTEMPTS:
                        retry.append(job)
                        continue
                    yield Outcome(
                        job.key,
                        Result(
                            status="failed",
                            error=(
                                f"the worker process training this point died ({how}), "
                                f"{deaths[job.key]} times"
                            ),
                        ),
                    )
        finally:
            self.close()

    def _assign(self, worker: _Worker, job: Job) -> bool:
        """Send ``job`` to ``worker``; False (and the worker dropped) if it has died."""
        try:
            if worker.process.is_alive():
                worker.conn.send(job)
                worker.job = job
                return True
        except (BrokenPipeError, OSError):
            pass
        worker.process.join(timeout=5)
        self._discard(worker)
        return False

    def _discard(self, worker: _Worker) -> None:
        worker.conn.close()
        if worker in self._pool:
            self._pool.remove(worker)

    def close(self) -> None:
        """Stop every worker: idle ones finish, busy ones are terminated."""
        pool, self._pool = self._pool, []
        for worker in pool:
            if worker.job is None:
                with contextlib.suppress(BrokenPipeError, OSError):
                    worker.conn.send(None)
            else:
                worker.process.terminate()
        deadline = time.monotonic() + 5
        for worker in pool:
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=5)
            worker.conn.close()
        super().close()


class DaskExecutor(_Closing):
    """Send jobs to a Dask distributed scheduler. The workers need no file of the repository:
    this process loads the data once and sends it with the repository modules the spec imports
    (:mod:`.shipment`), once per data block. Command runs are the exception: a command runs in
    the repository, so their workers need it at the same path."""

    name = "dask"

    def __init__(self, address: str, *, timeout: float = 15.0):
        self.address = address
        self.timeout = timeout
        self._client: Any = None

    def _connect(self) -> Any:
        try:
            distributed: Any = importlib.import_module("distributed")
        except ImportError as exc:
            raise MissingExtra("--executor dask:// needs Dask distributed", extra="dask") from exc
        try:
            client = distributed.Client(self.address, timeout=self.timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise JournalError(
                f"cannot reach the Dask scheduler at {self.address}: {exc}",
                hint="start one with `dask scheduler` and workers with `dask worker ADDRESS`",
            ) from exc
        return client

    def run(self, jobs: Iterator[Job]) -> Iterator[Outcome]:
        client = self._client = self._connect()
        distributed: Any = importlib.import_module("distributed")
        killed = importlib.import_module("distributed.scheduler").KilledWorker
        slots = max(1, sum(client.nthreads().values()))
        keys: dict[Any, Job] = {}
        pending = distributed.as_completed(loop=client.loop)

        shipped: dict[bytes, Any] = {}  # (root, data block) -> the scattered Shipment

        def shipment(job: Job) -> Any:
            from gitlab_journal.data.loaders import load_data
            from gitlab_journal.run.shipment import Shipment, repository_modules

            key = data_key(job)
            if key not in shipped:
                root = Path(job.root)
                X, y = load_data(root, job.data)
                # the estimators (a Keras builder is the block's estimator), and the loader
                paths = [job.model.estimator, *job.model.import_paths()]
                if job.data.loader:
                    paths.append(job.data.loader)
                files = repository_modules(root, paths)
                shipped.clear()  # one data set on the workers at a time
                shipped[key] = client.scatter(Shipment(X, y, files), broadcast=True)
            return shipped[key]

        def submit(limit: int) -> None:
            from gitlab_journal.run.shipment import run_shipped

            while len(keys) < limit:
                job = next(jobs, None)
                if job is None:
                    return
                if job.model.kind == "command":
                    future = client.submit(run_job, job, pure=False)
                else:
                    future = client.submit(run_shipped, job, shipment(job), pure=False)
                keys[future] = job
                pending.add(future)

        try:
            # A little more than the cluster's threads, so workers never wait for the client,
            # and claims (if any) are taken only shortly before their point trains.
            submit(slots + 1)
            for future in pending:
                job = keys.pop(future)
                try:
                    outcome = future.result()
                except killed as exc:
                    outcome = Outcome(
                        job.key,
                        Result(
                            status="failed",
                            error=f"the Dask workers training this point died: {exc}",
                        ),
                    )
                except Exception as exc:
                    raise JournalError(
                        f"the Dask cluster at {self.address} could not run a job: "
                        f"{type(exc).__name__}: {exc}",
                        hint="install gitlab-journal and the spec's libraries on every worker "
                        "(command runs also need the repository at the same path)",
                    ) from exc
                yield outcome
                slots = max(1, sum(client.nthreads().values()))
                submit(slots + 1)
        finally:
            for future in keys:
                future.cancel()

    def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            client.close()
        super().close()


def _context(preload: Sequence[str]) -> Any:
    """A fork server where there is one, else spawn: never a fork of this process, which runs
    threads (the progress bar, libgit2). The fork server imports ``preload`` once, so each
    worker, the first and any replacement, starts in milliseconds."""
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__, *preload])
        return ctx
    return multiprocessing.get_context("spawn")


def start_fork_server() -> None:
    """Start the fork server, if this platform has one and it is not running yet, with SIGINT
    blocked: it and the workers forked from it then never see a Ctrl-C (they would print a
    traceback from the middle of their imports); this process handles it and ends them.

    A signal mask, unlike a Python handler, lasts through the server's exec and its forks; the
    server ignores SIGINT once started, and each worker unblocks it once it ignores it too. In
    this process SIGINT is blocked only in this thread and only while the server is spawned:
    a Ctrl-C meanwhile is delivered to another thread, or once it is unblocked again, never
    lost.
    """
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return
    from multiprocessing import forkserver, resource_tracker

    # The resource tracker first: starting it unblocks SIGINT and SIGTERM in this thread.
    resource_tracker.ensure_running()
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        forkserver.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def warm_up(jobs: int, kinds: Iterable[str]) -> None:
    """With ``jobs`` > 1, start the fork server now: its imports (seconds, for scikit-learn)
    then overlap with the planning the caller does before training."""
    if jobs <= 1:
        return
    _context(preload_for(kinds))
    start_fork_server()


def preload_for(kinds: Iterable[str]) -> tuple[str, ...]:
    """Modules worth importing once in the fork server for these model kinds."""
    out: list[str] = ["gitlab_journal.data.loaders"]
    for kind in sorted(set(kinds)):
        out += PRELOAD.get(kind, ())
    return tuple(out)


def make_executor(
    jobs: int = 1, executor: str | None = None, *, kinds: Iterable[str] = ()
) -> Executor:
    """The executor for ``--jobs`` and ``--executor``."""
    if executor:
        if not executor.startswith(DASK_SCHEME) or len(executor) <= len(DASK_SCHEME):
            raise JournalError(
                f"unknown executor {executor!r}",
                hint="use --executor dask://HOST:PORT, or --jobs N for local worker processes",
                exit_code=EXIT_USAGE,
            )
        if jobs != 1:
            raise JournalError(
                "--jobs and --executor do not go together",
                hint="a Dask cluster decides its own parallelism",
                exit_code=EXIT_USAGE,
            )
        return DaskExecutor("tcp://" + executor[len(DASK_SCHEME) :])
    if jobs < 1:
        raise JournalError(f"--jobs must be at least 1, got {jobs}", exit_code=EXIT_USAGE)
    if jobs == 1:
        return InProcess()
    return ProcessPool(jobs, preload=preload_for(kinds))
