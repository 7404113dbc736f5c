"""Record values as review output writes them: numbers, params, metrics, statuses, times, and
the JSON form of a run. Plain text only: `log` renders through these without importing rich.

A param that is not a finite number (a spec's ``.inf``, the Python API's ``float("nan")``) is
recorded as identity.json writes it, ``{"__float__": "inf"}``. Text shows it as the number
(``inf``, ``-inf``, ``nan``: :func:`value_text`); JSON output keeps that form
(:func:`~gitlab_journal.journal.identity.finite_json`), so it is strict JSON and reads back as
the value the journal holds."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from typing import Any

from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.identity import finite_json, json_safe, value_json_text
from gitlab_journal.journal.records import REPRODUCED, Run

STATUS_STYLES = {
    "ok": "green",
    "failed": "bold red",
    "diverged": "yellow",
    "stalled": "yellow",
    "not-converged": "yellow",
    "interrupted": "dim",
}
ABSENT = "—"
# The groups of a run's fields that `diff` and `compare` print, in this order.
GROUPS = (
    "model",
    "params",
    "data",
    "table",
    "code",
    "evaluation",
    "environment",
    "metrics",
    "status",
)


def number(value: float) -> str:
    """A metric or parameter number: 4 decimals in the usual range, else 4 significant digits;
    a whole number above 1 (a count: epochs, trees) as an integer, up to 15 digits."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if abs(value) < 10**15 else f"{float(value):.4g}"
    if not math.isfinite(value):
        return str(value)
    if value.is_integer() and 1 < abs(value) < 1e15:
        return str(int(value))  # a count (epochs 5), recorded as a float; scores keep decimals
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:.4f}"
    return f"{value:.4g}"


def value_text(value: Any, width: int | None = None) -> str:
    """A parameter (or any record value) as one short line; a number that is not finite as
    ``inf``, ``-inf`` or ``nan``, also inside a list or mapping (``[0, inf]``)."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = f"{value:g}" if math.isfinite(value) else str(value)
    elif isinstance(value, (int, str)):
        text = str(value)
    else:
        text = value_json_text(value)
    if width is not None and len(text) > width:
        text = text[: width - 1] + "…"
    return text


def created_text(created: str) -> str:
    """``2024-05-01T12:34:56Z`` -> ``2024-05-01 12:34:56`` (UTC, as recorded)."""
    return created.replace("T", " ").removesuffix("Z")


def status_style(status: str) -> str:
    return STATUS_STYLES.get(status, "")


def reproduction_mark(reproduction: str) -> tuple[str, str]:
    """The mark of a rerun run and its style: reproduced (green) or irreproducible (red)."""
    if reproduction == REPRODUCED:
        return "✓ reproduced", "green"
    return "✗ irreproducible", "bold red"


def headline_metrics(metrics: Mapping[str, Any]) -> list[str]:
    """The metric names worth a column: not a ``_std`` nor a ``_time``."""
    return [k for k in metrics if not k.endswith("_std") and not k.endswith("_time")]


def metric_text(metrics: Mapping[str, Any], name: str) -> str:
    """``mean ± std`` when ``<name>_std`` exists, the value alone otherwise."""
    value = metrics.get(name)
    if value is None:
        return ABSENT
    if not isinstance(value, (int, float)):
        return value_text(value)
    text = number(value)
    std = metrics.get(f"{name}_std")
    if isinstance(std, (int, float)) and not isinstance(std, bool):
        text += f" ± {number(std)}"
    return text


def canonical_text(value: Any) -> str:
    """``value`` as one text per value: equal values (a mapping in any key order, NaN alike, a
    float infinity and the journal's form of it) give the same text, and an infinity is not
    null, so it compares and groups values of any type."""
    return json.dumps(finite_json(value), sort_keys=True, ensure_ascii=False, allow_nan=False)


def run_json(run: Run) -> dict[str, Any]:
    """One run as `log --json` and `show --json` print it: run.json's fields, the journal
    commit, the metrics, the code dependency files, and how a table was read."""
    doc = fmt.run_document(run)
    doc.pop("format", None)
    out: dict[str, Any] = {
        "id": doc.pop("id"),
        "fingerprint": doc.pop("fingerprint"),
        "commit": run.commit,
    }
    for key, value in doc.items():
        if key == "code":
            value = {**value, "files": dict(sorted(run.code.files.items()))}
        elif key in ("params", "point"):
            value = finite_json(value)  # the point's inf as the params', not null
        out[key] = value
        if key == "code":
            out["metrics"] = dict(run.metrics)
    out.setdefault("metrics", dict(run.metrics))
    if run.table:
        out["table"] = dict(run.table)
    return out


def print_json(value: Any) -> None:
    """Valid JSON on stdout and nothing else (the `--json` of log, show, diff, compare). A
    param's NaN or infinity is in the journal's form already (``finite_json``); any other
    (a metric's) becomes null."""
    sys.stdout.write(json.dumps(json_safe(value), indent=2, ensure_ascii=False, allow_nan=False))
    sys.stdout.write("\n")
