"""`git journal compare`: many runs side by side, one column per run, only the rows that vary.

Rows come in groups: model, params, data, code, evaluation, environment, metrics, status. A
row is shown when its value differs between the runs (absent counts as a value); the headline
metrics are shown always (they are the point of a comparison), each with its best value bold.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from gitlab_journal.journal.index import json_safe, model_class
from gitlab_journal.journal.leaderboard import higher_is_better
from gitlab_journal.journal.records import Run
from gitlab_journal.review.render import (
    ABSENT,
    created_text,
    flatten,
    headline_metrics,
    metric_text,
    status_text,
    value_text,
)

GROUPS = ("model", "params", "data", "code", "evaluation", "environment", "metrics", "status")
_MISSING = object()


def _fields(run: Run) -> dict[str, dict[str, Any]]:
    return {
        "model": {"model": model_class(run.model), "name": run.name, "kind": run.kind},
        "params": dict(run.params),
        "data": dict(run.data),
        "code": {
            "commit": run.code.commit[:10] if run.code.commit else None,
            "dirty": run.code.dirty,
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
    return json.dumps(json_safe(value), sort_keys=True, ensure_ascii=False)


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
            always = group == "metrics" and key in headlines
            if key == "created" and group == "status":
                always = True
            if everything or varies or always:
                out.append((group, key, [None if v is _MISSING else v for v in values]))
    return out


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


def compare_table(runs: Sequence[Run], rows: Sequence[tuple[str, str, list[Any]]]) -> Table:
    table = Table(header_style="bold", show_lines=False, pad_edge=False)
    table.add_column("", style="cyan", no_wrap=True)
    for run in runs:
        table.add_column(run.id, justify="right", no_wrap=True, style="")
    last_group = None
    for group, key, values in rows:
        if group != last_group:
            table.add_row(Text(group, style="bold"), *[Text("") for _ in runs])
            last_group = group
        best = (
            _best(values, key)
            if group == "metrics" and not key.endswith(("_std", "_time"))
            else None
        )
        cells: list[Text] = []
        for run, value in zip(runs, values, strict=True):
            if value is None:
                cells.append(Text(ABSENT, style="dim"))
            elif group == "metrics" and isinstance(value, (int, float)):
                style = "bold green" if best is not None and value == best else ""
                cells.append(Text(metric_text(run.metrics, key), style=style))
            elif group == "status" and key == "status":
                cells.append(status_text(str(value)))
            else:
                cells.append(Text(value_text(value, 30)))
        table.add_row(Text("  " + key), *cells)
    return table
