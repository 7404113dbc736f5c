"""The runs of one repository share the machine's cores: a run that finds every core taken
by the others waits for one instead of slowing them all down."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import git
from helpers import Cli
from test_concurrent import GRID, journal_fingerprints

from gitlab_journal.journal.store import Store
from gitlab_journal.run.slots import Slots

RUN = [sys.executable, "-m", "gitlab_journal", "run"]


def _lines(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    """The process's stdout, a line at a time, as it comes."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _wait_for(lines: queue.Queue[str], text: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"no {text!r} within {timeout} s; saw: {''.join(seen)!r}")


@pytest.mark.slow
def test_a_run_waits_while_other_runs_hold_every_core(repo: Path, cli: Cli) -> None:
    (repo / "journal.yaml").write_text(
        GRID.replace("[0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]", "[0.1, 1.0]")
    )
    assert cli("init")[0] == 0
    git(repo, "config", "journal.cores", "1")
    other = Slots.of(Store.discover(repo))
    assert other.try_take()  # another run trains here: it holds the one core
    proc = subprocess.Popen(
        RUN,
        cwd=repo,
        env={**os.environ, "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = _lines(proc)
        waited = _wait_for(lines, "waiting for a free core")
        assert f"(processes {os.getpid()})" in waited
        time.sleep(1.0)
        assert proc.poll() is None
        assert journal_fingerprints(repo) == {}  # nothing trained while the core was taken
    finally:
        other.release()
    assert proc.wait(timeout=120) == 0
    assert sorted(journal_fingerprints(repo).values()) == [1, 1]


@pytest.mark.slow
def test_a_core_held_by_a_killed_run_is_free_at_once(repo: Path) -> None:
    git(repo, "config", "journal.cores", "1")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from gitlab_journal.journal.store import Store\n"
            "from gitlab_journal.run.slots import Slots\n"
            "assert Slots.of(Store.discover('.')).try_take()\n"
            "print('held', flush=True)\n"
            "time.sleep(120)\n",
        ],
        cwd=repo,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    slots = Slots.of(Store.discover(repo))
    try:
        assert not slots.try_take()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        assert slots.try_take()  # the system dropped the dead run's lock: nothing is stale
    finally:
        slots.release()


@pytest.mark.slow
def test_with_one_core_one_of_three_runs_trains_the_whole_grid(repo: Path, cli: Cli) -> None:
    (repo / "journal.yaml").write_text(GRID)
    assert cli("init")[0] == 0
    git(repo, "config", "journal.cores", "1")
    env = {**os.environ, "COLUMNS": "120"}
    procs = [
        subprocess.Popen(RUN, cwd=repo, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [proc.communicate(timeout=300)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], outputs
    recorded = sorted(
        int(line.split()[1]) for out in outputs for line in out.splitlines() if "Recorded " in line
    )
    # the first to take the core keeps it until the grid has nothing left for it; a run that
    # starts once the grid is done has nothing to run
    assert recorded in ([0, 0, 8], [0, 8]), outputs
    counts = journal_fingerprints(repo)
    assert len(counts) == 8 and set(counts.values()) == {1}


def test_a_bad_core_count_is_an_input_error(repo: Path, cli: Cli) -> None:
    (repo / "journal.yaml").write_text(GRID)
    assert cli("init")[0] == 0
    git(repo, "config", "journal.cores", "two")
    code, out, err = cli("run")
    assert code == 2, (out, err)
    assert "journal.cores must be a whole number of at least 1, not 'two'" in err
    assert journal_fingerprints(repo) == {}
