"""What `run` and `check` print: plans, earlier runs, and the closing table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from gitlab_journal.journal.records import Run
from gitlab_journal.run.plan import Plan, Planned

if TYPE_CHECKING:
    from gitlab_journal.run.runner import Report

BEST_SHOWN = 5


def _params(params: Any) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(dict(params).items())) or "(defaults)"


def _score(run: Run) -> str:
    head = run.headline()
    if head is None:
        return "-"
    std = run.metrics.get(f"{head[0]}_std")
    return f"{head[0]} {head[1]:.4f}" + (f" ± {std:.4f}" if std is not None else "")


def earlier_table(done: Sequence[Planned]) -> Table:
    """The grid points already in the journal, with their earlier runs."""
    table = Table(title="Already in the journal", title_justify="left")
    for column in ("params", "earlier runs", "when", "status", "score", "code"):
        table.add_column(column)
    for planned in done:
        for run in planned.earlier:
            code = (run.code.commit or "none")[:10] + (" (dirty)" if run.code.dirty else "")
            table.add_row(
                _params(planned.point.params),
                run.id,
                run.created.replace("T", " ").rstrip("Z"),
                run.status,
                _score(run),
                code,
            )
    return table


def print_dry_run(console: Console, plan: Plan, *, force: bool) -> None:
    table = Table(
        title=f"Dry run of {plan.spec.path.name}: nothing is trained", title_justify="left"
    )
    table.add_column("#", justify="right")
    table.add_column("params")
    table.add_column("action")
    table.add_column("earlier runs")
    for planned in plan.points:
        earlier = ", ".join(r.id for r in planned.earlier)
        action = "run" if force or not planned.earlier else "skip"
        if force and planned.earlier:
            action = "run (repeat)"
        table.add_row(str(planned.point.index + 1), _params(planned.point.params), action, earlier)
    console.print(table)
    pending = len(plan.pending(force))
    console.print(f"{pending} to run, {len(plan.points) - pending} to skip.")


def best_table(runs: Sequence[Run], title: str) -> Table:
    """The best runs by their headline metric; runs that did not finish ok come last."""

    def key(run: Run) -> tuple[int, float]:
        head = run.headline()
        return (0 if run.status == "ok" and head else 1, -(head[1] if head else 0.0))

    table = Table(title=title, title_justify="left")
    for column in ("run", "params", "score", "status"):
        table.add_column(column)
    for run in sorted(runs, key=key)[:BEST_SHOWN]:
        table.add_row(run.id, _params(run.point), _score(run), run.status)
    return table


def print_report(console: Console, plan: Plan, report: Report) -> None:
    total = len(plan.points)
    if not report.recorded and not report.interrupted:
        console.print(
            f"Nothing to run: all {total} points of {plan.spec.path.name} were already run "
            "(see `git journal log`, or use --force to record a repeat)."
        )
        return
    runs = list(report.recorded) + [r for p in report.skipped for r in p.earlier[-1:]]
    console.print(best_table(runs, "Best runs of this grid"))
    console.print(
        f"Recorded {len(report.recorded)} run(s), skipped {len(report.skipped)} already run, "
        f"{len(report.failed)} failed."
    )
    for run in report.failed:
        last = (run.error or "").strip().splitlines()[-1:] or [""]
        console.print(f"[red]{run.id} failed[/red]: {last[0]}")
    if report.interrupted:
        left = total - len(report.recorded) - len(report.skipped)
        console.print(
            f"Interrupted: {left} point(s) not run. Every recorded run is complete; "
            "`git journal run` goes on where this stopped."
        )
