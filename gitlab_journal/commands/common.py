"""What several commands share: finding the store and the spec."""

from __future__ import annotations

import argparse
from pathlib import Path

from gitlab_journal.journal.store import Store
from gitlab_journal.spec.load import find_spec, load_spec
from gitlab_journal.spec.model import Spec


def open_store() -> Store:
    return Store.discover(Path.cwd())


def spec_from_args(args: argparse.Namespace) -> Spec:
    path = find_spec(getattr(args, "spec", None), Path.cwd())
    return load_spec(path, getattr(args, "overrides", ()) or ())


def add_spec_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", nargs="?", help="the spec file (default: journal.yaml)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec value for this invocation, e.g. model.params.C=10 (repeatable)",
    )
