"""Fixtures: real temporary git repositories, and the CLI called as users call it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pygit2
import pytest
from helpers import GIT_ENV, CliResult, git, make_repo

from gitlab_journal.cli import main

__all__ = ["GIT_ENV", "CliResult", "git", "make_repo"]  # what tests import from here


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Every test sees an empty HOME and a git configuration of its own, never the user's: a
    developer's `journal.branch`, hooks path or signing settings cannot change what a test sees,
    and no test writes to the real ~/.gitconfig or ~/.cache."""
    home = tmp_path_factory.mktemp("home")
    gitconfig = home / ".gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = Ada Lovelace\n\temail = ada@example.com\n"
        '[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n'
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_CONFIG", "GIT_CONFIG_COUNT"):
        monkeypatch.delenv(name, raising=False)
    for name in ("COLUMNS", "NO_COLOR", "FORCE_COLOR"):  # the width and colour of the output
        monkeypatch.delenv(name, raising=False)
    # pygit2 reads the global configuration through libgit2's search path, not the environment.
    levels = (pygit2.enums.ConfigLevel.GLOBAL, pygit2.enums.ConfigLevel.XDG)
    before = {level: pygit2.settings.search_path[level] for level in levels}
    for level in levels:
        pygit2.settings.search_path[level] = str(home)
    yield home
    for level, path in before.items():
        pygit2.settings.search_path[level] = path


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A git repository with one commit, as the working directory."""
    path = make_repo(tmp_path / "project")
    monkeypatch.chdir(path)
    yield path


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
