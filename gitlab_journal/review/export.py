"""`git journal export`: one flat row per run, for pandas and spreadsheets.

Columns: ``id``, ``fingerprint``, ``commit`` (the journal commit), ``created``, ``status``,
``model``, ``kind``, ``name``, ``code.commit``, ``code.branch``, ``code.dirty``, then
``params.*``, ``metrics.*`` and ``data.*`` (input name -> md5), each set in sorted order. Values
that are lists or mappings are JSON text in CSV and stay structured in JSON. A param that is
not a finite number is ``inf``, ``-inf`` or ``nan`` in CSV (which pandas reads as the float) and
the journal's ``{"__float__": "inf"}`` in JSON, as `log --json` prints it; a metric that is not
finite is null in JSON. Everything comes from the derived index: no record is read from the
store.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gitlab_journal.journal.identity import finite_json, json_safe, non_finite
from gitlab_journal.journal.index import Row

FIXED = ("id", "fingerprint", "commit", "created", "status", "model", "kind", "name")
CODE = ("commit", "branch", "dirty")
GROUPS = ("params", "metrics", "data")


def flat_row(row: Row) -> dict[str, Any]:
    """One run as a flat mapping (the JSON export's record)."""
    out: dict[str, Any] = {name: getattr(row, name) for name in FIXED}
    for key in CODE:
        out[f"code.{key}"] = row.code.get(key)
    for group in GROUPS:
        values: Mapping[str, Any] = getattr(row, group)
        if group == "params":
            values = finite_json(values)
        for key in sorted(values):
            out[f"{group}.{key}"] = values[key]
    return out


def columns(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every column, fixed ones first, then each group's keys sorted."""
    seen: dict[str, set[str]] = {group: set() for group in GROUPS}
    for record in records:
        for key in record:
            group = key.split(".", 1)[0]
            if group in seen:
                seen[group].add(key)
    fixed = [*FIXED, *(f"code.{key}" for key in CODE)]
    return fixed + [key for group in GROUPS for key in sorted(seen[group])]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    tag = non_finite(value)  # a float or the journal's {"__float__": "inf"}
    if tag is not None:
        return tag
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (int, str)):
        return str(value)
    return json.dumps(json_safe(value), ensure_ascii=False, sort_keys=True)


def to_csv(rows: Iterable[Row]) -> str:
    records = [flat_row(row) for row in rows]
    header = columns(records)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for record in records:
        writer.writerow([_cell(record.get(column)) for column in header])
    return buffer.getvalue()


def to_json(rows: Iterable[Row]) -> str:
    """A JSON list of flat records (``pandas.read_json(text, orient="records")``); a param's NaN
    or infinity as ``{"__float__": "inf"}``, any other (a metric's) as null."""
    records = [flat_row(row) for row in rows]
    return json.dumps(json_safe(records), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
