"""The `log` table: one row per run, the params that vary among them, the headline metrics."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from gitlab_journal.journal.index import Row, json_safe
from gitlab_journal.review.render import (
    ABSENT,
    created_text,
    headline_metrics,
    metric_text,
    reproduction_text,
    status_text,
    value_text,
)

MAX_PARAM_COLUMNS = 8
MAX_METRIC_COLUMNS = 6
PARAM_WIDTH = 24
_MISSING = "\x00missing"


def _canonical(value: Any) -> str:
    return json.dumps(json_safe(value), sort_keys=True, ensure_ascii=False)


def varying_params(params: Sequence[Mapping[str, Any]]) -> list[str]:
    """The parameter names whose value differs among ``params`` (absent counts as a value),
    in order of first appearance."""
    names: dict[str, None] = {}
    for p in params:
        names.update(dict.fromkeys(p))
    out = []
    for name in names:
        seen = {_canonical(p[name]) if name in p else _MISSING for p in params}
        if len(seen) > 1:
            out.append(name)
    return out


def metric_columns(metrics: Sequence[Mapping[str, Any]]) -> list[str]:
    names: dict[str, None] = {}
    for m in metrics:
        names.update(dict.fromkeys(headline_metrics(m)))
    return list(names)


def log_table(rows: Sequence[Row]) -> tuple[Table, list[str]]:
    """The table, and footnotes (columns left out)."""
    params = varying_params([r.params for r in rows])
    metrics = metric_columns([r.metrics for r in rows])
    notes: list[str] = []
    if len(params) > MAX_PARAM_COLUMNS:
        left = params[MAX_PARAM_COLUMNS:]
        notes.append(
            f"{len(left)} more varying param{'s' if len(left) != 1 else ''} not shown: "
            + ", ".join(left[:10])
            + (" ..." if len(left) > 10 else "")
        )
        params = params[:MAX_PARAM_COLUMNS]
    if len(metrics) > MAX_METRIC_COLUMNS:
        left = metrics[MAX_METRIC_COLUMNS:]
        notes.append(f"{len(left)} more metrics not shown: " + ", ".join(left))
        metrics = metrics[:MAX_METRIC_COLUMNS]

    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("id", style="yellow", no_wrap=True)
    table.add_column("created (UTC)", no_wrap=True)
    table.add_column("model", no_wrap=True)
    for name in params:
        table.add_column(name, style="cyan")
    for name in metrics:
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for row in rows:
        cells: list[Text] = [
            Text(row.id),
            Text(created_text(row.created)),
            Text(row.model_class),
        ]
        for name in params:
            cells.append(
                Text(value_text(row.params[name], PARAM_WIDTH) if name in row.params else ABSENT)
            )
        for name in metrics:
            cells.append(Text(metric_text(row.metrics, name)))
        status = status_text(row.status)
        if row.reproduction is not None:  # what the latest `git journal rerun` found
            status.append(" ").append_text(reproduction_text(row.reproduction))
        cells.append(status)
        table.add_row(*cells)
    return table, notes


def footer(shown: int, matching: int, total: int, filtered: bool) -> str:
    text = f"{shown} run{'s' if shown != 1 else ''} shown of {matching}"
    if filtered and matching != total:
        text += f" matching ({total} in the journal)"
    return text
