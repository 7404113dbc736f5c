"""Crash safety: `kill -9` of `git journal run` at random moments, again and again.

After every kill the journal branch points at a complete commit, `git fsck --strict` is clean,
every recorded run reads back whole, and no point is recorded twice; the next run goes on where
the grid stopped. The loop is bounded in count and in time, its random moments seeded.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import GIT_ENV, IRIS_SPEC, git
from helpers import Cli

from gitlab_journal.journal.store import Store

pytestmark = pytest.mark.slow  # see the README: `pytest -m "not slow"` skips these locally

# Enough points that a run of the whole grid outlasts the longest kill moment (3 s after its
# start) on a fast machine: with 32, a run could finish what two kills left before a third.
POINTS = 96
MAX_KILLS = 8
MAX_SECONDS = 60.0
SEED = 20240605

GRID = IRIS_SPEC.replace(
    "C: [0.1, 1.0, 10.0]",
    "C: [" + ", ".join(f"{0.01 * 1.5**i:.6g}" for i in range(POINTS // 6)) + "]",
).replace(
    "max_iter: 500",
    "max_iter: 500\n    fit_intercept: [true, false]\n    tol: [0.0001, 0.001, 0.01]",
)


def check_journal(repo: Path, cli: Cli) -> int:
    """Everything a reader needs is intact; returns how many runs the journal holds."""
    tip = git(repo, "rev-parse", "--verify", "journal^{commit}").strip()
    assert len(tip) == 40
    fsck = subprocess.run(["git", "fsck", "--strict"], cwd=repo, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr
    for word in ("error", "missing", "broken", "corrupt"):
        assert word not in (fsck.stdout + fsck.stderr).lower(), fsck.stdout + fsck.stderr
    store = Store.discover(repo)
    runs = list(store.iter_runs())  # every run decodes: none half-recorded
    for run in runs:
        assert set(store.files(run)) >= {"run.json", "metrics.json", "identity.json"}
    fingerprints = [run.fingerprint for run in runs]
    assert len(fingerprints) == len(set(fingerprints))  # no point recorded twice
    # One commit per run, each naming its run in a trailer.
    trailers = git(repo, "log", "--format=%(trailers:key=Journal-Run,valueonly)", "journal")
    assert sorted(t for t in trailers.split() if t) == sorted(run.id for run in runs)
    code, out, err = cli("log", "--json")
    assert code == 0, err
    assert len(json.loads(out)) == len(runs)
    return len(runs)


def commits(repo: Path) -> int:
    store = Store.discover(repo)
    tip = store.tip()
    return 0 if tip is None else sum(1 for _ in store.repo.walk(tip))


def kill_moment(repo: Path, proc: subprocess.Popen[bytes], rng: random.Random) -> bool:
    """Wait for a random moment of ``proc``'s life; False if it ended on its own first.

    Half the moments are a random time after the start (start-up, planning, the first fits);
    the others come a random instant after the 1st, 2nd or 3rd new run lands (mid-training,
    mid-record), whatever the machine's speed.
    """
    deadline = time.monotonic() + 60
    if rng.random() < 0.5:
        until = time.monotonic() + rng.uniform(0.2, 3.0)
        while time.monotonic() < until:
            if proc.poll() is not None:
                return False
            time.sleep(0.01)
        return True
    target = commits(repo) + rng.randint(1, 3)
    while commits(repo) < target:
        if proc.poll() is not None or time.monotonic() > deadline:
            return proc.poll() is None
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.2))
    return proc.poll() is None


def test_kill_9_at_random_moments_never_breaks_the_journal(repo: Path, cli: Cli) -> None:
    (repo / "journal.yaml").write_text(GRID)
    git(repo, "add", "journal.yaml")
    git(repo, "commit", "-q", "-m", "Add the grid")
    assert cli("init")[0] == 0
    rng = random.Random(SEED)
    env = {**os.environ, **GIT_ENV}
    started = time.monotonic()
    kills = 0
    counts = [0]
    while kills < MAX_KILLS and time.monotonic() - started < MAX_SECONDS:
        jobs = "2" if kills % 3 == 2 else "1"
        proc = subprocess.Popen(
            [sys.executable, "-m", "gitlab_journal", "run", "-q", "--jobs", jobs],
            cwd=repo,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            if kill_moment(repo, proc, rng):
                os.kill(proc.pid, signal.SIGKILL)  # the runner itself
                kills += 1
            proc.wait(timeout=60)
        finally:
            # Its worker processes, if any, are left without a parent: end them too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        counts.append(check_journal(repo, cli))
        if counts[-1] == POINTS:
            break
    assert kills >= 3
    assert counts == sorted(counts)  # never a recorded run lost

    # The next run goes on where the grid stopped, and finishes it.
    code, out, err = cli("run", "-q")
    assert code == 0, err
    assert check_journal(repo, cli) == POINTS
    if counts[-1] < POINTS:
        assert f"skipped {counts[-1]} already run" in out


def test_a_ref_lock_left_by_a_killed_writer_does_not_stop_the_next_run(
    repo: Path, cli: Cli
) -> None:
    """`kill -9` between libgit2 writing `refs/heads/journal.lock` and renaming it leaves the
    lock behind; the next writer finds it stale while holding the writers' lock, and goes on."""
    (repo / "journal.yaml").write_text(IRIS_SPEC.replace("[0.1, 1.0, 10.0]", "[1.0]"))
    assert cli("init")[0] == 0
    tip = git(repo, "rev-parse", "journal").strip()
    lock = repo / ".git" / "refs" / "heads" / "journal.lock"
    lock.write_text(tip + "\n")
    old = time.time() - 60
    os.utime(lock, (old, old))
    code, _, err = cli("run", "-q")
    assert code == 0, err
    assert not lock.exists()
    assert check_journal(repo, cli) == 1
