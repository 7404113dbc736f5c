"""`git journal checkout RUN [DIR]`: a run's code and spec in a new worktree, to inspect it or
continue from it. The worktree stays (``git worktree remove DIR`` removes it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gitlab_journal.data.hashing import hash_cache
from gitlab_journal.errors import JournalError
from gitlab_journal.journal.records import Run
from gitlab_journal.journal.store import Store
from gitlab_journal.reproduce.inputs import InputCheck, check_inputs
from gitlab_journal.reproduce.rerun import (
    load_recorded_spec,
    recipe,
    require_commit,
    spec_location,
)
from gitlab_journal.reproduce.worktree import (
    add_worktree,
    apply_patch,
    delete_branch,
    orphan_branch,
    remove_worktree,
)


@dataclass(frozen=True)
class CheckedOut:
    """Where a run was checked out, and what was put there."""

    path: Path
    commit: str
    branch: str | None
    patched: bool
    spec: Path | None  # the run's spec.yaml, written where its spec sat
    inputs: tuple[InputCheck, ...]  # the data inputs as found in the new worktree
    no_commit: bool = False  # made before the first commit: no commit of the run's (``commit``
    # is then the empty commit the worktree starts from, or is left for a branch with none)


def default_directory(root: Path, run: Run) -> Path:
    """``<repository>-<run id>`` beside the repository."""
    return root.parent / f"{root.name}-{run.id}"


def checkout(
    store: Store, run: Run, directory: Path | None = None, *, branch: str | None = None
) -> CheckedOut:
    """A new worktree at the run's commit, its patch applied and its spec written as the spec
    file it came from (``journal.yaml``)."""
    commit = require_commit(store, run)
    found = recipe(store, run)
    root = store.workdir
    if root is None:
        raise JournalError("a bare repository has no work tree to check a run out beside")
    target = Path(directory).absolute() if directory is not None else default_directory(root, run)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise JournalError(
            f"{target} already exists and is not an empty directory",
            hint="name another directory: git journal checkout RUN DIR",
        )
    if branch is not None and f"refs/heads/{branch}" in store.repo.references:
        raise JournalError(f"a branch named {branch!r} already exists", hint="choose another name")
    spec_location(target, run)  # refused here, before the worktree exists, when it leads out
    no_commit = run.code.commit is None
    add_worktree(root, target, commit, branch=None if no_commit else branch)
    try:
        if no_commit and branch is not None:
            orphan_branch(target, branch)  # as the run's repository was: no commit yet
        apply_patch(target, found.patch, run.code.untracked, where=f"run {run.id}")
        spec_file: Path | None = None
        inputs: list[InputCheck] = []
        if found.spec is not None:
            spec_file = spec_location(target, run)
            spec_file.parent.mkdir(parents=True, exist_ok=True)
            spec_file.write_bytes(found.spec)
            spec = load_recorded_spec(run, found.spec, spec_file)
            inputs = check_inputs(
                spec.data,
                run.data,
                run.data_sources,
                worktree=target,
                work_tree=target,
                cache=hash_cache(store.cache_dir()),
                where=f"run {run.id}",
            )
    except BaseException:
        remove_worktree(root, target)
        if branch is not None:
            delete_branch(root, branch)
        raise
    return CheckedOut(
        path=target,
        commit=commit,
        branch=branch,
        patched=bool(found.patch),
        spec=spec_file,
        inputs=tuple(inputs),
        no_commit=no_commit,
    )
