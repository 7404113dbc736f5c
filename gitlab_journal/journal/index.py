"""The derived SQLite index of the journal, for log, filter, sort and run look-up.

It lives at ``<git dir>/journal/index.sqlite`` and is never the source of truth: it records the
journal tip it reflects, catches up from there by reading only the run folders that changed,
and rebuilds itself from the tip's tree whenever it is missing, corrupt, of another schema, or
reflects a history the branch no longer extends. When another process holds it locked for longer
than the busy timeout, a private in-memory index built from the store answers instead.

It keeps only what queries and table rows use (the full records stay in git, read with
:meth:`Index.load`), compactly:

- ``runs``: one row per run. Its ``seq`` (the rowid) follows the order of (created, id), with
  gaps for runs that arrive later, so "newest first" and every tie of a sort read ``seq``.
  Fingerprint and journal commit are binary; model, params, data and code state point into
  tables of distinct values (a grid shares them), and so does how a table was read (its
  identity's ``table``, flattened: ``dtypes.sex``); metrics are packed doubles.
- ``metric_values`` (metric, value, seq) and ``param_values`` (param, value, params set): the
  value of each metric of each run and of each param of each distinct params set, as
  ``json_extract`` reads it from the record's JSON, so filters and sorts on any metric or param
  are index range scans with exactly the meaning they had on the JSON.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import hashlib
import json
import math
import os
import re
import sqlite3
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import pygit2

from gitlab_journal.errors import CheckFailed, JournalError
from gitlab_journal.journal import format as fmt
from gitlab_journal.journal import index_read
from gitlab_journal.journal import where as where_lang
from gitlab_journal.journal.identity import json_safe
from gitlab_journal.journal.index_read import (
    Bad,
    Entry,
    Job,
    unpack_metrics,
    unpack_values,
)
from gitlab_journal.journal.records import REPRODUCTION_STATUSES, STATUSES, Run
from gitlab_journal.journal.store import Store, tree_format

__all__ = [
    "FIELDS_HINT",
    "INDEX_FILE",
    "Index",
    "Row",
    "model_class",
    "open_index",
    "parse_where",
    "resolve_run",
]

SCHEMA_VERSION = 8  # 8: a run's reproduction is its newest rerun by `checked`
SHOWN_INVALID = 10  # warning lines for bad records, then one line counting the rest
INDEX_FILE = "index.sqlite"
BUSY_TIMEOUT_S = 5.0
MIN_PREFIX = 4
GAP = 1024  # between the seq of neighbouring runs at a rebuild: room for later arrivals
_INT64 = (-(1 << 63), (1 << 63) - 1)

_DOC_TABLES = ("psets", "datas", "codes", "mnames", "tables")
# The indexes of the runs table: a rebuild drops them, inserts every run, then creates them
# again (one sort each, where keeping them up to date cost a B-tree insert per run and index).
_RUN_INDEXES = {
    "runs_id": "CREATE UNIQUE INDEX runs_id ON runs (id)",
    "runs_fp": "CREATE INDEX runs_fp ON runs (substr(fp, 1, 8))",
    "runs_params": "CREATE INDEX runs_params ON runs (params)",
    "runs_table": "CREATE INDEX runs_table ON runs (tbl)",
}
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE runs (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    fp BLOB NOT NULL,
    "commit" BLOB,
    created TEXT NOT NULL,
    status TEXT NOT NULL,
    model INTEGER NOT NULL,
    name TEXT,
    params INTEGER NOT NULL,
    data INTEGER NOT NULL,
    code INTEGER NOT NULL,
    metrics BLOB NOT NULL,
    mnames INTEGER,
    reproduction TEXT,
    tbl INTEGER NOT NULL
);
CREATE TABLE models (
    id INTEGER PRIMARY KEY,
    model TEXT NOT NULL,
    model_class TEXT NOT NULL COLLATE NOCASE,
    kind TEXT
);
CREATE TABLE psets (id INTEGER PRIMARY KEY, hash INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE INDEX psets_hash ON psets (hash);
CREATE TABLE datas (id INTEGER PRIMARY KEY, hash INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE INDEX datas_hash ON datas (hash);
CREATE TABLE codes (id INTEGER PRIMARY KEY, hash INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE INDEX codes_hash ON codes (hash);
CREATE TABLE mnames (id INTEGER PRIMARY KEY, hash INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE INDEX mnames_hash ON mnames (hash);
CREATE TABLE tables (id INTEGER PRIMARY KEY, hash INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE INDEX tables_hash ON tables (hash);
CREATE TABLE keys (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE metric_values (
    key INTEGER NOT NULL, value NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (key, value, seq)
) WITHOUT ROWID;
CREATE TABLE param_values (
    key INTEGER NOT NULL, value NOT NULL, params INTEGER NOT NULL,
    PRIMARY KEY (key, value, params)
) WITHOUT ROWID;
CREATE TABLE invalid (run_dir TEXT PRIMARY KEY, id TEXT NOT NULL, problem TEXT);
CREATE INDEX invalid_id ON invalid (id);
""" + "".join(f"{sql};\n" for sql in _RUN_INDEXES.values())

_COLUMNS = (
    'r.seq, r.id, r.fp, r."commit", r.created, r.status, r.model, r.name, r.params, r.data, '
    "r.code, r.metrics, r.mnames, r.reproduction, r.tbl"
)
_INSERT = (
    'INSERT INTO runs (seq, id, fp, "commit", created, status, model, name, params, data, code, '
    "metrics, mnames, reproduction, tbl) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

_TRAILER_RUN = re.compile(rf"^{fmt.TRAILER_RUN}:\s*(\S+)\s*$", re.MULTILINE)
_HEX = re.compile(r"^[0-9a-f]{4,40}$")
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


# -- rows ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """What the index holds of one run: enough to print a table row."""

    id: str
    fingerprint: str
    commit: str | None
    created: str
    status: str
    model: str
    kind: str | None
    name: str | None
    params: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    data: Mapping[str, Any] = field(default_factory=dict)
    code: Mapping[str, Any] = field(default_factory=dict)
    reproduction: str | None = None  # "reproduced" or "irreproducible" by the latest rerun
    # How a table was read: the identity's ``table``, flattened (``dtypes.sex``); empty for
    # data that is no table, or a table read with no options.
    table: Mapping[str, Any] = field(default_factory=dict)

    @property
    def model_class(self) -> str:
        return model_class(self.model)

    def headline(self) -> tuple[str, float] | None:
        """The first metric that is not a ``_std`` or a time, if it is a finite number."""
        for key, value in self.metrics.items():
            if key.endswith("_std") or key.endswith("_time"):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return None
            return (key, float(value)) if math.isfinite(value) else None
        return None


def model_class(model: str) -> str:
    """The class name of an import path: ``sklearn.svm.SVC`` -> ``SVC``."""
    return model.rsplit(".", 1)[-1]


def _hash(text: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True
    )


_scratch: dict[int, sqlite3.Connection] = {}


def _evaluate(sql: str, args: Sequence[Any]) -> Any:
    """One value computed by SQLite itself (json_extract of an odd value, a clause's outcome
    on NULL), on this process's private in-memory connection."""
    conn = _scratch.get(os.getpid())
    if conn is None:
        _scratch.clear()  # a forked child does not use its parent's
        conn = _scratch[os.getpid()] = sqlite3.connect(":memory:", check_same_thread=False)
    return conn.execute(sql, args).fetchone()[0]


def sql_value(value: Any) -> Any:
    """What ``json_extract`` returns for ``value`` inside a record's JSON (None: SQL NULL)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int) and _INT64[0] <= value <= _INT64[1]:
        return value
    text = json.dumps(json_safe(value), ensure_ascii=False, allow_nan=False, default=str)
    return _evaluate("SELECT json_extract(?, '$')", (text,))


def _value_pairs(doc: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(key, SQL value) of each top-level entry that is not null."""
    for key, value in doc.items():
        found = sql_value(value)
        if found is not None:
            yield str(key), found


# -- filters: --where, --sort ---------------------------------------------------------------

_SIDE_FIELDS = {"params": ("param_values", "params"), "metrics": ("metric_values", "seq")}
# A field's table of documents, and the runs column that points into it.
_DOC_FIELDS = {"data": ("datas", "data"), "code": ("codes", "code"), "table": ("tables", "tbl")}
_MODEL_FIELDS = {"model": "model", "kind": "kind"}
_PLAIN_FIELDS = {
    "id": "r.id",
    "fingerprint": "lower(hex(r.fp))",
    "commit": 'CASE WHEN r."commit" IS NULL THEN NULL ELSE lower(hex(r."commit")) END',
    "created": "r.created",
    "status": "r.status",
    "name": "r.name",
    "reproduction": "r.reproduction",
}
FIELDS_HINT = (
    "fields: params.NAME, metrics.NAME, data.NAME, code.NAME, table.NAME, "
    + ", ".join(sorted([*_PLAIN_FIELDS, *_MODEL_FIELDS]))
    + "; operators: == = != > >= < <= ~, FIELD in [A, B]; join with and, or, not, ( )"
)

_FIELD_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[^\s=!<>~\"']*)?)\s*")


@dataclass(frozen=True)
class _Field:
    group: str  # "plain", "model", "side", "doc"
    name: str
    column: str = ""  # plain: the SQL expression; model: the models column; doc: the table
    key: str = ""  # side and doc fields: the key inside the record's object


def _field(name: str, expression: str) -> _Field:
    if name in _PLAIN_FIELDS:
        return _Field("plain", name, _PLAIN_FIELDS[name])
    if name in _MODEL_FIELDS:
        return _Field("model", name, _MODEL_FIELDS[name])
    head, dot, key = name.partition(".")
    if dot and key and (head in _SIDE_FIELDS or head in _DOC_FIELDS):
        if '"' in key:
            raise JournalError(f"bad field {name!r} in {expression!r}: it holds a quote")
        if head in _SIDE_FIELDS:
            return _Field("side", name, head, key)
        return _Field("doc", name, head, key)
    raise JournalError(f"unknown field {name!r} in {expression!r}", hint=FIELDS_HINT)


def parse_where(expression: str) -> where_lang.Node:
    """The tree of one ``--where`` expression (see journal/where.py); unknown fields fail."""
    return where_lang.parse(expression, lambda name: _field(name, expression))


def _compare(
    x: str, xa: Sequence[Any], clause: where_lang.Clause, expression: str
) -> tuple[str, list[Any]]:
    """The comparison ``clause`` of the value ``x`` (an SQL expression, bound with ``xa``)."""
    op, value = clause.op, clause.value

    def twice(n: int) -> list[Any]:
        return list(xa) * n

    if op == "~":
        pattern = clause.raw
        if any(c in pattern for c in "*?["):
            return f"({x} IS NOT NULL AND CAST({x} AS TEXT) GLOB ?)", [*twice(2), pattern]
        return (
            f"({x} IS NOT NULL AND instr(lower(CAST({x} AS TEXT)), lower(?)) > 0)",
            [*twice(2), pattern],
        )
    if value is None:
        if op == "==":
            return f"({x} IS NULL)", twice(1)
        if op == "!=":
            return f"({x} IS NOT NULL)", twice(1)
        raise JournalError(f"malformed --where {expression!r}: null only compares with == or !=")
    if clause.field == "model" and op in ("==", "!="):
        sql = "(model = ? OR model_class = ?)"
        return (sql if op == "==" else f"NOT {sql}"), [clause.raw, clause.raw]
    numeric = not clause.quoted and not isinstance(value, str)
    if numeric:
        number = int(value) if isinstance(value, bool) else value
        if isinstance(number, int):  # beyond 64 bits: a real, as the index keeps such values
            number = sql_value(number)
        if op == "==":
            return f"({x} = ? OR {x} = ?)", [*xa, number, *xa, clause.raw]
        if op == "!=":
            return (
                f"({x} IS NOT NULL AND {x} != ? AND {x} != ?)",
                [*xa, *xa, number, *xa, clause.raw],
            )
        return f"(typeof({x}) IN ('integer', 'real') AND {x} {op} ?)", [*xa, *xa, number]
    if op == "==":
        return f"({x} = ?)", [*xa, value]
    if op == "!=":
        return f"({x} IS NOT NULL AND {x} != ?)", [*xa, *xa, value]
    return f"(typeof({x}) = 'text' AND {x} {op} ?)", [*xa, *xa, value]


class _Sql:
    """Turns ``--where``, ``--model``, ``--status`` and ``--sort`` into SQL over this schema;
    ``key_id`` names a metric or param key's id (None: no run has it)."""

    def __init__(
        self,
        key_id: Callable[[str], int | None],
        params_ref: str = "r.params",
        table_ref: str = "r.tbl",
    ):
        self.key_id = key_id
        self.params_ref = params_ref  # the params set a param comparison looks at
        self.table_ref = table_ref  # the table options a table comparison looks at

    def clause(self, clause: where_lang.Clause, expression: str) -> tuple[str, list[Any]]:
        f = _field(clause.field, expression)
        if f.name == "fingerprint" and clause.op == "==" and _FINGERPRINT.fullmatch(clause.raw):
            # Whatever the literal parses as, only the text equal to it matches: look it up
            # in the index of the fingerprints' first bytes.
            fp = bytes.fromhex(clause.raw)
            return "(substr(r.fp, 1, 8) = ? AND r.fp = ?)", [fp[:8], fp]
        if f.group == "plain":
            return _compare(f.column, (), clause, expression)
        if f.group == "model":
            sql, args = _compare(f.column, (), clause, expression)
            return f"r.model IN (SELECT id FROM models WHERE {sql})", args
        if f.group == "doc":
            # Each run points at one document of the table: the comparison on that document's
            # JSON, as it was on the run's own.
            sql, args = _compare("json_extract(doc, ?)", (f'$."{f.key}"',), clause, expression)
            table, column = _DOC_FIELDS[f.column]
            ref = self.table_ref if f.column == "table" else f"r.{column}"
            return f"{ref} IN (SELECT id FROM {table} WHERE {sql})", args
        table, owner = _SIDE_FIELDS[f.column]
        sql, args = _compare("value", (), clause, expression)
        # A run without the key, or with null there, compares as NULL does: one constant.
        null_sql, null_args = _compare("NULL", (), clause, expression)
        holds_for_null = bool(_evaluate(f"SELECT COALESCE({null_sql}, 0)", null_args))
        key = self.key_id(f.key)
        if key is None:
            return ("1" if holds_for_null else "0"), []
        ref = self.params_ref if owner == "params" else f"r.{owner}"
        if not holds_for_null:
            holds = f"SELECT {owner} FROM {table} WHERE key = ? AND {sql}"
            return f"{ref} IN ({holds})", [key, *args]
        fails = f"SELECT {owner} FROM {table} WHERE key = ? AND NOT COALESCE({sql}, 0)"
        return f"{ref} NOT IN ({fails})", [key, *args]

    def where(
        self, where: Iterable[str], model: str | None = None, status: str | None = None
    ) -> tuple[list[str], list[Any]]:
        parts: list[str] = []
        args: list[Any] = []
        for expression in where:
            node = parse_where(expression)
            sql, clause_args = where_lang.to_sql(
                node, functools.partial(self.clause, expression=expression)
            )
            parts.append(sql)
            args.extend(clause_args)
            for term in node.operands if isinstance(node, where_lang.And) else (node,):
                if (
                    isinstance(term, where_lang.Clause)
                    and term.field == "fingerprint"
                    and term.op == "=="
                    and _FINGERPRINT.fullmatch(term.raw)
                ):
                    # implied by the clause; bare, so that the fingerprint index answers it
                    parts.append("substr(r.fp, 1, 8) = ?")
                    args.append(bytes.fromhex(term.raw)[:8])
        if model:
            # An import path has dots, a class name none.
            column = "model" if "." in model else "model_class"
            parts.append(f"r.model IN (SELECT id FROM models WHERE {column} = ?)")
            args.append(model)
        if status:
            if status in REPRODUCTION_STATUSES:
                # what the latest `git journal rerun` of a run found
                parts.append("r.reproduction = ?")
            elif status in STATUSES:
                parts.append("r.status = ?")
            else:
                known = (*STATUSES, *REPRODUCTION_STATUSES)
                raise JournalError(f"unknown status {status!r}", hint="one of: " + ", ".join(known))
            args.append(status)
        return parts, args


def where_sql(
    where: Iterable[str],
    model: str | None = None,
    status: str | None = None,
    key_id: Callable[[str], int | None] = lambda key: None,
) -> tuple[str, list[Any]]:
    """The SQL ``WHERE`` text (or ``''``) over ``runs r`` and its bound arguments."""
    parts, args = _Sql(key_id).where(where, model, status)
    return (" WHERE " + " AND ".join(parts) if parts else ""), args


@dataclass(frozen=True)
class _Order:
    """``--sort``: ``side`` (metric or param, table and owner) when it reads a side table,
    else ``sql``, an expression over ``runs r`` (empty: by (created, id), that is ``seq``)."""

    sql: str = ""
    args: tuple[Any, ...] = ()
    side: tuple[str, str] | None = None
    key: str = ""


def _order(sort: str | None) -> _Order:
    if not sort:
        return _Order()
    name = sort.strip()
    if not _FIELD_RE.fullmatch(name):
        raise JournalError(f"malformed --sort {sort!r}", hint=FIELDS_HINT)
    f = _field(name, sort)
    if f.name == "created":
        return _Order()
    if f.group == "plain":
        return _Order(f.column)
    if f.group == "model":
        return _Order(f"(SELECT {f.column} FROM models WHERE id = r.model)")
    if f.group == "doc":
        table, column = _DOC_FIELDS[f.column]
        return _Order(
            f"(SELECT json_extract(doc, ?) FROM {table} WHERE id = r.{column})",
            (f'$."{f.key}"',),
        )
    return _Order(side=_SIDE_FIELDS[f.column], key=f.key)


def order_sql(sort: str | None, ascending: bool) -> tuple[str, list[Any]]:
    """``ORDER BY``: a key best (largest) first with NULLs last, then (created, id) the same
    way; ``ascending`` flips both. A metric or param sort reads its side table in
    :meth:`Index.query` instead; here it is the same order as one (slower) expression."""
    direction = "ASC" if ascending else "DESC"
    order = _order(sort)
    tail = f"r.seq {direction}"
    if order.side is not None:
        table, owner = order.side
        value = (
            f"(SELECT value FROM {table} WHERE key = (SELECT id FROM keys WHERE name = ?) "
            f"AND {owner} = r.{owner})"
        )
        return f" ORDER BY {value} {direction} NULLS LAST, {tail}", [order.key]
    if not order.sql:
        return f" ORDER BY {tail}", []
    return f" ORDER BY {order.sql} {direction} NULLS LAST, {tail}", list(order.args)


# -- the index ------------------------------------------------------------------------------


def _is_locked(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


class _NoRoom(Exception):
    """Runs arrived between two whose seq are too close: the index is rebuilt instead."""


class _Values:
    """The tables of distinct values (models, documents, keys): ids by content, and back."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.ids: dict[tuple[str, Any], int] = {}
        self.docs: dict[tuple[str, int], Any] = {}  # (table, id) -> parsed document
        self.models: dict[int, tuple[str, str | None]] = {}
        self.keys: dict[str, int] = {}
        self.texts: dict[str, str] = {}
        self.new_params: list[tuple[int, str]] = []  # params sets added, for param_values

    def clear(self) -> None:
        self.ids.clear()
        self.docs.clear()
        self.models.clear()
        self.keys.clear()
        self.new_params.clear()

    def doc_id(self, table: str, text: str) -> int:
        found = self.ids.get((table, text))
        if found is not None:
            return found
        digest = _hash(text)
        for row in self.conn.execute(f"SELECT id, doc FROM {table} WHERE hash = ?", (digest,)):
            if row[1] == text:
                self.ids[(table, text)] = int(row[0])
                return int(row[0])
        cursor = self.conn.execute(f"INSERT INTO {table} (hash, doc) VALUES (?, ?)", (digest, text))
        new = int(cursor.lastrowid or 0)
        self.ids[(table, text)] = new
        self.docs[(table, new)] = json.loads(text)
        if table == "psets":
            self.new_params.append((new, text))
        return new

    def doc(self, table: str, doc_id: int | None) -> Any:
        if doc_id is None:
            return None
        key = (table, doc_id)
        if key not in self.docs:
            found = self.conn.execute(f"SELECT doc FROM {table} WHERE id = ?", (doc_id,)).fetchone()
            self.docs[key] = json.loads(found[0]) if found is not None else {}
        return self.docs[key]

    def text(self, text: str) -> str:
        """One object per distinct short text (statuses, names): many rows, little memory."""
        return self.texts.setdefault(text, text)

    def model_id(self, model: str, kind: str | None) -> int:
        found = self.ids.get(("models", (model, kind)))
        if found is not None:
            return found
        row = self.conn.execute(
            "SELECT id FROM models WHERE model = ? AND kind IS ?", (model, kind)
        ).fetchone()
        if row is None:
            cursor = self.conn.execute(
                "INSERT INTO models (model, model_class, kind) VALUES (?, ?, ?)",
                (model, model_class(model), kind),
            )
            row = (cursor.lastrowid,)
        self.ids[("models", (model, kind))] = int(row[0])
        return int(row[0])

    def model(self, model_id: int) -> tuple[str, str | None]:
        if model_id not in self.models:
            found = self.conn.execute(
                "SELECT model, kind FROM models WHERE id = ?", (model_id,)
            ).fetchone()
            self.models[model_id] = (str(found[0]), found[1]) if found else ("", None)
        return self.models[model_id]

    def key_id(self, name: str, create: bool = False) -> int | None:
        found = self.keys.get(name)
        if found is not None:
            return found
        row = self.conn.execute("SELECT id FROM keys WHERE name = ?", (name,)).fetchone()
        if row is None:
            if not create:
                return None
            row = (self.conn.execute("INSERT INTO keys (name) VALUES (?)", (name,)).lastrowid,)
        self.keys[name] = int(row[0])
        return int(row[0])

    def flush_params(self) -> None:
        """The param_values of the params sets added since the last flush."""
        rows = []
        for pset, text in self.new_params:
            for key, value in _value_pairs(index_read.loads(text)):
                rows.append((self.key_id(key, create=True), value, pset))
        self.new_params.clear()
        self.conn.executemany("INSERT OR IGNORE INTO param_values VALUES (?, ?, ?)", rows)


# A run ready for insert, before its place (seq) and commit are known: (created, id, pos, fp,
# status, model, name, params, data, code, metrics, mnames, reproduction, table)
_Pending = tuple[Any, ...]


_IDS_PER_QUERY = 500  # bound parameters of one query (SQLite allows 32,766 since 3.32)
# At most this many runs are read through the index of params sets (or of table options):
# more, and reading every run newest first finds the newest that pass sooner.
_DRIVING_RUNS = 5000


class Index:
    """The SQLite cache of one journal. Open with :meth:`open`, bring up to date with
    :meth:`sync`, query with :meth:`query`, :meth:`count`, :meth:`get` and :meth:`resolve`."""

    def __init__(self, store: Store, conn: sqlite3.Connection, path: Path | None):
        self.store = store
        self.conn = conn
        self.path = path  # None: a private in-memory index
        self.tip: str | None = None  # the journal tip this index reflects, after sync()
        self.skipped: list[str] = []  # malformed records left out, with why
        self.values = _Values(conn)
        self.workers: int | None = None  # processes that read runs (None: as the work pays)
        # where a long rebuild or catch-up says how far it is (None: nowhere)
        self.progress: TextIO | None = None
        self.progress_min = index_read.PROGRESS_MIN_RUNS
        self._data_version: int | None = None

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open(cls, store: Store) -> Index:
        """The index file of ``store``, created or reset when missing, corrupt or of another
        schema; an in-memory one when the file cannot be used."""
        try:
            path = store.cache_dir() / INDEX_FILE
        except OSError:
            return cls._memory(store)
        for attempt in range(2):
            conn: sqlite3.Connection | None = None
            try:
                conn = cls._connect(path)
                return cls(store, conn, path)
            except sqlite3.Error as exc:
                if conn is not None:
                    conn.close()
                if _is_locked(exc) or attempt == 1:
                    break
                _remove(path)  # corrupt: a derived cache, so start again
            except OSError:
                break
        return cls._memory(store)

    @classmethod
    def existing(cls, store: Store) -> Index | None:
        """The index file of ``store`` when there is one, else None: for a command that can do
        without and should not pay for a first build."""
        try:
            path = store.cache_dir() / INDEX_FILE
        except OSError:
            return None
        if not path.is_file():
            return None
        index = cls.open(store)
        if index.path is None:
            index.close()
            return None
        return index

    @classmethod
    def _connect(cls, path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            cls._prepare(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    @classmethod
    def _memory(cls, store: Store) -> Index:
        conn = sqlite3.connect(":memory:", isolation_level=None)
        cls._prepare(conn)
        return cls(store, conn, None)

    @staticmethod
    def _prepare(conn: sqlite3.Connection) -> None:
        """Create the tables, or drop them when they hold another schema version."""

        def version() -> str | None:
            with contextlib.suppress(sqlite3.OperationalError):  # no such table: a new file
                found = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
                return None if found is None else str(found[0])
            return None

        conn.execute("PRAGMA cache_size = -32000")  # 32 MiB: a rebuild's indexes fit
        if version() == str(SCHEMA_VERSION):
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            if version() == str(SCHEMA_VERSION):  # another process set it up meanwhile
                conn.execute("COMMIT")
                return
            tables = [
                str(r[0])
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%'"
                )
            ]
            for table in tables:  # whatever an older schema had
                conn.execute(f'DROP TABLE IF EXISTS "{table}"')
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
        if self.path is not None and _damaged(exc):
            # A page that cannot be read only shows when a query reaches it: the file is a
            # derived cache, so it goes, and the next command builds it again.
            _remove(self.path)
            raise JournalError(
                f"the journal index was damaged ({exc}); it is removed, and the next command "
                "builds it again from the journal",
                hint="run the command again; nothing in the journal was affected",
            ) from exc

    # -- keeping up --------------------------------------------------------------------------

    def stored_tip(self) -> str | None:
        found = self.conn.execute("SELECT value FROM meta WHERE key = 'tip'").fetchone()
        return None if found is None else str(found[0])

    def _stored_branch(self) -> str | None:
        found = self.conn.execute("SELECT value FROM meta WHERE key = 'branch'").fetchone()
        return None if found is None else str(found[0])

    def sync(self) -> Index:
        """Bring the index up to the journal's tip: nothing, the new commits, or a rebuild.

        Raises the store's error when there is no journal (``store.require()``).
        """
        self.store.require()
        for attempt in range(3):
            try:
                self.tip = self._sync()
                return self
            except sqlite3.Error as exc:
                self.values.clear()
                if self.path is None:
                    raise
                if _is_locked(exc) or attempt >= 1:
                    self._fall_back_to_memory()
                    continue
                # A corrupt file: remove it and rebuild from scratch.
                self.conn.close()
                _remove(self.path)
                try:
                    self._use(self._connect(self.path))
                except (sqlite3.Error, OSError):
                    self._fall_back_to_memory()
        raise JournalError("could not build the journal index")  # pragma: no cover

    def _use(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.values = _Values(conn)
        self._data_version = None

    def _fresh(self) -> None:
        """Forget the ids and documents read so far when another connection wrote since:
        a rebuild elsewhere hands out the same ids for other values."""
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self.values.clear()
            self._data_version = version

    def _fall_back_to_memory(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()
        memory = self._memory(self.store)
        self._use(memory.conn)
        self.path = None

    def _current(self, tip: str) -> bool:
        return self.stored_tip() == tip and self._stored_branch() == self.store.branch

    def _sync(self) -> str:
        """Sync to the branch's tip; returns the tip the index now reflects."""
        tip = str(self.store.require().id)
        if self._current(tip):
            return tip
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self._fresh()
            # Read again under the lock: another process may have synced, or recorded, since.
            tip_commit = self.store.require()
            tip = str(tip_commit.id)
            old = self.stored_tip()
            if self._current(tip):
                self.conn.execute("COMMIT")
                return tip
            with index_read.no_collections():
                if (
                    old is not None
                    and self._stored_branch() == self.store.branch
                    and self._is_ancestor(old, tip_commit)
                ):
                    try:
                        self._catch_up(old, tip_commit)
                    except _NoRoom:
                        self._rebuild(tip_commit)
                else:
                    self._rebuild(tip_commit)
            self._set_meta("tip", tip)
            self._set_meta("branch", self.store.branch)
            self.conn.execute("COMMIT")
            return tip
        except BaseException:
            self.values.clear()  # ids handed out in the rolled-back transaction are void
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            raise

    def held_ids(self, tip: pygit2.Oid, ids: Sequence[str]) -> dict[str, str] | None:
        """Where the journal at ``tip`` holds each of ``ids`` that it holds: {run id: run
        folder}, the folders of invalid records included. None when this index does not
        reflect ``tip`` and cannot catch up to it (a rebuild would cost more than walking the
        tree): see :data:`~gitlab_journal.journal.store.HeldIds`."""
        commit = self.store.repo.get(tip)
        if self.path is None or not isinstance(commit, pygit2.Commit):
            return None
        try:
            return self._held_ids(commit, ids)
        except sqlite3.Error:  # locked by another writer, or a damaged file: walk instead
            self.values.clear()
            return None

    def _held_ids(self, commit: pygit2.Commit, ids: Sequence[str]) -> dict[str, str] | None:
        if not self._current(str(commit.id)):
            old = self.stored_tip()
            if (
                old is None
                or self._stored_branch() != self.store.branch
                or not self._is_ancestor(old, commit)
            ):
                return None
            # Catch up only if no other process is writing the index: waiting for it, or
            # falling back to a private index built from scratch, costs more than the walk.
            self.conn.execute("PRAGMA busy_timeout = 0")
            try:
                self._sync()
            finally:
                self.conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if not self._current(str(commit.id)):
                return None  # the branch moved on meanwhile
        version = tree_format(commit.tree)
        found: dict[str, str] = {}
        for at in range(0, len(ids), _IDS_PER_QUERY):
            chunk = list(ids[at : at + _IDS_PER_QUERY])
            marks = ",".join("?" * len(chunk))
            for run_id, fp in self.conn.execute(
                f"SELECT id, fp FROM runs WHERE id IN ({marks})", chunk
            ):
                found[run_id] = fmt.run_dir(bytes(fp).hex(), run_id, version=version)
            for run_id, run_dir in self.conn.execute(
                f"SELECT id, run_dir FROM invalid WHERE id IN ({marks})", chunk
            ):
                found.setdefault(run_id, run_dir)
        return found

    def _is_ancestor(self, old: str, tip: pygit2.Commit) -> bool:
        repo = self.store.repo
        try:
            if not isinstance(repo.get(old), pygit2.Commit):
                return False
            return bool(repo.descendant_of(tip.id, pygit2.Oid(hex=old)))
        except (ValueError, KeyError, pygit2.GitError):
            return False

    def _set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- reading runs into rows ----------------------------------------------------------------

    def _pending(self, entry: Entry) -> _Pending:
        v = self.values
        return (
            entry.created,
            entry.id,
            entry.pos,
            bytes.fromhex(entry.fingerprint),
            v.text(entry.status),
            v.model_id(entry.model, entry.kind),
            entry.name and v.text(entry.name),
            v.doc_id("psets", entry.params),
            v.doc_id("datas", entry.data),
            v.doc_id("codes", entry.code),
            entry.metrics,
            None if entry.metric_names is None else v.doc_id("mnames", entry.metric_names),
            entry.reproduction,
            v.doc_id("tables", entry.table),
        )

    def _read(
        self,
        jobs: Sequence[Job],
        trailers: tuple[pygit2.Oid, pygit2.Oid | None] | None,
        what: str,
    ) -> tuple[dict[str, _Pending], list[Bad], dict[str, str]]:
        """The runs of ``jobs`` ready for insert, by id (of two folders of one id, the later
        wins), the bad ones, and the trailer map asked for. Texts become ids as they come.
        Many runs: their count goes to ``self.progress`` as they come (``what`` is read)."""
        pending: dict[str, _Pending] = {}
        bad: list[Bad] = []
        progress = None
        if (
            self.progress is not None
            and index_read.estimated_runs(self.store.repo, jobs) >= self.progress_min
        ):
            progress = index_read.Progress(self.progress, what)

        def consume(batch: list[Entry | Bad]) -> None:
            if progress is not None:
                progress.add(len(batch))
            for item in batch:
                if isinstance(item, Bad):
                    bad.append(item)
                    continue
                seen = pending.get(item.id)
                if seen is None or seen[2] < item.pos:
                    pending[item.id] = self._pending(item)

        def reset() -> None:
            pending.clear()
            bad.clear()
            if progress is not None:
                progress.count = 0

        found = index_read.read_all(
            self.store.repo, jobs, consume, reset, trailers=trailers, workers=self.workers
        )
        if progress is not None:
            progress.done()
        return pending, bad, found

    def _rebuild(self, tip: pygit2.Commit) -> None:
        """Every run of the tip's tree; commits from the ``Journal-Run`` trailers."""
        self.values.clear()
        for table in (
            "runs",
            "metric_values",
            "param_values",
            "invalid",
            "keys",
            "models",
            *_DOC_TABLES,
        ):
            self.conn.execute(f"DELETE FROM {table}")
        jobs = index_read.shard_jobs(tip.tree)
        pending, bad, commits = self._read(jobs, (tip.id, None), "the journal's runs")
        for item in bad:
            self._note_invalid(item.where, item.run_id, item.problem)
        ordered = sorted(pending.values())  # by (created, id)
        pending.clear()
        for name in _RUN_INDEXES:
            self.conn.execute(f"DROP INDEX IF EXISTS {name}")
        self._insert(ordered, [(i + 1) * GAP for i in range(len(ordered))], commits.get)
        for sql in _RUN_INDEXES.values():
            self.conn.execute(sql)
        self.values.flush_params()

    def _insert(
        self,
        pending: Sequence[_Pending],
        seqs: Sequence[int],
        commit_of: Callable[[str], str | None],
    ) -> None:
        """Runs not in the index yet, at the given places; their metric values beside."""

        def rows() -> Iterator[tuple[Any, ...]]:
            for s, p in zip(seqs, pending, strict=True):
                commit = commit_of(p[1])
                yield (s, p[1], p[3], commit and bytes.fromhex(commit), *p[:1], *p[4:])

        self.conn.executemany(_INSERT, rows())
        v = self.values
        # Each key's values, inserted in value order (the index's order): packed doubles in
        # two arrays a key (16 bytes a value, where (value, seq) tuples took about 100: a
        # cold build of 100,000 runs held some 600,000 of them), other values in a list.
        doubles: dict[int, tuple[array[float], array[int]]] = {}
        others: dict[int, list[tuple[Any, int]]] = {}
        for s, p in zip(seqs, pending, strict=True):
            names = v.doc("mnames", p[11])
            if names is not None:  # packed doubles: NaN is null
                for key, value in zip(names, unpack_values(p[10], len(names)), strict=True):
                    if value == value:
                        key_id = v.key_id(key, create=True) or 0
                        pair = doubles.get(key_id)
                        if pair is None:
                            pair = doubles[key_id] = (array("d"), array("q"))
                        pair[0].append(value)
                        pair[1].append(s)
                continue
            for key, value in _value_pairs(json.loads(p[10])):
                others.setdefault(v.key_id(key, create=True) or 0, []).append((value, s))
        insert = "INSERT INTO metric_values VALUES (?, ?, ?)"
        for key_id in sorted(doubles.keys() | others.keys()):
            if key_id in doubles:
                values, at = doubles.pop(key_id)
                order = sorted(range(len(values)), key=values.__getitem__)  # stable: seq order
                self.conn.executemany(insert, ((key_id, values[i], at[i]) for i in order))
            if key_id in others:
                mixed = others.pop(key_id)
                with contextlib.suppress(TypeError):  # mixed types: SQLite orders them itself
                    mixed.sort()
                self.conn.executemany(insert, ((key_id, value, s) for value, s in mixed))

    def _delete(self, run_id: str, fingerprint: str | None = None) -> str | None:
        """Remove a run's row and metric values; returns its recording commit (hex)."""
        sql = f"SELECT {_COLUMNS} FROM runs r WHERE r.id = ?"
        args: list[Any] = [run_id]
        if fingerprint is not None:
            sql += " AND r.fp = ?"
            args.append(bytes.fromhex(fingerprint))
        found = self.conn.execute(sql, args).fetchone()
        if found is None:
            return None
        seq = found[0]
        for key, value in _value_pairs(self._metrics_of(found)):
            key_id = self.values.key_id(key)
            self.conn.execute(
                "DELETE FROM metric_values WHERE key = ? AND value = ? AND seq = ?",
                (key_id, value, seq),
            )
        self.conn.execute("DELETE FROM runs WHERE seq = ?", (seq,))
        return None if found[3] is None else bytes(found[3]).hex()

    def _metrics_of(self, record: Sequence[Any]) -> dict[str, Any]:
        names = self.values.doc("mnames", record[12])
        return unpack_metrics(record[11], names)

    def _place(self, pending: list[_Pending]) -> list[int]:
        """Seqs for new runs that keep seq in (created, id) order: after the last run, or in
        the gaps between runs (spread out in each); _NoRoom when a gap is too narrow."""
        if not pending:
            return []
        last = self.conn.execute(
            "SELECT seq, created, id FROM runs ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        keys = [(p[0], p[1]) for p in pending]
        if last is None or min(keys) > (last[1], last[2]):
            start = 0 if last is None else int(last[0])
            order = sorted(range(len(pending)), key=lambda i: keys[i])
            seqs = [0] * len(pending)
            for rank, i in enumerate(order, 1):
                seqs[i] = start + rank * GAP
            return seqs
        # Some arrive among the runs already indexed: place each between its neighbours.
        existing = self.conn.execute("SELECT created, id, seq FROM runs ORDER BY seq").fetchall()
        known = [(str(c), str(i)) for c, i, _ in existing]
        places = [int(s) for _, _, s in existing]
        groups: dict[int, list[int]] = {}
        for i, key in enumerate(keys):
            groups.setdefault(bisect.bisect_left(known, key), []).append(i)
        seqs = [0] * len(pending)
        for at, members in groups.items():
            members.sort(key=lambda i: keys[i])
            low = places[at - 1] if at > 0 else 0
            high = places[at] if at < len(places) else low + (len(members) + 1) * GAP
            step = (high - low) // (len(members) + 1)
            if step < 1:
                raise _NoRoom
            for rank, i in enumerate(members, 1):
                seqs[i] = low + rank * step
        return seqs

    def _catch_up(self, old: str, tip: pygit2.Commit) -> None:
        """Re-read the run folders that differ between the indexed tip and ``tip``; commits
        from the trailers of the new commits (the oldest that names a run recorded it)."""
        from gitlab_journal.journal.changes import ADDED, CHANGED, REMOVED, run_changes

        repo = self.store.repo
        old_commit = repo.get(old)
        assert isinstance(old_commit, pygit2.Commit)
        jobs: list[Job] = []
        gone: list[tuple[str, str]] = []
        for change in run_changes(repo, old_commit.tree, tip.tree):
            if change.kind in (ADDED, CHANGED) and change.tree_id is not None:
                jobs.append(
                    Job(len(jobs), change.path, change.tree_id, change.fingerprint, change.run_id)
                )
            elif change.kind == REMOVED:
                gone.append((change.path, change.run_id))
        for run_dir, run_id in gone:
            self.conn.execute("DELETE FROM invalid WHERE run_dir = ?", (run_dir,))
            self._delete(run_id)
        version = tree_format(tip.tree)
        if tree_format(old_commit.tree) != version:  # migrated: the bad records moved too
            self._move_invalid(version)
        if not jobs:
            return
        by_id, bad, commits = self._read(jobs, (tip.id, old_commit.id), "the journal's new runs")
        for job in jobs:
            self.conn.execute("DELETE FROM invalid WHERE run_dir = ?", (job.path,))
        for item in bad:
            # A record that became bad: its old row goes, the problem is kept.
            self._delete(item.run_id, fmt.run_of_dir(item.where)[0])
            self._note_invalid(item.where, item.run_id, item.problem)
        trailers: dict[str, str] | None = None
        for run_id in by_id:
            known = self._delete(run_id)  # a run re-read keeps its recording commit
            if known is not None:
                commits[run_id] = known
            elif run_id not in commits:
                # Rare (a run that came without a trailer): one walk of the whole history.
                if trailers is None:
                    trailers = index_read.trailer_map(repo, tip.id)
                if run_id in trailers:
                    commits[run_id] = trailers[run_id]
        pending = list(by_id.values())
        self._insert(pending, self._place(pending), commits.get)
        self.values.flush_params()

    def _move_invalid(self, version: int) -> None:
        """The bad records' folders where a journal of format ``version`` keeps them."""
        rows = self.conn.execute("SELECT run_dir, id FROM invalid").fetchall()
        for run_dir, run_id in rows:
            fingerprint = fmt.run_of_dir(str(run_dir))[0]
            if fmt.is_fingerprint(fingerprint) and fmt.is_run_id(str(run_id)):
                moved = fmt.run_dir(fingerprint, str(run_id), version=version)
                self.conn.execute(
                    "UPDATE OR REPLACE invalid SET run_dir = ? WHERE run_dir = ?", (moved, run_dir)
                )

    def _note_invalid(self, run_dir: str, run_id: str, problem: str) -> None:
        self.skipped.append(problem)
        self.conn.execute(
            "INSERT INTO invalid VALUES (?, ?, ?) ON CONFLICT (run_dir) DO UPDATE SET "
            "id = excluded.id, problem = excluded.problem",
            (run_dir, run_id, problem),
        )

    def invalid(self) -> list[tuple[str, str, str]]:
        """(run folder, run id, problem) of every record the index left out as invalid."""
        self._ensure_synced()
        found = self.conn.execute("SELECT run_dir, id, problem FROM invalid ORDER BY run_dir")
        return [(str(r[0]), str(r[1]), str(r[2])) for r in found]

    def warn_invalid(self, stream: TextIO | None = None) -> int:
        """One line on ``stream`` (stderr) per record left out as invalid; returns how many."""
        bad = self.invalid()
        out = stream if stream is not None else sys.stderr
        for _, _, problem in bad[:SHOWN_INVALID]:
            print(f"warning: skipped {problem}", file=out)
        if len(bad) > SHOWN_INVALID:
            print(
                f"warning: skipped {len(bad) - SHOWN_INVALID} more invalid record(s); "
                "`git journal verify` lists them all",
                file=out,
            )
        return len(bad)

    def note_recorded(
        self,
        run: Run,
        parent_tip: str | pygit2.Oid | None = None,
        new_tip: str | pygit2.Oid | None = None,
    ) -> bool:
        """Keep the index warm after ``store.record``: when it reflects ``parent_tip``, add the
        run and move it to ``new_tip``; otherwise do nothing (the next sync catches up).

        ``new_tip`` defaults to ``run.commit`` and ``parent_tip`` to that commit's first
        parent. True when the row was added. Never raises for a cache problem.
        """
        try:
            new = str(new_tip) if new_tip is not None else run.commit
            if new is None:
                return False
            if parent_tip is None:
                commit = self.store.repo.get(new)
                if not isinstance(commit, pygit2.Commit) or not commit.parents:
                    return False
                parent = str(commit.parent_ids[0])
            else:
                parent = str(parent_tip)
            if self.stored_tip() != parent:
                return False
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self._fresh()
                if self.stored_tip() != parent or self._stored_branch() != self.store.branch:
                    self.conn.execute("ROLLBACK")
                    return False
                recorded = self._delete(run.id) or new
                pending = [self._pending(index_read.entry_of(run))]
                self._insert(pending, self._place(pending), lambda _: recorded)
                self.values.flush_params()
                self._set_meta("tip", new)
                self.conn.execute("COMMIT")
            except BaseException:
                self.values.clear()
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
                raise
            self.tip = new
            return True
        except (sqlite3.Error, ValueError, pygit2.GitError, _NoRoom):
            return False

    # -- queries: each syncs first when this index has not been synced yet ---------------------

    def _ensure_synced(self) -> None:
        if self.tip is None:
            self.sync()
        self._fresh()

    def _row(self, record: Sequence[Any]) -> Row:
        v = self.values
        model, kind = v.model(record[6])
        return Row(
            id=record[1],
            fingerprint=bytes(record[2]).hex(),
            commit=None if record[3] is None else bytes(record[3]).hex(),
            created=record[4],
            status=record[5],
            model=model,
            kind=kind,
            name=record[7],
            params=dict(v.doc("psets", record[8])),
            metrics=self._metrics_of(record),
            data=dict(v.doc("datas", record[9])),
            code=dict(v.doc("codes", record[10])),
            reproduction=record[13],
            table=dict(v.doc("tables", record[14])),
        )

    def _rows(self, seqs: Sequence[int]) -> list[Row]:
        found: dict[int, Row] = {}
        for start in range(0, len(seqs), 500):
            chunk = seqs[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            for record in self.conn.execute(
                f"SELECT {_COLUMNS} FROM runs r WHERE r.seq IN ({marks})", chunk
            ):
                found[record[0]] = self._row(record)
        return [found[s] for s in seqs]

    def _sql(self) -> _Sql:
        return _Sql(self.values.key_id)

    def _param_sets(self, where: Sequence[str]) -> set[int] | None:
        """The params sets every run that passes ``where`` has (None: no ``--where``, nor a
        term of one joined by ``and``, compares params alone). Each run has one params set,
        so such a term is that set's."""
        return self._doc_sets(where, "params", "psets")

    def _table_sets(self, where: Sequence[str]) -> set[int] | None:
        """As :meth:`_param_sets`, for the ways a table was read (``table.NAME``)."""
        return self._doc_sets(where, "table", "tables")

    def _doc_sets(self, where: Sequence[str], group: str, table: str) -> set[int] | None:
        found: set[int] | None = None
        sets = _Sql(self.values.key_id, params_ref="p.id", table_ref="p.id")
        for expression in where:
            node = parse_where(expression)
            for term in node.operands if isinstance(node, where_lang.And) else (node,):
                if not all(c.field.startswith(f"{group}.") for c in where_lang.clauses(term)):
                    continue
                sql, args = where_lang.to_sql(
                    term, functools.partial(sets.clause, expression=expression)
                )
                ids = {
                    int(r[0])
                    for r in self.conn.execute(f"SELECT p.id FROM {table} p WHERE {sql}", args)
                }
                found = ids if found is None else found & ids
        return found

    def _driving(self, where: Sequence[str]) -> tuple[str, list[str], list[Any]] | None:
        """For a filter on params or on table options that few runs pass: the runs to read
        through the index of params sets (or of table options) instead of every run newest
        first; ``("0", ...)`` when none passes."""
        best: tuple[int, str, str, list[int]] | None = None
        for found, index, column in (
            (self._param_sets(where), "runs_params", "params"),
            (self._table_sets(where), "runs_table", "tbl"),
        ):
            if found is None:
                continue
            if not found:
                return "", ["0"], []
            if len(found) > 500:
                continue
            listed = sorted(found)
            marks = ", ".join("?" * len(listed))
            count = int(  # counted up to one past the most worth it
                self.conn.execute(
                    f"SELECT count(*) FROM (SELECT 1 FROM runs INDEXED BY {index} "
                    f"WHERE {column} IN ({marks}) LIMIT ?)",
                    [*listed, _DRIVING_RUNS + 1],
                ).fetchone()[0]
            )
            if count <= _DRIVING_RUNS and (best is None or count < best[0]):
                best = (count, index, column, listed)
        if best is None:
            return None
        _, index, column, listed = best
        marks = ", ".join("?" * len(listed))
        return f" INDEXED BY {index}", [f"r.{column} IN ({marks})"], listed

    def query(
        self,
        where: Sequence[str] = (),
        model: str | None = None,
        status: str | None = None,
        sort: str | None = None,
        ascending: bool = False,
        limit: int | None = None,
    ) -> list[Row]:
        """The runs that match, in order: ``sort`` best (largest) first, NULLs last;
        by default newest first."""
        if limit is not None and limit < 0:
            raise JournalError(f"-n must be 0 or more, not {limit}")
        self._ensure_synced()
        parts, args = self._sql().where(where, model, status)
        order = _order(sort)
        direction = "ASC" if ascending else "DESC"
        driving = self._driving(where) if where else None
        if driving is not None and driving[1] == ["0"]:
            return []  # no params set passes: no run does
        if order.side is None:
            hint = ""
            if driving is not None:  # the implied, bare term first: it selects by index
                hint, extra, extra_args = driving
                parts, args = [*extra, *parts], [*extra_args, *args]
            filters = " WHERE " + " AND ".join(parts) if parts else ""
            by = f"{order.sql} {direction} NULLS LAST, " if order.sql else ""
            sql = f"SELECT r.seq FROM runs r{hint}{filters} ORDER BY {by}r.seq {direction}"
            all_args = [*args, *order.args]
            if limit is not None:
                sql += " LIMIT ?"
                all_args.append(limit)
            return self._rows([r[0] for r in self.conn.execute(sql, all_args)])
        return self._rows(self._side_sorted(order, parts, args, direction, limit))

    def _side_sorted(
        self, order: _Order, parts: list[str], args: list[Any], direction: str, limit: int | None
    ) -> list[int]:
        """The seqs of a metric or param sort: the runs with a value, in the order of the side
        table's index (ties by seq), then those without one (NULLs last), by seq."""
        assert order.side is not None
        table, owner = order.side
        key = self.values.key_id(order.key)
        extra = "".join(f" AND {p}" for p in parts)
        seqs: list[int] = []
        if key is not None:
            if owner == "seq":
                sql = (
                    f"SELECT r.seq FROM {table} s CROSS JOIN runs r ON r.seq = s.seq "
                    f"WHERE s.key = ?{extra} ORDER BY s.value {direction}, s.seq {direction}"
                )
            else:
                sql = (
                    f"SELECT r.seq FROM {table} s CROSS JOIN runs r ON r.{owner} = s.{owner} "
                    f"WHERE s.key = ?{extra} ORDER BY s.value {direction}, r.seq {direction}"
                )
            part_args = [key, *args]
            if limit is not None:
                sql += " LIMIT ?"
                part_args.append(limit)
            seqs = [r[0] for r in self.conn.execute(sql, part_args)]
        if limit is not None and len(seqs) >= limit:
            return seqs
        if key is None:
            missing = ""
            rest_args = list(args)
        else:
            missing = f" AND r.{owner} NOT IN (SELECT {owner} FROM {table} WHERE key = ?)"
            rest_args = [*args, key]
        where = " AND ".join(parts) if parts else "1"
        sql = f"SELECT r.seq FROM runs r WHERE {where}{missing} ORDER BY r.seq {direction}"
        if limit is not None:
            sql += " LIMIT ?"
            rest_args.append(limit - len(seqs))
        seqs.extend(r[0] for r in self.conn.execute(sql, rest_args))
        return seqs

    def count(
        self,
        where: Sequence[str] = (),
        model: str | None = None,
        status: str | None = None,
    ) -> int:
        self._ensure_synced()  # first: the where SQL names the index's key ids
        parts, args = self._sql().where(where, model, status)
        driving = self._driving(where) if where else None
        hint = ""
        if driving is not None:
            if driving[1] == ["0"]:
                return 0  # no params set (or way of reading a table) passes: no run does
            hint, extra, extra_args = driving
            parts, args = [*extra, *parts], [*extra_args, *args]
        filters = " WHERE " + " AND ".join(parts) if parts else ""
        found = self.conn.execute(f"SELECT count(*) FROM runs r{hint}{filters}", args).fetchone()
        return int(found[0])

    def runs(
        self,
        where: Sequence[str] = (),
        model: str | None = None,
        status: str | None = None,
        sort: str | None = None,
        ascending: bool = False,
        limit: int | None = None,
    ) -> list[Run]:
        """Like :meth:`query`, but the full records, read from the store."""
        rows = self.query(where, model, status, sort, ascending, limit)
        return list(self.load_all(rows))

    def get(self, run_id: str) -> Row | None:
        """The row of one run id (exactly), or None."""
        self._ensure_synced()
        found = self.conn.execute(f"SELECT {_COLUMNS} FROM runs r WHERE r.id = ?", (run_id,))
        record = found.fetchone()
        return None if record is None else self._row(record)

    def _prefixed(self, column: str, prefix: str, limit: int = 20) -> list[Row]:
        # A range on the column's index: prefix <= value < prefix with its last char bumped.
        low: Any
        high: Any
        if column == "id":
            low, high = prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)
        else:  # a commit, stored as bytes: the range of the hex prefix
            pad = "0" * (len(prefix) % 2)
            low = bytes.fromhex(prefix + pad)
            bumped = int(prefix, 16) + 1
            high = None
            if bumped < 16 ** len(prefix):
                high = bytes.fromhex(f"{bumped:0{len(prefix)}x}" + pad)
        column_sql = 'r."commit"' if column != "id" else "r.id"
        sql = f"SELECT {_COLUMNS} FROM runs r WHERE {column_sql} >= ?"
        args: list[Any] = [low]
        if high is not None:
            sql += f" AND {column_sql} < ?"
            args.append(high)
        sql += " ORDER BY r.seq DESC LIMIT ?"
        args.append(limit)
        return [self._row(r) for r in self.conn.execute(sql, args)]

    def tree(self) -> pygit2.Tree:
        """The tree of the tip this index reflects (the journal's tip if not yet synced)."""
        repo = self.store.repo
        if self.tip is not None:
            commit = repo.get(self.tip)
            if isinstance(commit, pygit2.Commit):
                return commit.tree
        return self.store.require().tree

    def load(self, row: Row) -> Run:
        """The full record of an indexed run, read from the store, with its journal commit."""
        run = self.store.read(row.fingerprint, row.id, self.tree())
        return run.with_commit(row.commit) if row.commit else run

    def load_all(self, rows: Iterable[Row]) -> Iterator[Run]:
        tree = self.tree()
        for row in rows:
            run = self.store.read(row.fingerprint, row.id, tree)
            yield run.with_commit(row.commit) if row.commit else run

    def resolve(self, text: str) -> Run:
        """A run named by ``text``: its id, a unique id prefix (4 characters or more), or a
        journal commit (full or a unique prefix of 4 hex digits or more)."""
        return self.load(self.resolve_row(text))

    def resolve_row(self, text: str) -> Row:
        self._ensure_synced()
        needle = text.strip().lower()  # run ids and commits are lower-case
        if not needle:
            raise JournalError("no run given", hint="list runs with `git journal log`")
        exact = self.get(needle)
        if exact is not None:
            return exact
        candidates: dict[str, Row] = {}
        if len(needle) >= MIN_PREFIX:
            for row in self._prefixed("id", needle):
                candidates[row.id] = row
            if _HEX.match(needle):
                by_commit = self._prefixed('"commit"', needle)
                exact_commit = [r for r in by_commit if r.commit == needle]
                if exact_commit:
                    return exact_commit[0]
                for row in by_commit:
                    candidates[row.id] = row
                if not by_commit:
                    row_from_git = self._row_from_commit(needle)
                    if row_from_git is not None:
                        candidates[row_from_git.id] = row_from_git
        if len(candidates) == 1:
            return next(iter(candidates.values()))
        if candidates:
            listed = sorted(candidates.values(), key=lambda r: (r.created, r.id), reverse=True)
            shown = ", ".join(
                f"{r.id} ({model_class(r.model)}, {r.created}"
                + (
                    f", commit {r.commit[:10]})"
                    if r.commit and r.commit.startswith(needle)
                    else ")"
                )
                for r in listed[:10]
            )
            more = f" and {len(listed) - 10} more" if len(listed) > 10 else ""
            raise JournalError(
                f"ambiguous run '{text}': it matches {shown}{more}",
                hint="give more characters of the run id or journal commit",
            )
        bad = self.conn.execute(
            "SELECT id, problem FROM invalid WHERE id = ? OR (length(?) >= ? AND id >= ? "
            "AND id < ?) ORDER BY id LIMIT 2",
            (needle, needle, MIN_PREFIX, needle, needle[:-1] + chr(ord(needle[-1]) + 1)),
        ).fetchall()
        if len(bad) == 1 or (bad and bad[0][0] == needle):
            raise CheckFailed(f"run {bad[0][0]} is invalid: {bad[0][1]}")
        hint = "list runs with `git journal log`"
        if len(needle) < MIN_PREFIX:
            hint = f"give at least {MIN_PREFIX} characters of a run id or journal commit; " + hint
        raise JournalError(f"unknown run '{text}'", hint=hint)

    def _row_from_commit(self, prefix: str) -> Row | None:
        """A journal commit the index does not name (say, a note): its ``Journal-Run``."""
        repo = self.store.repo
        try:
            obj = repo[prefix]
        except (KeyError, ValueError, pygit2.GitError):
            return None
        if not isinstance(obj, pygit2.Commit):
            return None
        match = _TRAILER_RUN.search(obj.message)
        return None if match is None else self.get(match.group(1))


def _damaged(exc: BaseException | None) -> bool:
    """Whether ``exc`` is SQLite finding its file corrupt or not a database at all."""
    name = getattr(exc, "sqlite_errorname", "") if isinstance(exc, sqlite3.Error) else ""
    return str(name).startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(OSError):
            Path(str(path) + suffix).unlink()


def open_index(store: Store, *, warn: bool = True) -> Index:
    """The index of ``store``, synced to the journal's tip (the store's error if none). With
    ``warn``, each record it leaves out as invalid is one warning line on stderr, and a long
    rebuild or catch-up says how far it is there."""
    store.require()
    index = Index.open(store)
    if warn:
        index.progress = sys.stderr
    try:
        index.sync()
        if warn:
            index.warn_invalid()
        return index
    except BaseException:
        index.close()
        raise


def resolve_run(store: Store, index: Index | None, text: str) -> Run:
    """The run ``text`` names (see :meth:`Index.resolve`); opens and syncs an index when
    ``index`` is None. Unknown or ambiguous: a JournalError (exit code 2)."""
    if index is not None:
        return index.resolve(text)
    with open_index(store) as own:
        return own.resolve(text)
