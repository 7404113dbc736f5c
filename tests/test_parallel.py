"""Parallel and distributed training: `--jobs N` worker processes and a real Dask cluster.

The runner's process stays the only writer: every run lands as one commit, failures in workers
are recorded failed runs, and a killed worker loses no recorded run.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import GIT_ENV, IRIS_SPEC, git
from helpers import Cli, fsck, logged

from gitlab_journal.journal.store import Store

pytestmark = pytest.mark.slow  # see the README: `pytest -m "not slow"` skips these locally

# Estimators in the user's repository: one that kills its own process when asked, one that
# sleeps (so a grid lasts long enough to lose a worker in the middle of it), and one that edits
# the data file while it trains.
USER_MODELS = """\
import os
import signal
import time
from pathlib import Path

from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression



class _Base(ClassifierMixin, BaseEstimator):
    def _fit(self, X, y):
        self.model_ = LogisticRegression(max_iter=500).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        return self.model_.predict(X)


class Suicidal(_Base):
    def __init__(self, die=False, tag=0):
        self.die = die
        self.tag = tag

    def fit(self, X, y):
        if self.die:
            os.kill(os.getpid(), signal.SIGKILL)
        return self._fit(X, y)


class Slow(_Base):
    def __init__(self, seconds=0.1, tag=0):
        self.seconds = seconds
        self.tag = tag

    def fit(self, X, y):
        time.sleep(self.seconds)
        return self._fit(X, y)


class Tamper(_Base):
    def __init__(self, path="data/train.csv", C=1.0):
        self.path = path
        self.C = C

    def fit(self, X, y):
        with open(self.path, "a") as fh:
            fh.write("\\n")  # a blank line: the loader skips it, but the file's md5 moves
        return self._fit(X, y)
"""

TIMES = {"fit_time", "score_time"}


def scores(run: dict[str, Any]) -> dict[str, float]:
    metrics = run["metrics"]
    assert isinstance(metrics, dict)
    return {k: v for k, v in metrics.items() if k not in TIMES}


def one_commit_per_run(repo: Path, runs: int) -> None:
    subjects = git(repo, "log", "--format=%s", "journal").splitlines()
    assert len(subjects) == runs + 1 and subjects[-1] == "Start the experiment journal"


@pytest.fixture
def user_models(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``models.py`` in the repository, importable here and in the worker processes."""
    (repo / "models.py").write_text(USER_MODELS)
    git(repo, "add", "models.py")
    git(repo, "commit", "-q", "-m", "Add models")
    monkeypatch.syspath_prepend(str(repo))
    monkeypatch.setenv("PYTHONPATH", str(repo))
    for name in [m for m in sys.modules if m == "models" or m.startswith("models.")]:
        monkeypatch.delitem(sys.modules, name)  # another test's repository had a `models` too
    return repo


WIDE_IRIS = IRIS_SPEC.replace("C: [0.1, 1.0, 10.0]", "C: [0.01, 0.1, 1.0, 10.0, 100.0]")


def test_jobs_2_records_every_point_with_the_scores_of_jobs_1(repo: Path, cli: Cli) -> None:
    (repo / "journal.yaml").write_text(WIDE_IRIS)
    assert cli("init")[0] == 0

    code, _, err = cli("run", "-q", "--jobs", "2")

    assert code == 0, err
    parallel = logged(cli)
    assert len(parallel) == 5
    one_commit_per_run(repo, 5)
    # The same grid in this process records the same scores, point by point.
    code, _, err = cli("run", "-q", "--force")
    assert code == 0, err
    runs = logged(cli)
    assert len(runs) == 10
    by_fingerprint: dict[str, list[dict[str, float]]] = {}
    for run in runs:
        by_fingerprint.setdefault(str(run["fingerprint"]), []).append(scores(run))
    assert len(by_fingerprint) == 5
    for pair in by_fingerprint.values():
        assert len(pair) == 2 and pair[0] == pair[1]
        assert pair[0]["accuracy"] > 0.5
    # Nothing left to run: a third run skips every point, in parallel too.
    code, out, _ = cli("run", "--jobs", "2")
    assert code == 0 and "Nothing to run" in out
    fsck(repo)


def test_a_failure_in_a_worker_is_a_recorded_failed_run(repo: Path, cli: Cli) -> None:
    spec = IRIS_SPEC.replace("max_iter: 500", "max_iter: 500\n    penalty: [l1, l2]")
    (repo / "journal.yaml").write_text(spec)  # lbfgs does not support l1: those fits raise
    assert cli("init")[0] == 0

    code, out, _ = cli("run", "-q", "-j", "2")

    assert code == 1  # a run failed
    runs = logged(cli)
    assert len(runs) == 6
    failed = [r for r in runs if r["status"] == "failed"]
    assert {r["params"]["penalty"] for r in failed} == {"l1"}
    assert all(r["status"] == "ok" for r in runs if r not in failed)
    store = Store.discover(repo)
    for run in store.iter_runs():
        if run.status == "failed":
            assert run.error and "l1" in run.error
    assert "3 failed" in out


def test_a_killed_worker_loses_no_run_and_its_point_is_reported_failed(
    user_models: Path, cli: Cli
) -> None:
    (user_models / "journal.yaml").write_text(
        """\
data: sklearn:iris
model:
  estimator: models.Suicidal
  params:
    die: [false, true]
    tag: [1, 2, 3]
evaluation:
  cv: 3
  seed: 0
"""
    )
    assert cli("init")[0] == 0

    code, out, _ = cli("run", "--jobs", "2")

    assert code == 1
    assert "Recorded 6 run(s)" in out and "3 failed" in out
    runs = logged(cli)
    assert len(runs) == 6  # every point recorded: none dropped
    for run in runs:
        point = run["point"]
        assert isinstance(point, dict)
        if point["die"]:
            assert run["status"] == "failed"
        else:
            assert run["status"] == "ok"
    store = Store.discover(user_models)
    errors = [r.error or "" for r in store.iter_runs() if r.status == "failed"]
    assert len(errors) == 3
    assert all("killed by SIGKILL" in e and "2 times" in e for e in errors)
    one_commit_per_run(user_models, 6)
    fsck(user_models)


def test_data_changed_while_training_is_recorded_with_a_warning_or_refused_when_strict(
    user_models: Path, cli: Cli
) -> None:
    rng = random.Random(0)
    rows = ["a,b,label"]
    for _ in range(60):
        a, b = rng.uniform(-1, 1), rng.uniform(-1, 1)
        rows.append(f"{a:.4f},{b:.4f},{int(a + b > 0)}")
    (user_models / "data").mkdir()
    (user_models / "data" / "train.csv").write_text("\n".join(rows) + "\n")
    (user_models / "journal.yaml").write_text(
        """\
data:
  path: data/train.csv
  target: label
model:
  estimator: models.Tamper
  params:
    C: [1.0]
evaluation:
  cv: 3
  seed: 0
"""
    )
    assert cli("init")[0] == 0

    code, _, err = cli("run", "-q")

    assert code == 0, err
    (run,) = Store.discover(user_models).iter_runs()
    changed = [w for w in run.warnings if w.startswith("data changed while training")]
    assert len(changed) == 1 and "data/train.csv" in changed[0]
    # The data moved again (the last run's fits appended to it): a new experiment, refused.
    code, _, err = cli("run", "-q", "--strict")
    assert code == 1
    assert "data changed while training" in err and "nothing was recorded" in err
    assert len(list(Store.discover(user_models).iter_runs())) == 1


def test_bad_jobs_and_executor_arguments_are_usage_errors(repo: Path, cli: Cli) -> None:
    (repo / "journal.yaml").write_text(IRIS_SPEC)
    assert cli("init")[0] == 0
    for args, words in (
        (("--jobs", "0"), "at least 1"),
        (("--executor", "spark://x:1"), "unknown executor"),
        (("--executor", "dask://127.0.0.1:1", "--jobs", "2"), "do not go together"),
    ):
        code, _, err = cli("run", "-q", *args)
        assert code == 2, args
        assert words in err
    assert logged(cli) == []


# --- Dask -----------------------------------------------------------------------------------------


def _dask(
    *args: str, cwd: Path, log: Path, pythonpath: str | None = None
) -> subprocess.Popen[bytes]:
    env = {**os.environ, **GIT_ENV, "PYTHONPATH": str(cwd) if pythonpath is None else pythonpath}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_" + args[0], *args[1:]],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@pytest.fixture
def dask_cluster(user_models: Path, tmp_path: Path) -> Iterator[tuple[str, list[int]]]:
    """A real scheduler and two single-threaded workers on 127.0.0.1, started in the
    repository with it on their path: (address, worker pids)."""
    yield from _cluster(tmp_path, cwd=user_models, pythonpath=str(user_models))


@pytest.fixture
def remote_cluster(tmp_path: Path) -> Iterator[tuple[str, list[int]]]:
    """The same, started in a folder of their own with nothing of the repository on their
    path, as on machines that share no file system with the client."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    yield from _cluster(tmp_path, cwd=elsewhere, pythonpath="")


def _cluster(tmp_path: Path, *, cwd: Path, pythonpath: str) -> Iterator[tuple[str, list[int]]]:
    from distributed import Client

    info = tmp_path / "scheduler.json"
    procs = [
        _dask(
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(info),
            cwd=cwd,
            log=tmp_path / "scheduler.log",
            pythonpath=pythonpath,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert info.exists(), (tmp_path / "scheduler.log").read_text()
        for i in range(2):
            procs.append(
                _dask(
                    "worker",
                    "--scheduler-file",
                    str(info),
                    "--host",
                    "127.0.0.1",
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--no-dashboard",
                    "--name",
                    f"w{i}",
                    cwd=cwd,
                    log=tmp_path / f"worker{i}.log",
                    pythonpath=pythonpath,
                )
            )
        address = json.loads(info.read_text())["address"]
        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        assert address.startswith("tcp://127.0.0.1:")
        yield address, [p.pid for p in procs[1:]]
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def test_dask_runs_land_with_the_metrics_of_a_local_run(
    user_models: Path, cli: Cli, dask_cluster: tuple[str, list[int]]
) -> None:
    address, _ = dask_cluster
    (user_models / "journal.yaml").write_text(IRIS_SPEC)
    assert cli("init")[0] == 0

    code, _, err = cli("run", "-q", "--executor", "dask://" + address.removeprefix("tcp://"))

    assert code == 0, err
    assert len(logged(cli)) == 3
    code, _, err = cli("run", "-q", "--force")  # the same grid, in this process
    assert code == 0, err
    by_fingerprint: dict[str, list[dict[str, float]]] = {}
    for run in logged(cli):
        by_fingerprint.setdefault(str(run["fingerprint"]), []).append(scores(run))
    assert len(by_fingerprint) == 3
    assert all(len(p) == 2 and p[0] == p[1] for p in by_fingerprint.values())
    one_commit_per_run(user_models, 6)
    fsck(user_models)


def test_dask_workers_without_the_repository_train_its_own_models(
    user_models: Path, cli: Cli, remote_cluster: tuple[str, list[int]]
) -> None:
    from sklearn.datasets import load_iris

    address, _ = remote_cluster
    (user_models / "data").mkdir()
    load_iris(as_frame=True).frame.to_csv(user_models / "data" / "iris.csv", index=False)
    (user_models / "journal.yaml").write_text(  # a table and a model only the repository has
        "data:\n  path: data/iris.csv\n  target: target\nmodel:\n  estimator: models.Slow\n"
        "  params:\n    seconds: 0.01\n    tag: [1, 2, 3]\nevaluation:\n  cv: 3\n  seed: 0\n"
    )
    assert cli("init")[0] == 0
    executor = "dask://" + address.removeprefix("tcp://")

    code, _, err = cli("run", "-q", "--executor", executor)

    assert code == 0, err
    remote = {str(r["fingerprint"]): scores(r) for r in logged(cli)}
    assert len(remote) == 3 and all(r["status"] == "ok" for r in logged(cli))
    code, _, err = cli("run", "-q", "--force")  # the same grid, in this process
    assert code == 0, err
    for run in logged(cli):
        assert scores(run) == remote[str(run["fingerprint"])]
    # an edit of the repository's module reaches the workers with the next grid
    models = user_models / "models.py"
    models.write_text(models.read_text().replace("max_iter=500", "max_iter=500, C=0.001"))
    code, _, err = cli("run", "-q", "--executor", executor)
    assert code == 0, err
    weaker = [r for r in logged(cli) if str(r["fingerprint"]) not in remote]
    assert len(weaker) == 3
    assert all(
        scores(r)["accuracy"] < min(s["accuracy"] for s in remote.values()) for r in weaker
    ), (weaker, remote)
    fsck(user_models)


def test_a_dask_worker_killed_mid_grid_loses_no_run(
    user_models: Path, cli: Cli, dask_cluster: tuple[str, list[int]], tmp_path: Path
) -> None:
    address, workers = dask_cluster
    (user_models / "journal.yaml").write_text(
        """\
data: sklearn:iris
model:
  estimator: models.Slow
  params:
    seconds: 0.15
    tag: [1, 2, 3, 4, 5, 6, 7, 8]
evaluation:
  cv: 3
  seed: 0
"""
    )
    assert cli("init")[0] == 0
    env = {**os.environ, **GIT_ENV, "PYTHONPATH": str(user_models)}
    runner = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gitlab_journal",
            "run",
            "-q",
            "--executor",
            "dask://" + address.removeprefix("tcp://"),
        ],
        cwd=user_models,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        store = Store.discover(user_models)
        deadline = time.monotonic() + 90
        recorded = 0
        while time.monotonic() < deadline and runner.poll() is None:
            recorded = sum(1 for _ in store.run_paths())
            if recorded >= 1:
                break
            time.sleep(0.02)
        os.kill(workers[0], signal.SIGKILL)  # mid-grid: the first runs are in, the rest not
        assert 1 <= recorded < 8
        _, err = runner.communicate(timeout=180)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(timeout=10)
    assert runner.returncode in (0, 1), err
    runs = logged(cli)
    assert len(runs) == 8  # every point: re-run on the other worker, or recorded as failed
    assert len({r["fingerprint"] for r in runs}) == 8
    for run in runs:
        if run["status"] != "ok":
            assert run["status"] == "failed"
    one_commit_per_run(user_models, 8)
    fsck(user_models)
