"""`git journal checkout RUN [DIR]`: a run's code and spec in a new worktree."""

from __future__ import annotations

import argparse
from pathlib import Path

from gitlab_journal.commands.common import open_store
from gitlab_journal.console import make_console
from gitlab_journal.journal.index import resolve_run

HELP = "check a run's code (commit and patch) and spec out into a new worktree"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="a run id or journal commit (a unique prefix is enough)")
    parser.add_argument(
        "dir", nargs="?", help="where (default: ../<repository>-<run id>); must not exist yet"
    )
    parser.add_argument("-b", "--branch", help="create this branch there instead of detaching")


def run(args: argparse.Namespace) -> int:
    from gitlab_journal.reproduce.checkout import checkout
    from gitlab_journal.reproduce.summary import print_checkout

    store = open_store()
    target = resolve_run(store, None, args.run)
    directory = Path(args.dir) if args.dir else None
    done = checkout(store, target, directory, branch=args.branch)
    print_checkout(make_console(), done, target.id)
    return 0
