"""Canonical JSON and fingerprints: one spelling per meaning, the same in every process."""

from __future__ import annotations

import functools
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from gitlab_journal.errors import JournalError
from gitlab_journal.journal.identity import canonical_json, fingerprint, normalise, public_path

IDENTITY_SCRIPT = r"""
import json, sys
import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from gitlab_journal.journal.identity import canonical_json, fingerprint
pipe = Pipeline([("scale", StandardScaler()), ("svc", SVC(C=0.5, class_weight={0: 1, 1: 2.0}))])
identity = {
    "model": {"class": "sklearn.pipeline.Pipeline", "params": pipe.get_params(deep=True)},
    "weights": np.arange(12, dtype="float32").reshape(3, 4),
    "numbers": [1, 1.0, 0.1, 1e-300, float("inf"), np.float64(2.5), np.int64(3)],
    "nested": {"b": (1, 2), "a": {3, 1, 2}},
}
print(json.dumps({"fp": fingerprint(identity), "text": canonical_json(identity)}))
"""


def _in_subprocess(seed: str) -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, "-c", IDENTITY_SCRIPT],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_fingerprint_is_stable_across_processes() -> None:
    first, second = _in_subprocess("1"), _in_subprocess("2")
    assert first == second
    assert " at 0x" not in first["text"]
    # the public path, not sklearn.svm._classes
    assert '"__estimator__":"sklearn.svm.SVC"' in first["text"]


def test_numbers_have_one_spelling() -> None:
    assert canonical_json({"C": 1}) == canonical_json({"C": 1.0}) == '{"C":1}'
    assert canonical_json(np.float32(0.5)) == canonical_json(0.5)
    assert canonical_json([math.nan]) == '[{"__float__":"nan"}]'
    assert canonical_json({"b": 1, "a": 2}) == '{"a":2,"b":1}'
    assert canonical_json((1, 2)) == canonical_json([1, 2])
    assert fingerprint({"x": 0.1}) != fingerprint({"x": 0.10000000000000002})


def test_arrays_are_encoded_by_value() -> None:
    a = np.arange(6).reshape(2, 3)
    assert canonical_json(a) == canonical_json(a.copy())
    assert canonical_json(a) != canonical_json(a.reshape(3, 2))
    assert canonical_json(a) != canonical_json(a + 1)


def test_callables_by_import_path_and_lambdas_by_source() -> None:
    assert normalise(math.sqrt) == {"__callable__": "math.sqrt"}
    p = functools.partial(math.pow, 2)
    assert normalise(p)["__partial__"] == {"__callable__": "math.pow"}
    one = lambda x: x + 1  # noqa: E731
    two = lambda x: x + 2  # noqa: E731
    assert canonical_json(one) != canonical_json(two)


def test_values_without_a_stable_form_are_refused() -> None:
    class Opaque:
        pass

    with pytest.raises(JournalError, match="no stable form"):
        canonical_json(Opaque())


def test_public_path_drops_private_modules() -> None:
    from sklearn.linear_model import LogisticRegression

    assert public_path(LogisticRegression) == "sklearn.linear_model.LogisticRegression"


def test_resolved_defaults_make_one_experiment() -> None:
    from gitlab_journal.spec.model import ModelSpec
    from gitlab_journal.train.sklearn_backend import resolve

    model = ModelSpec(kind="sklearn", estimator="sklearn.linear_model.LogisticRegression")
    implicit = resolve(model, {}, seed=None)
    explicit = resolve(model, {"C": 1.0, "tol": 0.0001, "fit_intercept": True}, seed=None)
    assert fingerprint(implicit.identity) == fingerprint(explicit.identity)
    assert fingerprint(resolve(model, {"C": 2.0}, seed=None).identity) != fingerprint(
        implicit.identity
    )
    seeded = resolve(model, {}, seed=0)
    assert seeded.params["random_state"] == 0


def agreement(y_true: object, y_pred: object) -> float:
    """A metric of this module: a scorer made of it is identified by its import path."""
    return 0.0


def test_scorers_are_identified_by_what_they_score() -> None:
    """A scorer object is its score function, sign, keyword arguments and response method:
    scorers that score differently are different evaluations, and one that scores as a named
    scorer does is that name, as ``scoring="accuracy"`` is."""
    from sklearn.metrics import accuracy_score, f1_score, get_scorer, make_scorer, precision_score

    macro = make_scorer(f1_score, average="macro")
    scorers = [
        macro,
        make_scorer(f1_score, average="micro"),
        make_scorer(f1_score, average="macro", greater_is_better=False),
        make_scorer(precision_score, average="macro"),
        make_scorer(f1_score, average="macro", response_method="predict_proba"),
        make_scorer(agreement),
        make_scorer(lambda y, p: 1.0),
        make_scorer(lambda y, p: 2.0),
    ]
    texts = [canonical_json(scorer) for scorer in scorers]
    assert len(set(texts)) == len(texts), texts
    assert canonical_json(get_scorer("accuracy")) == canonical_json("accuracy")
    assert normalise(make_scorer(accuracy_score)) == "accuracy"
    assert normalise(macro)["kwargs"] == {"average": "macro"}  # "f1_macro" sets pos_label too
    negated = normalise(scorers[2])
    assert negated["__scorer__"] == "sklearn.metrics._scorer._Scorer"
    assert negated["score_func"] == {"__callable__": "sklearn.metrics.f1_score"}
    assert (negated["sign"], negated["kwargs"]) == (-1, {"average": "macro"})
    assert normalise(scorers[5])["score_func"] == {"__callable__": "test_identity.agreement"}
    # a scorer in a dict of several, as `scoring=` takes them
    assert normalise({"f1": get_scorer("f1_macro")}) == {"f1": "f1_macro"}


def test_a_callable_object_is_identified_by_its_class_and_state() -> None:
    class Threshold:
        def __init__(self, at: float) -> None:
            self.at = at

        def __call__(self, value: float) -> bool:
            return value > self.at

    assert canonical_json(Threshold(0.5)) != canonical_json(Threshold(0.7))
    assert canonical_json(Threshold(0.5)) == canonical_json(Threshold(0.5))


def test_splitters_are_identified_by_value_never_by_a_truncated_repr() -> None:
    from sklearn.model_selection import KFold, PredefinedSplit, ShuffleSplit, StratifiedKFold

    # folds of 1797 samples: numpy's repr shows the first and last three of them only
    first = np.arange(1797) % 3
    second = first.copy()
    second[[900, 901]] = second[[901, 900]]
    assert repr(PredefinedSplit(first)) == repr(PredefinedSplit(second))
    assert canonical_json(PredefinedSplit(first)) != canonical_json(PredefinedSplit(second))
    assert canonical_json(PredefinedSplit(first)) == canonical_json(PredefinedSplit(first.copy()))
    encoded = normalise(PredefinedSplit(first))
    assert encoded["__splitter__"] == "sklearn.model_selection.PredefinedSplit"
    assert "sha256" in encoded["params"]["test_fold"]
    # splitters whose params are plain values keep the form (and fingerprint) they had
    assert normalise(KFold(5)) == {
        "__repr__": "KFold(n_splits=5, random_state=None, shuffle=False)",
        "type": "sklearn.model_selection.KFold",
    }
    assert normalise(StratifiedKFold(3, shuffle=True, random_state=0)) == {
        "__repr__": "StratifiedKFold(n_splits=3, random_state=0, shuffle=True)",
        "type": "sklearn.model_selection.StratifiedKFold",
    }
    assert normalise(ShuffleSplit(4, test_size=0.25))["__repr__"] == (
        "ShuffleSplit(n_splits=4, random_state=None, test_size=0.25, train_size=None)"
    )
    assert normalise(5) == 5
