"""`git journal insights`: what the recorded runs say about each varied parameter.

Runs are compared only with runs of the same model on the same data, scored the same way (a
group). Per group and per parameter that varies in it: its importance for the headline metric
(Optuna's fANOVA; a random forest's impurity importance where Optuna is not installed or fANOVA
cannot run), the values where runs failed or diverged, and the best region (the values of the
top runs). :func:`collect_insights` returns plain records, for `insights` to print and for a
report to plot (each parameter keeps its values and scores).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitlab_journal.data.metafeatures import data_key
from gitlab_journal.journal.identity import canonical_json, non_finite, normalise
from gitlab_journal.journal.index import open_index
from gitlab_journal.journal.records import Run
from gitlab_journal.journal.store import Store
from gitlab_journal.search.history import FAILED, IGNORED, score_of

MIN_RUNS = 4  # a group needs this many runs to say anything
TOP_SHARE = 0.1  # the best region: the values of the best 10% of scored runs (at least 3)
TOP_MIN = 3


@dataclass(frozen=True)
class ParamInsight:
    """One varied parameter of a group.

    ``values``/``scores``: each scored run's value and score (what a plot draws);
    ``failed_values``: the value of each failed or diverged run.
    """

    name: str
    numeric: bool
    importance: float | None
    best_region: str
    failures: str
    values: tuple[Any, ...] = ()
    scores: tuple[float, ...] = ()
    failed_values: tuple[Any, ...] = ()


@dataclass(frozen=True)
class GroupInsight:
    """The runs of one model on one data set, scored one way, and what they say."""

    model: str
    data: Mapping[str, str]
    evaluation: Mapping[str, Any]
    metric: str
    runs: int
    failed: int
    best_run: str | None
    best_score: float | None
    best_params: Mapping[str, Any]
    method: str | None  # "fanova", "random forest", or None (too few scored runs)
    params: tuple[ParamInsight, ...] = field(default_factory=tuple)

    @property
    def label(self) -> str:
        name = self.model.rsplit(".", 1)[-1]
        data = ", ".join(sorted(self.data)) or "(no data)"
        return f"{name} on {data}"


def collect_insights(
    store: Store, *, model: str | None = None, min_runs: int = MIN_RUNS
) -> list[GroupInsight]:
    """Every group of at least ``min_runs`` runs (of ``model``, a class name or import path,
    when given), the largest first."""
    groups: dict[tuple[str, str | None, str], list[Run]] = {}
    with open_index(store) as index:
        rows = [r for r in index.query(model=model) if r.status not in IGNORED]
        rows.sort(key=lambda r: (r.created, r.id))
        for run in index.load_all(rows):
            key = (run.model, data_key(run.data), canonical_json(run.evaluation))
            groups.setdefault(key, []).append(run)
    out = [_group(runs) for runs in groups.values() if len(runs) >= min_runs]
    out.sort(key=lambda g: (-g.runs, g.model))
    return out


def _group(runs: Sequence[Run]) -> GroupInsight:
    first = runs[0]
    metric = _metric(runs)
    scored: list[tuple[Run, float]] = []
    failed: list[Run] = []
    for run in runs:
        score = None if run.status in FAILED else score_of(run.metrics, metric)
        if score is None:
            failed.append(run)
        else:
            scored.append((run, score))
    varied = _varied(runs)
    best = max(scored, key=lambda rs: rs[1]) if scored else None
    importances, method = _importances(varied, scored)
    top = _top(scored)
    params = []
    for name in varied:
        numeric = all(_is_number(r.params.get(name)) for r in runs)
        params.append(
            ParamInsight(
                name=name,
                numeric=numeric,
                importance=importances.get(name),
                best_region=_region([r.params.get(name) for r in top], numeric),
                failures=_failures(name, runs, failed, numeric),
                values=tuple(r.params.get(name) for r, _ in scored),
                scores=tuple(s for _, s in scored),
                failed_values=tuple(r.params.get(name) for r in failed),
            )
        )
    params.sort(key=lambda p: (p.importance is None, -(p.importance or 0.0), p.name))
    return GroupInsight(
        model=first.model,
        data=dict(first.data),
        evaluation=dict(first.evaluation),
        metric=metric,
        runs=len(runs),
        failed=len(failed),
        best_run=best[0].id if best else None,
        best_score=best[1] if best else None,
        best_params={k: best[0].params.get(k) for k in varied} if best else {},
        method=method,
        params=tuple(params),
    )


def _metric(runs: Sequence[Run]) -> str:
    """The headline metric most of the group's runs report first."""
    counts: dict[str, int] = {}
    for run in runs:
        head = run.headline()
        if head is not None:
            counts[head[0]] = counts.get(head[0], 0) + 1
    return max(counts, key=lambda k: (counts[k], k)) if counts else "score"


def _varied(runs: Sequence[Run]) -> list[str]:
    """The params whose values differ between runs of the group."""
    seen: dict[str, set[str]] = {}
    for run in runs:
        for name, value in run.params.items():
            seen.setdefault(name, set()).add(_key(value))
    keys = set().union(*(set(r.params) for r in runs)) if runs else set()
    return sorted(
        k for k in keys if len(seen.get(k, ())) > 1 or any(k not in r.params for r in runs)
    )


def _key(value: Any) -> str:
    return canonical_json(normalise(value))


def _is_number(value: Any) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(float(value))
    )


def _top(scored: Sequence[tuple[Run, float]]) -> list[Run]:
    """The best runs: the top 10% (at least 3), ties with the last one included."""
    if not scored:
        return []
    ranked = sorted(scored, key=lambda rs: -rs[1])
    count = max(TOP_MIN, math.ceil(TOP_SHARE * len(ranked)))
    cut = ranked[min(count, len(ranked)) - 1][1]
    return [r for r, s in ranked if s >= cut]


def _show(value: Any) -> str:
    tag = non_finite(value)  # inf, also as the journal records it ({"__float__": "inf"})
    if tag is not None:
        return tag
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, str):
        return value
    return _key(value)


def _region(values: Sequence[Any], numeric: bool) -> str:
    if not values:
        return "-"
    if numeric:
        low, high = min(values), max(values)
        return _show(low) if low == high else f"{_show(low)} .. {_show(high)}"
    distinct = sorted({_show(v) for v in values})
    return ", ".join(distinct)


def _failures(name: str, runs: Sequence[Run], failed: Sequence[Run], numeric: bool) -> str:
    """Where runs failed or diverged more often than overall, and how many of the runs there
    did; ``across all values`` when this param does not tell failures apart."""
    if not failed:
        return "-"
    overall = len(failed) / len(runs)
    values: list[Any] = [r.params.get(name) for r in failed]
    if numeric:
        low, high = min(values), max(values)
        inside = [r for r in runs if low <= r.params[name] <= high]
        if len(failed) / len(inside) <= overall:
            return "across all values"
        where = _show(low) if low == high else f"{_show(low)} .. {_show(high)}"
        return f"{where}: {len(failed)} of {len(inside)} failed"
    parts = []
    for shown in sorted({_show(v) for v in values}):
        there = [r for r in runs if _show(r.params.get(name)) == shown]
        bad = [r for r in failed if _show(r.params.get(name)) == shown]
        if len(bad) / len(there) > overall:
            parts.append(f"{shown}: {len(bad)} of {len(there)} failed")
    return "; ".join(parts) or "across all values"


def _importances(
    varied: Sequence[str], scored: Sequence[tuple[Run, float]]
) -> tuple[dict[str, float], str | None]:
    """Each varied param's share of the score's variance: fANOVA, else a random forest."""
    if len(scored) < 3 or not varied:
        return {}, None
    if len({s for _, s in scored}) < 2:
        return dict.fromkeys(varied, 0.0), "constant score"
    try:
        return _fanova(varied, scored), "fanova"
    except ImportError:
        pass
    except (ValueError, RuntimeError, TypeError):
        pass  # fANOVA refused these trials (e.g. too few distinct values): use the forest
    return _forest(varied, scored), "random forest"


def _encoded(varied: Sequence[str], runs: Iterable[Run]) -> dict[str, list[Any]]:
    """Per param, each run's value: numbers as floats, anything else as its canonical text."""
    runs = list(runs)
    columns: dict[str, list[Any]] = {}
    for name in varied:
        values: list[Any] = [r.params.get(name) for r in runs]
        if all(_is_number(v) for v in values):
            columns[name] = [float(v) for v in values]
        else:
            columns[name] = [_key(v) for v in values]
    return columns


def _fanova(varied: Sequence[str], scored: Sequence[tuple[Run, float]]) -> dict[str, float]:
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    columns = _encoded(varied, (r for r, _ in scored))
    distributions: dict[str, Any] = {}
    for name, column in columns.items():
        if column and isinstance(column[0], float):
            low, high = min(column), max(column)
            if low == high:
                high = low + 1.0
            log = low > 0 and high / low >= 100
            distributions[name] = FloatDistribution(low, high, log=log)
        else:
            distributions[name] = CategoricalDistribution(sorted(set(column)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = optuna.create_study(direction="maximize")
        study.add_trials(
            [
                optuna.trial.create_trial(
                    value=score,
                    params={name: columns[name][i] for name in varied},
                    distributions=distributions,
                )
                for i, (_, score) in enumerate(scored)
            ]
        )
        found = get_param_importances(
            study, evaluator=FanovaImportanceEvaluator(seed=0), normalize=True
        )
    return {name: float(found.get(name, 0.0)) for name in varied}


def _forest(varied: Sequence[str], scored: Sequence[tuple[Run, float]]) -> dict[str, float]:
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor

    columns = _encoded(varied, (r for r, _ in scored))
    blocks: list[Any] = []
    owners: list[str] = []
    for name in varied:
        column = columns[name]
        if column and isinstance(column[0], float):
            blocks.append(np.array(column, dtype=float).reshape(-1, 1))
            owners.append(name)
        else:
            levels = sorted(set(column))
            blocks.append(np.array([[c == level for level in levels] for c in column], float))
            owners.extend([name] * len(levels))
    X = np.hstack(blocks)
    y = np.array([s for _, s in scored], dtype=float)
    forest = RandomForestRegressor(n_estimators=200, random_state=0).fit(X, y)
    totals = dict.fromkeys(varied, 0.0)
    for owner, importance in zip(owners, forest.feature_importances_, strict=True):
        totals[owner] += float(importance)
    total = sum(totals.values()) or 1.0
    return {name: value / total for name, value in totals.items()}
