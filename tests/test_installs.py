"""What a user meets with only the core dependencies installed (`pip install gitlab-journal`), or
without one of the extras: tables train and are reviewed with the core alone, and a spec or an
option that needs an extra stops with exit 2, naming the extra to install, before anything is
recorded. Each command runs in a fresh interpreter in which the packages that are not installed
cannot be imported (helpers.command_without)."""

from __future__ import annotations

import functools
import json
import tomllib
from importlib.metadata import PackageNotFoundError, distribution, packages_distributions
from pathlib import Path

import pytest
from conftest import git
from helpers import command_without
from helpers.passengers import COLUMNS, SPEC, passengers, write_table
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.slow  # fresh interpreters that import scikit-learn

KERAS = ("keras", "tensorflow")
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"

KERAS_SPEC = """\
data: sklearn:digits
model:
  keras: models:build_mlp
  params:
    units: 8
  compile:
    optimizer: adam
    loss: sparse_categorical_crossentropy
    metrics: [accuracy]
  fit:
    epochs: 1
evaluation:
  split: {test_size: 0.2}
  seed: 0
"""

BUILDER_IMPORTING_KERAS = """\
import keras


def build_mlp(units):
    return keras.Sequential([keras.layers.Dense(units), keras.layers.Dense(10)])
"""

BUILDER_IMPORTING_KERAS_INSIDE = """\
def build_mlp(units):
    import keras

    return keras.Sequential([keras.layers.Dense(units), keras.layers.Dense(10)])
"""


def core_distributions() -> set[str]:
    """gitlab-journal and every distribution its dependencies (pyproject.toml's, no extras) bring,
    transitively, as installed here."""
    with PYPROJECT.open("rb") as handle:
        declared = tomllib.load(handle)["project"]["dependencies"]
    seen: set[str] = {"gitlab-journal"}
    todo = [Requirement(text).name for text in declared]
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:  # a requirement for another platform
            continue
        seen.add(name)
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


@functools.cache
def outside_the_core() -> frozenset[str]:
    """The top-level modules of the installed distributions that the core does not bring: what
    a machine with `pip install gitlab-journal` alone does not have."""
    core = core_distributions()
    return frozenset(
        module
        for module, dists in packages_distributions().items()
        if module.isidentifier() and not any(canonicalize_name(d) in core for d in dists)
    )


def journal_tip(repo: Path) -> str:
    return git(repo, "rev-parse", "refs/heads/journal").strip()


def test_the_core_dependencies_alone_train_a_table_and_review_it(repo: Path) -> None:
    missing = outside_the_core()
    assert "pyarrow" in missing and "keras" in missing  # extras, not in the core
    write_table(repo / "data" / "passengers.csv", COLUMNS, passengers())
    (repo / "journal.yaml").write_text(SPEC.replace("clf__C: [0.1, 1.0, 10.0]", "clf__C: 1.0"))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add the passenger table and its spec")

    def ok(*args: str, expect: int = 0) -> str:
        code, out, err = command_without(repo, missing, *args)
        assert code == expect, (args, out, err)
        return out

    ok("init")
    ok("run", "-q")
    assert "Nothing to run" in ok("run")
    ok("check", expect=1)
    runs = json.loads(ok("log", "--json"))
    assert sorted(r["params"]["prep__numbers__impute__strategy"] for r in runs) == [
        "mean",
        "median",
    ]
    assert all(r["status"] == "ok" and 0 < r["metrics"]["accuracy"] <= 1 for r in runs)
    assert "accuracy" in ok("show", runs[0]["id"])
    ok("report", "--html", "report.html")
    assert "prep__numbers__impute__strategy" in ok("export", "--csv")
    ok("new", "--template", "sklearn-classifier", "-o", "iris.yaml")
    ok("run", "-q", "iris.yaml")


@pytest.mark.parametrize(
    "builder", [BUILDER_IMPORTING_KERAS, BUILDER_IMPORTING_KERAS_INSIDE], ids=["top", "inside"]
)
def test_a_keras_spec_without_keras_names_the_extra_and_records_nothing(
    repo: Path, builder: str
) -> None:
    (repo / "models.py").write_text(builder)
    (repo / "journal.yaml").write_text(KERAS_SPEC)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add a Keras spec")
    assert command_without(repo, KERAS, "init")[0] == 0
    before = journal_tip(repo)
    for command in ("check", "run"):
        code, out, err = command_without(repo, KERAS, command)
        assert code == 2, (command, out, err)
        assert "journal.yaml:2: model: " in err and "Keras" in err, err
        assert "pip install 'gitlab-journal[keras]'" in err, err
        assert "Traceback" not in err and "a bug" not in err, err
    assert journal_tip(repo) == before


@pytest.mark.parametrize(
    ("missing", "args", "extra"),
    [
        (("optuna",), ("run", "--search", "optuna", "--trials", "2"), "optuna"),
        (("optuna",), ("suggest", "2"), "optuna"),
        (
            ("distributed", "dask"),
            ("run", "grid.yaml", "--executor", "dask://127.0.0.1:8786"),
            "dask",
        ),
        (("pyarrow", "fastparquet"), ("check", "parquet.yaml"), "parquet"),
    ],
)
def test_an_option_whose_extra_is_missing_names_it(
    repo: Path, missing: tuple[str, ...], args: tuple[str, ...], extra: str
) -> None:
    import pandas as pd

    write_table(repo / "data" / "passengers.csv", COLUMNS, passengers())
    pd.read_csv(repo / "data" / "passengers.csv").to_parquet(repo / "data" / "passengers.parquet")
    (repo / "journal.yaml").write_text(
        "data: sklearn:iris\nmodel:\n  estimator: sklearn.linear_model.LogisticRegression\n"
        "  params:\n    C: {low: 0.01, high: 10, log: true}\nevaluation:\n  cv: 2\n  seed: 0\n"
    )
    (repo / "grid.yaml").write_text(
        "data: sklearn:iris\nmodel:\n  estimator: sklearn.linear_model.LogisticRegression\n"
        "  params:\n    C: [0.1, 1.0]\nevaluation:\n  cv: 2\n  seed: 0\n"
    )
    (repo / "parquet.yaml").write_text(SPEC.replace("passengers.csv", "passengers.parquet"))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add specs")
    assert command_without(repo, missing, "init")[0] == 0
    before = journal_tip(repo)
    code, out, err = command_without(repo, missing, *args)
    assert code == 2, (out, err)
    assert f"pip install 'gitlab-journal[{extra}]'" in err, err
    assert "Traceback" not in err and "a bug" not in err, err
    assert journal_tip(repo) == before
