"""Progress inside a point on a terminal: folds of a cross-validation, epochs of a Keras fit,
and the line while TensorFlow is imported; the scores are the same whether anyone listens."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from pathlib import Path

import pytest
from conftest import IRIS_SPEC

from gitlab_journal.spec.model import EvaluationSpec, ModelSpec
from gitlab_journal.train import progress
from gitlab_journal.train.sklearn_backend import build_estimator, evaluate


def test_listening_to_the_folds_changes_no_score() -> None:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    model = ModelSpec(kind="sklearn", estimator="sklearn.linear_model.LogisticRegression")
    evaluation = EvaluationSpec(cv=3, scoring=("accuracy", "f1_macro"), seed=0)
    quiet = evaluate(build_estimator(model, {"max_iter": 500}, 0), X, y, evaluation)
    heard: list[str] = []
    with progress.listening(heard.append):
        told = evaluate(build_estimator(model, {"max_iter": 500}, 0), X, y, evaluation)
    assert heard == ["fold 1/3", "fold 2/3", "fold 3/3"]
    timings = ("fit_time", "score_time")
    assert {k: v for k, v in told.metrics.items() if k not in timings} == {
        k: v for k, v in quiet.metrics.items() if k not in timings
    }


FIT_EVENTS: list[str] = []  # what the folds say and each fit, in order


def _fit_log_class() -> type:
    from sklearn.dummy import DummyClassifier

    class FitLog(DummyClassifier):  # type: ignore[misc]
        def fit(self, X: object, y: object, sample_weight: object = None) -> FitLog:
            FIT_EVENTS.append("fit")
            super().fit(X, y, sample_weight)
            return self

    return FitLog


def test_each_fold_is_said_as_it_is_fit() -> None:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    FIT_EVENTS.clear()
    with progress.listening(FIT_EVENTS.append):
        result = evaluate(_fit_log_class()(), X, y, EvaluationSpec(cv=3, seed=0))
    assert result.status == "ok"
    # not all three said first and then fit: a point's claim tells the fold in training
    assert FIT_EVENTS == ["fold 1/3", "fit", "fold 2/3", "fit", "fold 3/3", "fit"]


def test_the_points_of_one_data_set_share_their_folds() -> None:
    from scipy.sparse import csr_matrix
    from sklearn.datasets import load_iris
    from sklearn.dummy import DummyClassifier
    from sklearn.model_selection import StratifiedKFold

    from gitlab_journal.train.sklearn_backend import fold_splits

    X, y = load_iris(return_X_y=True)
    shuffled = EvaluationSpec(cv=4, shuffle=True, seed=3)
    first = fold_splits(DummyClassifier(), X, y, shuffled)
    assert fold_splits(DummyClassifier(strategy="uniform"), X, y, shuffled) is first
    assert fold_splits(DummyClassifier(), csr_matrix(X), y, shuffled) is first  # no len()
    expected = list(StratifiedKFold(4, shuffle=True, random_state=3).split(X, y))
    assert [(a.tolist(), b.tolist()) for a, b in first] == [
        (a.tolist(), b.tolist()) for a, b in expected
    ]
    # another seed, another target (even equal) or another length: split again
    assert (
        fold_splits(DummyClassifier(), X, y, EvaluationSpec(cv=4, shuffle=True, seed=4))
        is not first
    )
    assert fold_splits(DummyClassifier(), X, y.copy(), shuffled) is not first
    assert len(fold_splits(DummyClassifier(), X[:100], y[:100], shuffled)[0][1]) == 25


@pytest.mark.slow
def test_a_keras_fit_says_each_epoch_and_its_loss() -> None:
    import keras
    from sklearn.datasets import load_digits

    from gitlab_journal.train.callbacks import EpochLog

    X, y = load_digits(return_X_y=True)
    model = keras.Sequential([keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    heard: list[str] = []
    with progress.listening(heard.append):
        model.fit(X[:200] / 16.0, y[:200], epochs=2, verbose=0, callbacks=[EpochLog()])
    assert [h.split(" loss ")[0] for h in heard] == ["epoch 1/2", "epoch 2/2"]
    assert all(float(h.split(" loss ")[1]) > 0 for h in heard)


def _terminal_output(argv: list[str], cwd: Path, timeout: float = 120) -> str:
    """What a command prints on a real pseudo-terminal."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**os.environ, "TERM": "xterm", "COLUMNS": "160"},
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", errors="replace")


@pytest.mark.slow
def test_the_terminal_shows_the_fold_being_trained(repo: Path) -> None:
    (repo / "journal.yaml").write_text(IRIS_SPEC)
    subprocess.run(["git-journal", "init"], cwd=repo, check=True, capture_output=True)
    shown = _terminal_output(["git-journal", "run"], repo)
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    assert re.search(r"point [123]/3: fold [1-5]/5", plain), plain[-2000:]
    assert "Recorded 3 run(s)" in shown


def test_every_point_records_the_warnings_of_its_folds() -> None:
    from sklearn.datasets import load_iris
    from sklearn.dummy import DummyClassifier

    X, y = load_iris(return_X_y=True)
    y = y.copy()
    y[:2] = 3  # a class of 2 rows: too few for 3 stratified folds
    evaluation = EvaluationSpec(cv=3)
    first = evaluate(DummyClassifier(), X, y, evaluation)
    second = evaluate(DummyClassifier(strategy="uniform", random_state=0), X, y, evaluation)

    def small(warnings: tuple[str, ...]) -> list[str]:
        return [w for w in warnings if "least populated class" in w]

    assert small(first.warnings) and small(second.warnings) == small(first.warnings)
