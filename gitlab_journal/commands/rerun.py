"""`git journal rerun RUN`: run a recorded run again from its record, and compare."""

from __future__ import annotations

import argparse
import math
import sys

from gitlab_journal.commands.common import open_store
from gitlab_journal.console import make_console
from gitlab_journal.errors import EXIT_CHECK_FAILED, JournalError
from gitlab_journal.journal.index import resolve_run

HELP = "run a recorded run again (its commit, patch, spec and data) and compare its metrics"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="a run id or journal commit (a unique prefix is enough)")
    parser.add_argument(
        "--no-record",
        action="store_true",
        help="compare only: record neither the new run nor the outcome",
    )
    parser.add_argument(
        "--allow-data-change",
        action="store_true",
        help="train on the data as it is now even when it differs from the record",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        metavar="X",
        help="metrics within X of the record count as reproduced (default 0: identical)",
    )
    parser.add_argument(
        "--trust",
        action="store_true",
        help="run a code.patch that came from another clone without asking",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress display")


def run(args: argparse.Namespace) -> int:
    from gitlab_journal.reproduce.rerun import foreign_patch, rerun, untrusted_error
    from gitlab_journal.reproduce.summary import print_rerun

    if not 0 <= args.tolerance < math.inf:  # a NaN fails this too
        raise JournalError(f"--tolerance must be a finite number, 0 or more, not {args.tolerance}")
    store = open_store()
    original = resolve_run(store, None, args.run)
    console = make_console()
    trusted = bool(args.trust)
    foreign = None if trusted else foreign_patch(store, original)
    if foreign is not None:
        print(foreign.describe(), file=sys.stderr)
        if sys.stdin.isatty() and sys.stderr.isatty():
            answer = input("Run this code? [y/N] ")
            trusted = answer.strip().lower() in ("y", "yes")
        if not trusted:
            raise untrusted_error(foreign)
    console.print(f"Reproducing run {original.id} ({original.model})", markup=False)
    status = console.status("", spinner="dots")
    if not args.quiet:
        status.start()
    try:
        outcome = rerun(
            store,
            original,
            record=not args.no_record,
            allow_data_change=args.allow_data_change,
            tolerance=args.tolerance,
            step=lambda text: status.update(text),
            trusted=trusted,
        )
    finally:
        status.stop()
    print_rerun(console, outcome)
    return 0 if outcome.comparison.reproduced else EXIT_CHECK_FAILED
