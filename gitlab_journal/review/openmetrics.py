"""``metrics.txt`` in the OpenMetrics text format, for GitLab's merge-request metrics widget.

GitLab shows how each metric line changed between the merge request and its target. The lines
are stable across pipelines: the best value of each experiment family's headline metric, and
run counts. Label values hold no spaces (GitLab reads a line as name and value split at a space),
and the file ends with ``# EOF`` as OpenMetrics requires; samples carry no metadata lines.

    journal_best_accuracy{family="iris-logistic-regression"} 0.9733333333333334
    journal_family_runs{family="iris-logistic-regression"} 12
    journal_runs{status="ok"} 12
    # EOF
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gitlab_journal.journal.index import Row
from gitlab_journal.journal.leaderboard import family_name, higher_is_better

PREFIX = "journal"
_NAME = re.compile(r"[^a-zA-Z0-9_]")


def metric_name(*parts: str) -> str:
    name = "_".join(_NAME.sub("_", part) for part in parts if part)
    return name if re.match(r"[a-zA-Z_]", name) else f"_{name}"


def label(value: str) -> str:
    """A label value: escaped, with whitespace as underscores."""
    text = re.sub(r"\s+", "_", value.strip())
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _number(value: float) -> str:
    return repr(float(value))


def openmetrics_text(rows: Iterable[Row]) -> str:
    """The best headline value per family and metric, runs per family and per status."""
    best: dict[tuple[str, str], float] = {}
    family_runs: dict[str, int] = {}
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row.status] = statuses.get(row.status, 0) + 1
        family = family_name(row.name, row.model, row.data)
        family_runs[family] = family_runs.get(family, 0) + 1
        head = row.headline() if row.status == "ok" else None
        if head is None:
            continue
        key = (family, head[0])
        kept = best.get(key)
        higher = higher_is_better(head[0])
        if kept is None or (head[1] > kept if higher else head[1] < kept):
            best[key] = head[1]
    lines: list[str] = []
    # Each metric's samples together, as OpenMetrics wants: by metric, then family.
    for (family, metric), value in sorted(best.items(), key=lambda item: (item[0][1], item[0][0])):
        name = metric_name(PREFIX, "best", metric)
        lines.append(f'{name}{{family="{label(family)}"}} {_number(value)}')
    for family, count in sorted(family_runs.items()):
        lines.append(f'{metric_name(PREFIX, "family_runs")}{{family="{label(family)}"}} {count}')
    for status, count in sorted(statuses.items()):
        lines.append(f'{metric_name(PREFIX, "runs")}{{status="{label(status)}"}} {count}')
    lines.append("# EOF")
    return "\n".join(lines) + "\n"
