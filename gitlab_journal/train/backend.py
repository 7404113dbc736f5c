"""Training back ends by model kind. Each resolves a model's identity and trains one point;
none touches git. Back ends are imported lazily: importing one may cost seconds."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gitlab_journal.errors import JournalError
from gitlab_journal.spec.model import EvaluationSpec, ModelSpec

# kind -> module holding `resolve(model, params, seed, *, root) -> Resolved` and
# `train(model, params, X, y, evaluation, *, options) -> Result`; a module may also hold
# `cache_inputs(model) -> tuple[str, ...]`: repository files whose content a resolved identity
# depends on (a Keras builder's module), so the resolve cache is keyed by them too.
BACKENDS = {
    "sklearn": "gitlab_journal.train.sklearn_backend",
    "keras": "gitlab_journal.train.keras_backend",
    "command": "gitlab_journal.train.command_backend",
}


@dataclass(frozen=True)
class TrainOptions:
    """How to train: the repository root (user modules import from it), whether pre-flight
    findings are fatal (``--strict``), and the check codes the spec silences."""

    root: Path | None = None
    strict: bool = False
    ignore_checks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resolved:
    """A model's identity: its public path, all its params with defaults resolved."""

    model: str
    identity: Mapping[str, Any]  # the model part of the experiment identity
    params: Mapping[str, Any]  # flat resolved params for display, step__param for pipelines


@dataclass(frozen=True)
class Result:
    """What training one point produced. ``files`` are extra files for the run's directory
    (per-fold scores, history, plots), by name."""

    status: str
    metrics: Mapping[str, float] = field(default_factory=dict)
    files: Mapping[str, bytes] = field(default_factory=dict)
    error: str | None = None
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0
    findings: tuple[str, ...] = ()  # pre-flight findings, "CODE: explanation"
    run_id: str | None = None  # the id the run was given while training (a command's)


class Backend(Protocol):
    def resolve(
        self,
        model: ModelSpec,
        params: Mapping[str, Any],
        seed: int | None,
        *,
        root: Path | None = None,
    ) -> Resolved: ...

    def train(
        self,
        model: ModelSpec,
        params: Mapping[str, Any],
        X: Any,
        y: Any,
        evaluation: EvaluationSpec,
        *,
        options: TrainOptions | None = None,
    ) -> Result: ...


def backend_for(model: ModelSpec) -> Backend:
    name = BACKENDS.get(model.kind)
    if name is None:
        where = model.located()
        raise JournalError(f"{where}: unknown model kind {model.kind!r}")
    module: Any = importlib.import_module(name)
    return module  # type: ignore[no-any-return]
