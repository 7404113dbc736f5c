"""The earlier runs of a plan's points as plain rows: shared by `run`, `check` and the hooks,
free of any rendering library so the fast paths can print them as plain text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gitlab_journal.journal.identity import non_finite
from gitlab_journal.journal.records import Run
from gitlab_journal.run.plan import Planned

EARLIER_COLUMNS = ("params", "earlier runs", "when", "status", "score", "code")


def params_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_param(v)}" for k, v in sorted(dict(params).items())) or "(defaults)"


def _param(value: Any) -> Any:
    """A grid point's value; a NaN or an infinity as recorded (``{"__float__": "inf"}``) shown
    as the number (``inf``)."""
    if isinstance(value, Mapping):
        return non_finite(value) or value
    return value


def score_text(run: Run) -> str:
    head = run.headline()
    if head is None:
        return "-"
    std = run.metrics.get(f"{head[0]}_std")
    return f"{head[0]} {head[1]:.4f}" + (f" ± {std:.4f}" if std is not None else "")


def earlier_rows(done: Sequence[Planned]) -> list[tuple[str, ...]]:
    """One row per earlier run: the point's params, the run, when, status, score, code."""
    rows: list[tuple[str, ...]] = []
    for planned in done:
        for run in planned.earlier:
            code = (run.code.commit or "none")[:10] + (" (dirty)" if run.code.dirty else "")
            rows.append(
                (
                    params_text(planned.point.params),
                    run.id,
                    run.created.replace("T", " ").rstrip("Z"),
                    run.status,
                    score_text(run),
                    code,
                )
            )
    return rows
