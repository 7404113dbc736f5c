"""The Python API: Journal(path) with record, find, runs, get and the run context manager."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import git

from gitlab_journal import Journal
from gitlab_journal.errors import JournalError
from gitlab_journal.journal.store import Store


def test_record_find_and_runs(repo: Path) -> None:
    (repo / "data.csv").write_text("a,b\n1,2\n")
    journal = Journal(repo)
    first = journal.record(
        model="my_project.Net",
        params={"lr": 0.1},
        metrics={"accuracy": 0.8},
        data={"train": "data.csv"},
        notes={"hypothesis": "a small lr is enough"},
    )
    second = journal.record(model="my_project.Net", params={"lr": 0.01}, metrics={"accuracy": 0.9})
    assert first.commit and second.commit
    assert git(repo, "rev-parse", "journal").strip() == second.commit
    assert [r.id for r in journal.find(first.fingerprint)] == [first.id]
    assert first.data == {"train": __import__("hashlib").md5(b"a,b\n1,2\n").hexdigest()}
    best = journal.runs(sort="metrics.accuracy", limit=1)
    assert [r.id for r in best] == [second.id]
    assert [r.id for r in journal.runs(where=["params.lr > 0.05"])] == [first.id]
    assert journal.get(first.id[:6]).notes["hypothesis"] == "a small lr is enough"


def test_an_estimator_object_is_recorded_with_its_params(repo: Path) -> None:
    from sklearn.linear_model import Ridge

    journal = Journal(repo)
    run = journal.record(model=Ridge(alpha=2.0), metrics={"r2": 0.5})
    assert run.model == "sklearn.linear_model.Ridge"
    assert run.params["alpha"] == 2.0
    assert journal.fingerprint(model=Ridge(alpha=2.0)) == run.fingerprint
    assert journal.fingerprint(model=Ridge(alpha=3.0)) != run.fingerprint


def test_a_logged_metric_is_a_number_and_a_nan_fails_the_run(repo: Path) -> None:
    """As ``current_run().log_metric``: text or a bool raises at once, naming the metric; a NaN
    or an infinity fails the run, naming it, and metrics.json stays strict JSON."""
    import math

    from gitlab_journal.current import MetricTypeError

    journal = Journal(repo)
    with (
        pytest.raises(MetricTypeError, match=r"'acc'.*str 'high'"),
        journal.run(model="demo.Model", params={"depth": 5}) as typo,
    ):
        typo.log_metric("acc", "high")  # type: ignore[arg-type]
    assert typo.record is not None and typo.record.status == "failed"
    with pytest.raises(MetricTypeError, match=r"'ok'.*bool"), journal.run(model="demo.Model") as b:
        b.log_metric("ok", True)

    with (
        pytest.warns(UserWarning, match=r"recorded as failed: .*loss = nan"),
        journal.run(model="demo.Model", params={"depth": 6}) as diverged,
    ):
        diverged.log_metrics({"acc": 0.5, "loss": math.nan})
    run = diverged.record
    assert run is not None and run.status == "failed" and run.metrics == {"acc": 0.5}
    assert "loss = nan" in (run.error or "")
    metrics = Store.discover(repo).files(run)["metrics.json"]
    json.loads(metrics, parse_constant=lambda token: pytest.fail(f"bare {token}"))


def test_the_context_manager_records_metrics_and_failures(repo: Path) -> None:
    journal = Journal(repo)
    with journal.run(model="demo.Model", params={"depth": 3}) as active:
        assert not active.is_duplicate
        active.log_metric("accuracy", 0.75)
    assert active.record is not None and active.record.metrics == {"accuracy": 0.75}

    with journal.run(model="demo.Model", params={"depth": 3}) as again:
        assert again.is_duplicate and again.earlier[0].id == active.record.id

    with (
        pytest.raises(ZeroDivisionError),
        journal.run(model="demo.Model", params={"depth": 4}) as bad,
    ):
        bad.log_metric("accuracy", 0.1)
        _ = 1 / 0
    assert bad.record is not None and bad.record.status == "failed"
    assert "ZeroDivisionError" in (bad.record.error or "")

    duplicate = journal.run(model="demo.Model", params={"depth": 3}, skip_duplicate=True)
    with pytest.raises(JournalError, match="already ran"), duplicate:
        pass
    assert len(journal.runs()) == 3


def test_an_error_of_the_api_shows_its_hint_where_python_prints_it(tmp_path: Path) -> None:
    """A script or a notebook sees the traceback Python prints, not the CLI's two lines: the
    hint is under the message there too."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", "from gitlab_journal import Journal; Journal('.')"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "JournalError: not a git repository" in done.stderr
    assert "hint: run this inside a git repository" in done.stderr
