"""The leaderboard at the journal branch's root: ``leaderboard.json`` and the README built from it.

A record rewrites it only when the run enters its family's best runs, at a cost that does not
grow with the journal: the file keeps only the best ``TOP_K`` runs of at most ``MAX_FAMILIES``
experiment families (the family whose best runs changed least recently is dropped first), and
the README is rendered from that file alone. No run is ever read to rebuild it, and a record
that changes no ranking leaves both files as they are, so their history is the history of the
rankings.

A family is the spec's ``name`` when the run has one, else the model's class and its data
inputs. Runs are ranked by their headline metric (the first scorer); a metric named like a loss
or an error (``loss``, ``mse``, ``mean_absolute_error``, but not scikit-learn's ``neg_...``
scorers) ranks lowest first. Only runs with status ``ok`` and a finite headline enter it; the
best run of each experiment (fingerprint) is kept, so repeats do not crowd the table.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeGuard

from gitlab_journal.journal import format as fmt
from gitlab_journal.journal import schema
from gitlab_journal.journal.escape import md_cell, md_code
from gitlab_journal.journal.identity import finite_json
from gitlab_journal.journal.records import Run

LEADERBOARD_FILE = "leaderboard.json"
LEADERBOARD_FORMAT = 1
TOP_K = 10
MAX_FAMILIES = 30
_LOWER_IS_BETTER = ("loss", "error", "mse", "mae", "rmse", "mape", "deviance", "perplexity")


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (scikit-learn's scorers all are)."""
    name = metric.lower()
    if name.startswith("neg_"):
        return True
    return not any(word in name for word in _LOWER_IS_BETTER)


def family_of(run: Run) -> str:
    """The experiment family a run belongs to on the leaderboard."""
    return family_name(run.name, run.model, run.data)


def family_name(name: str | None, model: str, data: Iterable[str]) -> str:
    """The spec's ``name``; else the model's class and the data inputs' names."""
    if name:
        return name
    cls = model.rsplit(".", 1)[-1]
    inputs = ", ".join(sorted(data))
    return f"{cls} on {inputs}" if inputs else cls


def empty() -> dict[str, Any]:
    return {"format": LEADERBOARD_FORMAT, "top": TOP_K, "families": []}


def load(blob: bytes | None) -> dict[str, Any]:
    """The leaderboard document; a missing, unreadable, oversized or newer one starts afresh,
    and of a readable one only the well-formed families and rows are kept (the file may come
    from another clone: a summary to rebuild, never a reason to refuse a record)."""
    if not blob or len(blob) > schema.MAX_RECORD_BYTES:
        return empty()
    try:
        doc = json.loads(blob)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return empty()
    if (
        not isinstance(doc, dict)
        or doc.get("format") != LEADERBOARD_FORMAT
        or not isinstance(doc.get("families"), list)
    ):
        return empty()
    families: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for family in doc["families"]:
        kept = _family(family)
        if kept is not None and (kept["family"], kept["metric"]) not in seen:
            seen.add((kept["family"], kept["metric"]))
            families.append(kept)
    doc = {"format": LEADERBOARD_FORMAT, "top": TOP_K, "families": families}
    _trim(doc)
    return doc


def _family(value: Any) -> dict[str, Any] | None:
    """A family of a loaded leaderboard as this module writes it, its rows ranked; None when
    it is not one or has no well-formed row."""
    if not isinstance(value, dict):
        return None
    name, metric = value.get("family"), value.get("metric")
    if not isinstance(name, str) or not name or not isinstance(metric, str) or not metric:
        return None
    higher = value.get("higher_is_better", True)
    higher = higher if isinstance(higher, bool) else higher_is_better(metric)
    top = value.get("top")
    rows = (
        [r for r in (_row(item) for item in top) if r is not None] if isinstance(top, list) else []
    )
    if not rows:
        return None
    updated = value.get("updated")
    return {
        "family": name,
        "metric": metric,
        "higher_is_better": higher,
        "updated": updated if isinstance(updated, str) else "",
        "top": _rank(rows, higher)[:TOP_K],
    }


def _row(value: Any) -> dict[str, Any] | None:
    """A row of a loaded leaderboard with the fields :func:`entry` writes, or None."""
    if not isinstance(value, dict):
        return None
    score, std = value.get("score"), value.get("std")
    if not _finite(score) or not all(
        isinstance(value.get(key), str) for key in ("id", "fingerprint", "model", "created")
    ):
        return None
    point, code = value.get("point"), value.get("code")
    if not isinstance(point, dict) or not _writable(point):
        point = {}
    row: dict[str, Any] = {
        "id": value["id"],
        "fingerprint": value["fingerprint"],
        "model": value["model"],
        "point": point,
        "score": float(score),
    }
    if _finite(std):
        row["std"] = float(std)
    row["created"] = value["created"]
    row["code"] = code if isinstance(code, str) else None
    return row


def _writable(value: Any) -> bool:
    """Whether :func:`dump` can write ``value`` (json reads NaN, which it must not write)."""
    try:
        json.dumps(value, allow_nan=False)
    except (ValueError, RecursionError):
        return False
    return True


def _finite(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def entry(run: Run) -> dict[str, Any] | None:
    """The leaderboard row of a run, or None when it cannot be ranked."""
    head = run.headline()
    if run.status != "ok" or head is None:
        return None
    metric, score = head
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
        return None
    row: dict[str, Any] = {
        "id": run.id,
        "fingerprint": run.fingerprint,
        "model": run.model,
        "point": finite_json(fmt.run_document(run)["point"]),
        "score": float(score),
    }
    std = run.metrics.get(f"{metric}_std")
    if isinstance(std, (int, float)) and not isinstance(std, bool) and math.isfinite(std):
        row["std"] = float(std)
    row["created"] = run.created
    row["code"] = run.code.commit
    return row


def _better(a: Mapping[str, Any], b: Mapping[str, Any], higher: bool) -> bool:
    """Whether row ``a`` ranks above row ``b`` (ties: the older run first)."""
    if a["score"] != b["score"]:
        return bool(a["score"] > b["score"]) if higher else bool(a["score"] < b["score"])
    return (a["created"], a["id"]) < (b["created"], b["id"])


def _rank(rows: list[dict[str, Any]], higher: bool) -> list[dict[str, Any]]:
    sign = -1.0 if higher else 1.0
    return sorted(rows, key=lambda r: (sign * r["score"], r["created"], r["id"]))


def add(doc: dict[str, Any], run: Run) -> bool:
    """Add ``run`` to the leaderboard document in place; False when nothing changed."""
    return _add(doc, run)


def _add(doc: dict[str, Any], run: Run) -> bool:
    """Add ``run`` in place; False (the document untouched) when it does not enter its
    family's best runs: it cannot be ranked, or ranks below them, or below its own repeat."""
    head = run.headline()
    if run.status != "ok" or head is None or not _finite(head[1]):
        return False
    metric = head[0]
    name = family_of(run)
    families: list[dict[str, Any]] = doc["families"]
    family = next(
        (f for f in families if f.get("family") == name and f.get("metric") == metric), None
    )
    if family is not None and not _may_enter(
        family, run, float(head[1]), int(doc.get("top", TOP_K))
    ):
        return False  # most records of a long grid: decided before their row is made
    row = entry(run)
    if row is None:
        return False
    if family is None:
        family = {
            "family": name,
            "metric": metric,
            "higher_is_better": higher_is_better(metric),
            "updated": run.created,
            "top": [row],
        }
        families.append(family)
        _trim(doc)
        return True
    higher = bool(family.get("higher_is_better", True))
    top: list[dict[str, Any]] = [r for r in family.get("top", []) if isinstance(r, dict)]
    same = next((r for r in top if r.get("fingerprint") == run.fingerprint), None)
    if same is not None:
        if not _better(row, same, higher):
            return False
        top.remove(same)
    ranked = _rank([*top, row], higher)[: int(doc.get("top", TOP_K))]
    if not any(r is row for r in ranked):
        return False
    family["top"] = ranked
    family["updated"] = max(str(family.get("updated", "")), run.created)
    _trim(doc)
    return True


def _may_enter(family: Mapping[str, Any], run: Run, score: float, limit: int) -> bool:
    """Whether a run of ``score`` could enter ``family``'s ranked rows: it beats its own
    repeat there, or the last row, or the rows are not all taken."""
    higher = bool(family.get("higher_is_better", True))
    top = [r for r in family.get("top", []) if isinstance(r, dict)]
    mine = {"score": score, "created": run.created, "id": run.id}
    same = next((r for r in top if r.get("fingerprint") == run.fingerprint), None)
    if same is not None:
        return _better(mine, same, higher)
    return len(top) < limit or _better(mine, _rank(top, higher)[limit - 1], higher)


def _trim(doc: dict[str, Any]) -> None:
    families: list[dict[str, Any]] = doc["families"]
    if len(families) > MAX_FAMILIES:
        families.sort(key=lambda f: str(f.get("updated", "")), reverse=True)
        del families[MAX_FAMILIES:]
    families.sort(key=lambda f: (str(f.get("family", "")), str(f.get("metric", ""))))


def rows(doc: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(family, row) of every row of a loaded leaderboard document."""
    for family in doc.get("families", []):
        for row in family.get("top", []):
            yield str(family.get("family", "")), row


# Whether a row of a family ranked by a metric is a recorded run of that score: (metric, row).
KeepRow = Callable[[str, Mapping[str, Any]], bool]


def keep_rows(doc: dict[str, Any], keep: KeepRow) -> None:
    """Keep in a loaded document (in place) only the rows ``keep`` accepts, and the families
    that have a row left: the file may come from another clone, and a row it names must be a
    run of the journal, with the score that run recorded."""
    families: list[dict[str, Any]] = doc["families"]
    for family in list(families):
        family["top"] = [row for row in family["top"] if keep(family["metric"], row)]
        if not family["top"]:
            families.remove(family)


def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The leaderboard of two journals merged: each family's top runs of both, re-ranked."""
    out = load(dump(a))
    for family in load(dump(b))["families"]:
        mine = next(
            (
                f
                for f in out["families"]
                if f.get("family") == family.get("family") and f.get("metric") == family["metric"]
            ),
            None,
        )
        if mine is None:
            out["families"].append(family)
            continue
        higher = bool(mine.get("higher_is_better", True))
        best: dict[str, dict[str, Any]] = {}
        for row in [*mine.get("top", []), *family.get("top", [])]:
            kept = best.get(row["fingerprint"])
            if kept is None or _better(row, kept, higher):
                best[row["fingerprint"]] = row
        mine["top"] = _rank(list(best.values()), higher)[: int(out.get("top", TOP_K))]
        mine["updated"] = max(str(mine.get("updated", "")), str(family.get("updated", "")))
    _trim(out)
    return out


def dump(doc: Mapping[str, Any]) -> bytes:
    """The file's bytes: one line per family, so a diff shows the families that changed.
    Each line is written by json's C encoder (an indented dump is several times slower)."""
    head = {k: v for k, v in doc.items() if k != "families"}
    lines = [_family_line(f) for f in doc.get("families", [])]
    text = json.dumps(finite_json(head), ensure_ascii=False, allow_nan=False)[:-1]
    text += (", " if head else "") + '"families": [\n' + ",\n".join(lines) + "\n]}\n"
    return text.encode()


def _family_line(family: Any) -> str:
    try:
        return json.dumps(family, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:  # a NaN or an infinity: written as identity.json writes them
        return json.dumps(
            finite_json(family), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        )


def _cell(value: Any) -> str:
    """A value for a table cell or heading: at most 60 characters, then escaped."""
    if isinstance(value, dict) and list(value) == ["__float__"]:
        value = value["__float__"]  # a NaN or an infinity, as finite_json writes it
    if isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return md_cell(text if len(text) <= 60 else text[:59] + "…")


def _score(row: Mapping[str, Any]) -> str:
    text = f"{row['score']:.4f}"
    if "std" in row:
        text += f" ± {row['std']:.4f}"
    return text


def readme(doc: Mapping[str, Any], version: int = fmt.FORMAT_VERSION) -> str:
    """The branch's README.md (of a journal of format ``version``): what the branch is, then
    the leaderboard."""
    lines = [fmt.readme_text(version).rstrip("\n"), "", "## Leaderboard", ""]
    families = doc.get("families", [])
    if not families:
        lines += ["No run has finished with a score yet.", ""]
        return "\n".join(lines)
    lines += [
        f"The best {doc.get('top', TOP_K)} runs of each experiment family by its headline metric, "
        f"updated when a record enters them (kept in `{LEADERBOARD_FILE}`; "
        "`git journal show RUN` tells the rest).",
        "",
    ]
    for family in families:
        try:  # a family's section is rendered once while the family stays the same
            key = json.dumps(family, ensure_ascii=False, allow_nan=False, sort_keys=True)
        except (TypeError, ValueError):
            lines += _section(family)
        else:
            lines += _cached_section(key)
    return "\n".join(lines)


@functools.lru_cache(maxsize=2 * MAX_FAMILIES)
def _cached_section(key: str) -> tuple[str, ...]:
    return tuple(_section(json.loads(key)))


def _section(family: Mapping[str, Any]) -> list[str]:
    """One family's table in the README."""
    metric = family["metric"]
    order = "higher is better" if family.get("higher_is_better", True) else "lower is better"
    lines = [
        f"### {_cell(family['family'])}",
        "",
        f"{_cell(metric)}, {order}.",
        "",
        f"| # | run | model | params | {_cell(metric)} | date |",
        "|--:|---|---|---|--:|---|",
    ]
    for rank, row in enumerate(family.get("top", []), 1):
        point = sorted(row.get("point", {}).items())
        params = ", ".join(f"{_cell(k)}={_cell(v)}" for k, v in point)
        model = str(row["model"]).rsplit(".", 1)[-1]
        lines.append(
            f"| {rank} | {md_code(row['id'])} | {_cell(model)} | "
            f"{params or '(defaults)'} | {_score(row)} | {_cell(str(row['created'])[:10])} |"
        )
    lines.append("")
    return lines


def replaced_files(
    blob: bytes | None,
    before: Run | None,
    after: Run,
    version: int = fmt.FORMAT_VERSION,
    keep: KeepRow | None = None,
) -> dict[str, bytes] | None:
    """The root files that rewriting the record ``before`` as ``after`` (the same run, its
    metrics or status changed) rewrites, given the current ``leaderboard.json``; None when the
    leaderboard stays as it is. ``before`` None: a record that could not be read, only added.
    ``keep``: the rows to keep of the current file (:func:`keep_rows`)."""
    doc = load(blob)
    old = dump(doc)
    if keep is not None:
        keep_rows(doc, keep)
    if before is not None:
        _remove(doc, before)
    _add(doc, after)
    new = dump(doc)
    if new == old:
        return None
    return {LEADERBOARD_FILE: new, fmt.README_FILE: readme(doc, version).encode()}


def _remove(doc: dict[str, Any], run: Run) -> None:
    """Take ``run``'s row out of the leaderboard document in place (its family too, when no
    row is left)."""
    head = run.headline()
    if entry(run) is None or head is None:
        return  # never ranked
    families: list[dict[str, Any]] = doc["families"]
    name = family_of(run)
    for family in families:
        if family.get("family") == name and family.get("metric") == head[0]:
            top = [r for r in family.get("top", []) if isinstance(r, dict)]
            family["top"] = [r for r in top if r.get("id") != run.id]
            if not family["top"]:
                families.remove(family)
            return


def updated_files(
    blob: bytes | None, run: Run, version: int = fmt.FORMAT_VERSION
) -> dict[str, bytes] | None:
    """The root files a record of ``run`` rewrites (``leaderboard.json``, ``README.md``) in a
    journal of format ``version``, given the current ``leaderboard.json``; None when the run
    enters no family's best runs."""
    return files_after(load(blob), run, version)


def files_after(
    doc: dict[str, Any], run: Run, version: int = fmt.FORMAT_VERSION
) -> dict[str, bytes] | None:
    """``updated_files`` on a parsed document, which is changed in place only when files are
    returned (so a caller may keep it while it is not)."""
    if not _add(doc, run):
        return None
    return {LEADERBOARD_FILE: dump(doc), fmt.README_FILE: readme(doc, version).encode()}
