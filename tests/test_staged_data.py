"""`check --staged` with the data the commit holds: a data file tracked by git counts by its
blob in the index, data DVC tracks by the md5 of its staged `.dvc` file, and data the commit
does not hold (untracked, ignored) as it is in the work tree. Real repositories, real `git add`,
`dvc add` and `git commit`, real fits."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pygit2
import pytest
from conftest import GIT_ENV, git
from helpers import Cli, dvc, dvc_table

from gitlab_journal.data.committed import committed_hashes
from gitlab_journal.data.hashing import BLOB_KEY, HASH_CACHE_FILE, HashCache, hash_input
from gitlab_journal.journal.store import Store
from gitlab_journal.spec.model import DataSpec

SPEC = """\
data:
  path: data/train.csv
  target: label
model:
  estimator: sklearn.tree.DecisionTreeClassifier
  params:
    max_depth: [{depth}]
evaluation:
  cv: 3
  seed: 0
"""
V1, V2, V3 = dvc_table(40), dvc_table(40, offset=7), dvc_table(40, offset=13)


def write(repo: Path, depth: int, data: str | None = None) -> None:
    (repo / "journal.yaml").write_text(SPEC.format(depth=depth))
    if data is not None:
        (repo / "data").mkdir(exist_ok=True)
        (repo / "data" / "train.csv").write_text(data)


def run(cli: Cli) -> str:
    """`git journal run`: the id of the one new run."""
    store = Store.discover(Path.cwd())
    before = {r.id for r in store.iter_runs()} if store.tip() is not None else set()
    code, _, err = cli("run", "-q")
    assert code == 0, err
    (new,) = {r.id for r in Store.discover(Path.cwd()).iter_runs()} - before
    return new


def staged(cli: Cli, *args: str) -> tuple[int, list[str]]:
    """`check --staged --json`: its exit code, and the ids of the earlier runs it reports."""
    code, out, err = cli("check", "--staged", "--json", *args)
    assert code in (0, 1), err
    found: dict[str, Any] = json.loads(out)
    assert found["skipped"] is None
    return code, [r["id"] for d in found["duplicates"] for r in d["earlier"]]


def hook_env() -> dict[str, str]:
    """A user's shell: gitlab-journal on PATH, a fixed identity."""
    out = {**os.environ, **GIT_ENV}
    out["PATH"] = str(Path(sys.executable).parent) + os.pathsep + out.get("PATH", "")
    return out


@pytest.fixture
def history(repo: Path, cli: Cli) -> tuple[str, str]:
    """Two committed states of a project whose data git tracks, each run from its commit:
    max_depth 3 on the first data (the first run), then max_depth 2 on new data (HEAD)."""
    write(repo, 3, V1)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "max_depth 3 on the first data")
    assert cli("init")[0] == 0
    first = run(cli)
    write(repo, 2, V2)
    git(repo, "commit", "-q", "-am", "max_depth 2 on new data")
    second = run(cli)
    return first, second


def test_a_staged_duplicate_is_found_though_the_work_tree_data_was_edited_after(
    repo: Path, cli: Cli, history: tuple[str, str]
) -> None:
    first, _ = history
    write(repo, 3, V1)  # back to the first experiment, data and spec
    git(repo, "add", "journal.yaml", "data/train.csv")
    assert staged(cli) == (0, [first])

    (repo / "data" / "train.csv").write_text(V3)  # edited after `git add`: not committed

    assert staged(cli) == (0, [first])
    assert staged(cli, "--mode", "block") == (1, [first])
    assert cli("hooks", "install")[0] == 0
    git(repo, "config", "journal.hook.mode", "block")
    done = subprocess.run(
        ["git", "commit", "-q", "-m", "Back to the first experiment"],
        cwd=repo,
        env=hook_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0 and first in done.stderr  # refused: the commit holds V1


def test_a_work_tree_edit_of_staged_data_raises_no_false_alarm(
    repo: Path, cli: Cli, history: tuple[str, str]
) -> None:
    write(repo, 3)  # max_depth 3 on the data as committed: never run
    git(repo, "add", "journal.yaml")
    assert staged(cli, "--mode", "block") == (0, [])

    (repo / "data" / "train.csv").write_text(V1)  # the first data, in the work tree only

    assert staged(cli, "--mode", "block") == (0, [])


def test_data_reverted_in_git_to_a_version_run_before_alerts(
    repo: Path, cli: Cli, history: tuple[str, str]
) -> None:
    first, _ = history
    write(repo, 2, V1)
    git(repo, "commit", "-q", "-am", "max_depth 2 on the first data")
    on_first = run(cli)
    write(repo, 2, V2)
    git(repo, "commit", "-q", "-am", "Back to the new data")

    (repo / "data" / "train.csv").write_text(V1)  # the data HEAD~1 held, run from there
    git(repo, "add", "data/train.csv")

    # HEAD's own spec had max_depth 2 on HEAD's data (V2): the commit brings V1 back.
    assert staged(cli) == (0, [on_first])
    assert first not in staged(cli)[1]


def test_an_unrelated_commit_stays_silent_whatever_the_work_tree_data(
    repo: Path, cli: Cli, history: tuple[str, str]
) -> None:
    write(repo, 3, V1)
    git(repo, "commit", "-q", "-am", "max_depth 3 on the first data again")
    (repo / "README.md").write_text("# project\n\nNotes.\n")
    git(repo, "commit", "-q", "-am", "Notes")  # the first run is of an earlier commit now
    (repo / "README.md").write_text("# project\n\nMore notes.\n")
    git(repo, "add", "README.md")
    assert staged(cli, "--mode", "block") == (0, [])

    (repo / "data" / "train.csv").write_text(V2)  # not staged: HEAD's data is the staged data

    assert staged(cli, "--mode", "block") == (0, [])


def test_untracked_data_counts_as_it_is_in_the_work_tree(repo: Path, cli: Cli) -> None:
    (repo / ".gitignore").write_text("/data/\n")
    write(repo, 3, V1)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "max_depth 3")
    assert cli("init")[0] == 0
    first = run(cli)
    write(repo, 2)
    git(repo, "commit", "-q", "-am", "max_depth 2")
    write(repo, 3)
    git(repo, "add", "journal.yaml")
    assert staged(cli) == (0, [first])

    # The commit holds no data: what it will run on is the work tree's.
    (repo / "data" / "train.csv").write_text(V2)

    assert staged(cli) == (0, [])


def test_a_folder_tracked_by_git_counts_as_staged_with_its_untracked_files(
    repo: Path, tmp_path: Path
) -> None:
    folder = repo / "data" / "images"
    (folder / "nested").mkdir(parents=True)
    (folder / "a.txt").write_text("first\n")
    (folder / "nested" / "b.bin").write_bytes(b"\x00\x01binary\n")
    (folder / "gone.txt").write_text("deleted from the work tree only\n")
    git(repo, "add", "data")
    (folder / "notes.txt").write_text("never added\n")
    staged_md5 = hash_input(repo, "data/images/", None)  # the work tree holds the staged data
    spec = DataSpec(source="loader", deps=("data/images/", "data/images/a.txt"))
    cache = HashCache(tmp_path / "md5-cache.json")
    repository = pygit2.Repository(str(repo))

    assert committed_hashes(repository, repo, spec, cache, repository.index) == {
        "data/images": staged_md5,
        "data/images/a.txt": hash_input(repo, "data/images/a.txt", None),
    }

    (folder / "a.txt").write_text("edited after `git add`\n")
    (folder / "gone.txt").unlink()
    assert hash_input(repo, "data/images/", None) != staged_md5
    assert committed_hashes(repository, repo, spec, cache, repository.index) == {
        "data/images": staged_md5,
        "data/images/a.txt": hashlib.md5(b"first\n").hexdigest(),
    }
    # Each blob is read once: its md5 is kept under its id.
    blob_id = str(repository.index["data/images/a.txt"].id)
    assert cache.get_blob(blob_id) == hashlib.md5(b"first\n").hexdigest()
    git(repo, "commit", "-q", "-m", "Images")  # a commit's tree holds them the same
    head = repository.head.peel(pygit2.Commit).tree
    assert committed_hashes(repository, repo, spec, None, head)["data/images"] == staged_md5
    # Its untracked file counts as the work tree holds it, as before.
    (folder / "notes.txt").write_text("an untracked edit\n")
    assert committed_hashes(repository, repo, spec, cache, head)["data/images"] != staged_md5


def test_a_blob_counts_as_a_checkout_writes_it_and_a_filter_drivers_file_as_it_is(
    repo: Path, tmp_path: Path
) -> None:
    git(repo, "config", "core.autocrlf", "true")
    (repo / "data").mkdir()
    (repo / "data" / "t.csv").write_bytes(b"a,b\r\n1,2\r\n")
    git(repo, "add", "data/t.csv")
    assert git(repo, "cat-file", "blob", ":data/t.csv") == "a,b\n1,2\n"  # stored with LF
    (repo / "data" / "t.csv").write_bytes(b"edited\r\n")
    repository = pygit2.Repository(str(repo))
    spec = DataSpec(source="loader", deps=("data/t.csv",))

    cache = HashCache(tmp_path / "md5-cache.json")

    # What a checkout of the staged blob writes (CRLF again), as a run would have hashed it.
    for _ in range(2):  # computed, then read from the cache
        assert committed_hashes(repository, repo, spec, cache, repository.index) == {
            "data/t.csv": hashlib.md5(b"a,b\r\n1,2\r\n").hexdigest()
        }
    git(repo, "config", "core.autocrlf", "false")  # a checkout writes the blob as it is
    repository = pygit2.Repository(str(repo))  # as the next commit's hook opens it
    assert committed_hashes(repository, repo, spec, cache, repository.index) == {
        "data/t.csv": hashlib.md5(b"a,b\n1,2\n").hexdigest()
    }
    # A filter driver's output (Git LFS: the blob is a pointer) is not known: the work tree's.
    (repo / ".gitattributes").write_text("*.csv filter=lfs diff=lfs merge=lfs -text\n")
    assert committed_hashes(repository, repo, spec, cache, repository.index) == {
        "data/t.csv": hashlib.md5(b"edited\r\n").hexdigest()
    }


@pytest.mark.slow
def test_dvc_data_counts_by_its_staged_dvc_file(
    repo: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.setenv("DVC_TEST", "1")
    dvc(repo, "init", "-q")
    write(repo, 3, V1)
    dvc(repo, "add", "-q", "data/train.csv")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "max_depth 3 on the first data, tracked by DVC")
    assert cli("init")[0] == 0
    first = run(cli)
    write(repo, 2, V2)
    dvc(repo, "add", "-q", "data/train.csv")
    git(repo, "commit", "-q", "-am", "max_depth 2 on new data")
    run(cli)

    # A staged duplicate: the first experiment, its data `dvc add`ed and staged, then edited.
    write(repo, 3, V1)
    dvc(repo, "add", "-q", "data/train.csv")
    git(repo, "add", "journal.yaml", "data/train.csv.dvc")
    (repo / "data" / "train.csv").write_text(V3)
    assert staged(cli) == (0, [first])

    # No false alarm: max_depth 3 on the data HEAD tracks, with the first data in the work tree.
    git(repo, "checkout", "HEAD", "--", "data/train.csv.dvc")
    assert staged(cli) == (0, [])
    (repo / "data" / "train.csv").write_text(V1)
    assert staged(cli, "--mode", "block") == (0, [])


def test_a_staged_grid_too_large_to_check_is_refused_before_its_data_is_read(
    repo: Path, cli: Cli
) -> None:
    """The staged data is hashed from git's objects only for a grid the hook will check: a
    grid over the size limit is refused first, without reading a blob of the data."""
    write(repo, 3, V1)
    wide = SPEC.format(depth=", ".join(str(d) for d in range(1, 400)))
    wide = wide.replace(
        "evaluation:",
        "    min_samples_leaf: [" + ", ".join(str(n) for n in range(1, 400)) + "]\nevaluation:",
    )
    (repo / "journal.yaml").write_text(wide)
    git(repo, "add", "-A")
    assert cli("init")[0] == 0
    cache = repo / ".git" / "journal" / HASH_CACHE_FILE

    code, _, err = cli("check", "--staged", "--mode", "block")

    assert code == 2, err
    assert "points" in err and "100000" in err.replace(",", ""), err
    entries = json.loads(cache.read_text()) if cache.exists() else {}
    assert not [key for key in entries if key.startswith(BLOB_KEY)], entries


# --- the table's header as the commit holds it ------------------------------------------------

HEADER_SPEC = """\
data:
  path: data/d.csv
  target: y
{extra}model:
  estimator: sklearn.tree.DecisionTreeClassifier
  params:
    max_depth: [{depth}]
evaluation:
  cv: 3
  seed: 0
"""


def table(columns: list[str], rows: int = 40, offset: int = 0) -> str:
    """A small CSV with the columns ``x1``, ``x2`` (and ``x3``: noise) and ``y``, in the order
    ``columns`` gives them."""
    lines = [",".join(columns)]
    for i in range(rows):
        x1 = ((i + offset) * 37 % 101) / 10
        x2 = ((i + offset) * 53 % 97) / 10
        cells = {"x1": str(x1), "x2": str(x2), "x3": str(i % 5), "y": str(int(x1 > x2))}
        lines.append(",".join(cells[c] for c in columns))
    return "\n".join(lines) + "\n"


def write_header_spec(
    repo: Path, depth: int, data: str | None = None, extra: str = "", target: bool = True
) -> None:
    text = HEADER_SPEC.format(depth=depth, extra=extra)
    (repo / "journal.yaml").write_text(text if target else text.replace("  target: y\n", ""))
    if data is not None:
        (repo / "data").mkdir(exist_ok=True)
        (repo / "data" / "d.csv").write_text(data)


def test_the_target_is_judged_by_the_staged_header_not_the_work_trees(repo: Path, cli: Cli) -> None:
    """`target: y` is the last column of the staged table (the default, so not part of the
    experiment's identity); a work-tree copy with `y` first must not make it another one."""
    write_header_spec(repo, 3, table(["x1", "x2", "y"]))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "max_depth 3")
    assert cli("init")[0] == 0
    first = run(cli)
    write_header_spec(repo, 2)
    git(repo, "commit", "-q", "-am", "max_depth 2")

    write_header_spec(repo, 3)  # back to the first experiment
    git(repo, "add", "journal.yaml")
    (repo / "data" / "d.csv").write_text(table(["y", "x1", "x2"]))  # not staged

    assert staged(cli) == (0, [first])
    code, _, err = cli("check", "--staged")
    assert code == 0 and first[:12] in err, err
    assert staged(cli, "--mode", "block") == (1, [first])


def test_a_column_the_staged_header_has_is_found_though_the_work_tree_copy_lacks_it(
    repo: Path, cli: Cli
) -> None:
    """`drop: [x3]` with a staged table that has `x3`: the spec is consistent with what is
    committed, whatever the work-tree copy (without `x3`) says."""
    drop = "  drop: [x3]\n"
    write_header_spec(repo, 3, table(["x1", "x2", "x3", "y"]), extra=drop)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "max_depth 3")
    assert cli("init")[0] == 0
    first = run(cli)
    write_header_spec(repo, 2, extra=drop)
    git(repo, "commit", "-q", "-am", "max_depth 2")
    (repo / "data" / "d.csv").write_text(table(["x1", "x2", "y"]))  # not staged

    write_header_spec(repo, 4, extra=drop)  # a new experiment: nothing to say
    git(repo, "add", "journal.yaml")
    code, out, err = cli("check", "--staged")
    assert (code, out, err) == (0, "", "")
    assert staged(cli, "--mode", "block") == (0, [])

    write_header_spec(repo, 3, extra=drop)  # the first experiment again: a duplicate
    git(repo, "add", "journal.yaml")
    code, _, err = cli("check", "--staged")
    assert code == 0 and "could not check" not in err and first[:12] in err, err
    assert staged(cli, "--mode", "block") == (1, [first])

    (repo / "data" / "d.csv").unlink()  # the commit holds the table all the same
    assert staged(cli, "--mode", "block") == (1, [first])


def test_heads_experiments_are_judged_by_heads_header(repo: Path, cli: Cli) -> None:
    """HEAD's spec names `target: y`, the last column of HEAD's table; the staged spec leaves
    the target out (the last column: the same experiment). HEAD had it, so the commit does not
    introduce it, whatever the order of the work-tree copy's columns."""
    write_header_spec(repo, 3, table(["x1", "x2", "y"]))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "max_depth 3")
    assert cli("init")[0] == 0
    first = run(cli)
    (repo / "NOTES.md").write_text("Notes.\n")
    git(repo, "add", "NOTES.md")
    git(repo, "commit", "-q", "-m", "Notes")  # the run is of an earlier commit now

    write_header_spec(repo, 3, target=False)
    git(repo, "add", "journal.yaml")
    assert staged(cli, "--mode", "block") == (0, [])
    assert {r.id for r in Store.discover(repo).iter_runs()} == {first}

    (repo / "data" / "d.csv").write_text(table(["y", "x1", "x2"]))  # not staged

    assert staged(cli, "--mode", "block") == (0, [])


def test_a_compressed_tables_header_is_read_from_its_staged_blob(repo: Path, cli: Cli) -> None:
    """A `.csv.gz` git tracks: its header is read through the staged blob's decompression."""
    import gzip

    path = repo / "data" / "d.csv.gz"
    (repo / "data").mkdir()
    path.write_bytes(gzip.compress(table(["x1", "x2", "y"]).encode(), mtime=0))
    (repo / "journal.yaml").write_text(
        HEADER_SPEC.format(depth=3, extra="").replace("d.csv", "d.csv.gz")
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "max_depth 3")
    assert cli("init")[0] == 0
    first = run(cli)
    (repo / "journal.yaml").write_text(
        HEADER_SPEC.format(depth=2, extra="").replace("d.csv", "d.csv.gz")
    )
    git(repo, "commit", "-q", "-am", "max_depth 2")

    (repo / "journal.yaml").write_text(
        HEADER_SPEC.format(depth=3, extra="").replace("d.csv", "d.csv.gz")
    )
    git(repo, "add", "journal.yaml")
    path.write_bytes(gzip.compress(table(["y", "x1", "x2"]).encode(), mtime=0))  # not staged

    assert staged(cli, "--mode", "block") == (1, [first])
