"""`git journal compare RUN... | --where EXPR`: runs side by side, only what varies."""

from __future__ import annotations

import argparse
from pathlib import Path

from gitlab_journal.errors import JournalError

HELP = "many runs side by side, only the rows that vary"
DEFAULT_LIMIT = 12


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="*", metavar="RUN", help="run ids or journal commits")
    parser.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="EXPR",
        help="compare the runs that match, e.g. 'params.C > 1' (repeatable: and)",
    )
    parser.add_argument("--model", help="only runs of this model (with --where or alone)")
    parser.add_argument("--status", help="only runs with this status")
    parser.add_argument("--sort", metavar="KEY", help="order the columns, best first")
    parser.add_argument(
        "-n",
        "--max-count",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"at most N runs from --where (default {DEFAULT_LIMIT})",
    )
    parser.add_argument("--all", action="store_true", help="every row, not only those that vary")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")


def run(args: argparse.Namespace) -> int:
    from gitlab_journal.console import make_console
    from gitlab_journal.journal.index import open_index
    from gitlab_journal.journal.store import Store
    from gitlab_journal.review.compare import compare_json, compare_rows, compare_tables
    from gitlab_journal.review.values import print_json

    filtered = bool(args.where or args.model or args.status)
    if not args.runs and not filtered:
        raise JournalError(
            "nothing to compare",
            hint="name runs (`git journal compare 06b6 3bbe`) or select them with --where",
        )
    store = Store.discover(Path.cwd())
    with open_index(store) as index:
        runs = [index.resolve(text) for text in args.runs]
        if filtered:
            picked = index.runs(
                args.where,
                model=args.model,
                status=args.status,
                sort=args.sort,
                limit=args.max_count,
            )
            known = {run.id for run in runs}
            runs += [run for run in picked if run.id not in known]
    if not runs:
        make_console().print("No runs match.")
        return 0
    rows = compare_rows(runs, everything=args.all)
    if args.json:
        print_json(compare_json(runs, rows))
        return 0
    console = make_console()
    for table in compare_tables(runs, rows, console.width):
        console.print(table)
    if len(runs) > 1 and not args.all:
        console.print(
            f"{len(runs)} runs; rows the same in all of them are left out (--all shows them).",
            style="dim",
            markup=False,
        )
    return 0
