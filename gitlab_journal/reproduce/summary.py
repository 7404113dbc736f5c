"""What `rerun` and `checkout` print."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table
from rich.text import Text

from gitlab_journal.reproduce.checkout import CheckedOut
from gitlab_journal.reproduce.inputs import InputCheck
from gitlab_journal.reproduce.rerun import Rerun
from gitlab_journal.reproduce.verdict import CLOSE, IDENTICAL, MetricRow


def exact(value: float | None) -> str:
    """A number to its last digit (``repr``), so that "identical" can be checked by eye."""
    return "—" if value is None else repr(value)


def _delta(row: MetricRow) -> str:
    delta = row.delta
    if delta is None:
        return "missing" if row.now is None else "new"
    return f"{delta:+.3g}" if math.isfinite(delta) else str(delta)


def print_inputs(console: Console, inputs: tuple[InputCheck, ...]) -> None:
    for check in inputs:
        if check.matches:
            console.print(
                f"data {check.name}: md5 matches the record ({check.where})", markup=False
            )
        else:
            console.print(Text("data " + check.describe(), style="yellow"))


def print_rerun(console: Console, outcome: Rerun) -> None:
    """The comparison: "identical", or a table of the differences and the likely causes."""
    original, new, comparison = outcome.original, outcome.new, outcome.comparison
    print_inputs(console, outcome.inputs)
    names = ", ".join(row.name for row in comparison.rows) or "no metrics"
    if comparison.result == IDENTICAL:
        console.print(
            Text.assemble(
                ("identical", "bold green"),
                f": every metric matches run {original.id} to the last digit ({names})",
            )
        )
    elif comparison.result == CLOSE:
        console.print(
            Text.assemble(
                ("close", "bold green"),
                f": every metric within {comparison.tolerance:g} of run {original.id}",
            )
        )
        _differences(console, comparison.differing)
    else:
        label = "failed" if comparison.result == "failed" else "differs"
        count = len(comparison.differing)
        console.print(
            Text.assemble(
                (label, "bold red"),
                f": {count} of {len(comparison.rows)} metrics differ from run {original.id}"
                if comparison.rows
                else f": the reproduction of run {original.id} ended {new.status!r}",
            )
        )
        _differences(console, comparison.differing)
        console.print(Text("Likely cause" + ("s" if len(comparison.causes) > 1 else ""), "bold"))
        for i, cause in enumerate(comparison.causes, start=1):
            console.print(f"  {i}. {cause}", markup=False, highlight=False)
    if not outcome.same_fingerprint:
        console.print(
            Text(
                f"The reproduction is another experiment (fingerprint {new.fingerprint[:12]}, "
                f"the original {original.fingerprint[:12]}): see the causes above.",
                style="yellow",
            )
        )
    if not outcome.recorded:
        console.print("Nothing recorded (--no-record).", style="dim")
        return
    kind = "a repeat" if outcome.same_fingerprint else "a reproduction attempt"
    mark = "reproduced" if comparison.reproduced else "irreproducible"
    console.print(
        f"Recorded run {new.id} as {kind} of {original.id} (reproduces: {original.id}); "
        f"{original.id} is marked {mark}.",
        markup=False,
    )


def _differences(console: Console, rows: list[MetricRow]) -> None:
    if not rows:
        return
    table = Table(title_justify="left", box=None, pad_edge=False)
    for column in ("metric", "recorded", "now", "difference"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(row.name, exact(row.recorded), exact(row.now), _delta(row))
    console.print(table)


def print_checkout(console: Console, done: CheckedOut, run_id: str) -> None:
    where = str(done.path)
    head = f"on a new branch {done.branch}" if done.branch else "detached"
    if done.no_commit:
        base = "no commit, as the run was made"
        head = (
            f"on a new branch {done.branch} with no commit yet"
            if done.branch
            else f"detached at the empty commit {done.commit[:12]}"
        )
    else:
        base = f"commit {done.commit[:12]}"
    console.print(f"Checked out run {run_id} in {where}: {base} ({head})", markup=False)
    if done.patched:
        console.print("  applied its code.patch (the uncommitted changes it ran with)")
    if done.spec is not None:
        try:
            shown = done.spec.relative_to(done.path).as_posix()
        except ValueError:
            shown = str(done.spec)
        console.print(f"  wrote its spec as {shown} (its grid point alone)", markup=False)
    if done.cells is not None:
        console.print(
            f"  wrote its notebook cells as {done.cells.name} (the cells it counts as its code)",
            markup=False,
        )
    if done.cells_problem is not None:
        console.print(
            Text(f"  its notebook cells are not written: {done.cells_problem}", style="yellow")
        )
    for check in done.inputs:
        if not check.matches:
            console.print(Text("  data " + check.describe(), style="yellow"))
    console.print(f"Continue there: cd {where}", markup=False)
    if not done.branch:
        console.print("  git switch -c NAME keeps your commits on a branch", markup=False)
    console.print(f"Remove it with: git worktree remove {where}", markup=False)
