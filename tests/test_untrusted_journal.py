"""A journal from elsewhere is data: hostile records crafted with real git plumbing in a second
clone are refused by the server's pre-receive hook and by `sync`, and when one lands anyway every
reader skips it with one warning line naming it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GIT_ENV, git
from helpers import Cli, hooked_server, make_run, run_git

from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.schema import InvalidRecord
from gitlab_journal.journal.store import Store

BIN = str(Path(sys.executable).parent)
ENV = {**os.environ, **GIT_ENV, "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}


def craft_run(clone: Path, path: str, files: dict[str, bytes]) -> str:
    """A commit on the clone's journal that adds a run folder at ``path``, written with
    `git hash-object -w`, `git mktree`, `git commit-tree` and `git update-ref` only."""
    blobs = {
        name: run_git(clone, "hash-object", "-w", "--stdin", stdin=data)
        for name, data in files.items()
    }
    tree = run_git(
        clone,
        "mktree",
        stdin="".join(f"100644 blob {oid}\t{name}\n" for name, oid in blobs.items()).encode(),
    )
    parent = run_git(clone, "rev-parse", "refs/heads/journal")
    parts = path.split("/")  # runs/<sharded fingerprint>/<id>: graft the new folder upwards
    current = tree
    for depth in range(len(parts) - 1, 0, -1):
        above = "/".join(parts[:depth])
        listing = (
            run_git(clone, "ls-tree", f"{parent}:{above}") if _exists(clone, parent, above) else ""
        )
        entries = [line for line in listing.splitlines() if not line.endswith("\t" + parts[depth])]
        entries.append(f"040000 tree {current}\t{parts[depth]}")
        current = run_git(clone, "mktree", stdin=("\n".join(entries) + "\n").encode())
    root = run_git(clone, "ls-tree", parent)
    entries = [line for line in root.splitlines() if not line.endswith("\truns")]
    entries.append(f"040000 tree {current}\truns")
    top = run_git(clone, "mktree", stdin=("\n".join(entries) + "\n").encode())
    commit = run_git(clone, "commit-tree", top, "-p", parent, "-m", "hand-made run")
    run_git(clone, "update-ref", "refs/heads/journal", commit, parent)
    return commit


def _exists(clone: Path, commit: str, path: str) -> bool:
    done = subprocess.run(
        ["git", "cat-file", "-e", f"{commit}:{path}"], cwd=clone, env=ENV, capture_output=True
    )
    return done.returncode == 0


def bad_record(run_id: str, **changes: object) -> tuple[str, dict[str, bytes]]:
    """A genuine run's files, then ``changes`` written into its run.json."""
    run = make_run(run_id, {"C": 7.0})
    files = fmt.encode_run(run)
    doc = json.loads(files[fmt.RUN_FILE])
    doc.update(changes)
    files[fmt.RUN_FILE] = json.dumps(doc).encode()
    return fmt.run_dir(run.fingerprint, run.id, version=fmt.FORMAT_VERSION), files


@pytest.fixture
def clones(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(a bare server with the real pre-receive hook, clone A with two runs pushed, clone B)."""
    return hooked_server(tmp_path)


def push(clone: Path, remote: str = "origin") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "push", remote, "journal"], cwd=clone, env=ENV, capture_output=True, text=True
    )


@pytest.mark.parametrize(
    ("classes", "shown"),
    [
        (b"{not json", "classes.json is not JSON: not shown"),
        (
            json.dumps({"classes": [{"label": "a", "precision": "1; rm -rf /"}]}).encode(),
            "classes.json is not a list of per-class figures: not shown",
        ),
        (
            json.dumps(
                {
                    "classes": [
                        {
                            "label": "\x1b[2Jx",
                            "precision": 1,
                            "recall": 0.5,
                            "f1": 0.25,
                            "support": 3,
                        }
                    ]
                }
            ).encode(),
            "\\x1b[2Jx  1  0.5000  0.2500  3",
        ),
    ],
)
def test_show_renders_a_crafted_classes_file_as_data(
    clones: tuple[Path, Path, Path],
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    classes: bytes,
    shown: str,
) -> None:
    _, _, b = clones
    run = make_run("pcls0001", {"C": 9.0})
    files = {**fmt.encode_run(run), fmt.CLASSES_FILE: classes}
    craft_run(b, fmt.run_dir(run.fingerprint, run.id, version=fmt.FORMAT_VERSION), files)
    monkeypatch.chdir(b)

    code, out, err = cli("show", "pcls0001")

    assert code == 0, err
    assert "\x1b" not in out
    lines = out.splitlines()
    section = lines.index("per class (held-out predictions)")
    body = [" ".join(line.split()) for line in lines[section + 1 : section + 3]]
    assert " ".join(shown.split()) in body


def test_the_hook_refuses_a_hostile_record_naming_it(clones: tuple[Path, Path, Path]) -> None:
    bare, _, b = clones
    before = run_git(bare, "rev-parse", "journal")
    path, files = bad_record("evil0001", params=[1, 2])
    craft_run(b, path, files)

    refused = push(b)

    assert refused.returncode != 0
    assert path in refused.stderr and "params: must be an object" in refused.stderr
    assert run_git(bare, "rev-parse", "journal") == before


def test_sync_refuses_to_merge_a_hostile_record(
    tmp_path: Path, clones: tuple[Path, Path, Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, a, b = clones
    open_bare = tmp_path / "open.git"  # a remote without the hook
    git(tmp_path, "init", "-q", "--bare", str(open_bare))
    git(b, "remote", "add", "open", str(open_bare))
    path, files = bad_record("evil0002", status=3)
    craft_run(b, path, files)
    assert push(b, "open").returncode == 0
    git(a, "remote", "add", "open", str(open_bare))
    tip = run_git(a, "rev-parse", "journal")
    monkeypatch.chdir(a)

    code, _, err = cli("sync", "open", "--no-push")

    assert code == 1
    assert path in err and "status: must be a string" in err
    assert run_git(a, "rev-parse", "journal") == tip  # nothing merged


def test_a_bad_record_that_landed_is_skipped_by_every_reader(
    tmp_path: Path, clones: tuple[Path, Path, Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, b = clones
    path, files = bad_record("evil0003", params=[1, 2])
    craft_run(b, path, files)  # as if fetched from a remote without the hook
    monkeypatch.chdir(b)

    for args in (
        ("log",),
        ("show", "good0001"),
        ("export", "--json"),
        ("compare", "good0001", "good0002"),
        ("report", "--md", "-"),
    ):
        code, out, err = cli(*args)
        assert code == 0, (args, err)
        assert "good0001" in out, args
        warnings = [line for line in err.splitlines() if line.startswith("warning:")]
        assert len(warnings) == 1 and path in warnings[0] and "params" in warnings[0], args
        assert "evil0003" not in out

    code, out, err = cli("show", "evil0003")
    assert code == 1 and "run evil0003 is invalid" in err and "Traceback" not in err

    code, out, _ = cli("verify")
    assert code == 1 and path in out and "params: must be an object" in out
    git(b, "update-ref", "refs/heads/journal", "refs/remotes/origin/journal")
    assert cli("verify")[0] == 0


WRONG = [
    ("params as a list", {"params": [1, 2]}, "params: must be an object"),
    ("metrics as a string", "metrics", "metrics.json: must be an object"),
    ("status as a number", {"status": 3}, "status: must be a string"),
    ("unknown status", {"status": "great"}, "unknown status"),
    ("id not a run id", {"id": "Evil Run!"}, "id: must be a run id"),
    ("fingerprint of the wrong length", {"fingerprint": "ab" * 20}, "fingerprint: must be 64"),
    ("path disagreeing with its id", {"id": "other0001"}, "names another run id"),
    ("name with control chars", {"name": "fam\x1b[31mily"}, "name: holds a control"),
    ("param key with control chars", {"params": {"C\n": 1}}, "params key: holds a control"),
    ("oversize string", {"model": "m" * 20_000}, "model: is 20000 characters"),
    ("too many params", {"params": {f"p{i}": i for i in range(10_001)}}, "params: has 10001"),
    ("absolute spec path", {"spec": "/etc/journal.yaml"}, "spec: must be a relative path"),
    ("spec path with ..", {"spec": "../../x.yaml"}, "spec: must stay inside"),
    (
        "spec path an input may be named",  # a fine input name, not a path
        {"data": {"s3:x/../../y.yaml": "0" * 32}, "spec": "s3:x/../../y.yaml"},
        "spec: must stay inside",
    ),
    (
        "dvc file with ..",
        {"data_sources": {"d.csv": {"source": "dvc", "file": "../d.dvc"}}},
        "data_sources.d.csv.file: must stay inside",
    ),
    ("code commit not hex", {"code": {"commit": "xyz", "dirty": False}}, "code.commit: must be"),
    ("dirty as a string", {"code": {"commit": None, "dirty": "no"}}, "code.dirty: must be"),
    ("notes as a list", {"notes": ["a"]}, "notes: must be an object"),
    ("created not a time", {"created": 12}, "created: must be a time"),
]


@pytest.mark.parametrize(("case", "change", "message"), WRONG, ids=[w[0] for w in WRONG])
def test_each_wrong_field_is_refused_by_the_schema(case: str, change: object, message: str) -> None:
    run = make_run("case0001", {"C": 1.0})
    files = fmt.encode_run(run)
    if change == "metrics":
        files[fmt.METRICS_FILE] = b'"0.9"'
    else:
        assert isinstance(change, dict)
        doc = json.loads(files[fmt.RUN_FILE])
        doc.update(change)
        files[fmt.RUN_FILE] = json.dumps(doc).encode()
    with pytest.raises(InvalidRecord) as caught:
        fmt.validate_files(files, fingerprint=run.fingerprint, run_id=run.id, where="here")
    assert caught.value.message.startswith("here: ")
    assert message in caught.value.message, caught.value.message


def test_oversize_records_and_hostile_patch_paths_are_refused() -> None:
    run = make_run("case0002", {"C": 1.0})
    files = fmt.encode_run(run)
    big = dict(files)
    big[fmt.RUN_FILE] = files[fmt.RUN_FILE] + b" " * (1 << 20)
    with pytest.raises(InvalidRecord, match=r"run\.json is .* bytes; at most"):
        fmt.validate_files(big, fingerprint=run.fingerprint, run_id=run.id, where="x")
    patched = dict(files)
    patched[fmt.PATCH_FILE] = b"diff --git a/../../etc/x b/../../etc/x\n--- a/../../etc/x\n"
    with pytest.raises(InvalidRecord, match=r"code\.patch entry: must stay inside"):
        fmt.validate_files(patched, fingerprint=run.fingerprint, run_id=run.id, where="x")
    named = dict(files)
    named["../escape"] = b"x"
    with pytest.raises(InvalidRecord, match="file name: must stay inside"):
        fmt.validate_files(named, fingerprint=run.fingerprint, run_id=run.id, where="x")
    assert fmt.validate_files(files, fingerprint=run.fingerprint, run_id=run.id, where="x")


def craft_root_file(clone: Path, name: str, data: bytes) -> str:
    """A commit on the clone's journal that replaces the root file ``name``, made with git
    plumbing only (`hash-object`, `mktree`, `commit-tree`, `update-ref`)."""
    blob = run_git(clone, "hash-object", "-w", "--stdin", stdin=data)
    parent = run_git(clone, "rev-parse", "refs/heads/journal")
    root = run_git(clone, "ls-tree", parent)
    entries = [line for line in root.splitlines() if not line.endswith("\t" + name)]
    entries.append(f"100644 blob {blob}\t{name}")
    top = run_git(clone, "mktree", stdin=("\n".join(entries) + "\n").encode())
    commit = run_git(clone, "commit-tree", top, "-p", parent, "-m", f"hand-made {name}")
    run_git(clone, "update-ref", "refs/heads/journal", commit, parent)
    return commit


# What another clone may push as leaderboard.json: the right format, wrong everything else.
HOSTILE_BOARD = json.dumps(
    {
        "format": 1,
        "top": "ten",
        "families": [
            "not a family",
            {"family": 3, "metric": "accuracy", "top": []},
            {"family": "no rows", "metric": "accuracy", "top": "none"},
            {
                "family": "LogisticRegression on train",
                "metric": "accuracy",
                "higher_is_better": "yes",
                "top": [
                    {"id": "nosc0001"},
                    {
                        "id": "strscore",
                        "fingerprint": "f",
                        "model": "m",
                        "created": "c",
                        "score": "high",
                    },
                    {
                        "id": "nanpoint",
                        "fingerprint": "f",
                        "model": "m",
                        "created": "c",
                        "score": 0.5,
                        "point": {"C": float("nan")},
                        "std": "wide",
                    },
                    {"id": 7, "fingerprint": "f", "model": "m", "created": "c", "score": 0.4},
                ],
            },
        ],
    }
).encode()


def test_a_crafted_leaderboard_is_rebuilt_from_what_is_well_formed(
    tmp_path: Path, clones: tuple[Path, Path, Path], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, a, b = clones
    craft_root_file(b, "leaderboard.json", HOSTILE_BOARD)  # as if fetched without the hook
    store = Store.discover(b)

    store.record(make_run("after001", {"C": 3.0}, metrics={"accuracy": 0.7}, second=2))

    doc = json.loads(run_git(b, "show", "journal:leaderboard.json"))
    assert doc["top"] == 10
    (family,) = doc["families"]
    # Its well-formed rows name no run of the journal: the record keeps none of them.
    assert [row["id"] for row in family["top"]] == ["after001"]
    readme = run_git(b, "show", "journal:README.md")
    assert "after001" in readme and "strscore" not in readme
    run_git(b, "fsck", "--strict")
    # The other clone merges that journal, leaderboard included, through sync.
    open_bare = tmp_path / "open.git"  # a remote without the hook
    git(tmp_path, "init", "-q", "--bare", str(open_bare))
    git(b, "remote", "add", "open", str(open_bare))
    assert push(b, "open").returncode == 0
    git(a, "remote", "add", "open", str(open_bare))
    store_a = Store.discover(a)
    store_a.record(make_run("mine0001", {"C": 4.0}, metrics={"accuracy": 0.95}, second=3))
    monkeypatch.chdir(a)

    code, out, err = cli("sync", "open", "--no-push")

    assert code == 0, (out, err)
    merged = json.loads(run_git(a, "show", "journal:leaderboard.json"))
    (family,) = merged["families"]
    ids = ["mine0001", "good0001", "good0002", "after001"]  # 0.95, 0.9 twice, 0.7
    assert [row["id"] for row in family["top"]] == ids
