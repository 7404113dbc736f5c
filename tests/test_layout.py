"""The package's import rules, read from the source: the journal's format depends on nothing
else of ours, and training is reached through run/ (which every caller that trains uses)."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "gitlab_journal"
TRAIN_IMPORTERS = ("run", "train")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("gitlab_journal")}


def test_the_journal_package_imports_only_itself_and_the_errors() -> None:
    allowed = ("gitlab_journal.journal", "gitlab_journal.errors", "gitlab_journal.__version__")
    for path in sorted((PACKAGE / "journal").glob("*.py")):
        for name in _imports(path):
            if name == "gitlab_journal":
                continue
            assert name.startswith(allowed), f"{path.name} imports {name}"


def _offenders(checked: Callable[[str], bool], wrong: Callable[[str], bool]) -> list[str]:
    """``module imports name`` for each import ``wrong`` refuses in the package's modules
    whose top folder or file ``checked`` takes."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if checked(relative.parts[0]):
            found += [f"{relative} imports {name}" for name in _imports(path) if wrong(name)]
    return found


def test_only_run_imports_the_training_back_ends() -> None:
    offenders = _offenders(
        lambda top: top not in TRAIN_IMPORTERS, lambda name: name.startswith("gitlab_journal.train")
    )
    assert offenders == []


# DESIGN.md's arrows: commands -> run / review / remote / search / reproduce -> journal, spec,
# data, identity. The layers below never reach up, and only the entry points reach commands/.
LOWER = ("journal", "spec", "data", "code", "train")
UPPER = (
    *("commands", "run", "review", "remote", "search", "reproduce", "web", "hooks", "cli"),
    *("api", "autologging", "keras", "current"),
)
ENTRY_POINTS = ("commands", "cli.py", "__main__.py")


def _layer(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_layers_below_never_import_the_layers_above() -> None:
    assert _offenders(lambda top: top in LOWER, lambda name: _layer(name) in UPPER) == []


def test_only_the_entry_points_import_the_commands() -> None:
    offenders = _offenders(lambda top: top not in ENTRY_POINTS, lambda n: _layer(n) == "commands")
    assert offenders == []
