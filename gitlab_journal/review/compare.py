"""`git journal compare`: many runs side by side, one column per run, only the rows that vary.

Rows come in groups: model, params, data, table, code, evaluation, environment, metrics, status. A
row is shown when its value differs between the runs (absent counts as a value); the headline
metrics are shown always (they are the point of a comparison), each with its best value bold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from gitlab_journal.journal.identity import flatten, json_safe
from gitlab_journal.journal.index import model_class
from gitlab_journal.journal.leaderboard import higher_is_better
from gitlab_journal.journal.records import Run
from gitlab_journal.review.escape import terminal
from gitlab_journal.review.render import cell, status_text
from gitlab_journal.review.values import (
    ABSENT,
    GROUPS,
    canonical_text,
    created_text,
    headline_metrics,
    metric_text,
    value_text,
)

_MISSING = object()


def _fields(run: Run) -> dict[str, dict[str, Any]]:
    return {
        "model": {"model": model_class(run.model), "name": run.name, "kind": run.kind},
        "params": dict(run.params),
        "data": dict(run.data),
        "table": flatten(run.table),
        "code": {
            "commit": run.code.commit[:10] if run.code.commit else None,
            "dirty": run.code.dirty,
            **{f"caller.{k}": v[:10] for k, v in sorted(run.caller.items())},
            **{f"files.{k}": v[:10] for k, v in sorted(run.code.files.items())},
        },
        "evaluation": flatten(run.evaluation),
        "environment": flatten(run.environment),
        "metrics": dict(run.metrics),
        "status": {"status": run.status, "created": created_text(run.created)},
    }


def _key(value: Any) -> str:
    if value is _MISSING:
        return "\x00missing"
    return canonical_text(value)


def compare_rows(
    runs: Sequence[Run], *, everything: bool = False
) -> list[tuple[str, str, list[Any]]]:
    """``(group, key, [value per run])`` for each row to show; a run without the key has None."""
    fields = [_fields(run) for run in runs]
    headlines = {name for run in runs for name in headline_metrics(run.metrics)}
    out: list[tuple[str, str, list[Any]]] = []
    for group in GROUPS:
        keys: dict[str, None] = {}
        for f in fields:
            keys.update(dict.fromkeys(f[group]))
        for key in keys:
            if group == "metrics" and key.endswith("_std") and key[: -len("_std")] in keys:
                continue  # shown as "mean ± std" in its mean's row
            values = [f[group].get(key, _MISSING) for f in fields]
            varies = len({_key(v) for v in values}) > 1
            if group == "params" and varies:
                varies = _varies_within_a_model(runs, values)
            always = group == "metrics" and key in headlines
            if key == "created" and group == "status":
                always = True
            if everything or varies or always:
                out.append((group, key, [None if v is _MISSING else v for v in values]))
    return out


def _varies_within_a_model(runs: Sequence[Run], values: Sequence[Any]) -> bool:
    """Whether a param differs among the runs of one model: the params of two estimators
    are not compared with each other (a forest has no ``alpha``; that is no difference)."""
    seen: dict[str, set[str]] = {}
    for run, value in zip(runs, values, strict=True):
        seen.setdefault(model_class(run.model), set()).add(_key(value))
    return any(len(keys) > 1 for keys in seen.values())


def compare_json(runs: Sequence[Run], rows: Sequence[tuple[str, str, list[Any]]]) -> dict[str, Any]:
    return {
        "runs": [run.id for run in runs],
        "rows": [
            {"group": group, "key": key, "values": json_safe(values)} for group, key, values in rows
        ],
    }


def _best(values: Sequence[Any], metric: str) -> float | None:
    numbers = [
        v
        for v in values
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    ]
    if len(numbers) < 2:
        return None
    return max(numbers) if higher_is_better(metric) else min(numbers)


KEY_WIDTH = 24
CELL_WIDTH = 30


def _cells(runs: Sequence[Run], group: str, key: str, values: Sequence[Any]) -> list[Text]:
    best = (
        _best(values, key) if group == "metrics" and not key.endswith(("_std", "_time")) else None
    )
    cells: list[Text] = []
    for run, value in zip(runs, values, strict=True):
        if value is None and key in _fields(run)[group]:
            cells.append(cell("null"))  # recorded as null (max_depth: None), not absent
        elif value is None:
            cells.append(Text(ABSENT, style="dim"))
        elif group == "metrics" and isinstance(value, (int, float)):
            style = "bold green" if best is not None and value == best else ""
            cells.append(cell(metric_text(run.metrics, key), style=style))
        elif group == "status" and key == "status":
            cells.append(status_text(str(value)))
        else:
            cells.append(cell(value_text(value, CELL_WIDTH)))
    return cells


def compare_table(runs: Sequence[Run], rows: Sequence[tuple[str, str, list[Any]]]) -> Table:
    return compare_tables(runs, rows, None)[0]


def compare_tables(
    runs: Sequence[Run], rows: Sequence[tuple[str, str, list[Any]]], width: int | None
) -> list[Table]:
    """The comparison as tables of as many runs side by side as ``width`` holds (all of them
    when None): a narrow terminal gets several tables, never columns squeezed to nothing."""
    grid = [_cells(runs, group, key, values) for group, key, values in rows]
    labels = [min(len(terminal(key)) + 2, KEY_WIDTH) for _, key, _ in rows] or [0]
    first = max([*labels, *(len(group) for group, _, _ in rows)])
    needs = [max([len(run.id), *(len(r[i].plain) for r in grid)]) + 3 for i, run in enumerate(runs)]
    chunks: list[list[int]] = [[]]
    used = first + 4
    for i, need in enumerate(needs):
        if width is not None and chunks[-1] and used + need > width:
            chunks.append([])
            used = first + 4
        chunks[-1].append(i)
        used += need
    tables: list[Table] = []
    for chunk in chunks:
        table = Table(header_style="bold", show_lines=False, pad_edge=False)
        table.add_column("", style="cyan", no_wrap=True, max_width=KEY_WIDTH)
        for i in chunk:
            table.add_column(terminal(runs[i].id), justify="right", no_wrap=True, style="")
        last_group = None
        for (group, key, _), cells in zip(rows, grid, strict=True):
            if group != last_group:
                table.add_row(Text(group, style="bold"), *[Text("") for _ in chunk])
                last_group = group
            table.add_row(cell("  " + key), *[cells[i] for i in chunk])
        tables.append(table)
    return tables
