"""`git journal note RUN -m TEXT`: add an inference (or another note) to a recorded run.

The note is a new journal commit that updates the run's record; nothing is rewritten.
"""

from __future__ import annotations

import argparse

from gitlab_journal.commands.common import open_store
from gitlab_journal.journal.notes import DEFAULT_KEY, add_note

HELP = "add an inference (or another note) to a run"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="a run id or journal commit")
    parser.add_argument("-m", "--message", required=True, help="the text")
    parser.add_argument("--key", default=DEFAULT_KEY, help="which note (default: inference)")


def run(args: argparse.Namespace) -> int:
    target, commit = add_note(open_store(), args.run, args.message, args.key)
    print(f"Added the {args.key} note to run {target.id} (journal commit {commit[:10]}).")
    return 0
