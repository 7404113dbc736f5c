"""`git journal check [SPEC]`: exit 1, listing the earlier runs, if every point already ran."""

from __future__ import annotations

import argparse
import json

from gitlab_journal.commands.common import add_spec_arguments, open_store, spec_from_args
from gitlab_journal.console import make_console
from gitlab_journal.errors import EXIT_CHECK_FAILED
from gitlab_journal.run.plan import make_plan
from gitlab_journal.run.report import earlier_table

HELP = "exit 1 if every point of the spec was already run"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_arguments(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    store = open_store()
    plan = make_plan(store, spec_from_args(args, store))
    done = plan.done()
    pending = plan.pending()
    all_ran = bool(plan.points) and not pending
    if args.json:
        print(
            json.dumps(
                {
                    "all_ran": all_ran,
                    "points": [
                        {
                            "fingerprint": p.fingerprint,
                            "params": dict(p.point.params),
                            "earlier": [r.id for r in p.earlier],
                        }
                        for p in plan.points
                    ],
                },
                indent=2,
            )
        )
        return EXIT_CHECK_FAILED if all_ran else 0
    console = make_console()
    if done:
        console.print(earlier_table(done))
    if all_ran:
        console.print(
            f"All {len(plan.points)} points of {plan.spec.path.name} were already run "
            "with the same data, params and code."
        )
        return EXIT_CHECK_FAILED
    console.print(f"{len(pending)} of {len(plan.points)} points are new and would be trained.")
    return 0
