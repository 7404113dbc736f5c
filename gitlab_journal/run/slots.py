"""Training slots: on one machine, the runs of one repository together train at most as many
points at once as the machine has cores.

Several `git journal run` of one grid started together (two terminals and a CI job) split the
grid through their claims (:mod:`.claims_local`); on their own they would also split the cores,
each paying its start-up (seconds, to import scikit-learn) and all of them slowing each other
down. A run holds one slot under ``.git/journal/slots/`` for each point it trains at once
(``slot-<k>``, locked with ``flock``, which the system releases when the process ends, however
it ends: no slot is ever stale), and keeps them until it has nothing left to train. A run that
finds every slot taken waits, says so, and neither loads its data nor starts workers meanwhile;
once a slot is free it takes what the others have not claimed, which is often nothing.

There are as many slots as the machine has cores (those this process may use), or as a run's
``--jobs`` asks for if that is more; ``git config journal.cores N`` sets the count for a
repository.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gitlab_journal.errors import JournalError
from gitlab_journal.journal.store import Store

SLOTS_DIR = "slots"
CONFIG_KEY = "journal.cores"
POLL_SECONDS = 0.1


def machine_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def configured_cores(store: Store) -> int:
    """``journal.cores`` from git's configuration, else the machine's cores."""
    try:
        value = store.repo.config[CONFIG_KEY]
    except KeyError:
        return machine_cores()
    try:
        cores = int(str(value))
    except ValueError:
        cores = 0
    if cores < 1:
        raise JournalError(
            f"git config {CONFIG_KEY} must be a whole number of at least 1, not {value!r}",
            hint=f"git config --unset {CONFIG_KEY} uses the machine's cores",
        )
    return cores


@dataclass
class Slots:
    """The slots of one repository on this machine, and the ones this process holds."""

    directory: Path
    count: int
    held: dict[int, int] = field(default_factory=dict)  # slot -> its open, locked file

    @classmethod
    def of(cls, store: Store, jobs: int = 1) -> Slots:
        directory = store.cache_dir() / SLOTS_DIR
        directory.mkdir(exist_ok=True)
        return cls(directory, max(configured_cores(store), jobs))

    def try_take(self) -> bool:
        """Take one more free slot: False when every slot is taken."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no limit
            return True
        for slot in range(self.count):
            if slot in self.held:
                continue
            fd = os.open(self.directory / f"slot-{slot}", os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another run holds it
                os.close(fd)
                continue
            except OSError:  # a file system without locks (some NFS mounts): no limit there
                os.close(fd)
                return True
            with contextlib.suppress(OSError):  # who holds it: for the others' message
                os.ftruncate(fd, 0)
                os.pwrite(fd, str(os.getpid()).encode(), 0)
            self.held[slot] = fd
            return True
        return False

    def take(self, waiting: Callable[[str], None]) -> None:
        """Take one more slot, waiting (and saying so once, through ``waiting``) until one is
        free."""
        if self.try_take():
            return
        waiting(self.busy_message())
        while not self.try_take():
            time.sleep(POLL_SECONDS)

    def hold(self, count: int, waiting: Callable[[str], None]) -> None:
        """Hold at least ``count`` slots."""
        while len(self.held) < count:
            self.take(waiting)

    def busy_message(self) -> str:
        pids = sorted({pid for pid in self._holders() if pid != os.getpid()})
        who = f" (processes {', '.join(map(str, pids))})" if pids else ""
        return (
            f"waiting for a free core: other runs of this repository train {self.count} "
            f"point(s) at once on this machine{who}; --jobs {self.count + 1} or "
            f"`git config {CONFIG_KEY} N` trains beside them"
        )

    def _holders(self) -> list[int]:
        out = []
        for slot in range(self.count):
            try:
                text = (self.directory / f"slot-{slot}").read_text()
            except OSError:
                continue
            with contextlib.suppress(ValueError):
                out.append(int(text))
        return out

    def release(self) -> None:
        """Give back every slot this process holds."""
        for fd in self.held.values():
            with contextlib.suppress(OSError):
                os.close(fd)  # closing the file drops its lock
        self.held.clear()
