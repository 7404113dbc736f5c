"""Find a run's data again and check it against the recorded md5s.

An input is looked for first in the worktree (data committed at the run's commit), then in the
user's own work tree (data that is not in git: DVC-managed, ignored, or simply untracked). A copy
from the work tree that matches is linked into the worktree at its path, so the run reads it as
it did; the user's files are only read.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitlab_journal.data.hashing import HashCache, bundled_md5, hash_input
from gitlab_journal.errors import CheckFailed, JournalError
from gitlab_journal.pathsafe import confined
from gitlab_journal.spec.model import DataSpec


@dataclass(frozen=True)
class InputCheck:
    """One data input: its recorded md5 and what was found now."""

    name: str
    recorded: str | None
    found: str | None  # None: not found anywhere
    where: str  # "the run's commit", "the work tree", "scikit-learn X", or "nowhere"
    source: Mapping[str, Any] = field(default_factory=dict)  # as the run recorded it

    @property
    def matches(self) -> bool:
        return self.found is not None and self.found == self.recorded

    def describe(self) -> str:
        """One line: what differs about this input, for messages."""
        recorded = _short(self.recorded)
        if self.found is None:
            text = f"{self.name}: not found (recorded md5 {recorded})"
        else:
            text = f"{self.name}: md5 {_short(self.found)} in {self.where}, recorded {recorded}"
        how = _how(self.source)
        return f"{text}; {how}" if how else text


def check_inputs(
    data: DataSpec,
    recorded: Mapping[str, str],
    sources: Mapping[str, Mapping[str, Any]],
    *,
    worktree: Path,
    work_tree: Path,
    cache: HashCache | None,
    use_current: bool = False,
    where: str = "the run's spec",
) -> list[InputCheck]:
    """Check every input of ``data`` against ``recorded``; link matching copies from the user's
    ``work_tree`` into ``worktree``. With ``use_current``, an input that matches nowhere is taken
    as the work tree has it now (linked in as well), so the run can go on with changed data.
    ``cache``: the md5 cache of the user's work tree (temporary paths are never cached)."""
    if data.source == "sklearn":
        name = f"sklearn:{data.name}"
        md5 = bundled_md5(data.name or "", cache)
        from importlib import metadata

        try:
            where = f"scikit-learn {metadata.version('scikit-learn')}"
        except metadata.PackageNotFoundError:  # pragma: no cover - bundled_md5 needs it
            where = "scikit-learn"
        return [InputCheck(name, recorded.get(name), md5, where, sources.get(name, {}))]
    checks: list[InputCheck] = []
    names = [relpath.rstrip("/") for relpath in data.inputs()]
    for name in names:  # a link is written at each: none may lead out of the worktree
        confined(worktree, name, where=f"{where}, data input")
    for name in names:
        want = recorded.get(name)
        source = sources.get(name, {})
        in_tree = _md5(worktree, name, None)  # a temporary path: kept out of the cache
        if in_tree is not None and in_tree == want:
            checks.append(InputCheck(name, want, in_tree, "the run's commit", source))
            continue
        elsewhere = work_tree.resolve() != worktree.resolve()
        current = _md5(work_tree, name, cache) if elsewhere else None
        if current is not None and (current == want or use_current):
            _link(work_tree / name, worktree / name)
            checks.append(InputCheck(name, want, current, "the work tree", source))
        elif current is not None:
            checks.append(InputCheck(name, want, current, "the work tree", source))
        elif in_tree is not None:
            checks.append(InputCheck(name, want, in_tree, "the run's commit", source))
        else:
            checks.append(InputCheck(name, want, None, "nowhere", source))
    return checks


def data_error(run_id: str, changed: list[InputCheck]) -> JournalError:
    """The error for inputs that differ from the record (or are gone), naming each."""
    lines = "; ".join(check.describe() for check in changed)
    if any(check.found is None for check in changed):
        return CheckFailed(
            f"the data of run {run_id} is missing: {lines}",
            hint="restore it (dvc pull, git checkout, ...) at the path the run read it from",
        )
    return CheckFailed(
        f"the data of run {run_id} changed since it ran: {lines}",
        hint="restore it (dvc pull, git checkout, ...), or rerun with --allow-data-change "
        "to train on the data as it is now and see what changes",
    )


def _md5(root: Path, relpath: str, cache: HashCache | None) -> str | None:
    if not (root / relpath).exists():
        return None
    try:
        return hash_input(root, relpath, cache)
    except JournalError:
        return None


def _link(target: Path, link: Path) -> None:
    """``link`` becomes a symbolic link to ``target`` (whatever was at ``link`` is removed)."""
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.is_dir():
        shutil.rmtree(link)
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.abspath(target), link, target_is_directory=target.is_dir())


def _short(md5: str | None) -> str:
    if md5 is None:
        return "none"
    return md5[:12] + (".dir" if md5.endswith(".dir") else "")


def _how(source: Mapping[str, Any]) -> str:
    kind = source.get("source")
    if kind == "dvc":
        return f"tracked by DVC ({source.get('file')}): `dvc pull` or `dvc checkout` restores it"
    if kind == "git":
        return "it was committed with the run's code"
    if kind == "path":
        return "it was only in the work tree, never committed"
    if kind == "sklearn":
        version = source.get("scikit-learn")
        return f"bundled with scikit-learn {version}" if version else "bundled with scikit-learn"
    return ""
