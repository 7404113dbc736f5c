"""`git journal insights`: which param matters, where runs failed, the best region."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import make_repo
from helpers import Cli

from gitlab_journal.cli import main
from gitlab_journal.journal.store import Store
from gitlab_journal.search.insights import collect_insights

# Only n_neighbors changes what a k-NN predicts: leaf_size and the tree only change its speed.
# 200 neighbours is more than a training fold holds (120), so those runs fail.
KNN_GRID = """\
data: sklearn:iris
model:
  estimator: sklearn.neighbors.KNeighborsClassifier
  params:
    n_neighbors: [1, 5, 15, 40, 80, 200]
    leaf_size: [10, 30, 50]
    algorithm: [ball_tree, kd_tree]
evaluation:
  cv: 5
  scoring: [accuracy]
  seed: 0
"""


@pytest.fixture(scope="module")
def knn_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository whose journal holds the k-NN grid, trained once for this module."""
    path = make_repo(tmp_path_factory.mktemp("knn") / "project")
    (path / "journal.yaml").write_text(KNN_GRID)
    cwd = Path.cwd()
    try:
        assert main(["-C", str(path), "init"]) == 0
        assert main(["-C", str(path), "run", "-q"]) == 1  # the runs with 200 neighbours failed
    finally:
        os.chdir(cwd)
    return path


@pytest.fixture
def knn(knn_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """A copy of the k-NN repository, as the working directory."""
    path = tmp_path / "project"
    shutil.copytree(knn_template, path)
    monkeypatch.chdir(path)
    return Store.discover(path)


def test_insights_names_the_one_param_that_matters_first(knn: Store) -> None:
    store = knn

    (group,) = collect_insights(store)

    assert group.model == "sklearn.neighbors.KNeighborsClassifier"
    assert group.runs == 36 and group.failed == 6 and group.metric == "accuracy"
    assert group.method == "fanova"
    names = [p.name for p in group.params]
    assert names[0] == "n_neighbors"
    assert set(names) == {"n_neighbors", "leaf_size", "algorithm"}
    first, *rest = group.params
    assert first.importance is not None and first.importance > 0.8
    assert all((p.importance or 0.0) < 0.1 for p in rest)
    # The failures sit at 200 neighbours, every run there; no other param explains them.
    assert first.failures == "200: 6 of 6 failed"
    assert sorted(set(first.failed_values)) == [200]
    # The best region: few neighbours, never the failing or the smoothest settings.
    best = max(r.metrics["accuracy"] for r in store.iter_runs() if r.status == "ok")
    assert group.best_score == best
    assert group.best_params["n_neighbors"] in (1, 5, 15)
    assert "200" not in first.best_region and "80" not in first.best_region
    # What a plot needs: each scored run's value and score.
    assert len(first.values) == len(first.scores) == 30
    assert sorted(set(first.values)) == [1, 5, 15, 40, 80]


def test_insights_prints_a_table_and_json(knn: Store, cli: Cli) -> None:

    code, out, err = cli("insights")

    assert code == 0, err
    assert "KNeighborsClassifier on sklearn:iris: 36 runs, 6 failed or diverged" in out
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert rows[0].split("│")[1].strip() == "n_neighbors"
    assert "200: 6 of 6 failed" in rows[0]
    assert "importance for accuracy: fANOVA" in out

    code, out, _ = cli("insights", "--json", "--model", "KNeighborsClassifier")
    assert code == 0
    (group,) = json.loads(out)
    assert group["params"][0]["name"] == "n_neighbors" and group["failed"] == 6

    code, out, _ = cli("insights", "--model", "SVC")
    assert code == 0 and "No group of runs" in out


def test_insights_falls_back_to_a_random_forest(knn: Store) -> None:
    from gitlab_journal.search import insights

    runs = [r for r in knn.iter_runs() if r.status == "ok"]
    scored = [(r, r.metrics["accuracy"]) for r in runs]
    found = insights._forest(["algorithm", "leaf_size", "n_neighbors"], scored)
    assert max(found, key=lambda k: found[k]) == "n_neighbors"
    assert sum(found.values()) == pytest.approx(1.0)
    assert found["n_neighbors"] > 0.8
