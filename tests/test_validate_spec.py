"""A spec error is an input error, found before anything trains: exit 2, one line naming the
file, line and key, and nothing recorded (never a `failed` run that counts as an experiment)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git
from helpers import Cli, modules_of_import

COMMANDS = [("check",), ("run", "--dry-run"), ("run",)]


def _journal_tip(repo: Path) -> str:
    return git(repo, "rev-parse", "--verify", "-q", "journal", check=False).strip()


def _refused(repo: Path, cli: Cli, spec: str, command: tuple[str, ...]) -> str:
    (repo / "journal.yaml").write_text(spec)
    cli("init")
    tip = _journal_tip(repo)
    code, out, err = cli(*command)
    assert code == 2, (out, err)
    assert "Traceback" not in err
    assert _journal_tip(repo) == tip  # nothing recorded
    assert len(err.strip().splitlines()) <= 2  # the error and its hint
    return err


REGRESSION = """\
data: sklearn:diabetes
model:
  estimator: sklearn.linear_model.Ridge
  params:
    alpha: [0.1, 1.0, 10.0]
evaluation:
  cv: 3
  scoring: [{scoring}]
"""


@pytest.mark.parametrize("command", COMMANDS)
def test_a_misspelled_scorer_is_refused_with_the_close_name(
    repo: Path, cli: Cli, command: tuple[str, ...]
) -> None:
    err = _refused(repo, cli, REGRESSION.format(scoring="r2, rmse"), command)
    assert (
        "journal.yaml:8: evaluation.scoring: 'rmse' is not a scikit-learn scorer "
        "(did you mean 'neg_root_mean_squared_error'?)" in err
    )


def test_a_typo_in_a_scorer_gets_the_nearest_names(repo: Path, cli: Cli) -> None:
    err = _refused(repo, cli, REGRESSION.format(scoring="neg_mean_squard_error"), ("check",))
    assert "did you mean 'neg_mean_squared_error'" in err


def test_a_classification_scorer_on_a_regressor_is_refused(repo: Path, cli: Cli) -> None:
    err = _refused(repo, cli, REGRESSION.format(scoring="accuracy"), ("run",))
    assert "'accuracy' scores class labels, but sklearn.linear_model.Ridge is a regressor" in err


def _prices(repo: Path) -> None:
    (repo / "prices.csv").write_text(
        "rooms,area,price\n"
        + "".join(f'{i % 5 + 1},{50 + i},"${1000 + 7 * i:,}"\n' for i in range(40))
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_a_classifier_on_a_continuous_target_is_refused(
    repo: Path, cli: Cli, command: tuple[str, ...]
) -> None:
    spec = (
        "data:\n  path: prices.csv\n  target: area\n  decimal: ','\n  sep: ';'\n"
        "model: sklearn.linear_model.LogisticRegression\nevaluation: {cv: 3}\n"
    )
    (repo / "prices.csv").write_text(
        "rooms;price;area\n"
        + "".join(f"{i % 5 + 1};{1000 + 7 * i};{50 + i},5\n" for i in range(40))
    )
    err = _refused(repo, cli, spec, command)
    first = err.splitlines()[0]
    assert first.startswith(
        "error: journal.yaml:3: data.target: the target holds continuous numbers, e.g. 50.5, "
        "and sklearn.linear_model.LogisticRegression is a classifier"
    ), err
    assert "use a regressor" in err


def test_a_classifier_on_whole_numbers_of_a_quantity_is_told_to_regress(
    repo: Path, cli: Cli
) -> None:
    """diabetes' target is whole numbers, so scikit-learn would take them as 214 classes."""
    spec = REGRESSION.format(scoring="accuracy").replace(
        "sklearn.linear_model.Ridge", "sklearn.linear_model.LogisticRegression"
    )
    err = _refused(repo, cli, spec.replace("alpha:", "C:"), ("check",))
    assert "3 stratified folds, but class" in err
    assert "hint: the target has 214 distinct numbers in 442 rows: for a quantity, use a " in err


def test_a_regressor_on_a_text_target_is_refused(repo: Path, cli: Cli) -> None:
    """Prices written with a currency sign are text: a regressor cannot fit them."""
    _prices(repo)
    spec = (
        "data:\n  path: prices.csv\n  target: price\n"
        "model: sklearn.linear_model.Ridge\nevaluation: {cv: 3}\n"
    )
    err = _refused(repo, cli, spec, ("run",))
    first = err.splitlines()[0]
    assert first.startswith(
        "error: journal.yaml:3: data.target: the target holds text, e.g. '$1,000', and "
        "sklearn.linear_model.Ridge is a regressor"
    ), err


def test_a_target_of_grouped_numbers_is_told_to_read_them(repo: Path, cli: Cli) -> None:
    (repo / "prices.csv").write_text(
        "rooms,area,price\n"
        + "".join(f'{i % 5 + 1},{50 + i},"{1000 + 7 * i:,}"\n' for i in range(40))
    )
    spec = (
        "data:\n  path: prices.csv\n  target: price\n"
        "model: sklearn.linear_model.Ridge\nevaluation: {cv: 3}\n"
    )
    err = _refused(repo, cli, spec, ("check",))
    assert "the target holds text, e.g. '1,000'" in err
    assert "hint: its numbers are written with thousands separators: add thousands: ','" in err
    (repo / "journal.yaml").write_text(
        spec.replace("  target: price\n", "  target: price\n  thousands: ','\n")
    )
    code, _, err = cli("run", "-q")
    assert code == 0, err


IRIS = """\
data: sklearn:iris
model:
  estimator: sklearn.pipeline.Pipeline
  steps:
    - scale: sklearn.preprocessing.StandardScaler
    - clf: sklearn.linear_model.LogisticRegression
  params:
    {param}: [0.1, 1.0]
evaluation:
  cv: 3
  scoring: [{scoring}]
"""


def test_a_binary_scorer_on_three_classes_is_refused(repo: Path, cli: Cli) -> None:
    err = _refused(repo, cli, IRIS.format(param="clf__C", scoring="f1"), ("run",))
    assert "'f1' is for two classes; the target has 3" in err
    assert "f1_macro" in err


@pytest.mark.parametrize("param", ["clf__Cee", "classifier__C"])
def test_an_unknown_param_or_step_is_refused(repo: Path, cli: Cli, param: str) -> None:
    err = _refused(repo, cli, IRIS.format(param=param, scoring="accuracy"), ("run", "--dry-run"))
    assert f"journal.yaml:2: model.params.{param}:" in err
    if param == "clf__Cee":
        assert "LogisticRegression has no parameter 'Cee' (did you mean 'C'?)" in err
    else:
        assert "Pipeline has no step 'classifier' (its steps: scale, clf)" in err


def test_more_folds_than_a_class_has_samples_is_refused(repo: Path, cli: Cli) -> None:
    rows = ["a,b,label"] + [f"{i},{i % 7},{'rare' if i < 3 else 'common'}" for i in range(40)]
    (repo / "data.csv").write_text("\n".join(rows) + "\n")
    err = _refused(
        repo,
        cli,
        "data: {path: data.csv, target: label}\n"
        "model: sklearn.tree.DecisionTreeClassifier\n"
        "evaluation:\n  cv: 5\n",
        ("check",),
    )
    assert "journal.yaml:4: evaluation.cv: 5 stratified folds, but class 'rare' has only 3" in err
    assert "cv: 3 or fewer" in err


def test_a_loader_returning_mismatched_lengths_is_refused(repo: Path, cli: Cli) -> None:
    (repo / "prep.py").write_text(
        "import numpy as np\n\n\ndef load():\n    return np.zeros((10, 2)), np.zeros(9)\n"
    )
    err = _refused(
        repo,
        cli,
        "data: {loader: prep:load}\nmodel: sklearn.linear_model.Ridge\nevaluation: {cv: 2}\n",
        ("run",),
    )
    assert "journal.yaml:1: data: X and y have different lengths: 10 rows" in err


KERAS = """\
data: sklearn:iris
model:
  keras: nets:build
  compile: {{optimizer: adam, loss: sparse_categorical_crossentropy, {compile}}}
  fit: {{epochs: 1, callbacks: [{callback}]}}
"""


@pytest.mark.parametrize(
    ("compile_", "callback", "expected"),
    [
        ("metricz: [accuracy]", "EarlyStopping", "compile.metricz: unknown compile setting"),
        ("metrics: [accuracy]", "EarlyStoping", "unknown Keras callback 'EarlyStoping'"),
    ],
)
def test_keras_compile_and_callback_names_are_checked(
    repo: Path, cli: Cli, compile_: str, callback: str, expected: str
) -> None:
    (repo / "nets.py").write_text(
        "import keras\n\n\ndef build():\n"
        "    return keras.Sequential([keras.layers.Dense(3, activation='softmax')])\n"
    )
    err = _refused(repo, cli, KERAS.format(compile=compile_, callback=callback), ("run",))
    assert expected in err
    assert "journal.yaml:2: model" in err


def test_the_keras_names_are_keras_own() -> None:
    import inspect

    import keras

    from gitlab_journal.train.keras_backend import CALLBACKS, COMPILE_KEYS

    assert set(COMPILE_KEYS) == set(inspect.signature(keras.Model.compile).parameters) - {"self"}
    callbacks = {
        name
        for name in dir(keras.callbacks)
        if isinstance(getattr(keras.callbacks, name), type)
        and name not in ("Callback", "CallbackList", "History", "OrbaxCheckpoint")
    }
    assert callbacks <= set(CALLBACKS) | {"OrbaxCheckpoint"}
    assert set(CALLBACKS) <= callbacks


def test_a_plan_that_passed_is_not_checked_again(repo: Path, cli: Cli) -> None:
    (repo / "journal.yaml").write_text(REGRESSION.format(scoring="r2"))
    cli("init")
    code, out, err = cli("check")
    assert code == 0, (out, err)
    probe = (
        "import json, sys\nfrom gitlab_journal.cli import main\ncode = main(['check'])\n"
        "print('SKLEARN', 'sklearn' in sys.modules)\n"
        "print('METADATA', 'importlib.metadata' in sys.modules)\n"
        "print('DATETIME', 'datetime' in sys.modules, 'PLATFORM', 'platform' in sys.modules)\n"
        "lazy = ['random', 'tempfile', 'difflib', 'csv', 'signal']\n"
        "print('LAZY', json.dumps([m for m in lazy if m in sys.modules]))\n"
        "sys.exit(code)\n"
    )
    out2 = subprocess.run(
        [sys.executable, "-c", probe], cwd=repo, capture_output=True, text=True, timeout=120
    )
    assert out2.returncode == 0, out2.stderr
    assert "SKLEARN False" in out2.stdout
    assert "METADATA False" in out2.stdout  # reading package metadata costs 10 ms a check
    assert "DATETIME False PLATFORM False" in out2.stdout  # 2 ms more of imports it needs not
    # Modules only a cache write, a lost race, a CSV header or an error needs: 2.5 ms more,
    # unless pygit2 itself imports them.
    lazy = json.loads(out2.stdout.rpartition("LAZY ")[2])
    assert set(lazy) <= modules_of_import("pygit2"), lazy
    # a new scorer is a new plan: checked (and refused) again
    (repo / "journal.yaml").write_text(REGRESSION.format(scoring="rmse"))
    code, _, err = cli("check")
    assert code == 2 and "'rmse' is not a scikit-learn scorer" in err


def test_a_plan_is_checked_again_once_a_package_is_installed(
    tmp_path: Path, repo: Path, cli: Cli
) -> None:
    (repo / "journal.yaml").write_text(REGRESSION.format(scoring="r2"))
    cli("init")
    site = tmp_path / "site"
    site.mkdir()
    probe = (
        "import json, sys\nfrom gitlab_journal.cli import main\ncode = main(['check'])\n"
        "print('SKLEARN', 'sklearn' in sys.modules)\nsys.exit(code)\n"
    )

    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]

    def check() -> str:
        done = subprocess.run(
            [sys.executable, "-c", probe],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *paths])},
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "SKLEARN True" in check()  # validated, then remembered
    assert "SKLEARN False" in check()
    # what pip leaves on sys.path when it installs (or upgrades) a distribution
    metadata = site / "scikit_learn-99.0.dist-info"
    metadata.mkdir()
    (metadata / "METADATA").write_text("Metadata-Version: 2.1\nName: scikit-learn\nVersion: 99.0\n")
    assert "SKLEARN True" in check()
    assert "SKLEARN False" in check()


def test_only_what_fails_while_training_is_a_failed_run(repo: Path, cli: Cli) -> None:
    (repo / "journal.yaml").write_text(
        "data: sklearn:iris\nmodel:\n  estimator: sklearn.svm.SVC\n"
        "  params:\n    C: [-1.0, 1.0]\nevaluation: {cv: 2}\n"
    )
    cli("init")
    code, out, err = cli("run", "-q")
    assert code == 1, (out, err)  # C=-1 is refused by SVC.fit: a failed run, recorded
    statuses = git(repo, "log", "--format=%s", "journal")
    assert statuses.count("failed") == 1
