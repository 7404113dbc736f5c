"""Journal formats 1 and 2: a format 1 journal (crafted with git plumbing, or kept by an older
clone) is read and written in its own layout; `git journal migrate` moves it to format 2 without
changing a run; clones of two formats refuse to merge until both migrated; the server-side hook
takes a migration and refuses a way back."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import GIT_ENV, git, make_repo
from helpers import Cli, fsck, make_run

from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.store import Store

BIN = str(Path(sys.executable).parent)


def env() -> dict[str, str]:
    return {**os.environ, **GIT_ENV, "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}


def v1_path(fingerprint: str, run_id: str) -> str:
    return f"runs/{fingerprint[:2]}/{fingerprint[2:]}/{run_id}"


def v2_path(fingerprint: str, run_id: str) -> str:
    return f"runs/{fingerprint[:2]}/{fingerprint[2:4]}/{fingerprint[4:]}/{run_id}"


def mktree(repo: Path, entries: list[tuple[str, str, str]]) -> str:
    """`git mktree` of (mode, name, oid) entries."""
    lines = "".join(
        f"{mode} {'tree' if mode == '040000' else 'blob'} {oid}\t{name}\n"
        for mode, name, oid in entries
    )
    done = subprocess.run(
        ["git", "mktree"], cwd=repo, input=lines, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def hash_blob(repo: Path, data: bytes) -> str:
    done = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"], cwd=repo, input=data, capture_output=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.decode().strip()


def commit_tree(repo: Path, tree: str, message: str, *parents: str) -> str:
    """`git commit-tree` of ``tree`` with ``parents``: the new commit's id."""
    args = [arg for parent in parents for arg in ("-p", parent)]
    done = subprocess.run(
        ["git", "commit-tree", tree, *args, "-m", message],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env(),
        check=True,
    )
    return done.stdout.strip()


def craft_v1_journal(repo: Path, runs: list[tuple[str, dict[str, bytes]]]) -> str:
    """A format 1 journal written with git plumbing alone, as an older clone left it: each
    (fingerprint, files) at runs/<fp[:2]>/<fp[2:]>/<run id>/; returns the tip."""
    shards: dict[str, list[tuple[str, str, str]]] = {}
    for fingerprint, files in runs:
        run_id = json.loads(files[fmt.RUN_FILE])["id"]
        folder = mktree(repo, [("100644", n, hash_blob(repo, d)) for n, d in sorted(files.items())])
        fp_tree = mktree(repo, [("040000", run_id, folder)])
        shards.setdefault(fingerprint[:2], []).append(("040000", fingerprint[2:], fp_tree))
    runs_tree = mktree(repo, [("040000", s, mktree(repo, e)) for s, e in sorted(shards.items())])
    root = mktree(
        repo,
        [
            ("100644", "FORMAT", hash_blob(repo, b"1\n")),
            ("100644", "README.md", hash_blob(repo, fmt.readme_text(1).encode())),
            ("040000", "runs", runs_tree),
        ],
    )
    commit = commit_tree(repo, root, "Journal of an older clone")
    git(repo, "update-ref", "refs/heads/journal", commit)
    return commit


def folders(repo: Path, ref: str = "journal") -> dict[str, str]:
    """run id -> the git id of its folder, read by plain git (any layout): the folders named
    by the journal's ``Journal-Run`` trailers."""
    log = git(repo, "log", "--format=%(trailers:key=Journal-Run,valueonly)", ref)
    ids = {line.strip() for line in log.splitlines() if line.strip()}
    out: dict[str, str] = {}
    for line in git(repo, "ls-tree", "-r", "-t", ref, "runs").splitlines():
        meta, path = line.split("\t")
        name = path.rsplit("/", 1)[-1]
        if meta.split()[1] == "tree" and name in ids:
            out[name] = meta.split()[2]
    return out


def log_ids(cli: Cli) -> list[str]:
    code, out, err = cli("log", "--json")
    assert code == 0, err
    return sorted(run["id"] for run in json.loads(out))


def v1_journal(repo: Path, count: int) -> list[str]:
    """A format 1 journal of ``count`` runs, recorded by Store in the journal's own layout."""
    store = Store.discover(repo)
    store.init(version=1)
    ids = []
    for i in range(count):
        run = store.record(make_run(f"run{i:05d}", {"C": float(i)}, metrics={"accuracy": i / 100}))
        ids.append(run.id)
    return ids


def test_a_format_1_journal_crafted_with_plumbing_is_read_and_grows_in_its_layout(
    repo: Path, cli: Cli
) -> None:
    first = make_run("old00001", {"C": 1.0})
    craft_v1_journal(repo, [(first.fingerprint, fmt.encode_run(first))])
    store = Store.discover(repo)
    [found] = store.find(first.fingerprint)
    assert found.id == "old00001" and found.metrics == first.metrics
    assert log_ids(cli) == ["old00001"]
    code, out, _ = cli("show", "old00001")
    assert code == 0 and "old00001" in out

    second = store.record(make_run("new00001", {"C": 2.0}))
    assert git(repo, "show", "journal:FORMAT") == "1\n"
    git(repo, "cat-file", "-e", f"journal:{v1_path(second.fingerprint, second.id)}/run.json")
    assert log_ids(cli) == ["new00001", "old00001"]
    assert cli("verify")[0] == 0
    fsck(repo)


def test_migrate_moves_every_run_unchanged(repo: Path, cli: Cli) -> None:
    ids = v1_journal(repo, 12)
    store = Store.discover(repo)
    [first] = store.find(make_run(ids[0], {"C": 0.0}).fingerprint)
    store.update_run_records([first], "Rewrite the first run's record in format 1")
    before_tip = git(repo, "rev-parse", "journal").strip()
    before = folders(repo)
    assert log_ids(cli) == ids  # the index, built at format 1
    old_board = git(repo, "show", "journal:leaderboard.json")
    loose = int(git(repo, "count-objects", "-v").splitlines()[0].split()[1])

    code, out, err = cli("migrate", "-q")
    assert code == 0, err
    assert "from format 1 to 2" in out and "12 experiment(s)" in out

    assert git(repo, "show", "journal:FORMAT") == "2\n"
    assert git(repo, "rev-parse", "journal~1").strip() == before_tip  # one commit on top
    after = folders(repo)
    assert after == before  # every run folder is the same git tree
    for run_id, folder in after.items():
        [run] = [r for r in store.iter_runs() if r.id == run_id]
        assert git(repo, "rev-parse", f"journal:{v2_path(run.fingerprint, run_id)}").strip() == (
            folder
        )
    assert git(repo, "show", "journal:leaderboard.json") == old_board
    readme = git(repo, "show", "journal:README.md")
    assert fmt.layout(2) in readme and fmt.layout(1) not in readme and ids[-1] in readme
    assert log_ids(cli) == ids  # the index caught up across the move
    assert cli("verify")[0] == 0
    fsck(repo)
    written = 2 + 12 + 12 + 3  # runs/, first and second level shards, root, FORMAT, README
    assert (
        int(git(repo, "count-objects", "-v").splitlines()[0].split()[1]) <= loose < written + loose
    )
    # ^ the trees it wrote went into a pack, not loose

    # Again: nothing to do. A new record lands in the new layout.
    code, out, _ = cli("migrate")
    assert code == 0 and "already" in out
    tip = git(repo, "rev-parse", "journal").strip()
    run = store.record(make_run("after001", {"C": 99.0}))
    assert git(repo, "rev-parse", "journal~1").strip() == tip
    git(repo, "cat-file", "-e", f"journal:{v2_path(run.fingerprint, run.id)}/run.json")
    assert log_ids(cli) == sorted([*ids, "after001"])


def test_migrate_refuses_what_format_2_has_no_place_for(repo: Path, cli: Cli) -> None:
    first = make_run("old00001", {"C": 1.0})
    tip = craft_v1_journal(repo, [(first.fingerprint, fmt.encode_run(first))])
    # A stray file among the fingerprints of a shard: migrating would drop it.
    tree = git(repo, "rev-parse", f"journal:runs/{first.fingerprint[:2]}").strip()
    entries = [
        (line.split()[0], line.split("\t")[1], line.split()[2])
        for line in git(repo, "ls-tree", tree).splitlines()
    ]
    shard = mktree(repo, [*entries, ("100644", "notes.txt", hash_blob(repo, b"hi\n"))])
    runs = mktree(repo, [("040000", first.fingerprint[:2], shard)])
    root_entries = [
        (line.split()[0], line.split("\t")[1], line.split()[2])
        for line in git(repo, "ls-tree", "journal").splitlines()
        if not line.endswith("\truns")
    ]
    root = mktree(repo, [*root_entries, ("040000", "runs", runs)])
    commit = commit_tree(repo, root, "A stray file", tip)
    git(repo, "update-ref", "refs/heads/journal", commit)

    code, _, err = cli("migrate", "-q")
    assert code == 2
    assert "notes.txt" in err and "nothing was written" in err
    assert git(repo, "rev-parse", "journal").strip() == commit
    assert git(repo, "show", "journal:FORMAT") == "1\n"


def test_a_migration_killed_before_it_lands_leaves_the_journal_and_records_wait_for_it(
    repo: Path,
) -> None:
    ids = v1_journal(repo, 5)
    tip = git(repo, "rev-parse", "journal").strip()
    lock_path = repo / ".git" / "journal" / "writer.lock"

    def started(*args: str) -> subprocess.Popen[bytes]:
        # A session of its own: a kill reaches git's `git-journal` child too, as a ^C would.
        return subprocess.Popen(
            ["git", "journal", *args],
            cwd=repo,
            env=env(),
            stderr=subprocess.PIPE,
            start_new_session=True,
        )

    # Killed while it waits for the writer lock: nothing moved, nothing half-written.
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        killed = started("migrate", "-q")
        time.sleep(1.5)
        assert killed.poll() is None  # waiting for the lock, inside the migration
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait(timeout=30)
    assert git(repo, "rev-parse", "journal").strip() == tip
    assert git(repo, "show", "journal:FORMAT") == "1\n"
    fsck(repo)

    # Run again, with a record made meanwhile by another process: both land, in format 2.
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); from helpers import make_run; "
        "from gitlab_journal.journal.store import Store; "
        "Store.discover('.').record(make_run('meanwhile', {'C': -1.0}))"
    )
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        migration = started("migrate", "-q")
        record = subprocess.Popen(
            [sys.executable, "-c", script, str(Path(__file__).parent)],
            cwd=repo,
            env=env(),
            stderr=subprocess.PIPE,
        )
        time.sleep(1.5)
        assert migration.poll() is None and record.poll() is None  # both wait for the lock
    assert migration.wait(timeout=60) == 0, migration.stderr.read() if migration.stderr else ""
    assert record.wait(timeout=60) == 0, record.stderr.read() if record.stderr else ""
    assert git(repo, "show", "journal:FORMAT") == "2\n"
    meanwhile = make_run("meanwhile", {"C": -1.0})
    git(repo, "cat-file", "-e", f"journal:{v2_path(meanwhile.fingerprint, 'meanwhile')}/run.json")
    store = Store.discover(repo)
    assert sorted(run.id for run in store.iter_runs()) == sorted([*ids, "meanwhile"])
    assert cli_verify(repo) == 0
    fsck(repo)


def cli_verify(repo: Path) -> int:
    return subprocess.run(["git", "journal", "verify", "-q"], cwd=repo, env=env()).returncode


def sync(cli: Cli, path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    monkeypatch.chdir(path)
    return cli("sync")


def test_clones_of_two_formats_refuse_to_merge_until_both_migrated(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare = tmp_path / "shared.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    a, b = make_repo(tmp_path / "a"), make_repo(tmp_path / "b")
    for path in (a, b):
        git(path, "remote", "add", "origin", str(bare))
    Store.discover(a).init(version=1)
    Store.discover(a).record(make_run("runa0001", {"C": 1.0}))
    assert sync(cli, a, monkeypatch)[0] == 0
    assert sync(cli, b, monkeypatch)[0] == 0  # b takes the format 1 journal
    monkeypatch.chdir(a)
    assert cli("migrate", "-q")[0] == 0
    code, out, err = sync(cli, a, monkeypatch)
    assert code == 0 and "Pushed" in out, err  # a fast-forward of the remote

    Store.discover(b).record(make_run("runb0001", {"C": 2.0}))
    tip_b = git(b, "rev-parse", "journal").strip()
    code, out, err = sync(cli, b, monkeypatch)
    assert code == 2
    assert "format 1" in err and "format 2" in err and "git journal migrate" in err
    assert git(b, "rev-parse", "journal").strip() == tip_b  # nothing merged
    assert git(bare, "show", "journal:FORMAT") == "2\n"  # nothing pushed

    monkeypatch.chdir(b)
    assert cli("migrate", "-q")[0] == 0
    code, out, err = sync(cli, b, monkeypatch)
    assert code == 0 and "Merged 0 run(s)" in out and "Pushed" in out, err  # b had a's run
    assert "both sides changed" not in out  # the README is rendered again, not picked
    code, out, err = sync(cli, a, monkeypatch)
    assert code == 0 and "Merged 1 run(s)" in out, err
    for path in (a, b):
        monkeypatch.chdir(path)
        assert log_ids(cli) == ["runa0001", "runb0001"]
        assert git(path, "show", "journal:FORMAT") == "2\n"
        readme = git(path, "show", "journal:README.md")
        assert "runa0001" in readme and "runb0001" in readme and fmt.layout(2) in readme
        fsck(path)


def test_a_clone_with_nothing_new_fast_forwards_to_the_migrated_journal(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clone a holds the format 1 journal and nothing else; b migrates it and pushes. a's sync
    takes the migrated journal as it is, with and without an index of its own."""
    bare = tmp_path / "shared.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    a, b, c = (make_repo(tmp_path / name) for name in "abc")
    for path in (a, b, c):
        git(path, "remote", "add", "origin", str(bare))
    Store.discover(a).init(version=1)
    Store.discover(a).record(make_run("runa0001", {"C": 1.0}))
    Store.discover(a).record(make_run("runa0002", {"C": 2.0}, second=1))
    assert sync(cli, a, monkeypatch)[0] == 0
    for path in (b, c):
        assert sync(cli, path, monkeypatch)[0] == 0
    monkeypatch.chdir(c)
    assert log_ids(cli) == ["runa0001", "runa0002"]  # c has an index, a has none
    monkeypatch.chdir(b)
    assert cli("migrate", "-q")[0] == 0
    assert sync(cli, b, monkeypatch)[0] == 0
    migrated = git(b, "rev-parse", "journal").strip()

    for path in (a, c):
        code, out, err = sync(cli, path, monkeypatch)
        assert code == 0, err
        assert "fast-forward" in out, out
        assert git(path, "rev-parse", "journal").strip() == migrated
        monkeypatch.chdir(path)
        assert log_ids(cli) == ["runa0001", "runa0002"]
        assert cli("verify")[0] == 0
        fsck(path)


def test_the_server_hook_takes_a_migration_and_refuses_the_way_back(tmp_path: Path) -> None:
    bare = tmp_path / "server.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    done = subprocess.run(
        ["git", "journal", "hooks", "install"], cwd=bare, env=env(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    clone = make_repo(tmp_path / "clone")
    git(clone, "remote", "add", "origin", str(bare))
    v1_journal(clone, 3)

    def push() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "push", "origin", "journal"],
            cwd=clone,
            env=env(),
            capture_output=True,
            text=True,
        )

    assert push().returncode == 0
    migrated = subprocess.run(
        ["git", "journal", "migrate", "-q"], cwd=clone, env=env(), capture_output=True, text=True
    )
    assert migrated.returncode == 0, migrated.stderr
    pushed = push()
    assert pushed.returncode == 0, pushed.stderr
    assert git(bare, "show", "journal:FORMAT") == "2\n"

    # A commit on top that puts the tree back in format 1 is refused.
    back = git(clone, "rev-parse", "journal~1^{tree}").strip()
    commit = commit_tree(clone, back, "Back to format 1", "journal")
    git(clone, "update-ref", "refs/heads/journal", commit)
    refused = push()
    assert refused.returncode != 0
    assert "may not take it back to format 1" in refused.stderr
    assert git(bare, "show", "journal:FORMAT") == "2\n"


def test_a_bad_record_is_named_where_the_migration_moved_it(repo: Path, cli: Cli) -> None:
    from gitlab_journal.journal.index import Index

    good, bad = make_run("good0001", {"C": 1.0}), make_run("bad00001", {"C": 2.0})
    broken = {**fmt.encode_run(bad), fmt.METRICS_FILE: b"{not json"}
    craft_v1_journal(repo, [(good.fingerprint, fmt.encode_run(good)), (bad.fingerprint, broken)])
    store = Store.discover(repo)

    def invalid() -> list[str]:
        with Index.open(store) as index:
            index.sync()
            return [run_dir for run_dir, _, _ in index.invalid()]

    assert invalid() == [v1_path(bad.fingerprint, "bad00001")]
    assert cli("migrate", "-q")[0] == 0
    assert invalid() == [v2_path(bad.fingerprint, "bad00001")]
    assert log_ids(cli) == ["good0001"]
    code, out, _ = cli("verify")
    assert code == 1 and v2_path(bad.fingerprint, "bad00001") in out


def test_a_merge_never_takes_a_journal_back_to_format_1(repo: Path, cli: Cli) -> None:
    from gitlab_journal.errors import JournalError

    v1_journal(repo, 2)
    assert cli("migrate", "-q")[0] == 0
    tip = git(repo, "rev-parse", "journal").strip()
    back = git(repo, "rev-parse", "journal~1^{tree}").strip()  # the tree before the migration
    commit = commit_tree(repo, back, "Back to format 1", tip)
    with pytest.raises(JournalError, match="format 2 and the other in format 1"):
        Store.discover(repo).merge(commit)  # even as a fast-forward
    assert git(repo, "rev-parse", "journal").strip() == tip
