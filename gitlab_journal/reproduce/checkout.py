"""`git journal checkout RUN [DIR]`: a run's code and spec in a new worktree, to inspect it or
continue from it. The worktree stays (``git worktree remove DIR`` removes it).

A run made from notebook cells (``notebook.py`` in its folder) has them written there as a new
notebook, ``notebook-<run id>.ipynb``, beside the checked-out files and never over one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from gitlab_journal.code.state import NOTEBOOK_CELL
from gitlab_journal.data.hashing import hash_cache
from gitlab_journal.errors import JournalError
from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.records import Run
from gitlab_journal.journal.schema import InvalidRecord
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
    cells: Path | None = None  # the notebook cells the run counts, written as a notebook
    cells_problem: str | None = None  # why its notebook.py was not written out


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
        cells: Path | None = None
        cells_problem: str | None = None
        kept = store.file(run.fingerprint, run.id, fmt.NOTEBOOK_FILE)
        if kept is not None:
            try:
                cells = write_cells(target, run.id, fmt.check_notebook(kept, run.identity))
            except InvalidRecord as exc:  # a journal fetched without `sync`'s checks
                cells_problem = exc.problem
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
        cells=cells,
        cells_problem=cells_problem,
    )


CELLS_NAME = "notebook-{run_id}{suffix}.ipynb"


def write_cells(directory: Path, run_id: str, text: str) -> Path:
    """Write the notebook cells ``text`` (``notebook.py``'s) into ``directory`` as a new
    notebook, ``notebook-<run id>.ipynb`` or, when that name is taken, ``-2``, ``-3``, ...
    before the suffix: created, never over a file (or a link) that is there. Its code cells
    are the kept ones, so its code counts as they did."""
    data = (json.dumps(cells_notebook(text, run_id), indent=1, ensure_ascii=False) + "\n").encode()
    for number in range(1, 1000):
        suffix = "" if number == 1 else f"-{number}"
        path = directory / CELLS_NAME.format(run_id=run_id, suffix=suffix)
        try:
            with open(path, "xb") as out:
                out.write(data)
        except FileExistsError:
            continue
        return path
    raise JournalError(f"no free name for the notebook cells of run {run_id} in {directory}")


def cells_notebook(text: str, run_id: str) -> dict[str, object]:
    """A notebook (nbformat 4) of the cells ``text`` holds, each after a ``# %%`` line, as code
    cells, after a markdown cell naming the run: :func:`gitlab_journal.code.state.notebook_code`
    of it is ``text`` again (for cells that hold no ``# %%`` line of their own)."""
    cells: list[dict[str, object]] = [
        {
            "cell_type": "markdown",
            "id": "journal-run",
            "metadata": {},
            "source": (
                f"The notebook cells run `{run_id}` counts as its code (`git journal show "
                f"{run_id}`), in the order its record keeps them, not the order they ran."
            ),
        }
    ]
    for number, source in enumerate(split_cells(text), 1):
        cells.append(
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"cell-{number}",
                "metadata": {},
                "outputs": [],
                "source": source,
            }
        )
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def split_cells(text: str) -> list[str]:
    """The cells of a text in the percent format, as the journal writes it: each after a
    ``# %%`` line and ending with a newline. A cell's last newline is left out unless it ends
    with a blank line, so writing it back (the newline added to a cell without one) gives
    ``text``."""
    body = text.removeprefix(NOTEBOOK_CELL)
    if not body:
        return []
    chunks = [chunk + "\n" for chunk in body.removesuffix("\n").split("\n" + NOTEBOOK_CELL)]
    return [chunk if chunk.endswith("\n\n") else chunk[:-1] for chunk in chunks]
