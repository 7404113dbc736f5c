"""Autologging end to end: real scikit-learn, Keras and Jupyter (nbclient) fits in real git
repositories, each script run as its own Python process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from conftest import git

from gitlab_journal.api import Journal
from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.store import Store

pytestmark = pytest.mark.slow  # see the README: `pytest -m "not slow"` skips these locally

ROOT = Path(__file__).resolve().parents[1]

IRIS_SCRIPT = """\
import gitlab_journal
gitlab_journal.autolog({options})

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

X, y = load_iris(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
model = LogisticRegression(max_iter=500).fit(X_train, y_train)
print("accuracy", accuracy_score(y_test, model.predict(X_test)))
"""


def python(
    repo: Path, script: str, name: str = "train.py", *args: str
) -> subprocess.CompletedProcess[str]:
    (repo / name).write_text(script)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "default"}
    out = subprocess.run(
        [sys.executable, name, *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out


def runs(repo: Path) -> list[Any]:
    """The journal's runs in the order they were recorded (the order of the commits that
    recorded them: several runs of one script share a second of `created`)."""
    log = git(repo, "log", "--reverse", "--format=%(trailers:key=Journal-Run,valueonly)", "journal")
    order: dict[str, int] = {}
    for run_id in log.split():
        order.setdefault(run_id, len(order))  # a later commit that updates a run is not it
    return sorted(Journal(repo).store.iter_runs(), key=lambda run: order.get(run.id, -1))


def test_a_script_records_its_fit_and_warns_when_it_runs_again(repo: Path) -> None:
    first = python(repo, IRIS_SCRIPT.format(options=""))
    assert "DuplicateRunWarning" not in first.stderr
    [run] = runs(repo)
    assert run.kind == "autolog"
    assert run.model == "sklearn.linear_model.LogisticRegression"
    assert run.params["max_iter"] == 500
    assert set(run.data) == {"X", "y"}
    assert "script" in run.identity["code"]["caller"]
    assert 0.9 < run.metrics["score"] <= 1.0
    # accuracy_score on the test split's predictions, after the fit
    accuracy = float(first.stdout.split()[-1])
    assert run.metrics["accuracy_score_test"] == pytest.approx(accuracy)

    second = python(repo, IRIS_SCRIPT.format(options=""))
    assert "DuplicateRunWarning" in second.stderr
    assert run.id in second.stderr
    assert run.created[:10] in second.stderr
    assert "accuracy_score_test=" in second.stderr
    assert len(runs(repo)) == 2  # "warn" records the repeat
    shown = python(
        repo, f"from gitlab_journal.cli import main; main(['show', '{run.id}'])", "show.py"
    )
    script = run.identity["code"]["caller"]["script"]
    assert f"script blob {script[:12]}" in " ".join(shown.stdout.split())


UNSCORED_SCRIPT = """\
import gitlab_journal
gitlab_journal.autolog()
import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.metrics import accuracy_score
rng = np.random.default_rng(0)
X = rng.normal(size=(200, 3))
y = np.where(rng.random(200) < 0.9, 1, -1)
model = IsolationForest(random_state=0).fit(X)
print("accuracy", accuracy_score(y, model.predict(X)))
"""


def test_a_metric_computed_after_the_fit_enters_the_leaderboard(repo: Path) -> None:
    out = python(repo, UNSCORED_SCRIPT)
    accuracy = float(out.stdout.split()[-1])
    [run] = runs(repo)
    assert run.metrics == {"accuracy_score_test": pytest.approx(accuracy)}
    board = json.loads(git(repo, "show", "journal:leaderboard.json"))
    [family] = board["families"]
    assert family["metric"] == "accuracy_score_test"
    assert [(r["id"], r["score"]) for r in family["top"]] == [(run.id, pytest.approx(accuracy))]
    assert f"`{run.id}`" in git(repo, "show", "journal:README.md")
    folder = fmt.run_dir(run.fingerprint, run.id, version=fmt.FORMAT_VERSION)
    metrics = json.loads(git(repo, "show", f"journal:{folder}/metrics.json"))
    assert metrics == {"accuracy_score_test": pytest.approx(accuracy)}
    git(repo, "fsck", "--strict")


def test_changed_data_or_script_is_a_new_experiment(repo: Path) -> None:
    python(repo, IRIS_SCRIPT.format(options=""))
    other = IRIS_SCRIPT.format(options="").replace("random_state=0", "random_state=1")
    out = python(repo, other)
    assert "DuplicateRunWarning" not in out.stderr
    first, second = runs(repo)
    assert first.data["X"] != second.data["X"]
    assert first.fingerprint != second.fingerprint


def test_raise_stops_a_duplicate_before_it_trains(repo: Path) -> None:
    script = """\
import gitlab_journal
from gitlab_journal.errors import DuplicateRunError
gitlab_journal.autolog(on_duplicate="raise")

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

FITS = []

class Counted(LogisticRegression):
    def fit(self, X, y):
        FITS.append(1)
        return super().fit(X, y)

X, y = load_iris(return_X_y=True)
Counted(max_iter=500).fit(X, y)
try:
    Counted(max_iter=500).fit(X, y)
except DuplicateRunError as exc:
    print("raised:", exc)
print("fits", len(FITS))
"""
    out = python(repo, script)
    assert "raised: __main__.Counted: this experiment already ran" in out.stdout
    assert "fits 1" in out.stdout  # the second fit never trained
    [run] = runs(repo)
    assert run.model == "__main__.Counted"
    assert run.id in out.stdout


def test_ignore_trains_without_a_warning(repo: Path) -> None:
    python(repo, IRIS_SCRIPT.format(options="on_duplicate='ignore'"))
    out = python(repo, IRIS_SCRIPT.format(options="on_duplicate='ignore'"))
    assert "DuplicateRunWarning" not in out.stderr
    assert len(runs(repo)) == 2


def test_a_pipeline_fit_is_one_run(repo: Path) -> None:
    script = """\
import gitlab_journal
gitlab_journal.autolog()
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.metrics import f1_score

X, y = load_iris(return_X_y=True)
pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
print(f1_score(y, pipe.predict(X), average="macro"))
"""
    python(repo, script)
    [run] = runs(repo)
    assert run.model == "sklearn.pipeline.Pipeline"
    assert run.params["logisticregression__C"] == 1
    # the same y as the fit's: no _test suffix
    assert "f1_score" in run.metrics
    assert "f1_score_test" not in run.metrics


def test_pandas_data_is_hashed_by_value(repo: Path) -> None:
    script = """\
import gitlab_journal
gitlab_journal.autolog()
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

frame = load_iris(as_frame=True).frame
X, y = frame.drop(columns="target"), frame["target"]
DecisionTreeClassifier(random_state=0).fit(X, y)
DecisionTreeClassifier(random_state=0).fit(X.copy(), y.copy())
DecisionTreeClassifier(random_state=0).fit(X.iloc[:100], y.iloc[:100])
"""
    out = python(repo, script)
    assert out.stderr.count("DuplicateRunWarning") == 1  # a copy is the same data
    first, second, third = runs(repo)
    assert first.data == second.data != third.data


def test_nothing_is_patched_without_the_call_and_disable_undoes_it(repo: Path) -> None:
    import sklearn.metrics
    import sklearn.model_selection
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import cross_val_score

    import gitlab_journal

    bare_fit, bare_predict = LogisticRegression.fit, LogisticRegression.predict
    X, y = load_iris(return_X_y=True)
    LogisticRegression(max_iter=300).fit(X, y)
    assert not Store.discover(repo).exists()

    gitlab_journal.autolog()
    try:
        assert LogisticRegression.fit is not bare_fit
        assert sklearn.model_selection.cross_val_score is not cross_val_score
        LogisticRegression(max_iter=300).fit(X, y)
        assert len(runs(repo)) == 1
    finally:
        gitlab_journal.autolog(disable=True)
    assert LogisticRegression.fit is bare_fit
    assert LogisticRegression.predict is bare_predict
    assert sklearn.metrics.accuracy_score is accuracy_score
    assert sklearn.model_selection.cross_val_score is cross_val_score
    LogisticRegression(max_iter=301).fit(X, y)
    assert len(runs(repo)) == 1


def test_outside_a_repository_the_fit_runs_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    import gitlab_journal
    from gitlab_journal.autologging import AutologWarning

    monkeypatch.chdir(tmp_path)
    X, y = load_iris(return_X_y=True)
    gitlab_journal.autolog()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = LogisticRegression(max_iter=300).fit(X, y)
    finally:
        gitlab_journal.autolog(disable=True)
    assert hasattr(model, "coef_")
    assert any(issubclass(w.category, AutologWarning) for w in caught)


NOTEBOOK_CELLS = [
    "import gitlab_journal\ngitlab_journal.autolog()",
    "from sklearn.datasets import load_iris\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "from sklearn.svm import SVC\n"
    "X, y = load_iris(return_X_y=True)",
    "LogisticRegression(max_iter=400).fit(X, y)",
    "SVC(C=2.0).fit(X, y)",
]


def _execute_notebook(repo: Path, path: Path) -> Any:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(repo)}}
    ).execute()
    return nb


def _stderr(cell: Any) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stderr")


def test_a_notebook_warns_of_each_duplicate_when_run_again(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nbformat

    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    path = repo / "explore.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in NOTEBOOK_CELLS]
    nbformat.write(nb, path)

    first = _execute_notebook(repo, path)
    assert not any("DuplicateRunWarning" in _stderr(cell) for cell in first.cells)
    logistic, svc = runs(repo)
    assert {logistic.model, svc.model} == {
        "sklearn.linear_model.LogisticRegression",
        "sklearn.svm.SVC",
    }
    assert all(
        run.kind == "autolog" and "notebook" in run.identity["code"]["caller"]
        for run in (logistic, svc)
    )

    second = _execute_notebook(repo, path)
    by_model = {run.model: run for run in (logistic, svc)}
    warned_logistic = _stderr(second.cells[2])
    warned_svc = _stderr(second.cells[3])
    assert "DuplicateRunWarning" in warned_logistic
    assert by_model["sklearn.linear_model.LogisticRegression"].id in warned_logistic
    assert "DuplicateRunWarning" in warned_svc
    assert by_model["sklearn.svm.SVC"].id in warned_svc
    assert len(runs(repo)) == 4


WIDE = "class Wide(LogisticRegression):\n    def predict(self, X):\n        return {predicted}"


def test_in_one_kernel_a_cell_run_again_warns_and_a_changed_class_does_not(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A data scientist's session: a fit cell run again, after an unrelated cell too, is the
    same experiment; a class of the notebook edited and run again is a new one, as is a fit
    cell that calls fit another way."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    sources = [
        *NOTEBOOK_CELLS[:3],  # autolog, the data, LogisticRegression(max_iter=400).fit(X, y)
        "X.shape",
        WIDE.format(predicted="super().predict(X)"),
        "Wide(max_iter=400).fit(X, y)",
        WIDE.format(predicted="1 - super().predict(X)"),
        "LogisticRegression(max_iter=400).fit(X, y); print('again')",
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(repo)}}
    )
    said: list[tuple[int, str]] = []
    with client.setup_kernel():
        for index in (0, 1, 2, 2, 3, 2, 4, 5, 5, 6, 5, 7):
            client.execute_cell(nb.cells[index], index)
            said.append((index, _stderr(nb.cells[index])))

    warned = ["DuplicateRunWarning" in text for _, text in said]
    assert warned == [
        False, False,
        False, True, False, True,  # the fit again, X.shape, the fit again
        False, False, True,  # Wide, its fit, its fit again
        False, False,  # Wide edited: its fit is a new experiment
        False,  # the first fit, called from another cell's code
    ], said  # fmt: skip
    assert len(runs(repo)) == 7  # every fit recorded, repeats too
    shown = subprocess.run(
        [sys.executable, "-m", "gitlab_journal", "show", runs(repo)[0].id],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    flat = " ".join(shown.split())  # the code line may wrap
    assert "notebook cells" in flat and "kept as notebook.py" in flat, shown


def test_the_python_api_in_a_notebook_counts_the_cell_that_trains(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``with Journal('.').run(...)`` in a cell: the cell's training code is part of the
    experiment, so the cell run again is a duplicate and another cell's code is not."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    block = (
        "with journal.run(model='my.Net', params={{'lr': 0.1}}) as run:\n"
        "    print('duplicate', run.is_duplicate)\n"
        "    run.log_metrics({{'acc': {acc}}})"
    )
    sources = [
        "from gitlab_journal import Journal\njournal = Journal('.')",
        block.format(acc="0.91"),
        block.format(acc="0.5 * 1"),  # other training code, same model and params
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(repo)}}
    )
    said: list[str] = []
    with client.setup_kernel():
        for index in (0, 1, 1, 2):
            client.execute_cell(nb.cells[index], index)
            said.append("".join(o.get("text", "") for o in nb.cells[index].outputs))

    assert [text.strip() for text in said[1:]] == [
        "duplicate False",
        "duplicate True",
        "duplicate False",
    ], said
    assert all("notebook" in run.identity["code"]["caller"] for run in runs(repo))


@pytest.mark.slow
def test_a_keras_fit_under_autolog_is_a_run(repo: Path) -> None:
    script = """\
import gitlab_journal
gitlab_journal.autolog()
import numpy as np
import keras
from sklearn.datasets import load_digits

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype("float32")
for _ in range(2):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(X, y, epochs=1, batch_size=256, verbose=0)
"""
    out = python(repo, script)
    first, second = runs(repo)
    assert first.kind == second.kind == "autolog"
    assert first.metrics["train_loss"] > 0
    assert first.fingerprint == second.fingerprint
    assert "DuplicateRunWarning" in out.stderr
    assert first.id in out.stderr
    assert "train_loss=" in out.stderr  # the earlier run's metrics


SEARCH_SCRIPT = """\
import json, sys
import gitlab_journal
gitlab_journal.autolog(on_duplicate=sys.argv[2])
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, train_test_split


X, y = load_iris(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
grid = {"C": json.loads(sys.argv[1])}
search = GridSearchCV(LogisticRegression(max_iter=500), grid, cv=3).fit(X_train, y_train)
print("best", search.best_params_["C"])
print("accuracy", accuracy_score(y_test, search.predict(X_test)))
"""


def test_a_grid_search_is_a_run_per_candidate_and_warns_of_those_that_ran(repo: Path) -> None:
    python(repo, SEARCH_SCRIPT, "search.py", "[0.1, 1.0]", "warn")
    recorded = runs(repo)
    assert sorted(run.params["C"] for run in recorded) == [0.1, 1]
    for run in recorded:
        assert run.model == "sklearn.linear_model.LogisticRegression"
        assert {"split0_test_score", "split2_test_score", "mean_test_score"} <= set(run.metrics)
    best = max(recorded, key=lambda run: run.metrics["mean_test_score"])
    assert "accuracy_score_test" in best.metrics  # the refit best estimator's predictions

    out = python(repo, SEARCH_SCRIPT, "search.py", "[0.1, 1.0, 10.0]", "warn")
    assert "2 of 3 candidates of this GridSearchCV already ran" in out.stderr
    assert all(run.id in out.stderr for run in recorded)
    assert len(runs(repo)) == 5

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    raised = subprocess.run(
        [sys.executable, "search.py", "[0.1]", "raise"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert raised.returncode != 0
    assert "DuplicateRunError" in raised.stderr
    assert "best" not in raised.stdout  # the search never ran
    assert len(runs(repo)) == 5


RANDOM_SEARCH_SCRIPT = """\
import sys
import numpy as np
import gitlab_journal
if sys.argv[2] != "off":
    gitlab_journal.autolog(on_duplicate=sys.argv[2])
from scipy.stats import loguniform
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RandomizedSearchCV

X, y = load_iris(return_X_y=True)
np.random.seed(0)
state = {"none": None, "instance": np.random.RandomState(0)}[sys.argv[1]]
space = {"C": loguniform(0.01, 10.0)}
search = RandomizedSearchCV(LogisticRegression(max_iter=500), space, n_iter=3, cv=3,
                            random_state=state).fit(X, y)
print("C", sorted(params["C"] for params in search.cv_results_["params"]))
"""


@pytest.mark.parametrize("seed", ["none", "instance"])
def test_a_randomized_search_without_an_integer_seed_warns_before_it_trains(
    repo: Path, seed: str
) -> None:
    first = python(repo, RANDOM_SEARCH_SCRIPT, "search.py", seed, "warn")
    recorded = runs(repo)
    assert len(recorded) == 3
    # looking ahead leaves the search drawing what it draws without autolog
    assert python(repo, RANDOM_SEARCH_SCRIPT, "search.py", seed, "off").stdout == first.stdout
    assert len(runs(repo)) == 3

    again = python(repo, RANDOM_SEARCH_SCRIPT, "search.py", seed, "warn")
    assert "3 of 3 candidates of this RandomizedSearchCV already ran" in again.stderr
    assert all(run.id in again.stderr for run in recorded)
    assert again.stdout == first.stdout
    assert len(runs(repo)) == 6

    raised = subprocess.run(
        [sys.executable, "search.py", seed, "raise"],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert raised.returncode != 0 and "DuplicateRunError" in raised.stderr
    assert "C [" not in raised.stdout  # nothing trained


CROSS_VAL_SCORE_SCRIPT = """\
import sys
import gitlab_journal
gitlab_journal.autolog(on_duplicate=sys.argv[2])

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

X, y = load_iris(return_X_y=True)
scores = cross_val_score(LogisticRegression(max_iter=500), X, y, cv=5, n_jobs=int(sys.argv[1]))
print("scores", " ".join(repr(float(score)) for score in scores))
"""


def folds_of(repo: Path, run: Any) -> Any:
    folder = fmt.run_dir(run.fingerprint, run.id, version=fmt.FORMAT_VERSION)
    return json.loads(git(repo, "show", f"journal:{folder}/{fmt.FOLDS_FILE}"))


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_cross_val_score_is_one_run_of_its_held_out_scores(repo: Path, n_jobs: int) -> None:
    """The folds' fits are no runs of their own (with n_jobs=2 they fit in worker processes):
    the cross-validation is one run, its metrics the held-out scores, and running it again
    warns before a fold trains."""
    import numpy as np

    first = python(repo, CROSS_VAL_SCORE_SCRIPT, "cv.py", str(n_jobs), "warn")
    assert "Warning" not in first.stderr
    scores = [float(score) for score in first.stdout.split()[1:]]
    assert len(scores) == 5
    [run] = runs(repo)
    assert run.kind == "autolog"
    assert run.model == "sklearn.linear_model.LogisticRegression"
    assert run.params["max_iter"] == 500
    assert set(run.data) == {"X", "y"}
    assert run.evaluation == {"cv": 5, "scoring": None}
    assert "score" not in run.metrics  # no training score
    assert run.metrics["test_score"] == pytest.approx(np.mean(scores))
    assert run.metrics["test_score_std"] == pytest.approx(np.std(scores))
    assert run.headline() == ("test_score", pytest.approx(np.mean(scores)))
    assert folds_of(repo, run) == {"test_score": pytest.approx(scores)}

    # the same cross-validation with the other n_jobs is the same experiment
    again = python(repo, CROSS_VAL_SCORE_SCRIPT, "cv.py", str(3 - n_jobs), "warn")
    assert "DuplicateRunWarning" in again.stderr and run.id in again.stderr
    assert again.stderr.count("DuplicateRunWarning") == 1
    assert again.stdout == first.stdout
    assert len(runs(repo)) == 2

    raised = subprocess.run(
        [sys.executable, "cv.py", str(n_jobs), "raise"],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert raised.returncode != 0 and "DuplicateRunError" in raised.stderr
    assert "scores" not in raised.stdout  # no fold trained
    assert len(runs(repo)) == 2


CROSS_VALIDATE_SCRIPT = """\
import json
from sklearn.model_selection import cross_val_predict, cross_val_score, cross_validate

import folds  # a module that imported cross_val_score and cross_val_predict by name
import gitlab_journal
gitlab_journal.autolog()

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

X, y = load_iris(return_X_y=True)
results = cross_validate(LogisticRegression(max_iter=500), X, y, cv=3,
                         scoring=["accuracy", "f1_macro"], return_train_score=True, n_jobs=2)
print(json.dumps({key: [float(v) for v in values] for key, values in results.items()}))
cross_val_score(LogisticRegression(max_iter=500), X, y, cv=3)
cross_validate(LogisticRegression(max_iter=500), X, y, cv=3)  # the same experiment
cross_val_predict(LogisticRegression(max_iter=500), X, y, cv=3)
folds.scores(LogisticRegression(max_iter=700), X, y)
folds.predictions(LogisticRegression(max_iter=700), X, y)
"""

FOLDS_MODULE = """\
from sklearn.model_selection import cross_val_predict, cross_val_score


def scores(model, X, y):
    return cross_val_score(model, X, y, cv=3)


def predictions(model, X, y):
    return cross_val_predict(model, X, y, cv=3)
"""


def test_cross_validate_is_one_run_with_each_folds_scores(repo: Path) -> None:
    """``cross_validate`` (imported before ``autolog()``) records its held-out and training
    scores as ``cross_validate`` names them, with their standard deviations, the times, and
    each fold's scores in ``folds.json``; ``cross_val_score`` of the same estimator, data and
    folds is the same experiment; ``cross_val_predict``'s fits, and those of a cross-validation
    whose function a module imported before ``autolog()``, are no runs, and it says so."""
    import numpy as np

    (repo / "folds.py").write_text(FOLDS_MODULE)
    out = python(repo, CROSS_VALIDATE_SCRIPT, "cv.py")
    results = json.loads(out.stdout.splitlines()[0])
    first, second, third = runs(repo)
    assert first.evaluation == {"cv": 3, "scoring": ["accuracy", "f1_macro"]}
    assert "score" not in first.metrics
    names = ["test_accuracy", "test_f1_macro", "train_accuracy", "train_f1_macro"]
    for name in names:
        assert first.metrics[name] == pytest.approx(np.mean(results[name]))
        assert first.metrics[f"{name}_std"] == pytest.approx(np.std(results[name]))
    assert first.metrics["fit_time"] == pytest.approx(np.mean(results["fit_time"]))
    assert first.metrics["score_time"] == pytest.approx(np.mean(results["score_time"]))
    assert first.headline() is not None and first.headline()[0] == "test_accuracy"
    folds = folds_of(repo, first)
    assert set(folds) == {*names, "fit_time"}
    assert folds["test_accuracy"] == pytest.approx(results["test_accuracy"])

    assert second.evaluation == third.evaluation == {"cv": 3, "scoring": None}
    assert second.fingerprint == third.fingerprint != first.fingerprint
    assert out.stderr.count("DuplicateRunWarning") == 1 and second.id in out.stderr
    assert set(third.metrics) == {"test_score", "test_score_std", "fit_time", "score_time"}
    assert third.metrics["test_score"] == pytest.approx(second.metrics["test_score"])
    assert "the fits of this cross_val_predict are not recorded" in out.stderr
    unseen = "the fits of a cross-validation whose function was imported before autolog() ran"
    assert out.stderr.count(unseen) == 1  # told once, not once a fold
    assert out.stderr.count("AutologWarning") == 2


def test_in_memory_data_is_hashed_by_dtype_shape_and_bytes() -> None:
    import numpy as np
    import pandas as pd
    import scipy.sparse

    from gitlab_journal.data.values import value_md5

    dense = np.arange(12, dtype="float64").reshape(3, 4)
    assert value_md5(dense) == value_md5(dense.copy(order="F"))
    assert value_md5(dense) != value_md5(dense.astype("float32"))
    assert value_md5(dense) != value_md5(dense.reshape(4, 3))
    # sparse: the same matrix in any format, duplicates summed, is the same data
    csr = scipy.sparse.csr_matrix(dense)
    assert value_md5(csr) == value_md5(scipy.sparse.coo_matrix(dense))
    changed = csr.copy()
    changed[0, 1] = 99.0
    assert value_md5(csr) != value_md5(changed)
    # pandas: values and column names count, text columns included
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    assert value_md5(frame) == value_md5(frame.copy())
    assert value_md5(frame) != value_md5(frame.rename(columns={"a": "c"}))
    assert value_md5(frame) != value_md5(frame.assign(b=["x", "z"]))
    assert value_md5(frame["a"]) != value_md5(frame["a"] * 2)


TWICE_SCRIPT = """\
import gitlab_journal
gitlab_journal.autolog()

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

X, y = load_iris(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
predicted = LogisticRegression(max_iter=500).fit(X_train, y_train).predict(X_test)
print("accuracy", accuracy_score(y_test, predicted))
print("correct", accuracy_score(y_test, predicted, normalize=False))
"""


def test_a_metric_computed_again_keeps_its_recorded_value(repo: Path) -> None:
    """A recorded value never changes (a journal only grows, and a push that changed one is
    refused): the second value of one metric is told, not recorded."""
    out = python(repo, TWICE_SCRIPT)
    accuracy = float(out.stdout.split()[1])
    [run] = runs(repo)
    assert run.metrics["accuracy_score_test"] == pytest.approx(accuracy)
    assert "accuracy_score_test of run" in out.stderr and "is not recorded" in out.stderr
    done = subprocess.run(
        [sys.executable, "-m", "gitlab_journal", "verify"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# A script that scores estimators whose predict methods sit behind a descriptor (a Pipeline's,
# SGDClassifier's predict_proba) and a class of its own, with and without autolog: its numbers
# must not change, and its own class must reach joblib's worker processes.
UNCHANGED_SCRIPT = """\
import sys

if sys.argv[1] == "on":
    import gitlab_journal
    gitlab_journal.autolog(on_duplicate="ignore")

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import get_scorer
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.linear_model import SGDClassifier

X, y = load_iris(return_X_y=True)


class MyLR(LogisticRegression):
    def fit(self, X, y):
        return super().fit(X, y)


pipe = make_pipeline(StandardScaler(), LogisticRegression())
print("pipe", *cross_val_score(pipe, X, y, cv=3, scoring="accuracy"))
search = GridSearchCV(pipe, {"logisticregression__C": [0.1, 1]}, cv=3, scoring="f1_macro")
print("search", *search.fit(X, y).cv_results_["mean_test_score"])
fitted = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
print("scorer", get_scorer("f1_macro")(fitted, X, y))
sgd = SGDClassifier(loss="log_loss", random_state=0)
print("sgd", *cross_val_score(sgd, X, y, cv=3, scoring="neg_log_loss"))
print("mine", *cross_val_score(MyLR(max_iter=500), X, y, cv=3, n_jobs=2))
"""


def test_autolog_changes_no_score_and_a_scripts_own_class_reaches_workers(repo: Path) -> None:
    """Scorers find a Pipeline's or SGDClassifier's predict methods by name: autolog's tracking
    of them keeps their names, so every score is what scikit-learn gives without autolog (not NaN).
    A class the script defines is sent to joblib's workers by value: autolog's wrapper of its
    fit holds nothing that cannot be pickled."""
    plain = python(repo, UNCHANGED_SCRIPT, "scores.py", "off")
    logged = python(repo, UNCHANGED_SCRIPT, "scores.py", "on")
    assert "nan" not in logged.stdout, logged.stdout + logged.stderr
    assert "Scoring failed" not in logged.stderr, logged.stderr
    assert logged.stdout == plain.stdout
    recorded = {run.model for run in runs(repo)}
    assert "sklearn.pipeline.Pipeline" in recorded
    assert "sklearn.linear_model.SGDClassifier" in recorded


# -- what an experiment is: scorers, splitters and fit arguments count by value ------------

SCORING_SCRIPT = """\
import gitlab_journal
gitlab_journal.autolog()

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, get_scorer, make_scorer
from sklearn.model_selection import cross_val_score


def agreement(y_true, y_pred):
    return float((y_true == y_pred).mean())


X, y = load_iris(return_X_y=True)
for scoring in [
    "accuracy",
    get_scorer("accuracy"),  # the same scorer: the same experiment
    make_scorer(f1_score, average="macro"),
    make_scorer(f1_score, average="micro"),
    make_scorer(f1_score, average="macro", greater_is_better=False),
    make_scorer(agreement),
]:
    print(cross_val_score(LogisticRegression(max_iter=500), X, y, cv=3, scoring=scoring).mean())
"""


def test_scorer_objects_are_told_apart_by_what_they_score(repo: Path) -> None:
    """``scoring=`` a scorer object is its score function, sign, arguments and response method:
    scorers that score differently are different experiments; ``get_scorer("accuracy")`` is the
    experiment ``"accuracy"`` is."""
    out = python(repo, SCORING_SCRIPT, "scoring.py")
    recorded = runs(repo)
    assert len(recorded) == 6
    assert out.stderr.count("DuplicateRunWarning") == 1 and recorded[0].id in out.stderr
    prints = [run.fingerprint for run in recorded]
    assert prints[0] == prints[1] and len(set(prints[1:])) == 5, prints
    scoring = [run.evaluation["scoring"] for run in recorded]
    assert scoring[:2] == ["accuracy", "accuracy"]
    assert [scoring[i]["kwargs"] for i in (2, 3)] == [{"average": "macro"}, {"average": "micro"}]
    assert scoring[4]["sign"] == -1 and scoring[4]["kwargs"] == {"average": "macro"}
    assert scoring[5]["score_func"] == {"__callable__": "__main__.agreement"}


SPLITTER_SCRIPT = """\
import numpy as np

import gitlab_journal
gitlab_journal.autolog(on_duplicate="raise")

from sklearn.datasets import load_digits
from sklearn.model_selection import KFold, PredefinedSplit, cross_val_score
from sklearn.naive_bayes import GaussianNB

X, y = load_digits(return_X_y=True)  # 1797 samples: their folds' repr is cut short
first = np.arange(len(y)) % 3
second = first.copy()
second[[900, 901]] = second[[901, 900]]
for cv in (PredefinedSplit(first), PredefinedSplit(second), KFold(3)):
    print(cross_val_score(GaussianNB(), X, y, cv=cv).mean())
"""


def test_splitters_with_other_folds_are_other_experiments(repo: Path) -> None:
    """A splitter is its class and params, arrays hashed by value: two ``PredefinedSplit`` whose
    folds differ past what numpy's repr shows are two experiments; a ``KFold`` keeps the
    identity it always had."""
    python(repo, SPLITTER_SCRIPT, "folds.py")
    first, second, kfold = runs(repo)
    assert first.fingerprint != second.fingerprint
    assert first.evaluation["cv"]["__splitter__"] == "sklearn.model_selection.PredefinedSplit"
    assert kfold.evaluation["cv"] == {
        "__repr__": "KFold(n_splits=3, random_state=None, shuffle=False)",
        "type": "sklearn.model_selection.KFold",
    }


FIT_ARGUMENTS_SCRIPT = """\
import numpy as np

import gitlab_journal
gitlab_journal.autolog()

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score


class Scaled(LogisticRegression):
    def fit(self, X, y, sample_weight=None, scale=1.0):
        return super().fit(X * scale, y, sample_weight=sample_weight)


X, y = load_iris(return_X_y=True)
light = np.ones(len(y))
heavy = np.where(y == 0, 5.0, 1.0)
LogisticRegression(max_iter=500).fit(X, y)
LogisticRegression(max_iter=500).fit(X, y, sample_weight=light)
LogisticRegression(max_iter=500).fit(X, y, sample_weight=heavy)
LogisticRegression(max_iter=500).fit(X, y, heavy)  # the same weights, passed by position
LogisticRegression(max_iter=500).fit(X, y, sample_weight=None)  # as with none
Scaled(max_iter=500).fit(X, y, scale=2.0)
Scaled(max_iter=500).fit(X, y, scale=3.0)
cross_val_score(LogisticRegression(max_iter=500), X, y, cv=3, params={"sample_weight": light})
cross_val_score(LogisticRegression(max_iter=500), X, y, cv=3, params={"sample_weight": heavy})
cross_val_score(LogisticRegression(max_iter=500), X, y, cv=3)
"""


def test_fit_arguments_are_part_of_the_experiment(repo: Path) -> None:
    """Weights passed to ``fit`` (or through ``cross_val_score``'s ``params``) are data, hashed
    by value; a fit argument that is not data is part of the identity as it is given; an
    argument left at None is as if not given."""
    out = python(repo, FIT_ARGUMENTS_SCRIPT, "weights.py")
    recorded = runs(repo)
    assert len(recorded) == 10
    plain, light, heavy, by_position, unweighted, two, three, *folds = recorded
    assert out.stderr.count("DuplicateRunWarning") == 2, out.stderr
    assert by_position.fingerprint == heavy.fingerprint
    assert unweighted.fingerprint == plain.fingerprint
    distinct = [plain, light, heavy, two, three, *folds]
    assert len({run.fingerprint for run in distinct}) == len(distinct)
    assert set(plain.data) == {"X", "y"} and "settings" not in plain.identity["model"]
    assert set(light.data) == {"X", "y", "sample_weight"}
    assert light.data["sample_weight"] != heavy.data["sample_weight"]
    assert two.identity["model"]["settings"] == {"fit": {"scale": 2}}
    assert set(folds[0].data) == {"X", "y", "sample_weight"} and set(folds[2].data) == {"X", "y"}


FAILING_FOLDS_SCRIPT = """\
import gitlab_journal
gitlab_journal.autolog()

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_validate


def broken(estimator, X, y):
    raise RuntimeError("this scorer fails")


X, y = load_iris(return_X_y=True)
print(cross_validate(LogisticRegression(max_iter=500), X, y, cv=3, scoring=broken)["test_score"])
"""


def test_a_cross_validation_whose_folds_all_failed_is_recorded_failed(repo: Path) -> None:
    """Every fold failed (scikit-learn gave each the error score, NaN): the run is ``failed``,
    its error says so, and its folds are kept; the same cross-validation again is told as a
    repeat of a failed run."""
    python(repo, FAILING_FOLDS_SCRIPT, "broken.py")
    [run] = runs(repo)
    assert run.status == "failed"
    assert run.error is not None and "every fold failed" in run.error
    assert folds_of(repo, run)["test_score"] == [None, None, None]
    again = python(repo, FAILING_FOLDS_SCRIPT, "broken.py")
    assert "DuplicateRunWarning" in again.stderr and f"run {run.id}, failed" in again.stderr


API_BLOCK_SCRIPT = """\
import math

import gitlab_journal
from gitlab_journal import Journal

gitlab_journal.autolog()

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

X, y = load_iris(return_X_y=True)
journal = Journal(".")
with journal.run(model="sklearn.linear_model.LogisticRegression", params={"C": 1.0}) as run:
    model = LogisticRegression(max_iter=500).fit(X, y)
    run.log_metric("cv", float(cross_val_score(model, X, y, cv=3).mean()))
with journal.run(model="my.Net", params={"lr": 0.1}) as run:
    run.log_metric("loss", math.nan)
"""


def test_fits_inside_the_python_apis_run_block_are_that_one_run(repo: Path) -> None:
    """Autologging does not record the fits of a run block on their own: the block is one
    run. A block whose metric is not a finite number is recorded as failed, and says so."""
    out = python(repo, API_BLOCK_SCRIPT, "block.py")
    recorded = runs(repo)
    assert [run.kind for run in recorded] == ["custom", "custom"], [r.model for r in recorded]
    assert recorded[0].metrics["cv"] > 0.9
    assert recorded[1].status == "failed"
    assert "the run is recorded as failed: a metric that is not a finite number" in out.stderr
