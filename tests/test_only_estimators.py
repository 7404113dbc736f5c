"""Only estimators are built: whatever else a spec names is refused before anything calls it.

Each spec below would run a command, start a process or exit if the object it names were
called; the canary file proves nothing was."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git
from helpers import Cli


def _journal_tip(repo: Path) -> str:
    return git(repo, "rev-parse", "--verify", "-q", "journal", check=False).strip()


def _canary(repo: Path) -> Path:
    return repo.parent / "canary"


HOSTILE = {
    "os.system": """\
data: sklearn:iris
model:
  estimator: os.system
  params:
    command: ["touch {canary}"]
""",
    "nested subprocess.Popen": """\
data: sklearn:iris
model:
  estimator: sklearn.ensemble.BaggingClassifier
  params:
    n_estimators: 2
    estimator:
      - estimator: subprocess.Popen
        params: {{args: [touch, "{canary}"]}}
""",
    "pipeline step": """\
data: sklearn:iris
model:
  estimator: sklearn.pipeline.Pipeline
  steps:
    - run: {{estimator: subprocess.Popen, params: {{args: [touch, "{canary}"]}}}}
    - clf: sklearn.linear_model.LogisticRegression
""",
    "builtin": """\
data: sklearn:iris
model:
  estimator: builtins.exec
  params:
    source: ["open('{canary}', 'w').close()"]
""",
    "factory outside the repository": """\
data: sklearn:iris
model:
  estimator: os:system
  params:
    command: ["touch {canary}"]
""",
    "sys.exit": """\
data: sklearn:iris
model: sys.exit
""",
}


@pytest.mark.parametrize("command", [("check",), ("run", "--dry-run"), ("run",)])
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_spec_naming_a_non_estimator_is_refused(
    repo: Path, cli: Cli, name: str, command: tuple[str, ...]
) -> None:
    canary = _canary(repo)
    (repo / "journal.yaml").write_text(HOSTILE[name].format(canary=canary))
    cli("init")
    tip = _journal_tip(repo)
    code, out, err = cli(*command)
    assert code == 2, (out, err)
    assert not canary.exists()
    assert "Traceback" not in err
    assert "not an estimator class" in err or "not in this repository" in err
    assert "journal.yaml" in err
    assert _journal_tip(repo) == tip  # nothing recorded


def test_a_loader_outside_the_repository_is_refused(repo: Path, cli: Cli) -> None:
    canary = _canary(repo)
    (repo / "journal.yaml").write_text(
        f"data:\n  loader: os:system\n  args: {{command: 'touch {canary}'}}\n"
        "model: sklearn.linear_model.LogisticRegression\n"
    )
    cli("init")
    code, _, err = cli("run")
    assert code == 2
    assert "the loader os:system is not in this repository" in err
    assert not canary.exists()


def test_estimators_and_repository_factories_still_build(repo: Path, cli: Cli) -> None:
    (repo / "factories.py").write_text(
        "from sklearn.linear_model import LogisticRegression\n\n\n"
        "def make(C=1.0):\n    return LogisticRegression(C=C, max_iter=500)\n"
    )
    (repo / "journal.yaml").write_text(
        """\
data: sklearn:iris
model:
  - estimator: sklearn.ensemble.BaggingClassifier
    params:
      n_estimators: 2
      estimator:
        - estimator: sklearn.tree.DecisionTreeClassifier
          params: {max_depth: 2}
  - estimator: factories:make
    params: {C: [0.5]}
evaluation: {cv: 2, seed: 0}
"""
    )
    cli("init")
    code, out, err = cli("run", "-q")
    assert code == 0, (out, err)
    assert len(git(repo, "log", "--format=%H", "journal").split()) == 3  # init + two runs


def test_max_points_bounds_the_grid(repo: Path, cli: Cli) -> None:
    (repo / "journal.yaml").write_text(
        "data: sklearn:iris\nmodel:\n  estimator: sklearn.svm.SVC\n"
        "  params:\n    C: [1, 2, 3]\n    gamma: [0.1, 0.2]\n"
    )
    cli("init")
    code, _, err = cli("check", "--max-points", "5")
    assert code == 2
    assert "the grid has 6 points, more than the limit of 5" in err
    code, out, _ = cli("run", "--dry-run", "--max-points", "6")
    assert code == 0, out
    with pytest.raises(SystemExit) as exited:
        cli("run", "--max-points", "0")
    assert exited.value.code == 2
