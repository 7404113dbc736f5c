"""Data-set meta-features, recorded once per data key, and meta-learning: a new data set starts
from the best settings of the most similar data sets (in this journal and in `--from` ones)."""

from __future__ import annotations

import functools
import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import git, make_repo
from helpers import Cli
from rich.console import Console
from sklearn.datasets import load_digits, load_iris, load_wine

from gitlab_journal.data.metafeatures import data_key, metafeatures, nearest
from gitlab_journal.journal.store import Store
from gitlab_journal.run.plan import Planner
from gitlab_journal.search.metalearn import describe_data
from gitlab_journal.search.study import prepare, search
from gitlab_journal.spec.load import load_spec

pytestmark = pytest.mark.slow  # see the README: `pytest -m "not slow"` skips these locally

SVC_GRID = """\
data: sklearn:{name}
model:
  estimator: sklearn.svm.SVC
  params:
    C: {c}
    gamma: {gamma}
evaluation:
  cv: 3
  seed: 0
"""

# Each data set gets its own grid, so whose best a suggestion is can be told from its values.
GRIDS = {
    "iris": ("[0.5, 5.0]", "[0.05, 0.5]"),
    "wine": ("[20.0, 200.0]", "[1.0e-5, 1.0e-4]"),
    "digits": ("[2.0, 8.0]", "[0.001, 0.003]"),
}

NEW_SPEC = """\
data:
  path: data/new.csv
  target: label
model:
  estimator: sklearn.svm.SVC
  params:
    C: {low: 0.01, high: 1000.0, log: true}
    gamma: {low: 1.0e-6, high: 1.0, log: true}
evaluation:
  cv: 3
  seed: 0
"""


def _mean_abs_corr(X: np.ndarray) -> float:
    X = X[:, X.std(axis=0) > 0]
    corr = np.corrcoef(X, rowvar=False)
    return float(np.abs(corr[np.triu_indices_from(corr, k=1)]).mean())


def _entropy(y: np.ndarray) -> float:
    _, counts = np.unique(y, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


@pytest.mark.parametrize(
    ("loader", "shape", "classes", "nn_at_least", "nb_at_least"),
    [
        (load_iris, (150, 4), 3, 0.9, 0.9),
        (load_wine, (178, 13), 3, 0.6, 0.9),  # unscaled: 1-NN is poor, naive Bayes is not
        (load_digits, (1797, 64), 10, 0.95, 0.75),
    ],
)
def test_metafeatures_of_bundled_data_sets(
    loader: Callable[..., Any],
    shape: tuple[int, int],
    classes: int,
    nn_at_least: float,
    nb_at_least: float,
) -> None:
    X, y = loader(return_X_y=True)
    doc = _bundled(loader.__name__.removeprefix("load_"))
    assert doc["task"] == "classification"
    assert (doc["samples"], doc["features"]) == shape
    assert doc["classes"] == classes
    assert doc["class_entropy"] == pytest.approx(_entropy(y), abs=1e-5)
    assert doc["missing_share"] == 0.0
    assert doc["mean_abs_correlation"] == pytest.approx(_mean_abs_corr(X), abs=1e-5)
    marks = doc["landmarkers"]
    assert set(marks) == {"nearest_neighbour", "decision_stump", "naive_bayes"}
    assert marks["nearest_neighbour"] >= nn_at_least
    assert marks["naive_bayes"] >= nb_at_least
    # A stump predicts two classes at most: it cannot beat the two largest classes' share.
    shares = np.sort(np.bincount(y))[::-1] / len(y)
    assert 0.0 < marks["decision_stump"] <= shares[:2].sum() + 1e-6  # stored to 6 places
    json.dumps(doc, allow_nan=False)  # JSON as the journal stores it, no NaN


def test_metafeatures_see_categorical_and_missing_values() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    X[:, 0] = rng.integers(0, 3, size=200)  # categorical: three integer codes
    X[:, 1] = rng.integers(0, 2, size=200)  # binary
    X[::10, 2] = np.nan  # 20 of 800 cells missing
    y = (X[:, 3] > 0).astype(int)
    doc = metafeatures(X, y)
    assert doc["categorical_share"] == 0.5
    assert doc["missing_share"] == pytest.approx(20 / 800)
    assert doc["classes"] == 2 and doc["class_entropy"] == pytest.approx(_entropy(y), abs=1e-5)
    assert doc["landmarkers"]["decision_stump"] > 0.9  # one feature decides the class
    regression = metafeatures(X[:, [0, 1, 3]], X[:, 3] * 2.5 + 0.1)
    assert regression["task"] == "regression" and regression["classes"] is None
    assert regression["landmarkers"]["naive_bayes"] is None


@functools.cache
def _bundled(name: str) -> dict[str, Any]:
    loader = {"iris": load_iris, "wine": load_wine, "digits": load_digits}[name]
    return metafeatures(*loader(return_X_y=True))


def test_the_nearest_data_set_is_the_one_it_was_drawn_from() -> None:
    docs = {name: _bundled(name) for name in ("iris", "wine", "digits")}
    X, y = load_iris(return_X_y=True)
    noisy = metafeatures(X + np.random.default_rng(1).normal(0, 0.05, X.shape), y)
    ranked = nearest(noisy, docs, 3)
    assert [key for key, _ in ranked] == ["iris", "wine", "digits"]
    assert ranked[0][1] < ranked[1][1] / 5
    X, y = load_wine(return_X_y=True)
    assert nearest(metafeatures(X[::2], y[::2]), docs, 1)[0][0] == "wine"


def test_a_data_set_is_described_once_in_the_journal(repo: Path, cli: Cli) -> None:
    (repo / "journal.yaml").write_text(SVC_GRID.format(name="iris", c="1.0", gamma="0.1"))
    assert cli("init")[0] == 0
    store = Store.discover(repo)
    spec = load_spec(repo / "journal.yaml")
    planner = Planner(store, spec)
    key, doc = describe_data(store, planner.root, spec.data, planner.data)  # type: ignore[misc]
    again = describe_data(store, planner.root, spec.data, planner.data)
    assert again == (key, doc)
    assert key == data_key(planner.data) == planner.data["sklearn:iris"]
    log = git(repo, "log", "--format=%s%n%(trailers:key=Journal-Dataset,valueonly)", "journal")
    assert log.count("Describe data set") == 1
    assert f"Describe data set {key[:12]}: 150 samples, 4 features, 3 classes" in log
    assert key in log
    stored = json.loads(git(repo, "show", f"journal:datasets/{key}.json"))
    assert stored == doc and stored["data"] == {"sklearn:iris": key}
    assert stored["samples"] == 150 and stored["landmarkers"]["nearest_neighbour"] > 0.9


def _record_grids(repo: Path, cli: Cli, names: tuple[str, ...]) -> Store:
    store = Store.discover(repo)
    for name in names:
        c, gamma = GRIDS[name]
        path = repo / f"{name}.yaml"
        path.write_text(SVC_GRID.format(name=name, c=c, gamma=gamma))
        assert cli("run", "-q", path.name)[0] == 0
        spec = load_spec(path)
        planner = Planner(store, spec)
        describe_data(store, planner.root, spec.data, planner.data)
    return store


def _best_settings(store: Store, name: str) -> list[dict[str, float]]:
    runs = [r for r in store.iter_runs() if f"sklearn:{name}" in r.data]
    top = max(r.metrics["accuracy"] for r in runs)
    return [
        {"C": r.params["C"], "gamma": r.params["gamma"]}
        for r in runs
        if r.metrics["accuracy"] == top
    ]


def _write_like(repo: Path, loader: Callable[..., Any], seed: int) -> None:
    X, y = loader(return_X_y=True)
    X = X + np.random.default_rng(seed).normal(0, 0.02 * X.std(axis=0), X.shape)
    (repo / "data").mkdir(exist_ok=True)
    header = ",".join(f"f{i}" for i in range(X.shape[1])) + ",label"
    rows = [
        ",".join(f"{v:.6g}" for v in row) + f",{label}" for row, label in zip(X, y, strict=True)
    ]
    (repo / "data" / "new.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    (repo / "new.yaml").write_text(NEW_SPEC)


def _close(values: dict[str, float], options: list[dict[str, float]]) -> bool:
    return any(
        all(math.isclose(values[k], o[k], rel_tol=1e-9) for k in ("C", "gamma")) for o in options
    )


def test_a_new_data_set_starts_from_the_best_settings_of_the_most_similar(
    repo: Path, cli: Cli
) -> None:
    assert cli("init")[0] == 0
    store = _record_grids(repo, cli, ("iris", "wine", "digits"))
    iris_best = _best_settings(store, "iris")
    _write_like(repo, load_iris, seed=7)

    code, out, err = cli("suggest", "3", "new.yaml", "--json", "--search-seed", "0")

    assert code == 0, err
    found = json.loads(out)
    assert _close(found[0]["searched"], iris_best)
    assert found[0]["reasons"][0].startswith("best on similar data sklearn:iris")
    # Then the next nearest data sets' bests, wine before digits.
    assert _close(found[1]["searched"], _best_settings(store, "wine"))
    assert _close(found[2]["searched"], _best_settings(store, "digits"))

    # --search tries the same settings first, and records where they came from.
    setup = prepare(store, load_spec(repo / "new.yaml"))
    assert [p.name for p in setup.blocks[0].proposals] == [
        "sklearn:iris",
        "sklearn:wine",
        "sklearn:digits",
    ]
    console = Console(file=io.StringIO())
    (report,) = search(store, setup, trials=1, seed=0, console=console, quiet=True)
    (trial,) = report.trials
    assert trial.source == "similar data sklearn:iris" and _close(trial.values, iris_best)
    assert trial.run is not None and list(trial.run.data) == ["data/new.csv"]
    # Now the new data set has a history of its own: no more borrowing.
    assert prepare(store, load_spec(repo / "new.yaml")).blocks[0].proposals == []


def test_another_teams_journal_teaches_through_from(
    tmp_path: Path, repo: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = make_repo(tmp_path / "other-team")
    monkeypatch.chdir(other)
    assert cli("init")[0] == 0
    other_store = _record_grids(other, cli, ("wine",))
    wine_best = _best_settings(other_store, "wine")
    monkeypatch.chdir(repo)
    assert cli("init")[0] == 0
    _write_like(repo, load_wine, seed=3)

    code, out, err = cli("suggest", "1", "new.yaml", "--json", "--search-seed", "0")
    assert code == 0, err
    assert not json.loads(out)[0]["reasons"][0].startswith("best on similar data")

    code, out, err = cli(
        "suggest", "1", "new.yaml", "--json", "--from", str(other), "--search-seed", "0"
    )
    assert code == 0, err
    (first,) = json.loads(out)
    assert _close(first["searched"], wine_best)
    assert f"in {other}" in first["reasons"][0]

    code, _, err = cli("suggest", "1", "new.yaml", "--from", str(tmp_path / "nowhere"))
    assert code == 2 and f"--from {tmp_path / 'nowhere'}" in err
