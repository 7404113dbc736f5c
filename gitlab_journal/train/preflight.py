"""Pre-flight checks: cheap looks at the data and the model before training, each with a stable
code (docs/checks.md explains every one).

Findings are recorded with the run and printed as warnings; ``--strict`` makes them fatal, and
``checks: {ignore: [CODE, ...]}`` in the spec silences a code. Models are inspected by duck
typing, so this module imports neither scikit-learn nor TensorFlow.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gitlab_journal.errors import CheckFailed
from gitlab_journal.spec.model import EvaluationSpec
from gitlab_journal.spec.snippets import flow_list

# code -> the one-line explanation docs/checks.md gives
CHECKS: Mapping[str, str] = {
    "JP001": "labels sorted or grouped before a split taken in order",
    "JP002": "imbalanced classes with a split that is not stratified",
    "JP003": "duplicate samples across the training and held-out parts",
    "JP004": "inputs on very different scales for a scale-sensitive model",
    "JP005": "sigmoid or tanh in the hidden layers of a deep network",
    "JP006": "far fewer training samples than model parameters",
    "JP007": "batch size larger than the training set",
    "JP008": "a feature column that is an id (a different value in every row)",
    "JP009": "a feature column that leaks the target (equal to it, or a recoding of it)",
    "JP010": "a categorical column with more levels than one per 10 rows",
    "JP011": "a feature column with one value in every row",
    "JP012": "a feature column missing in more than half of the rows",
}

SCALE_RATIO = 100.0  # JP004: largest feature magnitude over the smallest
IMBALANCE_RATIO = 0.25  # JP002: smallest class count over the largest
GROUPED_FRACTION = 0.2  # JP001: label changes over those a shuffled order would have
SORTED_CORRELATION = 0.9  # JP001: |rank correlation| of a numeric target with its position
DUPLICATE_FRACTION = 0.01  # JP003: held-out rows with a copy in training, at least 2 of them
PARAMS_PER_SAMPLE = 10.0  # JP006
DEEP_HIDDEN_LAYERS = 3  # JP005: a network with this many hidden layers is deep
TABLE_MIN_ROWS = 20  # JP008, JP009, JP010: fewer rows say too little about a column
ROWS_PER_LEVEL = 10  # JP010: a categorical column's levels, at most one per this many rows
MISSING_FRACTION = 0.5  # JP012
LEVELS_SAMPLE = 2000  # rows a numeric column's distinct values are first counted on

SCALE_SENSITIVE = (
    "sklearn.svm.",
    "sklearn.neighbors.",
    "sklearn.neural_network.",
    "sklearn.linear_model.",
    "sklearn.kernel_ridge.",
)
SCALE_FREE = frozenset({"LinearRegression"})  # ordinary least squares: scale does not matter
SCALERS = frozenset({"Normalizer", "QuantileTransformer", "PowerTransformer", "SplineTransformer"})
NORMALISING_LAYERS = frozenset(
    {"Normalization", "BatchNormalization", "LayerNormalization", "Rescaling"}
)
SATURATING = frozenset({"sigmoid", "tanh", "logistic"})


@dataclass(frozen=True)
class Finding:
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


# --- the checks, each on plain arrays and numbers -------------------------------------------


def label_order(y: Any, *, classification: bool, split: str) -> Finding | None:
    """JP001: the labels are sorted, or classes come in blocks, and ``split`` takes data in
    order (an unshuffled fold or the tail of the training set)."""
    y = np.asarray(y)
    n = len(y)
    if n < 20 or y.ndim != 1:
        return None
    if classification:
        _, counts = np.unique(y, return_counts=True)
        if len(counts) < 2:
            return None
        shares = counts / n
        expected = (n - 1) * (1.0 - float(np.sum(shares**2)))
        changes = int(np.count_nonzero(y[1:] != y[:-1]))
        if expected >= 10 and changes < GROUPED_FRACTION * expected:
            return Finding(
                "JP001",
                f"the labels come in blocks ({changes} changes of class where a shuffled order "
                f"would have about {expected:.0f}) and {split} takes samples in order",
            )
        return None
    if not np.issubdtype(y.dtype, np.number) or np.ptp(y) == 0:
        return None
    ranks = np.argsort(np.argsort(y, kind="stable"), kind="stable").astype(float)
    rho = float(np.corrcoef(np.arange(n, dtype=float), ranks)[0, 1])
    if abs(rho) > SORTED_CORRELATION:
        return Finding(
            "JP001",
            f"the targets are sorted (rank correlation {rho:+.2f} with their position) and "
            f"{split} takes samples in order",
        )
    return None


def imbalance(y: Any, *, split: str) -> Finding | None:
    """JP002: the smallest class is far rarer than the largest and ``split`` is not
    stratified, so a fold or the validation part can miss it."""
    labels, counts = np.unique(np.asarray(y), return_counts=True)
    if len(counts) < 2:
        return None
    small, large = int(counts.min()), int(counts.max())
    if small / large >= IMBALANCE_RATIO:
        return None
    rare = labels[int(np.argmin(counts))]
    return Finding(
        "JP002",
        f"class {_label(rare)} has {small} samples against {large} for the largest, and "
        f"{split} is not stratified",
    )


def duplicates(X_train: Any, X_held: Any | None, *, held: str) -> Finding | None:
    """JP003: samples of the held-out part (``X_held``) that also appear in training; with
    ``X_held`` None (cross-validation), rows of ``X_train`` that are exact copies."""
    train = _row_keys(X_train)
    if train is None:
        return None
    if X_held is None:
        copies = len(train) - len(np.unique(train))
        total = len(train)
        if copies >= 2 and copies >= DUPLICATE_FRACTION * total:
            return Finding(
                "JP003",
                f"{copies} of {total} samples are exact copies of others; {held} puts copies "
                "on both sides",
            )
        return None
    held_keys = _row_keys(X_held)
    if held_keys is None or len(held_keys) == 0:
        return None
    shared = int(np.count_nonzero(np.isin(held_keys, train)))
    if shared >= 2 and shared >= DUPLICATE_FRACTION * len(held_keys):
        return Finding(
            "JP003",
            f"{shared} of {len(held_keys)} {held} samples also appear in the training data",
        )
    return None


def scales(X: Any, *, model: str) -> Finding | None:
    """JP004: feature magnitudes differ by more than ``SCALE_RATIO`` times."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] < 2 or not np.issubdtype(X.dtype, np.number):
        return None
    with np.errstate(invalid="ignore"):
        magnitude = np.nanmax(np.abs(X), axis=0) if len(X) else np.zeros(X.shape[1])
        spread = np.nanmax(X, axis=0) - np.nanmin(X, axis=0) if len(X) else magnitude
    varying = magnitude[(spread > 0) & np.isfinite(magnitude)]
    if len(varying) < 2:
        return None
    ratio = float(varying.max() / varying.min())
    if ratio <= SCALE_RATIO:
        return None
    return Finding(
        "JP004",
        f"feature magnitudes differ {ratio:,.0f}-fold (up to {varying.max():.3g}) and {model} "
        "is sensitive to scale; put a scaler first",
    )


def saturating_hidden(activations: Sequence[str], *, model: str) -> Finding | None:
    """JP005: a deep network (``DEEP_HIDDEN_LAYERS`` hidden layers or more) with sigmoid or tanh
    in a hidden layer; ``activations`` are the hidden layers' activations in order."""
    if len(activations) < DEEP_HIDDEN_LAYERS:
        return None
    bad = sorted({a for a in activations if a in SATURATING})
    if not bad:
        return None
    return Finding(
        "JP005",
        f"{model} has {len(activations)} hidden layers using {', '.join(bad)}, whose gradients "
        "vanish in deep networks; prefer relu",
    )


def capacity(parameters: int, samples: int) -> Finding | None:
    """JP006: more than ``PARAMS_PER_SAMPLE`` parameters per training sample."""
    if samples <= 0 or parameters <= PARAMS_PER_SAMPLE * samples:
        return None
    return Finding(
        "JP006",
        f"{parameters:,} parameters for {samples:,} training samples "
        f"({parameters / samples:.0f} per sample): expect overfitting",
    )


def batch_size(size: int | None, samples: int) -> Finding | None:
    """JP007: a batch larger than the training set (every step sees all of it)."""
    if size is None or samples <= 0 or size <= samples:
        return None
    return Finding(
        "JP007",
        f"batch size {size} is larger than the {samples} training samples",
    )


def table_checks(X: Any, y: Any) -> list[Finding]:
    """JP008-JP012 on the feature columns of a table (a pandas DataFrame): an id, a leak of
    the target, a categorical column with too many levels, a constant column, a column more
    than half missing. Anything but a DataFrame has no columns to judge: no findings."""
    if not hasattr(X, "columns") or not hasattr(X, "dtypes"):
        return []
    cached = _TABLE_CACHE.get("last")
    if cached is not None and cached[0] is X and cached[1] is y:
        return list(cached[2])
    found = _table_checks(X, np.asarray(y))
    _TABLE_CACHE["last"] = (X, y, tuple(found))  # one table per process; grids reuse it
    return found


_TABLE_CACHE: dict[str, tuple[Any, Any, tuple[Finding, ...]]] = {}


def _table_checks(X: Any, y: Any) -> list[Finding]:
    import pandas as pd

    n = len(X)
    out: list[Finding] = []
    if n == 0:
        return out
    target = pd.Series(y, index=X.index)
    target_codes, target_values = pd.factorize(target, use_na_sentinel=False)
    target_levels = len(target_values)
    discrete_target = n >= TABLE_MIN_ROWS and target_levels <= n // 2
    for raw, dtype in X.dtypes.items():
        name = str(raw)
        column = X[raw]
        drop = f"drop it (data: drop: {flow_list([name])})"
        missing = int(column.isna().sum())
        text = (
            pd.api.types.is_object_dtype(dtype)
            or pd.api.types.is_string_dtype(dtype)
            or isinstance(dtype, pd.CategoricalDtype)
        )
        levels = _levels(column, text, target_levels)
        if missing == n:
            out.append(Finding("JP012", f"column {name!r} is missing in every row: {drop}"))
            continue
        if levels == 1:
            value = column.dropna().iloc[0] if missing == 0 else None
            shown = f" ({_label(value)})" if value is not None else ""
            out.append(
                Finding("JP011", f"column {name!r} has one value{shown} in every row: {drop}")
            )
            continue
        if missing > MISSING_FRACTION * n:
            out.append(
                Finding(
                    "JP012",
                    f"column {name!r} is missing in {missing} of {n} rows: impute it with a "
                    "missing-value indicator (SimpleImputer with add_indicator: true), or " + drop,
                )
            )
        identifies = (
            n >= TABLE_MIN_ROWS
            and missing == 0
            and levels == n
            and (text or pd.api.types.is_integer_dtype(dtype))
        )
        if identifies:
            out.append(
                Finding(
                    "JP008",
                    f"column {name!r} has a different value in every row ({n}): an id, not a "
                    f"feature; {drop}",
                )
            )
        if _leaks(column, target, target_codes, levels, discrete_target):
            out.append(
                Finding(
                    "JP009",
                    f"column {name!r} is the target written another way (one value of it per "
                    f"class, {levels} in all): it leaks the answer into the features; {drop}",
                )
            )
            continue
        if text and not identifies and n >= TABLE_MIN_ROWS and levels > n / ROWS_PER_LEVEL:
            out.append(
                Finding(
                    "JP010",
                    f"column {name!r} has {levels} categories for {n} rows (more than one per "
                    f"{ROWS_PER_LEVEL}): most are too rare to learn from; group the rare ones "
                    "(OneHotEncoder with min_frequency or max_categories), or " + drop,
                )
            )
    return out


def _levels(column: Any, text: bool, target_levels: int) -> int:
    """The column's distinct values (missing counted as one), exactly when a check needs it:
    always for text; for numbers only when a sample of rows leaves it in doubt (a constant, an
    id, or few enough values to recode the target), else the sample's count, at least 2."""
    if text or len(column) <= LEVELS_SAMPLE:
        return int(column.nunique(dropna=False))
    head = int(column.iloc[:LEVELS_SAMPLE].nunique(dropna=False))
    if head == 1 or head == LEVELS_SAMPLE or head <= target_levels:
        return int(column.nunique(dropna=False))
    return head


def _leaks(column: Any, target: Any, target_codes: Any, levels: int, discrete_target: bool) -> bool:
    """The column equals the target, or (for a target with repeated values) holds exactly one
    value per target value: a recoding of the target."""
    import pandas as pd

    if (
        pd.api.types.is_numeric_dtype(column.dtype)
        and pd.api.types.is_numeric_dtype(target.dtype)
        and not pd.api.types.is_bool_dtype(column.dtype)
        and bool((column.to_numpy() == target.to_numpy()).all())
    ):
        return True
    target_levels = int(target_codes.max()) + 1 if len(target_codes) else 0
    # a function of the target has at most as many values as the target
    if not discrete_target or levels < 2 or levels > target_levels:
        return False
    codes, _ = pd.factorize(column, use_na_sentinel=False)
    pairs = np.unique(target_codes.astype(np.int64) * (levels + 1) + codes.astype(np.int64))
    return len(pairs) == target_levels


# --- the checks of one back end's point ------------------------------------------------------


def sklearn_findings(
    estimator: Any, X: Any, y: Any, evaluation: EvaluationSpec, *, classifier: bool
) -> list[Finding]:
    """Checks for one scikit-learn estimator scored as ``evaluation`` says."""
    out: list[Finding | None] = []
    n = len(y)
    final = _final_step(estimator)
    name = type(final).__name__
    if evaluation.test_size is not None:
        test = evaluation.test_size if evaluation.test_size >= 1 else evaluation.test_size * n
        n_train = n - int(np.ceil(test))
        stratified = evaluation.stratify if evaluation.stratify is not None else classifier
        if classifier and not stratified:
            out.append(imbalance(y, split="the hold-out split"))
    else:
        folds = evaluation.cv or 5
        n_train = n - n // folds
        if not evaluation.shuffle and not classifier:
            out.append(label_order(y, classification=False, split="cross-validation"))
        out.append(duplicates(X, None, held="cross-validation"))
    if _scale_sensitive(final) and not _has_scaler(estimator):
        out.append(scales(X, model=name))
    out.extend(table_checks(X, y))
    if name.startswith("MLP"):
        hidden = _hidden_sizes(getattr(final, "hidden_layer_sizes", ()))
        activation = str(getattr(final, "activation", "relu"))
        out.append(saturating_hidden([activation] * len(hidden), model=name))
        outputs = len(np.unique(y)) if classifier else 1
        widths = [int(np.asarray(X).shape[1]), *hidden, 1 if outputs == 2 else outputs]
        parameters = sum((a + 1) * b for a, b in itertools.pairwise(widths))
        out.append(capacity(parameters, n_train))
        size = getattr(final, "batch_size", "auto")
        out.append(batch_size(size if isinstance(size, int) else None, n_train))
    return [f for f in out if f is not None]


def keras_findings(
    model: Any,
    X_train: Any,
    y_train: Any,
    X_test: Any,
    *,
    classification: bool,
    fit: Mapping[str, Any],
) -> list[Finding]:
    """Checks for one built Keras model about to be fit on ``X_train`` with ``fit`` arguments;
    ``X_test`` is the hold-out part scored after training."""
    out: list[Finding | None] = []
    n = len(y_train)
    split = float(fit.get("validation_split") or 0.0)
    n_val = int(n * split) if split > 0 else 0
    n_fit = n - n_val
    if n_val:
        where = "validation_split (the last samples, before any shuffling)"
        out.append(label_order(y_train, classification=classification, split=where))
        if classification:
            out.append(imbalance(y_train, split="validation_split"))
        cut = n - n_val
        out.append(duplicates(X_train[:cut], X_train[cut:], held="validation"))
        out.append(duplicates(X_train[:cut], X_test, held="hold-out test"))
    else:
        out.append(duplicates(X_train, X_test, held="hold-out test"))
    layers = _keras_layers(model)
    if not any(type(layer).__name__ in NORMALISING_LAYERS for layer in layers[:3]):
        out.append(scales(X_train, model="a neural network"))
    out.append(saturating_hidden(_keras_hidden_activations(layers), model="the network"))
    parameters = int(model.count_params()) if getattr(model, "built", False) else 0
    out.append(capacity(parameters, n_fit))
    size = fit.get("batch_size", 32)
    out.append(batch_size(int(size) if isinstance(size, int) else None, n_fit))
    return [f for f in out if f is not None]


def enforce(findings: Iterable[Finding], *, ignore: Iterable[str], strict: bool) -> tuple[str, ...]:
    """The findings to record (silenced codes dropped); with ``strict``, any is fatal."""
    silenced = set(ignore)
    kept = tuple(str(f) for f in findings if f.code not in silenced)
    if strict and kept:
        codes = ", ".join(sorted({k.split(":", 1)[0] for k in kept}))
        raise CheckFailed(
            f"pre-flight check failed (--strict): {kept[0]}"
            + (f" (and {len(kept) - 1} more)" if len(kept) > 1 else ""),
            hint=f"fix it, or silence it in the spec with `checks: {{ignore: [{codes}]}}`",
        )
    return kept


# --- helpers ---------------------------------------------------------------------------------


def _label(value: Any) -> str:
    return repr(value.item()) if hasattr(value, "item") else repr(value)


def _row_keys(X: Any) -> Any:
    """One comparable key per row (its bytes), or None when rows cannot be compared."""
    X = np.asarray(X)
    if X.ndim == 0 or len(X) == 0 or X.dtype.kind == "O":
        return None
    rows = np.ascontiguousarray(X.reshape(len(X), -1))
    return rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()


def _final_step(estimator: Any) -> Any:
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list) and steps:
        return _final_step(steps[-1][1])
    return estimator


def _scale_sensitive(estimator: Any) -> bool:
    cls = type(estimator)
    module = f"{cls.__module__}."
    if cls.__name__ in SCALE_FREE:
        return False
    return any(module.startswith(prefix) for prefix in SCALE_SENSITIVE)


def _has_scaler(estimator: Any) -> bool:
    """A scaler anywhere before the final step (in a pipeline or a column transformer)."""
    if not hasattr(estimator, "get_params"):
        return False
    steps = getattr(estimator, "steps", None)
    if not isinstance(steps, list):
        return False
    for _, step in steps[:-1]:
        if _is_scaler(step):
            return True
        if hasattr(step, "get_params"):
            for value in step.get_params(deep=True).values():
                if _is_scaler(value):
                    return True
    return False


def _is_scaler(obj: Any) -> bool:
    name = type(obj).__name__
    return name.endswith("Scaler") or name in SCALERS


def _hidden_sizes(value: Any) -> list[int]:
    if isinstance(value, int):
        return [value]
    try:
        return [int(v) for v in value]
    except (TypeError, ValueError):
        return []


def _keras_layers(model: Any) -> list[Any]:
    """The model's layers, nested models flattened, in order."""
    out: list[Any] = []
    for layer in getattr(model, "layers", ()):
        if hasattr(layer, "layers") and layer is not model:
            out.extend(_keras_layers(layer))
        else:
            out.append(layer)
    return out


def _keras_hidden_activations(layers: Sequence[Any]) -> list[str]:
    """The activation of each weighted layer but the last (an Activation layer right after a
    weighted layer counts as that layer's activation)."""
    found: list[str] = []
    for layer in layers:
        config = _config(layer)
        kind = type(layer).__name__
        if kind == "Activation" and found:
            found[-1] = _activation_name(config.get("activation"))
        elif layer.weights and "activation" in config:
            found.append(_activation_name(config.get("activation")))
        elif layer.weights and kind not in NORMALISING_LAYERS:
            found.append("linear")
    return found[:-1]


def _config(layer: Any) -> dict[str, Any]:
    try:
        config = layer.get_config()
    except Exception:  # a custom layer without get_config: nothing to inspect
        return {}
    return config if isinstance(config, dict) else {}


def _activation_name(value: Any) -> str:
    if isinstance(value, Mapping):
        value = value.get("config", {}).get("name") or value.get("class_name")
    return str(value or "linear").lower()
