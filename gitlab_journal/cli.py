"""`git journal`: parse arguments, dispatch to a command, turn JournalError into an exit code."""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
from collections.abc import Sequence

from gitlab_journal import __version__
from gitlab_journal.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, JournalError

# One module per command in gitlab_journal.commands, each with HELP, add_arguments(parser) and
# run(args) -> int. Command modules import their heavy dependencies inside run().
COMMANDS = (
    "init",
    "new",
    "run",
    "check",
    "log",
    "show",
    "diff",
    "note",
    "rerun",
    "checkout",
    "sync",
    "checkout_data",
    "suggest",
    "insights",
    "hooks",
    "compare",
    "report",
    "export",
    "verify",
    "migrate",
    "ui",
    "site",
)


def _chosen(argv: Sequence[str]) -> str | None:
    """The command named in ``argv``, found without importing any command module."""
    args = iter(argv)
    for arg in args:
        if arg == "-C":
            next(args, None)
        elif not arg.startswith("-"):
            name = arg.replace("-", "_")  # `checkout-data` is the module checkout_data
            return name if name in COMMANDS else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; with ``only``, just that command's module is imported (start-up
    time matters for `check` and the hooks)."""
    parser = argparse.ArgumentParser(
        prog="git journal",
        description="A Git-native lab journal for machine-learning experiments.",
    )
    parser.add_argument("--version", action="version", version=f"gitlab-journal {__version__}")
    parser.add_argument(
        "-C", dest="directory", metavar="PATH", help="run as if started in PATH (like git -C)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if only is not None and name != only:
            continue  # a parser per command costs ~0.2 ms of gettext look-ups: only the one run
        module = importlib.import_module(f"gitlab_journal.commands.{name}")
        command = sub.add_parser(name.replace("_", "-"), help=module.HELP, description=module.HELP)
        module.add_arguments(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = _chosen(argv)
    command_argv: list[str] | None = None
    if chosen == "run" and "--" in argv:  # `git journal run [OPTIONS] -- COMMAND ARGS...`
        at = argv.index("--")
        argv, command_argv = argv[:at], argv[at + 1 :]
    parser = build_parser(chosen)
    args = parser.parse_args(argv)
    if command_argv is not None:
        args.command_argv = command_argv
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        if args.directory:
            try:
                os.chdir(args.directory)
            except OSError as exc:
                raise JournalError(f"cannot change to {args.directory}: {exc.strerror}") from exc
        module = importlib.import_module(
            f"gitlab_journal.commands.{args.command.replace('-', '_')}"
        )
        return int(module.run(args))
    except JournalError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:
        from gitlab_journal.crash import report

        return report(exc)


def entry() -> int:
    """The `git-journal` program: :func:`main`, then the end of the process. Every object the
    run made is moved out of the collector's reach first, so the interpreter's last collection
    does not walk them all when it exits: 10 to 15 ms of a `check` (a pre-commit hook runs one
    on every commit) that end nothing a process exit does not end anyway. Objects that only a
    reference cycle held are not finalised: none of this package's holds a file open for
    writing. Tests call :func:`main`, which leaves the collector alone."""
    code = main()
    gc.freeze()
    return code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(entry())
