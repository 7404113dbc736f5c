"""What `run` and `check` print: plans, earlier runs, and the closing table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from gitlab_journal.journal.records import UNFINISHED, Run
from gitlab_journal.run.earlier import EARLIER_COLUMNS, earlier_rows, params_text, score_text
from gitlab_journal.run.plan import Plan, Planned

if TYPE_CHECKING:
    from gitlab_journal.run.runner import Report

BEST_SHOWN = 5


def earlier_table(done: Sequence[Planned]) -> Table:
    """The grid points already in the journal, with their earlier runs."""
    table = Table(title="Already in the journal", title_justify="left")
    for column in EARLIER_COLUMNS:
        table.add_column(column)
    for row in earlier_rows(done):
        table.add_row(*row)
    return table


def print_dry_run(
    console: Console, plan: Plan, *, force: bool, retry: frozenset[str] = frozenset()
) -> None:
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
        if planned.earlier and planned.earlier[-1].status in retry | UNFINISHED:
            action = f"retry ({planned.earlier[-1].status})"
        elif force and planned.earlier:
            action = "run (repeat)"
        table.add_row(
            str(planned.point.index + 1), params_text(planned.point.params), action, earlier
        )
    console.print(table)
    pending = len(plan.pending(force, retry))
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
        table.add_row(run.id, params_text(run.point), score_text(run), run.status)
    return table


def print_report(console: Console, plan: Plan, report: Report) -> None:
    total = len(plan.points)
    if not report.recorded and not report.interrupted and not report.elsewhere:
        if total == 1 and plan.points[0].earlier:
            earlier = plan.points[0].earlier[-1]
            console.print(
                f"Already run: {earlier.id} ({earlier.created.replace('T', ' ').rstrip('Z')}, "
                f"{earlier.status}) {score_text(earlier)}".rstrip()
            )
        console.print(
            f"Nothing to run: all {total} points of {plan.spec.path.name} were already run "
            "(see `git journal log`, or use --force to record a repeat)."
        )
        return
    runs = list(report.recorded) + [r for p in report.skipped for r in p.earlier[-1:]]
    if runs:  # none when other runs trained every point
        console.print(best_table(runs, "Best runs of this grid"))
    console.print(
        f"Recorded {len(report.recorded)} run(s), skipped {len(report.skipped)} already run, "
        f"{len(report.failed)} failed."
    )
    for run in report.failed:
        last = (run.error or "").strip().splitlines()[-1:] or [""]
        console.print(f"[red]{run.id} failed[/red]: {last[0]}")
    if report.interrupted:
        left = report.pending - len(report.recorded) - len(report.elsewhere)
        console.print(
            f"Interrupted: {left} point(s) not run. Every recorded run is complete; "
            "`git journal run` goes on where this stopped."
        )
