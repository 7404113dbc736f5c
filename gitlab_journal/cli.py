"""`git journal`: parse arguments, dispatch to a command, turn JournalError into an exit code."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from gitlab_journal import __version__
from gitlab_journal.errors import EXIT_USAGE, JournalError

EXIT_INTERRUPTED = 130

COMMANDS = ("init", "new", "run", "check", "log", "show", "diff", "note")


def _spec_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", nargs="?", help="the spec file (default: journal.yaml)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec value for this invocation, e.g. model.params.C=10 (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="git journal",
        description="A Git-native lab journal for machine-learning experiments.",
    )
    parser.add_argument("--version", action="version", version=f"gitlab-journal {__version__}")
    parser.add_argument(
        "-C", dest="directory", metavar="PATH", help="run as if started in PATH (like git -C)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("init", help="create the orphan journal branch")

    p = sub.add_parser("new", help="write a spec from a template")
    p.add_argument("--template", default="sklearn-classifier", help="template name")
    p.add_argument("--output", "-o", default="journal.yaml", help="where to write the spec")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.add_argument("--list", action="store_true", help="list the templates and exit")

    p = sub.add_parser("run", help="train every grid point not yet run and record each run")
    _spec_args(p)
    p.add_argument("--force", action="store_true", help="re-run points already run (a repeat)")
    p.add_argument("--dry-run", action="store_true", help="list what would run; train nothing")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("check", help="exit 1 if every point of the spec was already run")
    _spec_args(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("log", help="a table of runs")
    p.add_argument("-n", "--max-count", type=int, default=None, metavar="N", help="at most N")
    p.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="EXPR",
        help="filter, e.g. 'params.C > 1' or 'metrics.accuracy >= 0.9' (repeatable: and)",
    )
    p.add_argument("--model", help="only runs of this model (class name or import path)")
    p.add_argument("--status", help="only runs with this status (ok, failed, diverged, ...)")
    p.add_argument("--sort", metavar="KEY", help="sort by a field, best first: metrics.accuracy")
    p.add_argument("--asc", action="store_true", help="sort ascending instead")
    p.add_argument("--json", action="store_true", help="print the runs as a JSON list")

    p = sub.add_parser("show", help="one run in full")
    p.add_argument("run", help="a run id or journal commit (a unique prefix is enough)")
    p.add_argument("--json", action="store_true", help="print the run as JSON")

    p = sub.add_parser("diff", help="what differs between two runs")
    p.add_argument("a", help="a run id or journal commit")
    p.add_argument("b", help="a run id or journal commit")
    p.add_argument("--json", action="store_true", help="print the differences as JSON")

    p = sub.add_parser("note", help="add an inference (or other note) to a run")
    p.add_argument("run", help="a run id or journal commit")
    p.add_argument("-m", "--message", required=True, help="the text")
    p.add_argument("--key", default="inference", help="which note (default: inference)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        if args.directory:
            try:
                os.chdir(args.directory)
            except OSError as exc:
                raise JournalError(f"cannot change to {args.directory}: {exc.strerror}") from exc
        module = importlib.import_module(f"gitlab_journal.commands.{args.command}")
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
        return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
