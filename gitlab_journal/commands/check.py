"""`git journal check [SPEC]`: exit 1, listing the earlier runs, if every point already ran.

With ``--staged`` it is the pre-commit hook's check: the staged spec with the staged code, and
an alert on the experiments the commit introduces that ran from an earlier state (see
gitlab_journal.hooks.staged)."""

from __future__ import annotations

import argparse
import json
import sys

from gitlab_journal.commands.common import add_spec_arguments, open_store, spec_from_args
from gitlab_journal.errors import EXIT_CHECK_FAILED
from gitlab_journal.journal.identity import finite_json
from gitlab_journal.run.earlier import EARLIER_COLUMNS, earlier_rows
from gitlab_journal.run.plan import Planned, make_plan
from gitlab_journal.run.validate import table_findings, validate
from gitlab_journal.textable import text_table

HELP = "exit 1 if every point of the spec was already run"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_arguments(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--staged",
        action="store_true",
        help="check the spec and code as staged for the next commit (the pre-commit hook): "
        "alert on experiments already run from an earlier state",
    )
    parser.add_argument(
        "--mode",
        choices=("warn", "block"),
        help="with --staged: warn (exit 0) or block (exit 1) on duplicates "
        "(default: git config journal.hook.mode, else warn)",
    )


def run(args: argparse.Namespace) -> int:
    if getattr(args, "staged", False):
        return _run_staged(args)
    store = open_store()
    plan = make_plan(
        store, spec_from_args(args, store), max_points=args.max_points, preload=True
    )  # preloaded for its table checks
    validate(store, plan)
    done = plan.done()
    pending = plan.pending()
    all_ran = bool(plan.points) and not pending
    findings = table_findings(plan)
    if args.json:
        print(
            json.dumps(
                {
                    "all_ran": all_ran,
                    "not_ok": _not_ok(done),
                    "findings": findings,
                    "points": [
                        {
                            "fingerprint": p.fingerprint,
                            "params": finite_json(dict(p.point.params)),  # .inf as recorded
                            "earlier": [r.id for r in p.earlier],
                        }
                        for p in plan.points
                    ],
                },
                indent=2,
                allow_nan=False,  # strict JSON: a bare NaN here is a bug, not output
            )
        )
        return EXIT_CHECK_FAILED if all_ran else 0
    for finding in findings:
        print(f"warning: {finding}", file=sys.stderr)
    if done:
        rows = earlier_rows(done)
        print(text_table(EARLIER_COLUMNS, rows, title="Already in the journal"))
    unfinished = _not_ok(done)
    if unfinished:
        counts = ", ".join(f"{n} {status}" for status, n in sorted(unfinished.items()))
        print(
            f"Of these, {sum(unfinished.values())} ran but did not end ok ({counts}): "
            f"`git journal run --retry {','.join(sorted(unfinished))}` trains them again."
        )
    if all_ran:
        print(
            f"All {len(plan.points)} points of {plan.spec.path.name} were already run "
            "with the same data, params and code."
        )
        return EXIT_CHECK_FAILED
    print(f"{len(pending)} of {len(plan.points)} points are new and would be trained.")
    return 0


def _run_staged(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gitlab_journal.errors import JournalError
    from gitlab_journal.hooks.staged import check_staged, hook_mode, staged_json, warn_staged

    store = open_store()
    mode = hook_mode(store, getattr(args, "mode", None))
    try:
        found = check_staged(store, args.spec, Path.cwd(), tuple(args.overrides or ()))
    except JournalError as exc:
        if mode == "block":
            raise
        # warn mode: a spec that cannot be checked must not stop a commit
        print(
            f"warning: git journal could not check the staged spec: {exc.message}", file=sys.stderr
        )
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 0
    if args.json:
        print(json.dumps(staged_json(found, mode), indent=2, allow_nan=False))
    else:
        from gitlab_journal.console import make_console

        warn_staged(make_console(stderr=True), found, mode)
    return EXIT_CHECK_FAILED if found.duplicates and mode == "block" else 0


def _not_ok(done: list[Planned]) -> dict[str, int]:
    """How many points that ran have a latest run that did not end ok, by its status."""
    counts: dict[str, int] = {}
    for planned in done:
        status = planned.latest.status if planned.latest is not None else "ok"
        if status != "ok":
            counts[status] = counts.get(status, 0) + 1
    return counts
