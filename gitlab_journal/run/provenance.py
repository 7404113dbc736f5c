"""What every run of one plan shares so that it can be run again: the uncommitted changes to
the code (a patch), where the spec sits, and how to get each data input back.

Computed once per `git journal run`, before any training, so that it describes the work tree the
plan was fingerprinted from even when the user edits files during a long grid.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pygit2

from gitlab_journal.code.patch import CodePatch, is_excluded, work_status, working_patch
from gitlab_journal.data.dvc import tracking, unsaved
from gitlab_journal.journal.store import Store
from gitlab_journal.run.plan import Plan
from gitlab_journal.spec.model import DataSpec


@dataclass(frozen=True)
class Provenance:
    """What a run needs to be run again, beyond its record: see :func:`provenance`."""

    patch: CodePatch = field(default_factory=CodePatch)
    spec_path: str | None = None  # the spec's repository path (POSIX), None outside the repo
    data_sources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def provenance(
    store: Store,
    plan: Plan,
    *,
    spec_path: str | None = None,
    stale: Collection[str] | None = None,
) -> Provenance:
    """The patch of the work tree against HEAD, the spec's path and the data's sources.

    ``spec_path`` overrides the spec's repository path (a reproduction runs a copy of the
    recorded spec, but records where the original sat). ``stale``: the inputs DVC tracks that
    are not `dvc add`ed as they are, when the caller has them.
    """
    repo = store.repo
    status = work_status(repo)
    inputs = plan.spec.data.inputs()
    patch = working_patch(repo, plan.spec.code, exclude=inputs, status=status)
    if spec_path is None:
        spec_path = repo_path(plan.root, plan.spec.path)
    return Provenance(
        patch=patch,
        spec_path=spec_path,
        data_sources=data_sources(repo, plan.root, plan.spec.data, status, stale),
    )


def repo_path(root: Path, path: Path) -> str | None:
    """``path`` relative to the repository root, POSIX; None when it lies outside."""
    try:
        return Path(os.path.realpath(path)).relative_to(os.path.realpath(root)).as_posix()
    except ValueError:
        return None


def data_sources(
    repo: pygit2.Repository,
    root: Path,
    data: DataSpec,
    status: Mapping[str, int],
    stale: Collection[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Input name -> how to get it back.

    - ``{"source": "sklearn", "dataset": NAME, "scikit-learn": VERSION}``: bundled with
      scikit-learn (the version that shipped the hashed files);
    - ``{"source": "dvc", "file": F}``: tracked by DVC (``F`` is the ``.dvc`` file or
      ``dvc.lock``; the run's ``dvc.json`` keeps its text and the remote): `git journal
      checkout-data RUN`, ``dvc pull`` or ``dvc checkout`` bring it back;
    - ``{"source": "git"}``: committed, unchanged, at the run's code commit;
    - ``{"source": "path"}``: only in the work tree at that path; its md5 is all that
      identifies it. So is an input DVC tracks whose tracking file describes other data (edited,
      not yet `dvc add`ed: :func:`~gitlab_journal.data.dvc.unsaved`): DVC cannot bring it back.
    """
    if data.source == "sklearn":
        try:
            version: str | None = metadata.version("scikit-learn")
        except metadata.PackageNotFoundError:
            version = None
        return {
            f"sklearn:{data.name}": {
                "source": "sklearn",
                "dataset": data.name,
                "scikit-learn": version,
            }
        }
    head_tree = None if repo.head_is_unborn else repo.head.peel(pygit2.Commit).tree
    out: dict[str, dict[str, Any]] = {}
    if stale is None:
        stale = {item.name for item in unsaved(root, data)}
    for relpath in data.inputs():
        name = relpath.rstrip("/")
        dvc = tracking(root, name)
        if dvc is not None and name in stale:
            out[name] = {"source": "path"}
        elif dvc is not None:
            out[name] = {"source": "dvc", "file": dvc.file}
        elif head_tree is not None and _committed_unchanged(head_tree, name, status):
            out[name] = {"source": "git"}
        else:
            out[name] = {"source": "path"}
    return out


def _committed_unchanged(tree: pygit2.Tree, path: str, status: Mapping[str, int]) -> bool:
    try:
        tree[path]
    except KeyError:
        return False
    return not any(is_excluded(changed, (path,)) for changed in status)


def seeds(evaluation_seed: int | None, params: Mapping[str, Any]) -> dict[str, Any]:
    """The seeds a run used: the evaluation's, and every ``random_state`` (or ``seed``) param
    of the model, None where the model draws from a fresh random state."""
    out: dict[str, Any] = {"evaluation": evaluation_seed}
    for key, value in sorted(params.items()):
        leaf = key.rsplit("__", 1)[-1].rsplit(".", 1)[-1]
        if leaf in ("random_state", "seed") and (value is None or isinstance(value, int)):
            out[key] = value
    return out
