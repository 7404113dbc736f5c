"""`git journal rerun RUN`: run a recorded run again from its record alone, and compare.

1. A temporary worktree at the run's code commit, the run's ``code.patch`` applied: the code
   exactly as the run read it. The user's own work tree, index and HEAD are never touched.
2. The data found again (committed at that commit, or in the user's work tree) and checked
   against the recorded md5s; an input that differs is named.
3. The run's ``spec.yaml`` (its grid point alone) planned and trained in this process, with the
   worktree as the repository root (and working directory).
4. The metrics compared with the record, and the likely causes of any difference named.
5. Unless asked not to: the new run recorded as a repeat (same fingerprint) with ``reproduces``,
   and the outcome appended to the original run's ``reproductions`` (a new journal commit). A
   command run recorded before its template was spelled one way (``--key={key}`` as written)
   is reproduced under the fingerprint its record has (:func:`spelled_as_recorded`).

The worktree shares the repository's refs, so its journal branch is the same journal.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pygit2

from gitlab_journal.code.patch import PatchEntry, diffstat, patch_entries
from gitlab_journal.data.hashing import hash_cache
from gitlab_journal.errors import CheckFailed, JournalError
from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.batch import batch_commits
from gitlab_journal.journal.format import PATCH_FILE, SPEC_FILE
from gitlab_journal.journal.identity import (
    canonical_json,
    fingerprint,
    normalise,
    value_json_text,
)
from gitlab_journal.journal.records import Run
from gitlab_journal.journal.store import Store
from gitlab_journal.pathsafe import confined
from gitlab_journal.reproduce.inputs import InputCheck, check_inputs, data_error
from gitlab_journal.reproduce.verdict import Comparison, compare_runs
from gitlab_journal.reproduce.worktree import (
    apply_patch,
    empty_commit,
    interrupts_deferred,
    temporary_worktree,
)
from gitlab_journal.spec.load import load_spec_text
from gitlab_journal.spec.model import DEFAULT_SPEC, Spec

if TYPE_CHECKING:
    from gitlab_journal.run.plan import Planned

Step = Callable[[str], None]


@dataclass(frozen=True)
class Rerun:
    """What a rerun did: the reproduction, its comparison with the original, the data checks."""

    original: Run
    new: Run  # with its journal commit when recorded
    comparison: Comparison
    inputs: tuple[InputCheck, ...]
    recorded: bool
    note_commit: str | None = None  # the journal commit that noted the outcome on the original

    @property
    def same_fingerprint(self) -> bool:
        return self.new.fingerprint == self.original.fingerprint


@dataclass(frozen=True)
class Recipe:
    """What a run's directory holds to run it again."""

    spec: bytes | None  # spec.yaml; None for a run recorded without one
    patch: bytes  # code.patch; empty when the work tree was clean


def recipe(store: Store, run: Run) -> Recipe:
    """The run's ``spec.yaml`` and ``code.patch``; an error when the patch it names is gone."""
    files = store.files(run)
    patch = files.get(PATCH_FILE, b"")
    if run.code.patch and not patch:
        raise JournalError(f"run {run.id} names a {run.code.patch} that its directory lacks")
    return Recipe(spec=files.get(SPEC_FILE), patch=patch)


@dataclass(frozen=True)
class ForeignPatch:
    """A run's ``code.patch`` that this clone did not make: rerunning it runs its code."""

    run_id: str
    reasons: tuple[str, ...]
    entries: tuple[PatchEntry, ...]
    stat: str

    def describe(self) -> str:
        """What the patch adds, for the user to look at before running it."""
        lines = [
            f"run {self.run_id}'s {PATCH_FILE} came from another clone "
            f"({'; '.join(self.reasons)}); rerunning it runs this code:"
        ]
        lines += [f"  {entry.status} {entry.path}" for entry in self.entries]
        lines += [f"  {line.strip()}" for line in self.stat.splitlines()[-1:]]
        return "\n".join(lines)


def foreign_patch(store: Store, run: Run) -> ForeignPatch | None:
    """The run's ``code.patch`` when it came from another clone: its code commit is not in the
    history of this clone's HEAD, or the run was made on another host. None when the run has
    no patch, or this clone made it."""
    patch = recipe(store, run).patch
    if not patch:
        return None
    reasons: list[str] = []
    commit = run.code.commit
    repo = store.repo
    if commit is None:
        pass  # made before the first commit: its patch holds all of its code
    elif repo.head_is_unborn:
        reasons.append("its code commit is not in this clone's history")
    else:
        head = repo.head.target
        try:
            ours = str(head) == commit or repo.descendant_of(head, commit)
        except (pygit2.GitError, ValueError, KeyError):
            ours = False
        if not ours:
            reasons.append(f"its code commit {commit[:12]} is not in the history of HEAD")
    host = run.environment.get("host")
    if host is not None and str(host) != socket.gethostname():
        reasons.append(f"it was made on host {host!r}")
    if not reasons and not _recorded_here(store, run):
        reasons.append("this clone did not record it (it came in through sync or a fetch)")
    if not reasons:
        return None
    where = f"run {run.id}"
    return ForeignPatch(
        run.id, tuple(reasons), tuple(patch_entries(patch, where=where)), diffstat(patch)
    )


def require_commit(store: Store, run: Run) -> str:
    """The run's code commit, present in this repository; for a run made before the first
    commit, the empty commit (:func:`.worktree.empty_commit`) its ``code.patch`` applies to."""
    commit = run.code.commit
    if commit is None:
        if run.code.files and not run.code.patch:
            raise JournalError(
                f"run {run.id} was made in a repository with no commit, and its code was not "
                "kept: it cannot be found",
            )
        return empty_commit(store.repo)
    if not isinstance(store.repo.get(commit), pygit2.Commit):
        raise JournalError(
            f"run {run.id} was made at commit {commit[:12]}, which this repository lacks",
            hint="fetch it (git fetch --all), or rerun in the clone that made the run",
        )
    return commit


def spec_location(worktree: Path, run: Run) -> Path:
    """Where the run's spec sat, in ``worktree`` (its relative data paths resolve from there);
    refused when the record names a path out of ``worktree``."""
    return confined(worktree, run.spec or DEFAULT_SPEC, where=f"run {run.id}, run.json spec")


def _recorded_here(store: Store, run: Run) -> bool:
    """Whether this clone's own journal reflog holds the commit that recorded ``run`` (a run
    merged in by sync or fetched arrives in a merge or fast-forward, never as its own entry)."""
    try:
        entries = list(store.repo.lookup_reference(store.ref_name).log())
    except (KeyError, pygit2.GitError):
        return False
    trailer = f"{fmt.TRAILER_RUN}: {run.id}"
    for entry in entries:
        message = entry.message or ""
        if message.startswith(("journal: merge", "journal: fast-forward")):
            continue
        batch = batch_commits(store.repo, entry)  # a grid's runs recorded together
        if any(trailer in commit.message.splitlines() for commit in batch):
            return True
        try:
            commit = store.repo[entry.oid_new]
        except (KeyError, ValueError):
            continue
        if isinstance(commit, pygit2.Commit) and trailer in commit.message.splitlines():
            return True
    return False


def untrusted_error(foreign: ForeignPatch) -> JournalError:
    return JournalError(
        f"run {foreign.run_id}'s {PATCH_FILE} came from another clone "
        f"({'; '.join(foreign.reasons)}): not running it",
        hint=f"read it (`git journal checkout {foreign.run_id}` runs nothing), then "
        f"`git journal rerun {foreign.run_id} --trust` to run it",
    )


def load_recorded_spec(run: Run, text: bytes, where: Path) -> Spec:
    """The run's ``spec.yaml``, validated as if it were the file at ``where``; it must yield
    exactly the run's grid point."""
    spec = load_spec_text(text.decode("utf-8"), where, shown=f"spec.yaml of run {run.id}")
    points = spec.points()
    if len(points) != 1:
        raise CheckFailed(
            f"the spec.yaml of run {run.id} yields {len(points)} points, not the run's one",
        )
    if normalise(dict(points[0].params)) != normalise(dict(run.point)):
        raise CheckFailed(
            f"the spec.yaml of run {run.id} yields another grid point than the run's",
        )
    return spec


def rerun(
    store: Store,
    run: Run,
    *,
    record: bool = True,
    allow_data_change: bool = False,
    tolerance: float = 0.0,
    step: Step | None = None,
    trusted: bool = False,
) -> Rerun:
    """Run ``run`` again from its record (see the module's docstring).

    A ``code.patch`` from another clone (:func:`foreign_patch`) is run only when ``trusted``.
    """
    say = step or (lambda _: None)
    if run.kind in ("custom", "autolog"):
        how = "by autologging" if run.kind == "autolog" else "through the Python API"
        raise JournalError(
            f"run {run.id} was recorded {how}: the code that trained it is the caller's, "
            "not a spec",
            hint=(
                f"`git journal checkout {run.id}` gives you its code and the notebook cells it "
                "kept (runs recorded before 2026-12-08 kept none) to run them again"
                if "notebook" in run.caller
                else f"`git journal checkout {run.id}` gives you its code to run it again"
            ),
        )
    found = recipe(store, run)
    if found.spec is None:
        raise JournalError(
            f"run {run.id} has no spec.yaml: it was recorded before runs kept their spec, "
            "and cannot be run again from its record",
            hint=f"`git journal checkout {run.id}` gives you its code",
        )
    commit = require_commit(store, run)
    root = store.workdir
    if root is None:
        raise JournalError("a bare repository has no work tree to reproduce a run in")
    if not trusted and (foreign := foreign_patch(store, run)) is not None:
        raise untrusted_error(foreign)
    say(f"worktree at {commit[:12]}")
    with temporary_worktree(root, commit, label=f"rerun-{run.id}") as worktree:
        if found.patch:
            say(f"applying {PATCH_FILE}")
            apply_patch(worktree, found.patch, run.code.untracked, where=f"run {run.id}")
        spec = load_recorded_spec(run, found.spec, spec_location(worktree, run))
        say("checking the data")
        inputs = check_inputs(
            spec.data,
            run.data,
            run.data_sources,
            worktree=worktree,
            work_tree=root,
            cache=hash_cache(store.cache_dir()),
            use_current=allow_data_change,
            where=f"run {run.id}",
        )
        missing = [check for check in inputs if check.found is None]
        changed = [check for check in inputs if not check.matches]
        if missing or (changed and not allow_data_change):
            raise data_error(run.id, missing or changed)
        with _working_directory(worktree):
            new, files = _train(store, run, spec, worktree, say)
    comparison = compare_runs(run, new, tolerance=tolerance, inputs=inputs)
    if not record:
        return Rerun(run, new, comparison, tuple(inputs), recorded=False)
    with interrupts_deferred():  # the reproduction and its note on the original go together
        new = store.record(new, files)
        note = note_reproduction(store, run, comparison.entry(new.id))
    return Rerun(run, new, comparison, tuple(inputs), recorded=True, note_commit=note)


def _train(
    store: Store, run: Run, spec: Spec, worktree: Path, say: Step
) -> tuple[Run, dict[str, bytes]]:
    """Plan the one point in the worktree, train it, and build its record."""
    from gitlab_journal.run import training
    from gitlab_journal.run.plan import make_plan

    tree_store = Store(pygit2.Repository(str(worktree)), store.branch)
    say("fingerprinting")
    plan = make_plan(tree_store, spec)
    planned = spelled_as_recorded(plan.points[0], run)
    ctx = training.context(tree_store, plan, spec_path=run.spec)
    say(f"training {planned.model.rsplit('.', 1)[-1]}")
    built = training.train_point(ctx, planned, reproduces=run.id)
    return built.run, built.files


def spelled_as_recorded(planned: Planned, run: Run) -> Planned:
    """``planned`` with its identity spelled as ``run``'s record spells it, where that record
    was made before a command's template was spelled one way (its identity holds
    ``--key={key}`` as written, :func:`~gitlab_journal.run.plan.legacy_identity`): the same
    experiment, so the reproduction is a repeat under the record's fingerprint, its
    ``identity.json`` the record's, and the causes of a difference are read from the
    identities as both spell them. Any other ``planned`` is returned as it is."""
    from gitlab_journal.run.plan import legacy_identity

    legacy = legacy_identity(planned.identity, planned.point.model)
    recorded = run.identity.get("model")
    if legacy is None or canonical_json(legacy["model"]) != canonical_json(recorded):
        return planned
    return replace(planned, identity=legacy, fingerprint=fingerprint(legacy))


@contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def note_reproduction(store: Store, run: Run, entry: dict[str, Any]) -> str:
    """Append ``entry`` to the run's ``reproductions`` in a new journal commit."""
    current = store.read(run.fingerprint, run.id)
    updated = replace(current, reproductions=(*current.reproductions, entry))
    by = entry.get("by")
    lines = [f"Reproduce run {run.id}: {entry['result']}" + (f" (run {by})" if by else ""), ""]
    for name, (before, now) in (entry.get("differences") or {}).items():
        lines.append(f"{name}: {value_json_text(before)} -> {value_json_text(now)}")
    for cause in entry.get("causes") or ():
        lines.append(f"Likely cause: {cause}")
    return store.update_run(updated, "\n".join(lines))
