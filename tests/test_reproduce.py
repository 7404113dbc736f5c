"""Reproducing runs from their record alone: what a run keeps (spec.yaml, code.patch, data
sources, seeds, versions), `git journal rerun`, `git journal checkout`, and the marks of `show`
and `log --status`. Real repositories, real git, real training."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import git
from helpers import Cli, snapshot

from gitlab_journal.journal.identity import fingerprint
from gitlab_journal.journal.records import CodeState, Run
from gitlab_journal.journal.store import Store
from gitlab_journal.spec.load import load_spec_text
from gitlab_journal.spec.model import Point

LOADER = """\
from pathlib import Path

import numpy as np


def load():
    table = np.loadtxt(Path(__file__).parent / "data" / "points.csv", delimiter=",")
    X, y = table[:, :-1], table[:, -1].astype(int)
    return X, y
"""

LOADER_SPEC = """\
data:
  loader: prep:load
  deps: [data/points.csv]
model:
  steps:
    - scale: sklearn.preprocessing.StandardScaler
    - clf:
        estimator: sklearn.linear_model.LogisticRegression
        params:
          C: [0.05, 1.0]
          max_iter: 1000
evaluation:
  cv: 3
  scoring: [accuracy, f1_macro]
  seed: 0
notes:
  hypothesis: Fewer features are enough for wine.
"""


def leftover_worktrees(run_id: object) -> list[str]:
    """Temporary worktree folders of a rerun of ``run_id`` still on disk."""
    return sorted(p.name for p in Path(tempfile.gettempdir()).glob(f"journal-rerun-{run_id}-*"))


def wine_project(repo: Path) -> None:
    """A repository whose data (ignored by git) is read by a loader module of its own."""
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True)
    (repo / "data").mkdir()
    import numpy as np

    np.savetxt(repo / "data" / "points.csv", np.column_stack([X, y]), delimiter=",", fmt="%.6g")
    (repo / ".gitignore").write_text("data/\n")
    (repo / "prep.py").write_text(LOADER)
    (repo / "journal.yaml").write_text(LOADER_SPEC)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Load wine")


def runs_by_id(cli: Cli) -> dict[str, dict[str, Any]]:
    code, out, err = cli("log", "--json")
    assert code == 0, err
    return {run["id"]: run for run in json.loads(out)}


def only_run(cli: Cli, **params: object) -> dict[str, Any]:
    found = [
        run
        for run in runs_by_id(cli).values()
        if all(run["params"].get(k) == v for k, v in params.items())
    ]
    assert len(found) == 1, found
    return found[0]


def run_files(repo: Path, run: dict[str, Any]) -> dict[str, bytes]:
    store = Store.discover(repo)
    record = store.read(str(run["fingerprint"]), str(run["id"]))
    return store.files(record)


# -- what every run records ----------------------------------------------------------------------


def test_a_run_records_its_spec_patch_data_sources_seeds_and_versions(repo: Path, cli: Cli) -> None:
    wine_project(repo)
    (repo / "blob.bin").write_bytes(b"\x00\x01\x02 committed")
    git(repo, "add", "blob.bin")
    git(repo, "commit", "-q", "-m", "A binary file")
    # Uncommitted: a loader edit, a staged binary change, a new module nobody added yet.
    (repo / "prep.py").write_text(LOADER.replace("return X, y", "return X[:, :6], y"))
    (repo / "blob.bin").write_bytes(b"\x00\xff\xfe changed \x00")
    git(repo, "add", "blob.bin")
    (repo / "helpers.py").write_text("FACTOR = 2\n")
    assert cli("init")[0] == 0

    code, _, err = cli("run", "-q")

    assert code == 0, err
    run = only_run(cli, clf__C=0.05)
    files = run_files(repo, run)
    # spec.yaml: the spec narrowed to this point; loaded where the spec sat, exactly one point.
    spec = load_spec_text(files["spec.yaml"].decode(), repo / "journal.yaml")
    points = spec.points()
    assert len(points) == 1 and points[0].params == run["point"] == {"clf__C": 0.05}
    assert spec.data.loader == "prep:load" and spec.evaluation.seed == 0
    assert spec.notes == {"hypothesis": "Fewer features are enough for wine."}
    assert run["spec"] == "journal.yaml"
    # code.patch: binary-safe, applies with git apply to the commit, and gives back the tree.
    assert run["code"]["patch"] == "code.patch"
    assert run["code"]["untracked"] == ["helpers.py"]
    assert b"GIT binary patch" in files["code.patch"]
    clone = repo.parent / "clone"
    git(repo.parent, "clone", "-q", str(repo), str(clone))
    git(clone, "checkout", "-q", str(run["code"]["commit"]))
    (clone / "code.patch").write_bytes(files["code.patch"])
    git(clone, "apply", "--binary", "--index", "code.patch")
    for name in ("prep.py", "blob.bin", "helpers.py"):
        assert (clone / name).read_bytes() == (repo / name).read_bytes()
    # Data: the md5 and where to get it back; seeds; versions.
    assert run["data_sources"] == {"data/points.csv": {"source": "path"}}
    assert run["seeds"] == {"clf__random_state": 0, "evaluation": 0}
    env = run["environment"]
    assert set(env["packages"]) >= {"numpy", "scikit-learn", "gitlab-journal"}
    assert env["python"] and env["machine"]


def test_a_clean_tree_records_no_patch_and_committed_data_is_from_git(repo: Path, cli: Cli) -> None:
    (repo / "data").mkdir()
    (repo / "data" / "train.csv").write_text(
        "a,b,label\n" + "".join(f"{i % 7},{i % 3},{i % 2}\n" for i in range(60))
    )
    (repo / "journal.yaml").write_text(
        "data: {path: data/train.csv, target: label}\n"
        "model: {estimator: sklearn.tree.DecisionTreeClassifier, params: {max_depth: [2]}}\n"
        "evaluation: {cv: 3, seed: 1}\n"
    )
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Data")
    assert cli("init")[0] == 0
    assert cli("run", "-q")[0] == 0
    run = only_run(cli, max_depth=2)
    assert "patch" not in run["code"]
    assert "code.patch" not in run_files(repo, run)
    assert run["data_sources"] == {"data/train.csv": {"source": "git"}}
    assert run["seeds"] == {"evaluation": 1, "random_state": 1}


def test_the_point_spec_of_every_grid_shape_yields_exactly_its_point(tmp_path: Path) -> None:
    from gitlab_journal.run.pointspec import dump_spec, point_document

    text = """\
data: sklearn:iris
model:
  - estimator: sklearn.neural_network.MLPClassifier
    params:
      - {hidden_layer_sizes: [[10], [20, 10]], alpha: 0.001}
      - {solver: [sgd, adam], learning_rate_init: [0.1, 1.0e-05]}
  - steps:
      - scale: sklearn.preprocessing.StandardScaler
      - svc: {estimator: sklearn.svm.SVC, params: {C: [0.5, 5.0], kernel: rbf}}
    params:
      svc__gamma: [scale, null]
  - keras: net:build
    params: {units: [8, 16]}
    compile: {optimizer: [adam, sgd], loss: mse, metrics: [mae, mse]}
    fit: {epochs: [1, 2], batch_size: 8}
  - sklearn.dummy.DummyClassifier
evaluation: {split: {test_size: 0.25}, seed: 3}
"""
    where = tmp_path / "journal.yaml"
    spec = load_spec_text(text, where)
    points = spec.points()
    assert len(points) == 2 + 4 + 4 + 8 + 1
    for point in points:
        doc = point_document(spec, point)
        narrowed = load_spec_text(dump_spec(doc, "header").decode(), where)
        (only,) = narrowed.points()
        assert only.params == point.params
        assert only.model.estimator == point.model.estimator
        assert only.model.steps == point.model.steps
        assert narrowed.evaluation == spec.evaluation and narrowed.data == spec.data


def test_the_point_spec_of_a_searched_point_holds_values_not_ranges(tmp_path: Path) -> None:
    from gitlab_journal.run.pointspec import dump_spec, point_document

    text = """\
data: sklearn:iris
model:
  - steps:
      - scale: sklearn.preprocessing.StandardScaler
      - svc: {estimator: sklearn.svm.SVC, params: {C: {low: 0.01, high: 100.0, log: true}}}
  - keras: net:build
    params: {units: {low: 4, high: 64}}
    compile: {optimizer: {class: adam, learning_rate: {low: 0.0001, high: 0.1, log: true}}}
    fit: {epochs: 2}
evaluation: {split: {test_size: 0.25}, seed: 3}
"""
    where = tmp_path / "journal.yaml"
    spec = load_spec_text(text, where)
    sampled = [
        {"svc__C": 3.5},
        {"units": 17, "compile.optimizer.learning_rate": 0.002},
    ]
    for model, params in zip(spec.models, sampled, strict=True):
        point = Point(model=model, params=params, index=0)
        doc = point_document(spec, point)
        narrowed = load_spec_text(dump_spec(doc, "header").decode(), where)
        (only,) = narrowed.points()
        assert dict(only.params) == params


# -- rerun -----------------------------------------------------------------------------------


def test_a_dirty_run_reproduces_identically_after_its_change_is_reverted(
    repo: Path, cli: Cli
) -> None:
    wine_project(repo)
    # An uncommitted change to the loader that builds the model's inputs, then run, then revert.
    (repo / "prep.py").write_text(LOADER.replace("return X, y", "return X[:, :6], y"))
    assert cli("init")[0] == 0
    assert cli("run", "-q")[0] == 0
    git(repo, "checkout", "-q", "prep.py")
    original = only_run(cli, clf__C=0.05)
    before = snapshot(repo)
    tip = git(repo, "rev-parse", "journal").strip()

    code, out, err = cli("rerun", str(original["id"]), "-q")

    assert code == 0, err + out
    assert "identical: every metric matches run" in out
    assert snapshot(repo) == before  # work tree, index, HEAD, refs: byte for byte
    assert leftover_worktrees(original["id"]) == []
    runs = runs_by_id(cli)
    (new,) = [r for r in runs.values() if r.get("reproduces") == original["id"]]
    assert new["fingerprint"] == original["fingerprint"]  # a repeat of the same experiment
    assert new["metrics"]["accuracy"] == original["metrics"]["accuracy"]
    assert new["code"]["commit"] == original["code"]["commit"]
    # Two journal commits: the new run, then the outcome noted on the original.
    assert git(repo, "rev-list", "--count", f"{tip}..journal").strip() == "2"
    assert runs[str(original["id"])]["reproductions"][0]["result"] == "identical"
    code, out, _ = cli("show", str(original["id"]))
    assert code == 0 and "✓ reproduced" in out and f"identical by run {new['id']}" in out
    code, out, _ = cli("log", "--status", "reproduced", "--json")
    assert [r["id"] for r in json.loads(out)] == [original["id"]]
    code, out, _ = cli("log", "--status", "irreproducible", "--json")
    assert json.loads(out) == []
    # The reverted work tree is another experiment: only the patch gave back the run's code.
    code, out, _ = cli("run", "--dry-run")
    assert code == 0 and "2 to run, 0 to skip." in out


def test_a_changed_data_file_is_named_and_nothing_is_recorded(repo: Path, cli: Cli) -> None:
    wine_project(repo)
    assert cli("init")[0] == 0
    assert cli("run", "-q")[0] == 0
    original = only_run(cli, clf__C=1.0)
    points = repo / "data" / "points.csv"
    points.write_text("".join(points.read_text().splitlines(keepends=True)[:-20]))
    before = snapshot(repo)
    tip = git(repo, "rev-parse", "journal").strip()

    code, out, err = cli("rerun", str(original["id"]), "-q")

    assert code == 1
    assert "data/points.csv" in err and "changed since it ran" in err
    assert "--allow-data-change" in err
    assert git(repo, "rev-parse", "journal").strip() == tip  # nothing recorded
    assert snapshot(repo) == before and leftover_worktrees(original["id"]) == []

    code, out, err = cli("rerun", str(original["id"]), "-q", "--allow-data-change", "--no-record")

    assert code == 1, err
    assert "differs" in out and "data changed: data/points.csv" in out
    assert "Nothing recorded (--no-record)." in out
    assert git(repo, "rev-parse", "journal").strip() == tip
    assert snapshot(repo) == before and leftover_worktrees(original["id"]) == []

    points.unlink()
    code, _, err = cli("rerun", str(original["id"]), "-q", "--allow-data-change")
    assert code == 1 and "is missing: data/points.csv: not found" in err
    assert git(repo, "rev-parse", "journal").strip() == tip


def test_an_unseeded_estimator_differs_names_the_cause_and_is_marked(repo: Path, cli: Cli) -> None:
    (repo / "journal.yaml").write_text(
        "data: sklearn:diabetes\n"
        "model:\n"
        "  estimator: sklearn.ensemble.RandomForestRegressor\n"
        "  params: {n_estimators: [5], max_depth: 3}\n"
        "evaluation: {cv: 3}\n"
    )
    assert cli("init")[0] == 0
    assert cli("run", "-q")[0] == 0
    original = only_run(cli, n_estimators=5)
    assert original["seeds"] == {"evaluation": None, "random_state": None}

    code, out, err = cli("rerun", str(original["id"]), "-q")

    assert code == 1, err
    assert "differs" in out and "r2" in out
    assert "non-deterministic estimator with no seed: random_state is None" in out
    code, out, _ = cli("show", str(original["id"]))
    assert "✗ irreproducible" in out and "likely cause" in out
    code, out, _ = cli("log", "--status", "irreproducible", "--json")
    assert [r["id"] for r in json.loads(out)] == [original["id"]]
    code, out, _ = cli("log")
    assert "✗ irreproducible" in out
    code, _, err = cli("log", "--status", "nonsense")
    assert code == 2 and "irreproducible" in err


def test_ctrl_c_during_a_rerun_removes_the_worktree_and_records_nothing(
    repo: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    wine_project(repo)
    stop = LOADER.replace(
        "def load():\n",
        "def load():\n    import os\n    if os.environ.get('STOP_LOADING'):\n"
        "        raise KeyboardInterrupt\n",
    )
    (repo / "prep.py").write_text(stop)
    git(repo, "commit", "-q", "-am", "A loader that can be interrupted")
    assert cli("init")[0] == 0
    assert cli("run", "-q")[0] == 0
    original = only_run(cli, clf__C=1.0)
    before = snapshot(repo)
    tip = git(repo, "rev-parse", "journal").strip()
    monkeypatch.setenv("STOP_LOADING", "1")

    code, _, err = cli("rerun", str(original["id"]), "-q")

    assert code == 130 and "interrupted" in err
    assert git(repo, "rev-parse", "journal").strip() == tip
    assert snapshot(repo) == before and leftover_worktrees(original["id"]) == []
    assert Path.cwd().resolve() == repo.resolve()


def test_rerun_refuses_what_it_cannot_reproduce(repo: Path, cli: Cli) -> None:
    from gitlab_journal import Journal

    api_run = Journal(repo).record(model="my.Net", params={"lr": 0.1}, metrics={"loss": 1.0})
    code, _, err = cli("rerun", api_run.id)
    assert code == 2 and "Python API" in err and "checkout" in err
    script = (
        "import gitlab_journal\n"
        "from sklearn.datasets import load_iris\n"
        "from sklearn.tree import DecisionTreeClassifier\n"
        "gitlab_journal.autolog()\n"
        "DecisionTreeClassifier(max_depth=2).fit(*load_iris(return_X_y=True))\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=repo, check=True, capture_output=True)
    (autologged,) = [r for r in Journal(repo).runs() if r.kind == "autolog"]
    code, _, err = cli("rerun", autologged.id)
    assert code == 2 and "recorded by autologging" in err and "before runs kept" not in err
    code, _, err = cli("rerun", "zzzz")
    assert code == 2 and "unknown run" in err
    for tolerance in ("nan", "inf", "-1"):  # a bare NaN or Infinity would land in run.json
        code, _, err = cli("rerun", api_run.id, "--tolerance", tolerance)
        assert code == 2 and "--tolerance must be a finite number" in err, err
    # A run recorded without spec.yaml, and one whose commit this clone lacks.
    store = Store.discover(repo)
    identity = {"model": {"kind": "sklearn", "class": "sklearn.svm.SVC", "params": {}}}
    bare = Run(
        id="0ld0000000aa",
        fingerprint=fingerprint(identity),
        identity=identity,
        model="sklearn.svm.SVC",
        code=CodeState(commit=git(repo, "rev-parse", "HEAD").strip()),
    )
    store.record(bare)
    code, _, err = cli("rerun", bare.id)
    assert code == 2 and "has no spec.yaml" in err
    elsewhere = replace(bare, id="e15e0000000a", code=CodeState(commit="ab" * 20))
    store.record(elsewhere, {"spec.yaml": b"data: sklearn:iris\nmodel: sklearn.svm.SVC\n"})
    code, _, err = cli("rerun", elsewhere.id)
    assert code == 2 and "which this repository lacks" in err and "git fetch" in err


# -- checkout --------------------------------------------------------------------------------


def test_checkout_materialises_the_code_and_spec_of_a_run(repo: Path, cli: Cli) -> None:
    wine_project(repo)
    (repo / "prep.py").write_text(LOADER.replace("return X, y", "return X[:, :6], y"))
    (repo / "helpers.py").write_text("FACTOR = 2\n")
    assert cli("init")[0] == 0
    assert cli("run", "-q")[0] == 0
    original = only_run(cli, clf__C=0.05)
    before = snapshot(repo)
    target = repo.parent / "continued"

    code, out, err = cli("checkout", str(original["id"]), str(target), "-b", "wine-6")

    assert code == 0, err
    assert str(target) in out and "git worktree remove" in out
    kept = ("refs", "worktrees")  # the new worktree and its branch: all that changes here
    after = snapshot(repo)
    assert {k: v for k, v in after.items() if k not in kept} == {
        k: v for k, v in before.items() if k not in kept
    }
    assert git(target, "rev-parse", "HEAD").strip() == original["code"]["commit"]
    assert git(target, "symbolic-ref", "--short", "HEAD").strip() == "wine-6"
    assert (target / "prep.py").read_text() == (repo / "prep.py").read_text()
    assert sorted(git(target, "status", "--porcelain=v1").splitlines()) == [
        " M journal.yaml",
        "?? helpers.py",
        "M  prep.py",
    ]
    spec = load_spec_text((target / "journal.yaml").read_text(), target / "journal.yaml")
    assert [p.params for p in spec.points()] == [{"clf__C": 0.05}]
    # The data is not in git: it is named, with where it came from.
    assert "data/points.csv: not found" in out
    # Same code, spec and data: the checkout's point is the run's experiment.
    (target / "data").symlink_to(repo / "data", target_is_directory=True)
    code, out, err = cli("-C", str(target), "run", "-q")
    assert code == 0, err
    assert "were already run" in out
    code, _, err = cli("checkout", str(original["id"]), str(target))
    assert code == 2 and "not an empty directory" in err


# -- the Python API ------------------------------------------------------------------------------


def test_the_python_api_records_the_patch_of_a_dirty_tree(repo: Path) -> None:
    from gitlab_journal import Journal

    (repo / "data.csv").write_text("a\n1\n")
    git(repo, "add", "data.csv")
    git(repo, "commit", "-q", "-m", "Data")
    (repo / "train.py").write_text("SEED = 7\n")
    (repo / "data.csv").write_text("a\n2\n")  # a changed data input: its md5 says it all
    run = Journal(repo).record(
        model="my.Net", params={"lr": 0.1}, metrics={"loss": 1.0}, data={"train": "data.csv"}
    )
    store = Store.discover(repo)
    files = store.files(store.read(run.fingerprint, run.id))
    patch = files["code.patch"].decode()
    assert "+SEED = 7" in patch and "data.csv" not in patch
    assert run.code.patch == "code.patch" and run.code.untracked == ()


# -- Keras ---------------------------------------------------------------------------------------

NET = """\
import keras


def build(units=8):
    return keras.Sequential(
        [
            keras.Input(shape=(4,)),
            keras.layers.Dense(units, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
"""

KERAS_SPEC = """\
data: sklearn:iris
model:
  keras: net:build
  compile:
    optimizer: adam
    loss: sparse_categorical_crossentropy
    metrics: [accuracy]
  fit:
    epochs: 4
    batch_size: 16
evaluation:
  split: {test_size: 0.3}
  seed: 0
"""


@pytest.mark.slow
def test_a_seeded_keras_run_with_a_dirty_builder_reproduces_to_1e_6(repo: Path, cli: Cli) -> None:
    (repo / "net.py").write_text(NET)
    (repo / "journal.yaml").write_text(KERAS_SPEC)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "A small net")
    (repo / "net.py").write_text(NET.replace("units=8", "units=16"))  # the builder, uncommitted
    assert cli("init")[0] == 0
    code, _, err = cli("run", "-q")
    assert code == 0, err
    git(repo, "checkout", "-q", "net.py")
    (original,) = runs_by_id(cli).values()
    before = snapshot(repo)

    code, out, err = cli("rerun", str(original["id"]), "-q", "--tolerance", "1e-6")

    assert code == 0, err + out
    assert "identical" in out or "close" in out
    new = next(r for r in runs_by_id(cli).values() if r.get("reproduces") == original["id"])
    assert new["fingerprint"] == original["fingerprint"]
    for name, value in original["metrics"].items():
        if not name.endswith("_time"):
            assert abs(new["metrics"][name] - value) <= 1e-6, name
    assert snapshot(repo) == before and leftover_worktrees(original["id"]) == []


def test_a_temporary_worktree_is_removed_after_a_failure(repo: Path) -> None:
    from gitlab_journal.reproduce.worktree import temporary_worktree

    head = git(repo, "rev-parse", "HEAD").strip()
    with pytest.raises(RuntimeError), temporary_worktree(repo, head, label="rerun-test") as path:
        assert (path / "train.py").read_text() == "SEED = 0\n"
        assert git(path, "rev-parse", "HEAD").strip() == head
        raise RuntimeError("a failure inside")
    assert not path.parent.exists()
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert not list((repo / ".git").glob("worktrees/*"))
