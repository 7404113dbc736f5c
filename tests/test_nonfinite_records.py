"""Scores that are not finite numbers in the files a run keeps beside its metrics: per-fold
scores (``folds.json``), per-class figures (``classes.json``) and the metric pairs a rerun
notes on the run it reproduced (``reproductions`` in ``run.json``). Every file the journal
holds is strict JSON (as jq, JavaScript or a server hook read it): a score that is not a
number is null, as in metrics.json; a label, or a value of run.json, in the journal's form of
such a number, ``{"__float__": "nan"}``. The review commands read each back as the number.

Each test records real runs in a real temporary repository and reads them back through the CLI
and ``git show journal:PATH``.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import git
from helpers import Cli, git_env, journal_file, run_git

from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.records import Run
from gitlab_journal.journal.store import Store
from gitlab_journal.reproduce.rerun import note_reproduction


def strict_json(text: bytes | str) -> Any:
    """``text`` read as strict JSON (as jq reads it): a bare NaN or Infinity fails the test."""

    def refuse(token: str) -> Any:
        raise AssertionError(f"not JSON: a bare {token} in {text!r}")

    return json.loads(text, parse_constant=refuse)


def run_ids(cli: Cli) -> list[str]:
    code, out, err = cli("log", "--json")
    assert code == 0, err
    return [str(run["id"]) for run in strict_json(out)]


# A regression on a loader's rows: with as many folds as rows, each fold holds out one row, on
# which R² is not defined (scikit-learn's r2_score gives NaN and a warning).
LOADER = """\
from pathlib import Path

import numpy as np


def load():
    table = np.loadtxt(Path(__file__).parent / "data" / "points.csv", delimiter=",")
    return table[:, :-1], table[:, -1]
"""

RIDGE_SPEC = """\
data:
  loader: prep:load
  deps: [data/points.csv]
model:
  estimator: sklearn.linear_model.Ridge
  params:
    alpha: [1.0]
evaluation:
  cv: 5
  scoring: [r2]
  seed: 0
"""


def write_points(repo: Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 2))
    y = X @ np.array([1.0, 2.0]) + rng.normal(size=rows) * 0.1
    np.savetxt(repo / "data" / "points.csv", np.column_stack([X, y]), delimiter=",")


def ridge_project(repo: Path, cli: Cli, rows: int) -> str:
    """A committed loader spec over ``rows`` rows of data (ignored by git), run: its run id."""
    (repo / "data").mkdir()
    write_points(repo, rows)
    (repo / ".gitignore").write_text("data/\n")
    (repo / "prep.py").write_text(LOADER)
    (repo / "journal.yaml").write_text(RIDGE_SPEC)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Fit a ridge")
    assert cli("init")[0] == 0
    code, out, err = cli("run", "-q")
    assert code == 0, (out, err)
    (run_id,) = run_ids(cli)
    return run_id


def test_a_fold_score_that_is_nan_is_written_null(repo: Path, cli: Cli) -> None:
    run_id = ridge_project(repo, cli, rows=5)

    folds = strict_json(journal_file(repo, run_id, fmt.FOLDS_FILE))
    assert folds["r2"] == [None] * 5
    assert len(folds["fit_time"]) == 5 and all(isinstance(t, float) for t in folds["fit_time"])
    assert strict_json(journal_file(repo, run_id, fmt.METRICS_FILE))["r2"] is None
    code, out, err = cli("show", run_id)
    assert code == 0, err
    code, out, err = cli("verify")
    assert code == 0, (out, err)


def test_a_rerun_of_a_run_whose_score_is_nan_is_identical(repo: Path, cli: Cli) -> None:
    """The record keeps a NaN score as null: the reproduction's NaN is that same score."""
    run_id = ridge_project(repo, cli, rows=5)

    code, out, err = cli("rerun", run_id, "-q")

    assert code == 0, (out, err)
    assert "identical" in out
    doc = strict_json(journal_file(repo, run_id, fmt.RUN_FILE))
    (entry,) = doc["reproductions"]
    assert entry["result"] == "identical" and "differences" not in entry
    code, out, _ = cli("show", run_id)
    assert "✓ reproduced" in out


def test_a_rerun_whose_score_turns_nan_or_back_notes_strict_differences(
    repo: Path, cli: Cli
) -> None:
    """A NaN on either side of a difference is written in the journal's form, so run.json stays
    strict JSON, and `show` prints it as ``nan``."""
    nan_run = ridge_project(repo, cli, rows=5)  # R² not defined on any fold
    write_points(repo, 10)  # two rows held out per fold: a score again

    code, out, err = cli("rerun", nan_run, "-q", "--allow-data-change")

    assert code == 1, (out, err)
    assert re.search(r"^r2 +nan +-?\d", out, re.M), out
    entry = strict_json(journal_file(repo, nan_run, fmt.RUN_FILE))["reproductions"][-1]
    assert entry["result"] == "differs"
    before, now = entry["differences"]["r2"]
    assert before == {"__float__": "nan"} and isinstance(now, float) and math.isfinite(now)
    code, out, err = cli("show", nan_run)
    assert code == 0, err
    assert f"r2 nan → {now:g}" in out and "__float__" not in out, out

    (score_run,) = set(run_ids(cli)) - {nan_run}
    write_points(repo, 5)
    code, out, err = cli("rerun", score_run, "-q", "--allow-data-change")

    assert code == 1, (out, err)
    entry = strict_json(journal_file(repo, score_run, fmt.RUN_FILE))["reproductions"][-1]
    assert entry["differences"]["r2"] == [now, {"__float__": "nan"}]
    code, out, err = cli("show", score_run)
    assert code == 0, err
    assert f"r2 {now:g} → nan" in out, out
    code, out, err = cli("verify")
    assert code == 0, (out, err)


def _before(run: Run) -> dict[str, Any]:
    """run.json as gitlab-journal wrote it before: a reproduction's numbers as they are, so a
    bare ``NaN`` in the file."""
    doc = _run_document(run)
    if run.reproductions:
        doc["reproductions"] = [dict(entry) for entry in run.reproductions]
    return doc


_run_document = fmt.run_document


def test_a_reproduction_of_before_with_a_bare_nan_reads_and_grows(
    repo: Path, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reproduction written before, whose differences hold a bare NaN, still reads and shows;
    a note rewrites it strict, and the server's pre-receive hook takes both pushes."""
    bare = tmp_path / "server.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    hook = [sys.executable, "-m", "gitlab_journal", "hooks", "install", "--hook", "pre-receive"]
    done = subprocess.run(hook, cwd=bare, env=git_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    git(repo, "remote", "add", "origin", str(bare))
    run_id = ridge_project(repo, cli, rows=10)
    (record,) = strict_json(cli("log", "--json")[1])
    store = Store.discover(repo)
    run = store.read(str(record["fingerprint"]), run_id)
    entry = {
        "by": None,
        "checked": "2026-01-02T03:04:05Z",
        "differences": {"r2": [run.metrics["r2"], math.nan]},
        "result": "differs",
    }
    with monkeypatch.context() as patched:
        patched.setattr(fmt, "run_document", _before)
        note_reproduction(store, run, entry)
    old = journal_file(repo, run_id, fmt.RUN_FILE)
    assert b"NaN" in old  # as written before
    code, out, err = cli("show", run_id)
    assert code == 0, err
    assert "→ nan" in out, out
    run_git(repo, "push", "-q", "origin", "journal")

    assert cli("note", run_id, "-m", "R² breaks on single rows")[0] == 0

    doc = strict_json(journal_file(repo, run_id, fmt.RUN_FILE))
    assert doc["reproductions"][0]["differences"]["r2"][1] == {"__float__": "nan"}
    files = {name: journal_file(repo, run_id, name) for name in fmt.REQUIRED_FILES}
    before = {**files, fmt.RUN_FILE: old}
    fmt.check_grown(before, files, where=run_id)  # only the notes changed
    run_git(repo, "push", "-q", "origin", "journal")  # the hook checks the same
    code, out, err = cli("verify")
    assert code == 0, (out, err)
    code, out, err = cli("show", run_id)
    assert code == 0, err
    assert "→ nan" in out and "__float__" not in out, out


# A classifier of the user's that takes its labels as they come (scikit-learn's own check the
# target and refuse a NaN), on a target with a NaN and an infinity among its labels.
MODELS = """\
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class First(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.label_ = y[0]
        return self

    def predict(self, X):
        return np.full(len(X), self.label_)
"""

LABELS_LOADER = """\
import numpy as np


def load():
    X = np.arange(40.0).reshape(20, 2)
    y = np.array([0.0, 1.0, np.nan, np.inf] * 5)
    return X, y
"""

LABELS_SPEC = """\
data:
  loader: prep:load
model:
  estimator: models.First
evaluation:
  split: {test_size: 0.5, stratify: false}
  scoring: [accuracy]
  seed: 0
code: ["*.py"]
"""


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")
def test_labels_that_are_not_finite_are_written_in_the_journals_form(repo: Path, cli: Cli) -> None:
    (repo / "models.py").write_text(MODELS)
    (repo / "prep.py").write_text(LABELS_LOADER)
    (repo / "journal.yaml").write_text(LABELS_SPEC)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Label what comes")
    assert cli("init")[0] == 0
    code, out, err = cli("run", "-q")
    assert code == 0, (out, err)
    (run_id,) = run_ids(cli)

    doc = strict_json(journal_file(repo, run_id, fmt.CLASSES_FILE))

    inf, nan = {"__float__": "inf"}, {"__float__": "nan"}
    assert doc["labels"] == [0.0, 1.0, inf, nan]
    assert [entry["label"] for entry in doc["classes"]] == doc["labels"]
    support = {json.dumps(e["label"]): e["support"] for e in doc["classes"]}
    assert sum(support.values()) == 10  # every held-out row counted, its NaN labels too
    assert support[json.dumps(nan)] > 0
    code, out, err = cli("show", run_id)
    assert code == 0, err
    assert re.search(r"^ +inf +\d", out, re.M) and re.search(r"^ +nan +\d", out, re.M), out
    assert "not shown" not in out and "__float__" not in out
    code, out, err = cli("verify")
    assert code == 0, (out, err)
