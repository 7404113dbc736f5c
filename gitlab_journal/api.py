"""The Python API for notebooks and users' own training code.

from gitlab_journal import Journal

journal = Journal(".")
with journal.run(model="my.Net", params={"lr": 0.01}, data={"train": "data/train.csv"}) as run:
    ...  # train
    run.log_metrics({"accuracy": 0.93})
journal.runs(model="my.Net")
"""

from __future__ import annotations

import math
import sys
import traceback
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitlab_journal.errors import CheckFailed
from gitlab_journal.journal.records import Run
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

    unfinished: list[str] = field(default_factory=list)  # metrics logged NaN or infinite

    def log_metric(self, name: str, value: float) -> None:
        """Record ``value`` for ``name``, as ``current_run().log_metric`` does: a number (an
        int or a float, numpy's too; not a bool nor text, which raise a ``MetricTypeError``
        naming the metric). A value that is not finite is left out and fails the run when the
        block ends, naming the metric."""
        from gitlab_journal.current import MetricNameError, metric_number

        if not isinstance(name, str) or not name or any(ord(c) < 32 for c in name):
            raise MetricNameError(f"a metric name is a non-empty line of text, got {name!r}")
        number = metric_number(name, value)
        if math.isfinite(number):
            self.metrics[name] = number
        else:
            self.metrics.pop(name, None)
            self.unfinished.append(f"{name} = {number!r}")

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

    # -- identity and writing (built in run/observed.py, as every observed fit is) ----------

    def fingerprint(self, **fit: Any) -> str:
        """The fingerprint of an experiment, given as for :meth:`record`."""
        from gitlab_journal.run import observed

        fit.setdefault("caller", notebook_cells())
        return observed.describe(self.store, self.root, observed.Fit(**fit)).fingerprint

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
        """Record one run made by the caller's own code; returns it with its journal commit.

        ``model``: an import path or an object with ``get_params``; ``data``: named inputs,
        each a repository path (file or folder) or in-memory arrays such as ``(X, y)``;
        ``settings``: more of the model's identity that is not a param to show (a Keras
        model's architecture); ``caller``: code outside the ``code`` globs that ran the
        experiment (a script or notebook's cells), name -> content id."""
        from gitlab_journal.run import observed

        caller = notebook_cells() if caller is None else caller
        fit = observed.Fit(model, params, data, evaluation, tuple(code), settings, caller)
        return observed.record(
            self.store,
            self.root,
            fit,
            metrics=metrics,
            status=status,
            notes=notes,
            error=error,
            name=name,
            files=files,
            kind=kind,
            warnings=warnings,
        )

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

        A successful exit (``sys.exit()``, ``sys.exit(0)``) is a normal end: the run is
        recorded as it would be at the end of the block, then the exit goes on; another exit
        code is a failure.

        With ``skip_duplicate``, an experiment the journal already holds raises JournalError
        (exit code 1) before the block runs.
        """
        caller = notebook_cells()  # the cell holding this block, in a notebook
        fp = self.fingerprint(
            model=model, params=params, data=data, evaluation=evaluation, code=code, caller=caller
        )
        active = ActiveRun(fingerprint=fp, earlier=self.find(fp))
        if skip_duplicate and active.earlier:
            raise CheckFailed(
                f"this experiment already ran as {', '.join(r.id for r in active.earlier)}",
            )
        error: str | None = None
        try:
            with _autolog_paused():
                yield active
        except KeyboardInterrupt:
            active.status = "interrupted"
            raise
        except SystemExit as exc:
            if exc.code is not None and exc.code != 0:
                active.status = "failed"
                error = _error_text()
            raise
        except BaseException:
            active.status = "failed"
            error = _error_text()
            raise
        finally:
            if active.unfinished and active.status == "ok":
                active.status = "failed"
                error = "a metric that is not a finite number: " + ", ".join(active.unfinished)
                warnings.warn(f"the run is recorded as failed: {error}", UserWarning, stacklevel=3)
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
                caller=caller,
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


def _error_text() -> str:
    """The last lines of the traceback of the exception being handled."""
    return "\n".join(traceback.format_exc().strip().splitlines()[-TRACEBACK_LINES:])


def _autolog_paused() -> AbstractContextManager[None]:
    """Autologging paused while a run block runs, when it is on (else nothing)."""
    if "gitlab_journal.autologging" not in sys.modules:
        return nullcontext()
    from gitlab_journal.autologging import paused

    return paused()


def notebook_cells() -> dict[str, str] | None:
    """In a notebook, the cells on the way to this call, as autologging counts a notebook's
    code (:func:`~gitlab_journal.autologging.caller_code`): the training code a cell holds
    is part of the experiment, and the run keeps their text (``notebook.py``). None
    elsewhere: a script's code is the repository's files."""
    if sys.modules.get("IPython") is None:
        return None
    from gitlab_journal.autologging import caller_code

    found = caller_code()
    return {"notebook": found["notebook"]} if "notebook" in found else None
