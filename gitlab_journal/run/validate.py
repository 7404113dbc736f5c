"""Everything about a planned grid that can be known before training, checked before anything
trains: the data loads (columns, the target, a loader's return value), every model block's
back end accepts its scorers, settings and callbacks, and the evaluation fits the data (folds
versus class counts). A problem is an input error naming the spec's file, line and key; nothing
is recorded. Only what fails *while training* becomes a ``failed`` run.

A plan that passed is remembered under ``.git/journal/validated/`` by its points' fingerprints
(data, code, params and evaluation), this package's version and the installed distributions
(an upgraded scikit-learn may refuse a scorer it took), so `check` on an unchanged spec neither
loads the data nor imports scikit-learn again.
"""

from __future__ import annotations

from pathlib import Path

from gitlab_journal import __version__
from gitlab_journal.cachefiles import write_cache
from gitlab_journal.errors import JournalError
from gitlab_journal.journal.identity import fingerprint
from gitlab_journal.journal.store import Store
from gitlab_journal.run.environment import installed
from gitlab_journal.run.plan import Plan

VALIDATED_DIR = "validated"


def validate(store: Store, plan: Plan) -> None:
    """Raise a :class:`JournalError` (exit 2) for the first problem ``plan`` would meet before
    training; return quietly when there is none (or when this plan passed before)."""
    if not plan.points:
        return
    marker = store.cache_dir() / VALIDATED_DIR / _key(plan)
    if marker.exists():
        return
    _validate(plan)
    _remember(marker)


def _key(plan: Plan) -> str:
    return fingerprint(
        {
            "package": __version__,
            "installed": list(installed()),
            "points": sorted(planned.fingerprint for planned in plan.points),
        }
    )


def _validate(plan: Plan) -> None:
    from gitlab_journal.data.loaders import load_data
    from gitlab_journal.train.backend import backend_for

    spec = plan.spec
    try:
        X, y = load_data(plan.root, spec.data)
    except JournalError as exc:
        raise _located(exc, spec.where("data")) from exc
    seen: set[int] = set()
    for planned in plan.points:
        model = planned.point.model
        backend = backend_for(model)
        check = getattr(backend, "validate", None)
        if check is None:
            continue
        first = id(model) not in seen
        seen.add(id(model))
        check(
            model,
            planned.point.params,
            X,
            y,
            spec.evaluation,
            where=spec.where,
            root=plan.root,
            first=first,
        )


def _located(exc: JournalError, where: str) -> JournalError:
    """``exc`` with the spec's location in front, unless it names one already."""
    file = where.split(":", 1)[0]
    if exc.message.startswith(file):
        return exc
    return JournalError(f"{where}: {exc.message}", hint=exc.hint, exit_code=exc.exit_code)


def _remember(marker: Path) -> None:
    """Write the marker atomically; a cache that cannot be written only costs time."""
    write_cache(marker, b"")


def table_findings(plan: Plan) -> list[str]:
    """The pre-flight checks of a table's columns (docs/checks.md), as `run` records them."""
    if plan.spec.data.source != "table":
        return []
    from gitlab_journal.data.loaders import load_data
    from gitlab_journal.train.preflight import enforce, table_checks

    X, y = load_data(plan.root, plan.spec.data)
    return list(enforce(table_checks(X, y), ignore=plan.spec.ignore_checks, strict=False))
