"""A run records the versions of the packages its model comes from, not only a fixed list."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from conftest import git


def test_the_model_s_own_distribution_is_recorded(
    repo: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    (repo / "journal.yaml").write_text(
        "data: sklearn:iris\nmodel:\n  estimator: sklearn.pipeline.Pipeline\n  steps:\n"
        "    - clf: {estimator: xgboost.XGBClassifier, params: {n_estimators: 5, n_jobs: 1}}\n"
        "evaluation: {cv: 2}\n"
    )
    cli("init")
    code, out, err = cli("run", "-q")
    assert code == 0, (out, err)
    path = next(
        p
        for p in git(repo, "ls-tree", "-r", "--name-only", "journal").split()
        if p.endswith("/run.json")
    )
    packages = json.loads(git(repo, "show", f"journal:{path}"))["environment"]["packages"]
    assert packages["xgboost"] == metadata.version("xgboost")
    assert packages["scikit-learn"] == metadata.version("scikit-learn")
