"""Plain-text tables and the terminal facts they need (width, colour), for the commands on the
fast path (`check`, `log`, the hooks), which must not pay for importing rich."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

PIPE_WIDTH = 160  # the width of output to a pipe or file, unless COLUMNS says otherwise

# The styles review output uses, as SGR parameters.
_SGR = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}

Segment = tuple[str, str]  # (text, style): a style is space-separated names of _SGR
Cell = str | Sequence[Segment]


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, title: str = "") -> str:
    """Columns padded to their widest cell, a rule under the header."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()

    out = [title] if title else []
    out += [line(headers), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in rows]
    return "\n".join(out)


def output_width(stream: TextIO) -> int:
    """The columns output to ``stream`` may use: ``COLUMNS`` when set; else the terminal's
    width, or :data:`PIPE_WIDTH` for a pipe or file (so tables are not cut to 80 there)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if not is_terminal(stream):
        return PIPE_WIDTH
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (OSError, ValueError, AttributeError):
        return 80


def wants_color(stream: TextIO) -> bool:
    """Colour on a terminal (not ``TERM=dumb``); never with ``NO_COLOR``, always with
    ``FORCE_COLOR`` (https://no-color.org, https://force-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return is_terminal(stream) and os.environ.get("TERM", "") not in ("dumb", "unknown")


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (a closed stream, or one without ``isatty``, is not)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def cell_width(text: str) -> int:
    """The columns ``text`` takes on a terminal: 2 for a wide (East Asian) character, 0 for a
    combining one."""
    if text.isascii():
        return len(text)
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def styled(text: str, style: str, color: bool) -> str:
    """``text`` in ``style`` when ``color``; as it is otherwise."""
    if not color or not style or not text:
        return text
    codes = ";".join(_SGR[name] for name in style.split() if name in _SGR)
    return f"\x1b[{codes}m{text}\x1b[0m" if codes else text


def wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` columns, broken between words (a word longer
    than a line keeps its own line)."""
    if cell_width(text) <= width:
        return [text]
    import textwrap

    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [text]


@dataclass(frozen=True)
class Column:
    header: str
    style: str = ""  # for the cells that have none of their own
    right: bool = False  # right-justified (numbers)
    fold: int | None = None  # a header wider than this wraps, to the width of its cells


def _segments(cell: Cell, style: str) -> list[Segment]:
    if isinstance(cell, str):
        return [(cell, style)]
    return [(text, own or style) for text, own in cell]


def box_table(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], *, color: bool) -> str:
    """A table without outer border: a bold header, a heavy rule, cells padded to their
    column and parted by ``│``."""
    body = [[_segments(c, col.style) for c, col in zip(row, columns, strict=True)] for row in rows]
    widths = []
    for i, col in enumerate(columns):
        cells = [sum(cell_width(t) for t, _ in row[i]) for row in body]
        head = cell_width(col.header)
        if col.fold is not None:
            head = min(head, max(col.fold, *cells) if cells else col.fold)
        widths.append(max([head, *cells]))
    heads = [_fold(col.header, w) for col, w in zip(columns, widths, strict=True)]
    height = max(len(h) for h in heads)
    out = []
    for n in range(height):
        parts = [
            _pad([(h[n] if n < len(h) else "", "bold")], w, col.right, color)
            for h, w, col in zip(heads, widths, columns, strict=True)
        ]
        out.append(" ┃ ".join(parts).rstrip())
    last = len(columns) - 1
    out.append("╇".join("━" * (w + (i > 0) + (i < last)) for i, w in enumerate(widths)))
    for row in body:
        parts = [
            _pad(cell, w, col.right, color)
            for cell, w, col in zip(row, widths, columns, strict=True)
        ]
        out.append(" │ ".join(parts).rstrip())
    return "\n".join(out)


def _fold(text: str, width: int) -> list[str]:
    """A header in lines of at most ``width`` columns (a wide character that would not fit
    starts the next line)."""
    if cell_width(text) <= width or width <= 0:
        return [text]
    lines, line, used = [], "", 0
    for char in text:
        need = cell_width(char)
        if line and used + need > width:
            lines.append(line)
            line, used = "", 0
        line += char
        used += need
    return [*lines, line] if line else lines


def _pad(segments: Sequence[Segment], width: int, right: bool, color: bool) -> str:
    text = "".join(styled(t, s, color) for t, s in segments)
    gap = " " * max(0, width - sum(cell_width(t) for t, _ in segments))
    return gap + text if right else text + gap
