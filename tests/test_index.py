"""The derived SQLite index: sync (incremental and rebuild), filters, sort, run look-up."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import helpers
import pygit2
import pytest
from conftest import git

from gitlab_journal.errors import JournalError
from gitlab_journal.journal import format as fmt
from gitlab_journal.journal import index as index_module
from gitlab_journal.journal import index_read, schema
from gitlab_journal.journal import where as where_lang
from gitlab_journal.journal.index import INDEX_FILE, Index, Row, open_index, resolve_run
from gitlab_journal.journal.records import Run
from gitlab_journal.journal.store import Store

LOGREG = "sklearn.linear_model.LogisticRegression"
SVC_PIPE = "sklearn.pipeline.Pipeline"


def make_run(run_id: str, **fields: Any) -> Run:
    """A run as the index tests make them: two metrics, one data input, five folds."""
    defaults: dict[str, Any] = {
        "metrics": {"accuracy": 0.9, "accuracy_std": 0.01},
        "data": {"train": "0" * 32},
        "evaluation": {"cv": 5},
    }
    given = {key: value for key, value in fields.items() if value is not None}
    return helpers.make_run(run_id, **{**defaults, **given})


@pytest.fixture
def store(repo: Path) -> Store:
    s = Store.discover(repo)
    s.init()
    return s


def rows_of(index: Index) -> list[Row]:
    return index.query(sort="id", ascending=True)


def fresh_rows(store: Store) -> list[Row]:
    """What a rebuild from nothing gives: an in-memory index synced from the store."""
    memory = Index._memory(store)
    try:
        return rows_of(memory.sync())
    finally:
        memory.close()


def record_all(store: Store, runs: list[Run]) -> list[Run]:
    return [store.record(r) for r in runs]


# -- sync -----------------------------------------------------------------------------------


def test_rebuild_indexes_every_run_with_its_recording_commit(store: Store) -> None:
    recorded = record_all(store, [make_run(f"run{i:04d}", params={"C": i}) for i in range(3)])
    with open_index(store) as index:
        rows = rows_of(index)
        assert index.stored_tip() == str(store.tip())
        assert index.path == store.cache_dir() / INDEX_FILE
    assert [(r.id, r.commit) for r in rows] == [(r.id, r.commit) for r in recorded]
    assert rows[1].params == {"C": 1}
    assert rows[1].metrics == {"accuracy": 0.9, "accuracy_std": 0.01}
    assert rows[1].code == {"commit": "c" * 40, "branch": "main", "dirty": False}


def test_incremental_sync_equals_a_rebuild(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    record_all(store, [make_run(f"run{i:04d}", params={"C": i}) for i in range(3)])
    open_index(store).close()
    later = record_all(store, [make_run(f"new{i:04d}", params={"C": 10 + i}) for i in range(2)])
    first = store.read(later[0].fingerprint, later[0].id)
    # A later commit that touches an earlier run (a note) must not change its recording commit.
    noted = replace(first, notes={"inference": "C=10 is enough"})
    store.update_run(noted, "Note\n")

    def no_rebuild(self: Index, tip: pygit2.Commit) -> None:
        raise AssertionError("a descendant tip must not rebuild")

    monkeypatch.setattr(Index, "_rebuild", no_rebuild)
    with open_index(store) as index:
        incremental = rows_of(index)
        assert index.stored_tip() == str(store.tip())
    monkeypatch.undo()
    assert incremental == fresh_rows(store)
    by_id = {r.id: r for r in incremental}
    assert len(by_id) == 5
    assert by_id["new0000"].commit == later[0].commit
    assert by_id["new0001"].commit == later[1].commit
    assert store.read(later[0].fingerprint, later[0].id).notes == {"inference": "C=10 is enough"}


def test_in_sync_does_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    record_all(store, [make_run("run0001")])
    open_index(store).close()

    def fail(*args: object) -> None:
        raise AssertionError("nothing to do")

    monkeypatch.setattr(Index, "_rebuild", fail)
    monkeypatch.setattr(Index, "_catch_up", fail)
    with open_index(store) as index:
        assert [r.id for r in rows_of(index)] == ["run0001"]


def test_a_deleted_index_file_rebuilds(store: Store) -> None:
    record_all(store, [make_run("run0001"), make_run("run0002", params={"C": 2})])
    open_index(store).close()
    path = store.cache_dir() / INDEX_FILE
    path.unlink()
    with open_index(store) as index:
        assert [r.id for r in rows_of(index)] == ["run0001", "run0002"]
        assert index.path == path
    assert path.exists()


def test_a_corrupt_index_file_rebuilds(store: Store) -> None:
    record_all(store, [make_run("run0001"), make_run("run0002", params={"C": 2})])
    path = store.cache_dir() / INDEX_FILE
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    path.write_bytes(b"this is not a database at all" * 100)
    with open_index(store) as index:
        assert [r.id for r in rows_of(index)] == ["run0001", "run0002"]
        assert index.path == path  # the file was replaced, not abandoned
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone() == (2,)


def test_a_damaged_page_found_by_a_query_removes_the_index_and_says_so(
    repo: Path, store: Store, cli: helpers.Cli
) -> None:
    """The file opens and its meta table reads (the index looks current), but a page of the
    runs table is damaged: the command that reaches it says so (no bug report), and the next
    command rebuilds the index."""
    record_all(store, [make_run(f"run{i:04d}", params={"C": i}) for i in range(300)])
    assert cli("log", "-n", "1")[0] == 0
    path = store.cache_dir() / INDEX_FILE
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'runs'").fetchone()
        (size,) = conn.execute("PRAGMA page_size").fetchone()
    with path.open("r+b") as handle:  # the table's first page: no longer a b-tree page
        handle.seek((root - 1) * size)
        handle.write(b"\xff" * 16)

    code, _, err = cli("log")

    assert code == 2, err
    assert "journal index was damaged" in err and "run the command again" in err
    assert "bug" not in err and not path.exists()
    code, out, err = cli("log", "-n", "1000")
    assert code == 0, err
    assert out.count("run0") == 300


def test_another_schema_version_rebuilds(store: Store) -> None:
    record_all(store, [make_run("run0001")])
    open_index(store).close()
    path = store.cache_dir() / INDEX_FILE
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '0' WHERE key = 'schema'")
        conn.execute("DELETE FROM runs")
    with open_index(store) as index:
        assert [r.id for r in rows_of(index)] == ["run0001"]


def test_a_journal_replaced_by_an_unrelated_history_rebuilds(repo: Path, store: Store) -> None:
    record_all(store, [make_run("old00001"), make_run("old00002", params={"C": 2})])
    open_index(store).close()
    git(repo, "branch", "-D", "journal")
    assert store.init() is True  # a new root: the old tip is no ancestor of the new one
    record_all(store, [make_run("new00001", params={"C": 3})])
    with open_index(store) as index:
        assert [r.id for r in rows_of(index)] == ["new00001"]
        assert index.stored_tip() == str(store.tip())


def test_a_merged_journal_catches_up_with_recording_commits(repo: Path, store: Store) -> None:
    base = record_all(store, [make_run("base0001")])[0]
    open_index(store).close()
    # Another clone's line of history, merged in: the runs arrive through the merge commit.
    git(repo, "branch", "other", "journal")
    other = Store(store.repo, "other")
    theirs = record_all(other, [make_run("their001", params={"C": 5})])[0]
    ours = record_all(store, [make_run("ours0001", params={"C": 6})])[0]
    merged = store.merge(str(theirs.commit))
    assert merged.kind == "merge"
    assert git(repo, "rev-parse", "journal^2").strip() == theirs.commit
    with open_index(store) as index:
        rows = {r.id: r.commit for r in rows_of(index)}
    assert rows == {"base0001": base.commit, "ours0001": ours.commit, "their001": theirs.commit}
    assert sorted(rows.items()) == sorted((r.id, r.commit) for r in fresh_rows(store))


def test_note_recorded_keeps_the_index_warm(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    index = open_index(store)
    parent = store.tip()
    run = store.record(make_run("warm0001"))
    assert index.note_recorded(run, parent, run.commit) is True
    assert index.stored_tip() == run.commit
    run2 = store.record(make_run("warm0002", params={"C": 2}))
    assert index.note_recorded(run2) is True  # tips derived from run.commit
    assert {r.id: r.commit for r in rows_of(index)} == {
        "warm0001": run.commit,
        "warm0002": run2.commit,
    }

    def fail(*args: object) -> None:
        raise AssertionError("the index is warm: nothing to do")

    monkeypatch.setattr(Index, "_rebuild", fail)
    monkeypatch.setattr(Index, "_catch_up", fail)
    index.sync()
    monkeypatch.undo()

    # A record the index did not see: note_recorded declines; the next sync catches up.
    behind = store.record(make_run("warm0003", params={"C": 3}))
    after = store.record(make_run("warm0004", params={"C": 4}))
    assert index.note_recorded(after) is False
    assert index.stored_tip() == run2.commit
    index.sync()
    assert [r.id for r in rows_of(index)] == ["warm0001", "warm0002", "warm0003", "warm0004"]
    assert index.get("warm0003") is not None
    assert index.get("warm0003").commit == behind.commit  # type: ignore[union-attr]
    index.close()


def test_a_locked_index_falls_back_to_the_store(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_all(store, [make_run("run0001")])
    open_index(store).close()
    record_all(store, [make_run("run0002", params={"C": 2})])
    monkeypatch.setattr(index_module, "BUSY_TIMEOUT_S", 0.05)
    blocker = sqlite3.connect(store.cache_dir() / INDEX_FILE, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with open_index(store) as index:
            assert index.path is None  # answered from an in-memory index built from the store
            assert [r.id for r in rows_of(index)] == ["run0001", "run0002"]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    with open_index(store) as index:
        assert index.path is not None
        assert [r.id for r in rows_of(index)] == ["run0001", "run0002"]


def test_no_journal_is_the_stores_error(repo: Path) -> None:
    with pytest.raises(JournalError, match="no journal yet"):
        open_index(Store.discover(repo))


def test_queries_sync_an_unsynced_index(store: Store) -> None:
    record_all(store, [make_run("run0001")])
    index = Index.open(store)
    assert [r.id for r in index.runs()] == ["run0001"]
    assert index.runs()[0].commit == str(store.tip())
    index.close()


# -- filters ----------------------------------------------------------------------------------


@pytest.fixture
def grid(store: Store) -> Index:
    runs = [
        make_run("lr000001", params={"C": 0.1, "solver": "lbfgs"}, metrics={"accuracy": 0.8}),
        make_run(
            "lr000002",
            params={"C": 1.0, "solver": "liblinear"},
            metrics={"accuracy": 0.95, "accuracy_std": 0.02},
            second=1,
            name="logreg-grid",
        ),
        make_run(
            "lr000003",
            params={"C": 10, "solver": "saga", "fit_intercept": False},
            metrics={"accuracy": 0.9},
            second=2,
        ),
        make_run(
            "svc00001",
            model=SVC_PIPE,
            params={"svc__C": 2.5, "scaler__with_mean": True, "svc__kernel": "rbf"},
            metrics={"accuracy": 0.97, "f1_macro": 0.96},
            second=3,
        ),
        make_run(
            "svc00002",
            model=SVC_PIPE,
            params={"svc__C": 0.5, "scaler__with_mean": False, "svc__kernel": "linear"},
            metrics={"accuracy": float("nan")},
            status="diverged",
            second=4,
        ),
        make_run("fail0001", params={"C": 100.0}, metrics={}, status="failed", second=5),
    ]
    record_all(store, runs)
    return open_index(store)


ALL = ["fail0001", "lr000001", "lr000002", "lr000003", "svc00001", "svc00002"]


def ids(index: Index, *where: str, **kw: Any) -> list[str]:
    return sorted(r.id for r in index.query(list(where), **kw))


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("params.C == 1", ["lr000002"]),
        ("params.C = 0.1", ["lr000001"]),
        ("params.C != 1", ["fail0001", "lr000001", "lr000003"]),
        ("params.C > 1", ["fail0001", "lr000003"]),
        ("params.C >= 1", ["fail0001", "lr000002", "lr000003"]),
        ("params.C < 1", ["lr000001"]),
        ("params.C <= 1", ["lr000001", "lr000002"]),
        ("params.C>=1", ["fail0001", "lr000002", "lr000003"]),
        ("params.solver == saga", ["lr000003"]),
        ("params.solver == 'liblinear'", ["lr000002"]),
        ('params.solver != "lbfgs"', ["lr000002", "lr000003"]),
        ("params.solver ~ lin", ["lr000002"]),
        ("params.solver ~ LIB", ["lr000002"]),
        ("params.solver ~ 's*'", ["lr000003"]),
        ("params.solver > m", ["lr000003"]),
        ("params.fit_intercept == false", ["lr000003"]),
        (
            "params.fit_intercept == null",
            ["fail0001", "lr000001", "lr000002", "svc00001", "svc00002"],
        ),
        ("params.fit_intercept != null", ["lr000003"]),
        ("params.svc__C > 1", ["svc00001"]),
        ("params.svc__kernel == linear", ["svc00002"]),
        ("params.scaler__with_mean == true", ["svc00001"]),
        ("metrics.accuracy >= 0.9", ["lr000002", "lr000003", "svc00001"]),
        ("metrics.accuracy_std > 0", ["lr000002"]),
        ("metrics.f1_macro > 0.5", ["svc00001"]),
        ("status == diverged", ["svc00002"]),
        ("status != ok", ["fail0001", "svc00002"]),
        ("model == Pipeline", ["svc00001", "svc00002"]),
        ("model == sklearn.pipeline.Pipeline", ["svc00001", "svc00002"]),
        ("model ~ linear_model", ["fail0001", "lr000001", "lr000002", "lr000003"]),
        ("model != Pipeline", ["fail0001", "lr000001", "lr000002", "lr000003"]),
        ("name == logreg-grid", ["lr000002"]),
        ("created >= 2024-05-01T10:00:04Z", ["fail0001", "svc00002"]),
        ("created < '2024-05-01T10:00:01Z'", ["lr000001"]),
        ("id ~ svc", ["svc00001", "svc00002"]),
        ("id ~ '*0002'", ["lr000002", "svc00002"]),
        ("data.train == " + "0" * 32, ALL),
        ("data.train ~ 0000", ALL),
        ("code.dirty == false", ALL),
        ("code.branch == main", ALL),
        ("params.C > 0.5 and params.C < 50", ["lr000002", "lr000003"]),
        ("params.solver == 'a and b'", []),
    ],
)
def test_where_operators(grid: Index, expression: str, expected: list[str]) -> None:
    assert ids(grid, expression) == expected


def test_several_where_are_anded(grid: Index) -> None:
    assert ids(grid, "params.C > 0.5", "metrics.accuracy < 0.92") == ["lr000003"]


def test_fingerprint_filter(grid: Index) -> None:
    row = grid.get("lr000002")
    assert row is not None
    assert ids(grid, f"fingerprint == {row.fingerprint}") == ["lr000002"]


def test_model_and_status_options(grid: Index) -> None:
    assert ids(grid, model="Pipeline") == ["svc00001", "svc00002"]
    assert ids(grid, model="pipeline") == ["svc00001", "svc00002"]
    assert ids(grid, model=LOGREG) == ["fail0001", "lr000001", "lr000002", "lr000003"]
    assert ids(grid, model="linear_model") == []
    assert ids(grid, status="failed") == ["fail0001"]
    assert ids(grid, "params.svc__C < 1", model="Pipeline", status="diverged") == ["svc00002"]
    with pytest.raises(JournalError, match="unknown status 'broken'") as info:
        grid.query(status="broken")
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("params.C", "expected an operator"),
        ("params.C >", "no value"),
        ("> 1", "expected a field"),
        ("size > 1", "unknown field 'size'"),
        ("params. > 1", "unknown field"),
        ("params.C > 1 xor params.C < 0", "unexpected"),
        ("params.solver == 'lbfgs", "unclosed quote"),
        ("params.C > null", "null only compares"),
        ("params.C > 1 and", "expected a field"),
        ("params.C >> 1", "unexpected"),
        ("params.C = = 1", "unexpected"),
    ],
)
def test_bad_where_is_an_error_naming_it(grid: Index, expression: str, message: str) -> None:
    with pytest.raises(JournalError, match=message) as info:
        grid.query([expression])
    assert repr(expression) in info.value.message
    assert info.value.exit_code == 2


def test_sort_best_first_nulls_last_and_asc(grid: Index) -> None:
    best = [r.id for r in grid.query(sort="metrics.accuracy")]
    # NaN (diverged) and missing (failed) sort last either way.
    assert best == ["svc00001", "lr000002", "lr000003", "lr000001", "fail0001", "svc00002"]
    worst = [r.id for r in grid.query(sort="metrics.accuracy", ascending=True)]
    assert worst == ["lr000001", "lr000003", "lr000002", "svc00001", "svc00002", "fail0001"]
    assert [r.id for r in grid.query(sort="metrics.accuracy", limit=2)] == [
        "svc00001",
        "lr000002",
    ]
    assert [r.id for r in grid.query(sort="params.svc__C", limit=1)] == ["svc00001"]


def test_default_order_is_newest_first(grid: Index) -> None:
    assert [r.id for r in grid.query(limit=3)] == ["fail0001", "svc00002", "svc00001"]
    assert [r.id for r in grid.query(ascending=True, limit=2)] == ["lr000001", "lr000002"]
    assert grid.count() == 6
    assert grid.count(["params.C > 1"]) == 2
    with pytest.raises(JournalError, match="unknown field 'accuracy'"):
        grid.query(sort="accuracy")


def test_where_values_are_bound_not_pasted(grid: Index) -> None:
    assert ids(grid, 'name == "x\'); DROP TABLE runs; --"') == []
    assert grid.count() == 6


# -- resolve ---------------------------------------------------------------------------------


def test_resolve_by_id_prefix_and_commit(store: Store, grid: Index) -> None:
    assert grid.resolve("lr000002").id == "lr000002"
    assert grid.resolve("fail").id == "fail0001"
    run = grid.resolve("svc00002")
    assert run.commit is not None
    assert run.params["svc__kernel"] == "linear"
    assert grid.resolve(run.commit).id == "svc00002"
    assert grid.resolve(run.commit[:10]).id == "svc00002"
    assert resolve_run(store, None, run.commit[:8]).id == "svc00002"
    assert resolve_run(store, grid, "lr000003").commit == grid.get("lr000003").commit  # type: ignore[union-attr]


def test_resolve_a_note_commit_through_its_trailer(store: Store, grid: Index) -> None:
    run = grid.resolve("lr000001")
    noted = replace(run, notes={"inference": "too weak"}, commit=None)
    note = store.update_run(noted, "Note\n")
    grid.sync()
    found = grid.resolve(note[:12])
    assert found.id == "lr000001"
    assert found.commit == run.commit  # still the recording commit
    assert found.notes == {"inference": "too weak"}


def test_resolve_ambiguous_and_unknown(grid: Index) -> None:
    with pytest.raises(JournalError, match="ambiguous run 'lr00'") as info:
        grid.resolve("lr00")
    assert "lr000001" in info.value.message and "lr000003" in info.value.message
    assert info.value.exit_code == 2
    with pytest.raises(JournalError, match="unknown run 'zzzz'") as info:
        grid.resolve("zzzz")
    assert info.value.hint is not None and "git journal log" in info.value.hint
    with pytest.raises(JournalError, match="unknown run 'lr'") as info:
        grid.resolve("lr")  # too short for a prefix
    assert info.value.hint is not None and "4 characters" in info.value.hint


def test_resolve_exit_codes_through_the_cli(
    store: Store, grid: Index, cli: Callable[..., tuple[int, str, str]]
) -> None:
    code, out, err = cli("show", "lr00")
    assert code == 2
    assert "ambiguous run 'lr00'" in err
    code, out, err = cli("show", "nope1234")
    assert code == 2
    assert "unknown run 'nope1234'" in err
    assert "hint:" in err and "git journal log" in err
    code, out, err = cli("log", "--where", "params.C >> 1")
    assert code == 2
    assert "'params.C >> 1'" in err
    code, out, err = cli("log", "--where", "size > 1")
    assert code == 2
    assert "unknown field 'size'" in err
    code, out, _ = cli("show", "svc00001")
    assert code == 0
    assert "svc00001" in out


def test_concurrent_processes_share_the_index(store: Store, repo: Path) -> None:
    record_all(store, [make_run(f"run{i:04d}", params={"C": i}) for i in range(30)])
    script = (
        "from gitlab_journal.journal.store import Store\n"
        "from gitlab_journal.journal.index import open_index\n"
        "for _ in range(5):\n"
        "    with open_index(Store.discover('.')) as index:\n"
        "        n = index.count()\n"
        "print('COUNT', n)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(4)
    ]
    more = record_all(store, [make_run(f"more{i:04d}", params={"C": 100 + i}) for i in range(5)])
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert int(out.split()[-1]) in range(30, 36)
    with open_index(store) as index:
        assert index.count() == 35
        assert index.get("more0004").commit == more[-1].commit  # type: ignore[union-attr]


# -- the compact schema: side tables, forked readers, seq order, old files ---------------------


def reference_ids(runs: list[Run], expression: str) -> list[str]:
    """What a ``--where`` meant on the JSON of each run (json_extract over params, metrics,
    data and code), computed apart from the index's side tables."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE r (id, params, metrics, data, code)")
    for run in runs:
        conn.execute(
            "INSERT INTO r VALUES (?, ?, ?, ?, ?)",
            (
                run.id,
                index_read.dump(dict(run.params)),
                index_read.dump(dict(run.metrics)),
                index_read.dump(dict(run.data)),
                index_read.dump(run.code.to_dict()),
            ),
        )

    def clause(c: Any) -> tuple[str, list[Any]]:
        head, _, key = c.field.partition(".")
        if head in ("params", "metrics", "data", "code"):
            return index_module._compare(f"json_extract({head}, ?)", (f'$."{key}"',), c, expression)
        return index_module._compare(head, (), c, expression)

    sql, args = where_lang.to_sql(index_module.parse_where(expression), clause)
    return sorted(str(r[0]) for r in conn.execute(f"SELECT id FROM r WHERE {sql}", args))


ODD_RUNS = [
    make_run("odd00001", params={"h": [10, 20], "flag": True, "c": 1, "s": "rbf", "n": None}),
    make_run("odd00002", params={"h": [10], "flag": False, "c": 1.0, "s": "10"}, second=1),
    make_run("odd00003", params={"h": {"a": 1}, "c": 2**70, "s": "linear"}, second=2),
    make_run("odd00004", params={"c": -0.5, "s": ""}, metrics={"m": 3}, second=3),
    make_run("odd00005", params={}, metrics={"m": float("inf"), "k": 0.5}, second=4),
    make_run("odd00006", params={"c": "1", "flag": 1}, metrics={"m": -1.0}, second=5),
]
ODD_WHERE = [
    "params.c == 1",
    "params.c == '1'",
    "params.c != 1",
    "not params.c == 1",
    "params.c > 0",
    "params.c < 2",
    "params.c >= 1e20",
    "params.c == null",
    "not params.c != null",
    "params.flag == true",
    "params.flag == 1",
    "params.flag != false",
    "params.h == '[10,20]'",
    "params.h ~ 10",
    "params.h ~ '*a*'",
    "params.s > l",
    "params.s == 10",
    "params.s in [rbf, linear]",
    "params.s not in [rbf, linear]",
    "params.n == null",
    "params.n != null",
    "params.nothing == null",
    "not params.nothing == 1",
    "metrics.m > 0",
    "metrics.m == null",
    "not metrics.m < 0",
    "metrics.k ~ 0.5",
    "metrics.accuracy >= 0.9 or params.c == 2",
    "data.train ~ 000",
    "code.dirty == false",
    "not (params.s == rbf or metrics.m == 3)",
]


@pytest.mark.parametrize("expression", ODD_WHERE)
def test_filters_on_side_tables_mean_what_they_meant_on_the_json(
    store: Store, expression: str
) -> None:
    recorded = record_all(store, ODD_RUNS)
    with open_index(store) as index:
        assert ids(index, expression) == reference_ids(recorded, expression)
        assert index.count([expression]) == len(reference_ids(recorded, expression))


def test_sorts_on_side_tables_order_like_the_json(store: Store) -> None:
    record_all(store, ODD_RUNS)
    with open_index(store) as index:
        # SQLite's order of json_extract values: numbers (by value), then text; NULLs last.
        by_c = [r.id for r in index.query(sort="params.c")]
        assert by_c == ["odd00006", "odd00003", "odd00002", "odd00001", "odd00004", "odd00005"]
        by_c_up = [r.id for r in index.query(sort="params.c", ascending=True)]
        assert by_c_up == ["odd00004", "odd00001", "odd00002", "odd00003", "odd00006", "odd00005"]
        assert [r.id for r in index.query(sort="params.c", limit=2)] == ["odd00006", "odd00003"]
        by_m = [r.id for r in index.query(sort="metrics.m")]
        assert by_m == ["odd00004", "odd00006", "odd00005", "odd00003", "odd00002", "odd00001"]
        assert [r.id for r in index.query(sort="params.nothing", limit=3)] == [
            "odd00006",
            "odd00005",
            "odd00004",
        ]
        filtered = index.query(["params.s ~ in"], sort="params.h")
        assert [r.id for r in filtered] == ["odd00003"]
        rows = {r.id: r for r in index.query()}
    assert rows["odd00001"].params == {"h": [10, 20], "flag": True, "c": 1, "s": "rbf", "n": None}
    assert rows["odd00003"].params["c"] == 2**70
    assert rows["odd00004"].metrics == {"m": 3}
    assert rows["odd00005"].metrics == {"m": None, "k": 0.5}


def test_forked_readers_build_what_one_process_builds(
    repo: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = [
        make_run(f"fork{i:04d}", params={"C": i % 7, "k": f"v{i % 3}"}, second=i % 60)
        for i in range(40)
    ]
    record_all(store, runs)
    path, files = _bad_files(store, "bad00001")
    _commit_files(repo, store, path, files)
    serial = Index._memory(store)
    serial.workers = 1
    forked = Index._memory(store)
    forked.workers = 2
    try:
        serial.sync()
        forked.sync()
        assert rows_of(forked) == rows_of(serial)
        assert forked.invalid() == serial.invalid()
        assert [p for _, p, _ in forked.invalid()] == ["bad00001"]
        assert [r.id for r in forked.query(limit=5)] == [r.id for r in serial.query(limit=5)]
    finally:
        serial.close()
        forked.close()


def test_a_rebuild_leaves_the_runs_indexes_in_place(store: Store) -> None:
    """A rebuild drops the runs table's indexes while it inserts, and makes them again."""
    record_all(store, [make_run(f"idx{i:05d}", params={"C": i}, second=i) for i in range(6)])
    with open_index(store, warn=False) as index:  # no index file yet: built from the tree
        names = {row[1] for row in index.conn.execute("PRAGMA index_list(runs)")}
        assert {"runs_id", "runs_fp", "runs_params"} <= names
        plan = " ".join(
            str(row[-1])
            for row in index.conn.execute(
                "EXPLAIN QUERY PLAN SELECT seq FROM runs WHERE id = ?", ("x",)
            )
        )
        assert "runs_id" in plan
        assert [r.id for r in index.query(["params.C >= 4"])] == ["idx00005", "idx00004"]


def _bad_files(store: Store, run_id: str) -> tuple[str, dict[str, bytes]]:
    return _broken_files(make_run(run_id, params={"C": 99}))


def _broken_files(run: Run) -> tuple[str, dict[str, bytes]]:
    """The folder and files of ``run`` with a run.json the schema refuses (params a list)."""
    files = fmt.encode_run(run)
    doc = json.loads(files[fmt.RUN_FILE])
    doc["params"] = [1, 2]
    files[fmt.RUN_FILE] = json.dumps(doc).encode()
    return fmt.run_dir(run.fingerprint, run.id, version=fmt.FORMAT_VERSION), files


def _commit_edit(store: Store, edit: Callable[[pygit2.Index], object], message: str) -> None:
    """A commit of the journal's tip tree changed by ``edit``, made with plain pygit2, as a
    clone without the hook could push it."""
    r = store.repo
    tip = store.require()
    assert isinstance(tip, pygit2.Commit)
    index = pygit2.Index()
    index.read_tree(tip.tree)
    edit(index)
    tree = index.write_tree(r)
    sig = pygit2.Signature("t", "t@example.com")
    r.create_commit(f"refs/heads/{store.branch}", sig, sig, message, tree, [tip.id])


def _commit_files(repo: Path, store: Store, where: str, files: dict[str, bytes]) -> None:
    """A run folder committed with plain pygit2, as a clone without the hook would get it."""

    def add(index: pygit2.Index) -> None:
        for name, data in files.items():
            blob = store.repo.create_blob(data)
            index.add(pygit2.IndexEntry(f"{where}/{name}", blob, pygit2.enums.FileMode.BLOB))

    _commit_edit(store, add, "Crafted\n")


def _remove_folder(store: Store, where: str) -> None:
    """A run folder deleted by a plain commit, as another clone could push it."""
    _commit_edit(store, lambda index: index.remove_directory(where), "Remove\n")


@pytest.mark.parametrize("workers", [1, 2])
def test_a_catch_up_of_runs_added_noted_removed_fixed_and_broken_equals_a_rebuild(
    repo: Path, store: Store, workers: int
) -> None:
    """What a sync brings, in many shard folders at once, read here or by forked readers: the
    index ends as a rebuild from nothing would make it."""
    old = record_all(store, [make_run(f"old{i:05d}", params={"C": i}, second=i) for i in range(12)])
    twin = store.record(make_run("twin00001", params={"C": 1}, second=40))  # old[1]'s folder
    assert twin.fingerprint == old[1].fingerprint
    bad_path, bad_files = _bad_files(store, "bad00003")
    _commit_files(repo, store, bad_path, bad_files)
    with open_index(store, warn=False) as index:
        index.workers = workers
        index.sync()
        assert [b for _, b, _ in index.invalid()] == ["bad00003"]

    record_all(store, [make_run(f"new{i:05d}", params={"C": 100 + i}, second=i) for i in range(30)])
    noted = replace(store.read(old[0].fingerprint, old[0].id), notes={"n": "a note"})
    store.update_run(noted, "Note\n")
    version = fmt.FORMAT_VERSION
    _remove_folder(store, fmt.run_dir(old[1].fingerprint, old[1].id, version=version))
    _remove_folder(store, fmt.run_dir(old[3].fingerprint, old[3].id, version=version))
    fixed = make_run("bad00003", params={"C": 99})
    _commit_files(repo, store, bad_path, fmt.encode_run(fixed))
    broken_path, broken = _broken_files(old[2])
    _commit_files(repo, store, broken_path, broken)

    def no_rebuild(self: Index, tip: pygit2.Commit) -> None:
        raise AssertionError("a descendant tip must not rebuild")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Index, "_rebuild", no_rebuild)
        with open_index(store, warn=False) as index:
            index.workers = workers
            index.sync()
            caught_up = rows_of(index)
            invalid = index.invalid()
    assert caught_up == fresh_rows(store)
    ids = {r.id for r in caught_up}
    assert not {old[1].id, old[2].id, old[3].id} & ids
    assert {"bad00003", twin.id} | {f"new{i:05d}" for i in range(30)} <= ids
    assert next(r for r in caught_up if r.id == old[0].id).commit == old[0].commit
    assert [(where, run_id) for where, run_id, _ in invalid] == [(broken_path, old[2].id)]
    memory = Index._memory(store)
    try:
        assert memory.sync().invalid() == invalid
    finally:
        memory.close()


def test_a_cold_build_then_catch_up_equals_a_rebuild_with_runs_arriving_out_of_order(
    repo: Path, store: Store
) -> None:
    record_all(store, [make_run(f"late{i:04d}", params={"C": i}, second=30 + i) for i in range(5)])
    with open_index(store) as index:
        index.workers = 2
        index.sync()
    # Runs made earlier, elsewhere: they land between the runs already indexed, and after.
    early = [make_run(f"early{i:03d}", params={"C": 50 + i}, second=i * 7) for i in range(6)]
    record_all(store, early)
    path, files = _bad_files(store, "bad00002")
    _commit_files(repo, store, path, files)
    with open_index(store, warn=False) as index:
        index.workers = 2
        index.sync()
        caught_up = rows_of(index)
        newest = [r.id for r in index.query()]
        assert [b for _, b, _ in index.invalid()] == ["bad00002"]
    assert caught_up == fresh_rows(store)
    expected = sorted(caught_up, key=lambda r: (r.created, r.id), reverse=True)
    assert newest == [r.id for r in expected]


def test_many_arrivals_in_one_gap_rebuild_instead(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "GAP", 4)  # seq 4 and 8: room for 3 runs between
    edges = [make_run("edge0001", second=0), make_run("edge0002", params={"C": 2}, second=59)]
    record_all(store, edges)
    open_index(store).close()
    rebuilt: list[str] = []
    real = Index._rebuild

    def counting(self: Index, tip: pygit2.Commit) -> None:
        rebuilt.append(str(tip.id))
        real(self, tip)

    monkeypatch.setattr(Index, "_rebuild", counting)

    def middle(first: int, last: int) -> list[Run]:
        return [
            make_run(f"mid{i:05d}", params={"C": 10 + i}, second=10 + i) for i in range(first, last)
        ]

    record_all(store, middle(0, 2))
    with open_index(store) as index:
        assert rebuilt == []  # two fit between 4 and 8
    record_all(store, middle(2, 9))
    with open_index(store) as index:
        assert len(rebuilt) == 1  # seven more do not: a rebuild spreads them out again
        order = [r.id for r in index.query(ascending=True)]
    assert order == ["edge0001", *[f"mid{i:05d}" for i in range(9)], "edge0002"]
    assert rows_of(Index._memory(store).sync()) == fresh_rows(store)


def test_an_index_file_of_the_old_schema_rebuilds(store: Store) -> None:
    record_all(store, [make_run("run0001"), make_run("run0002", params={"C": 2}, second=1)])
    path = store.cache_dir() / INDEX_FILE
    with sqlite3.connect(path) as conn:  # what schema 4 wrote: the whole JSON in every row
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("INSERT INTO meta VALUES ('schema', '4'), ('tip', ?)", (str(store.tip()),))
        conn.execute("INSERT INTO meta VALUES ('branch', 'journal')")
        conn.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, params TEXT, metrics TEXT)")
        conn.execute("INSERT INTO runs VALUES ('stale001', '{}', '{}')")
    with open_index(store) as index:
        assert [r.id for r in rows_of(index)] == ["run0001", "run0002"]
        assert index.query(["params.C == 2"])[0].id == "run0002"
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (
            str(index_module.SCHEMA_VERSION),
        )
        columns = [r[1] for r in conn.execute("PRAGMA table_info(runs)")]
        assert "seq" in columns and "params" in columns


def test_note_recorded_keeps_side_tables_in_step(store: Store) -> None:
    index = open_index(store)
    first = store.record(make_run("warm0101", metrics={"accuracy": 0.5}))
    assert index.note_recorded(first) is True
    again = replace(first, commit=None, metrics={"accuracy": 0.7})
    assert index.note_recorded(store.record(replace(again, id="warm0102"))) is True
    assert [r.id for r in index.query(["metrics.accuracy > 0.6"])] == ["warm0102"]
    assert [r.id for r in index.query(sort="metrics.accuracy")] == ["warm0102", "warm0101"]
    assert rows_of(index) == fresh_rows(store)
    index.close()


TABLES: dict[str, dict[str, Any] | None] = {
    "plain001": None,
    "drop0001": {"drop": ["fare"], "dtypes": {"fare.1": "float32", "sex": "category"}},
    "sep00001": {"sep": ";", "target": "sex"},
}


def test_the_index_keeps_how_each_table_was_read(store: Store) -> None:
    """The identity's table options, flattened as `show` prints them, on each row, as a rebuild,
    a catch-up and a warm record give them; `--where` and `--sort` take them as `table.NAME`."""
    runs = [
        make_run(run_id, params={"C": float(i)}, table=table, second=i)
        for i, (run_id, table) in enumerate(TABLES.items())
    ]
    record_all(store, runs[:1])
    index = open_index(store)
    record_all(store, runs[1:2])  # caught up on the next query
    assert [r.id for r in index.sync().query(ascending=True)] == ["plain001", "drop0001"]
    assert index.note_recorded(store.record(runs[2])) is True
    rows = {r.id: r for r in rows_of(index)}
    assert rows["plain001"].table == {}
    assert rows["drop0001"].table == {
        "drop": ["fare"],
        "dtypes.fare.1": "float32",
        "dtypes.sex": "category",
    }
    assert rows["sep00001"].table == {"sep": ";", "target": "sex"}
    assert rows_of(index) == fresh_rows(store)

    def ids(*where: str) -> list[str]:
        return [r.id for r in index.query(where, ascending=True)]

    assert ids("table.dtypes.fare.1 == float32") == ["drop0001"]
    assert ids("table.target == sex or table.drop ~ fare") == ["drop0001", "sep00001"]
    assert ids("not table.sep == ';'") == ["plain001", "drop0001"]
    assert ids("table.sep == null", "params.C >= 1") == ["drop0001"]
    assert ids("table.sep == ','") == []
    assert index.count(["table.sep == ','"]) == 0
    assert index.count(["table.drop ~ fare or table.sep == ';'", "params.C < 2"]) == 1
    assert [r.id for r in index.query(sort="table.sep")] == ["sep00001", "drop0001", "plain001"]
    index.close()


# Texts where a faster JSON reader may part from json.loads: integers beyond 64 bits (some
# orjson versions read them as floats), what only json accepts, duplicate keys, errors.
JSON_TEXTS: list[bytes | str] = [
    b'{"seed": 123456789012345678901234567890, "n": 18446744073709551616}',
    b'{"neg": -9999999999999999999, "max": 18446744073709551615, "min": -9223372036854775808}',
    b'{"m": NaN, "i": -Infinity, "j": Infinity}',
    b'{"big": 1e400, "tiny": 4.9406564584124654e-324, "z": -0.0, "e": 1E5}',
    b'{"f": 0.0063101739246836566, "g": 12345678901234567890.5, "h": [1e+12345678901234567890]}',
    b'{"x": [7, 12345678901234567890123], "y": "1234567890123456789012"}',
    b'{"x":-12345678901234567890123,"y":[12345678901234567890123],"z":\t12345678901234567890}',
    b'{"s": "\\ud800", "t": "\\u00e9\\u2028"}',
    b'\xef\xbb\xbf{"bom": 1}',
    b'{"a": 1, "a": 2.0}',
    b'{"a": 1}\n',
    b'{"a": "\xc3\xa9"}',
    '{"text": [1, 2.5, true, null]}',
    '\ufeff{"bom": 1}',
    b"[" * 5000 + b"]" * 5000,
    b'{"a": ' * 5000 + b"1" + b"}" * 5000,
    b'{"cut": ',
    b"{bad}",
    b"",
    b'{"a": "\xff"}',
]


@pytest.mark.parametrize("text", JSON_TEXTS, ids=range(len(JSON_TEXTS)))
def test_the_index_reader_parses_as_json_does(text: bytes | str) -> None:
    try:
        expected = repr(json.loads(text))  # repr: 1 and 1.0, or two NaNs, are told apart
    except (ValueError, RecursionError) as exc:
        with pytest.raises(type(exc)) as caught:
            index_read.loads(text)
        assert str(caught.value) == str(exc)
    else:
        assert repr(index_read.loads(text)) == expected


def test_a_record_with_integers_beyond_64_bits_is_indexed_exactly(store: Store) -> None:
    huge = 123456789012345678901234567890
    params = {"seed": huge, "C": 0.5, "n": -(2**70)}
    record_all(store, [make_run("huge0001", params=params), make_run("small001")])
    for workers in (1, 2):  # read here, and by forked readers
        index = Index._memory(store)
        index.workers = workers
        try:
            index.sync()
            row = index.get("huge0001")
            assert row is not None
            assert {k: type(v) for k, v in row.params.items()} == {
                "seed": int,
                "C": float,
                "n": int,
            }
            assert row.params == params
            assert [r.id for r in index.query(["params.C == 0.5"])] == ["huge0001"]
            assert [r.id for r in index.query([f"params.seed == {huge}"])] == ["huge0001"]
            assert [r.id for r in index.query([f"params.n < {-(2**69)}"])] == ["huge0001"]
            assert index.query([f"params.seed != {huge}"]) == []
        finally:
            index.close()


DEEP: Any = 1
for _ in range(33):
    DEEP = [DEEP]
HOSTILE_DOCS = [
    {"params": {"C\n": 1}},
    {"params": {"": 1}},
    {"params": {"a": "x\u0085y"}},
    {"params": {"a": "x\x7fy"}},
    {"params": {"a": "\x1b[31m"}},
    {"params": {"a": "t" * 10_001}},
    {"params": {"a": DEEP}},
    {"environment": {"k": "\u0000"}},
    {"notes": {"hypothesis": "line\nbreak"}},
    {"params": {"a": "ok"}},
]


@pytest.mark.parametrize("change", HOSTILE_DOCS)
def test_the_clean_text_shortcut_never_accepts_what_the_full_check_refuses(
    change: dict[str, Any],
) -> None:
    files = fmt.encode_run(make_run("case0001"))
    doc = json.loads(files[fmt.RUN_FILE])
    doc.update(change)
    for blob in (json.dumps(doc).encode(), json.dumps(doc, ensure_ascii=False).encode()):
        parsed = json.loads(blob)
        try:
            schema.check_run_document(parsed)
            full = None
        except schema.InvalidRecord as exc:
            full = exc.message
        try:
            schema.check_run_document(parsed, clean=schema.is_clean(blob))
            fast = None
        except schema.InvalidRecord as exc:
            fast = exc.message
        assert fast == full


def test_an_index_open_while_another_process_rebuilds_reads_the_new_values(
    repo: Path, store: Store
) -> None:
    record_all(store, [make_run("old00001", params={"C": 1, "solver": "lbfgs"})])
    long_lived = open_index(store)
    assert rows_of(long_lived)[0].params == {"C": 1, "solver": "lbfgs"}
    git(repo, "branch", "-D", "journal")
    store.init()
    record_all(store, [make_run("new00001", params={"C": 2, "kernel": "rbf"})])
    with open_index(store) as other:  # rebuilds: the ids of the tables of values start again
        assert [r.id for r in rows_of(other)] == ["new00001"]
    long_lived.sync()
    assert rows_of(long_lived) == fresh_rows(store)
    assert [r.id for r in long_lived.query(["params.kernel == rbf"])] == ["new00001"]
    long_lived.close()


def test_a_reader_that_fails_leaves_the_work_to_this_process(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_all(store, [make_run(f"fail{i:04d}", params={"C": i}, second=i) for i in range(6)])
    parent = os.getpid()
    real = index_read._read_jobs

    def broken_in_children(repo: pygit2.Repository, jobs: Any) -> Any:
        if os.getpid() != parent:
            raise RuntimeError("a reader died")
        return real(repo, jobs)

    monkeypatch.setattr(index_read, "_read_jobs", broken_in_children)
    forked = Index._memory(store)
    forked.workers = 2
    try:
        forked.sync()
        assert rows_of(forked) == fresh_rows(store)
        assert len(rows_of(forked)) == 6
    finally:
        forked.close()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("workers", [1, 2])
def test_a_long_build_says_how_far_it_is(store: Store, workers: int) -> None:
    record_all(store, [make_run(f"long{i:04d}", params={"C": i}, second=i) for i in range(6)])
    said = io.StringIO()
    index = Index._memory(store)
    index.workers = workers
    index.progress, index.progress_min = said, 1  # as if 6 runs took long to read
    try:
        index.sync()
        start, done = said.getvalue().splitlines()
        assert start == "Indexing the journal's runs (once: later commands read the index)"
        assert done.startswith("Indexed the journal's runs: 6 in ") and done.endswith(" s.")
        record_all(store, [make_run(f"newr{i:04d}", second=50 + i) for i in range(2)])
        said.seek(0)
        said.truncate()
        index.sync()
        assert said.getvalue().splitlines()[-1].startswith("Indexed the journal's new runs: 2 in ")
    finally:
        index.close()


def test_a_build_says_its_count_on_a_terminal_and_nothing_when_quick(store: Store) -> None:
    record_all(store, [make_run(f"term{i:04d}", second=i) for i in range(3)])
    terminal = _Terminal()
    index = Index._memory(store)
    index.progress, index.progress_min = terminal, 1
    try:
        index.sync()
    finally:
        index.close()
    text = terminal.getvalue()
    assert text.startswith("Indexing the journal's runs (once")
    assert text.endswith("\n") and text.count("\n") == 1  # one line, rewritten in place
    assert "\r\x1b[KIndexed the journal's runs: 3 in " in text
    quick = io.StringIO()
    index = Index._memory(store)
    index.progress = quick  # 3 runs, under PROGRESS_MIN_RUNS: read without a word
    try:
        index.sync()
    finally:
        index.close()
    assert quick.getvalue() == ""
