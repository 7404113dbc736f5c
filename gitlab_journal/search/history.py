"""What the journal already knows about a search space: its recorded runs, as observations.

A recorded run belongs to a block's space when it is the same model (class, pipeline steps and
every param the space does not search, resolved), on the same data, scored the same way, and
its searched params lie in the space. Code changes do not exclude a run: its score still says
how those settings do. Repeats of one experiment are one observation (their mean score).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitlab_journal.journal.identity import canonical_json, normalise
from gitlab_journal.journal.index import Index, Row
from gitlab_journal.journal.records import Run
from gitlab_journal.run.plan import Planner
from gitlab_journal.search.space import SearchSpace
from gitlab_journal.spec.model import Point, Spec

FAILED = frozenset({"failed", "diverged", "stalled"})  # failed trials: knowledge, no score
IGNORED = frozenset({"interrupted"})  # says nothing about the settings


@dataclass(frozen=True)
class Observation:
    """One recorded experiment of the space: its searched values and score (None: failed)."""

    fingerprint: str
    values: Mapping[str, Any]
    score: float | None
    status: str
    runs: tuple[str, ...]
    created: str = ""

    @property
    def failed(self) -> bool:
        return self.score is None


@dataclass(frozen=True)
class Reference:
    """The space's model resolved once: what a compatible run must match."""

    model: str
    params: Mapping[str, Any]  # display params, searched ones left out
    structure: Mapping[str, str]  # nested estimators (pipeline steps): name -> class
    evaluation: str  # canonical JSON of the evaluation identity
    data: Mapping[str, str] = field(default_factory=dict)


def headline_metric(spec: Spec) -> str | None:
    """The spec's headline metric (its first scorer), or None: each run's own headline."""
    return spec.evaluation.scoring[0] if spec.evaluation.scoring else None


def score_of(metrics: Mapping[str, Any], metric: str | None) -> float | None:
    """``metric`` of a run (its headline metric when None), or None when absent or not finite."""
    if metric is not None:
        value = metrics.get(metric)
    else:
        value = next((v for k, v in metrics.items() if not k.endswith(("_std", "_time"))), None)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def reference(planner: Planner, space: SearchSpace) -> Reference:
    """Resolve the space's model at one of its points (the searched values do not matter)."""
    point = Point(model=space.model, params=space.point(space.anchor()), index=0)
    planned = planner.plan(point)
    searched = set(space.names)
    return Reference(
        model=planned.model,
        params={k: v for k, v in planned.params.items() if k not in searched},
        structure=structure(planned.identity["model"]),
        evaluation=canonical_json(planned.identity["evaluation"]),
        data=dict(planner.data),
    )


def structure(model_identity: Mapping[str, Any]) -> dict[str, str]:
    """The nested estimators of a model identity (pipeline steps): param name -> class."""
    params = model_identity.get("params") if isinstance(model_identity, Mapping) else None
    out: dict[str, str] = {}
    if isinstance(params, Mapping):
        for key, value in params.items():
            if isinstance(value, Mapping) and "__estimator__" in value:
                out[str(key)] = str(value["__estimator__"])
    return out


def values_in_space(run: Run, space: SearchSpace, ref: Reference) -> dict[str, Any] | None:
    """The searched values of ``run`` when it is a point of the space, else None."""
    if run.model != ref.model:
        return None
    searched = set(space.names)
    recorded = {k: v for k, v in run.params.items() if k not in searched}
    if _keys(recorded) != _keys(ref.params):
        return None
    if structure(run.identity.get("model", {})) != dict(ref.structure):
        return None
    values: dict[str, Any] = {}
    for dim in space.dims:
        value = run.params[dim.name] if dim.name in run.params else run.point.get(dim.name)
        if dim.token(value) is None:
            return None
        values[dim.name] = dim.value(dim.token(value))
    return values


def observations(
    index: Index, space: SearchSpace, ref: Reference, metric: str | None
) -> list[Observation]:
    """Every recorded experiment of the space on the reference's data and evaluation."""
    rows = [r for r in index.query(model=ref.model) if dict(r.data) == dict(ref.data)]
    rows.sort(key=lambda r: (r.created, r.id))
    by_fp: dict[str, list[tuple[Run, dict[str, Any]]]] = {}
    for run in index.load_all(rows):
        if run.status in IGNORED or canonical_json(run.evaluation) != ref.evaluation:
            continue
        values = values_in_space(run, space, ref)
        if values is not None:
            by_fp.setdefault(run.fingerprint, []).append((run, values))
    return [observation(fp, found, metric) for fp, found in by_fp.items()]


def observation(
    fingerprint: str, found: Sequence[tuple[Run, Mapping[str, Any]]], metric: str | None
) -> Observation:
    """One experiment's runs as one observation: the mean of its scored runs, or failed."""
    scores = [
        s
        for run, _ in found
        if run.status not in FAILED and (s := score_of(run.metrics, metric)) is not None
    ]
    last_run, values = found[-1]
    if scores:
        status = "ok" if any(r.status == "ok" for r, _ in found) else last_run.status
        score: float | None = sum(scores) / len(scores)
    else:
        status = last_run.status if last_run.status in FAILED else "failed"
        score = None
    return Observation(
        fingerprint=fingerprint,
        values=dict(values),
        score=score,
        status=status,
        runs=tuple(r.id for r, _ in found),
        created=last_run.created,
    )


def observation_of_runs(
    runs: Iterable[Run], space: SearchSpace, values: Mapping[str, Any], metric: str | None
) -> Observation | None:
    """The observation of runs of one fingerprint (a proposal the journal answers)."""
    found = [(run, values) for run in runs if run.status not in IGNORED]
    if not found:
        return None
    return observation(found[0][0].fingerprint, found, metric)


def best_row(rows: Iterable[Row], metric: str | None) -> tuple[Row, float] | None:
    """The row with the highest score among ``rows`` that finished ok."""
    best: tuple[Row, float] | None = None
    for row in rows:
        if row.status in FAILED or row.status in IGNORED:
            continue
        score = score_of(row.metrics, metric)
        if score is not None and (best is None or score > best[1]):
            best = (row, score)
    return best


def _keys(params: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): canonical_json(normalise(v)) for k, v in params.items()}
