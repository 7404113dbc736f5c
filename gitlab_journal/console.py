"""The rich console every command prints through."""

from __future__ import annotations

import os
import sys

from rich.console import Console


def make_console(*, stderr: bool = False) -> Console:
    """A console that does not wrap tables to 80 columns when output goes to a pipe or file."""
    stream = sys.stderr if stderr else sys.stdout
    width = None
    if not stream.isatty():
        width = max(160, int(os.environ.get("COLUMNS", "0") or 0))
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)
