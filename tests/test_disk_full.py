"""A full disk is an input error: one line, exit 2, and the journal exactly as it was.

The repository lives on a small tmpfs filled to the brim (mounting needs root, which CI has)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import IRIS_SPEC, git, make_repo
from helpers import make_run

from gitlab_journal.journal.batch import Batch
from gitlab_journal.journal.store import Store

pytestmark = pytest.mark.slow  # see the README: `pytest -m "not slow"` skips these locally


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` but for ``leave`` bytes."""
    filler = disk / "filler"
    free = shutil.disk_usage(disk).free
    with filler.open("wb") as out:
        out.truncate(0)
        chunk = b"\0" * (1 << 20)
        remaining = free - leave
        while remaining > 0:
            out.write(chunk[: min(len(chunk), remaining)])
            remaining -= len(chunk)
    return filler


@pytest.mark.parametrize("leave", [0, 64 * 1024])
def test_a_full_disk_is_one_line_exit_2_and_the_journal_intact(
    small_disk: Path, leave: int
) -> None:
    repo = make_repo(small_disk / "project")
    (repo / "journal.yaml").write_text(IRIS_SPEC)
    env = {**os.environ, "TMPDIR": str(small_disk)}
    subprocess.run(["git-journal", "init"], cwd=repo, check=True, capture_output=True, env=env)
    tip = git(repo, "rev-parse", "journal").strip()
    filler = _fill(small_disk, leave)
    done = subprocess.run(
        ["git-journal", "run", "-q"], cwd=repo, capture_output=True, text=True, env=env
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert "no space left on the device" in done.stderr
    assert "other writers" not in done.stderr
    # The caches that could not be written left no temporary file behind.
    left = [
        str(f.relative_to(repo))
        for f in (repo / ".git" / "journal").rglob(".*")
        if f.name != ".lock"
    ]
    assert not left, left
    filler.unlink()
    assert git(repo, "rev-parse", "journal").strip() == tip
    git(repo, "fsck", "--strict")
    again = subprocess.run(
        ["git-journal", "run", "-q"], cwd=repo, capture_output=True, text=True, env=env
    )
    assert again.returncode == 0, again.stderr
    assert len(git(repo, "log", "--format=%H", "journal").split()) == 4


def test_a_read_only_repository_is_exit_2_and_still_readable(small_disk: Path) -> None:
    repo = make_repo(small_disk / "project")
    (repo / "journal.yaml").write_text(IRIS_SPEC)
    env = {**os.environ, "TMPDIR": "/tmp"}
    subprocess.run(["git-journal", "init"], cwd=repo, check=True, capture_output=True, env=env)
    done = subprocess.run(["git-journal", "run", "-q"], cwd=repo, capture_output=True, env=env)
    assert done.returncode == 0, done.stderr
    tip = git(repo, "rev-parse", "journal").strip()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        again = subprocess.run(
            ["git-journal", "run", "-q", "--force"],
            cwd=repo,
            capture_output=True,
            text=True,
            env=env,
        )
        assert again.returncode == 2, (again.stdout, again.stderr)
        assert "read-only" in again.stderr and "Traceback" not in again.stderr
        shown = subprocess.run(
            ["git-journal", "log", "--json"], cwd=repo, capture_output=True, text=True, env=env
        )
        assert shown.returncode == 0, shown.stderr
        assert len(json.loads(shown.stdout)) == 3
        report = subprocess.run(
            ["git-journal", "report", "--md", str(small_disk / "report.md")],
            cwd=repo,
            capture_output=True,
            text=True,
            env=env,
        )
        assert report.returncode == 2, report.stderr
        assert len(report.stderr.strip().splitlines()) <= 2 and "Traceback" not in report.stderr
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert git(repo, "rev-parse", "journal").strip() == tip


def test_a_batch_that_cannot_be_written_leaves_the_journal_as_it_was(small_disk: Path) -> None:
    """A batch's pack meets a full disk: an OSError (exit 2 through the CLI), no partial pack
    and the branch where it was; once there is room, the same batch is written whole."""
    repo = make_repo(small_disk / "project")
    store = Store.discover(repo)
    store.init()
    tip = git(repo, "rev-parse", "journal").strip()
    batch = Batch(store, pack_min_runs=2)
    for i in range(4):
        batch.add(make_run(f"{i:012x}", {"C": float(i), "max_iter": 100}, second=i))
    filler = _fill(small_disk, 0)

    with pytest.raises(OSError) as caught:
        batch.flush()

    assert caught.value.errno == errno.ENOSPC
    assert git(repo, "rev-parse", "journal").strip() == tip
    pack_dir = repo / ".git" / "objects" / "pack"
    assert not [path.name for path in pack_dir.iterdir() if path.name.startswith("tmp_")]
    filler.unlink()
    recorded = batch.flush()
    assert git(repo, "rev-parse", "journal").strip() == recorded[-1].commit
    assert len(git(repo, "log", "--format=%H", "journal").split()) == 5
    git(repo, "fsck", "--strict")
