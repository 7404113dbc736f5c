"""`git journal run [SPEC]`: train every grid point not yet run and record each run."""

from __future__ import annotations

import argparse

from gitlab_journal.commands.common import add_spec_arguments, open_store, spec_from_args
from gitlab_journal.console import make_console
from gitlab_journal.errors import EXIT_CHECK_FAILED
from gitlab_journal.run.plan import make_plan
from gitlab_journal.run.report import print_dry_run, print_report

HELP = "train every grid point not yet run and record each run"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_arguments(parser)
    parser.add_argument(
        "--force", action="store_true", help="re-run points already run (records a repeat)"
    )
    parser.add_argument("--dry-run", action="store_true", help="list what would run; train nothing")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    store = open_store()
    spec = spec_from_args(args, store)
    console = make_console()
    plan = make_plan(store, spec)
    if args.dry_run:
        print_dry_run(console, plan, force=args.force)
        return 0
    from gitlab_journal.run.runner import execute

    report = execute(store, plan, force=args.force, quiet=args.quiet, console=console)
    print_report(console, plan, report)
    if report.interrupted:
        raise KeyboardInterrupt
    return EXIT_CHECK_FAILED if report.failed else 0
