"""Data-set meta-features: a small vector that says what a data set is like.

Recorded once per data key in the journal (``datasets/<key>.json``), they let a new data set
borrow the best settings of the most similar data sets already in the journal, as auto-sklearn's
meta-learning does. The vector: samples, features, classes, class entropy, the share of
categorical features and of missing values, the mean absolute correlation between features, and
landmarkers, the cross-validated score of three cheap models (a 1-nearest-neighbour, a decision
stump and naive Bayes).

numpy is imported by the functions that compute; scikit-learn inside the landmarkers only.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

METAFEATURES_VERSION = 1
CATEGORICAL_MAX_VALUES = 10  # an integer-valued feature with at most this many values
CORRELATION_MAX_FEATURES = 200  # the mean absolute correlation looks at this many at most
CORRELATION_MAX_SAMPLES = 5000
LANDMARK_MAX_SAMPLES = 2000  # landmarkers train on a (stratified) subsample of this many
LANDMARK_FOLDS = 5
LANDMARKERS = ("nearest_neighbour", "decision_stump", "naive_bayes")

# What the distance compares, each scaled to [0, 1] over the data sets being compared.
_DISTANCE_KEYS = (
    "log_samples",
    "log_features",
    "log_classes",
    "class_entropy_norm",
    "categorical_share",
    "missing_share",
    "mean_abs_correlation",
    *(f"landmark_{name}" for name in LANDMARKERS),
)


def data_key(data: Mapping[str, str]) -> str | None:
    """The key a data set is described under: the md5 of its one input, or for several inputs
    a sha256 over their sorted hashes. None when the data has no hashed input."""
    hashes = sorted(str(v) for v in data.values())
    if not hashes:
        return None
    if len(hashes) == 1:
        return hashes[0]
    return hashlib.sha256(json.dumps(hashes).encode()).hexdigest()


def metafeatures(X: Any, y: Any, *, seed: int = 0) -> dict[str, Any]:
    """The meta-features of ``(X, y)`` as a JSON-ready mapping (NaN never appears: None)."""
    import numpy as np

    features = _numeric(X)
    target = np.asarray(y)
    n, d = features.shape
    task = _task(target)
    classes: int | None = None
    entropy: float | None = None
    if task == "classification":
        _, counts = np.unique(target.astype(str), return_counts=True)
        classes = len(counts)
        shares = counts / counts.sum()
        entropy = float(-(shares * np.log2(shares)).sum())
    missing = np.isnan(features)
    categorical_share = _categorical_share(features)
    missing_share = float(missing.mean()) if features.size else 0.0
    profile = _table_profile(X, features)
    if profile is not None:
        categorical_share, missing_share = profile
    doc: dict[str, Any] = {
        "version": METAFEATURES_VERSION,
        "task": task,
        "samples": int(n),
        "features": int(d),
        "classes": classes,
        "class_entropy": _round(entropy),
        "categorical_share": _round(categorical_share),
        "missing_share": _round(missing_share),
        "mean_abs_correlation": _round(_mean_abs_correlation(features, seed)),
        "landmark_scoring": "accuracy" if task == "classification" else "r2",
        "landmarkers": _landmarkers(features, target, task, seed),
    }
    return doc


def summary(doc: Mapping[str, Any]) -> str:
    """One line: ``150 samples, 4 features, 3 classes``."""
    parts = [f"{doc.get('samples')} samples", f"{doc.get('features')} features"]
    if doc.get("classes"):
        parts.append(f"{doc['classes']} classes")
    return ", ".join(parts)


def nearest(
    query: Mapping[str, Any], candidates: Mapping[str, Mapping[str, Any]], k: int
) -> list[tuple[str, float]]:
    """The ``k`` candidates closest to ``query``: (key, distance), nearest first.

    Each meta-feature is scaled to [0, 1] over the query and the candidates together (a feature
    that does not vary is left out), and the distance is the mean absolute difference over the
    features both data sets have, as auto-sklearn's L1 distance on scaled meta-features. A data
    set of another task (classification, regression) is never near.
    """
    vectors = {key: _vector(doc) for key, doc in candidates.items()}
    mine = _vector(query)
    spans: dict[str, float] = {}
    for name in _DISTANCE_KEYS:
        seen = [x for v in (mine, *vectors.values()) if (x := v.get(name)) is not None]
        if len(seen) < 2 or max(seen) == min(seen):
            continue
        spans[name] = max(seen) - min(seen)
    ranked: list[tuple[str, float]] = []
    for key, vector in vectors.items():
        if candidates[key].get("task") != query.get("task"):
            continue
        diffs = [
            abs(a - b) / spans[name]
            for name in spans
            if (a := vector.get(name)) is not None and (b := mine.get(name)) is not None
        ]
        ranked.append((key, sum(diffs) / len(diffs) if diffs else 0.0))
    ranked.sort(key=lambda item: (item[1], item[0]))
    return ranked[: max(k, 0)]


# --- pieces ---------------------------------------------------------------------------------


def _round(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), 6)


def _numeric(X: Any) -> Any:
    """X as a 2-D float array; a column that is not numeric becomes its values' codes."""
    import numpy as np

    arr = np.asarray(X)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    elif arr.ndim > 2:
        arr = arr.reshape(len(arr), -1)
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError):
        columns = []
        for j in range(arr.shape[1]):
            column = arr[:, j]
            try:
                columns.append(column.astype(np.float64))
            except (TypeError, ValueError):
                _, codes = np.unique(column.astype(str), return_inverse=True)
                columns.append(codes.astype(np.float64))
        return np.column_stack(columns) if columns else np.empty((len(arr), 0))


def _task(y: Any) -> str:
    """``classification`` for labels, ``regression`` for a continuous target."""
    import numpy as np

    if y.ndim != 1:
        return "multi-output"
    if y.dtype.kind not in "biuf":
        return "classification"
    values = y.astype(np.float64)
    finite = values[np.isfinite(values)]
    if finite.size and np.any(finite != np.round(finite)):
        return "regression"
    distinct = len(np.unique(finite))
    return "classification" if distinct <= max(2, min(100, len(values) // 5)) else "regression"


def _categorical_share(X: Any) -> float:
    """The share of features that look categorical: integer-valued with few distinct values."""
    import numpy as np

    if X.shape[1] == 0:
        return 0.0
    count = 0
    for j in range(X.shape[1]):
        column = X[:, j]
        column = column[np.isfinite(column)]
        if column.size and np.all(column == np.round(column)):
            count += len(np.unique(column)) <= CATEGORICAL_MAX_VALUES
    return float(count / X.shape[1])


def _table_profile(X: Any, features: Any) -> tuple[float, float] | None:
    """A table's (a DataFrame's) categorical and missing shares, from its dtypes: a string or
    category column is categorical (as an integer column with few values is), and a missing
    cell is missing whatever its column's type. None for anything but a table with text."""
    import numpy as np

    if not hasattr(X, "dtypes") or not hasattr(X, "isna") or X.shape[1] == 0:
        return None
    import pandas as pd

    text = [
        pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
        for dtype in X.dtypes
    ]
    if not any(text):
        return None  # a numeric table is described as its array always was
    count = 0
    for j, is_text in enumerate(text):
        column = features[:, j]
        column = column[np.isfinite(column)]
        whole = bool(column.size) and bool(np.all(column == np.round(column)))
        count += is_text or (whole and len(np.unique(column)) <= CATEGORICAL_MAX_VALUES)
    return count / len(text), float(np.asarray(X.isna()).mean()) if len(X) else 0.0


def _imputed(X: Any) -> Any:
    import numpy as np

    if not np.isnan(X).any():
        return X
    means = np.nanmean(np.where(np.isfinite(X), X, np.nan), axis=0)
    means = np.where(np.isfinite(means), means, 0.0)
    return np.where(np.isfinite(X), X, means)


def _mean_abs_correlation(X: Any, seed: int) -> float | None:
    import numpy as np

    rng = np.random.default_rng(seed)
    data = _imputed(X)
    if len(data) > CORRELATION_MAX_SAMPLES:
        data = data[rng.choice(len(data), CORRELATION_MAX_SAMPLES, replace=False)]
    varying = data[:, data.std(axis=0) > 0]
    if varying.shape[1] > CORRELATION_MAX_FEATURES:
        picked = rng.choice(varying.shape[1], CORRELATION_MAX_FEATURES, replace=False)
        varying = varying[:, np.sort(picked)]
    if varying.shape[1] < 2:
        return None
    corr = np.corrcoef(varying, rowvar=False)
    upper = corr[np.triu_indices_from(corr, k=1)]
    return float(np.mean(np.abs(upper)))


def _landmarkers(X: Any, y: Any, task: str, seed: int) -> dict[str, float | None]:
    """Cross-validated scores of a 1-NN, a depth-1 tree and naive Bayes (None: not computable,
    e.g. naive Bayes for regression or a class with a single sample)."""
    import numpy as np

    empty: dict[str, float | None] = dict.fromkeys(LANDMARKERS)
    if task not in ("classification", "regression") or X.shape[1] == 0 or len(X) < 4:
        return empty
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score, train_test_split
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    data = _imputed(X) if np.isnan(X).any() else X
    target = y.astype(str) if task == "classification" else y.astype(np.float64)
    if len(data) > LANDMARK_MAX_SAMPLES:
        stratify = target if task == "classification" and _min_count(target) >= 2 else None
        data, _, target, _ = train_test_split(
            data, target, train_size=LANDMARK_MAX_SAMPLES, random_state=seed, stratify=stratify
        )
    models: dict[str, Any]
    if task == "classification":
        folds = min(LANDMARK_FOLDS, _min_count(target))
        if folds < 2:
            return empty
        cv: Any = StratifiedKFold(folds, shuffle=True, random_state=seed)
        models = {
            "nearest_neighbour": KNeighborsClassifier(n_neighbors=1),
            "decision_stump": DecisionTreeClassifier(max_depth=1, random_state=seed),
            "naive_bayes": GaussianNB(),
        }
    else:
        cv = KFold(min(LANDMARK_FOLDS, len(data)), shuffle=True, random_state=seed)
        models = {
            "nearest_neighbour": KNeighborsRegressor(n_neighbors=1),
            "decision_stump": DecisionTreeRegressor(max_depth=1, random_state=seed),
        }
    scoring = "accuracy" if task == "classification" else "r2"
    out = dict(empty)
    for name, model in models.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                scores = cross_val_score(
                    make_pipeline(SimpleImputer(), model), data, target, cv=cv, scoring=scoring
                )
            except ValueError:
                continue
        out[name] = _round(float(np.mean(scores)))
    return out


def _min_count(target: Any) -> int:
    import numpy as np

    _, counts = np.unique(target, return_counts=True)
    return int(counts.min()) if len(counts) else 0


def _vector(doc: Mapping[str, Any]) -> dict[str, float | None]:
    """The numbers the distance compares (log scales for counts)."""

    def number(value: Any) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value) if math.isfinite(value) else None

    samples, features, classes = (number(doc.get(k)) for k in ("samples", "features", "classes"))
    entropy = number(doc.get("class_entropy"))
    landmarks = doc.get("landmarkers") or {}
    out: dict[str, float | None] = {
        "log_samples": math.log10(samples) if samples and samples > 0 else None,
        "log_features": math.log10(features) if features and features > 0 else None,
        "log_classes": math.log2(classes) if classes and classes > 0 else None,
        "class_entropy_norm": (
            entropy / math.log2(classes)
            if entropy is not None and classes is not None and classes > 1
            else None
        ),
        "categorical_share": number(doc.get("categorical_share")),
        "missing_share": number(doc.get("missing_share")),
        "mean_abs_correlation": number(doc.get("mean_abs_correlation")),
    }
    for name in LANDMARKERS:
        value = landmarks.get(name) if isinstance(landmarks, Mapping) else None
        out[f"landmark_{name}"] = number(value)
    return out


def vector_names() -> Sequence[str]:
    """The meta-features the distance compares, in order."""
    return _DISTANCE_KEYS
