"""`run --search optuna` and `suggest`: ranges in the spec, a study warm-started from the journal,
every trial recorded, nothing recorded ever trained again. Real repositories, real fitting."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import optuna
import pytest
from conftest import git
from helpers import Cli, interrupted_when
from rich.console import Console

from gitlab_journal.journal.store import Store
from gitlab_journal.search.study import BlockReport, Setup, new_study, prepare, search
from gitlab_journal.spec.load import load_spec
from gitlab_journal.spec.model import Distribution

pytestmark = pytest.mark.slow  # see the README: `pytest -m "not slow"` skips these locally

WINE_GRID = """\
data: sklearn:wine
model:
  estimator: sklearn.svm.SVC
  params:
    C: [0.1, 1.0, 10.0, 100.0, 1000.0]
    gamma: [1.0e-6, 1.0e-5, 1.0e-4, 1.0e-3, 1.0e-2, 1.0e-1]
evaluation:
  cv: 5
  scoring: [accuracy]
  seed: 0
"""

WINE_SEARCH = """\
data: sklearn:wine
model:
  estimator: sklearn.svm.SVC
  params:
    C: {low: 0.1, high: 1000.0, log: true}
    gamma: {low: 1.0e-6, high: 0.1, log: true}
evaluation:
  cv: 5
  scoring: [accuracy]
  seed: 0
"""

IRIS_CHOICES = """\
data: sklearn:iris
model:
  estimator: sklearn.svm.SVC
  params:
    kernel: [linear, rbf]
    C: [0.1, 1.0, 10.0]
evaluation:
  cv: 5
  seed: 0
"""


def _quiet() -> Console:
    return Console(file=io.StringIO(), width=120)


def _search(store: Store, spec_path: Path, trials: int, seed: int) -> tuple[Setup, BlockReport]:
    setup = prepare(store, load_spec(spec_path))
    (report,) = search(store, setup, trials=trials, seed=seed, console=_quiet(), quiet=True)
    return setup, report


def _runs(store: Store) -> list[Any]:
    return list(store.iter_runs())


def test_ranges_load_as_distributions(tmp_path: Path) -> None:
    path = tmp_path / "journal.yaml"
    path.write_text(
        WINE_SEARCH.replace("    gamma:", "    degree: {low: 1, high: 5}\n    gamma:").replace(
            "C: {low: 0.1, high: 1000.0, log: true}", "C: {low: 0.1, high: 1000.0, log: true}"
        )
    )
    (model,) = load_spec(path).models
    grid = model.grids[0]
    assert grid["C"] == (Distribution(low=0.1, high=1000.0, log=True),)
    assert grid["degree"] == (Distribution(low=1, high=5, integer=True),)
    assert grid["C"][0].line == 5 and grid["C"][0].key == "model.params.C"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("{low: 1}", "a range needs high as well"),
        ("{low: 0, high: 1, log: true}", "a log range needs low above 0"),
        ("{low: 5, high: 1}", "low (5) must be below high (1)"),
        ("{low: 1, high: 5, step: 0}", "model.params.C.step: expected a positive number"),
        ("{low: 1, high: 5, step: 1, log: true}", "a range takes log or step, not both"),
    ],
)
def test_a_malformed_range_is_an_error_at_its_line(
    repo: Path, cli: Cli, value: str, problem: str
) -> None:
    (repo / "journal.yaml").write_text(
        f"data: sklearn:iris\nmodel:\n  estimator: sklearn.svm.SVC\n  params:\n    C: {value}\n"
    )
    assert cli("init")[0] == 0
    code, _, err = cli("run", "--search", "optuna", "--trials", "1")
    assert code == 2
    assert "journal.yaml:5:" in err and problem in err


def test_a_plain_run_of_a_range_points_at_search(repo: Path, cli: Cli) -> None:
    (repo / "journal.yaml").write_text(WINE_SEARCH)
    assert cli("init")[0] == 0
    code, _, err = cli("run")
    assert code == 2
    assert "journal.yaml:5: model.params.C: a range (float 0.1..1000, log)" in err
    assert "--search optuna" in err
    assert _runs(Store.discover(repo)) == []
    code, _, err = cli("run", "--search", "optuna", "--dry-run")
    assert code == 2 and "--dry-run does not go with --search" in err and "suggest" in err


def test_search_warm_started_from_a_grid_never_retrains_and_continues(repo: Path, cli: Cli) -> None:
    (repo / "journal.yaml").write_text(WINE_GRID)
    (repo / "search.yaml").write_text(WINE_SEARCH)
    assert cli("init")[0] == 0
    assert cli("run", "-q")[0] == 0
    store = Store.discover(repo)
    grid = _runs(store)
    assert len(grid) == 30
    best = max(grid, key=lambda r: r.metrics["accuracy"])

    setup, report = _search(store, repo / "search.yaml", trials=20, seed=0)

    # The study started from the 30 recorded runs.
    (block,) = setup.blocks
    assert len(block.known) == 30
    assert {o.fingerprint for o in block.known} == {r.fingerprint for r in grid}
    # Every trial trained is a journal run of its own; no recorded fingerprint was trained again.
    trained = report.trained
    assert len(trained) == 20
    runs = _runs(store)
    assert len(runs) == 50
    assert len({r.fingerprint for r in runs}) == 50
    by_id = {r.id: r for r in runs}
    for trial in trained:
        assert trial.run is not None
        recorded = by_id[trial.run.id]
        assert recorded.params["C"] == pytest.approx(trial.values["C"])
        assert recorded.params["gamma"] == pytest.approx(trial.values["gamma"])
        assert recorded.metrics["accuracy"] == pytest.approx(trial.score)
    # Proposals the journal already holds were answered from it, never trained.
    for trial in report.trials:
        if trial.source == "journal":
            assert trial.run is None and trial.runs
    # The first proposals sit near the recorded best, not spread over the space.
    space = block.space
    first = [t.values for t in trained[:3]]
    best_values = {"C": best.params["C"], "gamma": best.params["gamma"]}
    grid_spread = sorted(
        space.distance({"C": r.params["C"], "gamma": r.params["gamma"]}, best_values) for r in grid
    )
    median = grid_spread[len(grid_spread) // 2]
    for values in first:
        assert space.distance(values, best_values) < median / 2
    # Plain git reads the trials: one commit each, plus the data set's description.
    log = git(repo, "log", "--format=%s", "journal").splitlines()
    assert len(log) == 1 + 30 + 1 + 20
    assert sum(line.startswith("Describe data set") for line in log) == 1

    # Stopping and starting again continues the same search: the journal is its memory.
    code, out, err = cli(
        "run", "search.yaml", "--search", "optuna", "--trials", "5", "--search-seed", "0"
    )
    assert code == 0, err
    assert "warm-started from 50 recorded experiment(s)" in out
    runs = _runs(store)
    assert len(runs) == 55
    assert len({r.fingerprint for r in runs}) == 55
    log = git(repo, "log", "--format=%s", "journal").splitlines()
    assert len(log) == 1 + 30 + 1 + 25
    assert sum(line.startswith("Describe") for line in log) == 1  # described once


def test_a_space_the_journal_covers_trains_only_what_is_missing(repo: Path, cli: Cli) -> None:
    (repo / "journal.yaml").write_text(IRIS_CHOICES)
    assert cli("init")[0] == 0
    # Four of the six points are recorded (the grid of the same spec, narrowed).
    assert cli("run", "-q", "--set", "model.params.C=[0.1, 1.0]")[0] == 0
    store = Store.discover(repo)
    before = {r.fingerprint for r in _runs(store)}
    assert len(before) == 4

    _, report = _search(store, repo / "journal.yaml", trials=2, seed=3)

    after = _runs(store)
    assert len(after) == 6 and len({r.fingerprint for r in after}) == 6
    new = [r for r in after if r.fingerprint not in before]
    assert sorted((r.params["kernel"], r.params["C"]) for r in new) == [
        ("linear", 10),
        ("rbf", 10),
    ]
    # Every point is recorded now: a further search trains nothing and says so.
    _, report = _search(store, repo / "journal.yaml", trials=3, seed=4)
    assert report.trained == [] and report.exhausted
    assert all(t.source == "journal" and t.score is not None for t in report.trials)
    assert len(_runs(store)) == 6


def test_failed_runs_enter_the_study_as_failed_trials(repo: Path, cli: Cli) -> None:
    spec = IRIS_CHOICES.replace("[linear, rbf]", "[rbf, precomputed]")
    (repo / "journal.yaml").write_text(spec)
    assert cli("init")[0] == 0
    assert cli("run", "-q")[0] == 1  # the precomputed kernel fails on a non-square X
    store = Store.discover(repo)
    setup = prepare(store, load_spec(repo / "journal.yaml"))
    (block,) = setup.blocks
    failed = [o for o in block.known if o.failed]
    assert len(block.known) == 6 and len(failed) == 3
    assert {o.values["kernel"] for o in failed} == {"precomputed"}
    study = new_study(block, seed=0)
    states = sorted(t.state.name for t in study.trials)
    assert states == ["COMPLETE"] * 3 + ["FAIL"] * 3
    values = sorted(t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE)
    assert values == pytest.approx(sorted(o.score for o in block.known if o.score is not None))


def test_suggest_proposes_unrecorded_settings_with_reasons(repo: Path, cli: Cli) -> None:
    (repo / "journal.yaml").write_text(WINE_GRID)
    (repo / "search.yaml").write_text(WINE_SEARCH)
    assert cli("init")[0] == 0
    assert cli("run", "-q")[0] == 0
    store = Store.discover(repo)
    recorded = {r.fingerprint for r in _runs(store)}
    head = git(repo, "rev-parse", "journal").strip()

    code, out, err = cli("suggest", "3", "search.yaml", "--json", "--search-seed", "1")

    assert code == 0, err
    found = json.loads(out)
    assert len(found) == 3
    for item in found:
        assert item["fingerprint"] not in recorded
        assert 0.1 <= item["searched"]["C"] <= 1000 and 1e-6 <= item["searched"]["gamma"] <= 0.1
        assert any(r.startswith("expected improvement") for r in item["reasons"])
        assert math.isfinite(item["predicted"]) and item["expected_improvement"] >= 0
    # Ranked: the highest expected improvement first.
    gains = [item["expected_improvement"] for item in found]
    assert gains == sorted(gains, reverse=True)
    # Nothing was trained: the only new journal commit describes the data set.
    assert len(_runs(store)) == 30
    assert git(repo, "log", "--format=%s", f"{head}..journal").startswith("Describe data set")
    code, out, _ = cli("suggest", "2", "search.yaml", "--search-seed", "1")
    assert code == 0 and "Next settings for SVC (30 recorded on this data)" in out
    assert "Nothing was trained" in out


SLOW_SEARCH = """\
data: sklearn:digits
model:
  estimator: sklearn.ensemble.RandomForestClassifier
  params:
    n_estimators: {low: 20, high: 40}
evaluation: {cv: 3, seed: 0}
"""


def test_ctrl_c_in_a_search_ends_it_with_one_message_and_exit_130(repo: Path) -> None:
    (repo / "journal.yaml").write_text(SLOW_SEARCH)
    Store.discover(repo).init()

    code, out, err = interrupted_when(
        repo,
        ["run", "--search", "optuna", "--trials", "50"],
        lambda: any(Store.discover(repo).run_paths()),  # a trial recorded
    )

    assert code == 130, err
    assert "Traceback" not in err
    said = (out + err).lower()
    assert said.count("interrupted") == 1, out + err
    assert "run the same command again" in out
    assert "trained 0 trial" not in out
