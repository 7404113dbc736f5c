"""The scikit-learn back end: build an estimator from a spec point, resolve it, score it.

scikit-learn is imported here and nowhere on the paths of `log`, `show`, `check` or the hooks.
This module trains and returns results; it never touches git.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import numbers
import time
import traceback
import warnings
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from gitlab_journal.errors import JournalError
from gitlab_journal.journal.format import CLASSES_FILE, FOLDS_FILE, scores_file
from gitlab_journal.journal.identity import finite_json, normalise, public_path
from gitlab_journal.spec.model import EvaluationSpec, ModelSpec, StepSpec
from gitlab_journal.train.backend import Resolved, Result, TrainOptions
from gitlab_journal.userimport import module_from_root, owns

TRACEBACK_LINES = 15
ACCURACY = "accuracy"  # counted from a classifier's held-out predictions, made once a fold


def import_object(path: str, *, where: str = "", root: Path | None = None) -> Any:
    """The estimator class ``a.b.C`` (or ``a.b:C``); a failure is a one-line error naming the
    spec. A class of the repository at ``root`` (its module a module or package there) is imported
    from the repository afresh, as factories and loaders are; any other from the installed
    packages. Only a class with ``get_params`` and ``fit`` is returned: whatever else a spec
    names (``os.system``, ``subprocess.Popen``, a builtin) is refused before anything calls it."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    prefix = f"{where}: " if where else ""
    if not module_name or not attr:
        raise JournalError(
            f"{prefix}not an import path: {path!r}", hint="write it as package.Class"
        )
    if root is not None and owns(root, module_name):
        module = module_from_root(root, module_name, what="estimator", path=path, where=where)
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise JournalError(
                f"{prefix}cannot import {module_name!r} for {path!r}: {exc}"
            ) from exc
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError as exc:
        raise JournalError(f"{prefix}{module_name!r} has no {attr!r}") from exc
    if not is_estimator_class(obj):
        raise JournalError(
            f"{prefix}{path} is not an estimator class",
            hint="an estimator is a class with get_params and fit (a scikit-learn estimator), "
            "or a factory module:function in this repository",
        )
    return obj


def is_estimator_class(obj: Any) -> bool:
    """A class whose instances have ``get_params`` and ``fit`` methods."""
    return isinstance(obj, type) and all(
        callable(getattr(obj, name, None)) for name in ("get_params", "fit")
    )


def _nested(value: Any, where: str, root: Path | None) -> Any:
    """A param value ``{estimator: path, params: {...}}`` becomes that estimator."""
    if (
        isinstance(value, Mapping)
        and "estimator" in value
        and set(value) <= {"estimator", "params"}
    ):
        cls = import_object(str(value["estimator"]), where=where, root=root)
        params = {k: _nested(v, where, root) for k, v in dict(value.get("params") or {}).items()}
        return cls(**params)
    return value


def _build_block(step: StepSpec, where: str, root: Path | None) -> Any:
    """The estimator of a pipeline step or a named block ("passthrough" and "drop" as such)."""
    if step.steps:
        from sklearn.pipeline import Pipeline

        return Pipeline(steps=[(s.name, _build_block(s, where, root)) for s in step.steps])
    if step.estimator is None:
        return "passthrough"
    if step.estimator in ("passthrough", "drop"):
        return step.estimator
    here = f"{where}: {step.name}"
    kwargs = {k: _nested(v, here, root) for k, v in step.params.items()}
    kwargs.update(_lists(step.lists, here, root))
    if ":" in step.estimator:
        return _from_factory(step.estimator, kwargs, here, root)
    cls = import_object(step.estimator, where=here, root=root)
    return cls(**kwargs)


def _lists(
    lists: Mapping[str, tuple[StepSpec, ...]], where: str, root: Path | None
) -> dict[str, list[Any]]:
    """Constructor-list arguments as scikit-learn takes them: ``(name, estimator)`` tuples, and
    ``(name, transformer, columns)`` for a column transformer."""
    out: dict[str, list[Any]] = {}
    for key, blocks in lists.items():
        items: list[Any] = []
        for block in blocks:
            built = _build_block(block, f"{where}: {key}", root)
            if block.columns is None:
                items.append((block.name, built))
            else:
                columns = block.columns
                items.append(
                    (block.name, built, list(columns) if isinstance(columns, tuple) else columns)
                )
        out[key] = items
    return out


def _from_factory(path: str, kwargs: Mapping[str, Any], where: str, root: Path | None) -> Any:
    """Call a repository factory ``module:function`` with ``kwargs``; it must return an
    estimator."""
    from gitlab_journal.userimport import import_from_root

    factory = import_from_root(root or Path.cwd(), path, what="estimator factory", where=where)
    try:
        made = factory(**kwargs)
    except TypeError as exc:
        raise JournalError(f"{where}: the factory {path}: {exc}") from exc
    if not (hasattr(made, "get_params") and hasattr(made, "fit")):
        raise JournalError(
            f"{where}: the factory {path} returned {type(made).__name__}, not an estimator",
            hint="a factory returns a scikit-learn estimator (with get_params and fit)",
        )
    return made


def build_estimator(
    model: ModelSpec, params: Mapping[str, Any], seed: int | None, root: Path | None = None
) -> Any:
    """The estimator of one grid point, every ``random_state`` left at None set to ``seed``.

    A factory (``estimator: module:function``) is called with the point's params; any other
    estimator is built with its steps and constructor lists, then given the point's params."""
    where = model.located()
    try:
        if ":" in model.estimator:
            kwargs = {k: _nested(v, where, root) for k, v in params.items()}
            kwargs.update(_lists(model.lists, where, root))
            estimator = _from_factory(model.estimator, kwargs, where, root)
        else:
            cls = import_object(model.estimator, where=where, root=root)
            kwargs = _lists(model.lists, where, root)
            if model.steps:
                steps = []
                for step in model.steps:
                    built = _build_block(step, f"{where}: step", root)
                    steps.append((step.name, built))
                estimator = cls(steps=steps, **kwargs)
            else:
                estimator = cls(**kwargs)
            _check_param_names(estimator, params, where)
            estimator.set_params(**{k: _nested(v, where, root) for k, v in params.items()})
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
    output = model.fixed.get("transform_output")
    if output is not None:
        if not hasattr(estimator, "set_output"):
            raise JournalError(
                f"{where}: {public_path(type(estimator))} has no set_output: transform_output "
                "is for transformers and pipelines",
                hint="leave transform_output out for a model without transformers, or give it "
                "to the Pipeline (steps:) that holds them",
            )
        estimator.set_output(transform=output)
    return estimator


def _check_param_names(estimator: Any, params: Mapping[str, Any], where: str) -> None:
    """Name a param the estimator does not have, or a step it does not have, with the close
    names (scikit-learn's own message lists every parameter of every step)."""
    for key in params:
        target, path = estimator, key.split("__")
        for depth, part in enumerate(path):
            # a pipeline's steps and a column transformer's blocks are only in the deep params
            valid = {k: v for k, v in target.get_params(deep=True).items() if "__" not in k}
            if part in valid and depth < len(path) - 1:
                target = valid[part]
                if not hasattr(target, "get_params"):
                    break
                continue
            if part in valid:
                break
            owner = type(target).__name__
            steps = [name for name, _ in getattr(target, "steps", None) or ()]
            if depth < len(path) - 1 and steps:
                raise JournalError(
                    f"{where}.params.{key}: {owner} has no step {part!r} "
                    f"(its steps: {', '.join(steps)})"
                )
            close = difflib.get_close_matches(part, sorted(valid), n=1, cutoff=0.5)
            guess = f" (did you mean {close[0]!r}?)" if close else ""
            raise JournalError(f"{where}.params.{key}: {owner} has no parameter {part!r}{guess}")


def resolve(
    model: ModelSpec, params: Mapping[str, Any], seed: int | None, *, root: Path | None = None
) -> Resolved:
    estimator = build_estimator(model, params, seed, root)
    deep = estimator.get_params(deep=True)
    path = public_path(type(estimator))
    shown = {
        key: normalise(value)
        for key, value in sorted(deep.items())
        if key != "steps" and not _holds_estimator(value)
    }
    identity = {"kind": "sklearn", "class": path, "params": normalise(deep)}
    if "transform_output" in model.fixed:  # not a param, but what the steps hand on
        identity["transform_output"] = model.fixed["transform_output"]
    return Resolved(model=path, identity=identity, params=shown)


def _holds_estimator(value: Any) -> bool:
    """An estimator, or a list of tuples holding them (steps, transformers, estimators)."""
    if hasattr(value, "get_params"):
        return True
    if isinstance(value, list | tuple):
        return any(_holds_estimator(item) for item in value)
    return False


def cache_inputs(model: ModelSpec) -> tuple[str, ...]:
    """The repository files a resolved identity may depend on: the modules of the model's
    factories, and of its estimator classes (``models.Wide``: ``models.py`` or
    ``models/__init__.py``; the caller keeps those that exist)."""
    files = list(model.factories())
    for path in model.import_paths():
        if ":" not in path and "." in path:
            module = path.rpartition(".")[0].replace(".", "/")
            files += [f"{module}.py", f"{module}/__init__.py"]
    return tuple(dict.fromkeys(files))


# Scorer names people write for scikit-learn's own (``rmse`` is ``neg_root_mean_squared_error``).
SCORER_ALIASES = {
    "rmse": "neg_root_mean_squared_error",
    "mse": "neg_mean_squared_error",
    "mae": "neg_mean_absolute_error",
    "mape": "neg_mean_absolute_percentage_error",
    "rmsle": "neg_root_mean_squared_log_error",
    "msle": "neg_mean_squared_log_error",
    "median_absolute_error": "neg_median_absolute_error",
    "max_error": "neg_max_error",
    "log_loss": "neg_log_loss",
    "logloss": "neg_log_loss",
    "brier_score": "neg_brier_score",
    "auc": "roc_auc",
    "roc": "roc_auc",
    "acc": "accuracy",
    "f1_score": "f1",
    "r2_score": "r2",
    "accuracy_score": "accuracy",
    "mcc": "matthews_corrcoef",
}
# Scorers that need class labels: a regressor's predictions fail them at training time.
CLASSIFICATION_SCORERS = (
    "accuracy",
    "balanced_accuracy",
    "top_k_accuracy",
    "average_precision",
    "neg_brier_score",
    "d2_brier_score",
    "neg_log_loss",
    "d2_log_loss_score",
    "f1",
    "precision",
    "recall",
    "jaccard",
    "roc_auc",
    "matthews_corrcoef",
    "positive_likelihood_ratio",
    "neg_negative_likelihood_ratio",
)
# Scorers for two classes only (averaged variants exist for more).
BINARY_SCORERS = {
    "f1": "f1_macro",
    "precision": "precision_macro",
    "recall": "recall_macro",
    "jaccard": "jaccard_macro",
    "roc_auc": "roc_auc_ovr",
    "average_precision": "f1_macro",
    "neg_brier_score": "neg_log_loss",
    "positive_likelihood_ratio": "balanced_accuracy",
    "neg_negative_likelihood_ratio": "balanced_accuracy",
}
# Binary scorers take class 1 as the positive class, which string labels lack.
POSITIVE_LABEL_SCORERS = ("f1", "precision", "recall", "jaccard")


def validate(
    model: ModelSpec,
    params: Mapping[str, Any],
    X: Any,
    y: Any,
    evaluation: EvaluationSpec,
    *,
    where: Callable[[str], str],
    root: Path | None = None,
    first: bool = True,
) -> None:
    """Refuse, before anything trains, what would fail every fit of ``model``: scorer names
    scikit-learn does not know or that do not suit the estimator or the labels, and folds or a
    stratified split the class counts cannot fill. ``where(key)`` locates a key in the spec."""
    if not first:  # params were checked when the point resolved; the rest is per block
        return
    from sklearn.base import is_classifier
    from sklearn.metrics import get_scorer_names

    estimator = build_estimator(model, params, evaluation.seed, root)
    refuse_columns(model, estimator, X)
    known = set(get_scorer_names())
    classifier = is_classifier(estimator)
    _refuse_target(estimator, y, classifier, where)
    labels: list[Any] = []
    counts: list[int] = []
    if classifier:
        found, tally = np.unique(np.asarray(y), return_counts=True)
        labels, counts = found.tolist(), [int(c) for c in tally]
    for name in evaluation.scoring:
        if name not in known:
            raise JournalError(
                f"{where('evaluation.scoring')}: {name!r} is not a scikit-learn scorer"
                + _did_you_mean(name, known),
                hint="scorers: sklearn.metrics.get_scorer_names()",
            )
        family = name.split("_")[0] if name.split("_")[0] in ("f1", "precision", "recall") else ""
        if not classifier and (name in CLASSIFICATION_SCORERS or family):
            raise JournalError(
                f"{where('evaluation.scoring')}: {name!r} scores class labels, but "
                f"{public_path(type(estimator))} is a regressor",
                hint="regression scorers: r2, neg_root_mean_squared_error, "
                "neg_mean_absolute_error, ...",
            )
        if classifier and name in BINARY_SCORERS and len(labels) > 2:
            raise JournalError(
                f"{where('evaluation.scoring')}: {name!r} is for two classes; the target has "
                f"{len(labels)}",
                hint=f"use {BINARY_SCORERS[name]!r} (or another averaged scorer)",
            )
        if (
            classifier
            and name in POSITIVE_LABEL_SCORERS
            and len(labels) == 2
            and 1 not in set(labels)
        ):
            raise JournalError(
                f"{where('evaluation.scoring')}: {name!r} takes class 1 as the positive class; "
                f"the target's classes are {labels[0]!r} and {labels[1]!r}",
                hint=f"use '{name}_macro', or make the positive class 1",
            )
    if not classifier or not len(counts):
        folds = evaluation.cv or 5
        if evaluation.test_size is None and len(y) < folds:
            raise JournalError(
                f"{where('evaluation.cv')}: {folds} folds, but the data has {len(y)} samples",
                hint=f"use cv: {max(len(y), 2)} or fewer",
            )
        return
    smallest = int(np.argmin(counts))
    rare, count = labels[smallest], counts[smallest]
    # Numbers in as many classes as this are most likely a quantity, not labels.
    quantity = np.asarray(y).dtype.kind in "iuf" and len(labels) > max(20, len(y) // 10)
    regressor = (
        f"the target has {len(labels)} distinct numbers in {len(y)} rows: for a quantity, "
        "use a regressor (e.g. sklearn.linear_model.Ridge)"
    )
    if evaluation.test_size is None:
        folds = evaluation.cv or 5
        if count < folds:
            raise JournalError(
                f"{where('evaluation.cv')}: {folds} stratified folds, but class {rare!r} has "
                f"only {count} sample{'s' if count != 1 else ''}",
                hint=regressor
                if quantity
                else f"use cv: {count} or fewer"
                if count >= 2
                else "a class needs at least 2 samples; drop or merge that class",
            )
    elif (evaluation.stratify is None or evaluation.stratify) and count < 2:
        raise JournalError(
            f"{where('evaluation.split')}: a stratified split needs 2 samples of each class, "
            f"but class {rare!r} has 1",
            hint=regressor
            if quantity
            else "drop or merge that class, or write split: {stratify: false}",
        )


def _did_you_mean(name: str, known: set[str]) -> str:
    alias = SCORER_ALIASES.get(name.lower())
    close = [alias] if alias in known else difflib.get_close_matches(name, sorted(known), n=2)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


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


class _Folds(NamedTuple):
    """The folds of the last split. Every point of a grid has the same folds."""

    y: Any  # the target they were split for (compared by identity)
    rows: int
    key: tuple[Any, ...]  # the evaluation's folds, shuffle and seed; classifier or not
    splits: tuple[tuple[Any, Any], ...]
    warnings: tuple[Warning, ...]  # what splitting said (a class too small for its folds)


_last_folds: _Folds | None = None  # read and replaced whole: threads may share it


def fold_splits(
    estimator: Any, X: Any, y: Any, evaluation: EvaluationSpec
) -> tuple[tuple[Any, Any], ...]:
    """The (train, test) indices of each fold, as ``splitter(...).split(X, y)`` gives them:
    split once for the points of one data set and evaluation (each split alike: a shuffle
    is seeded), not once per point. The warnings of the split are given again at every
    call, so each point's run records them."""
    global _last_folds
    from sklearn.base import is_classifier

    rows = X.shape[0] if hasattr(X, "shape") else len(X)  # a sparse matrix has no len()
    key = (evaluation.cv, evaluation.shuffle, evaluation.seed, bool(is_classifier(estimator)))
    last = _last_folds
    if last is None or last.y is not y or last.rows != rows or last.key != key:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            splits = tuple(splitter(estimator, y, evaluation).split(X, y))
        said = tuple(w.message for w in seen if isinstance(w.message, Warning))
        last = _last_folds = _Folds(y, rows, key, splits, said)
    for message in last.warnings:
        warnings.warn(message, stacklevel=2)
    return last.splits


def forget_folds() -> None:
    """Drop the folds kept for the last data set (and the reference to its target)."""
    global _last_folds
    _last_folds = None


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
        files[FOLDS_FILE] = scores_file(result[1])
    if result[2] is not None:
        files[CLASSES_FILE] = scores_file(result[2])
    return Result(
        # a ConvergenceWarning keeps the scores; its text stays in the warnings
        status="ok" if converged else "not-converged",
        metrics=result[0],
        files=files,
        warnings=tuple(caught),
        seconds=time.perf_counter() - start,
    )


def per_class(truth: Any, predicted: Any, y: Any) -> dict[str, Any]:
    """Precision, recall, F1 and support of each class (labels as the data has them: strings
    stay strings; a NaN or an infinity in the journal's form, ``{"__float__": "nan"}``), over
    the held-out predictions.

    The figures are scikit-learn's ``precision_recall_fscore_support(..., zero_division=0)``
    (F1 as ``2 tp / (2 tp + fp + fn)``, 0 where a denominator is 0), counted here with numpy:
    the library call validates its inputs again at every point and cost more than a cheap fit."""
    labels = np.unique(np.asarray(y))
    truth = np.asarray(truth)
    predicted = np.asarray(predicted)
    classes = []
    for label in labels:
        is_true = _holding(truth, label)
        is_predicted = _holding(predicted, label)
        tp = int(np.count_nonzero(is_true & is_predicted))
        true_sum = int(np.count_nonzero(is_true))
        pred_sum = int(np.count_nonzero(is_predicted))
        classes.append(
            {
                "label": _plain(label),
                "precision": _ratio(tp, pred_sum),
                "recall": _ratio(tp, true_sum),
                "f1": _ratio(2 * tp, true_sum + pred_sum),
                "support": true_sum,
            }
        )
    return {"labels": [_plain(label) for label in labels], "classes": classes}


def _holding(values: Any, label: Any) -> Any:
    """Where ``values`` hold ``label``; for a NaN label, where they hold NaN (which equals
    nothing, itself included)."""
    if label != label:
        return values != values
    return values == label


def _plain(label: Any) -> Any:
    """A label as Python has it (a numpy scalar's value: an object array holds plain ones), a
    NaN or an infinity in the journal's form."""
    return finite_json(label.item() if isinstance(label, np.generic) else label)


def _ratio(numerator: int, denominator: int) -> float:
    return float(np.float64(numerator) / np.float64(denominator)) if denominator else 0.0


class _HeldOut:
    """Scores a fitted model on its held-out rows, as scikit-learn's ``cross_validate`` scores
    a fold (the same scorers, one prediction shared by those that predict), but a classifier's
    predictions are made once here: they give the per-class figures, and ``accuracy`` is
    counted from them (as ``accuracy_score`` counts it) rather than by a scorer that would
    predict again and check its inputs again, which cost more than a cheap fit."""

    def __init__(self, estimator: Any, y: Any, scoring: tuple[str, ...]):
        from sklearn.base import is_classifier
        from sklearn.metrics import check_scoring

        self.estimator = estimator
        self.names = scoring
        self.classifier = bool(is_classifier(estimator))
        self.counted = self.classifier and np.ndim(y) == 1 and ACCURACY in scoring
        others = [name for name in scoring if not (self.counted and name == ACCURACY)]
        self.scorer = check_scoring(estimator, scoring=others, raise_exc=True) if others else None

    def score(self, fitted: Any, X_test: Any, y_test: Any) -> tuple[dict[str, float], Any, Any]:
        """Each scorer's score; the held-out labels and the predictions (None for a
        regressor)."""
        from sklearn.metrics import check_scoring

        scores: dict[str, Any] = dict(self.scorer(fitted, X_test, y_test)) if self.scorer else {}
        held = guess = None
        if self.classifier:
            held = np.asarray(y_test)
            guess = np.asarray(fitted.predict(X_test))
            if self.counted:
                if _comparable(held, guess):
                    scores[ACCURACY] = float(np.mean(held == guess))
                else:  # scikit-learn's own scorer, and its own error
                    scores[ACCURACY] = check_scoring(self.estimator, scoring=ACCURACY)(
                        fitted, X_test, y_test
                    )
        return {name: _number(scores[name], name) for name in self.names}, held, guess


def _cross_validate(
    estimator: Any, X: Any, y: Any, evaluation: EvaluationSpec, scoring: tuple[str, ...]
) -> tuple[dict[str, float], dict[str, list[float]], dict[str, Any] | None]:
    """Each fold as scikit-learn's ``cross_validate(..., error_score="raise")`` fits and scores
    it (a fresh clone, ``_safe_split``'s rows, the same scorers: :class:`_HeldOut`), without
    its per-call set-up."""
    from sklearn.base import clone
    from sklearn.utils import indexable
    from sklearn.utils.metaestimators import _safe_split

    from gitlab_journal.train import progress

    X, y = indexable(X, y)
    splits = fold_splits(estimator, X, y, evaluation)
    folds_of = progress.Folds(splits).split() if progress.is_listening() else iter(splits)
    held_out = _HeldOut(estimator, y, scoring)
    per_fold: dict[str, list[float]] = {name: [] for name in scoring}
    fit_times: list[float] = []
    score_times: list[float] = []
    truth: list[Any] = []
    predicted: list[Any] = []
    for train_rows, test_rows in folds_of:
        fitted = clone(estimator)
        X_train, y_train = _safe_split(fitted, X, y, train_rows)
        X_test, y_test = _safe_split(fitted, X, y, test_rows, train_rows)
        start = time.perf_counter()
        fitted.fit(X_train, y_train)
        fit_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        scores, held, guess = held_out.score(fitted, X_test, y_test)
        score_times.append(time.perf_counter() - start)
        for name in scoring:
            per_fold[name].append(scores[name])
        if held_out.classifier:
            truth.append(held)
            predicted.append(guess)
    classes = None
    if held_out.classifier:
        classes = per_class(np.concatenate(truth), np.concatenate(predicted), y)
    metrics: dict[str, float] = {}
    folds: dict[str, list[float]] = {}
    for name in scoring:
        values = np.asarray(per_fold[name], dtype=float)
        metrics[name] = float(values.mean())
        metrics[f"{name}_std"] = float(values.std())
        folds[name] = [float(v) for v in values]
    metrics["fit_time"] = float(np.mean(fit_times))
    metrics["score_time"] = float(np.mean(score_times))
    folds["fit_time"] = [float(v) for v in fit_times]
    return metrics, folds, classes


def _comparable(truth: Any, predicted: Any) -> bool:
    """Whether predictions count against the truth as ``accuracy_score`` counts them: the same
    shape, and labels of one kind (numbers, or strings, on both sides). Anything else (a model
    that predicts strings for numeric labels, or too few rows) goes to scikit-learn's scorer,
    which refuses it as it always has."""
    kinds = {truth.dtype.kind, predicted.dtype.kind}
    return truth.shape == predicted.shape and (len(kinds) == 1 or kinds <= set("biuf"))


def _number(score: Any, name: str) -> float:
    """A scorer's result as a float; anything else is the scorer's error, as in scikit-learn."""
    if hasattr(score, "item"):
        with contextlib.suppress(ValueError):
            score = score.item()
    if not isinstance(score, numbers.Number) or isinstance(score, complex):
        raise ValueError(
            f"scoring must return a number, got {score!r} ({type(score)}) instead. (scorer={name})"
        )
    return float(score)  # type: ignore[arg-type]


def _holdout(
    estimator: Any, X: Any, y: Any, evaluation: EvaluationSpec, scoring: tuple[str, ...]
) -> tuple[dict[str, float], dict[str, list[float]], dict[str, Any] | None]:
    from sklearn.base import is_classifier
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
    held_out = _HeldOut(estimator, y, scoring)
    start = time.perf_counter()
    estimator.fit(X_train, y_train)
    fit_time = time.perf_counter() - start
    start = time.perf_counter()
    metrics, held, guess = held_out.score(estimator, X_test, y_test)
    metrics["fit_time"] = fit_time
    metrics["score_time"] = time.perf_counter() - start
    classes = per_class(held, guess, y) if held_out.classifier else None
    return metrics, {}, classes


def _refuse_target(estimator: Any, y: Any, classifier: bool, where: Callable[[str], str]) -> None:
    """Refuse a target every fit would fail on: text for a regressor (prices written with a
    currency sign), continuous numbers for a classifier."""
    from sklearn.base import is_regressor
    from sklearn.utils.multiclass import type_of_target

    target = np.asarray(y)
    name = public_path(type(estimator))
    if is_regressor(estimator) and target.dtype.kind in "OUS" and not _numbers(target):
        from gitlab_journal.train.columns import thousands_mark

        example = next((str(v) for v in target.ravel() if not _numbers(np.asarray([v]))), "")
        mark = thousands_mark(str(v) for v in target.ravel())
        raise JournalError(
            f"{where('data.target')}: the target holds text, e.g. {example!r}, and {name} is "
            "a regressor, which takes numbers",
            hint=f"its numbers are written with thousands separators: add thousands: '{mark}' "
            "to the data block"
            if mark is not None
            else "write the target as plain numbers (no currency sign or thousands separator), "
            "or, for class labels, use a classifier",
        )
    if classifier and target.dtype.kind == "f":
        try:
            kind = type_of_target(target)
        except ValueError:
            return  # what scikit-learn cannot tell, training reports
        if kind.startswith("continuous"):
            example = next(v for v in target.ravel() if float(v) != round(float(v)))
            raise JournalError(
                f"{where('data.target')}: the target holds continuous numbers, e.g. "
                f"{float(example):g}, and {name} is a classifier, which takes class labels",
                hint="use a regressor (e.g. sklearn.linear_model.Ridge) with regression "
                "scorers (r2, neg_root_mean_squared_error), or make the classes in a loader",
            )


def _numbers(values: Any) -> bool:
    """Whether text values all read as numbers (scikit-learn turns such a target into them)."""
    try:
        values.astype(np.float64)
    except (TypeError, ValueError):
        return False
    return True


def refuse_columns(model: ModelSpec, estimator: Any, X: Any) -> None:
    """Stop before training when a table's text column reaches a step taking numbers only, or
    its blank cells one taking no missing values (every point would fail alike)."""
    from gitlab_journal.train import columns

    found = columns.blocked(estimator, X)
    if found is None:
        return
    frames = model.fixed.get("transform_output") == "pandas"
    message, hint = columns.describe(found, columns.text_columns(X), X, frames=frames)
    raise JournalError(f"{model.located()}: {message}", hint=hint)


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
    estimator = build_estimator(model, params, evaluation.seed, options.root)
    refuse_columns(model, estimator, X)
    found = preflight.sklearn_findings(
        estimator, X, y, evaluation, classifier=bool(is_classifier(estimator))
    )
    findings = preflight.enforce(found, ignore=options.ignore_checks, strict=options.strict)
    return replace(evaluate(estimator, X, y, evaluation), findings=findings)
