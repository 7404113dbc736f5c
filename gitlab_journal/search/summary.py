"""What `run --search` prints: per model block, where the search started and what it found."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from gitlab_journal.journal.identity import finite_json
from gitlab_journal.search.insights import GroupInsight
from gitlab_journal.search.space import show_value
from gitlab_journal.search.study import BlockReport, Setup
from gitlab_journal.search.suggest import Suggestion

SHOWN = 10


def values_text(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={show_value(v)}" for k, v in sorted(values.items())) or "(defaults)"


def score_text(score: float | None, status: str) -> str:
    return f"{score:.4f}" if score is not None else status


def print_search(console: Console, setup: Setup, reports: Sequence[BlockReport]) -> None:
    metric = setup.metric or "score"
    for report in reports:
        block = report.block
        trained = report.trained
        answered = [t for t in report.trials if t.source == "journal"]
        table = Table(
            title=f"Search of {block.label}: the best of {len(trained)} new trial(s)",
            title_justify="left",
        )
        for column in ("run", "params", metric, "status", "came from"):
            table.add_column(column)
        ranked = sorted(trained, key=lambda t: (t.score is None, -(t.score or 0.0)))
        for trial in ranked[:SHOWN]:
            table.add_row(
                trial.run.id if trial.run else "-",
                values_text(trial.values),
                score_text(trial.score, trial.status),
                trial.status,
                trial.source,
            )
        if trained:
            console.print(table)
        start = f"warm-started from {len(block.known)} recorded experiment(s)"
        if block.proposals:
            start += f", {len(block.proposals)} setting(s) from similar data sets first"
        failed = sum(1 for t in trained if t.score is None)
        console.print(
            f"{block.label}: trained {len(trained)} trial(s) ({failed} failed), "
            f"{len(answered)} proposal(s) answered from the journal at no cost; {start}."
        )
        before = block.best()
        found = [t for t in trained if t.score is not None]
        best_new = max(found, key=lambda t: t.score or 0.0) if found else None
        if best_new is not None and best_new.run is not None:
            line = f"Best new: {best_new.run.id} {metric} {best_new.score:.4f}"
            if before is not None and before.score is not None:
                delta = (best_new.score or 0.0) - before.score
                line += f" ({delta:+.4f} against the journal's best before, {before.score:.4f})"
            console.print(line)
        if report.exhausted:
            console.print(
                "The sampler kept proposing recorded points: this space looks exhausted "
                "(widen a range or add choices)."
            )
        if report.interrupted:
            console.print(
                "Interrupted. Every recorded trial is complete; run the same command again to "
                "go on with this search (the journal is its memory)."
            )


def print_suggestions(
    console: Console, setup: Setup, found: Sequence[Sequence[Suggestion]]
) -> None:
    metric = setup.metric or "score"
    for block, suggestions in zip(setup.blocks, found, strict=True):
        table = Table(
            title=f"Next settings for {block.label} ({len(block.known)} recorded on this data)",
            title_justify="left",
            show_lines=True,
        )
        table.add_column("#", justify="right")
        table.add_column("params")
        table.add_column(f"predicted {metric}", justify="right")
        table.add_column("why")
        for i, suggestion in enumerate(suggestions, start=1):
            predicted = "-"
            if suggestion.predicted is not None and suggestion.uncertainty is not None:
                predicted = f"{suggestion.predicted:.4f} ± {suggestion.uncertainty:.4f}"
            table.add_row(
                str(i), values_text(suggestion.values), predicted, "\n".join(suggestion.reasons)
            )
        console.print(table)
        if not suggestions:
            console.print("No new setting found: every proposal is already recorded.")
    console.print("Nothing was trained. `git journal run --search optuna --trials N` tries them.")


def suggestions_json(setup: Setup, found: Sequence[Sequence[Suggestion]]) -> list[dict[str, Any]]:
    return [
        {
            "model": s.model,
            "params": finite_json(s.params),  # a fixed .inf as the journal writes it
            "searched": finite_json(s.values),
            "fingerprint": s.fingerprint,
            "metric": setup.metric,
            "predicted": s.predicted,
            "uncertainty": s.uncertainty,
            "expected_improvement": s.expected_improvement,
            "nearest_distance": s.nearest,
            "nearest_run": s.nearest_run,
            "reasons": list(s.reasons),
        }
        for suggestions in found
        for s in suggestions
    ]


def print_insights(console: Console, groups: Sequence[GroupInsight]) -> None:
    if not groups:
        console.print(
            "No group of runs to learn from yet (a model on one data set, 4 runs or more)."
        )
        return
    for group in groups:
        best = "-"
        if group.best_score is not None:
            best = f"{group.metric} {group.best_score:.4f} (run {group.best_run})"
        how = {"fanova": "fANOVA", "random forest": "random-forest importance"}.get(
            group.method or "", group.method or "too few scored runs"
        )
        console.print(
            f"[bold]{group.label}[/bold]: {group.runs} runs, {group.failed} failed or diverged; "
            f"best {best}"
        )
        table = Table(caption=f"importance for {group.metric}: {how}", caption_justify="left")
        table.add_column("param")
        table.add_column("importance", justify="right")
        table.add_column("best region")
        table.add_column("failed or diverged")
        for param in group.params:
            importance = "-" if param.importance is None else f"{param.importance:.3f}"
            table.add_row(param.name, importance, param.best_region, param.failures)
        if not group.params:
            table.add_row("(no param varies)", "-", "-", "-")
        console.print(table)


def insights_json(groups: Sequence[GroupInsight]) -> list[dict[str, Any]]:
    return [
        {
            "model": g.model,
            "data": dict(g.data),
            "evaluation": dict(g.evaluation),
            "metric": g.metric,
            "runs": g.runs,
            "failed": g.failed,
            "best": {
                "run": g.best_run,
                "score": g.best_score,
                "params": finite_json(g.best_params),
            },
            "method": g.method,
            "params": [
                {
                    "name": p.name,
                    "importance": p.importance,
                    "best_region": p.best_region,
                    "failures": p.failures,
                }
                for p in g.params
            ],
        }
        for g in groups
    ]
