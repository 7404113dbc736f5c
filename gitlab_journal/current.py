"""``current_run()``: the run a command started by `git journal run` is, seen from inside it.

    from gitlab_journal import current_run

    run = current_run()
    lr = run.params["lr"]
    for epoch in range(10):
        run.log_metric("loss", loss, step=epoch)   # per-step values become the run's history
    run.log_metric("accuracy", accuracy)           # the last value logged is the metric
    run.log_file("confusion.png")                  # kept with the run on the journal branch

The command finds its run through the environment `git journal run` gives it
(``JOURNAL_RUN_DIR``, ``JOURNAL_PARAMS``, ``JOURNAL_RUN_ID``, ``JOURNAL_LOG``). Only the standard
library is imported.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitlab_journal.errors import JournalError


class MetricTypeError(JournalError, TypeError):
    """``log_metric`` was given a value (or a step) of a type it does not record."""


class MetricNameError(JournalError, ValueError):
    """``log_metric`` was given a name it cannot record."""


def metric_number(name: str, value: object) -> float:
    """``value`` as a float: an int or a float (numpy's too), not a bool nor text."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        bool_like = "bool" in type(value).__name__
        hint = " (an array's or a tensor's .item() is one)" if hasattr(value, "item") else ""
        hint = "" if bool_like else hint
        raise MetricTypeError(
            f"log_metric({name!r}): the value must be a number{hint}, got "
            f"{type(value).__name__} {value!r}"
        )
    try:
        return float(value)
    except OverflowError:
        return -math.inf if value < 0 else math.inf


@dataclass(frozen=True)
class CurrentRun:
    """The run being made: its id, its params, and where what it logs goes."""

    id: str
    params: Mapping[str, Any]
    run_dir: Path
    log: Path

    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        """Record ``value`` for ``name``; logged more than once (or with a ``step``), the
        values become the run's history and the last one its metric.

        ``value`` is a number (an int or a float, a numpy scalar too; not a bool): anything
        else raises :class:`MetricTypeError`. A value that is not finite (NaN, infinity) is
        recorded as such and fails the run when the command ends."""
        if not isinstance(name, str) or not name or any(ord(c) < 32 for c in name):
            raise MetricNameError(f"a metric name is a non-empty line of text, got {name!r}")
        number = metric_number(name, value)
        if step is not None:
            if isinstance(step, bool) or not isinstance(step, numbers.Integral):
                raise MetricTypeError(
                    f"log_metric({name!r}): step must be an integer, got "
                    f"{type(step).__name__} {step!r}"
                )
            step = int(step)
        entry: dict[str, Any] = {"name": name, "value": number, "step": step}
        if not math.isfinite(number):
            entry["value"], entry["nonfinite"] = None, repr(number)
        with self.log.open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")

    def log_file(self, path: str | os.PathLike[str], name: str | None = None) -> Path:
        """Copy ``path`` into the run's folder (as ``name``, default its file name)."""
        source = Path(path)
        if not source.is_file():
            raise JournalError(f"log_file: no file {source}")
        target_name = name or source.name
        target = (self.run_dir / target_name).resolve()
        if not target.is_relative_to(self.run_dir.resolve()):
            raise JournalError(f"log_file: {target_name!r} leaves the run's folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return target


def current_run() -> CurrentRun:
    """The run this process belongs to; an error outside a command `git journal run` started."""
    env = os.environ
    needed = ("JOURNAL_RUN_DIR", "JOURNAL_PARAMS", "JOURNAL_RUN_ID", "JOURNAL_LOG")
    missing = [name for name in needed if not env.get(name)]
    if missing:
        raise JournalError(
            "current_run(): not inside a command started by `git journal run`",
            hint="run it with `git journal run -- python yourscript.py` or a command spec",
        )
    params = json.loads(Path(env["JOURNAL_PARAMS"]).read_text(encoding="utf-8"))
    return CurrentRun(
        id=env["JOURNAL_RUN_ID"],
        params=params,
        run_dir=Path(env["JOURNAL_RUN_DIR"]),
        log=Path(env["JOURNAL_LOG"]),
    )
