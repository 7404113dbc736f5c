"""The passenger table the table tests train on: strings, blank cells and missing ages, and the
issue's spec for it (the README shows it too)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

SPEC = """\
data:
  path: data/passengers.csv
  target: survived
model:
  estimator: sklearn.pipeline.Pipeline
  steps:
    - prep:
        estimator: sklearn.compose.ColumnTransformer
        transformers:
          - name: numbers
            columns: [age, fare]
            steps:
              - impute: {estimator: sklearn.impute.SimpleImputer, params: {strategy: median}}
              - scale: sklearn.preprocessing.StandardScaler
          - name: categories
            columns: [sex, embarked, pclass]
            estimator: sklearn.preprocessing.OneHotEncoder
            params: {handle_unknown: ignore}
    - clf: sklearn.linear_model.LogisticRegression
  params:
    clf__C: [0.1, 1.0, 10.0]
    prep__numbers__impute__strategy: [mean, median]
evaluation:
  cv: 5
  scoring: [accuracy, roc_auc]
  seed: 0
"""

# A gradient booster that takes the text columns as categories.
HGB_SPEC = """\
data:
  path: data/passengers.csv
  target: survived
  dtypes: {sex: category, embarked: category}
model:
  estimator: sklearn.ensemble.HistGradientBoostingClassifier
  params: {max_iter: 20, categorical_features: from_dtype}
evaluation:
  cv: 5
  seed: 0
"""


COLUMNS = ["sex", "embarked", "age", "fare", "pclass", "survived"]


def passengers(n: int = 80, seed: int = 0) -> list[list[Any]]:
    """Rows of a small passenger table: strings, blank ``embarked`` cells, missing ages."""
    rng = np.random.default_rng(seed)
    rows: list[list[Any]] = []
    for _ in range(n):
        sex = str(rng.choice(["male", "female"]))
        pclass = int(rng.choice([1, 2, 3]))
        embarked = str(rng.choice(["S", "C", "Q", ""]))
        age = "" if rng.random() < 0.2 else f"{rng.uniform(1, 70):.1f}"
        fare = f"{rng.gamma(2, 15) * (4 - pclass):.2f}"
        chance = 0.2 + 0.5 * (sex == "female") + 0.1 * (pclass == 1)
        rows.append([sex, embarked, age, fare, pclass, int(rng.random() < chance)])
    return rows


def write_table(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
