"""`git journal log`: a table of runs, filtered and sorted through the index."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gitlab_journal.journal.index import open_index
from gitlab_journal.journal.store import Store
from gitlab_journal.review.table import footer, log_table
from gitlab_journal.review.values import print_json, run_json
from gitlab_journal.textable import output_width, styled, wants_color, wrap

# Without -n the table shows the newest (or best) DEFAULT_LIMIT runs; --json gives them all.
DEFAULT_LIMIT = 50


HELP = "a table of runs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-n", "--max-count", type=int, default=None, metavar="N", help="show at most N runs"
    )
    parser.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="EXPR",
        help="filter, e.g. 'params.C > 1' or 'metrics.accuracy >= 0.9' (repeatable: and)",
    )
    parser.add_argument("--model", help="only runs of this model (class name or import path)")
    parser.add_argument("--status", help="only runs with this status (ok, failed, diverged, ...)")
    parser.add_argument(
        "--sort", metavar="KEY", help="sort by a field, best first: metrics.accuracy"
    )
    parser.add_argument("--asc", action="store_true", help="sort ascending instead")
    parser.add_argument("--json", action="store_true", help="print the runs as a JSON list")


def run(args: argparse.Namespace) -> int:
    store = Store.discover(Path.cwd())
    where: list[str] = list(getattr(args, "where", None) or [])
    model = getattr(args, "model", None)
    status = getattr(args, "status", None)
    as_json = bool(getattr(args, "json", False))
    limit = getattr(args, "max_count", None)
    explicit = limit is not None
    if limit is None and not as_json:
        limit = DEFAULT_LIMIT
    with open_index(store) as index:
        rows = index.query(
            where,
            model=model,
            status=status,
            sort=getattr(args, "sort", None),
            ascending=bool(getattr(args, "asc", False)),
            limit=limit,
        )
        if as_json:
            print_json([run_json(run) for run in index.load_all(rows)])
            return 0
        filtered = bool(where or model or status)
        total = index.count()
        if not filtered:
            matching = total
        elif limit is None or len(rows) < limit:
            matching = len(rows)  # every match is shown: no second scan
        else:
            matching = index.count(where, model, status)

    out = sys.stdout
    if not rows:
        if total == 0:
            out.write("The journal has no runs yet: record some with `git journal run`.\n")
        elif matching == 0:
            out.write(f"No runs match ({total} in the journal).\n")
        else:
            out.write(f"No runs shown ({matching} match; -n 0).\n")
        return 0
    width, color = output_width(out), wants_color(out)
    table, notes = log_table(rows, width, color=color)
    text = footer(len(rows), matching, total, filtered)
    if not explicit and len(rows) < matching:
        text += f" (the first {len(rows)}; -n N shows more)"
    lines = [table] + [
        styled(line, "dim", color) for n in [*notes, text] for line in wrap(n, width)
    ]
    out.write("\n".join(lines) + "\n")
    return 0
