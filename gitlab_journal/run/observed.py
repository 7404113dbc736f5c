"""The one way a fit that the user's own code ran becomes a record.

A planned point is trained by a back end and built into a record in :mod:`training`; a fit the
journal only watches (``Journal.record`` and ``Journal.run`` of the Python API, the Keras
``JournalCallback``, every autologged ``fit``) is described and recorded here, from what the
caller passes: the model (an import path or an object with ``get_params``), its params, its
inputs (repository paths or in-memory arrays), the code, and what the fit produced.

A fit called from notebook cells keeps their text with its run (``notebook.py``, the cells its
identity names); a code dependency that is the file of a module imported before it changed on
disk is named in the run's warnings: the process runs the code it imported, the identity counts
the file.
"""

from __future__ import annotations

import os
import sys
import weakref
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from types import CodeType, FunctionType, ModuleType
from typing import Any

from gitlab_journal.code.patch import working_patch
from gitlab_journal.code.state import code_state
from gitlab_journal.data.hashing import hash_cache, hash_input
from gitlab_journal.errors import JournalError
from gitlab_journal.journal.format import NOTEBOOK_FILE, PATCH_FILE, check_notebook
from gitlab_journal.journal.identity import fingerprint, normalise, public_path
from gitlab_journal.journal.records import UNFINISHED, CodeState, Run, new_run_id
from gitlab_journal.journal.schema import InvalidRecord
from gitlab_journal.journal.store import Store
from gitlab_journal.run.environment import environment
from gitlab_journal.spec.model import DEFAULT_CODE_GLOBS


@dataclass(frozen=True)
class Fit:
    """What identifies one observed fit: the caller's description, as :func:`describe` takes
    it. ``settings``: more of the model's identity that is not a param to show (a Keras
    model's architecture, compile and fit configuration); ``caller``: code outside the
    ``code`` globs that ran the fit (an autologged script or notebook's cells), name ->
    content id."""

    model: Any
    params: Mapping[str, Any] | None = None
    data: Mapping[str, Any] | None = None
    evaluation: Mapping[str, Any] | None = None
    code: Sequence[str] = DEFAULT_CODE_GLOBS
    settings: Mapping[str, Any] | None = None
    caller: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Described:
    """An observed fit's identity, and the parts of it its record shows."""

    model: str
    params: dict[str, Any]
    identity: dict[str, Any]
    data: dict[str, str]
    code: CodeState

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.identity)


def describe(store: Store, root: Path, fit: Fit) -> Described:
    """The identity of ``fit`` in the repository at ``root``, with the code as it is now."""
    path, resolved = _model(fit.model, fit.params)
    hashes = _data(store, root, fit.data)
    state = code_state(store.repo, fit.code)
    model_identity: dict[str, Any] = {
        "kind": "custom",
        "class": path,
        "params": normalise(resolved),
    }
    if fit.settings is not None:
        model_identity["settings"] = normalise(fit.settings)
    identity: dict[str, Any] = {
        "model": model_identity,
        "data": hashes,
        "evaluation": normalise(dict(fit.evaluation or {})),
        "code": {"files": dict(state.files)},
    }
    if fit.caller:
        identity["code"]["caller"] = dict(fit.caller)
    return Described(path, resolved, identity, hashes, state)


def earlier(store: Store, fingerprint: str) -> list[Run]:
    """The runs of one experiment that make a new fit of it a duplicate, oldest first."""
    return [run for run in store.find(fingerprint) if run.status not in UNFINISHED]


def duplicate_message(
    earlier: Sequence[Run], *, model: str | None = None, shown: Collection[str] | None = None
) -> str:
    """What a duplicate fit is told: the last earlier run, its date and its metrics (those
    named in ``shown``, or all), after the model's name when given."""
    last = earlier[-1]
    values = ", ".join(
        f"{k}={v:.4g}" for k, v in sorted(last.metrics.items()) if shown is None or k in shown
    )
    return (
        (f"{model}: " if model else "")
        + f"this experiment already ran: run {last.id}, {last.status} on {last.created[:10]}"
        + (f" ({values})" if values else "")
        + (f"; {len(earlier)} runs in all" if len(earlier) > 1 else "")
    )


def record(
    store: Store,
    root: Path,
    fit: Fit,
    *,
    metrics: Mapping[str, float] | None = None,
    status: str = "ok",
    notes: Mapping[str, str] | None = None,
    error: str | None = None,
    name: str | None = None,
    files: Mapping[str, bytes] | None = None,
    kind: str = "custom",
    warnings: Sequence[str] = (),
) -> Run:
    """Record ``fit`` as one run with what it produced; returns it with its journal commit."""
    described = describe(store, root, fit)
    state = described.code
    # The uncommitted changes, so `git journal checkout RUN` gives back the code as it ran.
    patch = working_patch(store.repo, fit.code, exclude=_data_paths(root, fit.data))
    extra = dict(files or {})
    if patch:
        state = replace(state, patch=PATCH_FILE, untracked=patch.untracked)
        extra[PATCH_FILE] = patch.data
    told = list(warnings)
    cells, problem = _notebook_file(described.identity)
    if cells is not None:
        extra[NOTEBOOK_FILE] = cells
    elif problem is not None:
        told.append(problem)
    if store.workdir is not None:
        for line in stale_modules(store.workdir, state.files):
            _warn(line)
            told.append(line)
    run = Run(
        id=new_run_id(),
        fingerprint=described.fingerprint,
        identity=described.identity,
        model=described.model,
        kind=kind,
        params=normalise(described.params),
        point=normalise(dict(fit.params or {})),
        data=described.data,
        evaluation=described.identity["evaluation"],
        code=state,
        metrics={k: float(v) for k, v in (metrics or {}).items()},
        status=status,
        environment=environment(),
        notes=dict(notes or {}),
        error=error,
        name=name,
        warnings=tuple(told),
    )
    return store.record(run, extra)


def _notebook_file(identity: Mapping[str, Any]) -> tuple[bytes | None, str | None]:
    """The ``notebook.py`` of a run whose identity names notebook cells whose text this process
    made (:func:`gitlab_journal.autologging.notebook_text`), checked as a reader checks it;
    else None, and what the run's warnings say about it (None when there is nothing to
    say)."""
    caller = identity.get("code", {}).get("caller") or {}
    blob = caller.get("notebook")
    if not isinstance(blob, str):
        return None, None
    from gitlab_journal.autologging import notebook_text

    text = notebook_text(blob)
    if text is None:
        return None, None  # cells named by the caller itself, not made here
    data = text.encode("utf-8")
    try:
        check_notebook(data, identity)
    except InvalidRecord as exc:
        return None, f"the notebook cells the run counts are not kept with it: {exc.problem}"
    return data, None


def _warn(message: str) -> None:
    from gitlab_journal.autologging import AutologWarning, warn_caller

    warn_caller(message, AutologWarning)


# -- modules changed on disk after they were imported ----------------------------------------

# An imported module's file as a fit first found it still the code the module was loaded
# from: the module's spec (a new one each reload) -> (a weak reference to it, the file's
# content id then). A later fit that finds another content id there, the module not
# reloaded, runs code its file no longer holds.
_loaded: dict[int, tuple[weakref.ref[Any], str]] = {}


def stale_modules(root: Path, files: Mapping[str, str]) -> list[str]:
    """A line naming each imported module whose file, one of the code dependencies ``files``
    (repository path -> content id, as on disk now), changed on disk after the module was
    imported and was not reloaded since: the process runs the code it imported, but the run
    counts the file as it is on disk."""
    loaded = _repository_modules(root, files)
    lines = []
    for path, (name, module) in sorted(loaded.items()):
        if _changed_since_loaded(module, root / path, files[path]):
            lines.append(
                f"module {name} ({path}) changed on disk after it was imported: this process "
                f"runs the code it imported, but the run counts {path} as it is on disk; "
                f"importlib.reload({name}) (or a restart) runs the new code"
            )
    return lines


def _repository_modules(root: Path, files: Mapping[str, str]) -> dict[str, tuple[str, Any]]:
    """The imported modules whose file is one of ``files``: repository path -> (name, module).
    Only module files under ``root`` (as given or resolved) are looked at further."""
    prefixes = tuple({str(root) + os.sep, os.path.realpath(root) + os.sep})
    found: dict[str, tuple[str, Any]] = {}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not isinstance(file, str) or not file.startswith(prefixes) or name == "__main__":
            continue
        for prefix in prefixes:
            if file.startswith(prefix):
                path = file[len(prefix) :].replace(os.sep, "/")
                if path in files:
                    found.setdefault(path, (name, module))
                break
    return found


def _changed_since_loaded(module: ModuleType, file: Path, content: str) -> bool:
    """Whether ``file`` (its content id now: ``content``) is not what ``module`` was loaded
    from: another content than a fit found there while the module stayed loaded; else, when
    first looked at, functions and methods of the module that the file's code does not
    hold."""
    spec = getattr(module, "__spec__", None)
    if spec is None:
        return False
    known = _loaded.get(id(spec))
    if known is not None and known[0]() is spec:
        if known[1] != content and _autoreloading():
            # IPython's %autoreload reloads a changed module before each cell runs (and says
            # so itself when it cannot): the code that runs is the file's
            _loaded[id(spec)] = (known[0], content)
            return False
        return known[1] != content
    changed = not _autoreloading() and _code_differs(module, file)
    if not changed:
        key = id(spec)

        def forget(ref: weakref.ref[Any], key: int = key) -> None:
            if _loaded.get(key, (None,))[0] is ref:
                del _loaded[key]

        _loaded[key] = (weakref.ref(spec, forget), content)
    return changed


def _autoreloading() -> bool:
    """Whether IPython's autoreload extension is loaded in this kernel."""
    if "IPython.extensions.autoreload" not in sys.modules:
        return False
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    loaded = getattr(getattr(shell, "extension_manager", None), "loaded", ())
    return "autoreload" in loaded or "IPython.extensions.autoreload" in loaded


def _code_differs(module: ModuleType, file: Path) -> bool:
    """Whether a function or method the module defined is not in the code the file compiles
    to now (equal code objects: the same bytecode, names, constants and lines). A file that
    no longer compiles differs; a module whose functions all match is taken as loaded from
    it."""
    try:
        compiled = compile(file.read_bytes(), str(file), "exec", dont_inherit=True)
    except (OSError, SyntaxError, ValueError):
        return True
    held = set(_nested(compiled))
    return any(code not in held for code in _module_code(module))


def _nested(code: CodeType) -> Iterator[CodeType]:
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield const
            yield from _nested(const)


def _module_code(module: ModuleType) -> Iterator[CodeType]:
    """The code of the functions, and of the methods of the classes, that ``module`` itself
    defined (compiled from its file), unwrapped from decorators and from autolog's wrappers."""
    file = getattr(module, "__file__", None)
    todo: list[Any] = list(vars(module).values())
    seen: set[int] = set()
    while todo:
        value = todo.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, type):
            if value.__module__ == module.__name__:
                todo.extend(vars(value).values())
            continue
        yield from _function_codes(value, file)


def _function_codes(value: Any, file: str | None) -> Iterator[CodeType]:
    """The code compiled from ``file`` of the function ``value`` is (a static or class method's,
    a property's getter), and of each function it wraps (``__wrapped__``, set by
    ``functools.wraps``): a decorator's wrapper and what it decorated. Attributes are looked
    up statically: no code of a value's own runs."""
    import inspect

    if isinstance(value, staticmethod | classmethod):
        value = value.__func__
    elif isinstance(value, property):
        value = value.fget
    for _ in range(8):
        if value is None:
            return
        if isinstance(value, FunctionType) and value.__code__.co_filename == file:
            yield value.__code__
        value = inspect.getattr_static(value, "__wrapped__", None)


def _model(model: Any, params: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    if isinstance(model, str):
        return model, dict(params or {})
    if hasattr(model, "get_params"):
        resolved = dict(model.get_params(deep=True))
        resolved.update(params or {})
        return public_path(type(model)), resolved
    raise JournalError("model must be an import path or an object with get_params()")


def _data(store: Store, root: Path, data: Mapping[str, Any] | None) -> dict[str, str]:
    """Each input's md5: a repository path (file or folder), or in-memory arrays such as
    ``(X, y)`` (hashed by dtype, shape and bytes)."""
    cache = hash_cache(store.cache_dir())
    out: dict[str, str] = {}
    for name, path in (data or {}).items():
        if not isinstance(path, str | Path):
            out[name] = arrays_md5(path)
            continue
        rel = Path(path)
        if rel.is_absolute():
            try:
                rel = rel.relative_to(root)
            except ValueError as exc:
                raise JournalError(f"data {name}: {path} is outside the repository") from exc
        out[name] = hash_input(root, rel.as_posix(), cache)
    return out


def _data_paths(root: Path, data: Mapping[str, Any] | None) -> list[str]:
    """The repository paths among ``data`` (kept out of the code patch)."""
    out: list[str] = []
    for path in (data or {}).values():
        if isinstance(path, str | Path):
            full = Path(path) if Path(path).is_absolute() else root / path
            with suppress(ValueError):
                out.append(full.relative_to(root).as_posix())
    return out


def arrays_md5(value: Any) -> str:
    """The md5 of in-memory data: an array, or a tuple or list of arrays, by dtype, shape and
    bytes. What numpy cannot turn into an array of numbers (a DataFrame with text columns, a
    sparse matrix) is hashed by :func:`gitlab_journal.data.values.value_md5`; what it can keeps
    the hash it always had, so recorded runs keep their fingerprints."""
    import hashlib

    import numpy as np

    from gitlab_journal.data.values import Digest, value_md5

    if isinstance(value, Digest):
        return value.md5
    items = value if isinstance(value, tuple | list) else (value,)
    arrays = [np.ascontiguousarray(np.asarray(item)) for item in items]
    if any(array.dtype.kind == "O" for array in arrays):
        return value_md5(value)
    digest = hashlib.md5()
    for array in arrays:
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
