"""The one way a planned point is trained and becomes a record.

Every caller that trains (the runner for a grid, the search through the runner, `rerun` for one
recorded point) goes through here: :func:`context` gathers once what every run of a plan shares
(the environment, the work tree's provenance, DVC's tracking files, the training options),
:func:`job` turns a planned point into the picklable job an executor trains, and
:func:`record` turns its result into the run and files ``Store.record`` takes. A new kind of
run is a new back end under ``train/``, not a new pipeline. A fit that the user's own code runs
(the Python API, the Keras callback, autolog) is recorded through :mod:`observed`, the same way
for each of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gitlab_journal.journal.store import Store
from gitlab_journal.run.build import Record, make_record
from gitlab_journal.run.environment import environment
from gitlab_journal.run.executors import Job, forget_data, run_job
from gitlab_journal.run.plan import Plan, Planned
from gitlab_journal.run.provenance import Provenance, provenance
from gitlab_journal.train.backend import Result, TrainOptions

if TYPE_CHECKING:
    from gitlab_journal.data.dvc import Unsaved


@dataclass(frozen=True)
class Context:
    """What every run of one plan shares, gathered once before the first point trains."""

    plan: Plan
    env: Mapping[str, Any]
    prov: Provenance
    extra: Mapping[str, bytes]  # files every run of the plan keeps (dvc.json)
    options: TrainOptions
    unsaved: tuple[Unsaved, ...] = ()  # inputs DVC tracks that are not `dvc add`ed as they are


def context(
    store: Store, plan: Plan, *, strict: bool = False, spec_path: str | None = None
) -> Context:
    """The shared part of every run of ``plan``, taken from the work tree as it is now (before
    training: the work tree the plan saw). ``spec_path``: where the spec sat, when the plan
    runs a copy of it (a reproduction)."""
    from gitlab_journal.data.dvc import dvc_record, unsaved

    found = tuple(unsaved(plan.root, plan.spec.data))  # read once: the records and the warning
    stale = {item.name for item in found}
    return Context(
        plan=plan,
        env=environment(_modules(plan)),
        prov=provenance(store, plan, spec_path=spec_path, stale=stale),
        extra=dvc_record(plan.root, plan.spec.data, stale=stale),
        options=TrainOptions(root=plan.root, strict=strict, ignore_checks=plan.spec.ignore_checks),
        unsaved=found,
    )


def job(ctx: Context, planned: Planned, key: int) -> Job:
    """The job that trains ``planned`` (``key``: its place among the points sent out)."""
    return Job(
        key=key,
        root=str(ctx.plan.root),
        data=ctx.plan.spec.data,
        model=planned.point.model,
        params=planned.point.params,
        evaluation=ctx.plan.spec.evaluation,
        options=ctx.options,
    )


def record(
    ctx: Context, planned: Planned, result: Result, *, reproduces: str | None = None
) -> Record:
    """The run of ``planned`` trained to ``result``, with every file of its directory."""
    built = make_record(ctx.plan, planned, result, dict(ctx.env), ctx.prov, reproduces=reproduces)
    return Record(built.run, {**ctx.extra, **built.files})


def train_point(ctx: Context, planned: Planned, *, reproduces: str | None = None) -> Record:
    """Train ``planned`` in this process and build its record; an error of the spec or the
    data raises (nothing to record), a failure while training is a ``failed`` run."""
    try:
        outcome = run_job(job(ctx, planned, 0))
    finally:
        forget_data()
    outcome.raise_fatal()
    return record(ctx, planned, outcome.result, reproduces=reproduces)


def _modules(plan: Plan) -> list[str]:
    """The import paths a plan's runs depend on: its estimators, and its loader."""
    paths = [path for model in plan.spec.models for path in model.import_paths()]
    if plan.spec.data.loader:
        paths.append(plan.spec.data.loader)
    return paths
