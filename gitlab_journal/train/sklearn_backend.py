"""The scikit-learn back end: build an estimator from a spec point, resolve it, score it.

scikit-learn is imported here and nowhere on the paths of `log`, `show`, `check` or the hooks.
This module trains and returns results; it never touches git.
"""

from __future__ import annotations

import importlib
import json
import time
import traceback
import warnings
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from gitlab_journal.errors import JournalError
from gitlab_journal.identity import normalise, public_path
from gitlab_journal.spec.model import EvaluationSpec, ModelSpec
from gitlab_journal.train.backend import Resolved, Result, TrainOptions

TRACEBACK_LINES = 15


def import_object(path: str, *, where: str = "") -> Any:
    """Import ``a.b.C`` or ``a.b:C``; a failure is a one-line error naming the spec."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    prefix = f"{where}: " if where else ""
    if not module_name or not attr:
        raise JournalError(
            f"{prefix}not an import path: {path!r}", hint="write it as package.Class"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise JournalError(f"{prefix}cannot import {module_name!r} for {path!r}: {exc}") from exc
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError as exc:
        raise JournalError(f"{prefix}{module_name!r} has no {attr!r}") from exc
    return obj


def _nested(value: Any, where: str) -> Any:
    """A param value ``{estimator: path, params: {...}}`` becomes that estimator."""
    if (
        isinstance(value, Mapping)
        and "estimator" in value
        and set(value) <= {"estimator", "params"}
    ):
        cls = import_object(str(value["estimator"]), where=where)
        params = {k: _nested(v, where) for k, v in dict(value.get("params") or {}).items()}
        return cls(**params)
    return value


def build_estimator(model: ModelSpec, params: Mapping[str, Any], seed: int | None) -> Any:
    """The estimator of one grid point, every ``random_state`` left at None set to ``seed``."""
    where = f"model (line {model.line})" if model.line else "model"
    cls = import_object(model.estimator, where=where)
    try:
        if model.steps:
            steps = []
            for step in model.steps:
                if step.estimator is None:
                    steps.append((step.name, "passthrough"))
                    continue
                step_cls = import_object(step.estimator, where=f"{where}: step {step.name}")
                step_params = {k: _nested(v, where) for k, v in step.params.items()}
                steps.append((step.name, step_cls(**step_params)))
            estimator = cls(steps=steps)
        else:
            estimator = cls()
        if not hasattr(estimator, "get_params"):
            raise JournalError(f"{where}: {model.estimator} is not a scikit-learn estimator")
        estimator.set_params(**{k: _nested(v, where) for k, v in params.items()})
    except (TypeError, ValueError) as exc:
        raise JournalError(f"{where}: {model.estimator}: {exc}") from exc
    if seed is not None:
        unset = {
            key: seed
            for key, value in estimator.get_params(deep=True).items()
            if (key == "random_state" or key.endswith("__random_state")) and value is None
        }
        if unset:
            estimator.set_params(**unset)
    return estimator


def resolve(
    model: ModelSpec, params: Mapping[str, Any], seed: int | None, *, root: Path | None = None
) -> Resolved:
    estimator = build_estimator(model, params, seed)
    deep = estimator.get_params(deep=True)
    path = public_path(type(estimator))
    shown = {
        key: normalise(value)
        for key, value in sorted(deep.items())
        if key != "steps" and not hasattr(value, "get_params")
    }
    identity = {"kind": "sklearn", "class": path, "params": normalise(deep)}
    return Resolved(model=path, identity=identity, params=shown)


def default_scoring(estimator: Any) -> tuple[str, ...]:
    from sklearn.base import is_classifier

    return ("accuracy",) if is_classifier(estimator) else ("r2",)


def splitter(estimator: Any, y: Any, evaluation: EvaluationSpec) -> Any:
    """The cross-validation splitter: exactly scikit-learn's ``cv=N`` unless shuffling."""
    from sklearn.base import is_classifier
    from sklearn.model_selection import KFold, StratifiedKFold, check_cv

    folds = evaluation.cv or 5
    if not evaluation.shuffle:
        return check_cv(folds, y, classifier=is_classifier(estimator))
    plain = check_cv(folds, y, classifier=is_classifier(estimator))
    if isinstance(plain, StratifiedKFold):
        return StratifiedKFold(folds, shuffle=True, random_state=evaluation.seed)
    return KFold(folds, shuffle=True, random_state=evaluation.seed)


def evaluate(estimator: Any, X: Any, y: Any, evaluation: EvaluationSpec) -> Result:
    """Fit and score one estimator; an exception is a ``failed`` result, never a crash."""
    from sklearn.exceptions import ConvergenceWarning

    start = time.perf_counter()
    caught: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            scoring = evaluation.scoring or default_scoring(estimator)
            if evaluation.test_size is not None:
                result = _holdout(estimator, X, y, evaluation, scoring)
            else:
                result = _cross_validate(estimator, X, y, evaluation, scoring)
        caught = sorted({f"{w.category.__name__}: {w.message}" for w in seen})
        converged = not any(issubclass(w.category, ConvergenceWarning) for w in seen)
    except KeyboardInterrupt:
        raise
    except JournalError:
        raise
    except Exception:
        lines = traceback.format_exc().strip().splitlines()
        return Result(
            status="failed",
            error="\n".join(lines[-TRACEBACK_LINES:]),
            seconds=time.perf_counter() - start,
        )
    files = {}
    if result[1]:
        files["folds.json"] = (json.dumps(result[1], indent=2) + "\n").encode()
    return Result(
        # a ConvergenceWarning keeps the scores; its text stays in the warnings
        status="ok" if converged else "not-converged",
        metrics=result[0],
        files=files,
        warnings=tuple(caught),
        seconds=time.perf_counter() - start,
    )


def _cross_validate(
    estimator: Any, X: Any, y: Any, evaluation: EvaluationSpec, scoring: tuple[str, ...]
) -> tuple[dict[str, float], dict[str, list[float]]]:
    from sklearn.model_selection import cross_validate

    scores = cross_validate(
        estimator,
        X,
        y,
        cv=splitter(estimator, y, evaluation),
        scoring=list(scoring),
        error_score="raise",
    )
    metrics: dict[str, float] = {}
    folds: dict[str, list[float]] = {}
    for name in scoring:
        values = np.asarray(scores[f"test_{name}"], dtype=float)
        metrics[name] = float(values.mean())
        metrics[f"{name}_std"] = float(values.std())
        folds[name] = [float(v) for v in values]
    metrics["fit_time"] = float(np.mean(scores["fit_time"]))
    metrics["score_time"] = float(np.mean(scores["score_time"]))
    folds["fit_time"] = [float(v) for v in scores["fit_time"]]
    return metrics, folds


def _holdout(
    estimator: Any, X: Any, y: Any, evaluation: EvaluationSpec, scoring: tuple[str, ...]
) -> tuple[dict[str, float], dict[str, list[float]]]:
    from sklearn.base import is_classifier
    from sklearn.metrics import get_scorer
    from sklearn.model_selection import train_test_split

    stratify = evaluation.stratify
    if stratify is None:
        stratify = is_classifier(estimator)
    X_train, X_test, y_train, y_test = train_test_split(
        X,
        y,
        test_size=evaluation.test_size,
        random_state=evaluation.seed,
        stratify=y if stratify else None,
    )
    start = time.perf_counter()
    estimator.fit(X_train, y_train)
    fit_time = time.perf_counter() - start
    metrics: dict[str, float] = {}
    start = time.perf_counter()
    for name in scoring:
        metrics[name] = float(get_scorer(name)(estimator, X_test, y_test))
    metrics["fit_time"] = fit_time
    metrics["score_time"] = time.perf_counter() - start
    return metrics, {}


def train(
    model: ModelSpec,
    params: Mapping[str, Any],
    X: Any,
    y: Any,
    evaluation: EvaluationSpec,
    *,
    options: TrainOptions | None = None,
) -> Result:
    """Build the point's estimator, run the pre-flight checks, and score it as the spec's
    evaluation says."""
    from sklearn.base import is_classifier

    from gitlab_journal.train import preflight

    options = options or TrainOptions()
    estimator = build_estimator(model, params, evaluation.seed)
    found = preflight.sklearn_findings(
        estimator, X, y, evaluation, classifier=bool(is_classifier(estimator))
    )
    findings = preflight.enforce(found, ignore=options.ignore_checks, strict=options.strict)
    return replace(evaluate(estimator, X, y, evaluation), findings=findings)
