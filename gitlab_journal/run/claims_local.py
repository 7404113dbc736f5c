"""Local claims: several `git journal run` processes on one repository split a grid.

Before a point trains, its fingerprint is claimed by creating
``.git/journal/claims/<fingerprint>`` (create-only, ``O_CREAT | O_EXCL``), a JSON file naming the
owner's host, process id and start time. A process that finds a claim skips the point. A claim
whose owner is gone (a process of this machine that no longer runs, see :func:`gone`) or older
than the timeout is taken over. Claims are released once the point's run is recorded, and on
exit (Ctrl-C included).
"""

from __future__ import annotations

import contextlib
import functools
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
    machine: str | None = None  # the owner's machine id and boot (None: not said)
    boot: str | None = None

    def who(self) -> str:
        """The holder as a person reads it: ``process 42 on box``."""
        if self.host == UNREADABLE:
            return "a claim file that could not be read"
        return f"process {self.pid} on {self.host}"


@dataclass(frozen=True)
class Machine:
    """What tells this machine from another one of the same host name.

    ``machine``: ``/etc/machine-id`` (kept across restarts; "" where there is none, as in many
    containers). ``boot``: the kernel's boot id and this process's pid namespace ("" off
    Linux): two processes with one ``boot`` see each other's process ids."""

    machine: str
    boot: str


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


@functools.cache
def this_machine() -> Machine:
    boot = _read("/proc/sys/kernel/random/boot_id")
    if boot:
        with contextlib.suppress(OSError):
            boot += "/" + os.readlink("/proc/self/ns/pid")
    return Machine(_read("/etc/machine-id"), boot)


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


def gone(host: str, pid: int, machine: str | None = None, boot: str | None = None) -> bool:
    """Whether ``pid`` on ``host`` is a process of this machine that no longer runs: its claims
    are stale at once.

    A host name alone does not tell the machine (cloned machines and containers share names),
    so a claim that says its ``machine`` and ``boot`` (:class:`Machine`) is gone only when
    its process is one this process can see and it no longer runs, or when its machine is
    this one and has restarted since (another boot id; a machine id copied with a disk image
    counts as this machine's). One made elsewhere, or from another pid namespace of this
    host, waits for its timeout. A claim that says neither (made by an
    earlier version) is judged by its host name, as that version did."""
    if host != socket.gethostname() or pid <= 0:
        return False
    here = this_machine()
    if machine is None or boot is None or boot == here.boot:
        return not _alive(pid)  # off Linux both say "": the host name is all there is
    if not boot or not here.boot:
        return False
    boot_id, here_id = boot.split("/", 1)[0], here.boot.split("/", 1)[0]
    return bool(machine) and machine == here.machine and boot_id != here_id


def machine_fields() -> dict[str, str]:
    """This process's :class:`Machine`, as a claim records it."""
    here = this_machine()
    return {"machine": here.machine, "boot": here.boot}


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
            machine, boot = doc.get("machine"), doc.get("boot")
            return LocalHolder(
                str(doc["host"]),
                int(doc["pid"]),
                float(doc["started"]),
                str(doc.get("token", "")),
                machine if isinstance(machine, str) else None,
                boot if isinstance(boot, str) else None,
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
        return gone(holder.host, holder.pid, holder.machine, holder.boot)

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
            **machine_fields(),
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
            if (
                holder.pid == os.getpid()
                and holder.host == socket.gethostname()
                and holder.boot in (None, this_machine().boot)
            ):
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
