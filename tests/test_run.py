"""`git journal run` end to end: real repositories, real git, real scikit-learn fitting."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import IRIS_SPEC, PIPELINE_SPEC, CliResult, git
from helpers import Cli, snapshot

from gitlab_journal.journal.store import Store


def journal_runs(cli: object) -> list[dict[str, Any]]:
    code, out, _ = cli("log", "--json")  # type: ignore[operator]
    assert code == 0
    runs = json.loads(out)
    assert isinstance(runs, list)
    return runs


def test_iris_grid_is_recorded_without_touching_the_work_tree(repo: Path, cli: Cli) -> None:
    (repo / "journal.yaml").write_text(IRIS_SPEC)
    (repo / "train.py").write_text("SEED = 1  # an uncommitted change\n")
    git(repo, "add", "journal.yaml")
    assert cli("init")[0] == 0
    before = snapshot(repo)

    code, _, err = cli("run", "-q")

    assert code == 0, err
    assert snapshot(repo) == before
    runs = journal_runs(cli)
    assert sorted(r["params"]["C"] for r in runs) == [0.1, 1.0, 10.0]
    for run in runs:
        assert run["status"] == "ok"
        assert run["model"] == "sklearn.linear_model.LogisticRegression"
        assert run["params"]["max_iter"] == 500
        assert run["params"]["random_state"] == 0  # the spec's seed  # type: ignore[index]
        assert set(run["metrics"]) >= {"accuracy", "accuracy_std", "f1_macro", "f1_macro_std"}
        assert run["data"] == {"sklearn:iris": _iris_md5()}
        assert run["code"]["dirty"] is True
        assert run["code"]["commit"] == before["HEAD"]
    # Plain git reads the journal: one commit per run on top of the init commit.
    log = git(repo, "log", "--format=%s", "journal").splitlines()
    assert len(log) == 4 and log[-1] == "Start the experiment journal"
    trailers = git(repo, "log", "-1", "--format=%(trailers:key=Journal-Run,valueonly)", "journal")
    assert trailers.strip() in {r["id"] for r in runs}
    # An orphan branch: no history shared with the code.
    merge_base = subprocess.run(
        ["git", "merge-base", "main", "journal"], cwd=repo, capture_output=True, check=False
    )
    assert merge_base.returncode == 1 and merge_base.stdout == b""
    fsck = subprocess.run(["git", "fsck", "--strict"], cwd=repo, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr


def _iris_md5() -> str:
    from gitlab_journal.data.hashing import bundled_files

    return hashlib.md5(bundled_files("iris")[0].read_bytes()).hexdigest()


@pytest.mark.slow
def test_scores_match_gridsearchcv_and_log_sort_names_its_best(repo: Path, cli: Cli) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    (repo / "journal.yaml").write_text(IRIS_SPEC)
    cli("init")
    assert cli("run", "-q")[0] == 0
    X, y = load_iris(return_X_y=True)
    search = GridSearchCV(
        LogisticRegression(max_iter=500, random_state=0),
        {"C": [0.1, 1.0, 10.0]},
        cv=5,
        scoring=["accuracy", "f1_macro"],
        refit="f1_macro",
    ).fit(X, y)
    by_c = {r["params"]["C"]: r for r in journal_runs(cli)}
    for i, params in enumerate(search.cv_results_["params"]):
        run = by_c[params["C"]]
        for scorer in ("accuracy", "f1_macro"):
            expected = search.cv_results_[f"mean_test_{scorer}"][i]
            assert abs(run["metrics"][scorer] - expected) <= 1e-12
            std = search.cv_results_[f"std_test_{scorer}"][i]
            assert abs(run["metrics"][f"{scorer}_std"] - std) <= 1e-12
    code, out, _ = cli("log", "--json", "--sort", "metrics.f1_macro", "-n", "1")
    best = json.loads(out)[0]
    assert code == 0
    assert best["params"]["C"] == search.best_params_["C"]


def test_rerun_trains_nothing_and_a_new_value_trains_only_it(repo: Path, cli: Cli) -> None:
    (repo / "journal.yaml").write_text(IRIS_SPEC)
    cli("init")
    cli("run", "-q")
    head = git(repo, "rev-parse", "journal").strip()

    code, out, _ = cli("run", "-q")
    assert code == 0
    assert "Nothing to run: all 3 points" in out
    assert git(repo, "rev-parse", "journal").strip() == head

    (repo / "journal.yaml").write_text(IRIS_SPEC.replace("[0.1, 1.0, 10.0]", "[0.1, 1.0, 100.0]"))
    code, out, _ = cli("run", "-q")
    assert code == 0
    assert "Recorded 1 run(s), skipped 2 already run" in out
    assert sorted(r["params"]["C"] for r in journal_runs(cli)) == [0.1, 1.0, 10.0, 100.0]

    code, out, _ = cli("run", "-q", "--force", "--set", "model.params.C=0.1")
    assert code == 0
    repeats = [r for r in journal_runs(cli) if r["params"]["C"] == 0.1]
    assert len(repeats) == 2 and repeats[0]["fingerprint"] == repeats[1]["fingerprint"]


def test_default_params_are_the_same_experiment_as_explicit_ones(repo: Path, cli: Cli) -> None:
    spec = "data: sklearn:iris\nmodel:\n  estimator: sklearn.linear_model.LogisticRegression\n"
    spec += "  params: {max_iter: 300}\nevaluation: {cv: 3, seed: 0}\n"
    (repo / "journal.yaml").write_text(spec)
    cli("init")
    assert cli("run", "-q")[0] == 0
    (repo / "journal.yaml").write_text(spec.replace("{max_iter: 300}", "{max_iter: 300, C: 1.0}"))
    code, out, _ = cli("check")
    assert code == 1, out
    assert "already run" in out
    code, out, _ = cli("run", "-q")
    assert "Nothing to run" in out


def test_data_and_code_changes_make_new_experiments_but_readme_does_not(
    repo: Path, cli: Cli
) -> None:
    rng = np.random.default_rng(0)
    (repo / "data").mkdir()
    rows = ["a,b,label"] + [
        f"{x:.4f},{z:.4f},{int(x + z > 0)}" for x, z in rng.normal(size=(80, 2))
    ]
    (repo / "data" / "train.csv").write_text("\n".join(rows) + "\n")
    spec = (
        "data: {path: data/train.csv, target: label}\n"
        "model:\n  estimator: sklearn.tree.DecisionTreeClassifier\n  params: {max_depth: [1, 2]}\n"
        "evaluation: {cv: 3, seed: 0}\n"
    )
    (repo / "journal.yaml").write_text(spec)
    cli("init")
    assert cli("run", "-q")[0] == 0
    assert cli("check")[0] == 1

    (repo / "README.md").write_text("# project\n\nNow with words.\n")
    assert cli("check")[0] == 1, "an edit to README.md is not a code dependency"

    (repo / "train.py").write_text("SEED = 2\n")
    assert cli("check")[0] == 0, "a tracked .py file changed: a new experiment"
    (repo / "train.py").write_text("SEED = 0\n")
    assert cli("check")[0] == 1, "back to the recorded code"

    (repo / "data" / "train.csv").write_text("\n".join(rows[:-1]) + "\n")
    code, out, _ = cli("check")
    assert code == 0 and "2 of 2 points are new" in out
    assert cli("run", "-q")[0] == 0
    runs = journal_runs(cli)
    assert len(runs) == 4
    assert len({r["data"]["data/train.csv"] for r in runs}) == 2


def test_pipeline_on_a_csv_with_a_holdout_split(repo: Path, cli: Cli) -> None:
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True)
    (repo / "data").mkdir()
    header = ",".join(f"f{i}" for i in range(X.shape[1])) + ",label"
    lines = [header] + [",".join(map(str, row)) + f",c{t}" for row, t in zip(X, y, strict=True)]
    (repo / "data" / "train.csv").write_text("\n".join(lines) + "\n")
    (repo / "journal.yaml").write_text(PIPELINE_SPEC)
    cli("init")
    code, _, err = cli("run", "-q")
    assert code == 0, err
    runs = journal_runs(cli)
    assert len(runs) == 4
    for run in runs:
        metrics = run["metrics"]
        assert 0.5 < metrics["accuracy"] <= 1.0
        assert "accuracy_std" not in metrics
        assert run["params"]["scale__with_mean"] is True
        assert run["data"] == {
            "data/train.csv": hashlib.md5((repo / "data" / "train.csv").read_bytes()).hexdigest()
        }
    assert {(r["params"]["svc__C"], r["params"]["svc__kernel"]) for r in runs} == {
        (0.5, "rbf"),
        (0.5, "linear"),
        (5.0, "rbf"),
        (5.0, "linear"),
    }


def test_a_failing_point_is_recorded_and_the_grid_goes_on(repo: Path, cli: Cli) -> None:
    spec = (
        "data: sklearn:iris\nmodel:\n  estimator: sklearn.svm.SVC\n"
        "  params: {kernel: [linear, no-such-kernel]}\n"
        "evaluation: {cv: 3}\n"
    )
    (repo / "journal.yaml").write_text(spec)
    cli("init")
    code, out, _ = cli("run", "-q")
    assert code == 1, out
    runs = {r["params"]["kernel"]: r for r in journal_runs(cli)}
    assert runs["linear"]["status"] == "ok"
    assert runs["no-such-kernel"]["status"] == "failed"
    code, out, _ = cli("show", str(runs["no-such-kernel"]["id"]), "--json")
    assert "kernel" in json.loads(out)["error"]
    # A failure is knowledge: running again does not retry it.
    assert "Nothing to run" in cli("run", "-q")[1]


def test_recording_works_mid_rebase_with_a_dirty_tree(repo: Path, cli: Cli) -> None:
    (repo / "journal.yaml").write_text(IRIS_SPEC.replace("[0.1, 1.0, 10.0]", "0.5"))
    git(repo, "add", "journal.yaml")
    git(repo, "commit", "-q", "-m", "Add a spec")
    git(repo, "checkout", "-q", "-b", "side")
    (repo / "train.py").write_text("SEED = 'side'\n")
    git(repo, "commit", "-q", "-am", "Side change")
    git(repo, "checkout", "-q", "main")
    (repo / "train.py").write_text("SEED = 'main'\n")
    git(repo, "commit", "-q", "-am", "Main change")
    rebase = subprocess.run(["git", "rebase", "side"], cwd=repo, capture_output=True, check=False)
    assert rebase.returncode != 0 and (repo / ".git" / "rebase-merge").exists()
    (repo / "notes.txt").write_text("scratch\n")
    cli("init")
    before = snapshot(repo)

    code, _, err = cli("run", "-q")

    assert code == 0, err
    assert snapshot(repo) == before
    assert (repo / ".git" / "rebase-merge").exists()
    assert len(journal_runs(cli)) == 1


WRITER = """
import sys
from gitlab_journal import Journal
journal = Journal(sys.argv[1])
for i in range(int(sys.argv[3])):
    journal.record(model="demo.Model", params={"writer": sys.argv[2], "i": i},
                   metrics={"score": i / 10})
"""


def test_two_processes_writing_at_once_lose_nothing(repo: Path) -> None:
    Store.discover(repo).init()
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(repo), name, "50"])
        for name in ("a", "b")
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    runs = list(Store.discover(repo).iter_runs())
    assert len(runs) == 100
    assert {(r.params["writer"], r.params["i"]) for r in runs} == {
        (w, i) for w in "ab" for i in range(50)
    }
    assert len(git(repo, "rev-list", "journal").split()) == 101
    assert subprocess.run(["git", "fsck", "--strict"], cwd=repo, check=False).returncode == 0


def test_git_journal_is_a_git_subcommand(repo: Path) -> None:
    (repo / "journal.yaml").write_text(IRIS_SPEC.replace("[0.1, 1.0, 10.0]", "1.0"))
    assert subprocess.run(["git", "journal", "init"], cwd=repo, check=False).returncode == 0
    done = subprocess.run(["git", "journal", "run", "-q"], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = subprocess.run(
        ["git", "journal", "log"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout
    assert "LogisticRegression" in out


def test_dry_run_lists_what_would_run_and_trains_nothing(repo: Path, cli: Cli) -> None:
    (repo / "journal.yaml").write_text(IRIS_SPEC)
    cli("init")
    cli("run", "-q", "--set", "model.params.C=1.0")
    tip = git(repo, "rev-parse", "journal")
    code, out, _ = cli("run", "--dry-run")
    assert code == 0
    assert "2 to run, 1 to skip" in out
    earlier = journal_runs(cli)[0]["id"]
    assert str(earlier) in out
    assert git(repo, "rev-parse", "journal") == tip


def _result(cli: object, *args: str) -> CliResult:
    return cli(*args)  # type: ignore[operator,no-any-return]


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        ("norepo", ("run",), "not a git repository"),
        ("nojournal", ("run",), "no journal yet"),
        ("nojournal", ("log",), "no journal yet"),
        ("journal", ("show", "feedbeef"), "unknown run"),
        ("missingdata", ("run",), "data file not found: data/none.csv"),
        ("badspec", ("run",), "journal.yaml:3: model.estimatr"),
        ("nospec", ("run",), "no spec"),
    ],
)
def test_error_paths_say_what_and_write_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
    setup: str,
    args: tuple[str, ...],
    message: str,
) -> None:
    from conftest import make_repo

    if setup == "norepo":
        (tmp_path / "plain").mkdir()
        monkeypatch.chdir(tmp_path / "plain")
        (tmp_path / "plain" / "journal.yaml").write_text(IRIS_SPEC)
        root = None
    else:
        root = make_repo(tmp_path / "project")
        monkeypatch.chdir(root)
        (root / "journal.yaml").write_text(IRIS_SPEC)
        if setup != "nojournal":
            Store.discover(root).init()
        if setup == "missingdata":
            (root / "journal.yaml").write_text(
                IRIS_SPEC.replace("sklearn:iris", "{path: data/none.csv, target: y}")
            )
        if setup == "badspec":
            (root / "journal.yaml").write_text(IRIS_SPEC.replace("  estimator:", "  estimatr:"))
        if setup == "nospec":
            (root / "journal.yaml").unlink()
    refs = git(root, "for-each-ref") if root else ""

    code, _, err = cli(*args)

    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2  # one line, and a hint
    if root is not None:
        assert git(root, "for-each-ref") == refs
