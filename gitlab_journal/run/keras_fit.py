"""The Keras callback that records a ``fit`` of the user's own training code as one run,
through :mod:`observed` (its public name and documentation: :mod:`gitlab_journal.keras`).
Importing this module imports Keras."""

from __future__ import annotations

import signal
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal

from gitlab_journal.errors import DuplicateRunError, DuplicateRunWarning, JournalError
from gitlab_journal.journal.identity import public_path
from gitlab_journal.journal.records import Run
from gitlab_journal.run import observed
from gitlab_journal.spec.model import DEFAULT_CODE_GLOBS
from gitlab_journal.train.callbacks import Callback, EpochLog, StopOnDivergence
from gitlab_journal.train.keras_backend import architecture, compile_identity, outputs

if TYPE_CHECKING:
    from gitlab_journal.api import Journal

# the earlier run's metrics a duplicate's message shows
SHOWN_METRICS = frozenset({"train_loss", "val_loss", "train_accuracy", "val_accuracy", "epochs"})


class JournalCallback(Callback):  # type: ignore[misc]
    """Record the ``fit`` it is passed to as one run of ``journal`` (default: the repository
    of the working directory).

    ``params``: your hyperparameters (a seed among them, if you set one); ``data``: named
    inputs, each a repository path or in-memory arrays like ``(X, y)``; ``model``: the name the
    run is listed under (default: the model's class, e.g. ``keras.Sequential``);
    ``on_duplicate``: ``"raise"`` (a JournalError before the first epoch) or ``"warn"`` (a
    DuplicateRunWarning, and a repeat is recorded); ``diverge_factor``: stop and record
    ``diverged`` on a NaN loss or one grown past this factor of its best (None: off);
    ``save_model``: keep the trained model as model.keras in the run. After ``fit``, ``run``
    is the recorded run.
    """

    kind = "keras"  # the kind of run it records

    def __init__(
        self,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        journal: Journal | str | Path | None = None,
        model: str | None = None,
        evaluation: Mapping[str, Any] | None = None,
        notes: Mapping[str, str] | None = None,
        name: str | None = None,
        on_duplicate: Literal["raise", "warn", "ignore"] = "raise",
        diverge_factor: float | None = 10.0,
        save_model: bool = False,
        code: Sequence[str] = DEFAULT_CODE_GLOBS,
    ) -> None:
        super().__init__()
        if on_duplicate not in ("raise", "warn", "ignore"):
            raise JournalError(
                f"on_duplicate must be 'raise', 'warn' or 'ignore', not {on_duplicate!r}"
            )
        from gitlab_journal.api import Journal

        self.journal = journal if isinstance(journal, Journal) else Journal(journal or ".")
        self.user_params = dict(params or {})
        self.data = dict(data or {})
        self.model_name = model
        self.evaluation = dict(evaluation or {})
        self.notes = dict(notes or {})
        self.name = name
        self.on_duplicate = on_duplicate
        self.diverge_factor = diverge_factor
        self.save_model = save_model
        self.code = tuple(code)
        self.run: Run | None = None
        self.earlier: list[Run] = []
        self._log = EpochLog()
        self._diverge: StopOnDivergence | None = None
        self._settings: dict[str, Any] = {}
        self._model_path = ""
        self._interrupted = False
        self._previous_handler: Any = None
        self._start = 0.0

    # -- identity ---------------------------------------------------------------------------

    def _describe(self) -> tuple[str, dict[str, Any]]:
        model = self.model
        settings = {
            "architecture": architecture(model),
            "compile": compile_identity(model),
            "fit": {"epochs": self.params.get("epochs"), "steps": self.params.get("steps")},
        }
        return self.model_name or public_path(type(model)), settings

    def _fit(self) -> observed.Fit:
        return observed.Fit(
            model=self._model_path,
            params=self.user_params,
            data=self.data,
            evaluation=self.evaluation,
            code=self.code,
            settings=self._settings,
        )

    # -- Keras hooks ------------------------------------------------------------------------

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._model_path, self._settings = self._describe()
        store, root = self.journal.store, self.journal.root
        self.earlier = observed.earlier(
            store, observed.describe(store, root, self._fit()).fingerprint
        )
        if self.earlier and self.on_duplicate != "ignore":
            message = observed.duplicate_message(self.earlier, shown=SHOWN_METRICS)
            if self.on_duplicate == "raise":
                raise DuplicateRunError(
                    message,
                    hint="change a param, or pass on_duplicate='warn' to record a repeat",
                )
            warnings.warn(message, DuplicateRunWarning, stacklevel=2)
        self.run = None
        self._interrupted = False
        self._log = EpochLog()
        self._log.set_model(self.model)
        self._diverge = None
        if self.diverge_factor is not None:
            self._diverge = StopOnDivergence(factor=self.diverge_factor)
            self._diverge.set_model(self.model)
            self._diverge.on_train_begin(logs)
        self._catch_ctrl_c()
        self._start = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._log.on_epoch_begin(epoch, logs)
        if self._diverge is not None:
            self._diverge.on_epoch_begin(epoch, logs)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._diverge is not None:
            self._diverge.on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._log.on_epoch_end(epoch, logs)
        if self._diverge is not None:
            self._diverge.on_epoch_end(epoch, logs)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._release_ctrl_c()
        fit_time = time.perf_counter() - self._start
        status, reason = "ok", None
        if self._interrupted:
            status = "interrupted"
            reason = f"interrupted after {self._log.epochs} of {self.params.get('epochs')} epochs"
        elif self._diverge is not None and self._diverge.reason:
            status, reason = "diverged", self._diverge.reason
        history = self._log.history
        metrics, files = outputs(
            self.model,
            self._log,
            monitor="val_loss" if "val_loss" in history else "loss",
            status=status,
            reason=reason,
            title=self._model_path + _params_text(self.user_params),
            save_model=self.save_model,
        )
        metrics["fit_time"] = fit_time
        self.run = observed.record(
            self.journal.store,
            self.journal.root,
            self._fit(),
            metrics=metrics,
            status=status,
            notes=self.notes,
            name=self.name,
            files=files,
            kind=self.kind,
            warnings=(f"{status}: {reason}",) if reason else (),
        )
        if self._interrupted:
            raise KeyboardInterrupt

    # -- Ctrl-C -----------------------------------------------------------------------------

    def _catch_ctrl_c(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self._previous_handler = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, self._on_ctrl_c)

    def _release_ctrl_c(self) -> None:
        if self._previous_handler is not None:
            signal.signal(signal.SIGINT, self._previous_handler)
            self._previous_handler = None

    def _on_ctrl_c(self, signum: int, frame: FrameType | None) -> None:
        if self._interrupted:  # the second Ctrl-C: stop at once, record nothing
            self._release_ctrl_c()
            raise KeyboardInterrupt
        self._interrupted = True
        self.model.stop_training = True


def _params_text(params: Mapping[str, Any]) -> str:
    shown = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
    return f"({shown})" if shown else ""
