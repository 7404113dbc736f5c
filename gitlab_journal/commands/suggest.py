"""`git journal suggest [N] [SPEC]`: the next N settings worth trying, each with why."""

from __future__ import annotations

import argparse

from gitlab_journal.commands.common import add_set_argument, open_store, spec_from_args
from gitlab_journal.commands.search_options import add_meta_arguments
from gitlab_journal.console import make_console
from gitlab_journal.errors import JournalError

HELP = "the next settings worth trying for the spec's ranges and lists, each with why"
DEFAULT_N = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "words",
        nargs="*",
        metavar="N|SPEC",
        help=f"how many settings (default: {DEFAULT_N}) and the spec (default: journal.yaml)",
    )
    add_set_argument(parser)
    add_meta_arguments(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _split(words: list[str]) -> tuple[int, str | None]:
    n: int | None = None
    spec: str | None = None
    for word in words:
        if word.isdigit() and n is None:
            n = int(word)
        elif spec is None:
            spec = word
        else:
            raise JournalError(
                f"unexpected argument {word!r}", hint="git journal suggest [N] [SPEC]"
            )
    if n is not None and n < 1:
        raise JournalError("N must be at least 1")
    return (DEFAULT_N if n is None else n), spec


def run(args: argparse.Namespace) -> int:
    n, args.spec = _split(args.words)
    store = open_store()
    spec = spec_from_args(args, store)
    from gitlab_journal.review.values import print_json
    from gitlab_journal.search.study import prepare, require_optuna
    from gitlab_journal.search.suggest import suggest
    from gitlab_journal.search.summary import print_suggestions, suggestions_json

    require_optuna()
    setup = prepare(store, spec, sources=args.sources, similar=args.similar)
    found = suggest(setup, n, seed=args.search_seed)
    if args.json:
        print_json(suggestions_json(setup, found))  # strict JSON: no bare Infinity
        return 0
    print_suggestions(make_console(), setup, found)
    return 0
