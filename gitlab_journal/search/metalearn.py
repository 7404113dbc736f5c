"""Meta-learning: describe each data set once, and start a new one from the best settings of the
most similar data sets in this journal and in the journals named with ``--from``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitlab_journal.data.loaders import load_data
from gitlab_journal.data.metafeatures import data_key, metafeatures, nearest, summary
from gitlab_journal.errors import JournalError
from gitlab_journal.journal.index import Index, open_index
from gitlab_journal.journal.store import Store
from gitlab_journal.search.history import best_row
from gitlab_journal.search.space import SearchSpace
from gitlab_journal.spec.model import DataSpec

DEFAULT_SIMILAR = 3


@dataclass(frozen=True)
class Proposal:
    """Settings to try first: the best of a similar data set."""

    values: Mapping[str, Any]  # the searched params, moved into this space
    data: str  # the data set's key
    name: str  # how its runs name the data (e.g. sklearn:wine)
    distance: float
    score: float
    run: str  # the run whose settings these are
    journal: str  # "this journal" or the --from path

    def reason(self, metric: str | None) -> str:
        where = "" if self.journal == "this journal" else f" in {self.journal}"
        label = metric or "score"
        return (
            f"best on similar data {self.name}{where} (distance {self.distance:.3f}; "
            f"{label} {self.score:.4f} there, run {self.run})"
        )


def describe_data(
    store: Store,
    root: Path,
    data: DataSpec,
    hashes: Mapping[str, str],
    arrays: tuple[Any, Any] | None = None,
) -> tuple[str, dict[str, Any]] | None:
    """The meta-features of a data set, computed and recorded in the journal the first time
    (one commit), read back afterwards. None when the data has no hashed input."""
    key = data_key(hashes)
    if key is None:
        return None
    known = store.dataset(key)
    if known is not None:
        return key, known
    X, y = arrays if arrays is not None else load_data(root, data)
    doc = metafeatures(X, y)
    doc["data"] = dict(sorted(hashes.items()))
    store.record_dataset(key, doc, summary(doc))
    return key, doc


@contextlib.contextmanager
def journals(store: Store, sources: Sequence[str]) -> Iterator[list[tuple[str, Store, Index]]]:
    """This journal and each ``--from PATH`` journal, with their indexes open."""
    opened: list[tuple[str, Store, Index]] = []
    try:
        opened.append(("this journal", store, open_index(store)))
        for path in sources:
            try:
                other = Store.discover(Path(path))
                opened.append((path, other, open_index(other)))
            except JournalError as exc:
                raise JournalError(f"--from {path}: {exc.message}", hint=exc.hint) from exc
        yield opened
    finally:
        for _, _, index in opened:
            index.close()


def similar_settings(
    opened: Sequence[tuple[str, Store, Index]],
    query_key: str,
    query: Mapping[str, Any],
    space: SearchSpace,
    model: str,
    metric: str | None,
    k: int = DEFAULT_SIMILAR,
) -> list[Proposal]:
    """The best settings of ``model`` on the ``k`` data sets most like ``query`` (nearest first),
    from every journal in ``opened``; each moved into ``space``, duplicates left out."""
    described: dict[str, Mapping[str, Any]] = {}
    where: dict[str, tuple[str, Index]] = {}
    for label, store, index in opened:
        for key, doc in store.datasets().items():
            if key != query_key and key not in described:
                described[key] = doc
                where[key] = (label, index)
    if not described or k <= 0:
        return []
    rows_by_journal: dict[str, dict[str, list[Any]]] = {}
    proposals: list[Proposal] = []
    seen: set[str] = set()
    for key, distance in nearest(query, described, len(described)):
        label, index = where[key]
        if label not in rows_by_journal:
            grouped: dict[str, list[Any]] = {}
            for row in index.query(model=model):
                row_key = data_key(row.data)
                if row_key is not None:
                    grouped.setdefault(row_key, []).append(row)
            rows_by_journal[label] = grouped
        found = best_row(rows_by_journal[label].get(key, []), metric)
        if found is None:
            continue
        row, score = found
        values = space.clip(dict(row.params))
        if not values:
            continue  # its best does not fit this space (other choices, other types)
        marker = repr(sorted(values.items()))
        if marker in seen:
            continue
        seen.add(marker)
        name = ", ".join(sorted(row.data)) or key[:12]
        proposals.append(Proposal(values, key, name, distance, score, row.id, label))
        if len(proposals) >= k:
            break
    return proposals
