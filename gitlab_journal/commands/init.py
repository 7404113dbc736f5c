"""`git journal init`: create the orphan journal branch."""

from __future__ import annotations

import argparse

from gitlab_journal.commands.common import open_store

HELP = "create the orphan journal branch"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options


def run(args: argparse.Namespace) -> int:
    store = open_store()
    if store.init():
        print(f"Created the journal on branch '{store.branch}' (an orphan branch).")
        print("Next: `git journal new` writes a spec, `git journal run` trains and records it.")
    else:
        print(f"The journal already exists on branch '{store.branch}'.")
    return 0
