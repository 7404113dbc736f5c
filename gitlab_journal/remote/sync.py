"""`git journal sync`: fetch a remote's journal, merge it with this one, push the result.

The merge is the store's (:meth:`~gitlab_journal.journal.store.Store.merge`): the union of both
trees, conflict-free by construction. A push that loses the race against another clone fetches,
merges and tries again, a bounded number of times. Nothing is ever force-pushed.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, replace

from gitlab_journal.errors import CheckFailed, JournalError
from gitlab_journal.journal.index import Index
from gitlab_journal.journal.merge import Merged
from gitlab_journal.journal.store import Store
from gitlab_journal.remote.gitcmd import Git

PUSH_ATTEMPTS = 8


@dataclass(frozen=True)
class Synced:
    """What one sync did."""

    remote: str
    merged: Merged | None  # None: the remote had no journal yet
    pushed: bool  # whether the remote's journal moved
    attempts: int
    tip: str


def sync(
    store: Store,
    remote: str | None = None,
    *,
    push: bool = True,
    attempts: int = PUSH_ATTEMPTS,
    git: Git | None = None,
) -> Synced:
    """Fetch ``remote``'s journal, merge it into the local one, and (with ``push``) push. The
    index, when there is one, says which run ids this side holds (a merge refuses a run that
    reuses one); without it, every run folder of this side is listed."""
    git = git or Git(store)
    remote = git.resolve_remote(remote)
    index = Index.existing(store)
    try:
        return _sync(store, remote, push, attempts, git, index)
    finally:
        if index is not None:
            index.close()


def _sync(
    store: Store, remote: str, push: bool, attempts: int, git: Git, index: Index | None
) -> Synced:
    ref = store.ref_name
    merged: Merged | None = None  # what the attempts so far took in
    for attempt in range(1, attempts + 1):
        remote_tip = git.fetch_ref(remote, ref)
        if remote_tip is not None:
            try:
                now = store.merge(
                    remote_tip,
                    message=f"Merge the journal of {remote}",
                    held_ids=None if index is None else index.held_ids,
                )
                merged = _taken_in(merged, now)
            except CheckFailed as exc:
                if not exc.message.startswith("refusing to merge a bad record"):
                    raise
                raise CheckFailed(
                    f"the journal of {remote} holds a bad record; "
                    + exc.message.removeprefix("refusing to merge a bad record: "),
                    hint=exc.hint,
                ) from exc
        elif not store.exists():
            raise JournalError(
                f"no journal here nor on {remote}",
                hint="create one with `git journal init`",
            )
        tip = str(store.require().id)
        if not push or tip == remote_tip:
            return Synced(remote, merged, False, attempt, tip)
        answer = git.push(remote, f"{ref}:{ref}")
        if answer.status in ("ok", "up-to-date"):
            return Synced(remote, merged, answer.status == "ok", attempt, tip)
        if answer.status == "refused":
            raise CheckFailed(
                f"{remote} refused the journal: {answer.reason}",
                hint="the remote's hooks or permissions decide what it accepts",
            )
        # Lost the race: another clone pushed first. Fetch, merge and try again.
        time.sleep(random.uniform(0.05, 0.2) * attempt)
    raise CheckFailed(
        f"could not push the journal to {remote}: it kept moving ({attempts} attempts)",
        hint="nothing was lost: the merged journal is here; run `git journal sync` again",
    )


def _taken_in(before: Merged | None, now: Merged) -> Merged:
    """What a sync took in over its attempts (a push that lost the race merges again): the
    last merge that took anything, counting the runs of every attempt."""
    if before is None or before.kind == "up-to-date":
        return now
    if now.kind == "up-to-date":
        return before
    return replace(
        now, incoming=before.incoming + now.incoming, resolved=before.resolved + now.resolved
    )
