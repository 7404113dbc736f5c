"""Paths from a journal record stay inside the repository: a dvc.json or spec path from another
clone never writes outside it, and a target named like an option is never an option to DVC."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from conftest import git

from gitlab_journal.data import dvc
from gitlab_journal.errors import JournalError
from gitlab_journal.pathsafe import check_relative, confined


@pytest.mark.parametrize(
    ("relpath", "why"),
    [
        ("../outside/x", "not a normalised path"),
        ("/etc/passwd", "absolute"),
        ("a/./b", "not a normalised path"),
        ("a//b", "not a normalised path"),
        (".git/config", "inside .git"),
        ("sub/.git/hooks/pre-commit", "inside .git"),
        ("a\\..\\..\\x", "backslash"),
        ("C:/x", "absolute"),
        ("", "not a path"),
        (7, "not a path"),
    ],
)
def test_hostile_paths_are_refused_with_the_record_named(relpath: object, why: str) -> None:
    with pytest.raises(JournalError) as caught:
        check_relative(relpath, where="run 1a2b3c4d5e6f, dvc.json")
    assert why in caught.value.message
    assert caught.value.message.startswith("run 1a2b3c4d5e6f, dvc.json: refusing path")
    assert caught.value.exit_code == 2


def test_a_symlink_out_of_the_repository_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "project"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "data").symlink_to(outside)
    (root / "inner").mkdir()
    (root / "local").symlink_to(root / "inner")
    with pytest.raises(JournalError, match="symbolic link out of the repository"):
        confined(root, "data/x.csv", where="run r")
    assert confined(root, "local/x.csv", where="run r") == root / "local" / "x.csv"
    assert confined(root, "new/dir/x.csv", where="run r") == root / "new" / "dir" / "x.csv"


def test_restore_writes_nothing_outside_for_a_hostile_dvc_record(
    repo: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x").write_text("mine\n")
    (repo / ".dvc").mkdir()
    hostile: list[dict[str, Any]] = [
        {"files": {"../outside/x": "overwritten\n"}, "inputs": {}},
        {"files": {str(outside / "x"): "overwritten\n"}, "inputs": {}},
        {"files": {}, "inputs": {"--force": {"md5": "0" * 32}, "../outside/x": {}}},
        {"files": {}, "inputs": {"data": {"out": "../outside/x"}}},
    ]
    for doc in hostile:
        with pytest.raises(JournalError, match="refusing path"):
            dvc.restore(repo, doc, where="run 1a2b3c4d5e6f")
    assert (outside / "x").read_text() == "mine\n"
    assert sorted(os.listdir(outside)) == ["x"]


def test_an_option_like_target_never_discards_unsaved_data(repo: Path) -> None:
    """A record naming the input `--force` reaches real DVC as a path, so the user's unsaved
    edit of tracked data survives."""
    import subprocess
    import sys

    def dvc_cli(*args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "dvc", *args], cwd=repo, check=True, capture_output=True
        )

    dvc_cli("init", "-q")
    (repo / "data.csv").write_text("x,y\n1,2\n")
    dvc_cli("add", "-q", "data.csv")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Track the data")
    (repo / "data.csv").write_text("x,y\n1,2\n3,4\n")  # an edit not yet saved to DVC
    _files, targets = dvc.record_paths(repo, {"inputs": {"--force": {}}}, "run r")
    assert targets == ["--force"]
    with pytest.raises(JournalError):
        dvc.restore(repo, {"files": {}, "inputs": {"--force": {}}}, pull=False, where="run r")
    assert (repo / "data.csv").read_text() == "x,y\n1,2\n3,4\n"
