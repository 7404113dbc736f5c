"""How two journal trees merge: the union of their run folders, a file both sides changed
resolved the same way whichever side merges, and their leaderboards merged. The store moves the
branch (:meth:`~gitlab_journal.journal.store.Store.merge`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pygit2

from gitlab_journal.errors import JournalError
from gitlab_journal.journal import format as fmt
from gitlab_journal.journal import leaderboard
from gitlab_journal.journal.identity import finite_json
from gitlab_journal.journal.records import checked_at
from gitlab_journal.journal.store import (
    BLOB_MODE,
    BLOB_OBJECT,
    TREE_MODE,
    blob_at,
    format_version,
    tree_entries,
)


@dataclass(frozen=True)
class Merged:
    """What :meth:`Store.merge` did.

    ``kind``: ``up-to-date`` (the other side had nothing new), ``fast-forward``, ``merge`` (a
    merge commit), or ``created`` (there was no local journal). ``incoming``/``outgoing``: runs
    only the other side / only this side had. ``resolved``: files both sides changed, and how.
    """

    kind: str
    commit: str
    incoming: int = 0
    outgoing: int = 0
    resolved: tuple[str, ...] = ()


def union(
    repo: pygit2.Repository,
    base: pygit2.Tree | None,
    ours: pygit2.Tree,
    theirs: pygit2.Tree,
    prefix: str,
    resolved: list[str],
    taken: dict[str, str] | None = None,
) -> pygit2.Oid:
    """The union of two journal trees, three-way where both sides changed one file (``base``:
    the tree of their merge base, None when they have none). ``taken`` collects the run folders
    whose ``code.committed`` the union took from ``theirs`` over another of ``ours``: folder
    path -> that commit (see :func:`merge_run_json`)."""
    if ours.id == theirs.id:
        return ours.id
    b, o, t = tree_entries(base), tree_entries(ours), tree_entries(theirs)
    builder = repo.TreeBuilder()
    for name in sorted(set(o) | set(t)):
        mine, other = o.get(name), t.get(name)
        if mine is None or other is None or mine.id == other.id:
            keep = mine if mine is not None else other
            assert keep is not None
            builder.insert(name, keep.id, keep.filemode)
            continue
        path = prefix + name
        old = b.get(name)
        if mine.filemode == TREE_MODE and other.filemode == TREE_MODE:
            old_tree = repo[old.id] if old is not None and old.filemode == TREE_MODE else None
            sub = union(
                repo,
                old_tree,  # type: ignore[arg-type]
                repo[mine.id],  # type: ignore[arg-type]
                repo[other.id],  # type: ignore[arg-type]
                path + "/",
                resolved,
                taken,
            )
            builder.insert(name, sub, TREE_MODE)
        elif old is not None and old.id == mine.id:
            builder.insert(name, other.id, other.filemode)  # only their side changed it
        elif old is not None and old.id == other.id:
            builder.insert(name, mine.id, mine.filemode)  # only our side changed it
        else:
            keep_id, mode, how, committed = _resolve(repo, path, mine, other, old)
            builder.insert(name, keep_id, mode)
            resolved.append(f"{path}: {how}")
            if committed is not None and taken is not None:
                taken[prefix.rstrip("/")] = committed
    return builder.write()


def mixed_formats(ours: int, theirs: int) -> JournalError:
    """Why two journals of different formats are not merged, and what to do."""
    if ours < theirs:
        hint = (
            "run `git journal migrate` here (it keeps every run), then sync again; "
            "nothing was merged"
        )
    else:
        hint = (
            "the other clone must run `git journal migrate` and push; until then its new "
            "runs stay there; nothing was merged"
        )
    return JournalError(
        f"this journal is in format {ours} and the other in format {theirs}: "
        "journals of two formats are not merged",
        hint=hint,
    )


def merged_leaderboard(
    base: pygit2.Tree | None,
    ours: pygit2.Tree,
    theirs: pygit2.Tree,
    keep: leaderboard.KeepRow | None = None,
) -> dict[str, bytes] | None:
    """``leaderboard.json`` and the README rendered from it, both sides' leaderboards merged
    (``keep``: the rows to keep of the merged one); None when they agree. Where only the
    READMEs differ (both sides migrated, say), the README is rendered again from the
    leaderboard the union keeps."""
    mine = blob_at(ours, leaderboard.LEADERBOARD_FILE)
    other = blob_at(theirs, leaderboard.LEADERBOARD_FILE)
    old = blob_at(base, leaderboard.LEADERBOARD_FILE) if base is not None else None
    version = format_version(ours)
    if mine is None or other is None or mine == other or old in (mine, other):
        # One side only, or only one side changed it: the union took that side.
        readmes = [blob_at(t, fmt.README_FILE) for t in (ours, theirs)]
        old_readme = blob_at(base, fmt.README_FILE) if base is not None else None
        if readmes[0] == readmes[1] or old_readme in readmes:
            return None
        kept = other if mine is None or old == mine else mine
        return {fmt.README_FILE: leaderboard.readme(leaderboard.load(kept), version).encode()}
    doc = leaderboard.merge(leaderboard.load(mine), leaderboard.load(other))
    if keep is not None:
        leaderboard.keep_rows(doc, keep)
    return {
        leaderboard.LEADERBOARD_FILE: leaderboard.dump(doc),
        fmt.README_FILE: leaderboard.readme(doc, version).encode(),
    }


def _resolve(
    repo: pygit2.Repository,
    path: str,
    mine: pygit2.Object,
    other: pygit2.Object,
    old: pygit2.Object | None,
) -> tuple[pygit2.Oid, int, str, str | None]:
    """One file both sides changed since ``old`` (the merge base's, if any): the same answer
    whichever side merges, but for a ``code.committed`` both sides set (the other side's is
    kept, and returned last; None otherwise)."""
    if mine.type != BLOB_OBJECT or other.type != BLOB_OBJECT:  # a folder (or a submodule)
        keep = max((mine, other), key=lambda e: str(e.id))
        return keep.id, keep.filemode, "a file on one side, a folder on the other: kept one", None
    a, b = repo[mine.id], repo[other.id]
    assert isinstance(a, pygit2.Blob) and isinstance(b, pygit2.Blob)
    if path == fmt.FORMAT_FILE:
        try:
            versions = {int(a.data.decode().strip()): a.id, int(b.data.decode().strip()): b.id}
        except ValueError:
            versions = {}
        if versions:
            return versions[max(versions)], BLOB_MODE, "kept the newer format version", None
    if path.endswith("/" + fmt.RUN_FILE):
        base = repo[old.id] if old is not None and old.type == BLOB_OBJECT else None
        merged = merge_run_json(
            a.data, b.data, base.data if isinstance(base, pygit2.Blob) else None
        )
        if merged is not None:
            return repo.create_blob(merged.data), BLOB_MODE, merged.how, merged.taken
    keep_blob = max((a, b), key=lambda blob: (len(blob.data), str(blob.id)))
    return keep_blob.id, BLOB_MODE, "kept the longer version", None


@dataclass(frozen=True)
class MergedRun:
    """A run.json merged (:func:`merge_run_json`): its bytes, what the merge did (the line the
    merge commit and `sync` show), and the ``code.committed`` taken from the other side over
    another of this side (None when the sides did not both set one)."""

    data: bytes
    how: str
    taken: str | None = None


def merge_run_json(mine: bytes, theirs: bytes, base: bytes | None = None) -> MergedRun | None:
    """Two versions of one run.json that differ only in what is added to a run after it is
    recorded, merged against ``base``, the version of their merge base (None: none, or the run
    is not in it). None when anything else differs.

    - ``notes``, key by key: a note only one side changed since ``base`` takes that side's
      text (or is gone, where that side removed it); two sides that changed it differently
      keep both texts, joined by a blank line in sorted order (one text, where one holds the
      other), as without a base.
    - ``reproductions``: those of both sides, each once, oldest first by ``checked`` (two of one
      second in the order of their JSON text), so the last is the latest rerun whichever side
      merges (:func:`~.records.latest_reproduction`).
    - ``code.committed``, the commit its code was later committed as (post-commit): set once,
      so the side that set it wins. Where both sides set it to two commits since ``base`` (two
      clones committed the same code), the other side's is kept: the journal being merged in
      (in `sync`, the remote's) published it first, and the remote's hook keeps a value once
      set. The dropped one is named in :attr:`MergedRun.how`.

    The merged run.json is strict JSON, as :func:`~.format.run_document` writes it: a NaN or an
    infinity of the point or of a reproduction (a bare ``NaN`` of a record written before) is
    written ``{"__float__": "nan"}``, so two sides that wrote one value in the two forms agree
    on it, and a reproduction both hold is kept once. A bare one anywhere else, where run.json
    never holds one, is not merged (None)."""
    a, b = _run_doc(mine), _run_doc(theirs)
    if a is None or b is None:
        return None
    old = _run_doc(base) if base is not None else None
    notes_a, notes_b = a.get("notes") or {}, b.get("notes") or {}
    notes_old = (old.get("notes") or {}) if old is not None else None
    code_a, code_b = a.get("code") or {}, b.get("code") or {}
    code_old = (old.get("code") or {}) if old is not None else {}
    reps_a, reps_b = a.get("reproductions") or [], b.get("reproductions") or []
    if not all(isinstance(x, dict) for x in (notes_a, notes_b, code_a, code_b)):
        return None
    if not isinstance(notes_old, (dict, type(None))) or not isinstance(code_old, dict):
        notes_old, code_old = None, {}  # a base that is no run.json: merged as without one
    if not isinstance(reps_a, list) or not isinstance(reps_b, list):
        return None
    if _fixed_part(a) != _fixed_part(b):
        return None
    doc = dict(a)
    doc["notes"] = dict(sorted(_merged_notes(notes_a, notes_b, notes_old).items()))
    done: list[str] = []
    if notes_a != notes_b:
        done.append("merged the notes of both sides")
    taken = None
    committed_a, committed_b = code_a.get("committed"), code_b.get("committed")
    if committed_a and committed_b and committed_a != committed_b:
        if code_old.get("committed"):
            return None  # a side changed a commit set before: no merge of that
        taken = str(committed_b)
        done.append(
            f"its code was noted as committed in two commits: kept {committed_b} (the journal "
            f"merged in, which published it first), dropped {committed_a} (this clone's, which "
            "holds the same code)"
        )
    elif committed_a != committed_b:
        done.append("kept the commit its code was committed as")
    if _canonical_list(reps_a) != _canonical_list(reps_b):
        done.append("kept the reruns of both sides")
    if committed_a or committed_b:
        doc["code"] = {**code_a, "committed": committed_b or committed_a}
    if reps_a or reps_b:
        seen = _canonical_list(reps_a)
        extra = [r for r in reps_b if json.dumps(r, sort_keys=True) not in seen]
        doc["reproductions"] = sorted([*reps_a, *extra], key=_rerun_order)
    try:
        text = json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False)
    except ValueError:  # a bare NaN where run.json never holds one
        return None
    how = "; ".join(done) or "written as strict JSON"
    return MergedRun((text + "\n").encode(), how, taken)


def _canonical_list(reproductions: list[Any]) -> set[str]:
    return {json.dumps(r, sort_keys=True) for r in reproductions}


def _rerun_order(reproduction: Any) -> tuple[str, str]:
    """Where a rerun goes in merged ``reproductions``: by ``checked``, then by its JSON text."""
    checked = checked_at(reproduction) if isinstance(reproduction, dict) else ""
    return checked, json.dumps(reproduction, sort_keys=True)


def _run_doc(data: bytes) -> dict[str, Any] | None:
    """A run.json parsed, strict as :func:`_strict_run` makes it; None when it is no object."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return _strict_run(doc) if isinstance(doc, dict) else None


def _merged_notes(
    mine: dict[str, Any], theirs: dict[str, Any], base: dict[str, Any] | None
) -> dict[str, Any]:
    """Two sides' notes, merged key by key against the base's (see :func:`merge_run_json`)."""
    notes: dict[str, Any] = {}
    for key in dict.fromkeys([*mine, *theirs]):
        a, b = mine.get(key), theirs.get(key)
        old = base.get(key) if base is not None else None
        if a == b or (b is None and base is None):
            text = a
        elif a is None and base is None:
            text = b
        elif base is not None and a == old:
            text = b  # only their side changed it
        elif base is not None and b == old:
            text = a  # only our side changed it
        elif a is None or b is None:
            text = a if b is None else b  # one side changed it, the other removed it
        else:
            text = _joined(str(a), str(b))
        if text is not None:
            notes[key] = text
    return notes


def _joined(a: str, b: str) -> str:
    """Two texts of one note, both kept: one of them where it holds the other."""
    if a in b:
        return b
    if b in a:
        return a
    return "\n\n".join(sorted((a, b)))


def _strict_run(doc: dict[str, Any]) -> dict[str, Any]:
    """A parsed run.json with its point and reproductions as run.json writes them now
    (:func:`~.format.run_document`): keys sorted, a NaN or an infinity as ``{"__float__":
    "nan"}``; anything else as it was."""
    out = dict(doc)
    if isinstance(out.get("point"), dict):
        out["point"] = finite_json(_key_sorted(out["point"]))
    if isinstance(out.get("reproductions"), list):
        out["reproductions"] = [finite_json(_key_sorted(r)) for r in out["reproductions"]]
    return out


def _key_sorted(value: Any) -> Any:
    """Parsed JSON with every object's keys in sorted order (as run.json writes user values)."""
    if isinstance(value, dict):
        return {str(k): _key_sorted(v) for k, v in sorted(value.items(), key=lambda kv: kv[0])}
    if isinstance(value, list):
        return [_key_sorted(v) for v in value]
    return value


def _fixed_part(doc: dict[str, Any]) -> dict[str, Any]:
    """A run.json without what may be added after recording (see :func:`merge_run_json`)."""
    fixed = {k: v for k, v in doc.items() if k not in ("notes", "reproductions")}
    code = fixed.get("code")
    if isinstance(code, dict):
        fixed["code"] = {k: v for k, v in code.items() if k != "committed"}
    return fixed
