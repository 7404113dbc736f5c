"""`git journal note RUN -m TEXT`: add an inference (or another note) to a recorded run.

The note is a new journal commit that updates the run's record; nothing is rewritten.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from gitlab_journal.commands.common import open_store
from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.index import Index

HELP = "add an inference (or another note) to a run"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="a run id or journal commit")
    parser.add_argument("-m", "--message", required=True, help="the text")
    parser.add_argument("--key", default="inference", help="which note (default: inference)")


def run(args: argparse.Namespace) -> int:
    store = open_store()
    target = Index.open(store).resolve(args.run)
    notes = dict(target.notes)
    notes[args.key] = args.message
    updated = replace(target, notes=notes)
    files = {fmt.RUN_FILE: fmt.encode_run(updated)[fmt.RUN_FILE]}
    message = (
        f"Note {args.key} on run {target.id}\n\n{args.message}\n\n"
        f"{fmt.TRAILER_FINGERPRINT}: {target.fingerprint}\n{fmt.TRAILER_RUN}: {target.id}\n"
    )
    commit = store.update_files(updated, files, message)
    print(f"Added the {args.key} note to run {target.id} (journal commit {commit[:10]}).")
    return 0
