"""Pre-flight checks and scikit-learn's not-converged status: real fitting on bundled data."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import git
from helpers import Cli

from gitlab_journal.errors import JournalError
from gitlab_journal.spec.model import EvaluationSpec
from gitlab_journal.train import preflight

DOCS = Path(__file__).resolve().parent.parent / "docs" / "checks.md"

MLP_WINE = """\
data: sklearn:wine
model:
  estimator: sklearn.neural_network.MLPClassifier
  params: {hidden_layer_sizes: [[8]], max_iter: 300}
evaluation:
  split: {test_size: 0.25}
  seed: 0
"""

SCALED_MLP_WINE = """\
data: sklearn:wine
model:
  steps:
    - scale: sklearn.preprocessing.StandardScaler
    - mlp: sklearn.neural_network.MLPClassifier
  params: {mlp__hidden_layer_sizes: [[8]], mlp__max_iter: 300}
evaluation:
  split: {test_size: 0.25}
  seed: 0
"""

SGD_IRIS = """\
data: sklearn:iris
model:
  estimator: sklearn.linear_model.SGDClassifier
  params: {max_iter: 1}
evaluation:
  cv: {folds: 3, shuffle: true}
  seed: 0
checks: {ignore: [JP004]}
"""


def spec_repo(repo: Path, spec: str) -> None:
    (repo / "journal.yaml").write_text(spec)
    git(repo, "add", "journal.yaml")


def runs(cli: object, *args: str) -> list[dict[str, Any]]:
    code, out, err = cli("log", "--json", *args)  # type: ignore[operator]
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def codes(findings: object) -> list[str]:
    return sorted(str(f).split(":", 1)[0] for f in findings or [])  # type: ignore[attr-defined]


def test_an_mlp_on_unscaled_wine_is_flagged_recorded_and_printed(repo: Path, cli: Cli) -> None:
    spec_repo(repo, MLP_WINE)
    cli("init")

    code, out, err = cli("run", "-q")

    assert code == 0, err
    assert "warning" in out and "JP004" in out
    (run,) = runs(cli)
    assert codes(run["findings"]) == ["JP004"]
    assert "MLPClassifier is sensitive to scale" in str(run["findings"])
    assert run["metrics"]["accuracy"] > 0


def test_a_scaler_in_the_pipeline_clears_the_scale_check(repo: Path, cli: Cli) -> None:
    spec_repo(repo, SCALED_MLP_WINE)
    cli("init")
    assert cli("run", "-q")[0] == 0
    (run,) = runs(cli)
    assert "findings" not in run or not run["findings"]
    assert run["metrics"]["accuracy"] > 0.9


def test_strict_makes_a_finding_fatal_and_ignore_silences_it(repo: Path, cli: Cli) -> None:
    spec_repo(repo, MLP_WINE)
    cli("init")

    code, _, err = cli("run", "-q", "--strict")

    assert code == 1
    assert "pre-flight check failed (--strict): JP004" in err
    assert "checks: {ignore: [JP004]}" in err
    assert runs(cli) == []

    spec_repo(repo, MLP_WINE + "checks: {ignore: [JP004]}\n")
    code, _, err = cli("run", "-q", "--strict")
    assert code == 0, err
    (run,) = runs(cli)
    assert "findings" not in run or not run["findings"]


def test_a_bad_check_code_in_the_spec_is_an_input_error(repo: Path, cli: Cli) -> None:
    spec_repo(repo, MLP_WINE + "checks: {ignore: [scale]}\n")
    cli("init")
    code, _, err = cli("run")
    assert code == 2 and "'scale' is not a check code like JP003" in err


def test_sgd_with_one_iteration_is_recorded_not_converged_with_its_scores(
    repo: Path, cli: Cli
) -> None:
    spec_repo(repo, SGD_IRIS)
    cli("init")

    code, _, err = cli("run", "-q")

    assert code == 0, err
    (run,) = runs(cli, "--status", "not-converged")
    assert run["status"] == "not-converged"
    assert any("ConvergenceWarning" in str(w) for w in run["warnings"])
    assert 0.0 < run["metrics"]["accuracy"] <= 1.0
    # The status counts as a run: the same setting is a duplicate.
    assert cli("check")[0] == 1
    assert "not-converged" in cli("log")[1]


# --- the checks one by one, each shown to fire and not to fire ---------------------------------


def test_label_order_sees_sorted_targets_and_class_blocks() -> None:
    rng = np.random.default_rng(0)
    y = np.sort(rng.normal(size=200))
    assert preflight.label_order(y, classification=False, split="cv").code == "JP001"  # type: ignore[union-attr]
    assert preflight.label_order(rng.permutation(y), classification=False, split="cv") is None
    blocks = np.repeat([0, 1, 2], 50)
    assert preflight.label_order(blocks, classification=True, split="cv") is not None
    assert preflight.label_order(rng.permutation(blocks), classification=True, split="cv") is None


def test_imbalance_duplicates_capacity_and_batch_size() -> None:
    y = np.array([0] * 95 + [1] * 5)
    assert preflight.imbalance(y, split="a split").code == "JP002"  # type: ignore[union-attr]
    assert preflight.imbalance(np.array([0] * 50 + [1] * 50), split="a split") is None

    X = np.arange(40, dtype=float).reshape(20, 2)
    assert preflight.duplicates(X, X[:5], held="validation").code == "JP003"  # type: ignore[union-attr]
    assert preflight.duplicates(X, X[:5] + 0.5, held="validation") is None
    assert preflight.duplicates(np.vstack([X, X[:3]]), None, held="cv") is not None
    assert preflight.duplicates(X, None, held="cv") is None

    assert preflight.capacity(100_000, 150).code == "JP006"  # type: ignore[union-attr]
    assert preflight.capacity(1_000, 150) is None
    assert preflight.batch_size(512, 100).code == "JP007"  # type: ignore[union-attr]
    assert preflight.batch_size(64, 100) is None


def test_sklearn_findings_for_deep_sigmoid_capacity_batch_and_unshuffled_cv() -> None:
    from sklearn.datasets import load_diabetes, load_iris
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import SVR

    X, y = load_iris(return_X_y=True)
    deep = MLPClassifier(hidden_layer_sizes=(512, 512, 8), activation="logistic", batch_size=500)
    found = preflight.sklearn_findings(deep, X, y, EvaluationSpec(cv=5), classifier=True)
    assert codes(found) == ["JP005", "JP006", "JP007"]
    shallow = MLPClassifier(hidden_layer_sizes=(8,), activation="relu")
    assert preflight.sklearn_findings(shallow, X, y, EvaluationSpec(cv=5), classifier=True) == []

    Xd, yd = load_diabetes(return_X_y=True)
    order = np.argsort(yd)
    unshuffled = EvaluationSpec(cv=5)
    found = preflight.sklearn_findings(SVR(), Xd[order], yd[order], unshuffled, classifier=False)
    assert codes(found) == ["JP001"]
    shuffled = EvaluationSpec(cv=5, shuffle=True, seed=0)
    assert preflight.sklearn_findings(SVR(), Xd[order], yd[order], shuffled, classifier=False) == []


def test_keras_findings_for_a_deep_tanh_net_and_an_unstratified_validation_tail() -> None:
    import keras

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4)) * np.array([1.0, 1.0, 1.0, 1000.0])
    y = np.array([0] * 285 + [1] * 15)  # imbalanced, and in blocks: the tail is all class 1
    model = keras.Sequential(
        [keras.layers.Dense(8, activation="tanh") for _ in range(3)]
        + [keras.layers.Dense(2, activation="softmax")]
    )
    model.build((None, 4))
    fit = {"validation_split": 0.2, "batch_size": 32}
    found = preflight.keras_findings(model, X, y, X[:10], classification=True, fit=fit)
    assert codes(found) == ["JP001", "JP002", "JP003", "JP004", "JP005"]

    first = keras.Sequential([keras.layers.Normalization(), keras.layers.Dense(2)])
    first.build((None, 4))
    perm = rng.permutation(300)
    balanced = np.array([0, 1] * 150)
    found = preflight.keras_findings(
        first, X[perm], balanced, X[:0], classification=True, fit={"batch_size": 32}
    )
    assert found == []


def test_enforce_drops_silenced_codes_and_raises_when_strict() -> None:
    found = [preflight.Finding("JP004", "scales"), preflight.Finding("JP007", "batch")]
    assert preflight.enforce(found, ignore=["JP004"], strict=False) == ("JP007: batch",)
    assert preflight.enforce(found, ignore=["JP004", "JP007"], strict=True) == ()
    with pytest.raises(JournalError) as caught:
        preflight.enforce(found, ignore=[], strict=True)
    assert caught.value.exit_code == 1


def test_every_check_code_is_documented() -> None:
    text = DOCS.read_text()
    documented = set(re.findall(r"\bJP\d{3}\b", text))
    assert documented == set(preflight.CHECKS)
    for code, line in preflight.CHECKS.items():
        assert line in text, code
