"""Build the record of one trained point: everything the journal keeps about a run."""

from __future__ import annotations

from typing import Any

from gitlab_journal.journal.records import Run, new_run_id
from gitlab_journal.run.plan import Plan, Planned
from gitlab_journal.train.backend import Result


def make_run(plan: Plan, planned: Planned, result: Result, env: dict[str, Any]) -> Run:
    spec = plan.spec
    return Run(
        id=new_run_id(),
        fingerprint=planned.fingerprint,
        identity=planned.identity,
        model=planned.model,
        kind=planned.point.model.kind,
        params=planned.params,
        point=planned.point.params,
        data=plan.data,
        evaluation=planned.identity["evaluation"],
        code=plan.code,
        metrics=result.metrics,
        status=result.status,
        environment=env,
        notes=spec.notes,
        error=result.error,
        name=spec.name,
        warnings=result.warnings,
    )
