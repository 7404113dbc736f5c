"""Stopping `git journal run`: SIGTERM ends it as Ctrl-C does (also while a batch of runs is
written), the claims a killed run left are trained by the next run of the same host and named
in one line, Ctrl-C while the `--jobs` fork server starts prints no traceback, and what `run`
prints keeps bracketed text.

Every test runs the real `git-journal` program in a real temporary repository and sends it real
signals; the tests wait for files the processes write (``fits.log``, a start-up hook's), never
for a fixed time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import git
from helpers import fsck, make_repo

from gitlab_journal.remote.claims import CLAIMS_PREFIX

# The console script itself (not a shell shim in front of it): a signal sent to the process
# reaches the Python program.
_SCRIPT = Path(sys.executable).with_name("git-journal")
GIT_JOURNAL = str(_SCRIPT) if _SCRIPT.exists() else "git-journal"
WAIT = 120.0  # seconds at most for what a test waits for
ENV = {**os.environ, "COLUMNS": "200"}  # no message wrapped
POINTS = 120

# The repository's own estimators: the majority class, each fit noted in fits.log; one that
# then waits until the file `release` exists; one that always fails.
MODELS = """\
import time
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

HERE = Path(__file__).resolve().parent


class Logged(ClassifierMixin, BaseEstimator):
    def __init__(self, tag=0):
        self.tag = tag

    def fit(self, X, y):
        with open(HERE / "fits.log", "a") as log:
            log.write(f"{self.tag}\\n")
        self.classes_, counts = np.unique(y, return_counts=True)
        self.majority_ = self.classes_[counts.argmax()]
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)


class Gate(Logged):
    def fit(self, X, y):
        super().fit(X, y)
        while not (HERE / "release").exists():
            time.sleep(0.02)
        return self


class Broken(ClassifierMixin, BaseEstimator):
    def __init__(self, why="broken"):
        self.why = why

    def fit(self, X, y):
        raise ValueError(self.why)
"""

GRID = f"""\
data: sklearn:iris
model:
  estimator: models.Logged
  params:
    tag: {list(range(POINTS))}
evaluation: {{cv: 2}}
"""

IGNORED = "fits.log\nrelease\n"


def _project(path: Path, spec: str) -> Path:
    """A repository with the estimators above, ``spec`` as journal.yaml, and a journal."""
    make_repo(path)
    (path / "models.py").write_text(MODELS)
    (path / ".gitignore").write_text(IGNORED)
    (path / "journal.yaml").write_text(spec)
    git(path, "add", "models.py", ".gitignore", "journal.yaml")
    git(path, "commit", "-q", "-m", "Add the models and the spec")
    done = subprocess.run([GIT_JOURNAL, "init"], cwd=path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return path


class Started:
    """`git journal ARGS...` as a process of its own, its output kept in files."""

    def __init__(
        self, repo: Path, *args: str, session: bool = False, env: dict[str, str] | None = None
    ):
        self.out = repo.parent / f"out-{time.monotonic_ns()}.txt"
        self.err = self.out.with_suffix(".err")
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen(
                [GIT_JOURNAL, *args],
                cwd=repo,
                stdout=out,
                stderr=err,
                text=True,
                env={**ENV, **(env or {})},
                start_new_session=session,  # its own process group, as a terminal's job
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def finish(self) -> tuple[int, str, str]:
        code = self.proc.wait(timeout=WAIT)
        return code, self.out.read_text(), self.err.read_text()


def _wait(ready: Callable[[], object], what: str) -> Any:
    """Poll until ``ready()`` gives something true, and return it."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        value = ready()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def _fits(repo: Path) -> Counter[str]:
    """Tag -> how many fits of it began."""
    log = repo / "fits.log"
    return Counter(log.read_text().split()) if log.exists() else Counter()


def _trained(repo: Path) -> int:
    """The points whose every fold was fitted (cv=2)."""
    return sum(1 for count in _fits(repo).values() if count >= 2)


def _recorded(repo: Path, ref: str = "journal") -> Counter[str]:
    """Fingerprint -> number of runs on ``ref``, read back with plain git."""
    fingerprints: Counter[str] = Counter()
    for path in git(repo, "ls-tree", "-r", "--name-only", ref).splitlines():
        if path.startswith("runs/") and path.endswith("/run.json"):
            fingerprints[json.loads(git(repo, "show", f"{ref}:{path}"))["fingerprint"]] += 1
    return fingerprints


def _claims(repo: Path) -> list[str]:
    """The local claims left in `.git/journal/claims`."""
    folder = repo / ".git" / "journal" / "claims"
    return (
        sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
        if folder.is_dir()
        else []
    )


def _state(pid: int) -> str | None:
    """The state of process ``pid`` (``Z``: a zombie its parent has not waited for), or None
    where it is gone or there is no /proc."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return None


def _alive(pid: int) -> bool:
    return _state(pid) not in ("Z", None)


def _run(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GIT_JOURNAL, *args], cwd=repo, env=ENV, capture_output=True, text=True, check=False
    )


# --- SIGTERM ends a run as Ctrl-C does ----------------------------------------------------------


@pytest.mark.parametrize(
    ("stop", "jobs"),
    [(signal.SIGTERM, "1"), (signal.SIGINT, "1"), (signal.SIGTERM, "2")],
    ids=["SIGTERM", "SIGINT", "SIGTERM-jobs-2"],
)
def test_a_stop_signal_mid_grid_records_what_trained_and_releases_every_claim(
    tmp_path: Path, stop: signal.Signals, jobs: str
) -> None:
    # `timeout`, `docker stop` and a cancelled CI job send SIGTERM, to the `run` process alone
    repo = _project(tmp_path / "project", GRID)
    started = Started(repo, "run", "--jobs", jobs)
    _wait(lambda: _trained(repo) >= 20, "20 points trained")  # cheap points: not yet written
    started.proc.send_signal(stop)
    code, out, err = started.finish()
    trained = _trained(repo)

    assert code == 130, (out, err)
    recorded = _recorded(repo)
    assert len(recorded) >= trained - int(jobs), (len(recorded), trained, out)
    assert set(recorded.values()) == {1}
    assert f"Recorded {len(recorded)} run(s)" in out, out
    assert f"Interrupted: {POINTS - len(recorded)} point(s) not run" in out, out
    assert "Traceback" not in err and "interrupted" not in err, err  # one message, on stdout
    assert _claims(repo) == []  # every claim released
    fsck(repo)

    again = _run(repo, "run", "-q")  # goes on where the first stopped
    assert again.returncode == 0, again.stderr
    assert f"skipped {len(recorded)} already run" in again.stdout, again.stdout
    assert "Took over" not in again.stdout
    final = _recorded(repo)
    assert len(final) == POINTS and set(final.values()) == {1}


# Imported by every Python process at start-up (`sitecustomize` on PYTHONPATH, which site
# imports in a virtual environment too, where `usercustomize` is not): in `git
# journal run`, sends the process the signal STOP_SIGNAL from inside the callback through which
# libgit2 hands a batch's objects to Python, at the STOP_AT-th object: a signal arriving at
# that moment.
STOP_WHILE_WRITING = """\
import os, signal, sys

if "run" in sys.argv[1:]:
    from gitlab_journal.journal import batch

    written = batch.MemoryObjects.write_cb
    count = [0]

    def write_cb(self, oid, data, kind):
        count[0] += 1
        if count[0] == int(os.environ["STOP_AT"]):
            os.kill(os.getpid(), signal.Signals[os.environ["STOP_SIGNAL"]])
        return written(self, oid, data, kind)

    batch.MemoryObjects.write_cb = write_cb
"""


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGINT"])
def test_a_stop_signal_while_a_batch_is_written_ends_the_run_as_ctrl_c_does(
    tmp_path: Path, stop: str
) -> None:
    repo = _project(tmp_path / "project", GRID)
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(STOP_WHILE_WRITING)
    path = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p)
    started = Started(repo, "run", env={"PYTHONPATH": path, "STOP_AT": "100", "STOP_SIGNAL": stop})
    code, out, err = started.finish()

    assert code == 130, (out, err)  # not 3, a bug
    recorded = _recorded(repo)
    assert 0 < len(recorded) < POINTS and set(recorded.values()) == {1}
    assert f"Recorded {len(recorded)} run(s)" in out, out
    assert f"Interrupted: {POINTS - len(recorded)} point(s) not run" in out, out
    assert "Traceback" not in err and "error" not in err, err
    assert _claims(repo) == []
    fsck(repo)


COMMAND = """\
import os, sys, time
open("started", "w").close()
while not os.path.exists("release"):
    time.sleep(0.02)
open(os.path.join(os.environ["JOURNAL_RUN_DIR"], "metrics.json"), "w").write('{"acc": 1}')
"""


def test_sigterm_while_a_command_trains_records_it_interrupted(tmp_path: Path) -> None:
    repo = _project(tmp_path / "project", "command: python train.py --x {x}\nparams: {x: [1, 2]}\n")
    (repo / "train.py").write_text(COMMAND)
    (repo / ".gitignore").write_text(IGNORED + "started\n")
    started = Started(repo, "run")
    _wait(lambda: (repo / "started").exists(), "the first command started")
    started.proc.send_signal(signal.SIGTERM)
    code, out, err = started.finish()

    assert code == 130, (out, err)
    assert "Interrupted: 1 point(s) not run" in out, out
    assert "Traceback" not in err, err
    listing = git(repo, "ls-tree", "-r", "--name-only", "journal").splitlines()
    (path,) = [p for p in listing if p.endswith("/run.json")]  # the second point never started
    assert json.loads(git(repo, "show", f"journal:{path}"))["status"] == "interrupted"
    assert _claims(repo) == []


# --- claims left by a process killed with kill -9 -----------------------------------------------


def test_a_remote_claim_of_a_dead_process_of_this_host_is_trained_by_the_next_run(
    tmp_path: Path,
) -> None:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    repo = _project(tmp_path / "work", GRID.replace(f"tag: {list(range(POINTS))}", "tag: [7]"))
    (repo / "journal.yaml").write_text(
        (repo / "journal.yaml").read_text().replace("models.Logged", "models.Gate")
    )
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "-q", "origin", "main")
    assert _run(repo, "sync").returncode == 0

    first = Started(repo, "run", "--claim", "origin")
    _wait(lambda: _fits(repo), "the point started training")  # after its claim was pushed
    first.proc.kill()  # kill -9: the machine crashed, the OOM killer
    first.proc.wait(timeout=WAIT)
    assert git(bare, "for-each-ref", CLAIMS_PREFIX).strip()  # its claim is left on the remote
    (repo / "release").write_text("")

    again = _run(repo, "run", "-q", "--claim", "origin")

    assert again.returncode == 0, again.stderr
    assert "Recorded 1 run(s)" in again.stdout, again.stdout
    assert "other run" not in again.stdout, again.stdout  # no other runner exists
    takeovers = [line for line in again.stdout.splitlines() if "Took over" in line]
    assert len(takeovers) == 1 and f"process {first.pid} on" in takeovers[0], again.stdout
    assert git(bare, "for-each-ref", CLAIMS_PREFIX) == ""
    assert sum(_recorded(bare).values()) == 1  # recorded, and pushed
    assert _claims(repo) == []


def test_the_claims_a_killed_run_left_are_taken_over_with_one_line(tmp_path: Path) -> None:
    repo = _project(tmp_path / "project", GRID)
    first = Started(repo, "run")
    _wait(lambda: _trained(repo) >= 20, "20 points trained")
    first.proc.kill()
    # Not waited for yet where /proc tells: a zombie, as under a parent that has not reaped
    # it, holds no claim either.
    if Path("/proc").is_dir():
        _wait(lambda: _state(first.pid) in ("Z", None), "the killed process ended")
    else:
        first.proc.wait(timeout=WAIT)
    left = _claims(repo)
    assert len(left) >= 2  # the points trained but not yet written, and the one in training

    again = _run(repo, "run")
    first.proc.wait(timeout=WAIT)

    assert again.returncode == 0, again.stderr
    takeovers = [line for line in again.stdout.splitlines() if "Took over" in line]
    assert len(takeovers) == 1, again.stdout
    assert f"Took over {len(left)} stale claims" in takeovers[0], takeovers
    assert f"process {first.pid} on" in takeovers[0], takeovers
    named, _, more = takeovers[0].partition("): ")[2].removesuffix(".").partition(" and ")
    assert len(named.split(", ")) == 3 and set(named.split(", ")) <= {n[:12] for n in left}
    assert more == (f"{len(left) - 3} more" if len(left) > 3 else ""), takeovers
    final = _recorded(repo)
    assert len(final) == POINTS and set(final.values()) == {1}
    assert _claims(repo) == []


# --- Ctrl-C while `--jobs` workers start --------------------------------------------------------

# Imported by every Python process at start-up (`sitecustomize` on PYTHONPATH): in the fork
# server of `--jobs`, it says it started, then waits for the test, so that a Ctrl-C reaches the
# server while it starts and imports what the workers need.
HOOK = """\
import os, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if b"multiprocessing.forkserver" in Path("/proc/self/cmdline").read_bytes():
    (HERE / "server-started").write_text(str(os.getpid()))
    deadline = time.monotonic() + 60
    while not (HERE / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
"""


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
def test_ctrl_c_while_the_workers_fork_server_starts_prints_no_traceback(tmp_path: Path) -> None:
    repo = _project(tmp_path / "project", GRID)
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOOK)
    path = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p)
    started = Started(repo, "run", "--jobs", "2", session=True, env={"PYTHONPATH": path})
    server = int(_wait(lambda: _read(hook / "server-started"), "the fork server started"))
    os.killpg(started.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole group
    (hook / "go").write_text("")
    code, out, _ = started.finish()
    _wait(lambda: not _alive(server), "the fork server ended")  # all it printed is in the file
    err = started.err.read_text()

    assert code == 130, (out, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.strip() in ("", "interrupted"), err  # at most one line
    assert _claims(repo) == []


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


# --- text printed as it is -----------------------------------------------------------------------


def test_run_prints_bracketed_text_as_it_is(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project")
    rows = "".join(f"{i},0,{i % 2}\n" for i in range(1, 61))
    (repo / "t.csv").write_text("a,const,y\n" + rows)
    (repo / "models.py").write_text(MODELS)
    (repo / ".gitignore").write_text(IGNORED)
    (repo / "journal.yaml").write_text(
        "data: {path: t.csv, target: y}\n"
        "model:\n"
        "  - estimator: sklearn.tree.DecisionTreeClassifier\n"
        "  - estimator: models.Broken\n"
        "    params: {why: ['[bad] input']}\n"
        "evaluation: {cv: 3, seed: 0}\n"
    )
    assert _run(repo, "init").returncode == 0

    done = _run(repo, "run")

    assert done.returncode == 1, done.stderr  # the broken point failed
    assert "drop it (data: drop: [const])" in done.stdout, done.stdout  # the live warning
    assert "failed: ValueError: [bad] input" in done.stdout, done.stdout  # the summary
    assert "why=[bad] input" in done.stdout, done.stdout  # the table of best runs
