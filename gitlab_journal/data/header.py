"""A table's column names, read without loading the table (through its decompression, for a
compressed CSV/TSV), and every column the spec names checked against them while the plan is
made: a missing target, a ``columns``/``drop``/``dtypes`` name or a column transformer's column
the table lacks stops `check` and `run` before anything trains, with the spec's file, line and
key.

The names are stripped first (a blank one is ``Unnamed: i``); a name the header then holds
twice is read as pandas reads a header that repeats one (``a``, ``b``, ``a.1``; a name the header
holds already is skipped): the plan says so on stderr, naming the file, the columns and the name
each is read as, and a spec that names such a column by its plain name (which could mean any of
them) stops before anything trains, unless it names each later copy as it is read (``a.1``) too.
The loader names the table's columns from the same header (:func:`read_names`), so the plan, its
warnings and the trained model agree on every name.

The header is read from the work tree's file, or from the bytes the commit holds (the
pre-commit hook's staged blob, HEAD's blob: ``content``).

The standard library only (pyarrow for a Parquet schema, and pandas for ``dtypes`` names, are
imported when such a table or option is there): `check` and the hooks plan.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple

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
def table_bytes(path: Path, content: bytes | None = None) -> Iterator[IO[bytes]]:
    """A text table's bytes, decompressed as pandas decompresses them by the file's name (a
    ``.zip`` must hold one file): the file's at ``path``, or ``content``, the bytes of a file
    of that name. Opening or reading a damaged archive raises one of :func:`read_errors`."""
    import io

    source: Path | IO[bytes] = path if content is None else io.BytesIO(content)
    lower = path.name.lower()
    if lower.endswith(".zip"):
        import zipfile

        try:
            with zipfile.ZipFile(source) as archive:
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
        with opener(source, "rb") as handle:
            yield handle
        return
    if not isinstance(source, Path):
        yield source
        return
    with source.open("rb") as handle:
        yield handle


def read_errors() -> tuple[type[Exception], ...]:
    """What reading a text table, maybe compressed, raises for a bad file: I/O, decoding,
    and each decompressor's own errors (zlib's and lzma's are not OSErrors)."""
    import lzma
    import zlib

    return (OSError, ValueError, EOFError, zlib.error, lzma.LZMAError)


@dataclass(frozen=True)
class Header:
    """A table's columns: ``written``, each name as the header writes it (stripped; a blank
    one as ``Unnamed: i``), and ``names``, as the table is read (a name ``written`` repeats
    is read as ``a.1``, ``a.2``, ... after its first column, as pandas names them: see
    :func:`read_names`)."""

    written: tuple[str, ...]
    names: tuple[str, ...]

    def repeated(self) -> dict[str, list[int]]:
        """Each name the header writes more than once, with its columns (0-based), in order."""
        positions: dict[str, list[int]] = {}
        for i, name in enumerate(self.written):
            positions.setdefault(name, []).append(i)
        return {name: found for name, found in positions.items() if len(found) > 1}


def read_header(
    root: Path, relpath: str, view: TableView | None = None, content: bytes | None = None
) -> list[str]:
    """The column names of the table at ``relpath``, as the table is read (see
    :func:`read_names`), read as ``view`` says the file is written (``content``: from these
    bytes, the file's as the commit holds it, instead of the work tree's)."""
    return list(read_columns(root, relpath, view, content).names)


def read_columns(
    root: Path, relpath: str, view: TableView | None = None, content: bytes | None = None
) -> Header:
    """The :class:`Header` of the table at ``relpath``, read as ``view`` says it is written
    (``content``: from these bytes instead of the work tree's file)."""
    path = Path(root) / relpath
    suffix = table_format(relpath)
    if suffix in CSV_DELIMITERS:
        return csv_columns(path, relpath, suffix, view or TableView(), content)
    pq = parquet(relpath)
    try:
        if content is None:
            schema = pq.read_schema(path)
            rows = pq.read_metadata(path).num_rows
        else:
            import io

            schema = pq.read_schema(io.BytesIO(content))
            rows = pq.read_metadata(io.BytesIO(content)).num_rows
    except (OSError, ValueError) as exc:
        raise JournalError(f"{relpath}: cannot read as Parquet: {exc}") from exc
    if rows == 0:
        raise JournalError(f"{relpath}: the table has no rows")
    index = set()
    meta = schema.pandas_metadata or {}
    for column in meta.get("index_columns", []):
        if isinstance(column, str):
            index.add(column)
    columns = [str(name) for name in schema.names if name not in index]
    return Header(tuple(read_names(columns, unique=False)), tuple(read_names(columns)))


def csv_columns(
    path: Path, relpath: str, suffix: str, view: TableView, content: bytes | None = None
) -> Header:
    """The :class:`Header` of the CSV/TSV table at ``path`` (or in ``content``), from its first
    row: the names the plan checks the spec against and the loader gives the table's columns."""
    import csv  # only for a CSV table: most specs name none
    import io

    sep, _, _, encoding = view.read_options(suffix)
    failures: tuple[type[Exception], ...] = (*read_errors(), csv.Error)
    try:
        with (
            table_bytes(path, content) as raw,
            io.TextIOWrapper(raw, encoding=encoding or "utf-8-sig", newline="") as handle,
        ):
            reader = csv.reader(handle, delimiter=sep)
            row = next(reader, None)
            first = next((r for r in reader if any(cell.strip() for cell in r)), None)
    except failures as exc:
        hint = encoding_hint(encoding) if isinstance(exc, UnicodeDecodeError) else None
        raise JournalError(f"{relpath}: cannot read as a table: {exc}", hint=hint) from exc
    if not row:
        raise JournalError(f"{relpath}: the file is empty", hint="the first row names the columns")
    if first is None:
        raise JournalError(f"{relpath}: the table has no rows")
    return Header(tuple(read_names(row, unique=False)), tuple(read_names(row)))


def read_names(columns: Iterable[Any], *, unique: bool = True) -> list[str]:
    """Column names as a table is read with them: each stripped, a blank one ``Unnamed: i``
    (as pandas names an empty one), then (``unique``) a name given twice made another as
    pandas makes the names of a header that repeats one (:func:`_deduplicated`). Stripped
    first: `` a`` and ``a`` are one name (the later read as ``a.1``, or ``a.2`` when the header
    holds an ``a.1``), and a name the header holds is never given to another column."""
    names = [str(name).strip() for name in columns]
    blank = [i for i, name in enumerate(names) if not name]
    names = [name or f"Unnamed: {i}" for i, name in enumerate(names)]
    return _deduplicated(names, blank) if unique else names


def parquet(relpath: str) -> Any:
    """``pyarrow.parquet``, or an error naming the table that needs it."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingExtra(f"{relpath}: reading Parquet needs pyarrow", extra="parquet") from exc
    return pq


def _deduplicated(names: list[str], unnamed: Sequence[int] = ()) -> list[str]:
    """Repeated names as pandas' readers rename a header's: ``a``, ``a.1``, ``a.2``, ...,
    skipping a name the header holds (``a,a,a.1`` is read as ``a``, ``a.2``, ``a.1``) or one
    given before, so that every name is another; the ``unnamed`` columns (blank in the header)
    are named after the others, so a name written in the header keeps its column."""
    out = list(names)
    blank = set(unnamed)
    counts: dict[str, int] = {}
    for i in [i for i in range(len(out)) if i not in blank] + list(unnamed):
        name = given = out[i]
        count = counts.get(name, 0)
        if count > 0:
            while count > 0:
                counts[given] = count + 1
                name = f"{given}.{count}"
                count = count + 1 if name in out else counts.get(name, 0)
        out[i] = name
        counts[name] = count + 1
    return out


class TableCheck(NamedTuple):
    """What checking a spec's columns against its table's header found."""

    target: str | None  # the target when it is not the last column (the identity holds it)
    warnings: list[str]  # one for each name the header gives two columns
    hint: str | None  # what to do about them


def table_target(
    spec: Spec, root: Path, content: Callable[[str], bytes | None] | None = None
) -> TableCheck:
    """Check every column ``spec`` names against its table's header: the target when it is
    not the table's last column (the default), for the experiment's identity (None for a
    table whose target is its last column, or data that is not a table), and the warnings
    about the header (a spec naming a repeated column by that name is an error).

    ``content``: what gives the bytes of the table at a path as the commit holds it (the
    pre-commit hook's staged blob, HEAD's), the header to read; where it gives None, or
    without it, the work tree's file is read."""
    data = spec.data
    if data.source != "table" or not data.path:
        return TableCheck(None, [], None)
    try:
        held = content(data.path) if content is not None else None
        read = read_columns(root, data.path, data.table, held)
    except JournalError as exc:
        raise JournalError(f"{spec.where('data.path')}: {exc.message}", hint=exc.hint) from exc
    _check_repeated(spec, read)
    header = list(read.names)
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
        for key, where, column in _view_columns(spec):
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
    warnings = _repeated_warnings(spec, read, target)
    hint = None
    if warnings:
        example = next(read.names[p[1]] for p in read.repeated().values())
        hint = (
            "give each column a name of its own in the file's header; the spec names a later "
            f"column of a repeated name as it is read ({example!r})"
        )
    return TableCheck(None if target == header[-1] else target, warnings, hint)


def _view_columns(spec: Spec) -> Iterator[tuple[str, str, str]]:
    """``(key, where, column)`` of each column the data block's ``columns``, ``drop`` and
    ``dtypes`` name, ``where`` at its own line when the spec locates it."""
    view = spec.data.table
    if view is None:
        return
    for key, names in (
        ("columns", view.columns),
        ("drop", view.drop),
        ("dtypes", tuple(c for c, _ in view.dtypes)),
    ):
        for i, column in enumerate(names):
            if key == "dtypes":
                yield key, _at(spec, f"data.dtypes.{column}", f"data.dtypes.{column}"), column
            else:
                yield key, _at(spec, f"data.{key}", f"data.{key}.{i}"), column


def _named_columns(spec: Spec) -> Iterator[tuple[str, str]]:
    """``(where, column)`` of every column the spec names by name: the target, the data
    block's ``columns``, ``drop`` and ``dtypes``, and the column transformers' columns."""
    if spec.data.target is not None:
        yield spec.where("data.target"), spec.data.target
    for _, where, column in _view_columns(spec):
        yield where, column
    for key, value in _transformer_columns(spec):
        names = [value] if isinstance(value, str | int) else value
        if not isinstance(names, list):
            continue
        for i, raw in enumerate(names):
            if isinstance(raw, str):
                yield _at(spec, key, f"{key}.{i}"), raw.strip()


def _check_repeated(spec: Spec, header: Header) -> None:
    """Refuse a spec that names a column the header repeats by its plain name, which could
    mean any of its columns: unless the spec names each later one as it is read (``a.1``) too,
    which says that ``a`` is the first. A Parquet file with a name twice is refused (it is
    read by name)."""
    repeated = header.repeated()
    if not repeated:
        return
    relpath = spec.data.path or ""
    if table_format(relpath) not in CSV_DELIMITERS:
        name, found = next(iter(repeated.items()))
        raise JournalError(
            f"{spec.where('data.path')}: {relpath} has {len(found)} columns named {name!r} "
            f"({_positions(found)}): a Parquet file's columns are read by name",
            hint="write the table again with a name of its own for each column",
        )
    named = list(_named_columns(spec))
    mentioned = {column for _, column in named}
    for where, column in named:
        positions = repeated.get(column)
        if positions is None:
            continue
        copies = [header.names[p] for p in positions[1:]]
        if all(copy in mentioned for copy in copies):
            continue
        read_as = _and([repr(header.names[p]) for p in positions])
        later = ", ".join(f"{header.names[p]!r} for column {p + 1}" for p in positions[1:])
        raise JournalError(
            f"{where}: {column!r} is ambiguous: {relpath} has {len(positions)} columns named "
            f"{column!r} ({_positions(positions)}), read as {read_as}",
            hint=f"give each column a name of its own in the file's header; or name the later "
            f"ones as they are read ({later}) beside {column!r}, which then means column "
            f"{_meant(header, column, positions) + 1}",
        )


def _meant(header: Header, name: str, positions: Sequence[int]) -> int:
    """The column (0-based) a spec's ``name`` reads: the one read as ``name``, the first of
    those the header writes so."""
    return header.names.index(name) if name in header.names else positions[0]


def _repeated_warnings(spec: Spec, header: Header, target: str) -> list[str]:
    """One warning per name the header repeats: its columns, the name each is read as, and
    which the spec's plain name means."""
    lines = []
    where = spec.where("data.path")
    for name, positions in header.repeated().items():
        read_as = _and([f"{header.names[p]!r} (column {p + 1})" for p in positions])
        line = (
            f"{where}: {spec.data.path} has {len(positions)} columns named {name!r} "
            f"({_positions(positions)}), read as {read_as}: {name!r} in the spec means column "
            f"{_meant(header, name, positions) + 1}"
        )
        if spec.data.target is None and target in (header.names[p] for p in positions):
            line += f"; the target, the last column, is {target!r}"
        lines.append(line)
    return lines


def _positions(positions: Sequence[int]) -> str:
    """``columns 4 and 6``, 1-based."""
    return "columns " + _and([str(p + 1) for p in positions])


def _and(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


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
