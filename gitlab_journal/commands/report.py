"""`git journal report [--since REV] [--md FILE] [--html FILE]`: what the journal holds, or
gained since REV, per experiment family: leaderboard, what moved the metric, plots."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
    parser.add_argument("--html", metavar="FILE", help="write a self-contained HTML page to FILE")


def run(args: argparse.Namespace) -> int:
    from gitlab_journal.console import make_console
    from gitlab_journal.journal.index import open_index
    from gitlab_journal.journal.store import Store
    from gitlab_journal.review.report import build_report
    from gitlab_journal.review.report_render import to_html, to_markdown

    store = Store.discover(Path.cwd())
    to_file = bool(args.html or (args.md and args.md != "-"))
    with open_index(store) as index:
        report = build_report(index, args.since, plots=to_file)
    console = make_console(stderr=True)
    if args.md == "-":
        sys.stdout.write(to_markdown(report))
    elif args.md:
        target = Path(args.md)
        folder = target.with_name(target.stem + "_files")
        images: dict[str, str] = {}
        plots = [plot for family in report.families for plot in family.plots]
        if plots:
            folder.mkdir(parents=True, exist_ok=True)
            for plot in plots:
                (folder / f"{plot.name}.png").write_bytes(plot.png)
                images[plot.name] = f"{folder.name}/{plot.name}.png"
        target.write_text(to_markdown(report, images), encoding="utf-8")
        extra = f" and {len(plots)} plot(s) in {folder}/" if plots else ""
        console.print(f"Wrote {target}{extra}.", markup=False, highlight=False)
    if args.html:
        Path(args.html).write_text(to_html(report), encoding="utf-8")
        console.print(f"Wrote {args.html}.", markup=False, highlight=False)
    if not args.md and not args.html:
        from rich.markdown import Markdown

        make_console().print(Markdown(to_markdown(report)))
    return 0
