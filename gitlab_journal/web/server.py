"""`git journal ui`: the browser view served from the repository by a local HTTP server.

The page and its data are the ones `git journal site` writes (web/site.py, web/data.py), served
from memory and rebuilt when the journal's tip moves. Three more routes make it live:

- ``GET /api/tip``: the journal tip and the points local runs have claimed (polled by the page);
- ``GET /api/changes?since=TIP``: the runs added, changed or gone since the tip the page holds,
  so a new run reaches the page without it loading every page of runs again;
- ``POST /api/note``: add a note to a run, exactly as `git journal note` does. It needs the
  token printed at start in an ``X-Journal-Token`` header and a JSON body, and it refuses
  requests from another origin, so no other page (local or not) can write to the journal.

Every request must name this server in its ``Host`` header (no DNS rebinding).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from gitlab_journal.errors import JournalError
from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.index import open_index
from gitlab_journal.journal.notes import DEFAULT_KEY, add_note
from gitlab_journal.journal.store import Store
from gitlab_journal.run.claims_local import CLAIMS_DIR
from gitlab_journal.web import data
from gitlab_journal.web.site import static_file

TOKEN_HEADER = "X-Journal-Token"
MAX_BODY = 200_000
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".md": "text/plain; charset=utf-8",
    ".LICENSE": "text/plain; charset=utf-8",
}
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
WILDCARDS = ("", "0.0.0.0", "::")


@dataclass
class Journal:
    """The repository behind the server; every read and write goes through one lock (the
    index and pygit2 objects are opened per request, in the thread that serves it)."""

    path: Path
    lock: threading.Lock = field(default_factory=threading.Lock)
    _snapshot: data.Snapshot | None = None

    def store(self) -> Store:
        return Store.discover(self.path)

    def tip(self) -> str | None:
        with self.lock:
            tip = self.store().tip()
        return None if tip is None else str(tip)

    def snapshot(self) -> data.Snapshot:
        """The runs of the current tip, rebuilt when the tip moved."""
        with self.lock:
            store = self.store()
            tip = store.tip()
            if self._snapshot is None or self._snapshot.tip != (None if tip is None else str(tip)):
                with open_index(store, warn=False) as index:
                    self._snapshot = data.snapshot(index, live=True)
            return self._snapshot

    def changes(self, since: str) -> dict[str, Any] | None:
        with self.lock, open_index(self.store(), warn=False) as index:
            return data.changes(index, since)

    def detail(self, run_id: str) -> dict[str, Any] | None:
        with self.lock, open_index(self.store(), warn=False) as index:
            row = index.get(run_id)
            return None if row is None else data.run_detail(index, row)

    def file(self, run_id: str, name: str) -> bytes | None:
        if data.file_path(run_id, name) is None:
            return None
        with self.lock, open_index(self.store(), warn=False) as index:
            row = index.get(run_id)
            return None if row is None else data.run_file(index, row, name)

    def note(self, run_id: str, key: str, text: str) -> str:
        with self.lock:
            store = self.store()
            with open_index(store, warn=False) as index:
                _, commit = add_note(store, run_id, text, key, index=index)
            return commit

    def running(self) -> list[dict[str, Any]]:
        """The points local `git journal run` processes hold claims on."""
        with self.lock:
            folder = self.store().git_dir / "journal" / CLAIMS_DIR
        found: list[dict[str, Any]] = []
        with contextlib.suppress(OSError):
            for path in sorted(folder.iterdir()):
                if path.name.startswith(".") or not fmt.is_fingerprint(path.name):
                    continue
                try:
                    doc = json.loads(path.read_text())
                    found.append(
                        {
                            "fingerprint": path.name,
                            "host": str(doc.get("host", "")),
                            "pid": int(doc.get("pid", 0)),
                            "started": float(doc.get("started", time.time())),
                            "progress": str(doc.get("progress", ""))[:200],
                        }
                    )
                except (OSError, ValueError, TypeError, AttributeError):
                    continue
        return found


class Handler(BaseHTTPRequestHandler):
    server: UiServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    # -- answers ---------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, data.dumps(value), "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message})

    # -- checks ----------------------------------------------------------------------------

    def _host_ok(self) -> bool:
        allowed = self.server.allowed_hosts()
        return allowed is None or (self.headers.get("Host") or "").lower() in allowed

    def _same_origin(self) -> bool:
        origin = self.headers.get("Origin")
        allowed = self.server.allowed_origins()
        if origin is not None and allowed is not None and origin.lower() not in allowed:
            return False
        site = self.headers.get("Sec-Fetch-Site")
        return site is None or site in ("same-origin", "none")

    def _token_ok(self) -> bool:
        given = self.headers.get(TOKEN_HEADER) or ""
        return hmac.compare_digest(given.encode(), self.server.token.encode())

    # -- routes ----------------------------------------------------------------------------

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        if not self._host_ok():
            self._error(HTTPStatus.FORBIDDEN, "unknown Host")
            return
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        try:
            self._get(path.lstrip("/") or "index.html", parse_qs(parts.query))
        except JournalError as exc:
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, exc.message)

    def _get(self, name: str, query: dict[str, list[str]]) -> None:
        if name == "api/changes":
            # the runs changed since the tip the page holds; {"reload": true}: load them all
            found = self.server.journal.changes(query.get("since", [""])[0])
            self._json(HTTPStatus.OK, found if found is not None else {"reload": True})
            return
        if name == "api/tip":
            self._json(
                HTTPStatus.OK, {"tip": self.server.journal.tip(), "running": self.server.running()}
            )
            return
        if name == data.MANIFEST or (name.startswith("runs-") and name.endswith(".json")):
            body = self.server.journal.snapshot().files.get(name)
            if body is None:
                self._error(HTTPStatus.NOT_FOUND, "no such page")
            else:
                self._send(HTTPStatus.OK, body, "application/json")
            return
        if name.startswith(f"{data.DETAILS_DIR}/") and name.count("/") == 2:
            _, run_id, file_name = name.split("/")
            content_type = data.file_type(file_name)
            body = self.server.journal.file(run_id, file_name) if content_type else None
            if content_type is None or body is None:
                self._error(HTTPStatus.NOT_FOUND, "no such file")
            else:
                self._send(HTTPStatus.OK, body, content_type)
            return
        if name.startswith(f"{data.DETAILS_DIR}/") and name.endswith(".json"):
            run_id = name[len(data.DETAILS_DIR) + 1 : -len(".json")]
            found = self.server.journal.detail(run_id) if data.detail_name(run_id) else None
            if found is None:
                self._error(HTTPStatus.NOT_FOUND, "no such run")
            else:
                self._json(HTTPStatus.OK, found)
            return
        body = static_file(name)
        if body is None:
            self._error(HTTPStatus.NOT_FOUND, "not found")
            return
        suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
        self._send(HTTPStatus.OK, body, CONTENT_TYPES.get(suffix, "application/octet-stream"))

    def do_POST(self) -> None:
        self.close_connection = True  # a refused request's body is never read: no keep-alive
        if not self._host_ok():
            self._error(HTTPStatus.FORBIDDEN, "unknown Host")
            return
        if urlsplit(self.path).path != "/api/note":
            self._error(HTTPStatus.NOT_FOUND, "not found")
            return
        if not self._same_origin():
            self._error(HTTPStatus.FORBIDDEN, "cross-origin requests may not write")
            return
        if not self._token_ok():
            self._error(HTTPStatus.FORBIDDEN, f"a write needs the {TOKEN_HEADER} header")
            return
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            self._error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send JSON")
            return
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            self._error(HTTPStatus.BAD_REQUEST, "a JSON body of at most 200 kB is needed")
            return
        try:
            doc = json.loads(self.rfile.read(length))
            run_id = doc["run"]
            key = doc.get("key") or DEFAULT_KEY
            text = doc["text"]
            if not all(isinstance(v, str) for v in (run_id, key, text)):
                raise TypeError
        except (ValueError, KeyError, TypeError, AttributeError):
            self._error(HTTPStatus.BAD_REQUEST, "expected {run, key, text} as strings")
            return
        if not text.strip():
            self._error(HTTPStatus.BAD_REQUEST, "the note is empty")
            return
        try:
            commit = self.server.journal.note(run_id, key, text)
        except JournalError as exc:
            self._error(HTTPStatus.BAD_REQUEST, exc.message)
            return
        self._json(HTTPStatus.OK, {"commit": commit, "run": run_id, "key": key})


class UiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, journal: Journal, host: str = "127.0.0.1", port: int = 0, verbose: bool = False
    ):
        super().__init__((host, port), Handler)
        self.journal = journal
        self.token = secrets.token_hex(16)
        self.verbose = verbose
        self.host = host

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def _names(self) -> Iterable[str]:
        names = {*LOCAL_HOSTS, self.host.lower()}
        if ":" in self.host and not self.host.startswith("["):
            names.add(f"[{self.host.lower()}]")
        return names

    def allowed_hosts(self) -> set[str] | None:
        """The Host headers that name this server; None when it listens on every address."""
        if self.host in WILDCARDS:
            return None
        return {f"{name}:{self.port}" for name in self._names()}

    def allowed_origins(self) -> set[str] | None:
        hosts = self.allowed_hosts()
        return None if hosts is None else {f"http://{host}" for host in hosts}

    def running(self) -> list[dict[str, Any]]:
        return self.journal.running()

    def url(self, *, with_token: bool = True) -> str:
        host = self.host if self.host not in WILDCARDS else "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        base = f"http://{host}:{self.port}/"
        return f"{base}#token={self.token}" if with_token else base


def make_server(
    path: Path, host: str = "127.0.0.1", port: int = 0, verbose: bool = False
) -> UiServer:
    """A server for the repository at ``path`` (not yet serving: call serve_forever)."""
    journal = Journal(path)
    journal.snapshot()  # fail now, with the store's error, when there is no journal
    return UiServer(journal, host, port, verbose)
