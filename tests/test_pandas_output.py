"""A model block's ``transform_output: pandas``: its transformers hand DataFrames on (scikit-
learn's ``set_output``), so a column transformer can pass category columns to a gradient booster
that takes them by dtype. Without it the booster gets a plain array, where the categories are
lost: that stops before training, with the key that fixes it in the hint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import git
from helpers import Cli, logged, planned
from helpers.passengers import COLUMNS, SPEC, passengers, write_table

pytestmark = pytest.mark.slow  # real training on the passenger table

BOOSTED = """\
data:
  path: data/passengers.csv
  target: survived
  dtypes: {sex: category, embarked: category}
model:
  estimator: sklearn.pipeline.Pipeline
  transform_output: pandas
  steps:
    - prep:
        estimator: sklearn.compose.ColumnTransformer
        transformers:
          - name: numbers
            columns: [age, fare]
            estimator: sklearn.impute.SimpleImputer
          - name: categories
            columns: [sex, embarked]
            estimator: passthrough
    - clf:
        estimator: sklearn.ensemble.HistGradientBoostingClassifier
        params: {categorical_features: from_dtype, max_iter: 10}
  params:
    clf__learning_rate: [0.1, 0.3]
evaluation:
  cv: 5
  scoring: [accuracy]
  seed: 0
"""
PLAIN = BOOSTED.replace("  transform_output: pandas\n", "")


@pytest.fixture
def table(repo: Path, cli: Cli) -> Path:
    write_table(repo / "data" / "passengers.csv", COLUMNS, passengers())
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add the passenger table")
    assert cli("init")[0] == 0
    return repo


def _reference(repo: Path, learning_rate: float) -> Any:
    """scikit-learn's own cross_validate of the same pipeline, with set_output(pandas)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import StratifiedKFold, cross_validate
    from sklearn.pipeline import Pipeline

    frame = pd.read_csv(repo / "data" / "passengers.csv")
    frame = frame.astype({"sex": "category", "embarked": "category"})
    X, y = frame.drop(columns="survived"), frame["survived"].to_numpy()
    prep = ColumnTransformer(
        [
            ("numbers", SimpleImputer(), ["age", "fare"]),
            ("categories", "passthrough", ["sex", "embarked"]),
        ]
    )
    booster = HistGradientBoostingClassifier(
        categorical_features="from_dtype", max_iter=10, learning_rate=learning_rate, random_state=0
    )
    model = Pipeline([("prep", prep), ("clf", booster)]).set_output(transform="pandas")
    return cross_validate(model, X, y, cv=StratifiedKFold(5), scoring="accuracy")


def test_categories_reach_the_booster_through_a_column_transformer(table: Path, cli: Cli) -> None:
    (table / "journal.yaml").write_text(BOOSTED)

    code, _, err = cli("run", "-q")

    assert code == 0, err
    runs = logged(cli)
    assert sorted(r["params"]["clf__learning_rate"] for r in runs) == [0.1, 0.3]
    for run in runs:
        assert run["status"] == "ok", run
        folds = np.asarray(_reference(table, run["params"]["clf__learning_rate"])["test_score"])
        assert run["metrics"]["accuracy"] == float(folds.mean())  # to the last digit
        assert run["metrics"]["accuracy_std"] == float(folds.std())
    assert cli("check")[0] == 1  # a re-run trains nothing


def test_without_pandas_output_the_booster_is_refused_with_the_fix(table: Path, cli: Cli) -> None:
    (table / "journal.yaml").write_text(PLAIN)
    before = git(table, "rev-parse", "journal")

    for command in ("check", "run"):
        code, _, err = cli(command)

        assert code == 2, err
        first, hint = err.strip().splitlines()[:2]
        assert first.startswith("error: journal.yaml:5: model: column 'sex' (and 'embarked') ")
        assert "reaches step 'clf' (HistGradientBoostingClassifier)" in first
        assert "transform_output: pandas" in hint, err
    assert git(table, "rev-parse", "journal") == before


def test_categories_an_imputer_fills_with_strings_are_refused_with_the_fix(
    table: Path, cli: Cli
) -> None:
    """SimpleImputer returns text for a category column, DataFrame or not."""
    imputed = BOOSTED.replace(
        "            estimator: passthrough\n",
        "            estimator: sklearn.impute.SimpleImputer\n"
        "            params: {strategy: most_frequent}\n",
    )
    (table / "journal.yaml").write_text(imputed)
    before = git(table, "rev-parse", "journal")

    code, _, err = cli("check")

    assert code == 2, err
    first, hint = err.strip().splitlines()[:2]
    assert "column 'sex' (and 'embarked') holds categories, e.g. " in first
    assert "reaches step 'clf' (HistGradientBoostingClassifier) as text" in first
    assert hint.startswith("hint: an imputer before 'clf' fills it with strings: pass category")
    assert git(table, "rev-parse", "journal") == before


def test_pandas_output_is_part_of_the_identity(table: Path, cli: Cli) -> None:
    """Only when it changes what the model sees: `default` is the same experiment as none."""
    spec = SPEC.replace("clf__C: [0.1, 1.0, 10.0]", "clf__C: 1.0")
    (table / "journal.yaml").write_text(spec)
    plain = planned(cli)
    (table / "journal.yaml").write_text(
        spec.replace("  steps:\n", "  transform_output: default\n  steps:\n", 1)
    )
    assert planned(cli) == plain
    (table / "journal.yaml").write_text(
        spec.replace("  steps:\n", "  transform_output: pandas\n  steps:\n", 1)
    )
    pandas_output = planned(cli)
    assert len(pandas_output) == 2 and not set(pandas_output) & set(plain)


@pytest.mark.parametrize(
    ("block", "line", "named"),
    [
        ("  estimator: sklearn.pipeline.Pipeline\n  transform_output: polars\n", 6, "'polars'"),
        ("  estimator: sklearn.pipeline.Pipeline\n  transform_output: [pandas]\n", 6, "pandas"),
    ],
)
def test_a_bad_transform_output_names_its_line(
    table: Path, cli: Cli, block: str, line: int, named: str
) -> None:
    (table / "journal.yaml").write_text(
        SPEC.replace("  estimator: sklearn.pipeline.Pipeline\n", block)
    )
    code, _, err = cli("check")
    assert code == 2, err
    assert err.startswith(f"error: journal.yaml:{line}: model.transform_output: "), err
    assert named in err.splitlines()[0]


def test_a_model_without_set_output_is_refused(table: Path, cli: Cli) -> None:
    (table / "journal.yaml").write_text(
        "data: {path: data/passengers.csv, columns: [fare, pclass]}\n"
        "model:\n"
        "  estimator: sklearn.linear_model.LogisticRegression\n"
        "  transform_output: pandas\n"
    )
    code, _, err = cli("check")
    assert code == 2, err
    first = err.splitlines()[0]
    assert first.startswith("error: journal.yaml:2: model: "), err
    assert "LogisticRegression" in first and "set_output" in first
    assert logged(cli) == []
