"""Build the record of one trained point: everything the journal keeps about a run, and the
files beside it that let it be run again (``spec.yaml``, ``code.patch``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NamedTuple

from gitlab_journal.journal.format import PATCH_FILE, SPEC_FILE
from gitlab_journal.journal.records import Run, new_run_id
from gitlab_journal.run.plan import Plan, Planned
from gitlab_journal.run.pointspec import dump_spec, point_document
from gitlab_journal.run.provenance import Provenance, seeds
from gitlab_journal.train.backend import Result


class Record(NamedTuple):
    """A run and the extra files of its directory, ready for ``store.record(run, files)``."""

    run: Run
    files: dict[str, bytes]


def make_record(
    plan: Plan,
    planned: Planned,
    result: Result,
    env: dict[str, Any],
    prov: Provenance,
    *,
    reproduces: str | None = None,
) -> Record:
    """The run of one trained point, with its files: the back end's (per-fold scores,
    history, plots), ``spec.yaml`` (the spec narrowed to this point) and, when the work tree
    had uncommitted changes, ``code.patch``."""
    run = make_run(plan, planned, result, env, prov, reproduces=reproduces)
    files = dict(result.files)
    header = f"The spec of run {run.id}: its grid point alone"
    if run.spec:
        header += f" (from {run.spec})"
    header += ".\n`git journal rerun " + run.id + "` runs it again."
    files[SPEC_FILE] = dump_spec(point_document(plan.spec, planned.point), header)
    if prov.patch:
        files[PATCH_FILE] = prov.patch.data
    return Record(run, files)


def make_run(
    plan: Plan,
    planned: Planned,
    result: Result,
    env: dict[str, Any],
    prov: Provenance,
    *,
    reproduces: str | None = None,
) -> Run:
    spec = plan.spec
    code = replace(
        plan.code,
        patch=PATCH_FILE if prov.patch else None,
        untracked=prov.patch.untracked,
    )
    return Run(
        id=result.run_id or new_run_id(),
        fingerprint=planned.fingerprint,
        identity=planned.identity,
        model=planned.model,
        kind=planned.point.model.kind,
        params=planned.params,
        point=planned.point.params,
        data=plan.data,
        evaluation=planned.identity["evaluation"],
        code=code,
        metrics=result.metrics,
        status=result.status,
        environment=env,
        notes=spec.notes,
        error=result.error,
        name=spec.name,
        reproduces=reproduces,
        spec=prov.spec_path,
        data_sources=prov.data_sources,
        seeds=seeds(spec.evaluation.seed, planned.params),
        warnings=result.warnings,
        findings=result.findings,
    )
