"""Fixtures: real temporary git repositories, and the CLI called as users call it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gitlab_journal.cli import main

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada Lovelace",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada Lovelace",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
}


def git(cwd: Path, *args: str, check: bool = True) -> str:
    """Run the real git program and return its stdout."""
    out = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
        check=False,
    )
    if check and out.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {out.stderr}")
    return out.stdout


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Ada Lovelace")
    git(path, "config", "user.email", "ada@example.com")
    (path / "train.py").write_text("SEED = 0\n")
    (path / "README.md").write_text("# project\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "Start the project")
    return path


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A git repository with one commit, as the working directory."""
    path = make_repo(tmp_path / "project")
    monkeypatch.chdir(path)
    yield path


CliResult = tuple[int, str, str]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Call `git journal ARGS...` in this process: (exit code, stdout, stderr)."""

    def call(*args: str) -> CliResult:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return call


IRIS_SPEC = """\
data: sklearn:iris
model:
  estimator: sklearn.linear_model.LogisticRegression
  params:
    C: [0.1, 1.0, 10.0]
    max_iter: 500
evaluation:
  cv: 5
  scoring: [accuracy, f1_macro]
  seed: 0
notes:
  hypothesis: Stronger regularisation underfits iris.
"""


PIPELINE_SPEC = """\
data:
  path: data/train.csv
  target: label
model:
  estimator: sklearn.pipeline.Pipeline
  steps:
    - scale: sklearn.preprocessing.StandardScaler
    - svc: sklearn.svm.SVC
  params:
    svc__C: [0.5, 5.0]
    svc__kernel: [rbf, linear]
evaluation:
  split: {test_size: 0.25}
  scoring: [accuracy]
  seed: 1
"""
