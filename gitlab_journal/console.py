"""The rich console every command prints through."""

from __future__ import annotations

import os
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
    return _Console(file=stream, width=width, highlight=False, soft_wrap=False)


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """A reader that stopped reading (``| head -1``): what follows is dropped and the
        command goes on to its own exit code, as with plain output (rich would exit 1 here,
        and a `run` piped into `head` would stop training)."""
        self.quiet = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.file.fileno())
            os.close(devnull)
        except (OSError, ValueError):  # no file descriptor behind it (a test's buffer)
            pass


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
