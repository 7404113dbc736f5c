"""`git journal hooks install|uninstall|status`, and the entry points the hook scripts call
(`hooks post-commit`, `hooks pre-receive`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gitlab_journal.errors import EXIT_CHECK_FAILED

HELP = "install or remove the git hooks (duplicate check, post-commit note, pre-receive)"
NAMES = ("pre-commit", "post-commit", "pre-receive")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    install = sub.add_parser(
        "install",
        help="install the hooks (pre-commit and post-commit; pre-receive in a bare repository)",
    )
    install.add_argument(
        "--hook",
        dest="hooks",
        action="append",
        choices=NAMES,
        default=[],
        help="install only this hook (repeatable)",
    )
    uninstall = sub.add_parser("uninstall", help="remove our hooks, putting back any they replaced")
    uninstall.add_argument(
        "--hook", dest="hooks", action="append", choices=NAMES, default=[], help="only this hook"
    )
    sub.add_parser("status", help="which hooks are installed, and where")
    sub.add_parser("post-commit", help="(run by the post-commit hook) note committed runs")
    sub.add_parser(
        "pre-receive", help="(run by the pre-receive hook) refuse bad journal pushes; reads stdin"
    )


def run(args: argparse.Namespace) -> int:
    action = args.action
    if action == "post-commit":
        return _post_commit()
    if action == "pre-receive":
        return _pre_receive()
    from gitlab_journal.hooks import install as installer

    if action == "install":
        changes = installer.install(Path.cwd(), tuple(args.hooks))
        for change in changes:
            kept = (
                f"; the hook that was there runs first ({change.legacy.name})"
                if change.legacy
                else ""
            )
            print(f"{change.action} {change.path}{kept}")
        return 0
    if action == "uninstall":
        for change in installer.uninstall(Path.cwd(), tuple(args.hooks) or installer.HOOKS):
            if change.action == "foreign":
                print(f"left {change.path} alone: it is not a gitlab-journal hook")
            elif change.action == "restored":
                print(f"removed ours and put back {change.path} (from {change.path.name}.legacy)")
            elif change.action == "removed":
                print(f"removed {change.path}")
        return 0
    for change in installer.status(Path.cwd()):
        state = {"installed": "installed", "foreign": "another hook", "absent": "not installed"}
        kept = f" (runs {change.legacy.name} first)" if change.legacy else ""
        print(f"{change.name:12} {state[change.action]:14} {change.path}{kept}")
    return 0


def _post_commit() -> int:
    """Never fails the commit (it is made already): problems are one line on stderr."""
    from gitlab_journal.errors import JournalError
    from gitlab_journal.hooks.committed import note_committed
    from gitlab_journal.journal.store import Store

    try:
        noted = note_committed(Store.discover(Path.cwd()))
    except JournalError as exc:
        print(f"post-commit: git journal could not note the commit: {exc.message}", file=sys.stderr)
        return 0
    if noted is not None and noted.runs:
        ids = ", ".join(run.id for run in noted.runs[:5]) + (" ..." if len(noted.runs) > 5 else "")
        print(
            f"git journal: the code of {len(noted.runs)} run(s) ({ids}) is now commit "
            f"{noted.commit[:10]}",
            file=sys.stderr,
        )
    return 0


def _pre_receive() -> int:
    from gitlab_journal.hooks.receive import check_push, open_receiving_repository

    repo = open_receiving_repository(Path.cwd())
    refusals = check_push(repo, sys.stdin.read().splitlines())
    for refusal in refusals:
        print(f"journal push refused ({refusal.ref}): {refusal.reason}", file=sys.stderr)
    for hint in dict.fromkeys(refusal.hint for refusal in refusals if refusal.hint):
        print(f"hint: {hint}", file=sys.stderr)
    return EXIT_CHECK_FAILED if refusals else 0
