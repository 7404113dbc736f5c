"""Claims: several machines share one grid through a shared remote (`git journal run --claim`).

Before a point trains, its fingerprint is claimed by pushing a ref
``refs/journal/claims/<fingerprint>``. The push is create-only: git updates a ref only from the
value the pusher saw, so when two machines race for one point exactly one push lands and the
other is rejected. The claim is a small commit (empty tree) whose message names the host, the
process and the time. After claiming, the remote's journal is fetched: a point another machine
recorded meanwhile is not trained again. When the run is recorded, the journal is synced (the
run reaches the remote) and only then is the claim released (deleted, with a lease, so only
its owner deletes it). A claim older than the timeout is stale (its runner died), and so is
one made by a process of this host that no longer runs (killed, or the machine restarted): it
is taken over by a compare-and-swap push on the claim's old value, and the point trained here.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from dataclasses import dataclass

import pygit2

from gitlab_journal.errors import CheckFailed, JournalError
from gitlab_journal.journal.store import Store
from gitlab_journal.remote.gitcmd import Git
from gitlab_journal.remote.sync import sync
from gitlab_journal.run.claims_local import gone, machine_fields

CLAIMS_PREFIX = "refs/journal/claims/"
DEFAULT_TIMEOUT = 6 * 3600.0
CLAIM_ATTEMPTS = 5


@dataclass(frozen=True)
class Holder:
    """Who holds a claim, read from its commit."""

    commit: str
    host: str
    time: int  # seconds since the epoch, the claim commit's time
    pid: int = 0  # the claiming process on ``host`` (0: not known)
    machine: str | None = None  # the claiming machine's id and boot (claims_local.Machine)
    boot: str | None = None

    def age(self, now: float) -> float:
        return max(0.0, now - self.time)

    def gone(self) -> bool:
        """Made by a process of this machine that no longer runs."""
        return gone(self.host, self.pid, self.machine, self.boot)

    def who(self) -> str:
        return f"process {self.pid} on {self.host}" if self.pid > 0 else self.host


def claim_ref(fingerprint: str) -> str:
    return CLAIMS_PREFIX + fingerprint


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}min"
    return f"{seconds / 3600:.1f}h"


class Claims:
    """Claims on one remote, for one runner: implements the runner's ``Coordinator``."""

    def __init__(
        self,
        store: Store,
        remote: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ):
        self.store = store
        self.git = Git(store)
        self.remote = self.git.resolve_remote(remote)
        self.timeout = timeout
        self.held: dict[str, str] = {}  # fingerprint -> our claim commit
        self.taken_over: list[tuple[str, Holder]] = []

    # -- the claim commit ----------------------------------------------------------------------

    def _claim_commit(self, fingerprint: str) -> str:
        repo = self.store.repo
        host = socket.gethostname()
        here = machine_fields()
        message = (
            f"Claim {fingerprint[:12]}\n\n"
            f"Journal-Fingerprint: {fingerprint}\n"
            f"Claim-Host: {host}\n"
            f"Claim-Process: {os.getpid()}\n"
            f"Claim-Machine: {here['machine']}\n"
            f"Claim-Boot: {here['boot']}\n"
            f"Claim-Token: {secrets.token_hex(8)}\n"  # two claims are never the same commit
        )
        sig = self.store.signature()
        now = pygit2.Signature(sig.name, sig.email, int(time.time()), 0)
        tree = repo.TreeBuilder().write()
        return str(repo.create_commit(None, now, now, message, tree, []))

    def holder(self, fingerprint: str) -> Holder | None:
        """The current claim on ``fingerprint`` at the remote, or None if there is none."""
        ref = claim_ref(fingerprint)
        commit_id = self.git.fetch_ref(self.remote, ref)
        if commit_id is None:
            return None
        self.git.run("update-ref", "-d", self.git.tracking_ref(self.remote, ref))
        commit = self.store.repo.get(commit_id)
        if not isinstance(commit, pygit2.Commit):
            return Holder(commit_id, "unknown", 0)
        host, pid = "unknown", 0
        said: dict[str, str] = {}
        for line in commit.message.splitlines():
            key, _, value = line.partition(":")
            if key == "Claim-Host":
                host = value.strip()
            elif key == "Claim-Process" and value.strip().isdigit():
                pid = int(value.strip())
            elif key in ("Claim-Machine", "Claim-Boot"):
                said[key] = value.strip()
        return Holder(
            commit_id,
            host,
            int(commit.commit_time),
            pid,
            said.get("Claim-Machine"),
            said.get("Claim-Boot"),
        )

    # -- Coordinator -----------------------------------------------------------------------------

    def acquire(self, fingerprint: str) -> str | None:
        """Claim ``fingerprint``: None if this runner now holds it, else why not."""
        ref = claim_ref(fingerprint)
        for _ in range(CLAIM_ATTEMPTS):
            mine = self._claim_commit(fingerprint)
            answer = self.git.push(self.remote, f"{mine}:{ref}")
            if answer.status == "refused":
                raise CheckFailed(
                    f"{self.remote} refused the claim {ref}: {answer.reason}",
                    hint="the remote must accept pushes to refs/journal/claims/",
                )
            if answer.status in ("ok", "up-to-date"):
                self.held[fingerprint] = mine
                break
            holder = self.holder(fingerprint)
            if holder is None:
                continue  # released meanwhile: try again
            age = holder.age(time.time())
            if age < self.timeout and not holder.gone():
                return f"claimed by {holder.host} ({_ago(age)} ago)"
            # A stale claim: take it over, only if it is still that claim.
            answer = self.git.push(
                self.remote, f"+{mine}:{ref}", f"--force-with-lease={ref}:{holder.commit}"
            )
            if answer.status == "ok":
                self.held[fingerprint] = mine
                self.taken_over.append((fingerprint, holder))
                break
        else:
            return "claimed by another runner"
        # Recorded on the remote by another machine since this runner planned? Then skip it.
        tip = self.git.fetch_ref(self.remote, self.store.ref_name)
        if tip is not None:
            commit = self.store.repo.get(tip)
            if isinstance(commit, pygit2.Commit) and self.store.has(fingerprint, commit.tree):
                self.release(fingerprint)
                return f"recorded on {self.remote} meanwhile"
        return None

    def recorded(self, fingerprint: str) -> None:
        """Publish the journal (so other runners see the run), then release the claim."""
        try:
            sync(self.store, self.remote, git=self.git)
        except JournalError:
            # The run is recorded here but not on the remote: keep the claim (it goes stale),
            # so no other runner trains the point meanwhile.
            self.held.pop(fingerprint, None)
            raise
        self.release(fingerprint)

    def progress(self, fingerprint: str, text: str) -> None:
        """Progress inside a point is shown on this machine only (the local claim has it): a
        push per fold would cost more than the fold."""

    def release(self, fingerprint: str) -> bool:
        """Delete our claim on ``fingerprint`` (only if it is still ours)."""
        mine = self.held.pop(fingerprint, None)
        if mine is None:
            return False
        ref = claim_ref(fingerprint)
        answer = self.git.push(self.remote, f":{ref}", f"--force-with-lease={ref}:{mine}")
        return answer.status in ("ok", "up-to-date")

    def finish(self) -> None:
        """Release every claim still held (best effort: an unreleased claim goes stale)."""
        for fingerprint in list(self.held):
            try:
                self.release(fingerprint)
            except JournalError:
                self.held.pop(fingerprint, None)
