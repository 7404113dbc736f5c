"""Review output through rich: record text as styled cells, and `show`."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pygit2
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.identity import flatten, non_finite
from gitlab_journal.journal.records import REPRODUCED_RESULTS, Run
from gitlab_journal.journal.store import run_dir_in
from gitlab_journal.review.escape import terminal, terminal_lines
from gitlab_journal.review.values import (
    ABSENT,
    created_text,
    metric_text,
    number,
    reproduction_mark,
    status_style,
    value_text,
)


def status_text(status: str) -> Text:
    return Text(terminal(status), style=status_style(status))


def cell(text: object, style: str = "") -> Text:
    """Record text for the terminal: no control character reaches it (:func:`.escape.terminal`)."""
    return Text(terminal(text), style=style)


# -- show -----------------------------------------------------------------------------------


def _grid() -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="cyan", no_wrap=True)
    grid.add_column(overflow="fold")
    return grid


def _section(title: str, rows: Mapping[str, Any] | list[tuple[str, Any]]) -> Iterator[Any]:
    items = list(rows.items()) if isinstance(rows, Mapping) else rows
    if not items:
        return
    yield Text("")
    yield Text(title, style="bold")
    grid = _grid()
    for key, value in items:
        grid.add_row(cell("  " + str(key)), value if isinstance(value, Text) else cell(value))
    yield grid


def _code_line(run: Run, cells_kept: bool = False) -> str:
    """The code a run was made with, in one line; ``cells_kept``: its folder holds the notebook
    cells its identity names (``notebook.py``)."""
    code = run.code
    text = f"commit {code.commit}" if code.commit else "no commit"
    if code.branch:
        text += f" on {code.branch}"
    if code.patch:
        text += f", dirty (uncommitted changes kept in {code.patch})"
    else:
        text += ", dirty (uncommitted changes)" if code.dirty else ", clean"
    if code.committed:
        text += f", since committed as {code.committed}"
    if code.files:
        text += f"; {len(code.files)} dependency file{'s' if len(code.files) != 1 else ''}"
    caller = run.caller
    if "notebook" in caller:
        # a notebook's cells are part of the experiment; runs recorded before they were kept
        # with the run name them only
        text += f"; notebook cells {caller['notebook'][:12]}"
        text += f" kept as {fmt.NOTEBOOK_FILE}" if cells_kept else " (not kept with the run)"
    elif "script" in caller:
        text += f"; script blob {caller['script'][:12]}"
    return text


def _holds(run: Run, files: list[str] | None, name: str) -> bool:
    """Whether the run's files (paths on the journal branch) hold one named ``name`` at the
    top of its folder."""
    return any(path.endswith(f"/{run.id}/{name}") for path in files or ())


def reproduction_text(reproduction: str) -> Text:
    """The mark of a rerun run: reproduced (green) or irreproducible (red)."""
    return Text(*reproduction_mark(reproduction))


def _data_text(run: Run, name: str, md5: str) -> str:
    source = run.data_sources.get(name) or {}
    kind = source.get("source")
    if kind == "dvc":
        return f"md5 {md5} (DVC: {source.get('file')})"
    if kind == "git":
        return f"md5 {md5} (committed)"
    if kind == "path":
        return f"md5 {md5} (work tree only)"
    return f"md5 {md5}"


def _reproduction_rows(run: Run) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for entry in run.reproductions:
        result = str(entry.get("result"))
        text = cell(result, style="green" if result in REPRODUCED_RESULTS else "bold red")
        if entry.get("by"):
            text.append(terminal(f" by run {entry['by']}"))
        differences = entry.get("differences") or {}
        if differences and result not in REPRODUCED_RESULTS:
            shown = ", ".join(
                f"{name} {value_text(pair[0])} → {value_text(pair[1])}"
                for name, pair in list(differences.items())[:3]
            )
            text.append(terminal(f": {shown}") + (" …" if len(differences) > 3 else ""))
        for cause in entry.get("causes") or ():
            text.append("\n" + terminal(f" likely cause: {cause}"), style="dim")
        rows.append((created_text(str(entry.get("checked", ""))), text))
    return rows


def metrics_rows(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every metric, with a ``_std`` folded into its mean's row."""
    rows: list[tuple[str, str]] = []
    for name, value in metrics.items():
        if name.endswith("_std") and name[: -len("_std")] in metrics:
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append((name, metric_text(metrics, name)))
        else:
            rows.append((name, value_text(value)))
    return rows


def run_files(tree: pygit2.Tree, run: Run) -> list[str]:
    """The paths of the files in the run's folder of the journal ``tree`` (run.json,
    metrics.json, history.json, plots, saved models ...), sorted."""
    folder = run_dir_in(tree, run.fingerprint, run.id)
    try:
        top = tree[folder]
    except KeyError:
        return []
    out: list[str] = []

    def walk(node: pygit2.Tree, prefix: str) -> None:
        for entry in node:
            path = f"{prefix}/{entry.name}"
            if isinstance(entry, pygit2.Tree):
                walk(entry, path)
            else:
                out.append(path)

    if isinstance(top, pygit2.Tree):
        walk(top, folder)
    return sorted(out)


PER_CLASS_FIGURES = ("precision", "recall", "f1", "support")
PER_CLASS_LIMIT = 50  # classes shown; a target with more is summarised by its file


def per_class_table(raw: bytes | None) -> Table | str | None:
    """classes.json (per-class precision, recall, F1 and support over the held-out
    predictions) as a table; a note when the file is not that shape (a record from elsewhere
    is data: nothing in it is trusted); None without the file. A label that is not a finite
    number (``{"__float__": "nan"}``) shows as ``nan``; a figure that is null as a dash."""
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return f"{fmt.CLASSES_FILE} is not JSON: not shown"
    classes = doc.get("classes") if isinstance(doc, dict) else None
    if not isinstance(classes, list) or not all(_per_class_row(c) for c in classes):
        return f"{fmt.CLASSES_FILE} is not a list of per-class figures: not shown"
    table = Table(box=None, padding=(0, 2), show_edge=False, header_style="bold")
    table.add_column("  class", style="cyan", overflow="fold")
    for name in ("precision", "recall", "F1", "support"):
        table.add_column(name, justify="right")
    for entry in classes[:PER_CLASS_LIMIT]:
        figures = [
            ABSENT if entry[name] is None else number(entry[name]) for name in PER_CLASS_FIGURES
        ]
        table.add_row(cell("  " + value_text(entry["label"], width=40)), *figures)
    if len(classes) > PER_CLASS_LIMIT:
        table.add_row(cell(f"  … {len(classes) - PER_CLASS_LIMIT} more in {fmt.CLASSES_FILE}"))
    return table


def _per_class_row(entry: object) -> bool:
    def figure(value: object) -> bool:
        return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))

    if not isinstance(entry, dict) or not all(
        name in entry and figure(entry[name]) for name in PER_CLASS_FIGURES
    ):
        return False
    label = entry.get("label")
    return isinstance(label, (str, int, float, bool)) or non_finite(label) is not None


def _files_rows(files: list[str], branch: str) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for path in files:
        name = path.rsplit("/", 1)[-1]
        rows.append((name, cell(f"git show {branch}:{path}", style="dim")))
    return rows


def show_run(
    console: Console,
    run: Run,
    files: list[str] | None = None,
    branch: str = "journal",
    classes: bytes | None = None,
) -> None:
    """One run in full, readable; ``files``: the paths of its files on the journal branch,
    each shown with the command that reads it; ``classes``: the bytes of its classes.json."""
    head = Text.assemble(
        ("run ", "bold"), (terminal(run.id), "bold yellow"), "  ", status_text(run.status)
    )
    if run.reproduction is not None:
        head.append("  ")
        head.append_text(reproduction_text(run.reproduction))
    overview: list[tuple[str, Any]] = [("model", f"{run.model} ({run.kind})")]
    if run.name:
        overview.append(("name", run.name))
    overview += [
        ("created", created_text(run.created) + " UTC"),
        ("fingerprint", run.fingerprint),
        ("journal commit", run.commit or "unknown"),
        ("code", _code_line(run, _holds(run, files, fmt.NOTEBOOK_FILE))),
    ]
    if run.spec:
        overview.append(("spec", f"{run.spec} (this point alone: spec.yaml in the run's folder)"))
    if run.reproduces:
        overview.append(("reproduces", run.reproduces))
    parts: list[Any] = [head]
    grid = _grid()
    for key, value in overview:
        grid.add_row(Text("  " + key), cell(value))
    parts.append(grid)
    parts += _section("params", {k: value_text(v) for k, v in run.params.items()})
    point = {k: value_text(v) for k, v in run.point.items()}
    if point and point != {k: value_text(run.params.get(k)) for k in run.point}:
        parts += _section("grid point (as the spec wrote it)", point)
    parts += _section("data", {k: _data_text(run, k, v) for k, v in run.data.items()})
    parts += _section("table", {k: value_text(v) for k, v in flatten(run.table).items()})
    parts += _section("evaluation", {k: value_text(v) for k, v in flatten(run.evaluation).items()})
    parts += _section("metrics", metrics_rows(run.metrics))
    per_class = per_class_table(classes)
    if per_class is not None:
        parts += [Text(""), Text("per class (held-out predictions)", style="bold")]
        parts.append(
            cell("  " + per_class, style="dim") if isinstance(per_class, str) else per_class
        )
    parts += _section("reproductions", _reproduction_rows(run))
    parts += _section("notes", {k: Text(terminal_lines(v)) for k, v in run.notes.items() if v})
    warnings = getattr(run, "warnings", ())
    if warnings:
        rows = [(str(i + 1), Text(terminal_lines(w))) for i, w in enumerate(warnings)]
        parts += _section("warnings", rows)
    findings = getattr(run, "findings", ())
    if findings:
        rows = [(str(i + 1), Text(terminal_lines(f))) for i, f in enumerate(findings)]
        parts += _section("pre-flight findings", rows)
    if run.error:
        error = "\n".join("  " + line for line in terminal_lines(run.error.rstrip()).splitlines())
        parts += [Text(""), Text("error", style="bold red"), Text(error, style="red")]
    parts += _section(
        "environment", {k: value_text(v) for k, v in flatten(run.environment).items()}
    )
    if run.code.files:
        code_files = dict(sorted(run.code.files.items()))
        blobs = {k: v[:12] for k, v in code_files.items()}
        parts += _section("code dependencies (git blob)", blobs)
    if files:
        parts += _section("files (on the journal branch)", _files_rows(files, branch))
    console.print(Group(*parts))
