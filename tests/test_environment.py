"""A run records the versions of the distributions its model comes from."""

from __future__ import annotations

from importlib import metadata

from gitlab_journal.run.environment import PACKAGES, environment


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
