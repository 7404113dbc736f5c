"""Finding the spec file and the repository root, without parsing anything."""

from __future__ import annotations

import os
from pathlib import Path

from gitlab_journal.spec.model import DEFAULT_SPEC


def repo_root(start: Path) -> Path:
    """The directory holding the nearest enclosing ``.git`` above ``start`` (else ``start``)."""
    start = Path(os.path.normpath(start.absolute()))
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory
    return start


def find_spec(path_arg: str | None, cwd: Path) -> Path:
    """The spec a command should read.

    With no argument: ``journal.yaml`` in ``cwd``, else the one at the repository root, else
    ``cwd/journal.yaml`` (which :func:`load_spec` reports as missing). A directory argument means
    the ``journal.yaml`` inside it.
    """
    if path_arg is not None:
        path = cwd / path_arg
        return path / DEFAULT_SPEC if path.is_dir() else path
    here = cwd / DEFAULT_SPEC
    if here.is_file():
        return here
    at_root = repo_root(cwd) / DEFAULT_SPEC
    return at_root if at_root.is_file() else here
