"""The Python API for notebooks and users' own training code.

from gitlab_journal import Journal

journal = Journal(".")
with journal.run(model="my.Net", params={"lr": 0.01}, data={"train": "data/train.csv"}) as run:
    ...  # train
    run.log_metrics({"accuracy": 0.93})
journal.runs(model="my.Net")
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gitlab_journal.code.patch import working_patch
from gitlab_journal.code.state import code_state
from gitlab_journal.data.hashing import hash_cache, hash_input
from gitlab_journal.errors import CheckFailed, JournalError
from gitlab_journal.journal.format import PATCH_FILE
from gitlab_journal.journal.identity import fingerprint, normalise, public_path
from gitlab_journal.journal.records import Run, new_run_id
from gitlab_journal.journal.store import Store
from gitlab_journal.spec.model import DEFAULT_CODE_GLOBS

TRACEBACK_LINES = 15


@dataclass
class ActiveRun:
    """The run inside ``with journal.run(...)``: log metrics; it is recorded when the block ends."""

    fingerprint: str
    earlier: list[Run]
    metrics: dict[str, float] = field(default_factory=dict)
    status: str = "ok"
    record: Run | None = None

    def log_metric(self, name: str, value: float) -> None:
        self.metrics[name] = float(value)

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        for name, value in metrics.items():
            self.log_metric(name, value)

    @property
    def is_duplicate(self) -> bool:
        return bool(self.earlier)


class Journal:
    """The journal of the git repository containing ``path``."""

    def __init__(self, path: str | Path = ".", *, branch: str | None = None, create: bool = True):
        self.store = Store.discover(path, branch)
        if create and not self.store.exists():
            self.store.init()
        self.root = self.store.workdir or Path(path)

    # -- identity --------------------------------------------------------------------------

    def _model(self, model: Any, params: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
        if isinstance(model, str):
            return model, dict(params or {})
        if hasattr(model, "get_params"):
            resolved = dict(model.get_params(deep=True))
            resolved.update(params or {})
            return public_path(type(model)), resolved
        raise JournalError("model must be an import path or an object with get_params()")

    def _data(self, data: Mapping[str, Any] | None) -> dict[str, str]:
        """Each input's md5: a repository path (file or folder), or in-memory arrays such as
        ``(X, y)`` (hashed by dtype, shape and bytes)."""
        cache = hash_cache(self.store.cache_dir())
        out: dict[str, str] = {}
        for name, path in (data or {}).items():
            if not isinstance(path, str | Path):
                out[name] = _arrays_md5(path)
                continue
            rel = Path(path)
            if rel.is_absolute():
                try:
                    rel = rel.relative_to(self.root)
                except ValueError as exc:
                    raise JournalError(f"data {name}: {path} is outside the repository") from exc
            out[name] = hash_input(self.root, rel.as_posix(), cache)
        return out

    def identity(
        self,
        *,
        model: Any,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        evaluation: Mapping[str, Any] | None = None,
        code: Sequence[str] = DEFAULT_CODE_GLOBS,
        settings: Mapping[str, Any] | None = None,
        caller: Mapping[str, str] | None = None,
    ) -> tuple[str, dict[str, Any], dict[str, Any], dict[str, str], Any]:
        """``settings``: more of the model's identity that is not a param to show (a Keras
        model's architecture, compile and fit configuration). ``caller``: code outside the
        ``code`` globs that ran the experiment (an autologged script or notebook's cells), name
        -> content id."""
        path, resolved = self._model(model, params)
        hashes = self._data(data)
        state = code_state(self.store.repo, code)
        model_identity: dict[str, Any] = {
            "kind": "custom",
            "class": path,
            "params": normalise(resolved),
        }
        if settings is not None:
            model_identity["settings"] = normalise(settings)
        identity = {
            "model": model_identity,
            "data": hashes,
            "evaluation": normalise(dict(evaluation or {})),
            "code": {"files": dict(state.files)},
        }
        if caller:
            identity["code"]["caller"] = dict(caller)
        return path, resolved, identity, hashes, state

    def fingerprint(self, **kwargs: Any) -> str:
        """The fingerprint of an experiment, given as for :meth:`record`."""
        return fingerprint(self.identity(**kwargs)[2])

    # -- writing ---------------------------------------------------------------------------

    def record(
        self,
        *,
        model: Any,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        data: Mapping[str, Any] | None = None,
        evaluation: Mapping[str, Any] | None = None,
        status: str = "ok",
        notes: Mapping[str, str] | None = None,
        error: str | None = None,
        name: str | None = None,
        code: Sequence[str] = DEFAULT_CODE_GLOBS,
        files: Mapping[str, bytes] | None = None,
        settings: Mapping[str, Any] | None = None,
        kind: str = "custom",
        warnings: Sequence[str] = (),
        caller: Mapping[str, str] | None = None,
    ) -> Run:
        """Record one run made by the caller's own code; returns it with its journal commit."""
        path, resolved, identity, hashes, state = self.identity(
            model=model,
            params=params,
            data=data,
            evaluation=evaluation,
            code=code,
            settings=settings,
            caller=caller,
        )
        from gitlab_journal.run.environment import environment

        # The uncommitted changes, so `git journal checkout RUN` gives back the code as it ran.
        patch = working_patch(self.store.repo, code, exclude=self._data_paths(data))
        extra = dict(files or {})
        if patch:
            state = replace(state, patch=PATCH_FILE, untracked=patch.untracked)
            extra[PATCH_FILE] = patch.data
        run = Run(
            id=new_run_id(),
            fingerprint=fingerprint(identity),
            identity=identity,
            model=path,
            kind=kind,
            params=normalise(resolved),
            point=normalise(dict(params or {})),
            data=hashes,
            evaluation=identity["evaluation"],
            code=state,
            metrics={k: float(v) for k, v in (metrics or {}).items()},
            status=status,
            environment=environment(),
            notes=dict(notes or {}),
            error=error,
            name=name,
            warnings=tuple(warnings),
        )
        return self.store.record(run, extra)

    def _data_paths(self, data: Mapping[str, Any] | None) -> list[str]:
        """The repository paths among ``data`` (kept out of the code patch)."""
        out: list[str] = []
        for path in (data or {}).values():
            if isinstance(path, str | Path):
                full = Path(path) if Path(path).is_absolute() else self.root / path
                with suppress(ValueError):
                    out.append(full.relative_to(self.root).as_posix())
        return out

    @contextmanager
    def run(
        self,
        *,
        model: Any,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        evaluation: Mapping[str, Any] | None = None,
        notes: Mapping[str, str] | None = None,
        name: str | None = None,
        code: Sequence[str] = DEFAULT_CODE_GLOBS,
        skip_duplicate: bool = False,
    ) -> Iterator[ActiveRun]:
        """Record what the block logs as one run; an exception is recorded as ``failed``.

        With ``skip_duplicate``, an experiment the journal already holds raises JournalError
        (exit code 1) before the block runs.
        """
        fp = self.fingerprint(
            model=model, params=params, data=data, evaluation=evaluation, code=code
        )
        active = ActiveRun(fingerprint=fp, earlier=self.find(fp))
        if skip_duplicate and active.earlier:
            raise CheckFailed(
                f"this experiment already ran as {', '.join(r.id for r in active.earlier)}",
            )
        error: str | None = None
        try:
            yield active
        except KeyboardInterrupt:
            active.status = "interrupted"
            raise
        except BaseException:
            active.status = "failed"
            error = "\n".join(traceback.format_exc().strip().splitlines()[-TRACEBACK_LINES:])
            raise
        finally:
            active.record = self.record(
                model=model,
                params=params,
                metrics=active.metrics,
                data=data,
                evaluation=evaluation,
                status=active.status,
                notes=notes,
                error=error,
                name=name,
                code=code,
            )

    # -- reading ---------------------------------------------------------------------------

    def find(self, fingerprint: str) -> list[Run]:
        """Every run of one experiment, oldest first."""
        return self.store.find(fingerprint)

    def runs(
        self,
        *,
        model: str | None = None,
        status: str | None = None,
        where: Sequence[str] = (),
        sort: str | None = None,
        ascending: bool = False,
        limit: int | None = None,
    ) -> list[Run]:
        """Runs filtered and sorted as `git journal log` does (newest first by default)."""
        from gitlab_journal.journal.index import Index

        index = Index.open(self.store)
        return index.runs(
            where=list(where),
            model=model,
            status=status,
            sort=sort,
            ascending=ascending,
            limit=limit,
        )

    def get(self, run: str) -> Run:
        """A run by id, unique id prefix, or journal commit."""
        from gitlab_journal.journal.index import Index

        return Index.open(self.store).resolve(run)


def _arrays_md5(value: Any) -> str:
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
