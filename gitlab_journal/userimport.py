"""Import the user's own code (data loaders, Keras builders, estimator factories and classes)
from their repository's root.

The module is imported afresh, so an edit since the last import is seen, and a module of the
same name imported from elsewhere (another repository, earlier in the same process) is
forgotten rather than used.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from gitlab_journal.errors import JournalError


def owns(root: Path, module_name: str) -> bool:
    """Whether the module ``module_name`` is a file of the repository at ``root``: ``a/b.py``
    or ``a/b/__init__.py`` for ``a.b`` (a folder that merely shares an installed package's
    name, say ``xgboost/`` of results or ``keras/`` of scripts, does not make ``xgboost`` or
    ``keras.layers`` the repository's own)."""
    parts = module_name.split(".")
    if not all(part.isidentifier() for part in parts):
        return False
    *folders, name = parts
    where = root.joinpath(*folders)
    return (where / f"{name}.py").is_file() or (where / name / "__init__.py").is_file()


def module_of(import_path: str) -> str:
    """The module an import path names: ``pkg.make`` of ``pkg.make:build``, ``models`` of the
    class ``models.Wide``."""
    module, sep, _ = import_path.partition(":")
    return module if sep else import_path.rpartition(".")[0]


def module_from_root(root: Path, module_name: str, *, what: str, path: str, where: str = "") -> Any:
    """The module ``module_name`` of the repository at ``root``, imported afresh; a failure
    is a one-line error naming ``path`` (after ``where``, e.g. the spec's line, when given)."""
    prefix = f"{where}: " if where else ""
    try:
        module = _import_module(root, module_name)
    except ImportError as exc:
        raise JournalError(
            f"{prefix}cannot import the {what} {path}: {exc}",
            hint="the module is imported from the repository root",
        ) from exc
    if not _is_under(module, root.resolve()):
        # A spec names the repository's own code; ``os:system`` is not a loader.
        raise JournalError(
            f"{prefix}the {what} {path} is not in this repository: {module_name!r} is "
            f"imported from {getattr(module, '__file__', None) or 'a built-in module'}",
            hint=f"the {what} must come from a module of this repository",
        )
    return module


def import_from_root(root: Path, path: str, *, what: str, where: str = "") -> Any:
    """The callable ``module:attr`` from ``root``; a failure is a one-line error naming it
    (after ``where``, e.g. the spec's line, when given)."""
    prefix = f"{where}: " if where else ""
    module_name, _, attr = path.partition(":")
    module = module_from_root(root, module_name, what=what, path=path, where=where)
    try:
        obj: Any = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError as exc:
        raise JournalError(
            f"{prefix}cannot import the {what} {path}: {exc}",
            hint="the module is imported from the repository root",
        ) from exc
    if not callable(obj):
        raise JournalError(f"{prefix}the {what} {path} is not callable")
    return obj


def _is_under(module: ModuleType, root: Path) -> bool:
    file = getattr(module, "__file__", None)
    if not file:
        return False
    try:
        Path(file).resolve().relative_to(root)
    except ValueError:
        return False
    return True


def _import_module(root: Path, module_name: str) -> ModuleType:
    """Import ``module_name`` from ``root`` afresh, so edits since the last import are seen."""
    root = root.resolve()
    parts = module_name.split(".")
    own = owns(root, module_name)
    sys.path.insert(0, str(root))
    old_dont_write = sys.dont_write_bytecode
    # No __pycache__ in the user's repository, and no stale bytecode from a quick re-edit.
    sys.dont_write_bytecode = True
    try:
        importlib.invalidate_caches()
        if own:
            # A module of this name imported from elsewhere (another repository) would shadow
            # the one in this repository: forget it.
            for i in range(len(parts), 0, -1):
                name = ".".join(parts[:i])
                mod = sys.modules.get(name)
                if mod is not None and not _is_under(mod, root):
                    del sys.modules[name]
        existing = sys.modules.get(module_name)
        if existing is not None and _is_under(existing, root):
            return importlib.reload(existing)
        return importlib.import_module(module_name)
    finally:
        sys.dont_write_bytecode = old_dont_write
        with contextlib.suppress(ValueError):
            sys.path.remove(str(root))
