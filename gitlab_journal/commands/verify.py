"""`git journal verify`: every record of the journal checked against its schema."""

from __future__ import annotations

import argparse
import sys

from gitlab_journal.commands.common import open_store
from gitlab_journal.errors import EXIT_CHECK_FAILED, EXIT_OK

HELP = "check every record of the journal against its schema; list the bad ones (exit 1)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the bad records")


def run(args: argparse.Namespace) -> int:
    from gitlab_journal.journal.changes import RunChange

    store = open_store()
    tree = store.require().tree
    runs: list[RunChange] = []
    bad = 0
    for problem in store.problems(None, tree, runs):
        bad += 1
        print(problem.message)
    checked = len(runs)
    if bad:
        print(f"{bad} invalid record(s) among {checked} run(s).", file=sys.stderr)
        return EXIT_CHECK_FAILED
    if not args.quiet:
        print(f"All {checked} run(s) are valid.")
    return EXIT_OK
