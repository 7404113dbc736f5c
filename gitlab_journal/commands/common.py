"""What several commands share: finding the store and the spec."""

from __future__ import annotations

import argparse
from pathlib import Path

from gitlab_journal.journal.store import Store
from gitlab_journal.spec.cache import load_spec_cached
from gitlab_journal.spec.locate import find_spec
from gitlab_journal.spec.model import DEFAULT_MAX_POINTS, Spec


def open_store() -> Store:
    return Store.discover(Path.cwd())


def spec_from_args(args: argparse.Namespace, store: Store | None = None) -> Spec:
    """The spec the arguments name, with their --set overrides; cached under the store's
    .git/journal when a store is given."""
    path = find_spec(getattr(args, "spec", None), Path.cwd())
    overrides = getattr(args, "overrides", ()) or ()
    if store is None:
        from gitlab_journal.spec.load import load_spec

        return load_spec(path, overrides)
    return load_spec_cached(path, overrides, store.cache_dir())


def add_spec_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", nargs="?", help="the spec file (default: journal.yaml)")
    add_set_argument(parser)
    parser.add_argument(
        "--max-points",
        type=_positive_int,
        default=DEFAULT_MAX_POINTS,
        metavar="N",
        help=f"refuse a grid of more than N points (default: {DEFAULT_MAX_POINTS:,})",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_set_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec value for this invocation, e.g. model.params.C=10 (repeatable)",
    )
