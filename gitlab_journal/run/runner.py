"""The runner: expand the grid, look every point up, train what is new, record each run.

One writer: whatever trains the points (this process, worker processes, a Dask cluster; see
:mod:`.executors`), this process commits each result to the journal as it arrives, so Ctrl-C or
a lost worker loses at most the points in training, never a recorded run, and never leaves a
half-written one.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from rich.console import Console
from rich.markup import escape

from gitlab_journal.code.state import CodeWatch
from gitlab_journal.console import progress_bar
from gitlab_journal.data.hashing import data_hashes, hash_cache
from gitlab_journal.errors import CheckFailed, JournalError
from gitlab_journal.journal.batch import Batch, Timer
from gitlab_journal.journal.records import Run
from gitlab_journal.journal.store import Store
from gitlab_journal.run import training
from gitlab_journal.run.executors import Job, ProcessPool, make_executor
from gitlab_journal.run.maintenance import pack_if_needed, pack_runs
from gitlab_journal.run.plan import Plan, Planned
from gitlab_journal.run.slots import Slots
from gitlab_journal.run.stopping import Stops
from gitlab_journal.train import progress as train_progress
from gitlab_journal.train.backend import Result

if TYPE_CHECKING:
    from gitlab_journal.data.dvc import Unsaved

DATA_CHANGED = "data changed while training"
CODE_CHANGED = "code changed while training"


class Coordinator(Protocol):
    """Shares a grid with other machines (``--claim``; see :mod:`gitlab_journal.remote.claims`)."""

    def acquire(self, fingerprint: str) -> str | None:
        """Claim a point before it trains: None if this runner may train it, else why not."""

    def recorded(self, fingerprint: str) -> None:
        """The point's run is in the local journal: publish it, then release the claim."""

    def progress(self, fingerprint: str, text: str) -> None:
        """What the point in training is doing now (``fold 2/5``), for others to see."""

    def finish(self) -> None:
        """Release every claim still held (after a failure or Ctrl-C)."""


PROGRESS_EVERY = 1.0  # seconds between two progress notes in a point's claim
PROGRESS_AFTER = 0.5  # seconds a point trains before its claim says its progress (a cheap
# point ends sooner: writing its claim at every fold would cost more than the fold)


@dataclass
class Report:
    """What one `git journal run` did."""

    recorded: list[Run] = field(default_factory=list)
    skipped: list[Planned] = field(default_factory=list)
    elsewhere: list[tuple[Planned, str]] = field(default_factory=list)  # claimed by others
    pending: int = 0  # the points this run set out to train
    interrupted: bool = False

    @property
    def failed(self) -> list[Run]:
        # diverged, stalled and not-converged runs trained and were recorded as such
        return [r for r in self.recorded if r.status == "failed"]


class Both:
    """Local claims first (other processes here), then the remote's (other machines)."""

    def __init__(self, local: Coordinator, remote: Coordinator | None):
        self.local = local
        self.remote = remote

    def acquire(self, fingerprint: str) -> str | None:
        reason = self.local.acquire(fingerprint)
        if reason is not None or self.remote is None:
            return reason
        reason = self.remote.acquire(fingerprint)
        if reason is not None:
            self.local.recorded(fingerprint)  # releases the local claim
        return reason

    def recorded(self, fingerprint: str) -> None:
        try:
            if self.remote is not None:
                self.remote.recorded(fingerprint)
        finally:
            self.local.recorded(fingerprint)

    def progress(self, fingerprint: str, text: str) -> None:
        self.local.progress(fingerprint, text)

    def finish(self) -> None:
        try:
            if self.remote is not None:
                self.remote.finish()
        finally:
            self.local.finish()


class DataWatch:
    """Hashes the run's data again after each point trains (stat-cached, so unchanged data is
    not read again) and names every input that no longer has the hash the plan recorded.

    Also watches the code dependencies (``code``: stat-cached the same way, read once here),
    and names the inputs DVC tracks that are not `dvc add`ed as they are (``unsaved``, found
    with the plan's context: their runs keep no DVC record, so `git journal checkout-data`
    cannot bring them back)."""

    def __init__(self, store: Store, plan: Plan, unsaved: Sequence[Unsaved] = ()):
        self.plan = plan
        self.cache = hash_cache(store.cache_dir())
        self.code = CodeWatch(store.workdir, plan.code.files, store.repo, plan.spec.code)
        self.code.changes()  # read once now: a check after a point stats the files only
        self.unsaved = [
            f"{item.describe()}: `git journal checkout-data` cannot bring it back; "
            f"`dvc add {item.tracking.out}` keeps it"
            for item in unsaved
        ]

    def changes(self) -> list[str]:
        try:
            now = data_hashes(self.plan.root, self.plan.spec.data, self.cache)
        except JournalError as exc:
            return [exc.message]
        return [
            f"{name}: md5 {before} before, {now.get(name, 'missing')} after"
            for name, before in sorted(self.plan.data.items())
            if now.get(name) != before
        ]


def execute(
    store: Store,
    plan: Plan,
    *,
    force: bool = False,
    quiet: bool = False,
    console: Console,
    strict: bool = False,
    jobs: int = 1,
    executor: str | None = None,
    coordinator: Coordinator | None = None,
    retry: frozenset[str] = frozenset(),
    slots: Slots | None = None,
) -> Report:
    """Train and record every pending point of ``plan``.

    ``strict``: pre-flight findings are fatal (a JournalError before that point trains), and so
    is data that changed while a point trained (else the run is recorded with a warning).
    ``jobs``/``executor``: where points train (:func:`.executors.make_executor`).
    ``coordinator``: claims each point before it trains (other processes, other machines).
    ``retry``: also train the points whose latest run has one of these statuses.
    ``slots``: this machine's cores, shared with the repository's other runs: a point starts
    only once this run holds a slot for it (points trained elsewhere, on Dask, need none).
    """
    shown: set[str] = set()
    pending = plan.pending(force, retry)
    chosen = {id(p) for p in pending}  # by identity: comparing points is slow, and was per pair
    report = Report(skipped=[p for p in plan.points if id(p) not in chosen], pending=len(pending))
    if not pending:
        return report
    runner = make_executor(jobs, executor, kinds={p.point.model.kind for p in pending})
    ctx = training.context(store, plan, strict=strict)  # before training: the plan's work tree
    watch = DataWatch(store, plan, ctx.unsaved)
    for warning in watch.unsaved:
        console.print(f"[yellow]warning[/yellow]: {escape(warning)}")
    # Results are recorded in batches (one pack, one move of the branch for a batch): a
    # batch is written after a point that trained for long, by its timer once its first result
    # has waited a moment (while the next point trains), at the end, and before anything stops
    # the grid, so what trained is never lost to an error or Ctrl-C. Everything below that
    # touches the journal, the claims or the report holds the batch's lock, which the timer
    # takes to write, and holds a stop signal (Ctrl-C, SIGTERM) back until it is done.
    batch = Batch(store)
    stops = Stops()
    lines = not quiet and not console.is_terminal  # a CI log, a pipe: one line per point
    progress = progress_bar(console, quiet=quiet or lines)
    task = progress.add_task("training", total=len(pending), last="")
    training_now = [0]  # the point this process trains (in-process training only)
    # fingerprint -> when its claim may next say its progress: PROGRESS_AFTER once the point
    # is sent to train, then PROGRESS_EVERY after each note
    due: dict[str, float] = {}
    here = jobs <= 1 and executor is None  # training in this process: its progress is known
    bar = here and console.is_terminal and not quiet

    def note(key: int, text: str) -> None:
        """Say in the point's claim what it is doing, at most every PROGRESS_EVERY seconds and
        not in its first PROGRESS_AFTER."""
        fingerprint = pending[key].fingerprint
        now = time.monotonic()
        if coordinator is not None and now >= due.get(fingerprint, now):
            due[fingerprint] = now + PROGRESS_EVERY
            with batch.lock, stops.held():
                coordinator.progress(fingerprint, text)

    def inside(text: str) -> None:
        if bar:
            progress.update(task, last=escape(f"point {training_now[0]}/{len(pending)}: {text}"))
        note(training_now[0] - 1, text)

    if isinstance(runner, ProcessPool):  # its workers tell what their points are doing
        runner.on_progress = note

    counts = {"fed": 0, "done": 0}  # jobs sent out, outcomes back
    local = slots is not None and executor is None

    def waiting(message: str) -> None:
        progress.update(task, last=escape(message))
        if lines:
            console.print(escape(f"{time.strftime('%H:%M:%S')} {message}"))

    held_elsewhere: list[int] = []  # the points another run held when their turn came

    def claim(key: int, planned: Planned) -> Job | None:
        """The point's job, or None when another run has it (or recorded it meanwhile)."""
        if coordinator is not None:
            reason = coordinator.acquire(planned.fingerprint)
            held = reason is not None
            if reason is None:
                reason = _recorded_meanwhile(store, planned)
                if reason is not None:
                    coordinator.recorded(planned.fingerprint)  # releases the claim
            if reason is not None:
                report.elsewhere.append((planned, reason))
                if held:
                    held_elsewhere.append(key)
                progress.update(task, advance=1, last=escape(f"skipped: {reason}"))
                return None
        counts["fed"] += 1
        due[planned.fingerprint] = time.monotonic() + PROGRESS_AFTER
        return training.job(ctx, planned, key)

    def claim_again(key: int) -> Job | None:
        """A point another run held when its turn came, once more: its claim is taken over
        when that run has died since (killed), so the point is not left unrun."""
        planned = pending[key]
        entry = next(e for e in report.elsewhere if e[0] is planned)
        report.elsewhere.remove(entry)
        progress.update(task, advance=-1)
        return claim(key, planned)  # still held, or recorded meanwhile: skipped as before

    def feed() -> Iterator[Job]:
        for key, planned in enumerate(pending):
            training_now[0] = key + 1
            if local:
                assert slots is not None
                slots.hold(counts["fed"] - counts["done"] + 1, waiting)
            with batch.lock, stops.held():
                job = claim(key, planned)
            if job is not None:
                yield job
        for key in held_elsewhere[:]:  # claim() adds a point still held again: not revisited
            training_now[0] = key + 1
            if local:
                assert slots is not None
                slots.hold(counts["fed"] - counts["done"] + 1, waiting)
            with batch.lock, stops.held():
                job = claim_again(key)
            if job is not None:
                yield job

    def settle(runs: list[Run]) -> None:
        """The runs of a flushed batch are in the journal: count them, release their claims."""
        for run in runs:
            report.recorded.append(run)
            if coordinator is not None:
                coordinator.recorded(run.fingerprint)
            progress.update(task, last=escape(_short(run)))
            if lines:
                done = len(report.recorded) + len(report.elsewhere)
                stamp = time.strftime("%H:%M:%S")
                console.print(escape(f"{stamp} [{done}/{len(pending)}] {_short(run)}"))

    listen = train_progress.listening(inside) if here else contextlib.nullcontext()
    stops.install()
    try:
        with progress, runner, listen, Timer(batch, settle) as timer:
            for outcome in runner.run(feed()):
                with batch.lock, stops.held():
                    timer.raise_error()
                    counts["done"] += 1
                    outcome.raise_fatal()
                    planned = pending[outcome.key]
                    result = _checked(outcome.result, watch, strict, planned)
                    for finding in sorted(set(result.findings) - shown):
                        progress.console.print(f"[yellow]warning[/yellow]: {escape(finding)}")
                    shown.update(result.findings)
                    built = training.record(ctx, planned, result)
                    batch.add(built.run, built.files, seconds=result.seconds)
                    progress.update(task, advance=1)
                    if built.run.status == "interrupted":  # a command ended by Ctrl-C: stop
                        settle(batch.flush())
                        raise KeyboardInterrupt
                    if batch.due():
                        settle(batch.flush())
            with batch.lock, stops.held():
                timer.raise_error()
                settle(batch.flush())
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        with stops.last():
            try:
                settle(batch.flush())  # what trained before an error or Ctrl-C
            finally:
                batch.close()
                if coordinator is not None:
                    coordinator.finish()
                if batch.loose:
                    pack_runs(store, batch.loose)
                if report.recorded:
                    pack_if_needed(store)
    if stops.pending:  # a stop signal while the last results were written
        report.interrupted = True
    return report


def _checked(result: Result, watch: DataWatch, strict: bool, planned: Planned) -> Result:
    """``result`` with a warning if the data changed while its point trained (refused with
    ``strict``), and one for data that is not `dvc add`ed. Code that changed since the plan
    fingerprinted it is refused: the point may have trained with other code than its record
    would name."""
    edited = watch.code.changes()
    if edited:
        raise JournalError(
            f"{CODE_CHANGED} (point {planned.point.index + 1}): {', '.join(edited)}",
            hint="nothing was recorded for that point; run again once the code is settled",
        )
    if watch.unsaved or watch.plan.warnings:
        result = replace(result, warnings=(*result.warnings, *watch.plan.warnings, *watch.unsaved))
    changes = watch.changes()
    if not changes:
        return result
    if strict:
        raise CheckFailed(
            f"{DATA_CHANGED} (point {planned.point.index + 1}): {'; '.join(changes)}",
            hint="nothing was recorded for that point; run again once the data is settled",
        )
    warning = f"{DATA_CHANGED}: {'; '.join(changes)}"
    return replace(result, warnings=(*result.warnings, warning))


def _recorded_meanwhile(store: Store, planned: Planned) -> str | None:
    """Why not to train a just-claimed point: another process recorded a run of it since
    the plan was made (the claim settles who trains, this settles who already did)."""
    known = {run.id for run in planned.earlier}
    if any(run.id not in known for run in store.find(planned.fingerprint)):
        return "recorded by another run meanwhile"
    return None


def _short(run: Run) -> str:
    head = run.headline()
    score = f"{head[0]}={head[1]:.4f}" if head else ""
    return f"{run.id} {run.status} {score}".strip()
