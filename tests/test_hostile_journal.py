"""Hostile journals crafted with real git plumbing (`hash-object`, `mktree`, `commit-tree`,
`update-ref`) in another clone: submodule entries, numbers beyond a float, names that are not
UTF-8, a second folder of one run id, a rewritten result, impossible times, a forged
leaderboard, a folder naming one file twice, trailers naming another run. The server's
pre-receive hook and `sync` refuse each one, naming the run; `verify` lists them; readers go on.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import GIT_ENV, git
from helpers import Cli, install_pre_receive, make_run, pushed_clones, run_git

from gitlab_journal.cli import main
from gitlab_journal.hooks import receive
from gitlab_journal.journal import format as fmt
from gitlab_journal.journal import schema
from gitlab_journal.journal.records import Run
from gitlab_journal.journal.schema import InvalidRecord
from gitlab_journal.journal.store import Store

BIN = str(Path(sys.executable).parent)
ENV = {**os.environ, **GIT_ENV, "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}
GITLINK = "1" * 40
# (mode, type, object id, name): one entry of a tree, as `git mktree` reads it.
Entry = tuple[str, str, str, bytes]


def hash_blob(clone: Path, data: bytes) -> str:
    return run_git(clone, "hash-object", "-w", "--stdin", stdin=data)


def make_tree(clone: Path, entries: Sequence[Entry], *, literally: bool = False) -> str:
    """A tree of ``entries``: by `git mktree`, or (``literally``) written byte for byte with
    `git hash-object -t tree --literally`, as git itself would refuse to make it."""
    if not literally:
        text = b"".join(f"{m} {t} {o}\t".encode() + name + b"\0" for m, t, o, name in entries)
        return run_git(clone, "mktree", "-z", stdin=text)
    raw = b"".join(
        m.lstrip("0").encode() + b" " + name + b"\0" + bytes.fromhex(o) for m, _, o, name in entries
    )
    return run_git(clone, "hash-object", "-w", "-t", "tree", "--literally", "--stdin", stdin=raw)


def file_entries(clone: Path, files: Mapping[str, bytes]) -> list[Entry]:
    return [
        ("100644", "blob", hash_blob(clone, data), name.encode()) for name, data in files.items()
    ]


def listing(clone: Path, treeish: str) -> list[Entry]:
    out = subprocess.run(
        ["git", "ls-tree", "-z", treeish], cwd=clone, env=ENV, capture_output=True, check=False
    )
    if out.returncode != 0:
        return []
    entries: list[Entry] = []
    for item in out.stdout.split(b"\0"):
        if item:
            head, _, name = item.partition(b"\t")
            mode, kind, oid = head.decode().split()
            entries.append((mode, kind, oid, name))
    return entries


def graft(clone: Path, path: str, entry: tuple[str, str, str], message: str) -> str:
    """A commit on the clone's journal with ``entry`` (mode, type, id) at ``path``."""
    parent = run_git(clone, "rev-parse", "refs/heads/journal")
    parts = path.split("/")
    current = entry
    for depth in range(len(parts) - 1, -1, -1):
        above = "/".join(parts[:depth])
        name = parts[depth].encode()
        kept = [e for e in listing(clone, f"{parent}:{above}") if e[3] != name]
        current = ("040000", "tree", make_tree(clone, [*kept, (*current, name)]))
    commit = run_git(clone, "commit-tree", current[2], "-p", parent, "-m", message)
    run_git(clone, "update-ref", "refs/heads/journal", commit, parent)
    return commit


def where(run: Run) -> str:
    return fmt.run_dir(run.fingerprint, run.id, version=fmt.FORMAT_VERSION)


def craft(
    clone: Path,
    run: Run,
    files: Mapping[str, bytes] | None = None,
    *,
    extra: Sequence[Entry] = (),
    literally: bool = False,
    message: str | None = None,
) -> str:
    """A commit adding ``run``'s folder (its genuine files, or ``files``, plus ``extra``)."""
    entries = [*file_entries(clone, fmt.encode_run(run) if files is None else files), *extra]
    tree = make_tree(clone, entries, literally=literally)
    text = (
        message or f"hand-made run\n\nJournal-Fingerprint: {run.fingerprint}\nJournal-Run: {run.id}"
    )
    return graft(clone, where(run), ("040000", "tree", tree), text)


def edited(run: Run, name: str, change: Mapping[str, object]) -> dict[str, bytes]:
    """The genuine files of ``run``, with ``change`` written into the JSON file ``name``."""
    files = fmt.encode_run(run)
    doc = json.loads(files[name])
    doc.update(change)
    files[name] = json.dumps(doc, indent=2).encode()
    return files


@pytest.fixture
def clones(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(a bare server with the real pre-receive hook, clone A with two runs pushed, clone B
    with the same journal, and a remote ``open`` without the hook that both know)."""
    bare = tmp_path / "server.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    install_pre_receive(bare)
    git(tmp_path, "init", "-q", "--bare", str(tmp_path / "open.git"))
    a, b = pushed_clones(tmp_path, bare)
    for clone in (a, b):
        git(clone, "remote", "add", "open", str(tmp_path / "open.git"))
    return bare, a, b


def push(clone: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "push", *(args or ("origin", "journal"))],
        cwd=clone,
        env=ENV,
        capture_output=True,
        text=True,
    )


def refused(clone: Path, bare: Path) -> str:
    """Push the clone's journal to the hooked server: it must be refused, cleanly (no bug),
    and leave the server's journal as it was; what the hook said."""
    before = run_git(bare, "rev-parse", "journal")
    done = push(clone)
    assert done.returncode != 0, done.stderr
    assert "journal push refused" in done.stderr, done.stderr
    assert "unexpected" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert run_git(bare, "rev-parse", "journal") == before
    return done.stderr


def sync_refused(a: Path, b: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> str:
    """B's journal through a remote without the hook; A's `sync` must refuse it (exit 1) and
    merge nothing; what it said."""
    assert push(b, "open", "journal").returncode == 0
    tip = run_git(a, "rev-parse", "journal")
    monkeypatch.chdir(a)
    code, _, err = cli("sync", "open", "--no-push")
    assert code == 1, err
    assert "unexpected" not in err
    assert run_git(a, "rev-parse", "journal") == tip
    return err


def verified(cli: Cli, clone: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """`git journal verify` in the clone must find a bad record (exit 1); what it listed."""
    monkeypatch.chdir(clone)
    code, out, err = cli("verify")
    assert code == 1, (out, err)
    return out


# -- 1. submodule entries ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sub", "run.json"])
def test_a_submodule_entry_in_a_run_folder_is_a_bad_record(
    clones: tuple[Path, Path, Path], cli: Cli, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    bare, a, b = clones
    run = make_run("gitlink01", {"C": 11.0})
    files = {k: v for k, v in fmt.encode_run(run).items() if k != name}
    craft(b, run, files, extra=[("160000", "commit", GITLINK, name.encode())])
    path = where(run)

    said = refused(b, bare)

    assert f"{path}: invalid run record: {name}: a submodule" in said
    assert path in verified(cli, b, monkeypatch)
    assert path in sync_refused(a, b, cli, monkeypatch)


def test_a_crash_in_the_servers_hook_keeps_its_log_in_the_repository_through_no_link(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bare = tmp_path / "server.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    shared = tmp_path / "tmp"  # the shared temporary folder, a link planted in it
    shared.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (shared / "gitlab-journal-last-error.log").symlink_to(victim)

    def broken(*args: object) -> None:
        raise RuntimeError("a bug in the hook")

    monkeypatch.setattr(receive, "check_push", broken)
    monkeypatch.setenv("TMPDIR", str(shared))
    monkeypatch.setenv("GIT_DIR", ".")  # as git runs pre-receive: in the bare repository
    monkeypatch.chdir(bare)
    log = bare / "journal" / "last-error.log"
    for _ in range(2):
        monkeypatch.setattr(sys, "stdin", io.StringIO(f"{'0' * 40} {'1' * 40} refs/heads/x\n"))

        code = main(["hooks", "pre-receive"])

        err = capsys.readouterr().err
        assert code == 3
        assert victim.read_text() == "precious\n"
        assert not log.is_symlink() and "a bug in the hook" in log.read_text()
        assert str(log) in err or "journal/last-error.log" in err
        log.unlink()
        log.symlink_to(victim)  # the second time, a link where the log goes: replaced


# -- 2. numbers beyond a float ---------------------------------------------------------------


HUGE = 10**400


@pytest.mark.parametrize("field", ["metrics", "params"])
def test_a_number_beyond_the_range_of_a_float_is_refused_and_skipped(
    tmp_path: Path,
    clones: tuple[Path, Path, Path],
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    field: str,
) -> None:
    bare, _, b = clones
    run = make_run("hugeint01", {"C": 12.0})
    if field == "metrics":
        files = edited(run, fmt.METRICS_FILE, {"accuracy": HUGE})
    else:
        files = edited(run, fmt.RUN_FILE, {"params": {"C": HUGE}, "point": {"C": HUGE}})
    craft(b, run, files)
    path = where(run)

    said = refused(b, bare)

    assert (
        f"{path}: invalid run record: {field}.{'accuracy' if field == 'metrics' else 'C'}" in said
    )
    assert "beyond the range of a float" in said
    monkeypatch.chdir(b)  # landed anyway (a remote without the hook): every reader goes on
    for args in (
        ("compare", "good0001", "good0002"),
        ("compare", "--where", "status == ok"),
        ("report", "--html", str(tmp_path / "r.html")),
        ("export", "--openmetrics", "-o", str(tmp_path / "metrics.txt")),
    ):
        code, _, err = cli(*args)
        assert code == 0, (args, err)
        warnings = [line for line in err.splitlines() if line.startswith("warning:")]
        assert len(warnings) == 1 and path in warnings[0], (args, err)
    assert path in verified(cli, b, monkeypatch)


def test_large_integers_that_a_float_holds_are_kept() -> None:
    run = make_run("bigseed1", {"C": 1.0, "n": 2**64}, seeds={"split": 2**64, "big": 10**300})
    files = fmt.encode_run(run)
    assert fmt.validate_files(files, fingerprint=run.fingerprint, run_id=run.id, where="x")
    files[fmt.METRICS_FILE] = json.dumps({"accuracy": 10**300, "count": 2**64}).encode()
    assert fmt.validate_files(files, fingerprint=run.fingerprint, run_id=run.id, where="x")


def test_log_keeps_its_table_for_a_long_number(
    clones: tuple[Path, Path, Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, b = clones
    run = make_run("longnum1", {"C": 13.0}, second=5)
    craft(b, run, edited(run, fmt.METRICS_FILE, {"accuracy": 10**300}))
    monkeypatch.chdir(b)

    code, out, err = cli("log")

    assert code == 0, err
    assert "longnum1" in out and "1e+300" in out
    assert "0" * 30 not in out


# -- 3. names that are not UTF-8 -------------------------------------------------------------


def test_a_file_name_that_is_not_utf8_is_refused_and_the_site_still_builds(
    tmp_path: Path, clones: tuple[Path, Path, Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare, a, b = clones
    run = make_run("badname1", {"C": 14.0})
    craft(b, run, extra=[("100644", "blob", hash_blob(b, b"png"), b"bad\xffname.png")])
    path = where(run)

    said = refused(b, bare)

    assert path in said and "not UTF-8" in said
    assert "not UTF-8" in verified(cli, b, monkeypatch)
    monkeypatch.chdir(b)  # landed anyway: the site is built all the same
    code, _, err = cli("site", str(tmp_path / "site"))
    assert code == 0, err
    assert "not UTF-8" in sync_refused(a, b, cli, monkeypatch)


# -- 4. one run id, two folders --------------------------------------------------------------


def test_a_second_folder_with_a_recorded_run_id_is_refused_and_verify_lists_it(
    clones: tuple[Path, Path, Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare, a, b = clones
    impostor = make_run("good0001", {"C": 99.0}, metrics={"accuracy": 0.1111})
    craft(b, impostor)
    real = make_run("good0001", {"C": 1.0})

    said = refused(b, bare)

    assert f"run id good0001 is the id of the run at {where(real)} already" in said
    listed = verified(cli, b, monkeypatch)
    assert where(impostor) in listed or where(real) in listed
    assert "good0001" in sync_refused(a, b, cli, monkeypatch)


@pytest.mark.parametrize("index", ["none", "current", "behind"])
def test_sync_refuses_a_reused_run_id_with_or_without_the_index(
    clones: tuple[Path, Path, Path], cli: Cli, monkeypatch: pytest.MonkeyPatch, index: str
) -> None:
    """The index answers which ids this side holds (it catches up first when behind); with
    none, every run folder is listed: the same refusal, naming the same folder."""
    _, a, b = clones
    monkeypatch.chdir(a)
    if index != "none":
        assert cli("log")[0] == 0
    if index == "behind":
        Store.discover(a).record(make_run("later001", {"C": 3.0}, second=2))
    impostor = make_run("good0002", {"C": 98.0}, metrics={"accuracy": 0.1})
    craft(b, impostor)
    late = make_run("later001", {"C": 97.0}, second=3)
    craft(b, late)

    said = sync_refused(a, b, cli, monkeypatch)

    real = make_run("good0002", {"C": 2.0}, second=1)
    assert f"run id good0002 is the id of the run at {where(real)} already" in said
    assert (a / ".git" / "journal" / "index.sqlite").exists() == (index != "none")


def test_the_index_says_where_a_journal_holds_run_ids_and_when_it_cannot(
    clones: tuple[Path, Path, Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitlab_journal.journal.index import Index

    _, a, _ = clones
    store = Store.discover(a)
    assert Index.existing(store) is None  # no index yet: sync lists the folders instead
    bad = make_run("badrec01", {"C": 4.0}, second=4)
    craft(a, bad, edited(bad, fmt.METRICS_FILE, {"accuracy": "high"}))  # an invalid record
    monkeypatch.chdir(a)
    assert cli("log")[0] == 0
    tip = store.require().id
    store.record(make_run("new00001", {"C": 5.0}, second=5))  # the index is now behind
    after = store.require().id
    index = Index.existing(store)
    assert index is not None
    with index:
        held = index.held_ids(after, ["good0001", "badrec01", "new00001", "nosuch01"])
        assert held == {
            "good0001": where(make_run("good0001", {"C": 1.0})),
            "badrec01": where(bad),
            "new00001": where(make_run("new00001", {"C": 5.0}, second=5)),
        }
        assert index.stored_tip() == str(after)  # it caught up to answer
        # An older tip than the index reflects: the index cannot say; the tree is walked.
        assert index.held_ids(tip, ["good0001"]) is None


def test_the_index_cannot_say_when_it_is_locked_or_unreadable_and_sync_walks(
    clones: tuple[Path, Path, Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index another process is writing is not waited for, nor rebuilt in memory; one whose
    tables cannot be read is no crash: either way the run folders are listed instead."""
    import sqlite3

    from gitlab_journal.journal.index import Index

    _, a, b = clones
    monkeypatch.chdir(a)
    assert cli("log")[0] == 0
    store = Store.discover(a)
    store.record(make_run("later001", {"C": 3.0}, second=2))  # the index is behind
    path = a / ".git" / "journal" / "index.sqlite"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process catching up, say
    try:
        index = Index.existing(store)
        assert index is not None
        with index:
            assert index.held_ids(store.require().id, ["good0001"]) is None
            assert index.path == path  # still the file, not a private rebuild
    finally:
        writer.execute("ROLLBACK")
        writer.close()

    with sqlite3.connect(path) as broken:
        broken.execute("DROP TABLE invalid")  # what a damaged page looks like to a query
    craft(b, make_run("good0002", {"C": 96.0}, metrics={"accuracy": 0.2}))
    said = sync_refused(a, b, cli, monkeypatch)
    real = make_run("good0002", {"C": 2.0}, second=1)
    assert f"run id good0002 is the id of the run at {where(real)} already" in said


@pytest.mark.parametrize("index", [False, True])
def test_a_stray_file_named_like_a_run_id_does_not_hold_that_id(
    clones: tuple[Path, Path, Path], cli: Cli, monkeypatch: pytest.MonkeyPatch, index: bool
) -> None:
    """A file (not a folder) where a run folder would be is a stray entry, not a run: a run of
    that name from elsewhere merges, whether the index or the folder listing answers."""
    _, a, b = clones
    other = make_run("strayid1", {"C": 4.0}, second=4)
    home = make_run("strayid1", {"C": 5.0}, second=5)
    graft(a, where(home), ("100644", "blob", hash_blob(a, b"not a run")), "a stray file")
    monkeypatch.chdir(a)
    if index:
        assert cli("log")[0] == 0
    craft(b, other)
    assert push(b, "open", "journal").returncode == 0

    code, _, err = cli("sync", "open", "--no-push")

    assert code == 0, err
    assert (a / ".git" / "journal" / "index.sqlite").exists() == index
    assert "strayid1" in run_git(a, "ls-tree", "-r", "--name-only", "journal", where(other))


def test_one_push_adding_two_folders_of_one_run_id_is_refused(
    clones: tuple[Path, Path, Path],
) -> None:
    bare, _, b = clones
    craft(b, make_run("twin0001", {"C": 21.0}))
    craft(b, make_run("twin0001", {"C": 22.0}))

    said = refused(b, bare)

    assert "run id twin0001" in said


# -- 5. a recorded run rewritten -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "change", "shown"),
    [
        (fmt.METRICS_FILE, {"accuracy": 1.0}, "metrics.json: accuracy changed"),
        (fmt.RUN_FILE, {"status": "failed"}, "run.json: status changed"),
        (fmt.IDENTITY_FILE, None, "identity.json is gone"),
    ],
)
def test_a_push_that_rewrites_a_recorded_run_is_refused_naming_the_file(
    clones: tuple[Path, Path, Path],
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    change: dict[str, object] | None,
    shown: str,
) -> None:
    bare, a, b = clones
    real = make_run("good0001", {"C": 1.0})
    if change is None:
        files = {k: v for k, v in fmt.encode_run(real).items() if k != name}
    else:
        files = edited(real, name, change)
    craft(b, real, files)

    said = refused(b, bare)

    assert f"{where(real)}: a recorded run changed: {shown}" in said
    if change is not None:
        assert "good0001" in sync_refused(a, b, cli, monkeypatch)
        return
    assert push(b, "open", "journal").returncode == 0  # a file removed: the union keeps it
    monkeypatch.chdir(a)
    assert cli("sync", "open", "--no-push")[0] == 0
    assert (
        run_git(a, "show", f"journal:{where(real)}/{name}")
        == fmt.encode_run(real)[name].decode().strip()
    )


def test_what_a_journal_adds_to_a_recorded_run_is_accepted(
    clones: tuple[Path, Path, Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare, a, _ = clones
    monkeypatch.chdir(a)
    assert cli("note", "good0001", "-m", "Looks right.")[0] == 0
    assert cli("note", "good0001", "-m", "Looks right.")[0] == 0  # the same note again
    store = Store.discover(a)
    run = store.read(make_run("good0001", {"C": 1.0}).fingerprint, "good0001")
    reproduced = {"result": "identical", "by": "good0002"}
    store.update_run(replace(run, reproductions=(reproduced,)), "Reproduce run good0001")
    run = store.read(run.fingerprint, run.id)
    later = replace(run, metrics={**run.metrics, "f1_score_test": 0.8})  # as autologging adds
    store.update_run(later, "Metric f1_score_test of run good0001")

    done = push(a)

    assert done.returncode == 0, done.stderr
    assert run_git(bare, "rev-parse", "journal") == run_git(a, "rev-parse", "journal")


# -- 6. times that are no time ---------------------------------------------------------------


@pytest.mark.parametrize(
    "created",
    [
        "9999-99-99T99:99:99Z",
        "٢٠٢٧-01-01T00:00:00Z",  # Arabic-Indic digits
        "2026-02-30T00:00:00Z",
        "2026-12-07T24:00:00Z",
        "2026-12-07 10:00:00",
        "2026-12-07T10:00:00+02:00",
    ],
)
def test_a_created_time_that_is_not_a_utc_time_is_a_bad_record(
    clones: tuple[Path, Path, Path], cli: Cli, monkeypatch: pytest.MonkeyPatch, created: str
) -> None:
    _, _, b = clones
    run = make_run("created1", {"C": 15.0})
    craft(b, run, edited(run, fmt.RUN_FILE, {"created": created}))

    listed = verified(cli, b, monkeypatch)

    assert f"{where(run)}: invalid run record: created: must be a time" in listed


def test_a_real_utc_time_is_accepted() -> None:
    for created in ("2024-02-29T23:59:59Z", "1999-12-31T00:00:00Z"):
        run = make_run("created2", {"C": 1.0}, created=created)
        files = fmt.encode_run(run)
        assert fmt.validate_files(files, fingerprint=run.fingerprint, run_id=run.id, where="x")
    doc = {**json.loads(files[fmt.RUN_FILE]), "created": "2023-02-29T00:00:00Z"}  # no leap year
    with pytest.raises(InvalidRecord, match="created: must be a time"):
        schema.check_run_document(doc)


# -- 7. the leaderboard ----------------------------------------------------------------------


def board_with(rows: list[dict[str, object]]) -> bytes:
    family = {
        "family": "LogisticRegression on train",
        "metric": "accuracy",
        "higher_is_better": True,
        "updated": "2024-05-01T10:00:00Z",
        "top": rows,
    }
    return json.dumps({"format": 1, "top": 10, "families": [family]}).encode()


def row(run_id: str, fingerprint: str, score: float) -> dict[str, object]:
    return {
        "id": run_id,
        "fingerprint": fingerprint,
        "model": "sklearn.linear_model.LogisticRegression",
        "point": {"C": 1},
        "score": score,
        "created": "2024-05-01T10:00:00Z",
        "code": None,
    }


def test_a_pushed_leaderboard_row_naming_no_run_is_refused(
    clones: tuple[Path, Path, Path],
) -> None:
    bare, _, b = clones
    good = make_run("good0001", {"C": 1.0})
    board = board_with([row("fake0000beef", "f" * 64, 1.0), row("good0001", good.fingerprint, 0.9)])
    graft(b, "leaderboard.json", ("100644", "blob", hash_blob(b, board)), "hand-made board")

    said = refused(b, bare)

    assert "leaderboard.json" in said and "fake0000beef" in said


def test_a_record_keeps_only_the_leaderboard_rows_of_recorded_runs_with_their_score(
    clones: tuple[Path, Path, Path],
) -> None:
    _, _, b = clones
    good1, good2 = make_run("good0001", {"C": 1.0}), make_run("good0002", {"C": 2.0}, second=1)
    board = board_with(
        [
            row("fake0000beef", "f" * 64, 1.0),  # no such run
            row("good0002", good2.fingerprint, 0.99),  # a run, another score
            row("good0001", good1.fingerprint, 0.9),  # as recorded
        ]
    )
    graft(b, "leaderboard.json", ("100644", "blob", hash_blob(b, board)), "hand-made board")

    Store.discover(b).record(make_run("after001", {"C": 3.0}, metrics={"accuracy": 0.7}, second=2))

    (family,) = json.loads(run_git(b, "show", "journal:leaderboard.json"))["families"]
    assert [r["id"] for r in family["top"]] == ["good0001", "after001"]
    readme = run_git(b, "show", "journal:README.md")
    assert "fake0000beef" not in readme and "0.9900" not in readme


# -- 8. one name twice in a folder -----------------------------------------------------------


def test_a_run_folder_naming_a_file_twice_is_refused(
    clones: tuple[Path, Path, Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare, a, b = clones
    run = make_run("twice001", {"C": 16.0})
    files = fmt.encode_run(run)
    failed = edited(run, fmt.RUN_FILE, {"status": "failed"})[fmt.RUN_FILE]
    entries = file_entries(b, files)
    entries.insert(0, ("100644", "blob", hash_blob(b, failed), b"run.json"))
    entries.sort(key=lambda e: e[3])
    craft(b, run, {}, extra=entries, literally=True)
    path = where(run)

    said = refused(b, bare)

    assert f"{path}: invalid run record: run.json: named twice in one folder" in said
    assert path in verified(cli, b, monkeypatch)
    assert path in sync_refused(a, b, cli, monkeypatch)


# -- 9. trailers that name another run -------------------------------------------------------


def test_a_commit_whose_trailers_name_another_run_is_refused(
    clones: tuple[Path, Path, Path],
) -> None:
    bare, _, b = clones
    run = make_run("trailer1", {"C": 17.0})
    other = make_run("good0001", {"C": 1.0})
    message = (
        f"hand-made run\n\nJournal-Fingerprint: {other.fingerprint}\nJournal-Run: good0001\n"
        "Status: failed"
    )
    commit = craft(b, run, message=message)

    said = refused(b, bare)

    assert f"commit {commit[:10]}" in said and "Journal-Run: good0001" in said
    assert "trailer1" in said


# -- 10. what a refusal says -----------------------------------------------------------------


def test_a_refused_bad_record_says_to_verify_and_a_force_push_not_to_force(
    clones: tuple[Path, Path, Path],
) -> None:
    bare, a, b = clones
    run = make_run("hint0001", {"C": 18.0})
    craft(b, run, edited(run, fmt.RUN_FILE, {"status": 3}))

    said = refused(b, bare)

    assert "git journal verify" in said and "force-push" not in said
    git(a, "branch", "-f", "journal", "journal~1")
    Store.discover(a).record(make_run("hint0002", {"C": 19.0}))
    forced = push(a, "--force", "origin", "journal")
    assert forced.returncode != 0
    assert "never force-push" in forced.stderr and "git journal verify" not in forced.stderr
