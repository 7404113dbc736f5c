"""`git journal diff A B`: what differs between two runs, grouped."""

from __future__ import annotations

import argparse
from pathlib import Path

from gitlab_journal.console import make_console
from gitlab_journal.journal.index import open_index
from gitlab_journal.journal.store import Store
from gitlab_journal.review.diff import diff_runs, render_diff
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
    changes = diff_runs(a, b)
    if getattr(args, "json", False):
        print_json(changes)
    else:
        render_diff(make_console(), a, b, changes)
    return 0
