"""A table's column names, read without loading the table (through its decompression, for a
compressed CSV/TSV), and every column the spec names checked against them while the plan is
made: a missing target, a ``columns``/``drop``/``dtypes`` name or a column transformer's column
the table lacks stops `check` and `run` before anything trains, with the spec's file, line and
key.

The standard library only (pyarrow for a Parquet schema and pandas for ``dtypes`` names are
imported when such a table or option is there): `check` and the hooks plan.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from gitlab_journal.errors import JournalError, MissingExtra
from gitlab_journal.spec.model import CSV_DELIMITERS, Spec, TableView, table_format

TRANSFORMER_COLUMNS = re.compile(r"\.transformers\.\d+\.columns$")


def encoding_hint(encoding: str | None) -> str:
    """What to do about a table that does not decode as ``encoding`` (None: UTF-8)."""
    if encoding is None:
        return (
            "a file that is not UTF-8 needs its encoding: add encoding: latin-1 (or cp1252, ...) "
            "to the data block"
        )
    return f"the file is not {encoding}: give the encoding it was written in"


@contextlib.contextmanager
def table_bytes(path: Path) -> Iterator[IO[bytes]]:
    """A text table's bytes, decompressed as pandas decompresses them by the file's name (a
    ``.zip`` must hold one file). Opening or reading a damaged archive raises one of
    :func:`read_errors`."""
    lower = path.name.lower()
    if lower.endswith(".zip"):
        import zipfile

        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                if len(names) != 1:
                    raise ValueError(f"a .zip table holds one file; this one holds {len(names)}")
                with archive.open(names[0]) as member:
                    yield member
        except zipfile.BadZipFile as exc:
            raise ValueError(f"not a zip file: {exc}") from exc
        return
    if lower.endswith((".gz", ".bz2", ".xz")):
        import bz2
        import gzip
        import lzma

        opener: Any = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}[path.suffix.lower()]
        with opener(path, "rb") as handle:
            yield handle
        return
    with path.open("rb") as handle:
        yield handle


def read_errors() -> tuple[type[Exception], ...]:
    """What reading a text table, maybe compressed, raises for a bad file: I/O, decoding,
    and each decompressor's own errors (zlib's and lzma's are not OSErrors)."""
    import lzma
    import zlib

    return (OSError, ValueError, EOFError, zlib.error, lzma.LZMAError)


def read_header(root: Path, relpath: str, view: TableView | None = None) -> list[str]:
    """The column names of the table at ``relpath``, as pandas names them (an empty name in a
    CSV header is ``Unnamed: i``), read as ``view`` says the file is written."""
    path = Path(root) / relpath
    suffix = table_format(relpath)
    if suffix in CSV_DELIMITERS:
        import csv  # only for a CSV table: most specs name none
        import io

        sep, _, _, encoding = (view or TableView()).read_options(suffix)
        failures: tuple[type[Exception], ...] = (*read_errors(), csv.Error)
        try:
            with (
                table_bytes(path) as raw,
                io.TextIOWrapper(raw, encoding=encoding or "utf-8-sig", newline="") as handle,
            ):
                reader = csv.reader(handle, delimiter=sep)
                row = next(reader, None)
                first = next((r for r in reader if any(cell.strip() for cell in r)), None)
        except failures as exc:
            hint = encoding_hint(encoding) if isinstance(exc, UnicodeDecodeError) else None
            raise JournalError(f"{relpath}: cannot read as a table: {exc}", hint=hint) from exc
        if not row:
            raise JournalError(
                f"{relpath}: the file is empty", hint="the first row names the columns"
            )
        if first is None:
            raise JournalError(f"{relpath}: the table has no rows")
        return _deduplicated([name.strip() or f"Unnamed: {i}" for i, name in enumerate(row)])
    pq = parquet(relpath)
    try:
        schema = pq.read_schema(path)
        rows = pq.read_metadata(path).num_rows
    except (OSError, ValueError) as exc:
        raise JournalError(f"{relpath}: cannot read as Parquet: {exc}") from exc
    if rows == 0:
        raise JournalError(f"{relpath}: the table has no rows")
    index = set()
    meta = schema.pandas_metadata or {}
    for column in meta.get("index_columns", []):
        if isinstance(column, str):
            index.add(column)
    return [str(name).strip() for name in schema.names if name not in index]


def parquet(relpath: str) -> Any:
    """``pyarrow.parquet``, or an error naming the table that needs it."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingExtra(f"{relpath}: reading Parquet needs pyarrow", extra="parquet") from exc
    return pq


def _deduplicated(names: list[str]) -> list[str]:
    """Repeated names as pandas renames them: ``a``, ``a.1``, ``a.2``."""
    seen: dict[str, int] = {}
    out: list[str] = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        out.append(name if count == 0 else f"{name}.{count}")
    return out


def table_target(spec: Spec, root: Path) -> str | None:
    """Check every column ``spec`` names against its table's header, and return the target
    when it is not the table's last column (the default), for the experiment's identity; None
    for a table whose target is its last column, or data that is not a table."""
    data = spec.data
    if data.source != "table" or not data.path:
        return None
    try:
        header = read_header(root, data.path, data.table)
    except JournalError as exc:
        raise JournalError(f"{spec.where('data.path')}: {exc.message}", hint=exc.hint) from exc
    target = data.target if data.target is not None else header[-1]
    if target not in header:
        raise JournalError(
            f"{spec.where('data.target')}: {data.path} has no column {target!r}"
            + _guess(target, header),
            hint=_columns_hint(header),
        )
    view = data.table
    features = [c for c in header if c != target]
    if view is not None:
        for key, names in (
            ("columns", view.columns),
            ("drop", view.drop),
            ("dtypes", tuple(c for c, _ in view.dtypes)),
        ):
            for i, column in enumerate(names):
                item = f"data.dtypes.{column}" if key == "dtypes" else f"data.{key}.{i}"
                where = _at(
                    spec, f"data.dtypes.{column}" if key == "dtypes" else f"data.{key}", item
                )
                if column not in header:
                    raise JournalError(
                        f"{where}: {data.path} has no column {column!r}{_guess(column, header)}",
                        hint=_columns_hint(header),
                    )
                if column == target and key != "dtypes":
                    raise JournalError(f"{where}: {column!r} is the target, not a feature")
        _check_dtypes(spec, view.dtypes)
        if view.columns:
            features = list(view.columns)
        features = [c for c in features if c not in set(view.drop)]
    _check_transformers(spec, header, target, features)
    return None if target == header[-1] else target


def _columns_hint(header: Sequence[str]) -> str:
    """The table's columns; for a header read as one column that holds another separator (a
    file written with ';' read as comma-separated), the ``sep`` that reads it."""
    if len(header) == 1:
        found = [c for c in (";", "|", "\t", ",") if c in header[0]]
        if found:
            shown = '"\\t"' if found[0] == "\t" else repr(found[0])
            return (
                f"the header reads as one column, {header[0]!r}: for a file whose columns are "
                f"separated by {shown}, add sep: {shown} to the data block"
            )
    return "columns: " + ", ".join(header)


def _at(spec: Spec, key: str, item: str) -> str:
    """``file:line: key`` at the line of ``item`` (an entry of ``key``) when it is known."""
    located = spec.where(key)
    line = spec.lines.get(item)
    if line is None:
        return located
    shown = located[: -len(f": {key}")].rpartition(":")[0]
    return f"{shown}:{line}: {key}"


def _check_dtypes(spec: Spec, dtypes: Sequence[tuple[str, str]]) -> None:
    if not dtypes:
        return
    import pandas as pd

    for column, name in dtypes:
        try:
            pd.api.types.pandas_dtype(name)
        except (TypeError, ValueError) as exc:
            raise JournalError(
                f"{spec.where(f'data.dtypes.{column}')}: {name!r} is not a data type pandas knows",
                hint="e.g. category, str, float64, Int64, boolean",
            ) from exc


def _check_transformers(spec: Spec, header: list[str], target: str, features: list[str]) -> None:
    """A column transformer's block may take only the features the table view keeps."""
    kept = set(features)
    for key, value in _transformer_columns(spec):
        names = [value] if isinstance(value, str | int) else value
        if not isinstance(names, list):
            continue
        for i, raw in enumerate(names):
            if isinstance(raw, bool) or not isinstance(raw, str | int):
                continue
            column = str(raw).strip()
            if column in kept:
                continue
            where = _at(spec, key, f"{key}.{i}")
            if column == target:
                raise JournalError(f"{where}: {column!r} is the target, not a feature")
            if column in header:
                raise JournalError(
                    f"{where}: column {column!r} is not among the features the data block keeps",
                    hint="features: " + ", ".join(features),
                )
            raise JournalError(
                f"{where}: {spec.data.path} has no column {column!r}{_guess(column, header)}",
                hint="features: " + ", ".join(features),
            )


def _transformer_columns(spec: Spec) -> Iterator[tuple[str, Any]]:
    """``(dotted key, value)`` of every column transformer block's ``columns`` in the models."""
    for key in sorted(spec.lines, key=lambda k: (spec.lines[k], k)):
        if not key.startswith("model") or not TRANSFORMER_COLUMNS.search(key):
            continue
        found, value = _lookup(spec.document, key.split("."))
        if found:
            yield key, value


def _lookup(document: Any, parts: list[str]) -> tuple[bool, Any]:
    value = document
    for part in parts:
        if isinstance(value, list):
            if not part.isdigit() or int(part) >= len(value):
                return False, None
            value = value[int(part)]
        elif isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return False, None
    return True, value


def _guess(name: str, columns: Sequence[str]) -> str:
    import difflib  # only for an error

    close = difflib.get_close_matches(name, list(columns), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
