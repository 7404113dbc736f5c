"""What `run` and `check` print: plans, earlier runs, and the closing table.

Everything here prints through rich, whose markup would read a text in brackets (a column list
``[const]``, a param value, an error message) as a tag and drop it: every text that comes from
the spec, the data or a run is escaped."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gitlab_journal.journal.records import UNFINISHED, Run
from gitlab_journal.run.earlier import EARLIER_COLUMNS, earlier_rows, params_text, score_text
from gitlab_journal.run.plan import Plan, Planned

if TYPE_CHECKING:
    from gitlab_journal.run.runner import Report

BEST_SHOWN = 5
TAKEOVERS_SHOWN = 3  # stale claims taken over that the closing line names


def earlier_table(done: Sequence[Planned]) -> Table:
    """The grid points already in the journal, with their earlier runs."""
    table = Table(title="Already in the journal", title_justify="left")
    for column in EARLIER_COLUMNS:
        table.add_column(column)
    for row in earlier_rows(done):
        table.add_row(*(escape(cell) for cell in row))
    return table


def print_dry_run(
    console: Console, plan: Plan, *, force: bool, retry: frozenset[str] = frozenset()
) -> None:
    table = Table(
        title=f"Dry run of {escape(plan.spec.path.name)}: nothing is trained", title_justify="left"
    )
    table.add_column("#", justify="right")
    table.add_column("params")
    table.add_column("action")
    table.add_column("earlier runs")
    for planned in plan.points:
        earlier = ", ".join(r.id for r in planned.earlier)
        latest = planned.latest
        action = "run" if force or latest is None else "skip"
        if latest is not None and latest.status in retry | UNFINISHED:
            action = f"retry ({latest.status})"
        elif force and planned.earlier:
            action = "run (repeat)"
        table.add_row(
            str(planned.point.index + 1), escape(params_text(planned.point.params)), action, earlier
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
        table.add_row(
            escape(run.id), escape(params_text(run.point)), escape(score_text(run)), run.status
        )
    return table


def already_run(run: Run) -> str:
    """What a point already in the journal is told instead of training (rich text)."""
    created = run.created.replace("T", " ").rstrip("Z")
    return escape(f"Already run: {run.id} ({created}, {run.status}) {score_text(run)}".rstrip())


def print_report(console: Console, plan: Plan, report: Report) -> None:
    total = len(plan.points)
    if not report.recorded and not report.interrupted and not report.elsewhere:
        latest = plan.points[0].latest if total == 1 else None
        if latest is not None:
            console.print(already_run(latest))
        console.print(
            f"Nothing to run: all {total} points of {escape(plan.spec.path.name)} were already "
            "run (see `git journal log`, or use --force to record a repeat)."
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
        console.print(f"[red]{escape(run.id)} failed[/red]: {escape(last[0])}")
    if report.interrupted:
        left = report.pending - len(report.recorded) - len(report.elsewhere)
        console.print(
            f"Interrupted: {left} point(s) not run. Every recorded run is complete; "
            "`git journal run` goes on where this stopped."
        )


def print_elsewhere(
    console: Console, report: Report, taken: Sequence[tuple[str, str]], *, remote: bool
) -> None:
    """After the summary: the stale claims this run took over (``taken``: fingerprint, who
    held it), in one line however many, and what it left to other runs (``remote``: to other
    machines too)."""
    left = {planned.fingerprint for planned, _ in report.elsewhere}
    holders: dict[str, str] = {}
    for fingerprint, holder in taken:
        if fingerprint not in left:  # a takeover that ended with the point left to others
            holders.setdefault(fingerprint, holder)  # is none; local and remote are one
    if holders:
        console.print(escape(takeover_line(holders)))
    if not report.elsewhere:
        return
    console.print(
        f"{len(report.recorded)} point(s) trained here, {len(report.elsewhere)} by other runs."
    )
    if remote:
        reasons = sorted({reason.split(" (")[0] for _, reason in report.elsewhere})
        console.print(
            escape(f"{len(report.elsewhere)} point(s) left to other runners: " + "; ".join(reasons))
        )


def takeover_line(holders: dict[str, str]) -> str:
    """``Took over 3 stale claims (process 42 on box): 0a1b.., 2c3d.., 4e5f..``: the claims
    (fingerprint -> who held it) a run took over, in one line."""
    fingerprints = list(holders)
    names = sorted(set(holders.values()))
    who = "; ".join(names[:TAKEOVERS_SHOWN])
    if len(names) > TAKEOVERS_SHOWN:
        who += f"; {len(names) - TAKEOVERS_SHOWN} more"
    if len(fingerprints) == 1:
        return f"Took over a stale claim on {fingerprints[0][:12]} ({who})."
    shown = ", ".join(fingerprint[:12] for fingerprint in fingerprints[:TAKEOVERS_SHOWN])
    more = len(fingerprints) - TAKEOVERS_SHOWN
    return (
        f"Took over {len(fingerprints)} stale claims ({who}): {shown}"
        + (f" and {more} more" if more > 0 else "")
        + "."
    )
