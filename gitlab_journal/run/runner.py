"""The runner: expand the grid, look every point up, train what is new, record each run.

One process, one writer: each result is committed to the journal as it arrives, so Ctrl-C
loses at most the point in training, never a recorded run, and never leaves a half-written one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gitlab_journal.data.loaders import load_data
from gitlab_journal.journal.records import Run
from gitlab_journal.journal.store import Store
from gitlab_journal.run.build import make_run
from gitlab_journal.run.environment import environment
from gitlab_journal.run.maintenance import pack_if_needed
from gitlab_journal.run.plan import Plan, Planned
from gitlab_journal.train.backend import Result, backend_for


@dataclass
class Report:
    """What one `git journal run` did."""

    recorded: list[Run] = field(default_factory=list)
    skipped: list[Planned] = field(default_factory=list)
    interrupted: bool = False

    @property
    def failed(self) -> list[Run]:
        return [r for r in self.recorded if r.status != "ok"]


def train_point(plan: Plan, planned: Planned, X: Any, y: Any) -> Result:
    model = planned.point.model
    return backend_for(model).train(model, planned.point.params, X, y, plan.spec.evaluation)


def execute(
    store: Store, plan: Plan, *, force: bool = False, quiet: bool = False, console: Console
) -> Report:
    """Train and record every pending point of ``plan``."""
    report = Report(skipped=[] if force else plan.done())
    pending = plan.pending(force)
    if not pending:
        return report
    X, y = load_data(plan.root, plan.spec.data)
    env = environment()
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last]}"),
        console=console,
        disable=quiet,
        transient=False,
    )
    try:
        with progress:
            task = progress.add_task("training", total=len(pending), last="")
            for planned in pending:
                result = train_point(plan, planned, X, y)
                run = store.record(make_run(plan, planned, result, env), result.files)
                report.recorded.append(run)
                progress.update(task, advance=1, last=_short(run))
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        if report.recorded:
            pack_if_needed(store)
    return report


def _short(run: Run) -> str:
    head = run.headline()
    score = f"{head[0]}={head[1]:.4f}" if head else ""
    return f"{run.id} {run.status} {score}".strip()
