"""The rich console every command prints through."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from rich.console import Console

from gitlab_journal.textable import is_terminal, output_width

if TYPE_CHECKING:
    from rich.progress import Progress


def make_console(*, stderr: bool = False) -> Console:
    """A console that does not wrap tables to 80 columns when output goes to a pipe or file:
    :data:`.textable.PIPE_WIDTH` there, unless ``COLUMNS`` says otherwise (on a terminal, the
    terminal's width)."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if is_terminal(stream) else output_width(stream)
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


def progress_bar(console: Console, *, quiet: bool, label: str = "{task.description}") -> Progress:
    """The progress bar of long work (grids, searches): label, bar, done/total, elapsed time,
    and the last result in the task's ``last`` field."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last]}"),
        console=console,
        disable=quiet,
        transient=False,
    )
