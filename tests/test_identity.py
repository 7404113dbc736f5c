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
