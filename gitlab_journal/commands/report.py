"""`git journal report [--since REV] [--md FILE] [--html FILE]`: what the journal holds, or
gained since REV, per experiment family: leaderboard, what moved the metric, plots."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gitlab_journal.errors import JournalError

HELP = "a report per experiment family (leaderboard, what moved the metric, plots)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since",
        metavar="REV",
        help="only what was added since REV: a journal revision (origin/journal) or a code one "
        "(origin/main: the runs made on this branch)",
    )
    parser.add_argument(
        "--md",
        metavar="FILE",
        help="write Markdown to FILE (plots as PNG files in FILE's name + '_files/'); - prints it",
    )
    parser.add_argument(
        "--html", metavar="FILE", help="write a self-contained HTML page to FILE; - prints it"
    )


def _write(target: Path, data: str | bytes) -> None:
    """Write a report file, making its folder; a path that cannot be written is one line."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            target.write_bytes(data)
        else:
            target.write_text(data, encoding="utf-8")
    except OSError as exc:
        raise JournalError(
            f"cannot write {target}: {exc.strerror or exc}",
            hint="give a file path in a folder you can write to, or - for standard output",
        ) from None


def run(args: argparse.Namespace) -> int:
    from gitlab_journal.console import make_console
    from gitlab_journal.journal.index import open_index
    from gitlab_journal.journal.store import Store
    from gitlab_journal.review.report import build_report
    from gitlab_journal.review.report_render import to_html, to_markdown

    if args.md == "-" and args.html == "-":
        raise JournalError("--md - and --html - both print to standard output: choose one")
    for option, value in (("--md", args.md), ("--html", args.html)):
        if value and value != "-" and Path(value).is_dir():
            raise JournalError(f"{option} {value}: is a folder, give a file path")
    store = Store.discover(Path.cwd())
    to_file = bool((args.html and args.html != "-") or (args.md and args.md != "-"))
    with open_index(store) as index:
        report = build_report(index, args.since, plots=to_file or args.html == "-")
    console = make_console(stderr=True)
    if args.md == "-":
        sys.stdout.write(to_markdown(report))
    elif args.md:
        target = Path(args.md)
        folder = target.with_name(target.stem + "_files")
        images: dict[str, str] = {}
        plots = [plot for family in report.families for plot in family.plots]
        for plot in plots:
            _write(folder / f"{plot.name}.png", plot.png)
            images[plot.name] = f"{folder.name}/{plot.name}.png"
        _write(target, to_markdown(report, images))
        extra = f" and {len(plots)} plot(s) in {folder}/" if plots else ""
        console.print(f"Wrote {target}{extra}.", markup=False, highlight=False)
    if args.html == "-":
        sys.stdout.write(to_html(report))
    elif args.html:
        _write(Path(args.html), to_html(report))
        console.print(f"Wrote {args.html}.", markup=False, highlight=False)
    if not args.md and not args.html:
        from rich.markdown import Markdown

        make_console().print(Markdown(to_markdown(report)))
    return 0
