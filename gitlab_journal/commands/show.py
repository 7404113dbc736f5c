"""`git journal show RUN`: one run in full."""

from __future__ import annotations

import argparse
from pathlib import Path

from gitlab_journal.console import make_console
from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.index import open_index
from gitlab_journal.journal.store import Store
from gitlab_journal.review.render import run_files, show_run
from gitlab_journal.review.values import print_json, run_json

HELP = "one run in full"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="a run id or journal commit (a unique prefix is enough)")
    parser.add_argument("--json", action="store_true", help="print the run as JSON")


def run(args: argparse.Namespace) -> int:
    store = Store.discover(Path.cwd())
    with open_index(store) as index:
        target = index.resolve(args.run)
        tree = index.tree()
        files = run_files(tree, target)
        classes = store.file(target.fingerprint, target.id, fmt.CLASSES_FILE, tree)
    if getattr(args, "json", False):
        print_json(run_json(target))
    else:
        show_run(make_console(), target, files, store.branch, classes)
    return 0
