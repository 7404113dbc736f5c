"""`git journal ui`: the browser view of the journal, served locally and live."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "a local web app over the journal: runs table, charts, curves, diff and notes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=8765, help="the port (default: 8765; 0 picks a free one)"
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="print the address only; open no browser"
    )
    parser.add_argument("--verbose", action="store_true", help="log every request on stderr")


def run(args: argparse.Namespace) -> int:
    from gitlab_journal.errors import JournalError
    from gitlab_journal.web.server import make_server

    try:
        server = make_server(Path.cwd(), args.host, args.port, verbose=args.verbose)
    except OSError as exc:
        raise JournalError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror}",
            hint="choose another port with --port (0 picks a free one)",
        ) from exc
    url = server.url()
    print(f"Serving the journal at {url}", flush=True)
    print("The token in the address lets the page add notes; Ctrl-C stops.", flush=True)
    if not args.no_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
