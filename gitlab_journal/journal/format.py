"""The journal's on-disk format: paths, file names, the format version, (de)serialisation.

docs/journal-format.md documents every file and field written here; keep the two in step.
"""

from __future__ import annotations

import functools
import hashlib
import json
import json.encoder
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gitlab_journal.errors import CheckFailed, JournalError
from gitlab_journal.journal import schema
from gitlab_journal.journal.identity import (
    canonical_json,
    fingerprint_of_text,
    finite_json,
    json_safe,
    non_finite,
    normalise,
    value_json_text,
)
from gitlab_journal.journal.records import STATUSES, CodeState, Run
from gitlab_journal.journal.schema import InvalidRecord

# The journal's format (its FORMAT file): version 1 shards run folders by one level of the
# fingerprint, version 2 by two, so no shard tree grows past a few hundred entries even at
# millions of runs. Both are read and written; `git journal migrate` moves 1 to 2.
FORMAT_VERSION = 2
FORMAT_VERSIONS = (1, 2)
# The version of a run's records (run.json's "format"), which the layout does not change.
RECORD_FORMAT = 1
FORMAT_FILE = "FORMAT"
README_FILE = "README.md"
RUNS_DIR = "runs"
RUN_FILE = "run.json"
METRICS_FILE = "metrics.json"
IDENTITY_FILE = "identity.json"
REQUIRED_FILES = (RUN_FILE, METRICS_FILE, IDENTITY_FILE)
# Other files a run's folder may hold (docs/journal-format.md, "Files of a run").
SPEC_FILE = "spec.yaml"  # the spec narrowed to the run's grid point
PATCH_FILE = "code.patch"  # the uncommitted changes the run was made with
HISTORY_FILE = "history.json"  # per-epoch metrics (Keras runs)
FOLDS_FILE = "folds.json"  # per-fold scores (cross-validated runs)
CLASSES_FILE = "classes.json"  # per-class precision, recall, F1 and support (classifiers)
DVC_RECORD_FILE = "dvc.json"  # the DVC files that tracked the run's data
CURVE_FILE = "curve.png"  # the learning curve (Keras runs, command runs with a history)
SUMMARY_FILE = "summary.txt"  # a Keras model's summary
MODEL_FILE = "model.keras"  # a Keras model, when the spec asks to save it
OUTPUT_FILE = "output.log"  # the last lines of a command run's stdout and stderr
# The text of the notebook cells a run counts as its code (identity.json's code.caller.notebook
# is its git blob id): the cells in the "percent" format, each after a `# %%` line.
NOTEBOOK_FILE = "notebook.py"

TRAILER_FINGERPRINT = "Journal-Fingerprint"
TRAILER_RUN = "Journal-Run"
TRAILER_CODE = "Code-Commit"
TRAILER_DATA = "Data"
TRAILER_STATUS = "Status"
# A Journal-Run trailer as readers find it (any line of the message): the run a commit names.
# Patterns that only some commands use are compiled when first used (re keeps them), not when
# this module is imported: every command imports it, `check` among them.
_TRAILER_RUN_LINE = rf"(?m)^{TRAILER_RUN}:\s*(\S+)\s*$"
_TRAILER_FINGERPRINT_LINE = rf"(?m)^{TRAILER_FINGERPRINT}:\s*(\S+)\s*$"

_FP = re.compile(r"^[0-9a-f]{64}$")
_RUN_ID = re.compile(r"^[0-9a-z][0-9a-z._-]{3,63}$")

_README_TEXT = """# Experiment journal

This branch is a lab journal written by gitlab-journal: one commit per run, never checked out.
Each run lives in `{layout}`:

- `run.json`: what was run (model, resolved params, data hashes, evaluation, code state,
  environment, status, notes);
- `metrics.json`: the scores;
- `identity.json`: the exact document whose sha256 is the fingerprint;
- `spec.yaml`: the spec narrowed to the run's grid point, and `code.patch`: the uncommitted
  changes to the code, which `git journal rerun RUN` uses to run it again.

Read it with `git journal log`, `git journal show RUN`, or plain `git log journal`.
"""


def is_fingerprint(text: str) -> bool:
    return bool(_FP.match(text))


def shard_widths(version: int) -> tuple[int, ...]:
    """The widths of the fingerprint's prefixes that shard ``runs/`` in a journal of this
    format: the fingerprint's folder holds the rest of it."""
    return (2,) if version == 1 else (2, 2)


@functools.cache
def _slices(version: int) -> tuple[tuple[int, int | None], ...]:
    """(start, end) of each folder level of the fingerprint, shards then the rest."""
    out: list[tuple[int, int | None]] = []
    start = 0
    for width in shard_widths(version):
        out.append((start, start + width))
        start += width
    return (*out, (start, None))


@functools.cache
def folder_patterns(version: int) -> tuple[re.Pattern[str], ...]:
    """What the folder names under ``runs/`` look like, level by level, down to the
    fingerprint's folder."""
    return tuple(
        re.compile(f"[0-9a-f]{{{(end or 64) - start}}}") for start, end in _slices(version)
    )


def layout(version: int) -> str:
    """Where runs sit in a journal of this format, in words."""
    parts = [f"<fingerprint[{start or ''}:{end or ''}]>" for start, end in _slices(version)]
    return f"{RUNS_DIR}/{'/'.join(parts)}/<run-id>/"


def run_of_dir(path: str) -> tuple[str, str]:
    """(fingerprint, run id) that a run folder's path names, in either format (the
    fingerprint is not checked)."""
    _, *parts, run_id = path.split("/")
    return "".join(parts), run_id


def readme_text(version: int = FORMAT_VERSION) -> str:
    """The introduction of the journal branch's README for a journal of this format."""
    return _README_TEXT.format(layout=layout(version))


def run_dir(fingerprint: str, run_id: str, *, version: int) -> str:
    """Where a run's files sit: sharded by fingerprint like git's own object store."""
    return f"{fingerprint_dir(fingerprint, version=version)}/{run_id}"


def fingerprint_dir(fingerprint: str, *, version: int) -> str:
    if not is_fingerprint(fingerprint):
        raise JournalError(f"not a fingerprint: {fingerprint!r}")
    return "/".join([RUNS_DIR, *(fingerprint[start:end] for start, end in _slices(version))])


def is_run_id(text: str) -> bool:
    return bool(_RUN_ID.match(text))


def check_run_id(run_id: str) -> str:
    if not _RUN_ID.match(run_id):
        raise JournalError(
            f"invalid run id {run_id!r}",
            hint="4 to 64 characters: lower-case letters, digits, '.', '_' or '-'",
        )
    return run_id


def format_text(version: int = FORMAT_VERSION) -> bytes:
    return f"{version}\n".encode()


def check_format(blob: bytes | None) -> int:
    """The journal's format version; an error for a journal written by a newer, unknown format,
    never a guess."""
    if blob is None:
        raise JournalError(
            f"the journal has no {FORMAT_FILE} file at its root",
            hint="is this branch a gitlab-journal journal? see `git config journal.branch`",
        )
    try:
        version = int(blob.decode().strip())
    except ValueError as exc:
        raise JournalError(f"unreadable journal format version {blob[:20]!r}") from exc
    if version > FORMAT_VERSION:
        raise JournalError(
            f"the journal has format version {version}; this gitlab-journal reads up to "
            f"{FORMAT_VERSION}",
            hint="upgrade gitlab-journal: pip install -U gitlab-journal",
        )
    if version not in FORMAT_VERSIONS:
        raise JournalError(f"unknown journal format version {version}")
    return version


def _dumps(value: Any) -> bytes:
    # Stable key order is the order the writer builds; nested user mappings are sorted.
    return (indented_json(value) + "\n").encode()


_STRING = json.encoder.encode_basestring  # the C function when the json module has it


def indented_json(value: Any) -> str:
    """``json.dumps(value, indent=2, ensure_ascii=False, allow_nan=True)``, the same text.

    With ``indent`` the json module leaves its C encoder for a pure-Python one, several times
    slower; here the layout is built by hand and every scalar is written by the C encoder. A
    document this does not cover (a key that is not a string, a value that is not plain JSON)
    goes to ``json.dumps`` as before."""
    try:
        return _indented(value, "\n")
    except _Unusual:
        return json.dumps(value, indent=2, ensure_ascii=False, allow_nan=True)


class _Unusual(Exception):
    """A value ``_indented`` leaves to the json module."""


def _indented(value: Any, newline: str) -> str:
    kind = type(value)
    if kind is dict:
        if not value:
            return "{}"
        inner = newline + "  "
        parts = []
        for key, item in value.items():
            if type(key) is not str:
                raise _Unusual
            parts.append(_STRING(key) + ": " + _indented(item, inner))
        return "{" + inner + ("," + inner).join(parts) + newline + "}"
    if kind is list or kind is tuple:
        if not value:
            return "[]"
        inner = newline + "  "
        return "[" + inner + ("," + inner).join(_indented(v, inner) for v in value) + newline + "]"
    if kind is str:
        return _STRING(value)
    if kind is float:
        if value != value:
            return "NaN"
        if value in (math.inf, -math.inf):
            return "Infinity" if value > 0 else "-Infinity"
        return float.__repr__(value)
    if kind is int:
        return int.__repr__(value)
    if kind is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    raise _Unusual


def _plain(value: Any) -> Any:
    """Plain JSON data for a record: normalised like identity, but floats kept as floats."""
    if isinstance(value, float):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return normalise(value)


def run_document(run: Run) -> dict[str, Any]:
    """The content of run.json, keys in card order. The point's NaN and infinities are written
    as its params' are, ``{"__float__": "inf"}``, and so are a reproduction's, so run.json is
    strict JSON (an earlier record's bare ``Infinity`` reads back as the float, and is written
    so when rewritten)."""
    doc: dict[str, Any] = {
        "format": RECORD_FORMAT,
        "id": run.id,
        "fingerprint": run.fingerprint,
        "created": run.created,
        "status": run.status,
        "name": run.name,
        "model": run.model,
        "kind": run.kind,
        "params": _plain(run.params),
        "point": finite_json(_plain(run.point)),
        "data": dict(sorted(run.data.items())),
        "evaluation": _plain(run.evaluation),
        "code": run.code.to_dict(),
        "environment": _plain(run.environment),
        "notes": dict(run.notes),
    }
    if run.error is not None:
        doc["error"] = run.error
    if run.spec is not None:
        doc["spec"] = run.spec
    if run.data_sources:
        doc["data_sources"] = _plain(run.data_sources)
    if run.seeds:
        doc["seeds"] = _plain(run.seeds)
    if run.reproduces is not None:
        doc["reproduces"] = run.reproduces
    if run.reproductions:
        doc["reproductions"] = [_reproduction(item) for item in run.reproductions]
    if run.warnings:
        doc["warnings"] = list(run.warnings)
    if run.findings:
        doc["findings"] = list(run.findings)
    return doc


def _reproduction(entry: Mapping[str, Any]) -> Any:
    """An entry of ``reproductions`` as run.json holds it: a NaN of its metrics as
    ``{"__float__": "nan"}``."""
    return finite_json(_plain(entry))


def scores_file(value: Any) -> bytes:
    """A file of scores (folds.json, classes.json) as the journal keeps it: indented, strict
    JSON, a score that is not a finite number (a scorer's NaN on a fold) as null, as in
    metrics.json."""
    return (json.dumps(json_safe(value), indent=2, allow_nan=False) + "\n").encode()


def metrics_document(metrics: Mapping[str, float]) -> dict[str, Any]:
    """metrics.json: each value a float, and null for one that is not finite (a NaN loss), so
    the file is strict JSON (a bare NaN is not; earlier records may hold one, read as NaN)."""
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, (int, float)):
            value = float(value)
            out[str(key)] = value if math.isfinite(value) else None
        else:
            out[str(key)] = value
    return out


def encode_run(run: Run) -> dict[str, bytes]:
    """The files of a run directory, by name."""
    identity_text = canonical_json(run.identity)
    if fingerprint_of_text(identity_text) != run.fingerprint:
        raise CheckFailed(
            f"run {run.id}: its fingerprint does not match its identity document",
        )
    if run.status not in STATUSES:
        raise JournalError(f"run {run.id}: unknown status {run.status!r}")
    files = {
        RUN_FILE: _dumps(run_document(run)),
        METRICS_FILE: _dumps(metrics_document(run.metrics)),
        IDENTITY_FILE: (identity_text + "\n").encode(),
    }
    try:  # never write what a reader would refuse: the bytes checked as a reader checks them
        schema.check_run_document(
            json.loads(files[RUN_FILE]), clean=schema.is_clean(files[RUN_FILE])
        )
        schema.check_metrics(json.loads(files[METRICS_FILE]))
        schema.check_identity(
            json.loads(identity_text), clean=schema.is_clean(files[IDENTITY_FILE])
        )
    except InvalidRecord as exc:
        raise JournalError(f"run {run.id}: not a valid record: {exc.problem}") from exc
    return files


def check_run_files(
    files: Mapping[str, bytes],
    *,
    where: str,
    fingerprint: str | None = None,
    run_id: str | None = None,
    loads: Callable[[bytes | str], Any] = json.loads,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The three records of a run folder (run.json, metrics.json, identity.json) parsed and
    checked as :func:`decode_run` checks them; a bad record is an :class:`InvalidRecord`.
    ``loads``: a parser that gives ``json.loads``'s value or error (a faster one where many
    runs are read)."""
    missing = [name for name in REQUIRED_FILES if name not in files]
    if missing:
        raise InvalidRecord(f"malformed run record: missing {', '.join(missing)}", where)
    for name in REQUIRED_FILES:
        if len(files[name]) > schema.MAX_RECORD_BYTES:
            raise InvalidRecord(
                f"invalid run record: {name} is {len(files[name])} bytes; "
                f"at most {schema.MAX_RECORD_BYTES}",
                where,
            )
    try:
        doc = loads(files[RUN_FILE])
        metrics = loads(files[METRICS_FILE])
        identity_text = files[IDENTITY_FILE].decode("utf-8")
        identity = loads(identity_text)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidRecord(f"malformed run record: {exc}", where) from exc
    version = doc.get("format") if isinstance(doc, dict) else None
    if isinstance(version, int) and version > RECORD_FORMAT:
        raise JournalError(
            f"{where}: the record has format version {version}; this gitlab-journal reads "
            f"up to {RECORD_FORMAT}",
            hint="upgrade gitlab-journal: pip install -U gitlab-journal",
        )
    try:
        # A clean text (nearly every record) cannot fail the walks over its values: skip them.
        schema.check_run_document(doc, clean=schema.is_clean(files[RUN_FILE]))
        schema.check_metrics(metrics, clean=schema.is_clean(files[METRICS_FILE]))
        schema.check_identity(identity, clean=schema.is_clean(files[IDENTITY_FILE]))
        if fingerprint is not None and run_id is not None:
            if fingerprint_of_text(identity_text.rstrip("\n")) != fingerprint:
                raise InvalidRecord("identity.json does not hash to the fingerprint of its path")
            schema.agrees_with_path(doc, fingerprint=fingerprint, run_id=run_id)
    except InvalidRecord as exc:
        raise InvalidRecord(f"invalid run record: {exc.problem}", where) from exc
    return doc, metrics, identity


def decode_run(
    files: Mapping[str, bytes],
    *,
    where: str,
    commit: str | None = None,
    fingerprint: str | None = None,
    run_id: str | None = None,
) -> Run:
    """Read a run back from its files, checked against the schema (journal/schema.py) and,
    when given, against the ``fingerprint`` and ``run_id`` of its path. A bad record is an
    :class:`InvalidRecord` naming ``where`` and the problem; nothing from it is used."""
    doc, metrics, identity = check_run_files(
        files, where=where, fingerprint=fingerprint, run_id=run_id
    )
    code = doc.get("code") or {}
    code_files = (identity.get("code") or {}).get("files") or {}
    return Run(
        id=doc["id"],
        fingerprint=doc["fingerprint"],
        identity=identity,
        model=doc["model"],
        kind=doc.get("kind", "sklearn"),
        params=doc.get("params") or {},
        point=doc.get("point") or {},
        data=doc.get("data") or {},
        evaluation=doc.get("evaluation") or {},
        code=CodeState.from_dict(code, code_files),
        metrics=metrics,
        status=doc.get("status", "ok"),
        created=doc["created"],
        environment=doc.get("environment") or {},
        notes=doc.get("notes") or {},
        error=doc.get("error"),
        name=doc.get("name"),
        reproduces=doc.get("reproduces"),
        spec=doc.get("spec"),
        data_sources=doc.get("data_sources") or {},
        seeds=doc.get("seeds") or {},
        reproductions=tuple(doc.get("reproductions") or ()),
        warnings=tuple(doc.get("warnings") or ()),
        findings=tuple(doc.get("findings") or ()),
        commit=commit,
    )


def validate_files(files: Mapping[str, bytes], *, fingerprint: str, run_id: str, where: str) -> Run:
    """The whole check of a run's folder, for what arrives from elsewhere (pre-receive, sync,
    verify): its path, every file name, the records, the paths ``code.patch`` and ``dvc.json``
    name, and that a ``notebook.py`` holds the cells the identity names
    (:func:`check_notebook`). ``files`` holds every file of the folder (``sub/name`` for
    nested ones)."""
    try:
        if not schema.FINGERPRINT.fullmatch(fingerprint):
            raise InvalidRecord(f"not a fingerprint: {fingerprint!r}")
        if not schema.RUN_ID.fullmatch(run_id):
            raise InvalidRecord(f"invalid run id {run_id!r}: 4 to 64 of a-z, 0-9, '.', '_' or '-'")
        schema.check_file_names(files)
    except InvalidRecord as exc:
        raise InvalidRecord(f"invalid run record: {exc.problem}", where) from exc
    run = decode_run(files, where=where, fingerprint=fingerprint, run_id=run_id)
    try:
        if run.code.patch is not None and run.code.patch not in files:
            raise InvalidRecord(f"code.patch: names {run.code.patch!r}, which is not in the run")
        for name, data in files.items():
            if name == PATCH_FILE or name.endswith(".patch"):
                schema.check_patch(data)
        if DVC_RECORD_FILE in files:
            blob = files[DVC_RECORD_FILE]
            if len(blob) > schema.MAX_RECORD_BYTES:
                raise InvalidRecord(f"{DVC_RECORD_FILE} is larger than 1 MiB")
            try:
                record = json.loads(blob)
            except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                raise InvalidRecord(f"{DVC_RECORD_FILE}: not JSON ({exc})") from exc
            schema.check_dvc_record(record)
        if NOTEBOOK_FILE in files:
            check_notebook(files[NOTEBOOK_FILE], run.identity)
    except InvalidRecord as exc:
        raise InvalidRecord(f"invalid run record: {exc.problem}", where) from exc
    return run


# -- notebook.py: the notebook cells a run counts ------------------------------------------


def git_blob_id(data: bytes, length: int = 40) -> str:
    """The id git gives ``data`` as a blob (`git hash-object`): SHA-1, or SHA-256 for an id of
    64 digits (``length``), computed without a repository."""
    digest = hashlib.sha256() if length == 64 else hashlib.sha1()
    digest.update(b"blob %d\0" % len(data))
    digest.update(data)
    return digest.hexdigest()


def check_notebook(blob: bytes, identity: Mapping[str, Any]) -> str:
    """A run's ``notebook.py``: at most :data:`schema.MAX_RECORD_BYTES`, UTF-8 text, and
    exactly the cells its identity names (``code.caller.notebook`` is the git blob id of these
    bytes); its text. Anything else is an :class:`InvalidRecord` naming the file."""
    if len(blob) > schema.MAX_RECORD_BYTES:
        raise InvalidRecord(f"{NOTEBOOK_FILE} is larger than 1 MiB")
    code = identity.get("code")
    caller = code.get("caller") if isinstance(code, Mapping) else None
    named = caller.get("notebook") if isinstance(caller, Mapping) else None
    if not isinstance(named, str):
        raise InvalidRecord(
            f"{NOTEBOOK_FILE}: identity.json names no notebook cells (code.caller.notebook)"
        )
    if not schema.OBJECT_ID.fullmatch(named):
        raise InvalidRecord(f"{NOTEBOOK_FILE}: code.caller.notebook is not a git blob id")
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRecord(f"{NOTEBOOK_FILE}: not UTF-8 text ({exc.reason})") from exc
    found = git_blob_id(blob, len(named))
    if found != named:
        raise InvalidRecord(
            f"{NOTEBOOK_FILE}: not the cells identity.json names "
            f"(git blob {found[:12]}, not {named[:12]})"
        )
    return text


def trailer_runs(message: str) -> list[str]:
    """The run ids a commit message names in ``Journal-Run`` lines, as readers find them."""
    return re.findall(_TRAILER_RUN_LINE, message) if TRAILER_RUN in message else []


def trailer_fingerprints(message: str) -> list[str]:
    """The fingerprints a commit message names in ``Journal-Fingerprint`` lines."""
    return re.findall(_TRAILER_FINGERPRINT_LINE, message)


# What a journal adds to a run it holds (docs/journal-format.md, "History"): notes
# (`git journal note`), reproductions (`git journal rerun`), the commit that later held its
# code (the post-commit hook), and metrics computed after the record (autologging). Nothing
# else a run recorded ever changes.
GROWN_HINT = (
    "a recorded run only gains notes, reproductions, code.committed and new metrics; "
    "record a new run instead"
)
COMMITTED_HINT = (
    "code.committed is set once: keep the commit the journal pushed to holds "
    "(`git journal sync` merges so, and names the commit it drops)"
)
_ADDED_LATER = ("notes", "reproductions")


def check_grown(
    before: Mapping[str, bytes],
    after: Mapping[str, bytes],
    *,
    where: str,
    committed: str | None = None,
) -> None:
    """``after``, the files of a run's folder, as a later state of the recorded ``before``:
    the same files, each the same bytes but ``run.json``, whose record may only gain what
    :data:`GROWN_HINT` says, and ``metrics.json``, which keeps every metric's value and may
    gain metrics. A change is an :class:`InvalidRecord` naming the file (and the field).

    ``code.committed`` is set once: ``after`` keeps ``before``'s, but for ``committed``, the
    one a merge of two journals kept where both set one (the journal merged in, which had
    published it: what its server's hook keeps)."""

    def changed(what: str) -> InvalidRecord:
        return InvalidRecord(f"a recorded run changed: {what}", where, hint=GROWN_HINT)

    for name in sorted(set(before) | set(after)):
        if name not in after:
            raise changed(f"{name} is gone")
        if name not in before:
            raise changed(f"{name} is new")
        if name not in (RUN_FILE, METRICS_FILE) and before[name] != after[name]:
            raise changed(f"{name} is another file")
    if before.get(RUN_FILE) == after.get(RUN_FILE) and before.get(METRICS_FILE) == after.get(
        METRICS_FILE
    ):
        return
    try:
        old = decode_run(before, where=where)
    except InvalidRecord:
        return  # a bad record that is mended: the full check of the new one decides
    new = decode_run(after, where=where)
    old_doc, new_doc = run_document(old), run_document(new)
    for key in dict.fromkeys([*old_doc, *new_doc]):
        if key in _ADDED_LATER:
            continue
        a, b = old_doc.get(key), new_doc.get(key)
        if key == "code" and isinstance(a, dict) and isinstance(b, dict):
            if a.get("committed") not in (None, b.get("committed")) and (
                committed is None or b.get("committed") != committed
            ):
                raise InvalidRecord(
                    f"a recorded run changed: {RUN_FILE}: code.committed changed",
                    where,
                    hint=COMMITTED_HINT,
                )
            a, b = {**a, "committed": None}, {**b, "committed": None}
        if _canonical(a) != _canonical(b):
            raise changed(f"{RUN_FILE}: {key} changed")
    kept = {_canonical(_reproduction(item)) for item in new.reproductions}
    if any(_canonical(_reproduction(item)) not in kept for item in old.reproductions):
        raise changed(f"{RUN_FILE}: a reproduction is gone")
    for key, value in old.metrics.items():
        if key not in new.metrics:
            raise changed(f"{METRICS_FILE}: {key} is gone")
        if _canonical(_metric(value)) != _canonical(_metric(new.metrics[key])):
            raise changed(f"{METRICS_FILE}: {key} changed")


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _metric(value: Any) -> Any:
    """A metric's value to compare: an integer as the float it is written as (1 is 1.0), and a
    NaN or an infinity as the null it is written as now."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return float(value) if math.isfinite(value) else None


def summary_line(run: Run) -> str:
    """The first line of a run's commit message: model, params that matter, headline metric."""
    model = run.model.rsplit(".", 1)[-1]
    shown = ", ".join(f"{k}={_short(v)}" for k, v in sorted(run.point.items()))
    parts = [f"{model}({shown})" if shown else model]
    head = run.headline()
    if run.status != "ok":
        parts.append(run.status)
    if head is not None:
        parts.append(f"{head[0]}={head[1]:.4g}")
    line = ": ".join(parts[:1]) + ("" if len(parts) == 1 else ": " + ", ".join(parts[1:]))
    return line if len(line) <= 120 else line[:117] + "..."


def _short(value: Any) -> str:
    if isinstance(value, float) and non_finite(value) is None:
        return f"{value:g}"
    # inf as such, also as the journal records it ({"__float__": "inf"}), and inside lists
    text = value_json_text(value) if not isinstance(value, str) else value
    return text if len(text) <= 30 else text[:27] + "..."


def update_message(
    text: str, runs: Sequence[Run], *, fingerprints: bool = True, first: Sequence[str] = ()
) -> str:
    """The message of a commit that changes recorded runs: ``text`` (a summary line, then a
    body), ended with the trailers naming each run (``first``: trailers to put before them)."""
    trailers = list(first)
    for run in runs:
        if fingerprints:
            trailers.append(f"{TRAILER_FINGERPRINT}: {run.fingerprint}")
        trailers.append(f"{TRAILER_RUN}: {run.id}")
    return text.rstrip("\n") + "\n\n" + "\n".join(trailers) + "\n"


def commit_message(run: Run) -> str:
    """Summary, body (hypothesis and procedure), and trailers plain git can read."""
    lines = [summary_line(run), ""]
    body = [f"{key.capitalize()}: {text}" for key, text in run.notes.items() if text]
    if run.error:
        body.append("Error: " + run.error.strip().splitlines()[-1][:200])
    if body:
        lines += [*body, ""]
    code = run.code.commit or "none"
    if run.code.dirty:
        code += " (dirty)"
    trailers = [
        f"{TRAILER_FINGERPRINT}: {run.fingerprint}",
        f"{TRAILER_RUN}: {run.id}",
        f"{TRAILER_CODE}: {code}",
        *(f"{TRAILER_DATA}: {name} {md5}" for name, md5 in sorted(run.data.items())),
        f"{TRAILER_STATUS}: {run.status}",
    ]
    return "\n".join(lines + trailers) + "\n"
