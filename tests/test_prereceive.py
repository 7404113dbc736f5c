"""The pre-receive hook, installed in a real bare repository and pushed to with real git."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pygit2
import pytest
from conftest import GIT_ENV, git, make_repo
from helpers import make_run

from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.store import Store

BIN = str(Path(sys.executable).parent)


def push(clone: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **GIT_ENV, "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}
    return subprocess.run(
        ["git", "push", "origin", *args], cwd=clone, env=env, capture_output=True, text=True
    )


@pytest.fixture
def server(tmp_path: Path) -> tuple[Path, Path]:
    """(a bare repository with our pre-receive hook, a clone with a journal of two runs)."""
    bare = tmp_path / "server.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}
    done = subprocess.run(
        ["git", "journal", "hooks", "install"], cwd=bare, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert (bare / "hooks" / "pre-receive").is_file()  # a bare repository gets pre-receive
    clone = make_repo(tmp_path / "clone")
    git(clone, "remote", "add", "origin", str(bare))
    store = Store.discover(clone)
    store.init()
    store.record(make_run("run00001", {"C": 1.0}))
    store.record(make_run("run00002", {"C": 2.0}))
    return bare, clone


def tip(bare: Path) -> str:
    return git(bare, "rev-parse", "refs/heads/journal").strip()


def test_new_journal_and_fast_forwards_are_accepted(server: tuple[Path, Path]) -> None:
    bare, clone = server
    assert push(clone, "main").returncode == 0  # other refs pass untouched
    first = push(clone, "journal")
    assert first.returncode == 0, first.stderr
    Store.discover(clone).record(make_run("run00003", {"C": 3.0}))
    second = push(clone, "journal")
    assert second.returncode == 0, second.stderr
    assert tip(bare) == git(clone, "rev-parse", "journal").strip()


def test_a_force_push_that_drops_runs_is_refused(server: tuple[Path, Path]) -> None:
    bare, clone = server
    assert push(clone, "journal").returncode == 0
    before = tip(bare)
    git(clone, "branch", "-f", "journal", "journal~1")  # forget run00002...
    Store.discover(clone).record(make_run("run00009", {"C": 9.0}))  # ...and write another

    refused = push(clone, "--force", "journal")

    assert refused.returncode != 0
    assert "journal push refused" in refused.stderr and "does not contain" in refused.stderr
    assert before[:10] in refused.stderr
    assert tip(bare) == before
    deleted = push(clone, ":journal")
    assert deleted.returncode != 0 and "deleting the journal branch" in deleted.stderr
    assert tip(bare) == before


def _commit_on_journal(clone: Path, path: str, files: dict[str, bytes]) -> None:
    """A commit on the clone's journal adding ``files`` under ``path``, past the store."""
    repo = pygit2.Repository(str(clone))
    parent = repo.references["refs/heads/journal"].peel(pygit2.Commit)
    index = pygit2.Index()
    index.read_tree(parent.tree)
    for name, data in files.items():
        index.add(
            pygit2.IndexEntry(f"{path}/{name}", repo.create_blob(data), pygit2.enums.FileMode.BLOB)
        )
    tree = index.write_tree(repo)
    sig = pygit2.Signature("Ada Lovelace", "ada@example.com")
    repo.create_commit("refs/heads/journal", sig, sig, "hand-made run\n", tree, [parent.id])


def test_a_malformed_record_is_refused_naming_the_run(server: tuple[Path, Path]) -> None:
    bare, clone = server
    assert push(clone, "journal").returncode == 0
    before = tip(bare)
    good = make_run("run00004", {"C": 4.0})
    files = fmt.encode_run(good)
    # The record of run00004 under another experiment's path: identity does not match.
    wrong = replace(good, id="run00005")
    wrong_path = fmt.run_dir("ab" + "c" * 62, wrong.id, version=fmt.FORMAT_VERSION)
    _commit_on_journal(clone, wrong_path, fmt.encode_run(wrong))

    refused = push(clone, "journal")

    assert refused.returncode != 0, refused.stderr
    assert wrong_path in refused.stderr and "fingerprint" in refused.stderr
    assert tip(bare) == before

    # Unparsable JSON in an otherwise well-placed run.
    git(clone, "branch", "-f", "journal", before)
    broken = dict(files)
    broken[fmt.METRICS_FILE] = b"{not json"
    path = fmt.run_dir(good.fingerprint, good.id, version=fmt.FORMAT_VERSION)
    _commit_on_journal(clone, path, broken)
    refused = push(clone, "journal")
    assert refused.returncode != 0 and f"{path}: malformed run record" in refused.stderr

    # A missing file.
    git(clone, "branch", "-f", "journal", before)
    _commit_on_journal(clone, path, {fmt.RUN_FILE: files[fmt.RUN_FILE]})
    refused = push(clone, "journal")
    assert refused.returncode != 0 and "missing" in refused.stderr and path in refused.stderr
    assert tip(bare) == before

    # The same run, well formed, lands.
    git(clone, "branch", "-f", "journal", before)
    _commit_on_journal(clone, path, files)
    accepted = push(clone, "journal")
    assert accepted.returncode == 0, accepted.stderr
    assert tip(bare) == git(clone, "rev-parse", "journal").strip()
