"""What a run records is what trained it: code edited while a grid trains, data edited but not
yet `dvc add`ed (and `checkout-data` of it), the code of a repository with no commit, the dirty
flag of untracked code, and `sys.exit(0)` inside the Python API's run block. Real repositories,
real `git journal` commands, real DVC, real files edited between (or during) the steps."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import git
from helpers import Cli, dvc, dvc_table, logged

from gitlab_journal.journal.store import Store

# -- code edited while `git journal run` trains ---------------------------------------------------

MODELS = """\
from sklearn.tree import DecisionTreeClassifier

DEPTH = 1


def make_model(min_samples_leaf=1):
    return DecisionTreeClassifier(max_depth=DEPTH, min_samples_leaf=min_samples_leaf)
"""

# A loader that keeps working on the code: its first call, when the first point trains (after
# the plan fingerprinted the code and resolved the factory's params), rewrites models.py.
EDITING_LOADER = """\
from pathlib import Path

from sklearn.datasets import load_iris


def load():
    models = Path(__file__).with_name("models.py")
    models.write_text(models.read_text().replace("DEPTH = 1", "DEPTH = 5"))
    return load_iris(return_X_y=True)
"""

FACTORY_SPEC = """\
data: {loader: "prep:load"}
model:
  estimator: "models:make_model"
  params:
    min_samples_leaf: [1, 2]
evaluation: {cv: 2, seed: 0}
"""


def test_code_edited_before_a_point_trains_records_nothing_and_names_the_file(
    repo: Path, cli: Cli
) -> None:
    (repo / "models.py").write_text(MODELS)
    (repo / "prep.py").write_text(EDITING_LOADER)
    (repo / "journal.yaml").write_text(FACTORY_SPEC)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "A factory of depth-1 trees")
    assert cli("init")[0] == 0

    code, out, err = cli("run")

    assert "DEPTH = 5" in (repo / "models.py").read_text()  # the edit did happen mid-run
    assert code == 2, out + err
    assert "code changed while training" in err and "models.py" in err
    assert "run again once the code is settled" in err
    assert logged(cli) == []  # no run claims max_depth=1 with a depth-5 score

    # Once the code is settled, the same command records what trained.
    code, out, err = cli("run", "-q")
    assert code == 0, err
    runs = logged(cli)
    assert len(runs) == 2 and {r["params"]["max_depth"] for r in runs} == {5}
    models_blob = git(repo, "hash-object", "models.py").strip()
    store = Store.discover(repo)
    assert {r.identity["code"]["files"]["models.py"] for r in store.iter_runs()} == {models_blob}


# A repository estimator whose fit, in the second point only, edits a code file: the first
# point trained with the code the plan saw, the second did not.
EDITING_ESTIMATOR = """\
from pathlib import Path

from sklearn.tree import DecisionTreeClassifier


class Tree(DecisionTreeClassifier):
    def fit(self, X, y, sample_weight=None, check_input=True):
        if self.max_depth == 2:
            helper = Path(__file__).with_name("helper.py")
            helper.write_text("FACTOR = 2\\n")
        return super().fit(X, y, sample_weight=sample_weight, check_input=check_input)
"""

ESTIMATOR_SPEC = """\
data: sklearn:iris
model:
  estimator: trees.Tree
  params:
    max_depth: [1, 2]
evaluation: {cv: 2, seed: 0}
"""


def test_code_edited_while_the_second_point_trains_keeps_the_first_run_only(
    repo: Path, cli: Cli
) -> None:
    (repo / "trees.py").write_text(EDITING_ESTIMATOR)
    (repo / "helper.py").write_text("FACTOR = 1\n")  # untracked: a code dependency all the same
    (repo / "journal.yaml").write_text(ESTIMATOR_SPEC)
    git(repo, "add", "trees.py", "journal.yaml")
    git(repo, "commit", "-q", "-m", "A tree of the repository")
    assert cli("init")[0] == 0

    code, out, err = cli("run", "-q")

    assert code == 2, out + err
    assert "code changed while training (point 2)" in err and "helper.py" in err
    (run,) = logged(cli)
    assert run["params"]["max_depth"] == 1 and run["status"] == "ok"


# A repository estimator whose fit, in the second point only, writes a file: a new code file
# (where it lands is the test's parameter), or an output that is not code.
WRITING_ESTIMATOR = """\
from pathlib import Path

from sklearn.tree import DecisionTreeClassifier

WRITE = {write!r}


class Tree(DecisionTreeClassifier):
    def fit(self, X, y, sample_weight=None, check_input=True):
        if self.max_depth == 2:
            new = Path(__file__).parent / WRITE
            new.parent.mkdir(parents=True, exist_ok=True)
            new.write_text("FACTOR = 2\\n")
        return super().fit(X, y, sample_weight=sample_weight, check_input=check_input)
"""


@pytest.mark.parametrize(
    "write",
    ["helper.py", "lib/helper.py", "plugins/extra/helper.py"],
    ids=["beside-the-code", "in-a-code-folder", "in-a-new-folder"],
)
def test_a_code_file_that_appears_while_a_point_trains_is_named(
    repo: Path, cli: Cli, write: str
) -> None:
    """A file the ``code`` globs match that did not exist when the plan fingerprinted the
    code (a module the training may import, a config it reads) is as much a change of the
    code as an edit: the point is not recorded, and the file is named."""
    (repo / "trees.py").write_text(WRITING_ESTIMATOR.format(write=write))
    (repo / "lib").mkdir()
    (repo / "lib" / "base.py").write_text("BASE = 1\n")
    (repo / "journal.yaml").write_text(ESTIMATOR_SPEC + 'code: ["**/*.py"]\n')
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "A tree that writes a file")
    assert cli("init")[0] == 0

    code, out, err = cli("run", "-q")

    assert (repo / write).exists()
    assert code == 2, out + err
    assert "code changed while training (point 2)" in err and f"{write} (new)" in err, err
    (run,) = logged(cli)
    assert run["params"]["max_depth"] == 1


def test_files_a_point_writes_that_are_not_code_change_nothing(repo: Path, cli: Cli) -> None:
    (repo / "trees.py").write_text(WRITING_ESTIMATOR.format(write="outputs/scores.txt"))
    (repo / "journal.yaml").write_text(ESTIMATOR_SPEC)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "A tree that writes an output")
    assert cli("init")[0] == 0

    code, out, err = cli("run", "-q")

    assert code == 0, out + err
    assert (repo / "outputs" / "scores.txt").exists()
    assert len(logged(cli)) == 2


# -- no commit yet: the code is kept as a patch against the empty tree ----------------------------

NO_COMMIT_MODELS = """\
from sklearn.tree import DecisionTreeClassifier


def make_model(max_depth=2):
    return DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=7)
"""

NO_COMMIT_SPEC = """\
data: sklearn:iris
model: {estimator: "models:make_model", params: {max_depth: 2}}
evaluation: {cv: 3, seed: 0}
"""


@pytest.fixture
def no_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository with no commit yet, as the working directory."""
    path = tmp_path / "fresh"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    monkeypatch.chdir(path)
    return path


def run_json(repo: Path, run_id: str) -> dict[str, Any]:
    """The run's run.json as the journal branch holds it."""
    names = git(repo, "ls-tree", "-r", "--name-only", "journal").splitlines()
    (name,) = [n for n in names if n.endswith(f"/{run_id}/run.json")]
    doc = json.loads(git(repo, "show", f"journal:{name}"))
    assert isinstance(doc, dict)
    return doc


def test_a_run_in_a_repository_with_no_commit_keeps_its_code_and_checks_out(
    no_commit: Path, cli: Cli
) -> None:
    (no_commit / "models.py").write_text(NO_COMMIT_MODELS)  # untracked, and no commit at all
    (no_commit / "journal.yaml").write_text(NO_COMMIT_SPEC)
    assert cli("init")[0] == 0

    code, _, err = cli("run", "-q")

    assert code == 0, err
    (run,) = logged(cli)
    recorded = run_json(no_commit, run["id"])["code"]
    assert recorded["commit"] is None and recorded["dirty"] is True
    assert recorded["patch"] == "code.patch" and recorded["untracked"] == ["models.py"]
    code, out, _ = cli("show", run["id"])
    assert "no commit on main, dirty (uncommitted changes kept in code.patch)" in out

    target = no_commit.parent / "continued"
    code, out, err = cli("checkout", run["id"], str(target))

    assert code == 0, err
    assert (target / "models.py").read_text() == NO_COMMIT_MODELS
    assert git(target, "status", "--porcelain=v1").splitlines() == [
        "?? journal.yaml",
        "?? models.py",
    ]
    assert git(target, "ls-tree", "-r", "HEAD").strip() == ""  # an empty commit stands for none
    code, out, err = cli("-C", str(target), "run", "-q")
    assert code == 0, err
    assert "were already run" in out  # the same code and spec: the run's own experiment
    code, out, err = cli("rerun", run["id"], "--no-record")
    assert code == 0, err
    assert "identical" in out


def test_checkout_of_a_no_commit_run_on_a_branch_has_no_commit_either(
    no_commit: Path, cli: Cli
) -> None:
    (no_commit / "models.py").write_text(NO_COMMIT_MODELS)
    git(no_commit, "add", "models.py")  # in the index, never committed
    (no_commit / "journal.yaml").write_text(NO_COMMIT_SPEC)
    assert cli("init")[0] == 0
    assert cli("run", "-q")[0] == 0
    (run,) = logged(cli)
    assert run_json(no_commit, run["id"])["code"].get("untracked", []) == []

    target = no_commit.parent / "on-branch"
    code, _, err = cli("checkout", run["id"], str(target), "-b", "first")

    assert code == 0, err
    assert git(target, "symbolic-ref", "--short", "HEAD").strip() == "first"
    assert git(target, "rev-parse", "-q", "--verify", "HEAD", check=False).strip() == ""
    assert git(target, "status", "--porcelain=v1").splitlines() == [
        "A  models.py",
        "?? journal.yaml",
    ]


# -- untracked code is uncommitted code: `dirty` ---------------------------------------------------

TREE_SPEC = """\
data: sklearn:iris
model: {estimator: "prep_models:make_model", params: {max_depth: 2}}
evaluation: {cv: 3, seed: 0}
"""


def test_a_run_whose_only_uncommitted_code_is_untracked_is_dirty_everywhere(
    repo: Path, cli: Cli
) -> None:
    from gitlab_journal import Journal
    from gitlab_journal.hooks.committed import note_committed

    (repo / "journal.yaml").write_text(TREE_SPEC)
    git(repo, "add", "journal.yaml")
    git(repo, "commit", "-q", "-m", "The spec")
    (repo / "prep_models.py").write_text(NO_COMMIT_MODELS)  # untracked
    assert cli("init")[0] == 0
    planned = json.loads(cli("check", "--json")[1])["points"][0]["fingerprint"]

    assert cli("run", "-q")[0] == 0

    (run,) = logged(cli)
    assert run["fingerprint"] == planned  # dirty is recorded, never part of identity
    assert run_json(repo, run["id"])["code"]["dirty"] is True
    assert run["code"]["dirty"] is True
    code, out, _ = cli("export", "--json")
    assert code == 0 and [r["code.dirty"] for r in json.loads(out)] == [True]
    code, out, _ = cli("export", "--csv")
    assert code == 0
    header, row = out.splitlines()[:2]
    assert dict(zip(header.split(","), row.split(","), strict=False))["code.dirty"] == "True"
    assert Journal(repo).get(run["id"]).code.dirty is True
    assert "dirty (uncommitted changes kept in code.patch)" in cli("show", run["id"])[1]
    (stored,) = Store.discover(repo).iter_runs()
    assert "dirty" not in json.dumps(stored.identity)

    # A commit that holds exactly that code (the untracked file added) is the run's code.
    git(repo, "add", "prep_models.py")
    git(repo, "commit", "-q", "-m", "Keep the factory")
    noted = note_committed(Store.discover(repo))
    assert noted is not None and [r.id for r in noted.runs] == [run["id"]]


def test_an_empty_commit_is_not_the_code_of_a_run_with_untracked_code(repo: Path, cli: Cli) -> None:
    from gitlab_journal.hooks.committed import note_committed

    (repo / "journal.yaml").write_text(TREE_SPEC)
    git(repo, "add", "journal.yaml")
    git(repo, "commit", "-q", "-m", "The spec")
    (repo / "prep_models.py").write_text(NO_COMMIT_MODELS)
    assert cli("init")[0] == 0
    assert cli("run", "-q")[0] == 0

    git(repo, "commit", "-q", "--allow-empty", "-m", "Nothing of the code")
    noted = note_committed(Store.discover(repo))

    assert noted is not None and noted.runs == ()


# -- the Python API: sys.exit(0) is a normal end ---------------------------------------------------


def test_sys_exit_0_in_a_run_block_records_an_ok_run_and_exits(repo: Path) -> None:
    from gitlab_journal import Journal

    journal = Journal(repo)
    with pytest.raises(SystemExit) as ended, journal.run(model="m.Net", params={"epochs": 1}) as ok:
        ok.log_metrics({"acc": 0.9})
        sys.exit(0)
    assert ended.value.code == 0
    assert ok.record is not None and ok.record.status == "ok"
    assert ok.record.metrics == {"acc": 0.9} and ok.record.error is None

    with pytest.raises(SystemExit), journal.run(model="m.Net", params={"epochs": 2}) as bare:
        bare.log_metric("acc", 0.8)
        raise SystemExit
    assert bare.record is not None and bare.record.status == "ok"

    with pytest.raises(SystemExit), journal.run(model="m.Net", params={"epochs": 3}) as bad:
        sys.exit(3)
    assert bad.record is not None and bad.record.status == "failed"
    assert "SystemExit: 3" in (bad.record.error or "")


def test_sys_exit_0_in_a_script_exits_0_and_the_run_is_ok(repo: Path) -> None:
    script = (
        "import sys\n"
        "from gitlab_journal import Journal\n"
        "with Journal('.').run(model='m.Net', params={'epochs': 1}) as run:\n"
        "    run.log_metrics({'acc': 0.9})\n"
        "    sys.exit(0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    (run,) = Store.discover(repo).iter_runs()
    assert run.status == "ok" and run.metrics == {"acc": 0.9}


# -- DVC: data edited but not `dvc add`ed, and `checkout-data` -------------------------------------


def md5_of(path: Path) -> str:
    import hashlib

    return hashlib.md5(path.read_bytes()).hexdigest()


DVC_SPEC = """\
data: {path: data/train.csv, target: label}
model: {estimator: sklearn.tree.DecisionTreeClassifier, params: {max_depth: 2}}
evaluation: {cv: 3, seed: 0}
"""


@pytest.fixture
def dvc_project(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """DVC initialised, data/train.csv `dvc add`ed and committed with the spec, a journal."""
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.setenv("DVC_TEST", "1")
    dvc(repo, "init", "-q")
    (repo / "data").mkdir()
    (repo / "data" / "train.csv").write_text(dvc_table(60))
    dvc(repo, "add", "-q", "data/train.csv")
    (repo / "journal.yaml").write_text(DVC_SPEC)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Data v1, tracked by DVC")
    return repo


def test_data_not_dvc_added_is_not_recorded_as_dvcs_and_checkout_data_refuses(
    dvc_project: Path, cli: Cli
) -> None:
    train = dvc_project / "data" / "train.csv"
    first = train.read_text()
    assert cli("init")[0] == 0
    train.write_text(dvc_table(45, offset=3))  # edited, not yet `dvc add`ed
    used = md5_of(train)

    code, out, err = cli("run", "-q")

    assert code == 0, err
    assert "data/train.csv" in out + err and "not `dvc add`ed" in out + err
    (run,) = logged(cli)
    assert run["data"]["data/train.csv"] == used
    store = Store.discover(dvc_project)
    (stored,) = store.iter_runs()
    record = store.files(stored).get("dvc.json")
    assert record is None or "data/train.csv.dvc" not in json.loads(record)["files"]
    # Not DVC's to bring back: the work tree holds the only copy, as `show` says.
    assert stored.data_sources["data/train.csv"] == {"source": "path"}
    code, out, _ = cli("show", run["id"])
    assert code == 0 and f"md5 {used} (work tree only)" in out and "DVC:" not in out

    # `--force` before `dvc add`: the work tree holds the only copy of that data.
    code, out, err = cli("checkout-data", run["id"], "--force")
    assert code != 0 and used in err
    assert md5_of(train) == used
    assert "as run" not in out

    # Once `dvc add`ed (and v1 back on disk), DVC's cache holds it, but no record says so.
    dvc(dvc_project, "add", "-q", "data/train.csv")
    git(dvc_project, "commit", "-q", "-am", "Data v2")
    git(dvc_project, "checkout", "-q", "HEAD~1", "--", "data/train.csv.dvc")
    dvc(dvc_project, "checkout", "-q", "--force")
    git(dvc_project, "checkout", "-q", "HEAD", "--", "data/train.csv.dvc")
    assert train.read_text() == first
    code, out, err = cli("checkout-data", run["id"], "--force")
    assert code != 0 and "as run" not in out
    assert train.read_text() == first


def stale_record(store: Store, run_id: str, text: str, md5: str) -> None:
    """Give the run a dvc.json holding ``text`` (of data of md5 ``md5``) as its .dvc file, as
    runs recorded before the data's DVC record was checked kept (the .dvc file of other data)."""
    (run,) = [r for r in store.iter_runs() if r.id == run_id]
    doc = {
        "remote": None,
        "inputs": {
            "data/train.csv": {"file": "data/train.csv.dvc", "out": "data/train.csv", "md5": md5}
        },
        "files": {"data/train.csv.dvc": text},
    }
    dvc_json = (json.dumps(doc, indent=2) + "\n").encode()
    store.update_run(run, "A dvc.json of other data", files={"dvc.json": dvc_json})


def test_checkout_data_refuses_a_record_of_other_data_and_checks_what_dvc_restored(
    dvc_project: Path, cli: Cli
) -> None:
    train = dvc_project / "data" / "train.csv"
    tracking = dvc_project / "data" / "train.csv.dvc"
    v1_dvc, v1_md5 = tracking.read_text(), md5_of(train)
    assert cli("init")[0] == 0
    assert cli("run", "-q")[0] == 0  # run A: data v1, `dvc add`ed
    train.write_text(dvc_table(45, offset=3))
    assert cli("run", "-q")[0] == 0  # run B: data v2, not yet `dvc add`ed
    (a,) = [r for r in logged(cli) if r["data"]["data/train.csv"] == v1_md5]
    (b,) = [r for r in logged(cli) if r["id"] != a["id"]]
    # B's record as runs kept it before it was checked: the .dvc text of the v1 data.
    stale_record(Store.discover(dvc_project), b["id"], v1_dvc, v1_md5)
    dvc(dvc_project, "add", "-q", "data/train.csv")  # DVC's cache now holds B's data too
    git(dvc_project, "commit", "-q", "-am", "Data v2")
    v2_dvc = tracking.read_text()
    train.write_text(dvc_table(30, offset=9))  # unsaved work in progress

    code, out, err = cli("checkout-data", b["id"], "--force")

    assert code == 1, out + err
    assert b["data"]["data/train.csv"] in err and "not `dvc add`ed" in err
    assert "as run" not in out
    assert tracking.read_text() == v2_dvc and train.read_text() == dvc_table(30, offset=9)

    # A damaged cache: DVC checks out other bytes under A's md5, and says it did fine.
    obj = dvc_project / ".dvc" / "cache" / "files" / "md5" / v1_md5[:2] / v1_md5[2:]
    obj.chmod(0o644)
    obj.write_text("damaged\n")

    code, out, err = cli("checkout-data", a["id"], "--force")

    assert code == 1, out + err
    assert "DVC did not bring back" in err and v1_md5 in err
    assert "as run" not in out
    assert tracking.read_text() == v2_dvc  # the tracking file is put back as it was
