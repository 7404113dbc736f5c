"""`git journal site DIR`: the browser view as static files any static server serves.

DIR gets the app (``index.html``, ``app.js``, ``app.css``, ``vendor/``), the runs as JSON pages
with their manifest (see web/data.py), the runs' details (notes, curves, file names) in
``details-NNNN.json`` beside each page, and the runs' images under ``runs/<run-id>/``. A site
written before into DIR is replaced: its old pages and details go, other files stay.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from gitlab_journal.errors import JournalError
from gitlab_journal.journal.index import Index
from gitlab_journal.web import data

STATIC_PACKAGE = "gitlab_journal.web"
STATIC_DIR = "static"


@dataclass(frozen=True)
class Written:
    runs: int
    pages: int
    details: int


def static_files() -> Iterator[tuple[str, Traversable]]:
    """(relative path, resource) of every file of the app."""

    def walk(node: Traversable, prefix: str) -> Iterator[tuple[str, Traversable]]:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.name.startswith(".") or child.name == "__pycache__":
                continue
            if child.is_dir():
                yield from walk(child, f"{prefix}{child.name}/")
            else:
                yield f"{prefix}{child.name}", child

    yield from walk(resources.files(STATIC_PACKAGE) / STATIC_DIR, "")


def static_file(relative: str) -> bytes | None:
    """One file of the app by its relative path, or None (never a path outside it)."""
    for name, node in static_files():
        if name == relative:
            return node.read_bytes()
    return None


def _clear_old(target: Path) -> None:
    for pattern in ("runs-*.json", "details-*.json"):
        for old in target.glob(pattern):
            old.unlink()
    details = target / data.DETAILS_DIR
    if details.is_dir():
        shutil.rmtree(details)


def write_site(index: Index, target: Path) -> Written:
    """Write the app and every run of ``index`` into ``target``."""
    if target.exists() and not target.is_dir():
        raise JournalError(f"{target} is not a folder")
    target.mkdir(parents=True, exist_ok=True)
    _clear_old(target)
    for name, node in static_files():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(node.read_bytes())
    snap = data.snapshot(index, live=False)
    for name, body in snap.files.items():
        (target / name).write_bytes(body)
    rows = index.query()
    tree = index.tree()
    folders = data.run_folders(index)
    pages = 0
    for number, start in enumerate(range(0, len(rows), data.PAGE_SIZE)):
        chunk = rows[start : start + data.PAGE_SIZE]
        found = {
            row.id: data.run_detail(
                index, row, tree, served=False, folder=folders.get((row.fingerprint, row.id))
            )
            for row in chunk
        }
        (target / data.details_page_name(number)).write_bytes(data.dumps(found))
        pages += 1
        for row in chunk:
            for name in found[row.id]["served"]:  # images only
                where = data.file_path(row.id, name)
                content = data.run_file(index, row, name)
                if where is None or content is None:
                    continue
                path = target / where
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
    return Written(snap.count, len(snap.files) - 1, pages)
