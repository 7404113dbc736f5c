"""`git journal export --csv | --json | --openmetrics`: the runs as data."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "the runs as CSV or JSON (one flat row per run), or OpenMetrics for GitLab"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    kind = parser.add_mutually_exclusive_group(required=True)
    kind.add_argument("--csv", action="store_const", const="csv", dest="format", help="CSV")
    kind.add_argument("--json", action="store_const", const="json", dest="format", help="JSON")
    kind.add_argument(
        "--openmetrics",
        action="store_const",
        const="openmetrics",
        dest="format",
        help="metrics.txt for GitLab's merge-request widget (best per family, run counts)",
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default: stdout)")
    parser.add_argument(
        "--where", action="append", default=[], metavar="EXPR", help="filter, as `log --where`"
    )
    parser.add_argument("--model", help="only runs of this model")
    parser.add_argument("--status", help="only runs with this status")


def run(args: argparse.Namespace) -> int:
    from gitlab_journal.journal.index import open_index
    from gitlab_journal.journal.store import Store
    from gitlab_journal.review.export import to_csv, to_json
    from gitlab_journal.review.openmetrics import openmetrics_text

    store = Store.discover(Path.cwd())
    with open_index(store) as index:
        rows = index.query(args.where, model=args.model, status=args.status, ascending=True)
    if args.format == "csv":
        text = to_csv(rows)
    elif args.format == "json":
        text = to_json(rows)
    else:
        text = openmetrics_text(rows)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"Wrote {len(rows)} run(s) to {args.output}.", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
