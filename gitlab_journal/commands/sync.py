"""`git journal sync [REMOTE]`: fetch the remote's journal, merge it with this one, push."""

from __future__ import annotations

import argparse

from gitlab_journal.commands.common import open_store
from gitlab_journal.console import make_console

HELP = "fetch a remote's journal, merge it with this one, and push the result"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "remote",
        nargs="?",
        help="a remote name or URL (default: `git config journal.remote`, else origin)",
    )
    parser.add_argument(
        "--no-push", action="store_true", help="fetch and merge only; leave the remote as it is"
    )


def run(args: argparse.Namespace) -> int:
    from gitlab_journal.remote.sync import sync

    store = open_store()
    console = make_console()
    done = sync(store, args.remote, push=not args.no_push)
    merged = done.merged
    if merged is None:
        console.print(f"{done.remote} had no journal yet.")
    elif merged.kind == "up-to-date":
        console.print(f"Nothing new from {done.remote}.")
    elif merged.kind == "created":
        console.print(f"Took the journal of {done.remote}: {merged.incoming} run(s).")
    else:
        how = "fast-forward" if merged.kind == "fast-forward" else "merge commit"
        console.print(
            f"Merged {merged.incoming} run(s) from {done.remote} ({how} {merged.commit[:12]})."
        )
        for line in merged.resolved:
            console.print(f"  both sides changed {line}")
    if done.pushed:
        retried = f" after {done.attempts} attempts" if done.attempts > 1 else ""
        console.print(f"Pushed the journal to {done.remote}{retried}: {done.tip[:12]}.")
    elif not args.no_push:
        console.print(f"{done.remote} is up to date: {done.tip[:12]}.")
    return 0
