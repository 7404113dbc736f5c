"""The derived SQLite index of the journal, for log, filter, sort and run look-up.

It lives at ``<git dir>/journal/index.sqlite`` and is never the source of truth: it records the
journal tip it reflects, catches up from there by walking only the new commits, and rebuilds
itself from the tip's tree whenever it is missing, corrupt, of another schema, or reflects a
history the branch no longer extends. When another process holds it locked for longer than the
busy timeout, a private in-memory index built from the store answers instead.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import re
import sqlite3
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import pygit2

from gitlab_journal.errors import CheckFailed, JournalError
from gitlab_journal.journal import format as fmt
from gitlab_journal.journal import where as where_lang
from gitlab_journal.journal.records import REPRODUCTION_STATUSES, STATUSES, Run
from gitlab_journal.journal.schema import InvalidRecord
from gitlab_journal.journal.store import Store

SCHEMA_VERSION = 4
SHOWN_INVALID = 10  # warning lines for bad records, then one line counting the rest
INDEX_FILE = "index.sqlite"
BUSY_TIMEOUT_S = 5.0
MIN_PREFIX = 4
_NULLS_LAST = sqlite3.sqlite_version_info >= (3, 30, 0)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    "commit" TEXT,
    created TEXT NOT NULL,
    status TEXT NOT NULL,
    model TEXT NOT NULL,
    model_class TEXT NOT NULL COLLATE NOCASE,
    kind TEXT,
    name TEXT,
    params TEXT NOT NULL,
    metrics TEXT NOT NULL,
    data TEXT NOT NULL,
    code TEXT NOT NULL,
    reproduction TEXT
);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created, id);
CREATE INDEX IF NOT EXISTS runs_fingerprint ON runs (fingerprint);
CREATE INDEX IF NOT EXISTS runs_commit ON runs ("commit");
CREATE INDEX IF NOT EXISTS runs_model_class ON runs (model_class, status);
CREATE INDEX IF NOT EXISTS runs_model ON runs (model, status);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status, created);
CREATE TABLE IF NOT EXISTS invalid (run_dir TEXT PRIMARY KEY, id TEXT NOT NULL, problem TEXT);
CREATE INDEX IF NOT EXISTS invalid_id ON invalid (id);
"""

_COLUMNS = (
    'id, fingerprint, "commit", created, status, model, model_class, kind, name, '
    "params, metrics, data, code, reproduction"
)
_UPSERT = f"""
INSERT INTO runs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    fingerprint = excluded.fingerprint,
    "commit" = COALESCE(runs."commit", excluded."commit"),
    created = excluded.created, status = excluded.status, model = excluded.model,
    model_class = excluded.model_class, kind = excluded.kind, name = excluded.name,
    params = excluded.params, metrics = excluded.metrics, data = excluded.data,
    code = excluded.code, reproduction = excluded.reproduction
"""

# runs/<fp[:2]>/<fp[2:]>/<run-id>/<file>: the run directory is the first four components.
_RUN_PATH = re.compile(r"^(runs/[0-9a-f]{2}/[0-9a-f]{62}/[^/]+)/")
_TRAILER_RUN = re.compile(rf"^{fmt.TRAILER_RUN}:\s*(\S+)\s*$", re.MULTILINE)
_HEX = re.compile(r"^[0-9a-f]{4,40}$")


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


def json_safe(value: Any) -> Any:
    """Plain JSON data with NaN and infinities as null, so any JSON reader accepts it."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _dump(value: Any) -> str:
    return json.dumps(json_safe(value), ensure_ascii=False, allow_nan=False, default=str)


def _values(run: Run, commit: str | None) -> tuple[Any, ...]:
    return (
        run.id,
        run.fingerprint,
        commit,
        run.created,
        run.status,
        run.model,
        model_class(run.model),
        run.kind,
        run.name,
        _dump(dict(run.params)),
        _dump(dict(run.metrics)),
        _dump(dict(run.data)),
        _dump(run.code.to_dict()),
        run.reproduction,
    )


def _row(record: Sequence[Any]) -> Row:
    return Row(
        id=record[0],
        fingerprint=record[1],
        commit=record[2],
        created=record[3],
        status=record[4],
        model=record[5],
        kind=record[7],
        name=record[8],
        params=json.loads(record[9]),
        metrics=json.loads(record[10]),
        data=json.loads(record[11]),
        code=json.loads(record[12]),
        reproduction=record[13],
    )


# -- filters: --where, --sort ---------------------------------------------------------------

_JSON_FIELDS = ("params", "metrics", "data", "code")
_PLAIN_FIELDS = {
    "id": "id",
    "fingerprint": "fingerprint",
    "commit": '"commit"',
    "created": "created",
    "status": "status",
    "model": "model",
    "kind": "kind",
    "name": "name",
    "reproduction": "reproduction",
}
FIELDS_HINT = (
    "fields: params.NAME, metrics.NAME, data.NAME, code.NAME, "
    + ", ".join(sorted(_PLAIN_FIELDS))
    + "; operators: == = != > >= < <= ~, FIELD in [A, B]; join with and, or, not, ( )"
)

_FIELD_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[^\s=!<>~\"']*)?)\s*")


@dataclass(frozen=True)
class _Field:
    sql: str  # an SQL expression with zero or one '?' (the JSON path)
    args: tuple[Any, ...]
    name: str


def _field(name: str, expression: str) -> _Field:
    if name in _PLAIN_FIELDS:
        return _Field(_PLAIN_FIELDS[name], (), name)
    head, dot, key = name.partition(".")
    if dot and head in _JSON_FIELDS and key:
        if '"' in key:
            raise JournalError(f"bad field {name!r} in {expression!r}: it holds a quote")
        return _Field(f"json_extract({head}, ?)", (f'$."{key}"',), name)
    raise JournalError(f"unknown field {name!r} in {expression!r}", hint=FIELDS_HINT)


def parse_where(expression: str) -> where_lang.Node:
    """The tree of one ``--where`` expression (see journal/where.py); unknown fields fail."""
    return where_lang.parse(expression, lambda name: _field(name, expression))


def _clause_sql(clause: where_lang.Clause, expression: str) -> tuple[str, list[Any]]:
    f = _field(clause.field, expression)
    x, xa = f.sql, list(f.args)
    op, value = clause.op, clause.value

    def twice(n: int) -> list[Any]:
        return xa * n

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


def where_sql(
    where: Iterable[str], model: str | None = None, status: str | None = None
) -> tuple[str, list[Any]]:
    """The SQL ``WHERE`` text (or ``''``) and its bound arguments."""
    parts: list[str] = []
    args: list[Any] = []
    for expression in where:
        sql, clause_args = where_lang.to_sql(
            parse_where(expression), functools.partial(_clause_sql, expression=expression)
        )
        parts.append(sql)
        args.extend(clause_args)
    if model:
        # An import path has dots, a class name none: each is one indexed equality.
        parts.append("model = ?" if "." in model else "model_class = ?")
        args.append(model)
    if status:
        if status in REPRODUCTION_STATUSES:
            # what the latest `git journal rerun` of a run found
            parts.append("reproduction = ?")
        elif status in STATUSES:
            parts.append("status = ?")
        else:
            known = (*STATUSES, *REPRODUCTION_STATUSES)
            raise JournalError(f"unknown status {status!r}", hint="one of: " + ", ".join(known))
        args.append(status)
    return (" WHERE " + " AND ".join(parts) if parts else ""), args


def order_sql(sort: str | None, ascending: bool) -> tuple[str, list[Any]]:
    """``ORDER BY``: a key best (largest) first with NULLs last, ``ascending`` flips it."""
    direction = "ASC" if ascending else "DESC"
    tail = f"created {direction}, id {direction}"
    if not sort:
        return f" ORDER BY {tail}", []
    name = sort.strip()
    if not _FIELD_RE.fullmatch(name):
        raise JournalError(f"malformed --sort {sort!r}", hint=FIELDS_HINT)
    f = _field(name, sort)
    if f.sql == "created":
        return f" ORDER BY {tail}", []
    if _NULLS_LAST:
        return f" ORDER BY {f.sql} {direction} NULLS LAST, {tail}", [*f.args]
    return f" ORDER BY ({f.sql}) IS NULL, {f.sql} {direction}, {tail}", [*f.args, *f.args]


# -- the index ------------------------------------------------------------------------------


def _is_locked(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


class Index:
    """The SQLite cache of one journal. Open with :meth:`open`, bring up to date with
    :meth:`sync`, query with :meth:`query`, :meth:`count`, :meth:`get` and :meth:`resolve`."""

    def __init__(self, store: Store, conn: sqlite3.Connection, path: Path | None):
        self.store = store
        self.conn = conn
        self.path = path  # None: a private in-memory index
        self.tip: str | None = None  # the journal tip this index reflects, after sync()
        self.skipped: list[str] = []  # malformed records left out, with why

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

        if version() == str(SCHEMA_VERSION):
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            if version() == str(SCHEMA_VERSION):  # another process set it up meanwhile
                conn.execute("COMMIT")
                return
            conn.execute("DROP TABLE IF EXISTS runs")
            conn.execute("DROP TABLE IF EXISTS invalid")
            conn.execute("DROP TABLE IF EXISTS meta")
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
                if self.path is None:
                    raise
                if _is_locked(exc) or attempt >= 1:
                    self._fall_back_to_memory()
                    continue
                # A corrupt file: remove it and rebuild from scratch.
                self.conn.close()
                _remove(self.path)
                try:
                    self.conn = self._connect(self.path)
                except (sqlite3.Error, OSError):
                    self._fall_back_to_memory()
        raise JournalError("could not build the journal index")  # pragma: no cover

    def _fall_back_to_memory(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()
        memory = self._memory(self.store)
        self.conn, self.path = memory.conn, None

    def _current(self, tip: str) -> bool:
        return self.stored_tip() == tip and self._stored_branch() == self.store.branch

    def _sync(self) -> str:
        """Sync to the branch's tip; returns the tip the index now reflects."""
        tip = str(self.store.require().id)
        if self._current(tip):
            return tip
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            # Read again under the lock: another process may have synced, or recorded, since.
            tip_commit = self.store.require()
            tip = str(tip_commit.id)
            old = self.stored_tip()
            if self._current(tip):
                self.conn.execute("COMMIT")
                return tip
            if (
                old is not None
                and self._stored_branch() == self.store.branch
                and self._is_ancestor(old, tip_commit)
            ):
                self._catch_up(old, tip_commit)
            else:
                self._rebuild(tip_commit)
            self._set_meta("tip", tip)
            self._set_meta("branch", self.store.branch)
            self.conn.execute("COMMIT")
            return tip
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            raise

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

    def _catch_up(self, old: str, tip: pygit2.Commit) -> None:
        """Walk the commits after ``old``, oldest first, and re-read the runs they touched."""
        repo = self.store.repo
        walker = repo.walk(
            tip.id, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE
        )
        walker.hide(pygit2.Oid(hex=old))
        touched: dict[str, str | None] = {}  # run dir -> the oldest new commit that added it
        for commit in walker:
            if commit.parents:
                diff = commit.parents[0].tree.diff_to_tree(commit.tree)
            else:
                diff = commit.tree.diff_to_tree(swap=True)
            for delta in diff.deltas:
                for path in (delta.new_file.path, delta.old_file.path):
                    match = _RUN_PATH.match(path)
                    if not match:
                        continue
                    run_dir = match.group(1)
                    added = (
                        delta.status == pygit2.enums.DeltaStatus.ADDED
                        and path.endswith("/" + fmt.RUN_FILE)
                        and path.count("/") == 4
                    )
                    if touched.get(run_dir) is None:
                        touched[run_dir] = str(commit.id) if added else None
        trailers: dict[str, str] | None = None
        for run_dir, added_in in touched.items():
            _, shard, rest, run_id = run_dir.split("/")
            try:
                obj = tip.tree[run_dir]
            except KeyError:
                self.conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
                self.conn.execute("DELETE FROM invalid WHERE run_dir = ?", (run_dir,))
                continue
            self.conn.execute("DELETE FROM invalid WHERE run_dir = ?", (run_dir,))
            try:
                run = self.store.read_tree(obj.id, run_dir, shard + rest, run_id)
            except InvalidRecord as exc:
                # A record that became bad: its old row goes, the problem is kept.
                self.conn.execute(
                    "DELETE FROM runs WHERE id = ? AND fingerprint = ?", (run_id, shard + rest)
                )
                self._note_invalid(run_dir, run_id, exc)
                continue
            commit_id = added_in
            if commit_id is None:
                known = self.conn.execute(
                    'SELECT "commit" FROM runs WHERE id = ?', (run_id,)
                ).fetchone()
                if known is None or not known[0]:
                    # Rare (a run that came without its run.json being added): one history walk.
                    if trailers is None:
                        trailers = _trailer_map(self.store.repo, tip)
                    commit_id = trailers.get(run_id)
            self.conn.execute(_UPSERT, _values(run, commit_id))

    def _rebuild(self, tip: pygit2.Commit) -> None:
        """Every run of the tip's tree; commits from the ``Journal-Run`` trailers."""
        commits = _trailer_map(self.store.repo, tip)
        self.conn.execute("DELETE FROM runs")
        self.conn.execute("DELETE FROM invalid")
        batch: list[tuple[Any, ...]] = []
        for fingerprint, run_id, tree_id in self.store.run_paths(tip.tree):
            where = fmt.run_dir(fingerprint, run_id)
            try:
                run = self.store.read_tree(tree_id, where, fingerprint, run_id)
            except InvalidRecord as exc:
                self._note_invalid(where, run_id, exc)
                continue
            batch.append(_values(run, commits.get(run.id)))
            if len(batch) >= 1000:
                self.conn.executemany(_UPSERT, batch)
                batch.clear()
        if batch:
            self.conn.executemany(_UPSERT, batch)

    def _note_invalid(self, run_dir: str, run_id: str, problem: InvalidRecord) -> None:
        self.skipped.append(problem.message)
        self.conn.execute(
            "INSERT INTO invalid VALUES (?, ?, ?) ON CONFLICT (run_dir) DO UPDATE SET "
            "id = excluded.id, problem = excluded.problem",
            (run_dir, run_id, problem.message),
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
                if self.stored_tip() != parent or self._stored_branch() != self.store.branch:
                    self.conn.execute("ROLLBACK")
                    return False
                self.conn.execute(_UPSERT, _values(run, new))
                self._set_meta("tip", new)
                self.conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
                raise
            self.tip = new
            return True
        except (sqlite3.Error, ValueError, pygit2.GitError):
            return False

    # -- queries: each syncs first when this index has not been synced yet ---------------------

    def _ensure_synced(self) -> None:
        if self.tip is None:
            self.sync()

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
        filters, args = where_sql(where, model, status)
        order, order_args = order_sql(sort, ascending)
        args = [*args, *order_args]
        if sort and limit is not None and limit <= 1000:
            # Sort the row ids only (a top-N sort that carries no records), then fetch those.
            found = self.conn.execute(
                f"SELECT rowid FROM runs{filters}{order} LIMIT ?", [*args, limit]
            )
            rowids = [r[0] for r in found]
            marks = ", ".join("?" * len(rowids))
            fetched = self.conn.execute(
                f"SELECT rowid, {_COLUMNS} FROM runs WHERE rowid IN ({marks})", rowids
            )
            by_rowid = {r[0]: _row(r[1:]) for r in fetched}
            return [by_rowid[r] for r in rowids]
        sql = f"SELECT {_COLUMNS} FROM runs{filters}{order}"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [_row(r) for r in self.conn.execute(sql, args)]

    def count(
        self,
        where: Sequence[str] = (),
        model: str | None = None,
        status: str | None = None,
    ) -> int:
        filters, args = where_sql(where, model, status)
        self._ensure_synced()
        found = self.conn.execute(f"SELECT count(*) FROM runs{filters}", args).fetchone()
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
        found = self.conn.execute(f"SELECT {_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        record = found.fetchone()
        return None if record is None else _row(record)

    def _prefixed(self, column: str, prefix: str, limit: int = 20) -> list[Row]:
        # A range on the column's index: prefix <= value < prefix with its last char bumped.
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        sql = (
            f"SELECT {_COLUMNS} FROM runs WHERE {column} >= ? AND {column} < ? "
            f"ORDER BY created DESC, id DESC LIMIT ?"
        )
        return [_row(r) for r in self.conn.execute(sql, (prefix, upper, limit))]

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


def _trailer_map(repo: pygit2.Repository, tip: pygit2.Commit) -> dict[str, str]:
    """``Journal-Run`` id -> the oldest commit that names it (the one that recorded it)."""
    found: dict[str, str] = {}
    for commit in repo.walk(tip.id, pygit2.enums.SortMode.TOPOLOGICAL):
        message = commit.message
        if fmt.TRAILER_RUN not in message:
            continue
        for match in _TRAILER_RUN.finditer(message):
            found[match.group(1)] = str(commit.id)  # newest first: the oldest wins
    return found


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(OSError):
            Path(str(path) + suffix).unlink()


def open_index(store: Store, *, warn: bool = True) -> Index:
    """The index of ``store``, synced to the journal's tip (the store's error if none). With
    ``warn``, each record it leaves out as invalid is one warning line on stderr."""
    store.require()
    index = Index.open(store)
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
