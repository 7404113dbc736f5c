"""`git journal insights [--model M]`: what the recorded runs say about each varied param."""

from __future__ import annotations

import argparse

from gitlab_journal.commands.common import open_store
from gitlab_journal.console import make_console

HELP = "per varied param: its importance, where runs failed, the best region"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", metavar="M", help="only this model (a class name like SVC, or an import path)"
    )
    parser.add_argument(
        "--min-runs",
        type=int,
        default=4,
        metavar="N",
        help="leave out groups (a model on one data set) with fewer runs (default: 4)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from gitlab_journal.review.values import print_json
    from gitlab_journal.search.insights import collect_insights
    from gitlab_journal.search.summary import insights_json, print_insights

    groups = collect_insights(open_store(), model=args.model, min_runs=args.min_runs)
    if args.json:
        print_json(insights_json(groups))  # strict JSON: no bare NaN or Infinity
        return 0
    print_insights(make_console(), groups)
    return 0
