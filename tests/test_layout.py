"""The package's import rules, read from the source: the journal's format depends on nothing
else of ours, and training is reached through run/ (which every caller that trains uses)."""

from __future__ import annotations

import ast
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


def test_only_run_imports_the_training_back_ends() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in TRAIN_IMPORTERS:
            continue
        if any(name.startswith("gitlab_journal.train") for name in _imports(path)):
            offenders.append(str(relative))
    assert offenders == []
