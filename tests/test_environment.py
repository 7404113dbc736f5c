"""A run records the versions of the packages its model comes from, not only a fixed list."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from conftest import git

from gitlab_journal.run.environment import PACKAGES, environment


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


def _scanned(modules: list[str]) -> set[str]:
    """The distributions a full scan of the installed ones names, and those of PACKAGES."""
    provided = metadata.packages_distributions()
    names = {"gitlab-journal"}
    for name in PACKAGES:
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        names.add(name)
    for path in modules:
        names.update(provided.get(path.partition(":")[0].split(".")[0], ()))
    return names


def test_recorded_packages_are_those_a_full_scan_names() -> None:
    modules = [
        "sklearn.dummy.DummyClassifier",
        "ruamel.yaml:YAML",
        "json.JSONDecoder",
        "numpy.linalg.norm",
        "gitlab_journal.identity.normalise",
        "pygit2.Repository",
    ]
    packages = environment(modules)["packages"]
    assert set(packages) == _scanned(modules)
    assert {"scikit-learn", "ruamel.yaml", "pygit2"} <= set(packages)
    assert packages["scikit-learn"] == metadata.version("scikit-learn")
