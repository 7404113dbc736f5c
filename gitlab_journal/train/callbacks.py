"""Keras callbacks that fail fast and keep the record: per-epoch history with wall times, a stop
on divergence (a NaN or infinite loss, or a loss grown past a factor of its best) and a stop on
stalling (the monitored metric has not improved for N epochs).

Importing this module imports Keras (on TensorFlow unless ``KERAS_BACKEND`` says otherwise):
only the code paths that train a Keras model import it.
"""

from __future__ import annotations

import math
import time
from typing import Any

from gitlab_journal.train import progress
from gitlab_journal.train.keras_backend import DEFAULT_FACTOR, DEFAULT_PATIENCE, import_keras

keras = import_keras()
Callback: Any = keras.callbacks.Callback


def finite(value: Any) -> float | None:
    """A log value as a float, or None when it is missing or not finite."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def higher_is_better(metric: str) -> bool:
    """As Keras's ``mode="auto"``: accuracy-like metrics rise, everything else falls."""
    name = metric.removeprefix("val_")
    return any(part in name for part in ("acc", "auc", "precision", "recall", "f1")) or (
        name.startswith("fmeasure")
    )


class EpochLog(Callback):  # type: ignore[misc]
    """Every value the History callback has, per epoch, plus each epoch's wall time."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)
        for key, value in (logs or {}).items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            self.history.setdefault(key, []).append(number)
        total = (self.params or {}).get("epochs")
        loss = self.history.get("loss", [None])[-1]
        shown = f"epoch {epoch + 1}" + (f"/{total}" if total else "")
        progress.say(shown + (f" loss {loss:.4g}" if loss is not None else ""))

    @property
    def epochs(self) -> int:
        return len(self.seconds)


class StopOnDivergence(Callback):  # type: ignore[misc]
    """Stop on a NaN or infinite loss (checked after every batch), or on a loss grown past
    ``factor`` times its best: the first batch's loss (an untrained model's) and every epoch's
    loss set the best; the running loss is checked after every batch of the first epoch and
    at every epoch's end."""

    def __init__(self, factor: float = DEFAULT_FACTOR, monitor: str = "loss") -> None:
        super().__init__()
        self.factor = float(factor)
        self.monitor = monitor
        self.reason: str | None = None
        self.epoch = 0
        self.best: float | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.reason, self.epoch, self.best = None, 0, None

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.reason is not None or not logs or self.monitor not in logs:
            return
        value = finite(logs[self.monitor])
        where = f"epoch {self.epoch + 1}, batch {batch + 1}"
        if value is None:
            self._stop(f"{self.monitor} became {float(logs[self.monitor])} at {where}")
        elif self.best is None:
            self.best = value
        elif self.epoch == 0:
            self._check(value, where)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.reason is not None or not logs or self.monitor not in logs:
            return
        value = finite(logs[self.monitor])
        if value is None:
            self._stop(f"{self.monitor} became {float(logs[self.monitor])} at epoch {epoch + 1}")
            return
        self._check(value, f"the end of epoch {epoch + 1}")
        self.best = value if self.best is None else min(self.best, value)

    def _check(self, value: float, where: str) -> None:
        # a best of 0 or below (a perfect or a signed loss) gives no scale to compare with
        if self.best is not None and self.best > 0 and value > self.factor * self.best:
            self._stop(
                f"{self.monitor} rose to {value:.4g} at {where}, over {self.factor:g}× its best "
                f"{self.best:.4g}"
            )

    def _stop(self, reason: str) -> None:
        self.reason = reason
        self.model.stop_training = True


class StopOnStall(Callback):  # type: ignore[misc]
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs; a monitor the logs do not have is never stalled."""

    def __init__(
        self, patience: int = DEFAULT_PATIENCE, monitor: str = "val_loss", min_delta: float = 0.0
    ) -> None:
        super().__init__()
        self.patience = int(patience)
        self.monitor = monitor
        self.min_delta = abs(float(min_delta))
        self.higher = higher_is_better(monitor)
        self.reason: str | None = None
        self.best: float | None = None
        self.best_epoch = 0
        self.wait = 0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.reason, self.best, self.best_epoch, self.wait = None, None, 0, 0

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = finite((logs or {}).get(self.monitor))
        if value is None:
            return
        if self.best is None or self._improves(value, self.best):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.reason = (
                f"{self.monitor} has not improved for {self.wait} epochs (best {self.best:.4g} "
                f"at epoch {self.best_epoch + 1})"
            )
            self.model.stop_training = True

    def _improves(self, value: float, best: float) -> bool:
        if self.higher:
            return value > best + self.min_delta
        return value < best - self.min_delta
