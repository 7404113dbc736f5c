"""Load a run's data ``(X, y)`` from what the spec's ``data`` block says.

Tables load as pandas DataFrames (column names and dtypes kept, so a model can select columns
by name); other sources as numpy arrays. y is always a numpy array. numpy is imported here;
pandas, scikit-learn and pyarrow only inside the functions that need them.
"""

from __future__ import annotations

import difflib
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gitlab_journal.data.hashing import BUNDLED, MISSING_HINT
from gitlab_journal.errors import JournalError
from gitlab_journal.spec.model import (
    CSV_DELIMITERS,
    PARQUET_SUFFIXES,
    DataSpec,
    TableView,
    table_format,
)
from gitlab_journal.userimport import import_from_root

ENCODE_HINT = "encode non-numeric features in a loader (data: source: loader)"


def load_data(root: Path, data: DataSpec) -> tuple[Any, Any]:
    """``(X, y)`` as numpy arrays: X with one row per sample, y one-dimensional (``None``
    for a command's files, which the command reads itself)."""
    root = Path(root)
    if data.source == "files":  # a command reads its files itself
        return None, None
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
    """numpy arrays, X with samples as rows (a 1-D X is one feature), y flat when one column;
    a pandas DataFrame X (a loader's) is kept, with its column names and dtypes, as a table's
    is, so named-column transformers and category columns work on it."""
    if not _is_frame(X):
        X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim == 0 or y.ndim == 0:
        raise JournalError("X and y must be arrays, not scalars")
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    return X, y


def _is_frame(X: Any) -> bool:
    """Whether ``X`` is a pandas DataFrame (told without importing pandas for other data)."""
    if not type(X).__module__.startswith("pandas"):
        return False
    import pandas as pd

    return isinstance(X, pd.DataFrame)


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
    """A table as a pandas DataFrame of its features (names and dtypes kept) and its target."""
    path = _existing(root, data.path, "table")
    assert data.path is not None
    view = data.table or TableView()
    raw = _raw_key(path, view)
    key = (raw, data.target, view)
    with _RAW_LOCK:
        loaded = _LOADED.get(key)
        if loaded is not None:
            return loaded
        frame = _RAW.pop(raw, None)  # read ahead while the table was hashed (preload_table)
    if frame is None:
        frame = _read_table(path, data.path, view)
    loaded = select(frame, data.path, data.target, view)
    with _RAW_LOCK:
        _LOADED.clear()  # one table in memory at a time
        _LOADED[key] = loaded
    return loaded


def _read_table(path: Path, relpath: str, view: TableView) -> Any:
    suffix = table_format(relpath)
    if suffix in CSV_DELIMITERS:
        return _read_csv(path, relpath, suffix, view)
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(path, relpath)
    raise JournalError(
        f"{relpath}: unknown table format {path.suffix or '(no suffix)'}",
        hint="tables are .csv or .tsv (maybe compressed), .parquet or .pq; read other formats "
        "in a loader",
    )


# One table read ahead, by its path, stat and read options; taken by the next load of it.
_RAW: dict[tuple[Any, ...], Any] = {}
# The last table loaded, split into (X, y), by its path, stat, read options and target: a
# run's checks and every point it trains share one read (a file changed since is read again).
_LOADED: dict[tuple[Any, ...], tuple[Any, Any]] = {}
_RAW_LOCK = threading.Lock()


def forget_tables() -> None:
    """Drop the tables this process read and kept."""
    with _RAW_LOCK:
        _RAW.clear()
        _LOADED.clear()


def _raw_key(path: Path, view: TableView) -> tuple[Any, ...]:
    st = path.stat()
    options = (view.na_values, view.sep, view.decimal, view.thousands, view.encoding)
    return (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino, options)


def preload_table(root: Path, data: DataSpec) -> threading.Thread | None:
    """Start reading a table in a thread, for this process's next :func:`load_data` of it: a
    run reads the table while it hashes it (both are needed once per run). A failure is left
    for that load to report; a file that changes meanwhile is not kept. Join the thread
    before forking."""
    if data.source != "table" or not data.path:
        return None
    path = Path(root) / data.path
    if not path.is_file():
        return None
    view = data.table or TableView()
    relpath = data.path

    def read() -> None:
        try:
            before = _raw_key(path, view)
            frame = _read_table(path, relpath, view)
            if _raw_key(path, view) != before:
                return
        except Exception:  # that load reads the table again and reports what failed
            return
        with _RAW_LOCK:
            _RAW.clear()
            _RAW[before] = frame

    thread = threading.Thread(target=read, name="gitlab-journal-read-table", daemon=True)
    thread.start()
    return thread


def _encoding(path: Path) -> str:
    """UTF-8, with its byte-order mark dropped when the file starts with one: pandas reads
    plain ``utf-8`` on a faster path than ``utf-8-sig``, for the same text."""
    from gitlab_journal.data.header import table_bytes

    with table_bytes(path) as handle:
        return "utf-8-sig" if handle.read(3) == b"\xef\xbb\xbf" else "utf-8"


def _read_csv(path: Path, relpath: str, suffix: str, view: TableView) -> Any:
    """The table, its columns named as the plan names them from its header
    (:func:`~gitlab_journal.data.header.csv_columns`): stripped, then a repeated name made
    ``a.1``, ... past the names the header holds. pandas makes the names of the header as it
    is written, where `` a`` and ``a`` are two, so its own are not kept."""
    import pandas as pd

    from gitlab_journal.data.header import csv_columns, encoding_hint, read_errors

    sep, decimal, thousands, encoding = view.read_options(suffix)
    failures = (pd.errors.ParserError, *read_errors())
    try:
        frame = pd.read_csv(
            path,
            sep=sep,
            decimal=decimal,
            thousands=thousands,
            encoding=encoding or _encoding(path),
            na_values=list(view.na_values) or None,
            skipinitialspace=False,
        )
    except pd.errors.EmptyDataError as exc:
        raise JournalError(f"{relpath}: the file is empty") from exc
    except failures as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = encoding_hint(encoding) if isinstance(exc, UnicodeDecodeError) else None
        raise JournalError(f"{relpath}: cannot read as a table: {detail}", hint=hint) from exc
    names = list(csv_columns(path, relpath, suffix, view).names)
    if len(names) == len(frame.columns) and names != list(frame.columns):
        frame = frame.set_axis(names, axis=1)
    return frame


def _read_parquet(path: Path, relpath: str) -> Any:
    from gitlab_journal.data.header import parquet

    pq = parquet(relpath)
    try:
        return pq.read_table(path).to_pandas()
    except (OSError, ValueError) as exc:
        raise JournalError(f"{relpath}: cannot read as Parquet: {exc}") from exc


def select(frame: Any, relpath: str, target: str | None, view: TableView) -> tuple[Any, Any]:
    """Split a table into ``(X, y)``: X the feature columns the view keeps (dtypes applied), y
    the target as a numpy array (ints when all integral, floats, or strings). Columns are
    named as the plan reads the header (:func:`~gitlab_journal.data.header.read_names`; a
    CSV/TSV table's are so named as it is read)."""
    from gitlab_journal.data.header import read_names

    columns = read_names(frame.columns)
    if columns != list(frame.columns):
        frame = frame.set_axis(columns, axis=1)
    if not columns:
        raise JournalError(f"{relpath}: no columns", hint="the first row must name the columns")
    if len(frame) == 0:
        raise JournalError(f"{relpath}: the table has no rows")
    name = columns[-1] if target is None else target
    if name not in columns:
        raise JournalError(
            f"{relpath}: no target column {name!r}", hint="columns: " + ", ".join(columns)
        )
    for key, names in (
        ("columns", view.columns),
        ("drop", view.drop),
        ("dtypes", tuple(c for c, _ in view.dtypes)),
    ):
        for column in names:
            if column not in columns:
                close = difflib.get_close_matches(column, columns, n=1)
                guess = f" (did you mean {close[0]!r}?)" if close else ""
                raise JournalError(
                    f"{view.located(key)}: {relpath} has no column {column!r}{guess}",
                    hint="columns: " + ", ".join(columns),
                )
            if column == name and key != "dtypes":
                raise JournalError(
                    f"{view.located(key)}: {column!r} is the target, not a feature",
                )
    if view.dtypes:
        try:
            frame = frame.astype(dict(view.dtypes))
        except (TypeError, ValueError) as exc:
            raise _cast_error(frame, relpath, view, exc) from exc
    features = list(view.columns) if view.columns else [c for c in columns if c != name]
    features = [c for c in features if c not in set(view.drop)]
    X = frame[features]
    y = _target(frame[name], relpath, name, csv=table_format(relpath) in CSV_DELIMITERS)
    return X, y


def _cast_error(frame: Any, relpath: str, view: TableView, exc: Exception) -> JournalError:
    """The error for ``dtypes`` that the table's cells do not fit: the column, its dtype's
    line in the spec, and the first cell that does not convert (pandas names neither)."""
    import pandas as pd

    for column, dtype in view.dtypes:
        try:
            frame[column].astype(dtype)
        except (TypeError, ValueError) as failed:
            cells, problem = frame[column], failed
            break
    else:
        return JournalError(f"{view.located('dtypes')}: {relpath}: {exc}")
    text = str(problem).strip()
    detail = text.splitlines()[0] if text else type(problem).__name__
    example = ""
    row = _first_failing(cells, dtype)
    if row is not None:
        value = cells.iloc[row]
        value = value.item() if isinstance(value, np.generic) else value
        shown = "a blank cell" if pd.isna(value) else repr(value)
        shown = shown if len(shown) <= 60 else shown[:59] + "…"
        csv = table_format(relpath) in CSV_DELIMITERS
        example = f", e.g. {shown} in {f'line {row + 2}' if csv else f'row {row + 1}'}"
    return JournalError(
        f"{view.located(f'dtypes.{column}')}: {relpath}: column {column!r} does not convert "
        f"to {dtype}{example}: {detail}",
        hint=_cast_hint(dtype, cells),
    )


def _first_failing(cells: Any, dtype: str) -> int | None:
    """The row of the first cell that does not convert to ``dtype``: runs of cells, each twice
    as long as the last, are cast until one fails, and the failing run is halved down to the
    cell (a run fails whenever a part of it does): a few casts of the column in all."""
    start, size = 0, 1024
    while start < len(cells):
        good, bad = start, min(start + size, len(cells))
        if _converts(cells.iloc[start:bad], dtype):
            start, size = bad, size * 2
            continue
        while bad - good > 1:  # the failing cell is in cells[good:bad]
            middle = (good + bad) // 2
            if _converts(cells.iloc[good:middle], dtype):
                good = middle
            else:
                bad = middle
        return bad - 1 if not _converts(cells.iloc[bad - 1 : bad], dtype) else None
    return None  # it fails only with the others (no single cell to show)


def _converts(cells: Any, dtype: str) -> bool:
    try:
        cells.astype(dtype)
    except (TypeError, ValueError):
        return False
    return True


_NULLABLE = {"int": "Int", "uint": "UInt"}


def _cast_hint(dtype: str, cells: Any) -> str | None:
    import pandas as pd

    kind = dtype.rstrip("0123456789")
    if kind in _NULLABLE and cells.isna().any():
        nullable = _NULLABLE[kind] + (dtype[len(kind) :] or "64")
        return f"the column has blank cells, which {dtype} cannot hold: use {nullable}"
    if pd.api.types.is_float_dtype(cells.dtype) and kind.lower() in _NULLABLE:
        return "the column holds fractions: read it as float64, or round it in a loader"
    return None


def _target(column: Any, relpath: str, name: str, *, csv: bool) -> Any:
    """The target column as numpy: int64 when every value is integral, float64 when numeric,
    else strings (class labels as written)."""
    import pandas as pd

    missing = column.isna().to_numpy()
    if column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
        missing = missing | (column.astype(str).str.strip() == "").to_numpy()
    if missing.any():
        row = int(np.argmax(missing))
        where = f"line {row + 2}" if csv else f"row {row + 1}"
        raise JournalError(
            f"{relpath}: target column {name!r} is empty in {where}",
            hint="drop or fill rows without a target",
        )
    if pd.api.types.is_bool_dtype(column.dtype) or pd.api.types.is_numeric_dtype(column.dtype):
        arr = column.to_numpy(dtype=np.float64)
        integral = bool(np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))
        if integral and bool(np.all(np.abs(arr) < 2**53)):
            return arr.astype(np.int64)
        return arr
    return _target_array([str(v) for v in column.tolist()], relpath, name)


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
