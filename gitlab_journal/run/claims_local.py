"""Local claims: several `git journal run` processes on one repository split a grid.

Before a point trains, its fingerprint is claimed by creating
``.git/journal/claims/<fingerprint>`` (create-only, ``O_CREAT | O_EXCL``), a JSON file naming the
owner's host, process id and start time. A process that finds a claim skips the point. A claim
whose owner is gone (the same host and its process no longer alive) or older than the timeout is
taken over. Claims are released once the point's run is recorded, and on exit (Ctrl-C included).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gitlab_journal.journal.store import Store

CLAIMS_DIR = "claims"
DEFAULT_TIMEOUT = 6 * 3600.0


@dataclass(frozen=True)
class LocalHolder:
    host: str
    pid: int
    started: float
    token: str = ""


def _alive(pid: int) -> bool:
    """Whether process ``pid`` of this host runs; a zombie (killed, not yet waited for by its
    parent) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:  # Linux: the state follows the command name, which may hold ") "
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True  # no /proc here, or the process just ended: os.kill said it ran
    return state not in ("Z", "X")


def gone(host: str, pid: int) -> bool:
    """Whether ``pid`` on ``host`` is a process of this host that no longer runs: its claims
    are stale at once."""
    return host == socket.gethostname() and pid > 0 and not _alive(pid)


UNREADABLE = "(unreadable claim)"


@dataclass
class LocalClaims:
    """Claims under ``.git/journal/claims/``: implements the runner's ``Coordinator``."""

    store: Store
    timeout: float = DEFAULT_TIMEOUT
    held: dict[str, str] = field(default_factory=dict)  # fingerprint -> our token
    taken_over: list[tuple[str, LocalHolder]] = field(default_factory=list)

    _directory: Path | None = field(default=None, repr=False)

    @property
    def directory(self) -> Path:
        """``.git/journal/claims``, made once (a claim is taken and let go per point)."""
        if self._directory is None:
            path = self.store.cache_dir() / CLAIMS_DIR
            path.mkdir(exist_ok=True)
            self._directory = path
        return self._directory

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise the read-decide-write of a takeover between local processes."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not on POSIX: create-only files alone
            yield
            return
        fd = os.open(self.directory / ".lock", os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def holder(self, fingerprint: str) -> LocalHolder | None:
        path = self.directory / fingerprint
        try:
            doc = json.loads(path.read_text())
            return LocalHolder(
                str(doc["host"]), int(doc["pid"]), float(doc["started"]), str(doc.get("token", ""))
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            try:  # unreadable: half written, or damaged; its file's age decides
                started = path.stat().st_mtime
            except OSError:
                return None
            return LocalHolder(UNREADABLE, 0, started)

    def _stale(self, holder: LocalHolder) -> bool:
        if holder.host == UNREADABLE:
            # claims are written and read under the lock: one that cannot be read is a
            # writer that died (or met a full disk) halfway through writing it
            return True
        if time.time() - holder.started > self.timeout:
            return True
        return gone(holder.host, holder.pid)

    def _write(
        self,
        fingerprint: str,
        *,
        replace: bool,
        token: str | None = None,
        started: float | None = None,
        progress: str | None = None,
    ) -> str:
        token = token or secrets.token_hex(8)
        doc: dict[str, object] = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": time.time() if started is None else started,
            "token": token,
        }
        if progress is not None:
            doc["progress"] = progress[:200]
        body = json.dumps(doc).encode()
        path = self.directory / fingerprint
        if replace:
            tmp = path.with_name(f".{fingerprint}.{token}")
            tmp.write_bytes(body)
            os.replace(tmp, path)
        else:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(body)
            except BaseException:
                path.unlink(missing_ok=True)  # a full disk must not leave a claim nobody holds
                raise
        return token

    def acquire(self, fingerprint: str) -> str | None:
        """Claim ``fingerprint``: None if this process now holds it, else why not."""
        with self._locked():
            try:
                self.held[fingerprint] = self._write(fingerprint, replace=False)
                return None
            except FileExistsError:
                pass
            holder = self.holder(fingerprint)
            if holder is None:
                self.held[fingerprint] = self._write(fingerprint, replace=False)
                return None
            if holder.pid == os.getpid() and holder.host == socket.gethostname():
                return "claimed by this process"
            if not self._stale(holder):
                return f"claimed by process {holder.pid} on {holder.host}"
            self.held[fingerprint] = self._write(fingerprint, replace=True)
            self.taken_over.append((fingerprint, holder))
            return None

    def progress(self, fingerprint: str, text: str) -> None:
        """Say in our claim on ``fingerprint`` what its training is doing (``fold 2/5``), for
        `git journal ui`; nothing when the claim is no longer ours."""
        token = self.held.get(fingerprint)
        if token is None:
            return
        with self._locked():
            holder = self.holder(fingerprint)
            if holder is None or holder.token != token:
                return  # taken over meanwhile: not ours to write
            with contextlib.suppress(OSError):  # progress is worth no failure of the run
                self._write(
                    fingerprint, replace=True, token=token, started=holder.started, progress=text
                )

    def release(self, fingerprint: str) -> bool:
        token = self.held.pop(fingerprint, None)
        if token is None:
            return False
        with self._locked():
            holder = self.holder(fingerprint)
            if holder is None or holder.token != token:
                return False  # taken over meanwhile: not ours to delete
            with contextlib.suppress(FileNotFoundError):
                (self.directory / fingerprint).unlink()
        return True

    def recorded(self, fingerprint: str) -> None:
        self.release(fingerprint)

    def finish(self) -> None:
        for fingerprint in list(self.held):
            self.release(fingerprint)
