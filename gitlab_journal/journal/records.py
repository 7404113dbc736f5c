"""Record types of the journal: what one run holds."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

STATUSES = ("ok", "failed", "diverged", "stalled", "not-converged", "interrupted")
# Runs stopped from outside before they ended: not a result of their experiment, so the next
# `run` trains it again and a new fit of it is no duplicate.
UNFINISHED = frozenset({"interrupted"})
# What `git journal rerun` found, the latest attempt winning; `log --status` filters on these too.
REPRODUCED = "reproduced"
IRREPRODUCIBLE = "irreproducible"
REPRODUCTION_STATUSES = (REPRODUCED, IRREPRODUCIBLE)
REPRODUCED_RESULTS = ("identical", "close")  # the other results: "differs", "failed"


def checked_at(reproduction: Mapping[str, Any]) -> str:
    """When a rerun was checked (``YYYY-MM-DDTHH:MM:SSZ``, which sorts as time does); "" for
    an entry without a time, older than any."""
    checked = reproduction.get("checked")
    return checked if isinstance(checked, str) else ""


def latest_reproduction(
    reproductions: Sequence[Mapping[str, Any]],
) -> Mapping[str, Any] | None:
    """The latest of a run's reruns: the newest by ``checked``; of those checked in one second,
    the last in the list (the order a sync merges both sides' reruns in: by ``checked``, then by
    their JSON text). None if never rerun."""
    latest: Mapping[str, Any] | None = None
    for entry in reproductions:
        if latest is None or checked_at(entry) >= checked_at(latest):
            latest = entry
    return latest


def reproduction_status(reproductions: Sequence[Mapping[str, Any]]) -> str | None:
    """``reproduced`` or ``irreproducible`` by the latest rerun (:func:`latest_reproduction`);
    None if never rerun. What ``show``, ``log``'s status column and ``--status`` read."""
    latest = latest_reproduction(reproductions)
    if latest is None:
        return None
    return REPRODUCED if latest.get("result") in REPRODUCED_RESULTS else IRREPRODUCIBLE


def new_run_id() -> str:
    """A run id: 12 random hex digits, unique across machines for every practical journal."""
    return os.urandom(6).hex()  # what secrets.token_hex(6) does, without importing it


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass(frozen=True)
class CodeState:
    """The code a run was made from. Only ``files`` is part of the experiment's identity."""

    commit: str | None = None  # HEAD when the run was made; None in a repository with no commit
    branch: str | None = None
    dirty: bool = False  # the code is not all in commit (changed or untracked code files)
    files: Mapping[str, str] = field(default_factory=dict)  # code dependency -> git blob sha
    tree: str | None = None  # git tree id of the tracked files as they were in the work tree
    committed: str | None = None  # the commit that later held exactly that tree (post-commit)
    patch: str | None = None  # the file in the run's directory holding the uncommitted changes
    untracked: tuple[str, ...] = ()  # files of the patch that were untracked (not in the index)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"commit": self.commit, "branch": self.branch, "dirty": self.dirty}
        if self.tree is not None:
            out["tree"] = self.tree
        if self.committed is not None:
            out["committed"] = self.committed
        if self.patch is not None:
            out["patch"] = self.patch
        if self.untracked:
            out["untracked"] = list(self.untracked)
        return out

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], files: Mapping[str, str] | None = None) -> CodeState:
        """The inverse of :meth:`to_dict`; ``files`` come from the run's identity."""
        return cls(
            commit=doc.get("commit"),
            branch=doc.get("branch"),
            dirty=bool(doc.get("dirty", False)),
            files=files or {},
            tree=doc.get("tree"),
            committed=doc.get("committed"),
            patch=doc.get("patch"),
            untracked=tuple(doc.get("untracked") or ()),
        )


@dataclass(frozen=True)
class Run:
    """One recorded run.

    ``identity`` is the document the fingerprint hashes; ``params`` are the model's resolved
    parameters for display and filtering (``step__param`` names for pipelines); ``point`` is the
    grid point as the spec wrote it. ``commit`` is the journal commit that recorded the run, set
    when the run is read back or written.
    """

    id: str
    fingerprint: str
    identity: Mapping[str, Any]
    model: str
    kind: str = "sklearn"
    params: Mapping[str, Any] = field(default_factory=dict)
    point: Mapping[str, Any] = field(default_factory=dict)
    data: Mapping[str, str] = field(default_factory=dict)
    evaluation: Mapping[str, Any] = field(default_factory=dict)
    code: CodeState = field(default_factory=CodeState)
    metrics: Mapping[str, float] = field(default_factory=dict)
    status: str = "ok"
    created: str = field(default_factory=now_iso)
    environment: Mapping[str, Any] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None
    name: str | None = None  # the experiment family (the spec's `name`), if any
    reproduces: str | None = None
    spec: str | None = None  # the spec's repository path; spec.yaml beside holds this point's
    data_sources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # input -> source
    seeds: Mapping[str, Any] = field(default_factory=dict)  # "evaluation" and model seed params
    reproductions: tuple[Mapping[str, Any], ...] = ()  # reruns, oldest first (checked)
    warnings: tuple[str, ...] = ()  # warnings raised while training (e.g. ConvergenceWarning)
    findings: tuple[str, ...] = ()  # pre-flight findings, "CODE: explanation" (docs/checks.md)
    commit: str | None = None

    def with_commit(self, commit: str) -> Run:
        return replace(self, commit=commit)

    @property
    def reproduction(self) -> str | None:
        """``reproduced`` or ``irreproducible`` by the latest rerun; None if never rerun."""
        return reproduction_status(self.reproductions)

    @property
    def table(self) -> Mapping[str, Any]:
        """How a table was read, as the identity records it (the target when it is not the
        last column, ``columns``, ``drop``, ``dtypes``, ``na_values`` and the reading options
        that differ from the defaults); empty for other data."""
        table = self.identity.get("table")
        return table if isinstance(table, Mapping) else {}

    @property
    def caller(self) -> dict[str, str]:
        """The code outside the ``code`` globs that made the run, as the identity names it:
        ``notebook`` (the git blob id of the notebook cells it counts, kept as the run's
        ``notebook.py`` since 2026-12-08) or ``script`` (the calling script's blob id); empty
        for a spec run."""
        code = self.identity.get("code")
        caller = code.get("caller") if isinstance(code, Mapping) else None
        if not isinstance(caller, Mapping):
            return {}
        return {str(k): v for k, v in caller.items() if isinstance(v, str)}

    def headline(self) -> tuple[str, float] | None:
        """The first metric that is not a ``_std`` or a time: the run's headline score."""
        for key, value in self.metrics.items():
            if not key.endswith("_std") and not key.endswith("_time"):
                return key, value
        return None
