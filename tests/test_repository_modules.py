"""Which modules are the repository's own: the files a spec's import paths name at its root.
A folder that only shares an installed package's name (``keras/`` of scripts, ``sklearn/`` of
notes) is never shipped to Dask workers, never imported in the package's place, and never makes
an installed package be forgotten and imported a second time."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gitlab_journal.errors import JournalError
from gitlab_journal.run.shipment import repository_modules
from gitlab_journal.userimport import import_from_root, module_of, owns


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A repository root: its own modules beside folders named like installed packages."""
    (tmp_path / "models.py").write_text("class Wide: ...\n")
    (tmp_path / "pipelines").mkdir()  # a namespace package: no __init__.py
    (tmp_path / "pipelines" / "load.py").write_text("def load(): ...\n")
    (tmp_path / "keras").mkdir()
    (tmp_path / "keras" / "experiment.py").write_text("print('a script, not keras')\n")
    (tmp_path / "sklearn").mkdir()
    (tmp_path / "sklearn" / "notes.py").write_text("# last week's runs\n")
    return tmp_path


def test_only_the_modules_the_paths_name_are_the_repositorys(root: Path) -> None:
    assert owns(root, "models") and owns(root, "pipelines.load")
    assert not owns(root, "keras.layers") and not owns(root, "sklearn.linear_model")
    assert not owns(root, "keras") and not owns(root, "sklearn")  # folders, no module files
    assert module_of("models.Wide") == "models"
    assert module_of("pipelines.load:load") == "pipelines.load"


def test_dask_workers_are_sent_the_repositorys_modules_only(root: Path) -> None:
    paths = [
        "sklearn.pipeline.Pipeline",
        "sklearn.linear_model.LogisticRegression",
        "keras.layers.Dense",
        "models.Wide",
        "pipelines.load:load",
    ]

    files = repository_modules(root, paths)

    assert sorted(files) == ["models.py", "pipelines/load.py"]


def test_a_loader_named_in_an_installed_package_leaves_it_imported(root: Path) -> None:
    import sklearn.datasets

    before = sys.modules["sklearn"], sys.modules["sklearn.datasets"]

    with pytest.raises(JournalError, match="not in this repository"):
        import_from_root(root, "sklearn.datasets:load_iris", what="data loader")

    assert (sys.modules["sklearn"], sys.modules["sklearn.datasets"]) == before
    assert sklearn.datasets is before[1]
