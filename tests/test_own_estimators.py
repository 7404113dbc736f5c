"""An estimator class of the user's own repository (``estimator: models.Wide``): imported from
the repository root as factories and loaders are, with no PYTHONPATH, afresh when it changes,
and never shadowed by a module of the same name from elsewhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import git
from helpers import Cli

import gitlab_journal

pytestmark = pytest.mark.slow  # whole `git journal run` processes, scikit-learn imported

MODELS = """\
from sklearn.linear_model import LogisticRegression


class Wide(LogisticRegression):
    \"\"\"Logistic regression with the repository's own defaults.\"\"\"

    def __init__(self, C=1.0, max_iter=500):
        super().__init__(C=C, max_iter=max_iter)
"""
SPEC = """\
data: sklearn:iris
model:
  estimator: models.Wide
  params:
    C: [0.5, 2.0]
evaluation:
  cv: 3
  seed: 0
"""


def setup(repo: Path, cli: Cli) -> None:
    (repo / "models.py").write_text(MODELS)
    (repo / "journal.yaml").write_text(SPEC)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add the repository's own estimator")
    assert cli("init")[0] == 0


def journal(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`git journal ARGS` in a fresh interpreter whose path holds the package under test but
    not the repository (-P: not even the working directory), as an installed entry point."""
    package_root = str(Path(gitlab_journal.__file__).resolve().parent.parent)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = package_root
    return subprocess.run(
        [sys.executable, "-P", "-m", "gitlab_journal", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def runs(cli: Cli) -> list[dict[str, Any]]:
    code, out, err = cli("log", "--json")
    assert code == 0, err
    found: list[dict[str, Any]] = json.loads(out)
    return found


def reference(C: float) -> float:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_validate

    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(C=C, max_iter=500, random_state=0)
    scores = cross_validate(model, X, y, cv=StratifiedKFold(3))  # folds unshuffled
    return float(np.mean(scores["test_score"]))


def test_a_repository_class_trains_without_pythonpath(repo: Path, cli: Cli) -> None:
    setup(repo, cli)

    done = journal(repo, "run", "-q")
    assert done.returncode == 0, done.stderr

    found = runs(cli)
    assert sorted(r["params"]["C"] for r in found) == [0.5, 2.0]
    for run in found:
        assert run["status"] == "ok", run
        assert run["model"] == "models.Wide"
        assert run["params"]["max_iter"] == 500  # the class's own default
        assert run["metrics"]["accuracy"] == pytest.approx(reference(run["params"]["C"]))
    # In worker processes too.
    done = journal(repo, "run", "-q", "--force", "--jobs", "2")
    assert done.returncode == 0, done.stderr
    assert len(runs(cli)) == 4


def test_an_edited_class_is_a_new_experiment(repo: Path, cli: Cli) -> None:
    setup(repo, cli)
    assert journal(repo, "run", "-q").returncode == 0
    ran = {r["fingerprint"] for r in runs(cli)}
    assert journal(repo, "check").returncode == 1  # every point ran

    (repo / "models.py").write_text(MODELS.replace("max_iter=500", "max_iter=800"))

    done = journal(repo, "check", "--json")
    assert done.returncode == 0, done.stderr
    planned = {p["fingerprint"] for p in json.loads(done.stdout)["points"]}
    assert len(planned) == 2 and not planned & ran
    assert journal(repo, "run", "-q").returncode == 0
    assert {r["params"]["max_iter"] for r in runs(cli)} == {500, 800}


def test_a_models_module_from_elsewhere_does_not_shadow_the_repositorys(
    repo: Path, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One process (a notebook) that imported another project's ``models`` first."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "models.py").write_text("class Narrow:\n    pass\n")
    monkeypatch.syspath_prepend(str(other))
    for name in [m for m in sys.modules if m == "models" or m.startswith("models.")]:
        monkeypatch.delitem(sys.modules, name)
    import models  # type: ignore[import-not-found]

    assert hasattr(models, "Narrow")
    setup(repo, cli)

    code, _, err = cli("run", "-q")

    assert code == 0, err
    assert sorted(r["params"]["C"] for r in runs(cli)) == [0.5, 2.0]


def test_a_folder_named_as_an_installed_package_is_not_imported(repo: Path, cli: Cli) -> None:
    """A results folder ``sklearn/`` at the root does not hide scikit-learn's estimators."""
    (repo / "sklearn").mkdir()
    (repo / "sklearn" / "notes.txt").write_text("runs of last week\n")
    (repo / "journal.yaml").write_text(
        SPEC.replace("models.Wide", "sklearn.linear_model.LogisticRegression")
    )
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Keep notes beside the spec")
    assert cli("init")[0] == 0

    done = journal(repo, "run", "-q")

    assert done.returncode == 0, done.stderr
    assert {r["model"] for r in runs(cli)} == {"sklearn.linear_model.LogisticRegression"}
