"""`git journal init`: create the orphan journal branch."""

from __future__ import annotations

import argparse

from gitlab_journal.commands.common import open_store
from gitlab_journal.errors import JournalError

HELP = "create the orphan journal branch"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options


def run(args: argparse.Namespace) -> int:
    store = open_store()
    remotes = store.remote_journals() if store.local_tip() is None else {}
    if remotes:
        # A second, unrelated journal would never merge with the team's: take theirs.
        names = ", ".join(f"{name}/{store.branch}" for name in sorted(remotes))
        raise JournalError(
            f"a remote already has a journal ({names}); not starting another one",
            hint="`git journal sync` brings it here (`git journal log` already reads it)",
        )
    if store.init():
        print(f"Created the journal on branch '{store.branch}' (an orphan branch).")
        print("Next: `git journal new` writes a spec, `git journal run` trains and records it.")
    else:
        print(f"The journal already exists on branch '{store.branch}'.")
    return 0
