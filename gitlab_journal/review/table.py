"""The `log` table: one row per run, the params that vary among them, the headline metrics.

Plain text (:func:`.textable.box_table`), styled on a terminal: `log` does not import rich."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gitlab_journal.journal.index import Row
from gitlab_journal.review.escape import terminal
from gitlab_journal.review.values import (
    ABSENT,
    canonical_text,
    created_text,
    headline_metrics,
    metric_text,
    reproduction_mark,
    status_style,
    value_text,
)
from gitlab_journal.textable import Cell, Column, box_table, cell_width

MAX_PARAM_COLUMNS = 8
MAX_METRIC_COLUMNS = 6
PARAM_WIDTH = 24
_MISSING = "\x00missing"


def varying_params(
    params: Sequence[Mapping[str, Any]], models: Sequence[str] | None = None
) -> list[str]:
    """The parameter names whose value differs among ``params`` (absent counts as a value),
    in order of first appearance. With ``models`` (each run's model), a name varies when it
    varies among the runs of one model: the params of different estimators are not compared
    with each other (Ridge's ``alpha`` does not vary because a forest has none)."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for i, p in enumerate(params):
        groups.setdefault(models[i] if models is not None else "", []).append(p)
    names: dict[str, None] = {}
    for p in params:
        names.update(dict.fromkeys(p))
    out = []
    for name in names:
        for members in groups.values():
            seen = {canonical_text(p[name]) if name in p else _MISSING for p in members}
            if len(seen) > 1:
                out.append(name)
                break
    return out


def metric_columns(metrics: Sequence[Mapping[str, Any]]) -> list[str]:
    """The headline metrics of the runs: those every run with metrics has first, then the
    others, each in order of first appearance."""
    names: dict[str, None] = {}
    having = [m for m in metrics if m]
    for m in having:
        names.update(dict.fromkeys(headline_metrics(m)))
    shared = [n for n in names if all(n in m for m in having)]
    return shared + [n for n in names if n not in shared]


_SEPARATOR = 3  # " │ " between two columns


def _fit(
    fixed: int, optional: Sequence[tuple[str, int]], width: int | None
) -> tuple[list[str], list[str]]:
    """The optional columns that fit in ``width`` beside ``fixed`` characters, in order (a
    column too wide is skipped, a later narrower one may still fit); and those left out."""
    if width is None:
        return [name for name, _ in optional], []
    used = fixed
    shown: list[str] = []
    left: list[str] = []
    for name, need in optional:
        if used + _SEPARATOR + need <= width:
            used += _SEPARATOR + need
            shown.append(name)
        else:
            left.append(name)
    return shown, left


def log_table(
    rows: Sequence[Row], width: int | None = None, *, color: bool = False
) -> tuple[str, list[str]]:
    """The table as text (styled when ``color``), and footnotes (columns left out).
    ``width``: the output's; columns that would not fit are left out (and named in a
    footnote) rather than squeezed to nothing.

    Params are those that vary among the runs of one model (a forest's params do not vary
    because a linear model has none); metrics every run has come first."""
    params = varying_params([r.params for r in rows], [r.model_class for r in rows])
    metrics = metric_columns([r.metrics for r in rows])
    notes: list[str] = []
    if len(params) > MAX_PARAM_COLUMNS:
        left = params[MAX_PARAM_COLUMNS:]
        notes.append(
            f"{len(left)} more varying param{'s' if len(left) != 1 else ''} not shown: "
            + ", ".join(terminal(name) for name in left[:10])
            + (" ..." if len(left) > 10 else "")
        )
        params = params[:MAX_PARAM_COLUMNS]
    if len(metrics) > MAX_METRIC_COLUMNS:
        left = metrics[MAX_METRIC_COLUMNS:]
        notes.append(f"{len(left)} more metrics not shown: " + ", ".join(map(terminal, left)))
        metrics = metrics[:MAX_METRIC_COLUMNS]

    param_cells = {
        name: [
            terminal(value_text(row.params[name], PARAM_WIDTH)) if name in row.params else ABSENT
            for row in rows
        ]
        for name in params
    }
    metric_cells = {
        name: [terminal(metric_text(row.metrics, name)) for row in rows] for name in metrics
    }
    statuses: list[list[tuple[str, str]]] = []
    for row in rows:
        status = [(terminal(row.status), status_style(row.status))]
        if row.reproduction is not None:  # what the latest `git journal rerun` found
            status += [(" ", ""), reproduction_mark(row.reproduction)]
        statuses.append(status)

    def need(header: str, cells: Sequence[str], cap: int | None = None) -> int:
        head = cell_width(terminal(header))
        return max([head if cap is None else min(head, cap), *map(cell_width, cells)])

    ids = [terminal(row.id) for row in rows]
    models = [terminal(row.model_class) for row in rows]
    created = [terminal(created_text(row.created)) for row in rows]
    fixed = need("id", ids) + _SEPARATOR + need("model", models)
    fixed += _SEPARATOR + need("status", ["".join(t for t, _ in s) for s in statuses])
    optional: list[tuple[str, int]] = []
    if metrics:
        fixed += _SEPARATOR + need(metrics[0], metric_cells[metrics[0]])
    optional += [(f"p:{n}", need(n, param_cells[n], PARAM_WIDTH)) for n in params]
    optional += [(f"m:{n}", need(n, metric_cells[n])) for n in metrics[1:]]
    optional.append(("created", need("created (UTC)", created)))
    shown, left = _fit(fixed, optional, width)
    if left:
        names = ", ".join("created" if k == "created" else terminal(k[2:]) for k in left)
        notes.append(f"Columns left out to fit {width} characters: {names} (widen the terminal).")
    keep = set(shown)
    params = [n for n in params if f"p:{n}" in keep]
    metrics = metrics[:1] + [n for n in metrics[1:] if f"m:{n}" in keep]

    shown_columns: list[tuple[Column, Sequence[Cell]]] = [(Column("id", style="yellow"), ids)]
    if "created" in keep:
        shown_columns.append((Column("created (UTC)"), created))
    shown_columns.append((Column("model"), models))
    shown_columns += [
        (Column(terminal(n), style="cyan", fold=PARAM_WIDTH), param_cells[n]) for n in params
    ]
    shown_columns += [(Column(terminal(n), right=True), metric_cells[n]) for n in metrics]
    shown_columns.append((Column("status"), statuses))
    columns = [column for column, _ in shown_columns]
    cells = [list(row) for row in zip(*(c for _, c in shown_columns), strict=True)]
    return box_table(columns, cells, color=color), notes


def footer(shown: int, matching: int, total: int, filtered: bool) -> str:
    text = f"{shown} run{'s' if shown != 1 else ''} shown of {matching}"
    if filtered and matching != total:
        text += f" matching ({total} in the journal)"
    return text
