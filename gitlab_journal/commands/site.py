"""`git journal site DIR`: the browser view as static files (HTML, JS and the runs as JSON)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "write the browser view as a static site (for GitLab Pages or any static server)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="DIR", help="the folder to write the site into")


def run(args: argparse.Namespace) -> int:
    from gitlab_journal.journal.index import open_index
    from gitlab_journal.journal.store import Store
    from gitlab_journal.web.site import write_site

    store = Store.discover(Path.cwd())
    target = Path(args.target)
    with open_index(store) as index:
        written = write_site(index, target)
    print(
        f"Wrote the site of {written.runs} run(s) to {target} "
        f"({written.pages} page(s) of runs); serve it with any static server, e.g. "
        f"`python -m http.server -d {target}`."
    )
    return 0
