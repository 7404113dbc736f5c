"""`git journal report`: what the journal holds (or gained since a revision), per experiment
family: a leaderboard, the params that moved the headline metric, and plots.

``--since REV`` takes either a revision of the journal (``origin/journal``, a journal commit):
the runs added since it; or a revision of the code (``origin/main``, the target of a merge
request): the runs made from the commits on HEAD's line that REV does not have (for a merge
request, the runs added on its branch). Rows come from the derived index; only ``history.json``
files (per-epoch metrics, for learning curves) are read from the store.

A family is the spec's ``name`` (else the model's class and its data inputs), with how its
table was read: runs of one file that read it in different ways (another target, other
``columns`` or ``drop``, ``dtypes``, ``sep``, ...) are different experiments, not to be ranked
against each other, so each way is a family of its own, named with the table options that tell
it from the others of its name (``table.drop=["fare"]``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pygit2

from gitlab_journal.errors import JournalError
from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.index import Index, Row
from gitlab_journal.journal.leaderboard import family_name, higher_is_better
from gitlab_journal.review.table import varying_params
from gitlab_journal.review.values import ABSENT, canonical_text, value_text

TOP = 10
EFFECTS = 6
PARAM_PLOTS = 4
CURVE_RUNS = 8


@dataclass(frozen=True)
class Effect:
    """How the headline metric moved with one param: its mean at each value."""

    param: str  # "model" for the model class itself, in a family of several
    means: tuple[tuple[Any, float, int], ...]  # (value, mean score, runs), by value
    spread: float  # best mean - worst mean
    model: str = ""  # in a family of several models: the model whose runs these are
    by_class: bool = False  # the model class itself (param "model"), not a param


@dataclass(frozen=True)
class Plot:
    name: str  # a file name stem, unique within the report
    title: str
    png: bytes


@dataclass(frozen=True)
class Family:
    name: str
    metric: str
    higher: bool
    rows: tuple[Row, ...]  # the family's runs in scope with a finite headline, best first
    best_before: Row | None = None  # with --since: the best run before it
    effects: tuple[Effect, ...] = ()
    plots: tuple[Plot, ...] = ()
    # How the family's runs read their table (flattened: ``dtypes.sex``; empty for none).
    table: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    title: str
    scope: str
    rows: tuple[Row, ...]
    families: tuple[Family, ...]
    failed: tuple[Row, ...]  # runs in scope that did not finish ok
    tip: str
    since: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def _score(row: Row) -> float:
    head = row.headline()
    assert head is not None
    return head[1]


def _ranked(rows: Iterable[Row], higher: bool) -> list[Row]:
    sign = -1.0 if higher else 1.0
    return sorted(rows, key=lambda r: (sign * _score(r), r.created, r.id))


def _runs(count: int) -> str:
    return f"{count} run{'s' if count != 1 else ''}"


# -- scope: --since ---------------------------------------------------------------------------


def _commit(repo: pygit2.Repository, rev: str) -> pygit2.Commit:
    try:
        return repo.revparse_single(rev).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        raise JournalError(
            f"unknown revision {rev!r}",
            hint="a journal revision (origin/journal) or a code one (origin/main, a sha)",
        ) from None


def _is_journal(commit: pygit2.Commit) -> bool:
    try:
        entry = commit.tree[fmt.FORMAT_FILE]
    except KeyError:
        return False
    return isinstance(entry, pygit2.Blob)


def scope_rows(index: Index, since: str | None) -> tuple[list[Row], list[Row], str]:
    """(rows in scope, every row, a sentence saying what the scope is)."""
    everything = index.query(ascending=True)
    if since is None:
        return everything, everything, f"all {len(everything)} runs of the journal"
    store = index.store
    repo = store.repo
    base = _commit(repo, since)
    if _is_journal(base):
        tip = repo[index.tip] if index.tip else store.require()
        assert isinstance(tip, pygit2.Commit)
        ids = {added.run_id for added in store.runs_added(base.tree, tip.tree)}
        rows = [r for r in everything if r.id in ids]
        what = f"the {_runs(len(rows))} added to the journal since {since} ({str(base.id)[:10]})"
        return rows, everything, what
    if repo.head_is_unborn:
        raise JournalError("--since with a code revision needs a commit on HEAD")
    head = repo.head.peel(pygit2.Commit)
    walker = repo.walk(head.id, pygit2.enums.SortMode.TOPOLOGICAL)
    walker.hide(base.id)
    commits = {str(c.id) for c in walker}
    rows = [r for r in everything if r.code.get("commit") in commits]
    what = (
        f"the {_runs(len(rows))} made from the {len(commits)} commit(s) on this branch that "
        f"{since} ({str(base.id)[:10]}) does not have"
    )
    return rows, everything, what


# -- families ---------------------------------------------------------------------------------


def _sort_value(value: Any) -> tuple[int, Any]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value))
    return (1, canonical_text(value))


def _effect(
    param: str, rows: Sequence[Row], values: Sequence[Any], model: str, by_class: bool = False
) -> Effect | None:
    groups: dict[str, tuple[Any, list[float]]] = {}
    for row, value in zip(rows, values, strict=True):
        groups.setdefault(canonical_text(value), (value, []))[1].append(_score(row))
    if len(groups) < 2:
        return None
    means = [(value, sum(s) / len(s), len(s)) for value, s in groups.values()]
    means.sort(key=lambda m: _sort_value(m[0]))
    scores = [m[1] for m in means]
    return Effect(param, tuple(means), max(scores) - min(scores), model, by_class)


def effects(rows: Sequence[Row], higher: bool) -> list[Effect]:
    """For each param that varies among ``rows``: the mean score at each of its values,
    the params whose values moved the score most first. In a family of several models each
    model's params are weighed among that model's runs alone, and the model itself is one
    more effect."""
    by_model: dict[str, list[Row]] = {}
    for row in rows:
        by_model.setdefault(row.model_class, []).append(row)
    several = len(by_model) > 1
    out: list[Effect] = []
    if several:
        found = _effect("model", rows, [r.model_class for r in rows], "", by_class=True)
        if found is not None:
            out.append(found)
    for model, members in by_model.items():
        for param in varying_params([r.params for r in members]):
            values = [r.params.get(param) for r in members]
            found = _effect(param, members, values, model if several else "")
            if found is not None:
                out.append(found)
    out.sort(key=lambda e: -e.spread)
    return out


def effect_rows(rows: Sequence[Row], effect: Effect) -> list[Row]:
    """The runs an effect was measured on."""
    return [r for r in rows if not effect.model or r.model_class == effect.model]


def effect_value(row: Row, effect: Effect) -> Any:
    return row.model_class if effect.by_class else row.params.get(effect.param)


def _slug(text: str) -> str:
    keep = "".join(c if c.isalnum() else "-" for c in text.lower())
    return "-".join(part for part in keep.split("-") if part)[:60] or "plot"


def read_history(index: Index, row: Row) -> dict[str, list[float]] | None:
    """A run's per-epoch metrics: ``history.json`` as ``{metric: [values]}`` (or a list of
    per-epoch objects), when the run has one."""
    data = index.store.file(row.fingerprint, row.id, fmt.HISTORY_FILE, index.tree())
    return parse_history(data) if data is not None else None


def parse_history(data: bytes) -> dict[str, list[float]] | None:
    """The per-epoch metrics a ``history.json`` holds (see :func:`read_history`), or None."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(doc, list):
        merged: dict[str, list[float]] = {}
        for epoch in doc:
            if isinstance(epoch, Mapping):
                for key, value in epoch.items():
                    merged.setdefault(str(key), []).append(value)
        doc = merged
    if isinstance(doc, Mapping) and isinstance(doc.get("history"), Mapping):
        doc = doc["history"]
    if not isinstance(doc, Mapping):
        return None
    out = {
        str(k): [float(x) for x in v if isinstance(x, (int, float)) and not isinstance(x, bool)]
        for k, v in doc.items()
        if isinstance(v, list) and len(v) > 1
    }
    return out or None


def build_family(
    index: Index,
    name: str,
    metric: str,
    rows: Sequence[Row],
    before: Sequence[Row],
    *,
    plots: bool,
    used: set[str],
    table: Mapping[str, Any] | None = None,
) -> Family:
    from gitlab_journal.review import report_plots as draw

    higher = higher_is_better(metric)
    ranked = _ranked(rows, higher)
    best_before = _ranked(before, higher)[0] if before else None
    found = effects(ranked, higher)
    drawn: list[Plot] = []
    if plots:
        for effect in found[:PARAM_PLOTS]:
            points = [(effect_value(r, effect), _score(r)) for r in effect_rows(ranked, effect)]
            label = f"{effect.model}: {effect.param}" if effect.model else effect.param
            stem = _unique(f"{_slug(name)}-{_slug(label)}", used)
            title = f"{name}: {metric} against {label}"
            drawn.append(
                Plot(stem, title, draw.metric_vs_param(effect.param, points, metric, title))
            )
        histories: dict[str, dict[str, list[float]]] = {}
        for row in ranked:
            history = read_history(index, row)
            if history:
                histories[row.id] = history
            if len(histories) >= CURVE_RUNS:
                break
        if histories:
            stem = _unique(f"{_slug(name)}-learning-curves", used)
            title = f"{name}: learning curves"
            drawn.append(Plot(stem, title, draw.learning_curves(histories, title)))
    return Family(
        name=name,
        metric=metric,
        higher=higher,
        rows=tuple(ranked),
        best_before=best_before,
        effects=tuple(found[:EFFECTS]),
        plots=tuple(drawn),
        table=dict(table or {}),
    )


def _unique(stem: str, used: set[str]) -> str:
    name, n = stem, 2
    while name in used:
        name, n = f"{stem}-{n}", n + 1
    used.add(name)
    return name


# A family's key: its name (the spec's, else the model's class and its data), how its table
# was read (canonical JSON of the flattened options) and its headline metric.
_Key = tuple[str, str, str]


def _key(row: Row, metric: str) -> _Key:
    return (family_name(row.name, row.model, row.data), canonical_text(row.table), metric)


def family_names(tables: Mapping[_Key, Mapping[str, Any]]) -> dict[_Key, str]:
    """Each family's title: its name, and where families of one name read their table in
    different ways, the table options that tell them apart (``table.drop=["fare"]``; an
    option a family leaves unset as ``—``)."""
    ways: dict[str, dict[str, Mapping[str, Any]]] = {}
    for key, table in tables.items():
        ways.setdefault(key[0], {})[key[1]] = table
    names: dict[_Key, str] = {}
    for key, table in tables.items():
        others = ways[key[0]]
        if len(others) < 2:
            names[key] = key[0]
            continue
        options = sorted({option for way in others.values() for option in way})
        differ = [
            option
            for option in options
            if len({canonical_text(way.get(option)) for way in others.values()}) > 1
        ]
        shown = ", ".join(
            f"table.{option}=" + (value_text(table[option], 40) if option in table else ABSENT)
            for option in differ
        )
        names[key] = f"{key[0]} ({shown})"
    return names


def build_report(index: Index, since: str | None = None, *, plots: bool = True) -> Report:
    rows, everything, scope = scope_rows(index, since)
    in_scope = {r.id for r in rows}
    groups: dict[_Key, list[Row]] = {}
    tables: dict[_Key, Mapping[str, Any]] = {}
    failed: list[Row] = []
    for row in rows:
        head = row.headline()
        if row.status != "ok" or head is None:
            failed.append(row)
            continue
        groups.setdefault(_key(row, head[0]), []).append(row)
    before: dict[_Key, list[Row]] = {}
    for row in everything:  # a family's title tells it from those of its name in the journal
        head = row.headline()
        if row.status != "ok" or head is None:
            continue
        key = _key(row, head[0])
        tables.setdefault(key, row.table)
        if since is not None and row.id not in in_scope and key in groups:
            before.setdefault(key, []).append(row)
    names = family_names(tables)
    used: set[str] = set()
    families = [
        build_family(
            index,
            names[key],
            key[2],
            groups[key],
            before.get(key, []),
            plots=plots,
            used=used,
            table=tables[key],
        )
        for key in sorted(groups, key=lambda k: (k[0], k[2], len(tables[k]), k[1]))
    ]
    title = "Experiment report" + (f" since {since}" if since else "")
    return Report(
        title=title,
        scope=scope,
        rows=tuple(rows),
        families=tuple(families),
        failed=tuple(failed),
        tip=str(index.tip or index.store.require().id),
        since=since,
    )
