"""Several `git journal run` of one spec at once split the grid: each point is trained once."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import git
from helpers import Cli
from rich.console import Console

from gitlab_journal.journal.store import Store
from gitlab_journal.run.claims_local import LocalClaims, this_machine
from gitlab_journal.run.plan import make_plan
from gitlab_journal.run.runner import execute
from gitlab_journal.spec.load import load_spec

pytestmark = pytest.mark.slow  # see the README: `pytest -m "not slow"` skips these locally

GRID = """\
data: sklearn:iris
model:
  estimator: sklearn.linear_model.LogisticRegression
  params:
    C: [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]
    max_iter: [200]
evaluation: {cv: 2}
"""


def journal_fingerprints(repo: Path) -> Counter[str]:
    """Fingerprint -> number of runs, read back with plain git."""
    paths = git(repo, "ls-tree", "-r", "--name-only", "journal").splitlines()
    fingerprints: Counter[str] = Counter()
    for path in paths:
        if path.startswith("runs/") and path.endswith("/run.json"):
            doc = json.loads(git(repo, "show", f"journal:{path}"))
            fingerprints[doc["fingerprint"]] += 1
    return fingerprints


@pytest.mark.slow
def test_three_processes_on_one_spec_record_every_point_once(repo: Path) -> None:
    (repo / "journal.yaml").write_text(GRID)
    env = {**os.environ, "COLUMNS": "120"}
    subprocess.run([sys.executable, "-m", "gitlab_journal", "init"], cwd=repo, check=True)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gitlab_journal", "run"],
            cwd=repo,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    recorded = 0
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        found = re.search(r"Recorded (\d+) run\(s\)", out)
        recorded += int(found.group(1)) if found else 0
        if "by other runs" in out:  # what a process left to the others, it says
            assert "trained here" in out, out
    # each point recorded by exactly one of them, however they happened to split the grid
    # (one that started well before the others may train all of it)
    assert recorded == 8, [out for out, _ in outputs]
    counts = journal_fingerprints(repo)
    assert len(counts) == 8
    assert set(counts.values()) == {1}, counts
    claims = (repo / ".git" / "journal" / "claims").glob("*")
    assert not [path for path in claims if not path.name.startswith(".")]  # all released


OTHER_BOOT = "00000000-0000-4000-8000-000000000000/pid:[1]"


def _here() -> dict[str, str]:
    here = this_machine()
    return {"machine": here.machine, "boot": here.boot}


@pytest.mark.parametrize(
    ("owner", "taken_over"),
    [
        pytest.param(_here, True, id="this-machine"),
        pytest.param(dict, True, id="said-nothing-earlier-version"),
        pytest.param(
            lambda: {"machine": "f" * 32, "boot": OTHER_BOOT}, False, id="another-machine"
        ),
        pytest.param(
            lambda: {**_here(), "boot": this_machine().boot.split("/")[0] + "/pid:[1]"},
            False,
            id="another-pid-namespace",
        ),
        # a machine id is kept across restarts (where there is none, the claim waits)
        pytest.param(
            lambda: {**_here(), "boot": OTHER_BOOT}, bool(this_machine().machine), id="restarted"
        ),
    ],
)
def test_a_dead_owners_claim_is_taken_over_only_when_it_was_this_machines(
    repo: Path, owner: Callable[[], dict[str, str]], taken_over: bool
) -> None:
    """A claim names its host, and also its machine and boot: a dead process id of another
    machine with this host name (a cloned machine, a container) is not this machine's
    process, so its claim waits for its timeout; one of this machine, or of this machine
    before it restarted, is stale at once."""
    (repo / "journal.yaml").write_text(
        GRID.replace("[0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]", "[1.0]")
    )
    subprocess.run([sys.executable, "-m", "gitlab_journal", "init"], cwd=repo, check=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    claims = repo / ".git" / "journal" / "claims"
    # Run once to learn the point's fingerprint, then plant a dead owner's claim on it: a
    # forced repeat takes the claim over, or leaves the point as claimed elsewhere.
    first = subprocess.run(
        [sys.executable, "-m", "gitlab_journal", "run"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert first.returncode == 0, first.stderr
    (fingerprint,) = journal_fingerprints(repo)

    (claims / fingerprint).write_text(
        json.dumps(
            {
                "host": socket.gethostname(),
                "pid": dead.pid,
                **owner(),
                "started": time.time(),
                "token": "x",
            }
        )
    )
    again = subprocess.run(
        [sys.executable, "-m", "gitlab_journal", "run", "--force"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert journal_fingerprints(repo)[fingerprint] == (2 if taken_over else 1), again.stdout
    if taken_over:
        assert f"process {dead.pid} on" in again.stdout and "Took over" in again.stdout
        assert not (claims / fingerprint).exists()
    else:
        assert "0 point(s) trained here, 1 by other runs" in again.stdout, again.stdout
        assert json.loads((claims / fingerprint).read_text())["token"] == "x"


# A tree whose fit takes a moment, and whose last point lets the process that holds the
# first point's claim end (as a run killed while it trained that point).
SLOW_TREE = """\
import time
from pathlib import Path

from sklearn.tree import DecisionTreeClassifier


class Slow(DecisionTreeClassifier):
    def fit(self, X, y, sample_weight=None, check_input=True):
        if self.max_depth == 3:
            Path(__file__).with_name("release").touch()
        time.sleep(0.3)
        return super().fit(X, y, sample_weight=sample_weight, check_input=check_input)
"""
SLOW_SPEC = """\
data: sklearn:iris
model:
  estimator: slow.Slow
  params:
    max_depth: [1, 2, 3]
evaluation: {cv: 2, seed: 0}
"""
HOLDER = (
    "import pathlib, time\n"
    "for _ in range(1200):\n"
    "    if pathlib.Path('release').exists():\n"
    "        break\n"
    "    time.sleep(0.05)\n"
)


def test_a_point_whose_holder_died_while_the_grid_ran_is_trained_before_the_end(
    repo: Path, cli: Cli
) -> None:
    """Another run held the first point when its turn came, then died (killed) while this
    run trained the others: before this run ends, the point's claim is stale, so it is taken
    over and trained here, not left to a run that is gone."""
    (repo / "slow.py").write_text(SLOW_TREE)
    (repo / "journal.yaml").write_text(SLOW_SPEC)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "A slow tree")
    assert cli("init")[0] == 0
    plan = make_plan(Store.discover(repo), load_spec(repo / "journal.yaml"))
    first = plan.points[0].fingerprint
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], cwd=repo)
    claims = repo / ".git" / "journal" / "claims"
    claims.mkdir(parents=True, exist_ok=True)
    here = this_machine()
    (claims / first).write_text(
        json.dumps(
            {
                "host": socket.gethostname(),
                "pid": holder.pid,
                "machine": here.machine,
                "boot": here.boot,
                "started": time.time(),
                "token": "x",
            }
        )
    )
    try:
        code, out, err = cli("run")
    finally:
        holder.kill()
        holder.wait()

    assert code == 0, out + err
    assert "3 point(s) trained here" in " ".join(out.split()) or "Recorded 3 run(s)" in out, out
    assert f"Took over a stale claim on {first[:12]} (process {holder.pid}" in out, out
    assert set(journal_fingerprints(repo)) == {p.fingerprint for p in plan.points}
    assert not (claims / first).exists()


def test_an_unreadable_claim_is_taken_over_and_named_so(repo: Path, cli: Cli) -> None:
    """A claim file a writer left half written (it died, or the disk filled) is stale: taken
    over, and named as what it is, not as a process 0."""
    (repo / "journal.yaml").write_text(
        GRID.replace("[0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]", "[1.0]")
    )
    assert cli("init")[0] == 0
    (point,) = make_plan(Store.discover(repo), load_spec(repo / "journal.yaml")).points
    claims = repo / ".git" / "journal" / "claims"
    claims.mkdir(parents=True, exist_ok=True)
    (claims / point.fingerprint).write_text('{"host": "vm", "pi')

    code, out, err = cli("run", "-q")

    assert code == 0, err
    flat = " ".join(out.split())
    assert f"Took over a stale claim on {point.fingerprint[:12]}" in flat, out
    assert "(a claim file that could not be read)" in flat and "process 0" not in flat, out


def test_a_claim_says_which_machine_made_it(repo: Path) -> None:
    store = Store.discover(repo)
    claims = LocalClaims(store)
    assert claims.acquire("ab" * 20) is None
    doc = json.loads((claims.directory / ("ab" * 20)).read_text())
    assert doc["host"] == socket.gethostname() and doc["pid"] == os.getpid()
    assert (doc["machine"], doc["boot"]) == (this_machine().machine, this_machine().boot)
    assert claims.acquire("ab" * 20) == "claimed by this process"
    claims.finish()


def test_retry_failed_trains_only_the_failed_points(repo: Path) -> None:
    spec = (
        "data: sklearn:iris\nmodel:\n  estimator: sklearn.svm.SVC\n"
        "  params: {kernel: [linear, no-such-kernel]}\n"
        "evaluation: {cv: 2}\n"
    )
    (repo / "journal.yaml").write_text(spec)
    run = [sys.executable, "-m", "gitlab_journal"]
    subprocess.run([*run, "init"], cwd=repo, check=True)
    first = subprocess.run([*run, "run"], cwd=repo, capture_output=True, text=True, check=False)
    assert first.returncode == 1, first.stdout
    before = journal_fingerprints(repo)
    check = subprocess.run([*run, "check"], cwd=repo, capture_output=True, text=True)
    assert check.returncode == 1
    assert "Of these, 1 ran but did not end ok (1 failed)" in check.stdout, check.stdout
    assert "--retry failed" in check.stdout
    dry = subprocess.run(
        [*run, "run", "--retry", "failed", "--dry-run"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "retry (failed)" in dry.stdout, dry.stdout
    assert journal_fingerprints(repo) == before
    again = subprocess.run(
        [*run, "run", "--retry", "failed"], cwd=repo, capture_output=True, text=True, check=False
    )
    assert again.returncode == 1  # the point fails again: it is still a bad kernel
    after = journal_fingerprints(repo)
    assert sum(after.values()) == 3
    assert sorted(after.values()) == [1, 2]  # only the failed point has a repeat


SLOW_POINT = """\
data: sklearn:digits
model:
  estimator: sklearn.ensemble.RandomForestClassifier
  params: {n_estimators: [150], random_state: [0]}
evaluation: {cv: 5}
"""


@pytest.mark.parametrize("jobs", ["1", "2"])  # in this process, and in a worker process
def test_a_point_in_training_says_its_progress_in_its_claim(repo: Path, jobs: str) -> None:
    (repo / "journal.yaml").write_text(SLOW_POINT)
    subprocess.run([sys.executable, "-m", "gitlab_journal", "init"], cwd=repo, check=True)
    proc = subprocess.Popen(  # a pipe, not a terminal: the claim still says it
        [sys.executable, "-m", "gitlab_journal", "run", "--jobs", jobs],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    claims = repo / ".git" / "journal" / "claims"
    seen: set[str] = set()
    while proc.poll() is None:
        for path in claims.glob("[0-9a-f]*") if claims.is_dir() else []:
            try:
                seen.add(str(json.loads(path.read_text()).get("progress", "")))
            except (OSError, ValueError):
                continue  # released or being replaced as we read it
        time.sleep(0.02)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert any(text.startswith("fold ") and text.endswith("/5") for text in seen), seen


CHEAP_GRID = """\
data: sklearn:iris
model:
  estimator: sklearn.linear_model.RidgeClassifier
  params:
    alpha: [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]
evaluation: {cv: 2}
"""


class NotedClaims(LocalClaims):
    """The real local claims, each progress note kept."""

    notes: list[str]

    def progress(self, fingerprint: str, text: str) -> None:
        self.notes.append(text)
        super().progress(fingerprint, text)


def test_a_cheap_point_leaves_its_claim_alone(repo: Path) -> None:
    # 8 points of 2 folds that each fit in milliseconds: a claim written at every fold would
    # cost more than the fold; only a point training for PROGRESS_AFTER says its progress
    (repo / "journal.yaml").write_text(CHEAP_GRID)
    store = Store.discover(repo)
    store.init()
    plan = make_plan(store, load_spec(repo / "journal.yaml"))
    claims = NotedClaims(store)
    claims.notes = []
    report = execute(store, plan, console=Console(file=io.StringIO()), coordinator=claims)
    assert len(report.recorded) == 8
    assert claims.notes == []
    assert not any(claims.directory.glob("[0-9a-f]*"))  # every claim let go
