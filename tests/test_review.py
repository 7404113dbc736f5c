"""`git journal log`, `show` and `diff`: what they print, as text and as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import Cli, commands_modules, make_run

from gitlab_journal.journal.records import CodeState
from gitlab_journal.journal.store import Store
from gitlab_journal.review.diff import diff_runs
from gitlab_journal.review.table import varying_params

LOGREG = "sklearn.linear_model.LogisticRegression"
JSON_FIELDS = {"id", "fingerprint", "commit", "created", "status", "model", "params", "data"}


@pytest.fixture
def journal(repo: Path) -> Store:
    store = Store.discover(repo)
    store.init()
    store.record(
        make_run(
            "run00001",
            {"C": 0.1, "max_iter": 500, "solver": "lbfgs"},
            metrics={"accuracy": 0.81, "accuracy_std": 0.04, "fit_time": 0.2},
        )
    )
    store.record(
        make_run(
            "run00002",
            {"C": 1.0, "max_iter": 500, "solver": "lbfgs"},
            metrics={"accuracy": 0.9533, "accuracy_std": 0.0267, "fit_time": 0.3},
            second=1,
        )
    )
    store.record(
        make_run(
            "run00003",
            {"C": 10.0, "max_iter": 500, "solver": "lbfgs"},
            metrics={},
            second=2,
            status="failed",
            error="Traceback (most recent call last):\nValueError: the optimiser exploded",
            files={"train.py": "b" * 40, "features.py": "d" * 40},
            code=CodeState(
                commit="e" * 40,
                branch="main",
                dirty=True,
                files={"train.py": "b" * 40, "features.py": "d" * 40},
            ),
        )
    )
    return store


# -- log ------------------------------------------------------------------------------------


def test_log_shows_varying_params_and_headline_metrics(journal: Store, cli: Cli) -> None:
    code, out, err = cli("log")
    assert code == 0, err
    header = out.splitlines()[0]
    assert "C" in header.split()
    assert "max_iter" not in out and "solver" not in out  # the same in every run
    assert "accuracy" in header
    assert "accuracy_std" not in out and "fit_time" not in out
    assert "created (UTC)" in header
    assert "0.9533 ± 0.0267" in out
    assert "2024-05-01 10:00:01" in out
    assert "LogisticRegression" in out and LOGREG not in out
    lines = [line for line in out.splitlines() if line.startswith("run0000")]
    assert [line.split()[0] for line in lines] == ["run00003", "run00002", "run00001"]
    assert "failed" in lines[0]
    assert out.rstrip().endswith("3 runs shown of 3")


def test_log_filters_sorts_and_limits(journal: Store, cli: Cli) -> None:
    code, out, _ = cli("log", "--sort", "metrics.accuracy", "-n", "2")
    assert code == 0
    ids = [line.split()[0] for line in out.splitlines() if line.startswith("run0")]
    assert ids == ["run00002", "run00001"]
    assert "2 runs shown of 3" in out
    code, out, _ = cli("log", "--sort", "metrics.accuracy", "--asc", "-n", "1")
    assert [ln.split()[0] for ln in out.splitlines() if ln.startswith("run0")] == ["run00001"]
    code, out, _ = cli("log", "--where", "params.C >= 1", "--status", "ok")
    assert [ln.split()[0] for ln in out.splitlines() if ln.startswith("run0")] == ["run00002"]
    assert "1 run shown of 1 matching (3 in the journal)" in out
    code, out, _ = cli("log", "--where", "params.C > 100")
    assert code == 0
    assert "No runs match (3 in the journal)." in out


def test_log_without_n_shows_the_newest_page(
    journal: Store, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitlab_journal.commands import log

    monkeypatch.setattr(log, "DEFAULT_LIMIT", 2)
    code, out, _ = cli("log")
    assert code == 0
    assert [ln.split()[0] for ln in out.splitlines() if ln.startswith("run0")] == [
        "run00003",
        "run00002",
    ]
    assert "2 runs shown of 3 (the first 2; -n N shows more)" in out
    _, out, _ = cli("log", "--json")
    assert len(json.loads(out)) == 3  # --json is not paged


def test_log_on_an_empty_journal_says_so(repo: Path, cli: Cli) -> None:
    Store.discover(repo).init()
    code, out, _ = cli("log")
    assert code == 0
    assert "no runs yet" in out
    code, out, _ = cli("log", "--json")
    assert code == 0
    assert json.loads(out) == []


def test_log_json_is_a_list_of_full_records(journal: Store, cli: Cli) -> None:
    code, out, err = cli("log", "--json")
    assert code == 0, err
    runs = json.loads(out)  # stdout holds JSON and nothing else
    assert [r["id"] for r in runs] == ["run00003", "run00002", "run00001"]
    for record in runs:
        assert set(record) >= JSON_FIELDS
        assert set(record["code"]) >= {"commit", "dirty"}
        assert isinstance(record["metrics"], dict)
        assert len(record["commit"]) == 40
    assert runs[1]["params"] == {"C": 1.0, "max_iter": 500, "solver": "lbfgs"}
    assert runs[1]["metrics"]["accuracy"] == 0.9533
    assert runs[0]["code"]["dirty"] is True
    assert runs[0]["commit"] == str(journal.tip())
    code, out, _ = cli("log", "--json", "--sort", "metrics.accuracy", "-n", "1")
    assert [r["id"] for r in json.loads(out)] == ["run00002"]


def test_log_json_writes_nan_as_null(repo: Path, cli: Cli) -> None:
    store = Store.discover(repo)
    store.init()
    store.record(make_run("nan00001", {"C": 1}, metrics={"loss": float("nan")}, status="diverged"))
    code, out, _ = cli("log", "--json")
    assert code == 0
    assert "NaN" not in out
    assert json.loads(out)[0]["metrics"] == {"loss": None}


def test_varying_params_counts_absent_as_a_value() -> None:
    rows = [{"C": 1, "k": "a", "x": [1, 2]}, {"C": 1, "k": "b", "x": [1, 2]}, {"C": 1, "k": "a"}]
    assert varying_params(rows) == ["k", "x"]
    assert varying_params([{"C": 1.0}, {"C": 1.0}]) == []


# -- show -----------------------------------------------------------------------------------


def test_show_prints_the_run_in_full(journal: Store, cli: Cli) -> None:
    code, out, err = cli("show", "run00003")
    assert code == 0, err
    for text in (
        "run run00003",
        "failed",
        LOGREG,
        "params",
        "max_iter",
        "lbfgs",
        "data",
        "md5 " + "1" * 32,
        "evaluation",
        "seed",
        "commit " + "e" * 40 + " on main, dirty",
        "environment",
        "scikit-learn",
        "notes",
        "More C, less regularisation",
        "ValueError: the optimiser exploded",
        "journal commit",
        str(journal.tip()),
    ):
        assert text in out, text
    code, out, _ = cli("show", "run00002")
    assert "metrics" in out
    assert "0.9533 ± 0.0267" in out
    assert "fit_time" in out  # show has every metric


def test_show_json_matches_a_log_item(journal: Store, cli: Cli) -> None:
    code, out, _ = cli("show", "run00002", "--json")
    assert code == 0
    shown = json.loads(out)
    _, out, _ = cli("log", "--json")
    logged = {r["id"]: r for r in json.loads(out)}
    assert shown == logged["run00002"]
    assert {"notes", "evaluation", "environment"} <= set(shown)
    assert shown["notes"] == {"hypothesis": "More C, less regularisation"}
    _, out, _ = cli("show", "run00003", "--json")
    assert json.loads(out)["error"].endswith("exploded")


def test_show_by_commit_prefix(journal: Store, cli: Cli) -> None:
    tip = str(journal.tip())
    code, out, _ = cli("show", tip[:8], "--json")
    assert code == 0
    assert json.loads(out)["id"] == "run00003"


# -- diff -----------------------------------------------------------------------------------


def test_diff_prints_only_what_differs(journal: Store, cli: Cli) -> None:
    code, out, err = cli("diff", "run00001", "run00003")
    assert code == 0, err
    assert "params" in out and "0.1" in out and "10" in out
    assert "max_iter" not in out and "solver" not in out
    assert "code" in out and "dirty" in out
    assert "features.py" in out and "added" in out
    assert "train.py" in out and "changed" in out
    assert "status" in out and "failed" in out
    assert "evaluation" not in out and "environment" not in out and "data" not in out
    code, out, _ = cli("diff", "run00001", "run00002")
    assert "accuracy" in out
    assert "0.8100" in out and "0.9533" in out and "(+0.1433)" in out


def test_diff_json(journal: Store, cli: Cli) -> None:
    code, out, _ = cli("diff", "run00001", "run00003", "--json")
    assert code == 0
    changes = json.loads(out)
    assert changes["params"] == {"C": [0.1, 10.0]}
    assert changes["code"]["commit"] == ["c" * 40, "e" * 40]
    assert changes["code"]["dirty"] == [False, True]
    assert changes["code"]["files"] == {
        "features.py": [None, "d" * 40],
        "train.py": ["a" * 40, "b" * 40],
    }
    assert changes["status"]["status"] == ["ok", "failed"]
    assert changes["metrics"]["accuracy"] == [0.81, None]
    assert "data" not in changes and "evaluation" not in changes


def test_diff_of_repeats_says_nothing_differs(repo: Path, cli: Cli) -> None:
    store = Store.discover(repo)
    store.init()
    store.record(make_run("same0001", {"C": 1.0}))
    store.record(make_run("same0002", {"C": 1.0}, second=5))
    code, out, _ = cli("diff", "same0001", "same0002")
    assert code == 0
    assert "Nothing differs" in out
    assert "same experiment" in out
    code, out, _ = cli("diff", "same0001", "same0002", "--json")
    assert json.loads(out) == {}


def test_diff_runs_groups() -> None:
    a = make_run("aaaa0001", {"C": 1.0, "penalty": "l2"})
    b = make_run(
        "bbbb0001",
        {"C": 1.0, "l1_ratio": 0.5},
        evaluation={"cv": 10, "seed": 0},
        environment={"python": "3.12.1", "packages": {"scikit-learn": "1.5.0"}},
        data={"train": "2" * 32},
        model="sklearn.svm.SVC",
    )
    changes = diff_runs(a, b)
    assert changes["params"] == {"penalty": ["l2", None], "l1_ratio": [None, 0.5]}
    assert changes["evaluation"] == {"cv": [5, 10]}
    assert changes["environment"] == {"python": ["3.11.9", "3.12.1"]}
    assert changes["data"] == {"train": ["1" * 32, "2" * 32]}
    assert changes["model"] == {"model": [LOGREG, "sklearn.svm.SVC"]}
    assert "metrics" not in changes and "code" not in changes


# -- errors and imports -----------------------------------------------------------------------


@pytest.mark.parametrize("args", [["log"], ["show", "abcd"], ["diff", "abcd", "efgh"]])
def test_no_journal_is_the_stores_error(repo: Path, cli: Cli, args: list[str]) -> None:
    code, out, err = cli(*args)
    assert code == 2
    assert "no journal yet" in err
    assert "git journal init" in err
    assert out == ""


def test_not_a_repository_is_the_stores_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.chdir(plain)
    code, _, err = cli("log")
    assert code == 2
    assert "not a git repository" in err


def test_review_commands_import_no_heavy_modules(journal: Store, repo: Path) -> None:
    modules, _ = commands_modules(
        repo, ["log"], ["show", "run00002"], ["diff", "run00001", "run00002"], ["log", "--json"]
    )
    heavy = {"sklearn", "numpy", "scipy", "tensorflow", "keras", "git"}
    assert not heavy & {m.split(".")[0] for m in modules}
