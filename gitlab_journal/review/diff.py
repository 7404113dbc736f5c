"""What differs between two runs, grouped; nothing that is the same."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from gitlab_journal.journal.identity import flatten
from gitlab_journal.journal.index import model_class
from gitlab_journal.journal.records import Run
from gitlab_journal.review.escape import terminal
from gitlab_journal.review.render import cell
from gitlab_journal.review.values import (
    ABSENT,
    GROUPS,
    canonical_text,
    created_text,
    number,
    value_text,
)


def _changes(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, list[Any]]:
    keys = list(dict.fromkeys([*a, *b]))
    return {
        k: [a.get(k), b.get(k)]
        for k in keys
        if (k in a) != (k in b) or canonical_text(a[k]) != canonical_text(b[k])
    }


def diff_runs(a: Run, b: Run) -> dict[str, dict[str, Any]]:
    """``{group: {key: [value in a, value in b]}}`` for what differs, by the groups of
    ``GROUPS``; empty groups left out. A key absent from one run has null on that side. `code`
    holds commit, branch, dirty and, under "files", the code dependency files whose content
    differs ({path: [blob_a, blob_b]}, null = absent)."""
    out: dict[str, dict[str, Any]] = {}
    model = _changes(
        {"model": a.model, "kind": a.kind, "name": a.name},
        {"model": b.model, "kind": b.kind, "name": b.name},
    )
    out["model"] = model
    out["params"] = _changes(a.params, b.params)
    out["data"] = _changes(a.data, b.data)
    out["table"] = _changes(a.table, b.table)
    code: dict[str, Any] = _changes(
        {"commit": a.code.commit, "branch": a.code.branch, "dirty": a.code.dirty},
        {"commit": b.code.commit, "branch": b.code.branch, "dirty": b.code.dirty},
    )
    code.update(_changes(_caller(a), _caller(b)))
    files = _changes(dict(sorted(a.code.files.items())), dict(sorted(b.code.files.items())))
    if files:
        code["files"] = files
    out["code"] = code
    out["evaluation"] = _changes(flatten(a.evaluation), flatten(b.evaluation))
    out["environment"] = _changes(flatten(a.environment), flatten(b.environment))
    out["metrics"] = _changes(a.metrics, b.metrics)
    out["status"] = _changes(
        {"status": a.status, "error": a.error}, {"status": b.status, "error": b.error}
    )
    return {group: changes for group, changes in out.items() if changes}


def _caller(run: Run) -> dict[str, str]:
    """The run's caller as diff keys: ``caller.notebook``, ``caller.script``."""
    return {f"caller.{kind}": blob for kind, blob in run.caller.items()}


MAX_CELL_LINES = 200  # lines of a notebook cells' diff shown; more are counted


def cells_diff(a: bytes | None, b: bytes | None) -> list[str]:
    """A unified diff of two runs' notebook cells (their ``notebook.py``), at most
    :data:`MAX_CELL_LINES` lines and a count of the rest; empty unless both runs keep them."""
    if a is None or b is None:
        return []
    lines = list(
        difflib.unified_diff(
            a.decode("utf-8", "replace").splitlines(),
            b.decode("utf-8", "replace").splitlines(),
            "notebook.py (first run)",
            "notebook.py (second run)",
            lineterm="",
        )
    )
    if len(lines) > MAX_CELL_LINES:
        rest = len(lines) - MAX_CELL_LINES
        lines = [*lines[:MAX_CELL_LINES], f"… {rest} more line{'s' if rest != 1 else ''}"]
    return lines


def _side(value: Any) -> str:
    return ABSENT if value is None else value_text(value, 60)


def _metric(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return number(value)
    return _side(value)


def _last_line(text: Any) -> str | None:
    if text is None:
        return None
    lines = str(text).strip().splitlines()
    return lines[-1] if lines else ""


def _metric_delta(a: Any, b: Any) -> str:
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
    if not numeric:
        return ""
    delta = b - a
    if not math.isfinite(delta):
        return ""
    return f"({'+' if delta >= 0 else ''}{number(delta)})"


def _file_change(a: str | None, b: str | None) -> str:
    if a is None:
        return f"added ({str(b)[:10]})"
    if b is None:
        return f"removed (was {a[:10]})"
    return f"changed ({a[:10]} → {b[:10]})"


def render_diff(
    console: Console,
    a: Run,
    b: Run,
    changes: Mapping[str, Mapping[str, Any]],
    cells: Sequence[str] = (),
) -> None:
    """The differences, grouped; ``cells``: the diff of the two runs' notebook cells
    (:func:`cells_diff`), shown under ``code``."""

    def label(run: Run) -> Text:
        return Text.assemble(
            (terminal(run.id), "yellow"),
            terminal(f" ({model_class(run.model)}, {created_text(run.created)} UTC)"),
        )

    parts: list[Any] = [Text.assemble(("diff ", "bold"), label(a), " → ", label(b))]
    if a.fingerprint == b.fingerprint:
        parts.append(Text(f"same experiment (fingerprint {a.fingerprint[:12]}): repeats", "dim"))
    if not changes:
        parts.append(Text("Nothing differs between these runs (beyond id and time)."))
        console.print(Group(*parts))
        return
    for group in GROUPS:
        items = changes.get(group)
        if not items:
            continue
        parts += [Text(""), Text(group, style="bold")]
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="cyan", no_wrap=True)
        grid.add_column(overflow="fold")
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        grid.add_column(style="dim", no_wrap=True)
        for key, pair in items.items():
            if group == "code" and key == "files":
                for path, (fa, fb) in pair.items():
                    grid.add_row(cell("  " + path), cell(_file_change(fa, fb)), "", "", "")
                continue
            va, vb = pair
            delta = ""
            if group == "metrics":
                sides = (_metric(va), _metric(vb))
                delta = _metric_delta(va, vb)
            elif group == "status" and key == "error":
                sides = (_side(_last_line(va)), _side(_last_line(vb)))
            else:
                sides = (_side(va), _side(vb))
            grid.add_row(cell("  " + key), cell(sides[0]), "→", cell(sides[1]), Text(delta))
        parts.append(grid)
        if group == "code" and cells:
            style = {"+": "green", "-": "red", "@": "cyan"}
            for line in cells:
                parts.append(Text("    " + terminal(line), style=style.get(line[:1], "dim")))
    console.print(Group(*parts))
