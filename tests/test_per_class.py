"""The per-class figures a classifier's run keeps are scikit-learn's, counted with numpy."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import precision_recall_fscore_support

from gitlab_journal.train.sklearn_backend import per_class


@pytest.mark.parametrize("seed", range(12))
def test_per_class_equals_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    names = np.array(["setosa", "versicolor", "virginica", "x"])
    y = rng.integers(0, 4, 60)
    if seed % 3 == 0:
        y = names[y]  # string labels stay strings
    truth = rng.permutation(y)[:40]
    predicted = rng.choice(np.unique(y)[: 2 + seed % 3], 40)  # some classes never predicted
    if seed % 4 == 1:
        truth = truth[truth != truth[0]]  # a class of y missing from the held-out part
        predicted = predicted[: len(truth)]
    got = per_class(truth, predicted, y)
    labels = np.unique(y)
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=labels, zero_division=0
    )
    assert got["labels"] == [label.item() for label in labels]
    assert got["classes"] == [
        {
            "label": label.item(),
            "precision": float(p),
            "recall": float(r),
            "f1": float(f),
            "support": int(n),
        }
        for label, p, r, f, n in zip(labels, precision, recall, f1, support, strict=True)
    ]
