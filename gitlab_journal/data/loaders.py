"""Load a run's data as numpy arrays ``(X, y)`` from what the spec's ``data`` block says.

numpy is imported here; scikit-learn and pyarrow only inside the functions that need them.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gitlab_journal.data.hashing import BUNDLED, MISSING_HINT
from gitlab_journal.errors import JournalError
from gitlab_journal.spec.model import DataSpec
from gitlab_journal.userimport import import_from_root

CSV_SUFFIXES = {".csv": ",", ".tsv": "\t"}
PARQUET_SUFFIXES = (".parquet", ".pq")
ENCODE_HINT = "encode non-numeric features in a loader (data: source: loader)"


def load_data(root: Path, data: DataSpec) -> tuple[Any, Any]:
    """``(X, y)`` as numpy arrays: X with one row per sample, y one-dimensional."""
    root = Path(root)
    if data.source == "sklearn":
        X, y = _load_sklearn(data)
    elif data.source == "table":
        X, y = _load_table(root, data)
    elif data.source == "arrays":
        X, y = _load_arrays(root, data)
    elif data.source == "loader":
        X, y = _load_loader(root, data)
    else:
        raise JournalError(
            f"unknown data source: {data.source}",
            hint="data source is one of: sklearn, table, arrays, loader",
        )
    if len(X) != len(y):
        raise JournalError(
            f"X and y have different lengths: {len(X)} rows of features, {len(y)} targets"
        )
    return X, y


# --- helpers ---------------------------------------------------------------------------------


def _existing(root: Path, relpath: str | None, what: str) -> Path:
    if not relpath:
        raise JournalError(f"data source '{what}' needs a path")
    path = root / relpath
    if not path.is_file():
        raise JournalError(f"data file not found: {relpath}", hint=MISSING_HINT)
    return path


def _shape(X: Any, y: Any) -> tuple[Any, Any]:
    """numpy arrays, X with samples as rows (a 1-D X is one feature), y flat when one column."""
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim == 0 or y.ndim == 0:
        raise JournalError("X and y must be arrays, not scalars")
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    return X, y


def _parse_float(text: str) -> float | None:
    """A feature cell as a float: empty is nan; None when it is not a number."""
    text = text.strip()
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return None


def _target_array(values: Sequence[Any], source: str, column: str) -> Any:
    """The target column: ints if all integral numbers, floats if all numbers, else strings."""
    numbers: list[float] = []
    numeric = True
    for i, value in enumerate(values):
        if value is None or (isinstance(value, str) and not value.strip()):
            raise JournalError(
                f"{source}: target column {column!r} is empty in row {i + 1}",
                hint="drop or fill rows without a target",
            )
        if isinstance(value, bool):
            numbers.append(float(value))
            continue
        if isinstance(value, int | float):
            numbers.append(float(value))
            continue
        try:
            numbers.append(float(str(value).strip()))
        except ValueError:
            numeric = False
            break
    if not numeric:
        return np.array([str(v).strip() if isinstance(v, str) else str(v) for v in values])
    arr = np.array(numbers, dtype=np.float64)
    integral = bool(np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))
    if integral and bool(np.all(np.abs(arr) < 2**53)):
        return arr.astype(np.int64)
    return arr


def _target_index(columns: Sequence[str], target: str | None, source: str) -> int:
    if not columns:
        raise JournalError(f"{source}: no columns", hint="the first row must name the columns")
    if target is None:
        return len(columns) - 1
    if target not in columns:
        raise JournalError(
            f"{source}: no target column {target!r}",
            hint="columns: " + ", ".join(columns),
        )
    return list(columns).index(target)


def _non_numeric(source: str, column: str, detail: str) -> JournalError:
    return JournalError(
        f"{source}: feature column {column!r} is not numeric ({detail})",
        hint=ENCODE_HINT,
    )


# --- sklearn ---------------------------------------------------------------------------------


def _load_sklearn(data: DataSpec) -> tuple[Any, Any]:
    if not data.name or data.name not in BUNDLED:
        raise JournalError(
            f"unknown scikit-learn data set: {data.name}",
            hint="known data sets: " + ", ".join(sorted(BUNDLED)),
        )
    try:
        import sklearn.datasets
    except ImportError as exc:
        raise JournalError(
            "scikit-learn is not installed", hint="pip install scikit-learn"
        ) from exc
    load = getattr(sklearn.datasets, f"load_{data.name}")
    X, y = load(return_X_y=True)
    return _shape(X, y)


# --- tables ----------------------------------------------------------------------------------


def _load_table(root: Path, data: DataSpec) -> tuple[Any, Any]:
    path = _existing(root, data.path, "table")
    assert data.path is not None
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return _load_csv(path, data.path, data.target, CSV_SUFFIXES[suffix])
    if suffix in PARQUET_SUFFIXES:
        return _load_parquet(path, data.path, data.target)
    raise JournalError(
        f"{data.path}: unknown table format {suffix or '(no suffix)'}",
        hint="tables are .csv, .tsv, .parquet or .pq; read other formats in a loader",
    )


def _load_csv(path: Path, relpath: str, target: str | None, delimiter: str) -> tuple[Any, Any]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            raise JournalError(f"{relpath}: the file is empty")
        columns = [c.strip() for c in header]
        t = _target_index(columns, target, relpath)
        features = [i for i in range(len(columns)) if i != t]
        rows: list[list[float]] = []
        targets: list[str] = []
        for line_no, row in enumerate(reader, start=2):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line
            if len(row) != len(columns):
                raise JournalError(
                    f"{relpath}: line {line_no} has {len(row)} fields, the header {len(columns)}"
                )
            values: list[float] = []
            for i in features:
                value = _parse_float(row[i])
                if value is None:
                    raise _non_numeric(relpath, columns[i], f"line {line_no}: {row[i]!r}")
                values.append(value)
            rows.append(values)
            targets.append(row[t])
    X = np.array(rows, dtype=np.float64).reshape(len(rows), len(features))
    y = _target_array(targets, relpath, columns[t])
    return X, y


def _load_parquet(path: Path, relpath: str, target: str | None) -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise JournalError(
            f"{relpath}: reading Parquet needs pyarrow",
            hint="pip install 'gitlab-journal[parquet]'",
        ) from exc
    table = pq.read_table(path)
    columns = [str(c) for c in table.column_names]
    t = _target_index(columns, target, relpath)
    n = table.num_rows
    feature_arrays: list[Any] = []
    for i, name in enumerate(columns):
        if i == t:
            continue
        col = table.column(i)
        if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
            arr = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
            feature_arrays.append(np.asarray(arr, dtype=np.float64))
        elif pa.types.is_boolean(col.type) or pa.types.is_null(col.type):
            values = [math.nan if v is None else float(v) for v in col.to_pylist()]
            feature_arrays.append(np.array(values, dtype=np.float64))
        elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            parsed: list[float] = []
            for row, v in enumerate(col.to_pylist(), start=1):
                value = math.nan if v is None else _parse_float(v)
                if value is None:
                    raise _non_numeric(relpath, name, f"row {row}: {v!r}")
                parsed.append(value)
            feature_arrays.append(np.array(parsed, dtype=np.float64))
        else:
            raise _non_numeric(relpath, name, f"type {col.type}")
    X = np.column_stack(feature_arrays) if feature_arrays else np.empty((n, 0), np.float64)
    y = _target_array(table.column(t).to_pylist(), relpath, columns[t])
    return X, y


# --- arrays ----------------------------------------------------------------------------------


def _np_load(path: Path, relpath: str) -> Any:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise JournalError(
            f"{relpath}: cannot read as a numpy array file: {exc}",
            hint="save plain numeric or string arrays (object arrays need pickle, refused)",
        ) from exc


def _load_arrays(root: Path, data: DataSpec) -> tuple[Any, Any]:
    if data.path:
        path = _existing(root, data.path, "arrays")
        loaded = _np_load(path, data.path)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise JournalError(
                f"{data.path}: expected an .npz archive holding X and y",
                hint="or give x and y as two .npy files",
            )
        with loaded as archive:
            keys = list(archive.files)
            x_key = "X" if "X" in keys else "x" if "x" in keys else None
            if x_key is None or "y" not in keys:
                raise JournalError(
                    f"{data.path}: the archive must hold arrays named X and y",
                    hint="it holds: " + (", ".join(keys) or "nothing"),
                )
            return _shape(archive[x_key], archive["y"])
    if not data.x or not data.y:
        raise JournalError(
            "data source 'arrays' needs a path to an .npz, or both x and y .npy files"
        )
    x_path = _existing(root, data.x, "arrays")
    y_path = _existing(root, data.y, "arrays")
    X = _np_load(x_path, data.x)
    y = _np_load(y_path, data.y)
    for relpath, arr in ((data.x, X), (data.y, y)):
        if not isinstance(arr, np.ndarray):
            raise JournalError(f"{relpath}: expected one array (.npy), found an archive")
    return _shape(X, y)


# --- user loaders ----------------------------------------------------------------------------


def _load_loader(root: Path, data: DataSpec) -> tuple[Any, Any]:
    spec = data.loader or ""
    module_name, sep, func_name = spec.partition(":")
    if not sep or not module_name or not func_name:
        raise JournalError(
            f"loader must be 'module:function', got {spec!r}",
            hint="e.g. loader: prepare:load_data",
        )
    func = import_from_root(root, spec, what="loader")
    result = func(**dict(data.args))
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise JournalError(
            f"loader {spec} must return a tuple (X, y), got {type(result).__name__}",
        )
    return _shape(result[0], result[1])
