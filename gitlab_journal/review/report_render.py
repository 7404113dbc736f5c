"""The report as Markdown (GitLab renders it; plots as PNG files in a folder beside it) and as a
self-contained HTML page (plots inline as data URIs, no outside resources)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gitlab_journal.journal.index import Row
from gitlab_journal.review.escape import html_text, md_cell, md_code
from gitlab_journal.review.report import TOP, Effect, Family, Report
from gitlab_journal.review.table import varying_params
from gitlab_journal.review.values import created_text, value_text

PARAMS_SHOWN = 6  # varying params in a leaderboard row

HEADER_COLOR = "#dde6f3"  # table headers in the HTML page


def _score_text(row: Row) -> str:
    head = row.headline()
    if head is None:
        return "—"
    std = row.metrics.get(f"{head[0]}_std")
    text = f"{head[1]:.4f}"
    if isinstance(std, (int, float)) and not isinstance(std, bool):
        text += f" ± {std:.4f}"
    return text


def _params_text(row: Row, names: Sequence[str], escape: Callable[[str], str]) -> str:
    """The run's values of the varying params it has (a param of another model is left out,
    not shown as null). Every run of a family read its table alike (the family's name says how
    where that tells it from another)."""
    shown = [
        f"{escape(name)}={escape(value_text(row.params[name], 24))}"
        for name in names
        if name in row.params
    ]
    return ", ".join(shown) or "(same for all)"


def _family_params(family: Family) -> list[str]:
    return varying_params([r.params for r in family.rows], [r.model_class for r in family.rows])[
        :PARAMS_SHOWN
    ]


def _effect_name(effect: Effect) -> str:
    return f"{effect.model}: {effect.param}" if effect.model else effect.param


def _summary(report: Report) -> str:
    total = len(report.rows)
    ok = sum(1 for r in report.rows if r.status == "ok")
    families = len(report.families)
    return (
        f"{total} run{'s' if total != 1 else ''}: {ok} ok, {total - ok} not ok; "
        f"{families} experiment famil{'ies' if families != 1 else 'y'}."
    )


def _before_text(family: Family) -> str | None:
    if family.best_before is None or not family.rows:
        return None
    best, old = family.rows[0], family.best_before
    delta = (best.headline() or ("", 0.0))[1] - (old.headline() or ("", 0.0))[1]
    better = delta > 0 if family.higher else delta < 0
    verdict = "better than" if better else ("the same as" if delta == 0 else "not better than")
    return (
        f"The best new run is {verdict} the best before: {_score_text(old)} "
        f"(run {old.id}), {'+' if delta >= 0 else ''}{delta:.4f}."
    )


def _means_text(means: Sequence[tuple[Any, float, int]], escape: Callable[[str], str]) -> str:
    return " · ".join(f"{escape(value_text(v, 20))} → {m:.4f} ({n})" for v, m, n in means)


# -- Markdown -------------------------------------------------------------------------------


def to_markdown(report: Report, images: Mapping[str, str] | None = None) -> str:
    """The report in Markdown; ``images`` maps a plot's name to the path the Markdown links to
    (None: no images). Every text from a record is escaped (:func:`.escape.md_cell`): no name
    or value can add a line, a cell or HTML."""
    scope = report.scope[0].upper() + report.scope[1:]
    lines = [
        f"# {md_cell(report.title)}",
        "",
        f"{md_cell(scope)} (journal at {md_code(report.tip[:10])}).",
        "",
        _summary(report),
        "",
    ]
    if not report.rows:
        lines += ["Nothing to report.", ""]
    for family in report.families:
        order = "higher is better" if family.higher else "lower is better"
        metric = md_cell(family.metric)
        lines += [f"## {md_cell(family.name)}: {metric} ({order})", ""]
        best = family.rows[0]
        lines += [
            f"{len(family.rows)} run{'s' if len(family.rows) != 1 else ''}; the best is "
            f"{md_code(best.id)} with {metric} {_score_text(best)}.",
            "",
        ]
        before = _before_text(family)
        if before:
            lines += [md_cell(before), ""]
        names = _family_params(family)
        lines += [
            f"| # | run | model | params | {metric} | date |",
            "|--:|---|---|---|--:|---|",
        ]
        for rank, row in enumerate(family.rows[:TOP], 1):
            lines.append(
                f"| {rank} | {md_code(row.id)} | {md_cell(row.model_class)} | "
                f"{_params_text(row, names, md_cell)} | "
                f"{_score_text(row)} | {md_cell(created_text(row.created)[:16])} |"
            )
        if len(family.rows) > TOP:
            lines.append(f"\n{len(family.rows) - TOP} more runs not shown.")
        lines.append("")
        if family.effects:
            lines += [
                f"**What moved {metric}** (mean at each value, runs in brackets):",
                "",
                "| param | spread | by value |",
                "|---|--:|---|",
            ]
            for effect in family.effects:
                means = _means_text(effect.means, md_cell)
                name = md_cell(_effect_name(effect))
                lines.append(f"| {name} | {effect.spread:.4f} | {means} |")
            lines.append("")
        if images is not None:
            for plot in family.plots:
                if plot.name in images:
                    lines += [f"![{md_cell(plot.title)}]({images[plot.name]})", ""]
    if report.failed:
        lines += [
            "## Runs that did not finish ok",
            "",
            "| run | model | status | date |",
            "|---|---|---|---|",
        ]
        for row in report.failed:
            when = md_cell(created_text(row.created)[:16])
            lines.append(
                f"| {md_code(row.id)} | {md_cell(row.model_class)} | {md_cell(row.status)} "
                f"| {when} |"
            )
        lines.append("")
    lines += [
        "---",
        "Made by `git journal report`; `git journal show RUN` prints any run in full.",
        "",
    ]
    return "\n".join(lines)


# -- HTML -----------------------------------------------------------------------------------

_CSS = f"""
body {{ font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px auto;
       max-width: 1100px; color: #1f2328; padding: 0 16px; }}
h1 {{ font-size: 26px; border-bottom: 1px solid #d0d7de; padding-bottom: 6px; }}
h2 {{ font-size: 20px; margin-top: 32px; }}
table {{ border-collapse: collapse; margin: 8px 0 16px; font-size: 14px; }}
th, td {{ border: 1px solid #8c959f; padding: 4px 10px; text-align: left; }}
th {{ background: {HEADER_COLOR}; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
code {{ font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 13px; }}
.plots {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.plots img {{ max-width: 520px; border: 1px solid #d0d7de; }}
.status-failed, .status-diverged {{ color: #cf222e; font-weight: bold; }}
.note {{ color: #57606a; }}
"""


def _e(text: Any) -> str:
    return html_text(text)


def _table(headers: Sequence[str], rows: Sequence[Sequence[tuple[str, bool]]]) -> str:
    """A table; each cell is (HTML, numeric)."""
    out = ["<table>", "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in headers) + "</tr>"]
    for row in rows:
        cells = "".join(f'<td class="num">{c}</td>' if num else f"<td>{c}</td>" for c, num in row)
        out.append(f"<tr>{cells}</tr>")
    out.append("</table>")
    return "\n".join(out)


def to_html(report: Report) -> str:
    """A self-contained page: inline CSS, plots as data URIs."""
    body = [
        f"<h1>{_e(report.title)}</h1>",
        f"<p>{_e(report.scope[0].upper() + report.scope[1:])} (journal at "
        f"<code>{_e(report.tip[:10])}</code>).</p>",
        f"<p>{_e(_summary(report))}</p>",
    ]
    if not report.rows:
        body.append("<p>Nothing to report.</p>")
    for family in report.families:
        order = "higher is better" if family.higher else "lower is better"
        best = family.rows[0]
        body += [
            f"<h2>{_e(family.name)}: {_e(family.metric)} ({order})</h2>",
            f"<p>{len(family.rows)} run{'s' if len(family.rows) != 1 else ''}; the best is "
            f"<code>{_e(best.id)}</code> with {_e(family.metric)} {_e(_score_text(best))}.</p>",
        ]
        before = _before_text(family)
        if before:
            body.append(f"<p>{_e(before)}</p>")
        names = _family_params(family)
        body.append(
            _table(
                ["#", "run", "model", "params", family.metric, "date"],
                [
                    [
                        (str(rank), True),
                        (f"<code>{_e(row.id)}</code>", False),
                        (_e(row.model_class), False),
                        (_params_text(row, names, _e), False),
                        (_e(_score_text(row)), True),
                        (_e(created_text(row.created)[:16]), False),
                    ]
                    for rank, row in enumerate(family.rows[:TOP], 1)
                ],
            )
        )
        if family.effects:
            moved = f"<b>What moved {_e(family.metric)}</b>"
            body.append(f"<p>{moved} (mean at each value, runs in brackets):</p>")
            body.append(
                _table(
                    ["param", "spread", "by value"],
                    [
                        [
                            (_e(_effect_name(e)), False),
                            (f"{e.spread:.4f}", True),
                            (_means_text(e.means, _e), False),
                        ]
                        for e in family.effects
                    ],
                )
            )
        if family.plots:
            images = "".join(
                f'<img alt="{_e(p.title)}" title="{_e(p.title)}" '
                f'src="data:image/png;base64,{base64.b64encode(p.png).decode()}">'
                for p in family.plots
            )
            body.append(f'<div class="plots">{images}</div>')
    if report.failed:
        body.append("<h2>Runs that did not finish ok</h2>")
        body.append(
            _table(
                ["run", "model", "status", "date"],
                [
                    [
                        (f"<code>{_e(r.id)}</code>", False),
                        (_e(r.model_class), False),
                        (f'<span class="status-{_e(r.status)}">{_e(r.status)}</span>', False),
                        (_e(created_text(r.created)[:16]), False),
                    ]
                    for r in report.failed
                ],
            )
        )
    body.append('<p class="note">Made by <code>git journal report</code>.</p>')
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(report.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
