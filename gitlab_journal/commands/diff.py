"""`git journal diff A B`: what differs between two runs, grouped."""

from __future__ import annotations

import argparse
from pathlib import Path

from gitlab_journal.console import make_console
from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.index import open_index
from gitlab_journal.journal.store import Store
from gitlab_journal.review.diff import cells_diff, diff_runs, render_diff
from gitlab_journal.review.values import print_json

HELP = "what differs between two runs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", help="a run id or journal commit")
    parser.add_argument("b", help="a run id or journal commit")
    parser.add_argument("--json", action="store_true", help="print the differences as JSON")


def run(args: argparse.Namespace) -> int:
    store = Store.discover(Path.cwd())
    with open_index(store) as index:
        a = index.resolve(args.a)
        b = index.resolve(args.b)
        tree = index.tree()
    changes = diff_runs(a, b)
    cells: list[str] = []
    if "caller.notebook" in changes.get("code", {}):
        cells = cells_diff(
            store.file(a.fingerprint, a.id, fmt.NOTEBOOK_FILE, tree),
            store.file(b.fingerprint, b.id, fmt.NOTEBOOK_FILE, tree),
        )
    if getattr(args, "json", False):
        if cells:  # the unified diff of the two runs' notebook cells, a line each
            changes["code"]["cells"] = cells
        print_json(changes)
        return 0
    render_diff(make_console(), a, b, changes, cells)
    return 0
