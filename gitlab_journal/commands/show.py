"""`git journal show RUN`: one run in full."""

from __future__ import annotations

import argparse
from pathlib import Path

from gitlab_journal.console import make_console
from gitlab_journal.journal.index import open_index
from gitlab_journal.journal.store import Store
from gitlab_journal.review.render import print_json, run_json, show_run


def run(args: argparse.Namespace) -> int:
    store = Store.discover(Path.cwd())
    with open_index(store) as index:
        target = index.resolve(args.run)
    if getattr(args, "json", False):
        print_json(run_json(target))
    else:
        show_run(make_console(), target)
    return 0
