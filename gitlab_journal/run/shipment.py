"""What a Dask worker that shares no files with the client is sent: the data and the code.

The client loads and hashes the data once (as for any run: the fingerprint is the client's),
and collects the repository's own modules the spec imports (estimators such as ``models.Slow``,
factories, a loader): each top-level module of the repository root, a ``name.py`` file or a
``name/`` package, with every ``.py`` file under it. Both travel as one :class:`Shipment`,
scattered to every worker once per grid. A worker writes the modules into a folder of its own
(once per shipment), imports them from there, and trains on the data it was sent: neither the
repository nor its path needs to exist on the worker's machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from gitlab_journal.errors import JournalError
from gitlab_journal.userimport import module_of, owns

MAX_CODE_BYTES = 20 * 1024 * 1024  # the modules sent to each worker, all together
SKIPPED = {"__pycache__", ".git", ".venv", "venv", "node_modules", "site-packages"}


@dataclass(frozen=True)
class Shipment:
    """The data of a grid's points and the repository modules they import."""

    X: Any
    y: Any
    files: Mapping[str, bytes]  # repository path -> content: the modules' .py files

    @property
    def key(self) -> str:
        digest = hashlib.sha256()
        for name in sorted(self.files):
            digest.update(name.encode() + b"\0" + hashlib.sha256(self.files[name]).digest())
        return digest.hexdigest()[:16]

    @property
    def tops(self) -> set[str]:
        return {PurePosixPath(name).parts[0].removesuffix(".py") for name in self.files}


def repository_modules(root: Path, import_paths: Iterable[str]) -> dict[str, bytes]:
    """The ``.py`` files of the repository's own top-level modules that ``import_paths``
    (``models.Slow``, ``pkg.make:build``) name, by repository path."""
    files: dict[str, bytes] = {}
    for path in import_paths:
        module = module_of(path)
        if not owns(root, module):
            continue  # an installed package's (sklearn.svm.SVC), whatever the root holds
        top = module.split(".")[0]
        single = root / f"{top}.py"
        if single.is_file():
            files[f"{top}.py"] = single.read_bytes()
        elif (root / top).is_dir():
            for found in sorted((root / top).rglob("*.py")):
                relative = found.relative_to(root)
                if not SKIPPED.intersection(relative.parts) and found.is_file():
                    files[relative.as_posix()] = found.read_bytes()
    size = sum(len(data) for data in files.values())
    if size > MAX_CODE_BYTES:
        raise JournalError(
            f"the repository modules the spec imports are {size // 1024 // 1024} MB: more than "
            f"the {MAX_CODE_BYTES // 1024 // 1024} MB sent to Dask workers",
            hint="keep data out of the modules' folders, or run on workers that share the "
            "repository's file system",
        )
    return files


_lock = threading.Lock()
_current: dict[str, Any] = {}  # the shipment whose modules this worker imports now


def unpacked(shipment: Shipment) -> Path:
    """The folder of this worker holding ``shipment``'s modules, first in ``sys.path``; the
    modules of an earlier shipment of the same names are forgotten, so an edit is seen."""
    with _lock:
        if _current.get("key") == shipment.key:
            return Path(_current["folder"])
        folder = Path(tempfile.mkdtemp(prefix=f"gitlab-journal-code-{shipment.key}-"))
        for name, data in shipment.files.items():
            relative = PurePosixPath(name)
            if relative.is_absolute() or ".." in relative.parts:
                raise JournalError(f"a shipped module has an unsafe path: {name!r}")
            target = folder.joinpath(*relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        before = _current.get("folder")
        if before is not None:
            with contextlib.suppress(ValueError):
                sys.path.remove(before)
            shutil.rmtree(before, ignore_errors=True)
        tops = shipment.tops | set(_current.get("tops", ()))
        for module in [m for m in sys.modules if m.split(".")[0] in tops]:
            del sys.modules[module]
        sys.path.insert(0, str(folder))
        _current.update(key=shipment.key, folder=str(folder), tops=sorted(shipment.tops))
        return folder


def run_shipped(job: Any, shipment: Shipment) -> Any:
    """Train ``job`` (an executors.Job) on a worker from what the client sent."""
    from gitlab_journal.run import executors

    folder = unpacked(shipment)
    options = job.options
    here = replace(
        job,
        root=str(folder),
        options=replace(options, root=folder) if options is not None else None,
    )
    executors.remember_data(here, (shipment.X, shipment.y))
    return executors.run_job(here)
