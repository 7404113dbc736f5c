"""The browser view's data: the journal's runs as JSON pages plus a manifest, and one run's
details (notes, learning curves, how its table was read, files), all read through the derived
index.

The same bytes serve both `git journal site` (written to files) and `git journal ui` (served from
memory): ``manifest.json``, ``runs-0000.json``, ``runs-0001.json``, ... of :data:`PAGE_SIZE` runs
each, newest first, and ``runs/<run-id>.json`` per run. Everything here is data from the journal,
possibly from other people: the page renders it as text, never as markup.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pygit2

from gitlab_journal.journal import format as fmt
from gitlab_journal.journal import schema
from gitlab_journal.journal.changes import ADDED, CHANGED, REMOVED, run_changes
from gitlab_journal.journal.identity import finite_json, json_safe
from gitlab_journal.journal.index import Index, Row
from gitlab_journal.journal.schema import OBJECT_ID
from gitlab_journal.journal.store import run_dir_in
from gitlab_journal.review.report import parse_history
from gitlab_journal.review.values import value_text

PAGE_SIZE = 1000
MAX_CHANGES = 5000  # past this many changed runs, the page loads every page again
MANIFEST = "manifest.json"
DETAILS_DIR = "runs"
FORMAT = 1
# Run ids as the journal format allows them; anything else gets no detail file of its own.
_SAFE_ID = re.compile(r"^[0-9a-z][0-9a-z._-]{3,63}$")
_SAFE_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# The run files the page links to, by suffix: images and text only. Never HTML or SVG, which a
# browser would run as a page of the app's own origin.
FILE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".log": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
    ".csv": "text/plain; charset=utf-8",
    ".yaml": "text/plain; charset=utf-8",
    ".yml": "text/plain; charset=utf-8",
    ".patch": "text/plain; charset=utf-8",
}


def page_name(number: int) -> str:
    return f"runs-{number:04d}.json"


def details_page_name(number: int) -> str:
    return f"details-{number:04d}.json"


def detail_name(run_id: str) -> str | None:
    """``runs/<run-id>.json``, or None for an id that is not safe as a file name."""
    return f"{DETAILS_DIR}/{run_id}.json" if _SAFE_ID.match(run_id) and ".." not in run_id else None


def file_type(name: str) -> str | None:
    """The content type a run file is served with, or None when it is not served."""
    if not _SAFE_FILE.match(name) or ".." in name or "." not in name:
        return None
    return FILE_TYPES.get("." + name.rsplit(".", 1)[1].lower())


def file_path(run_id: str, name: str) -> str | None:
    """``runs/<run-id>/<name>``: where a served run file sits, or None."""
    if detail_name(run_id) is None or file_type(name) is None:
        return None
    return f"{DETAILS_DIR}/{run_id}/{name}"


def dumps(value: Any) -> bytes:
    """Compact JSON, NaN and infinities as null."""
    try:  # the index's rows hold no NaN (it stores them as null): the fast path
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode(
            "utf-8"
        )
    except (ValueError, TypeError):
        pass
    return json.dumps(
        json_safe(value), ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=str
    ).encode("utf-8")


def run_record(row: Row) -> dict[str, Any]:
    """What the table, the filter and the charts know of one run."""
    return {
        "id": row.id,
        "fingerprint": row.fingerprint,
        "commit": row.commit,
        "created": row.created,
        "status": row.status,
        "model": row.model,
        "model_class": row.model_class,
        "kind": row.kind,
        "name": row.name,
        "reproduction": row.reproduction,
        "params": dict(row.params),
        "metrics": dict(row.metrics),
        "data": dict(row.data),
        "code": dict(row.code),
    }


@dataclass(frozen=True)
class Snapshot:
    """The runs of one journal tip as the files the page loads."""

    tip: str | None
    count: int
    files: Mapping[str, bytes]  # manifest.json and runs-NNNN.json


def _keys(rows: Sequence[Row], group: str) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        for key in getattr(row, group):
            seen.setdefault(str(key), None)
    return sorted(seen)


def snapshot(index: Index, *, live: bool = False) -> Snapshot:
    """Every run of the index's journal, newest first, as pages and a manifest."""
    rows = index.query()
    tip = index.tip
    pages: dict[str, bytes] = {}
    for number, start in enumerate(range(0, len(rows), PAGE_SIZE)):
        pages[page_name(number)] = dumps([run_record(r) for r in rows[start : start + PAGE_SIZE]])
    manifest = {
        "format": FORMAT,
        "tip": tip,
        "count": len(rows),
        "page_size": PAGE_SIZE,
        "pages": list(pages),
        "columns": {"params": _keys(rows, "params"), "metrics": _keys(rows, "metrics")},
        "families": sorted({r.name for r in rows if r.name}),
        "live": live,
        # where a run's details are: one runs/<id>.json each (ui) or details-NNNN.json per page
        "details": "runs" if live else "pages",
    }
    return Snapshot(tip, len(rows), {MANIFEST: dumps(manifest), **pages})


def changes(index: Index, since: str) -> dict[str, Any] | None:
    """What changed from the journal tip ``since`` to the index's tip, for a page that holds
    the runs of ``since``: the records of the runs added or changed (a note), the ids of the
    runs gone, and the param and metric names of the changed runs. None when ``since`` is not
    a commit of this repository, or when more than :data:`MAX_CHANGES` runs changed: the page
    then loads everything again. ``since`` comes from the page: it is only looked up."""
    repo = index.store.repo
    if not OBJECT_ID.fullmatch(since):
        return None
    try:
        old = repo[since]
    except (KeyError, ValueError):
        return None
    if not isinstance(old, pygit2.Commit):
        return None
    ids: list[str] = []
    removed: list[str] = []
    for change in run_changes(repo, old.tree, index.tree()):
        if change.kind in (ADDED, CHANGED) and change.run_id:
            ids.append(change.run_id)
        elif change.kind == REMOVED and change.run_id:
            removed.append(change.run_id)
        if len(ids) + len(removed) > MAX_CHANGES:
            return None
    rows: list[Row] = []
    for run_id in ids:
        row = index.get(run_id)
        if row is None:  # a record the index leaves out (not valid): off the page too
            removed.append(run_id)
        else:
            rows.append(row)
    return {
        "format": FORMAT,
        "since": since,
        "tip": index.tip,
        "runs": [run_record(row) for row in rows],
        "removed": removed,
        "columns": {"params": _keys(rows, "params"), "metrics": _keys(rows, "metrics")},
        "families": sorted({row.name for row in rows if row.name}),
    }


def _run_tree(
    index: Index, row: Row, tree: pygit2.Tree | None = None, folder: pygit2.Oid | None = None
) -> pygit2.Tree | None:
    if folder is None:
        try:
            tree = tree if tree is not None else index.tree()
            folder = tree[run_dir_in(tree, row.fingerprint, row.id)].id
        except KeyError:
            return None
    found = index.store.repo[folder]
    return found if isinstance(found, pygit2.Tree) else None


def run_folders(index: Index) -> dict[tuple[str, str], pygit2.Oid]:
    """(fingerprint, run id) -> the tree id of the run's folder, for every run of the index's
    tip: one walk of the tree, far cheaper than a path look-up per run."""
    return {(p.fingerprint, p.run_id): p.tree_id for p in index.store.run_paths(index.tree())}


def _blob(index: Index, folder: pygit2.Tree, name: str) -> bytes | None:
    try:
        obj = index.store.repo[folder[name].id]
    except KeyError:
        return None
    return obj.data if isinstance(obj, pygit2.Blob) else None


def _text_map(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


def _table(row: Row) -> dict[str, str]:
    """How the run's table was read (its identity's ``table``, flattened, as the index keeps
    it), each option as one line of text."""
    return {key: value_text(value) for key, value in row.table.items()}


def run_file(index: Index, row: Row, name: str) -> bytes | None:
    """The bytes of one served file of a run's folder, or None."""
    if file_type(name) is None:
        return None
    return index.store.file(row.fingerprint, row.id, name, index.tree())


def run_detail(
    index: Index,
    row: Row,
    tree: pygit2.Tree | None = None,
    *,
    served: bool = True,
    folder: pygit2.Oid | None = None,
) -> dict[str, Any]:
    """One run's notes, error, grid point, table options, learning curves and file names;
    ``served``: the
    files the page links to (at :func:`file_path`), all servable ones unless ``served`` is
    False (then images only, as the site copies).

    The index has checked this run's record already (it leaves invalid ones out), so its
    ``run.json`` is read as plain JSON here: the page shows every value as text."""
    run_tree = _run_tree(index, row, tree, folder)
    if run_tree is None:
        return {
            "id": row.id,
            "notes": {},
            "error": None,
            "point": {},
            "table": {},
            "history": None,
            "files": [],
            "served": [],
        }
    files = sorted(  # a name the journal's schema refuses (not UTF-8, say) is not listed
        entry.name
        for entry in run_tree
        if entry.type_str == "blob" and entry.name is not None and schema.is_name(entry.name)
    )
    doc: Any = None
    raw = _blob(index, run_tree, fmt.RUN_FILE)
    if raw is not None:
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            doc = None
    doc = doc if isinstance(doc, Mapping) else {}
    history_blob = _blob(index, run_tree, fmt.HISTORY_FILE) if fmt.HISTORY_FILE in files else None
    error = doc.get("error")
    point = doc.get("point")
    return {
        "id": row.id,
        "notes": _text_map(doc.get("notes")),
        "error": error if isinstance(error, str) else None,
        # an earlier record's bare Infinity as the journal writes it now, not null
        "point": finite_json(dict(point)) if isinstance(point, Mapping) else {},
        "table": _table(row),
        "history": None if history_blob is None else parse_history(history_blob),
        "files": files,
        "served": [
            name
            for name in files
            if file_path(row.id, name) is not None and (served or is_image(name))
        ],
    }


def is_image(name: str) -> bool:
    return (file_type(name) or "").startswith("image/")
