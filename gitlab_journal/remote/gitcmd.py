"""Fetch and push through the `git` program (GitPython), with git's answers parsed.

Nothing here builds journal objects or moves the journal branch: that is the store's job.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from gitlab_journal.errors import JournalError
from gitlab_journal.journal.store import Store

REMOTE_HINT = "check the remote with `git remote -v` and that `git fetch` works from here"
# How git words a push that lost a race against another writer: fetch, merge and try again.
_LOST_RACE = (
    "fetch first",
    "non-fast-forward",
    "stale info",
    "failed to update ref",
    "cannot lock ref",
    "failed to lock",
    "incorrect old value",
    "reference already exists",
    "already exists",
)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Pushed:
    """One ref's answer to a push: ``ok``, ``up-to-date``, ``lost-race`` or ``refused``."""

    status: str
    reason: str = ""


class Git:
    """The `git` program, run in one repository."""

    def __init__(self, store: Store):
        import git

        self.store = store
        self.repo = git.Repo(str(store.workdir or store.git_dir))

    def run(self, *args: str) -> tuple[int, str, str]:
        """(status, stdout, stderr) of ``git ARGS``, never raising on git's own failure."""
        import git

        try:
            status, out, err = self.repo.git.execute(
                ["git", *args], with_extended_output=True, with_exceptions=False
            )
        except git.GitCommandNotFound as exc:
            raise JournalError(
                "the git program was not found", hint="install git and put it on PATH"
            ) from exc
        return int(status), str(out), str(err)

    def remotes(self) -> list[str]:
        return [r.name for r in self.repo.remotes]

    def resolve_remote(self, remote: str | None) -> str:
        """The remote to use: the argument, else `git config journal.remote`, else origin."""
        if remote:
            return remote
        status, out, _ = self.run("config", "--get", "journal.remote")
        if status == 0 and out.strip():
            return out.strip()
        if "origin" in self.remotes():
            return "origin"
        raise JournalError(
            "no remote to sync with: this repository has no remote named origin",
            hint="name one: `git journal sync REMOTE`, or `git config journal.remote NAME`",
        )

    def tracking_ref(self, remote: str, ref: str) -> str:
        """Where a fetched ``ref`` of ``remote`` is kept locally.

        A named remote's branch goes where `git fetch` puts it (``refs/remotes/NAME/BRANCH``);
        anything else under ``refs/journal/remotes/<hash of the URL>/``.
        """
        short = ref.removeprefix("refs/heads/")
        if _NAME.match(remote) and remote in self.remotes() and ref.startswith("refs/heads/"):
            return f"refs/remotes/{remote}/{short}"
        key = hashlib.sha1(remote.encode()).hexdigest()[:12]
        return f"refs/journal/remotes/{key}/{ref.removeprefix('refs/')}"

    def fetch_ref(self, remote: str, ref: str) -> str | None:
        """Fetch one ref of ``remote``; its commit id, or None when the remote has no such ref."""
        local = self.tracking_ref(remote, ref)
        status, _, err = self.run("fetch", "--no-tags", "--quiet", remote, f"+{ref}:{local}")
        if status != 0:
            if "couldn't find remote ref" in err.lower():
                self.run("update-ref", "-d", local)
                return None
            raise JournalError(f"cannot fetch from {remote}: {_last_line(err)}", hint=REMOTE_HINT)
        status, out, _ = self.run("rev-parse", "--verify", "--quiet", f"{local}^{{commit}}")
        return out.strip() if status == 0 and out.strip() else None

    def push(self, remote: str, refspec: str, *options: str) -> Pushed:
        """Push one refspec (never forced unless ``options`` hold a lease); git's answer."""
        status, out, err = self.run("push", "--porcelain", *options, remote, refspec)
        for line in out.splitlines():
            flag, _, rest = line.partition("\t")
            if flag not in ("=", " ", "*", "+", "-", "!"):
                continue
            parts = rest.split("\t")
            summary = parts[1] if len(parts) > 1 else ""
            if flag == "=":
                return Pushed("up-to-date")
            if flag != "!":
                return Pushed("ok")
            reason = summary.strip()
            if any(text in reason.lower() for text in _LOST_RACE):
                return Pushed("lost-race", reason)
            return Pushed("refused", _refusal(reason, err))
        if status == 0:
            return Pushed("ok")
        lowered = err.lower()
        if any(text in lowered for text in _LOST_RACE):
            return Pushed("lost-race", _last_line(err))
        raise JournalError(f"cannot push to {remote}: {_last_line(err)}", hint=REMOTE_HINT)


def _refusal(reason: str, err: str) -> str:
    """The server's words for a refused push (its hook's messages come on stderr)."""
    said = [
        line.removeprefix("remote:").strip()
        for line in err.splitlines()
        if line.startswith("remote:") and line.removeprefix("remote:").strip()
    ]
    return "; ".join([reason, *said[-3:]]) if said else reason


def _last_line(text: str) -> str:
    """git's own words: its first ``fatal:`` or ``error:`` line, else its last line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if line.startswith(("fatal:", "error:")):
            words = line.split(":", 1)[1].strip()
            if words.endswith(":") and i + 1 < len(lines):
                words += " " + lines[i + 1]  # e.g. "unable to connect to HOST:" + the reason
            return words
    return lines[-1] if lines else "unknown error"
