"""`git journal run --search optuna`: an Optuna study warm-started from the journal.

The journal is the study's memory. Every recorded run of the same model on the same data,
scored the same way, enters the study as a trial (failed and diverged runs as failed trials)
before anything is sampled; a sampled point the journal already holds is answered from it at no
cost; every trained trial is recorded as a journal run, by the runner, as `git journal run`
records a grid point. So stopping and starting again continues the same search. On a data set
that the model has never seen, the best settings of the most similar data sets are tried first.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import Progress

from gitlab_journal.console import progress_bar
from gitlab_journal.errors import JournalError, MissingExtra
from gitlab_journal.journal.records import Run
from gitlab_journal.journal.store import Store
from gitlab_journal.run.plan import Planner
from gitlab_journal.search.history import (
    Observation,
    Reference,
    headline_metric,
    observation_of_runs,
    observations,
    reference,
)
from gitlab_journal.search.metalearn import (
    DEFAULT_SIMILAR,
    Proposal,
    describe_data,
    journals,
    similar_settings,
)
from gitlab_journal.search.space import SearchSpace, show_value
from gitlab_journal.spec.model import Point, Spec

SEARCHERS = ("optuna",)
FREE_ANSWERS = 50  # proposals in a row the journal may answer before the space looks exhausted


@dataclass
class Block:
    """One model block's search: its space, what the journal knows, what to try first."""

    space: SearchSpace
    reference: Reference
    known: list[Observation]
    proposals: list[Proposal] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.reference.model.rsplit(".", 1)[-1]

    def best(self) -> Observation | None:
        scored = [o for o in self.known if o.score is not None]
        return max(scored, key=lambda o: o.score or 0.0) if scored else None


@dataclass
class Setup:
    """A spec made ready to search: fingerprinting, the metric, every block's history."""

    spec: Spec
    planner: Planner
    metric: str | None
    blocks: list[Block]
    data_key: str | None = None
    features: dict[str, Any] | None = None


@dataclass
class Trial:
    """One proposal of a search and what answered it."""

    values: dict[str, Any]
    score: float | None
    status: str
    source: str  # "trained", "journal" (already recorded), or why it came first
    run: Run | None = None
    runs: tuple[str, ...] = ()


@dataclass
class BlockReport:
    block: Block
    trials: list[Trial] = field(default_factory=list)
    interrupted: bool = False
    exhausted: bool = False

    @property
    def trained(self) -> list[Trial]:
        return [t for t in self.trials if t.source != "journal"]


def require_optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:
        raise MissingExtra("--search optuna needs Optuna", extra="optuna") from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def prepare(
    store: Store,
    spec: Spec,
    *,
    sources: Sequence[str] = (),
    similar: int = DEFAULT_SIMILAR,
    arrays: tuple[Any, Any] | None = None,
) -> Setup:
    """Read the spec's search spaces and the journal's history of each; describe the data
    (once per data key) and, for a block with no history on it, find the best settings of the
    most similar data sets."""
    spaces = [SearchSpace.of(model) for model in spec.models]
    planner = Planner(store, spec, cache_resolved=False)
    metric = headline_metric(spec)
    setup = Setup(spec=spec, planner=planner, metric=metric, blocks=[])
    with journals(store, sources) as opened:
        index = opened[0][2]
        for space in spaces:
            ref = reference(planner, space)
            setup.blocks.append(Block(space, ref, observations(index, space, ref, metric)))
        described = describe_data(store, planner.root, spec.data, planner.data, arrays)
        if described is not None:
            setup.data_key, setup.features = described
            for block in setup.blocks:
                if not block.known:
                    block.proposals = similar_settings(
                        opened,
                        setup.data_key,
                        setup.features,
                        block.space,
                        block.reference.model,
                        metric,
                        similar,
                    )
    return setup


def new_study(block: Block, *, seed: int | None, constant_liar: bool = False) -> Any:
    """An Optuna study (maximising the headline metric) holding the block's history as
    trials, with the proposals of similar data sets queued first."""
    optuna = require_optuna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sampler = optuna.samplers.TPESampler(
            seed=seed, multivariate=True, constant_liar=constant_liar
        )
        study = optuna.create_study(direction="maximize", sampler=sampler)
        distributions = block.space.distributions()
        warm = []
        for known in block.known:
            tokens = block.space.tokens(known.values)
            if tokens is None:
                continue
            if known.score is None:
                state = optuna.trial.TrialState.FAIL
                warm.append(
                    optuna.trial.create_trial(
                        state=state, params=tokens, distributions=distributions
                    )
                )
            else:
                warm.append(
                    optuna.trial.create_trial(
                        value=known.score, params=tokens, distributions=distributions
                    )
                )
        study.add_trials(warm)
        for proposal in block.proposals:
            tokens = {
                name: block.space.dims[block.space.names.index(name)].token(value)
                for name, value in proposal.values.items()
            }
            study.enqueue_trial(tokens, user_attrs={"proposal": proposal.run})
    return study


def ask(study: Any, block: Block) -> tuple[Any, dict[str, Any], Proposal | None]:
    """The study's next trial, its values in the spec's terms, and the proposal it came from."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trial = study.ask(block.space.distributions())
    values = block.space.values(trial.params)
    source = trial.user_attrs.get("proposal")
    proposal = next((p for p in block.proposals if p.run == source), None)
    return trial, values, proposal


def tell(study: Any, trial: Any, score: float | None) -> None:
    optuna = require_optuna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if score is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, score)


def search(
    store: Store,
    setup: Setup,
    *,
    trials: int,
    seed: int | None = None,
    console: Console,
    quiet: bool = False,
    strict: bool = False,
) -> list[BlockReport]:
    """Train ``trials`` new points of each block (proposals the journal answers are free),
    recording each as a run. Ctrl-C stops after the last recorded trial."""
    if trials < 1:
        raise JournalError(f"--trials must be at least 1, not {trials}")
    reports: list[BlockReport] = []
    for block in setup.blocks:
        report = BlockReport(block)
        reports.append(report)
        study = new_study(block, seed=seed)
        progress = progress_bar(console, quiet=quiet, label=f"searching {block.label}")
        try:
            with progress:
                task = progress.add_task("search", total=trials, last="")
                _search_block(store, setup, report, study, trials, strict, console, progress, task)
        except KeyboardInterrupt:
            report.interrupted = True
        if report.interrupted:
            break
    return reports


def _search_block(
    store: Store,
    setup: Setup,
    report: BlockReport,
    study: Any,
    trials: int,
    strict: bool,
    console: Console,
    progress: Progress,
    task: Any,
) -> None:
    from gitlab_journal.run.runner import execute

    block = report.block
    free = 0
    said: set[str] = set()
    while len(report.trained) < trials:
        trial, values, proposal = ask(study, block)
        point = Point(block.space.model, block.space.point(values), len(report.trials))
        planned = setup.planner.plan(point, fresh=True)
        if planned.earlier:
            known = observation_of_runs(planned.earlier, block.space, values, setup.metric)
            tell(study, trial, known.score if known else None)
            report.trials.append(
                Trial(
                    values,
                    known.score if known else None,
                    known.status if known else "interrupted",
                    "journal",
                    runs=tuple(r.id for r in planned.earlier),
                )
            )
            free += 1
            if free >= max(FREE_ANSWERS, 5 * trials):
                report.exhausted = True
                return
            continue
        free = 0
        # The runner trains and records the point; what it says (pre-flight findings) is
        # passed on once, not once per trial.
        said_now = Console(file=io.StringIO(), width=console.width, color_system=None)
        done = execute(
            store, setup.planner.as_plan([planned]), quiet=True, console=said_now, strict=strict
        )
        for line in said_now.file.getvalue().splitlines():  # type: ignore[attr-defined]
            if line.strip() and line not in said:
                said.add(line)
                progress.console.print(line, markup=False, highlight=False)
        if done.recorded:  # counted even when Ctrl-C came right after it was recorded
            run = done.recorded[0]
            known = observation_of_runs([run], block.space, values, setup.metric)
            score = known.score if known else None
            tell(study, trial, score)
            source = f"similar data {proposal.name}" if proposal is not None else "trained"
            report.trials.append(Trial(values, score, run.status, source, run=run, runs=(run.id,)))
            shown = f"{score:.4f}" if score is not None else run.status
            progress.update(task, advance=1, last=f"{run.id} {shown} {_short(values)}")
        if done.interrupted or not done.recorded:
            report.interrupted = True
            return


def _short(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={show_value(v)}" for k, v in sorted(values.items()))
