"""The options of `run --search` and `suggest`, and the dispatch of `run --search`."""

from __future__ import annotations

import argparse

from rich.console import Console

from gitlab_journal.errors import EXIT_CHECK_FAILED, EXIT_INTERRUPTED, JournalError
from gitlab_journal.journal.store import Store
from gitlab_journal.spec.model import Spec

DEFAULT_TRIALS = 20


def add_meta_arguments(parser: argparse.ArgumentParser) -> None:
    """What `run --search` and `suggest` share: other journals, similar data sets, the seed."""
    parser.add_argument(
        "--from",
        dest="sources",
        action="append",
        default=[],
        metavar="PATH",
        help="also learn from the journal of the repository at PATH (repeatable)",
    )
    parser.add_argument(
        "--similar",
        type=int,
        default=3,
        metavar="K",
        help="on a data set new to the model, first try the best settings of the K most "
        "similar data sets (default: 3; 0: none)",
    )
    parser.add_argument(
        "--search-seed", type=int, default=None, metavar="N", help="the sampler's seed"
    )


def add_search_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--search",
        choices=("optuna",),
        help="search the spec's ranges and lists with Optuna, warm-started from the journal, "
        "instead of expanding a grid",
    )
    parser.add_argument(
        "--trials",
        type=int,
        default=DEFAULT_TRIALS,
        metavar="N",
        help=f"with --search: train N new points per model block (default: {DEFAULT_TRIALS})",
    )
    add_meta_arguments(parser)


def run_search(args: argparse.Namespace, store: Store, spec: Spec, console: Console) -> int:
    """`git journal run --search optuna`: exit 0, or 1 when no trained trial succeeded."""
    for flag, given in (
        ("--dry-run", getattr(args, "dry_run", False)),
        ("--force", getattr(args, "force", False)),
        ("--claim", getattr(args, "claim", None)),
        ("--executor", getattr(args, "executor", None)),
    ):
        if given:
            hint = (
                "see the next settings with `git journal suggest N`"
                if flag == "--dry-run"
                else None
            )
            raise JournalError(f"{flag} does not go with --search", hint=hint)
    if args.trials < 1:
        raise JournalError(f"--trials must be at least 1, not {args.trials}")
    if getattr(args, "jobs", 1) != 1:
        raise JournalError("--search trains one trial at a time: --jobs does not go with it")
    from gitlab_journal.search.study import prepare, require_optuna, search
    from gitlab_journal.search.summary import print_search

    require_optuna()
    setup = prepare(store, spec, sources=args.sources, similar=args.similar)
    reports = search(
        store,
        setup,
        trials=args.trials,
        seed=args.search_seed,
        console=console,
        quiet=args.quiet,
        strict=getattr(args, "strict", False),
    )
    print_search(console, setup, reports)
    if any(r.interrupted for r in reports):  # the summary said so: no second message
        return EXIT_INTERRUPTED
    trained = [t for r in reports for t in r.trained]
    return EXIT_CHECK_FAILED if trained and all(t.score is None for t in trained) else 0
