"""Each fold's scores are those scikit-learn's ``cross_validate`` gives for the same folds: the
fold loop fits a fresh clone on ``_safe_split``'s rows, counts ``accuracy`` from the held-out
predictions it keeps anyway, and calls scikit-learn's own scorers for everything else."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_diabetes, load_iris
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import get_scorer
from sklearn.model_selection import cross_validate, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from gitlab_journal.journal.format import CLASSES_FILE
from gitlab_journal.spec.model import EvaluationSpec
from gitlab_journal.train.sklearn_backend import evaluate, forget_folds, splitter


def iris() -> tuple[Any, Any]:
    X, y = load_iris(return_X_y=True)
    return X, y


def iris_table() -> tuple[Any, Any]:
    """A DataFrame and string labels, as a CSV loader gives them."""
    data = load_iris(as_frame=True)
    names = np.asarray(data.target_names)[data.target]
    return data.data, pd.Series(names, name="species")


def iris_kernel() -> tuple[Any, Any]:
    """A precomputed kernel: a fold's test rows take the train rows' columns."""
    X, y = load_iris(return_X_y=True)
    return X @ X.T, y


def iris_sparse() -> tuple[Any, Any]:
    X, y = load_iris(return_X_y=True)
    return scipy.sparse.csr_matrix(X), y


def diabetes() -> tuple[Any, Any]:
    X, y = load_diabetes(return_X_y=True)
    return X, y


CASES: dict[str, tuple[Callable[[], tuple[Any, Any]], Callable[[], Any], tuple[str, ...]]] = {
    "logistic": (iris, lambda: LogisticRegression(max_iter=500), ("accuracy",)),
    "random dummy, three scorers": (
        iris,
        lambda: DummyClassifier(strategy="stratified", random_state=3),
        ("accuracy", "f1_macro", "balanced_accuracy"),
    ),
    "pipeline on a table with string labels": (
        iris_table,
        lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
        ("f1_macro", "accuracy", "roc_auc_ovr", "neg_log_loss"),
    ),
    "precomputed kernel": (iris_kernel, lambda: SVC(kernel="precomputed"), ("accuracy",)),
    "sparse rows": (iris_sparse, lambda: LogisticRegression(max_iter=500), ("accuracy",)),
    "regressor": (diabetes, lambda: Ridge(alpha=0.5), ("r2", "neg_mean_squared_error")),
}


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("case", list(CASES))
def test_fold_scores_equal_cross_validate(case: str, shuffle: bool) -> None:
    load, make, scoring = CASES[case]
    X, y = load()
    evaluation = EvaluationSpec(cv=3, shuffle=shuffle, seed=7, scoring=scoring)
    forget_folds()

    result = evaluate(make(), X, y, evaluation)

    assert result.status == "ok", result.error
    expected = cross_validate(
        make(),
        X,
        y,
        cv=splitter(make(), y, evaluation),
        scoring=list(scoring),
        error_score="raise",
    )
    folds = json.loads(result.files["folds.json"])
    for name in scoring:
        assert folds[name] == [float(v) for v in expected[f"test_{name}"]], name
        assert result.metrics[name] == float(np.mean(expected[f"test_{name}"])), name
        assert result.metrics[f"{name}_std"] == float(np.std(expected[f"test_{name}"])), name
    assert len(folds["fit_time"]) == 3
    assert (CLASSES_FILE in result.files) == (case != "regressor")
    if case == "pipeline on a table with string labels":
        classes = json.loads(result.files[CLASSES_FILE])
        assert classes["labels"] == ["setosa", "versicolor", "virginica"]


class WrongLabels(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A classifier that predicts strings where the labels are numbers."""

    def fit(self, X: Any, y: Any) -> WrongLabels:
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: Any) -> Any:
        return np.array(["setosa"] * len(X))


def test_predictions_of_another_kind_fail_as_in_cross_validate() -> None:
    """Counting accuracy must not turn scikit-learn's refusal into a score of 0."""
    X, y = iris()
    evaluation = EvaluationSpec(cv=3, scoring=("accuracy",))
    forget_folds()

    result = evaluate(WrongLabels(), X, y, evaluation)

    with pytest.raises(ValueError) as refused:
        cross_validate(WrongLabels(), X, y, cv=3, scoring=["accuracy"], error_score="raise")
    assert result.status == "failed"
    assert result.error is not None
    assert str(refused.value).splitlines()[0] in result.error


# a hold-out split takes a kernel's rows with all its columns: no kernel case here
HOLD_OUT_CASES = [case for case in CASES if case != "precomputed kernel"]


@pytest.mark.parametrize("case", HOLD_OUT_CASES)
def test_hold_out_scores_equal_scikit_learns_scorers(case: str) -> None:
    """`split: {test_size: ...}`: one fit, scored by the same scorers on the same rows."""
    load, make, scoring = CASES[case]
    X, y = load()
    evaluation = EvaluationSpec(cv=None, test_size=0.3, seed=5, scoring=scoring)

    result = evaluate(make(), X, y, evaluation)

    assert result.status == "ok", result.error
    classifier = case != "regressor"
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=5, stratify=y if classifier else None
    )
    fitted = make().fit(X_train, y_train)
    for name in scoring:
        assert result.metrics[name] == float(get_scorer(name)(fitted, X_test, y_test)), name
    assert (CLASSES_FILE in result.files) == classifier
