"""`git journal migrate`: rewrite a journal of format 1 in format 2, every run kept."""

from __future__ import annotations

import argparse

from gitlab_journal.commands.common import open_store
from gitlab_journal.console import make_console, progress_bar

HELP = "rewrite the journal in the current format (two levels of shards), keeping every run"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from gitlab_journal.journal.migrate import migrate
    from gitlab_journal.run.maintenance import pack_objects

    store = open_store()
    console = make_console()
    with progress_bar(make_console(stderr=True), quiet=args.quiet) as bar:
        task = bar.add_task("migrating shards", total=None, last="")

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        done = migrate(store, progress)
    if done.commit is None:
        console.print(f"The journal is in format {done.after} already: nothing to do.")
        return 0
    pack_objects(store, done.written)  # the new shard trees in one pack, not loose
    console.print(
        f"Migrated the journal from format {done.before} to {done.after}: the folders of "
        f"{done.experiments} experiment(s) moved, no record changed ({done.commit[:12]})."
    )
    console.print(
        "Push it (`git journal sync`); other clones in the old format must migrate before "
        "their next sync."
    )
    return 0
