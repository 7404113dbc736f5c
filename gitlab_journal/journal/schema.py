"""The schema of a run's records: what a reader accepts from a journal that came from elsewhere.

A journal is shared data: any record in it may have been written by another clone, by another
version, or by hand with git plumbing. Every place a record arrives (a reader, the index, `sync`,
the server's pre-receive hook, `git journal verify`) checks it against this one schema before
using it: the type of every field, ids and hashes of the right shape, names and keys free of
control characters, paths relative and normalised, and sizes bounded. docs/journal-format.md
("Schema") lists the same rules; keep the two in step.

Each check raises :class:`InvalidRecord` with one line naming the field and the problem; the
caller adds where the record sits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from gitlab_journal.errors import JournalError
from gitlab_journal.journal.records import STATUSES

MAX_RECORD_BYTES = 1 << 20  # run.json, metrics.json, identity.json, dvc.json: 1 MiB each
MAX_ENTRIES = 10_000  # keys of params, metrics, ...; items of a list; files of a run
MAX_TEXT = 10_000  # characters of a string value, a name or a key
MAX_LONG_TEXT = 100_000  # characters of free text: error, notes, warnings, findings
MAX_DEPTH = 32  # nesting of user values (params, point, evaluation, environment)
MAX_PATH = 4096  # characters of a path

FINGERPRINT = re.compile(r"[0-9a-f]{64}")
RUN_ID = re.compile(r"[0-9a-z][0-9a-z._-]{3,63}")
OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # a git object id: sha1 or sha256
DATA_HASH = re.compile(r"[0-9a-f]{32,64}(\.dir)?")
# A run's time as the journal writes it (records.now_iso): UTC, to the second, ASCII digits.
CREATED = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# C0 controls, DEL and C1 controls: never in a name, a key or a path; nor a lone surrogate,
# which is how a name that is not UTF-8 (a git tree entry's, say) comes in. In free text,
# newlines and tabs are text; every other control character is not. A printable string
# (``str.isprintable``) holds none of them, so the patterns are compiled (about 1 ms, with
# their Unicode ranges) only for a text that is not, on first use; re keeps them.
_CONTROL = r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]"
_TEXT_CONTROL = r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]"
# An integer whose bits pass this may be beyond the largest float (float() raises).
_FLOAT_BITS = 1023
# In a JSON text, a run of this many digits may be an integer beyond the largest float
# (1.8e308): the text is then not clean. Runs are looked for with every digit made a 9.
_NINES = bytes.maketrans(b"0123456789", b"9" * 10)
_FLOAT_DIGITS = b"9" * 309
_DRIVE = re.compile(r"^[A-Za-z]:")
# In a JSON text, what could make a string or key break the rules of plain() and mapping():
# a NUL (another encoding), any escape (a control character comes in as one), DEL, an empty
# string (an empty key), or a C1 control in UTF-8 (after its lead byte 0xc2).
_C1 = re.compile(rb"\xc2[\x80-\x9f]")


class InvalidRecord(JournalError):
    """A record that breaks the schema: one line naming where it sits (when known), the field
    and the problem."""

    def __init__(self, problem: str, where: str | None = None, *, hint: str | None = None):
        super().__init__(problem if where is None else f"{where}: {problem}", hint=hint)
        self.problem = problem
        self.where = where


def _fail(field: str, problem: str) -> InvalidRecord:
    return InvalidRecord(f"{field}: {problem}")


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def is_clean(blob: bytes) -> bool:
    """True when no value of the JSON text ``blob`` can fail :func:`plain` or a key check of
    :func:`mapping` (with the default bounds), so a reader may skip those walks: the text is
    UTF-8 (an object, no NUL byte), at most ``MAX_TEXT`` bytes (no string, list or object
    can pass a bound), has no escape sequence, DEL or C1 control (JSON forbids raw controls in
    strings), no empty string, fewer than ``MAX_DEPTH`` brackets in all, and no run of
    digits long enough to be an integer beyond a float. A conservative test: a False only
    means the full walk decides."""
    return (
        len(blob) <= MAX_TEXT
        and blob.lstrip()[:1] == b"{"
        and b"\\" not in blob
        and b'""' not in blob
        and b"\x00" not in blob
        and b"\x7f" not in blob
        and (b"\xc2" not in blob or _C1.search(blob) is None)
        and blob.count(b"{") + blob.count(b"[") < MAX_DEPTH
        and (len(blob) < len(_FLOAT_DIGITS) or _FLOAT_DIGITS not in blob.translate(_NINES))
    )


# -- scalars ---------------------------------------------------------------------------------


def name(value: Any, field: str, *, limit: int = MAX_TEXT) -> str:
    """A name or a key: a non-empty string, bounded, UTF-8 text with no control characters."""
    if not isinstance(value, str):
        raise _fail(field, f"must be a string, not {_type_name(value)}")
    if not value:
        raise _fail(field, "must not be empty")
    if len(value) > limit:
        raise _fail(field, f"is {len(value)} characters long; at most {limit}")
    found = None if value.isprintable() else re.search(_CONTROL, value)
    if found:
        raise _unclean(field, value, found.group())
    return value


def is_name(value: Any) -> bool:
    """Whether :func:`name` accepts ``value`` (a file name to show, say)."""
    try:
        name(value, "name")
    except InvalidRecord:
        return False
    return True


def text(value: Any, field: str, *, limit: int = MAX_LONG_TEXT) -> str:
    """Free text: a string, bounded, UTF-8 with no control character but newlines and tabs."""
    if not isinstance(value, str):
        raise _fail(field, f"must be a string, not {_type_name(value)}")
    if len(value) > limit:
        raise _fail(field, f"is {len(value)} characters long; at most {limit}")
    found = None if value.isprintable() else re.search(_TEXT_CONTROL, value)
    if found:
        raise _unclean(field, value, found.group())
    return value


def _unclean(field: str, value: str, char: str) -> InvalidRecord:
    if "\ud800" <= char <= "\udfff":
        return _fail(field, f"is not UTF-8 text: {_shown(value)}")
    return _fail(field, f"holds a control character: {_shown(value)}")


def utc_time(value: Any, field: str) -> str:
    """A time as the journal writes it, ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, ASCII digits), that
    is a real one: a month of 1 to 12, a day of that month, 00:00:00 to 23:59:59."""
    what = "a time, YYYY-MM-DDTHH:MM:SSZ (UTC)"
    time = pattern(value, field, CREATED, what)
    year, month, day = int(time[:4]), int(time[5:7]), int(time[8:10])
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = _MONTH_DAYS[month - 1] + (month == 2 and leap) if 1 <= month <= 12 else 0
    if not (year >= 1 and 1 <= day <= days) or not (
        time[11:13] < "24" and time[14:16] < "60" and time[17:19] < "60"
    ):
        raise _fail(field, f"must be {what}, not {_shown(time)}")
    return time


def pattern(value: Any, field: str, regex: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str):
        raise _fail(field, f"must be {what}, not {_type_name(value)}")
    if not regex.fullmatch(value):
        raise _fail(field, f"must be {what}, not {_shown(value)}")
    return value


def optional(value: Any, field: str, check: Any, *args: Any) -> Any:
    return None if value is None else check(value, field, *args)


def number(value: Any, field: str) -> float | int | None:
    """A metric: a number (NaN and infinities included) or null; never a boolean, nor an
    integer beyond the range of a float."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(field, f"must be a number, not {_type_name(value)}")
    checked: float | int = value
    if isinstance(checked, int) and checked.bit_length() > _FLOAT_BITS:
        _float_range(checked, field)
    return checked


def _float_range(value: int, field: str) -> None:
    """A JSON integer is a number every reader takes as a float: one beyond the largest float
    (about 1.8e308) is refused."""
    try:
        float(value)
    except OverflowError:
        try:
            digits = f"{len(str(abs(value)))}"
        except ValueError:  # past Python's limit on the digits of a str()
            digits = f"about {int(value.bit_length() * 0.30103)}"  # log10(2)
        raise _fail(
            field, f"is beyond the range of a float (an integer of {digits} digits)"
        ) from None


def boolean(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(field, f"must be true or false, not {_type_name(value)}")
    return value


# The paths and input names these checks accepted: the same few (a project's code files, its
# data) recur in every record, and reading a journal checks each again. Bounded.
_ACCEPTED_PATHS: set[str] = set()
_ACCEPTED_DATA_NAMES: set[str] = set()
_ACCEPTED_MAX = 4096


def _accept(accepted: set[str], value: str) -> str:
    if len(accepted) >= _ACCEPTED_MAX:
        accepted.clear()
    accepted.add(value)
    return value


def relpath(value: Any, field: str) -> str:
    """A path inside the repository (or a run's folder): relative, POSIX, normalised."""
    if type(value) is str and value in _ACCEPTED_PATHS:
        return value
    path = name(value, field, limit=MAX_PATH)
    if path.startswith("/") or _DRIVE.match(path):
        raise _fail(field, f"must be a relative path, not {_shown(path)}")
    if "\\" in path:
        raise _fail(field, f"must use '/' between folders, not '\\': {_shown(path)}")
    parts = path.split("/")
    if ".." in parts:
        raise _fail(field, f"must stay inside its folder ('..' in {_shown(path)})")
    if any(part in ("", ".") for part in parts):
        raise _fail(field, f"must be a normalised path, not {_shown(path)}")
    if any(part.lower() == ".git" for part in parts):
        raise _fail(field, f"must not name a .git folder: {_shown(path)}")
    return _accept(_ACCEPTED_PATHS, path)


def data_name(value: Any, field: str) -> str:
    """An input name: a repository path, or ``sklearn:NAME`` (any ``word:`` scheme)."""
    if type(value) is str and value in _ACCEPTED_DATA_NAMES:
        return value
    label = name(value, field, limit=MAX_PATH)
    scheme, colon, rest = label.partition(":")
    if colon and re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme) and not _DRIVE.match(label):
        if rest:
            name(rest, field)
        return _accept(_ACCEPTED_DATA_NAMES, label)
    return _accept(_ACCEPTED_DATA_NAMES, relpath(label, field))


# -- containers ------------------------------------------------------------------------------


def mapping(
    value: Any, field: str, *, limit: int = MAX_ENTRIES, clean: bool = False
) -> dict[str, Any]:
    """An object with at most ``limit`` keys, each a name (``clean``: the text it was parsed
    from passed :func:`is_clean`, so its keys are names)."""
    if not isinstance(value, dict):
        raise _fail(field, f"must be an object, not {_type_name(value)}")
    if len(value) > limit:
        raise _fail(field, f"has {len(value)} entries; at most {limit}")
    if not clean:
        for key in value:
            name(key, f"{field} key")
    return value


def listing(value: Any, field: str, *, limit: int = MAX_ENTRIES) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(field, f"must be a list, not {_type_name(value)}")
    if len(value) > limit:
        raise _fail(field, f"has {len(value)} items; at most {limit}")
    return value


def plain(value: Any, field: str, depth: int = 0) -> None:
    """Any JSON value, bounded: strings, keys, list lengths, nesting, and integers within the
    range of a float."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if value.bit_length() > _FLOAT_BITS:
            _float_range(value, field)
        return
    if isinstance(value, float):
        return
    if isinstance(value, str):
        text(value, field, limit=MAX_TEXT)
        return
    if depth >= MAX_DEPTH:
        raise _fail(field, f"nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, list):
        for i, item in enumerate(listing(value, field)):
            plain(item, f"{field}[{i}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in mapping(value, field).items():
            plain(item, f"{field}.{key}", depth + 1)
        return
    raise _fail(field, f"is not JSON data ({_type_name(value)})")


# -- the records -----------------------------------------------------------------------------


def check_run_document(doc: Any, *, clean: bool = False) -> dict[str, Any]:
    """``run.json``: every field of docs/journal-format.md with its type and bounds.

    ``clean``: its text passed :func:`is_clean`, so the walks of :func:`plain` and the key
    checks are skipped (they cannot fail); every other check runs."""
    if not isinstance(doc, dict):
        raise _fail("run.json", f"must be an object, not {_type_name(doc)}")
    fmt_version = doc.get("format", 1)
    if isinstance(fmt_version, bool) or not isinstance(fmt_version, int) or fmt_version < 1:
        raise _fail("format", f"must be a positive integer, not {_shown(str(fmt_version))}")
    for key in ("id", "fingerprint", "created", "model"):
        if key not in doc:
            raise _fail(key, "is missing")
    pattern(doc["id"], "id", RUN_ID, "a run id (4-64 of a-z 0-9 . _ -)")
    pattern(doc["fingerprint"], "fingerprint", FINGERPRINT, "64 hex digits")
    utc_time(doc["created"], "created")
    status = doc.get("status", "ok")
    if not isinstance(status, str):
        raise _fail("status", f"must be a string, not {_type_name(status)}")
    if status not in STATUSES:
        raise _fail("status", f"unknown status {_shown(status)}")
    name(doc["model"], "model")
    name(doc.get("kind", "sklearn"), "kind", limit=100)
    optional(doc.get("name"), "name", name)
    for key in ("params", "point", "evaluation", "environment", "seeds"):
        value = mapping(_or_empty(doc.get(key)), key, clean=clean)
        if not clean:
            plain(value, key)
    data = mapping(_or_empty(doc.get("data")), "data", clean=clean)
    for key, value in data.items():
        data_name(key, "data key")
        pattern(value, f"data.{key}", DATA_HASH, "an md5 (32 hex digits, '.dir' for a folder)")
    _check_code(mapping(_or_empty(doc.get("code")), "code", clean=clean))
    notes = mapping(_or_empty(doc.get("notes")), "notes", limit=100, clean=clean)
    for key, value in notes.items():
        optional(value, f"notes.{key}", text)
    optional(doc.get("error"), "error", text)
    optional(doc.get("spec"), "spec", relpath)
    sources = mapping(_or_empty(doc.get("data_sources")), "data_sources", clean=clean)
    for key, source in sources.items():
        data_name(key, "data_sources key")
        where = f"data_sources.{key}"
        _check_source(mapping(source, where, clean=clean), where, clean)
    optional(doc.get("reproduces"), "reproduces", pattern, RUN_ID, "a run id")
    for i, item in enumerate(listing(_or_list(doc.get("reproductions")), "reproductions")):
        where = f"reproductions[{i}]"
        entry = mapping(item, where, clean=clean)
        if not clean:
            plain(entry, where)
        optional(entry.get("result"), f"{where}.result", name)
        optional(entry.get("by"), f"{where}.by", pattern, RUN_ID, "a run id")
    for key in ("warnings", "findings"):
        for i, item in enumerate(listing(_or_list(doc.get(key)), key)):
            text(item, f"{key}[{i}]")
    return doc


def _or_empty(value: Any) -> Any:
    return {} if value is None else value


def _or_list(value: Any) -> Any:
    return [] if value is None else value


def _check_code(code: dict[str, Any]) -> None:
    for key in ("commit", "tree", "committed"):
        optional(code.get(key), f"code.{key}", pattern, OBJECT_ID, "a git object id")
    optional(code.get("branch"), "code.branch", name)
    boolean(code.get("dirty", False), "code.dirty")
    optional(code.get("patch"), "code.patch", relpath)
    for i, item in enumerate(listing(_or_list(code.get("untracked")), "code.untracked")):
        relpath(item, f"code.untracked[{i}]")


def _check_source(source: dict[str, Any], field: str, clean: bool = False) -> None:
    if not clean:
        plain(source, field)
    if "source" in source:
        name(source["source"], f"{field}.source", limit=100)
    if "file" in source:
        relpath(source["file"], f"{field}.file")


def check_metrics(doc: Any, *, clean: bool = False) -> dict[str, Any]:
    """``metrics.json``: an object, metric name -> number (or null)."""
    metrics = mapping(doc, "metrics.json", clean=clean)
    for key, value in metrics.items():
        number(value, f"metrics.{key}")
    return metrics


def check_identity(doc: Any, *, clean: bool = False) -> dict[str, Any]:
    """``identity.json``: bounded JSON; its code files repository paths -> git blob ids."""
    identity = mapping(doc, "identity.json", limit=100, clean=clean)
    if not clean:
        plain(identity, "identity")
    code = identity.get("code")
    if code is not None:
        files = mapping(
            mapping(code, "identity.code", clean=clean).get("files") or {},
            "identity.code.files",
            clean=clean,
        )
        for path, blob in files.items():
            relpath(path, "identity.code.files key")
            pattern(blob, f"identity.code.files.{path}", OBJECT_ID, "a git blob id")
    return identity


def check_dvc_record(doc: Any) -> None:
    """``dvc.json``: the paths of its inputs, outputs and tracking files."""
    record = mapping(doc, "dvc.json", limit=100)
    plain(record, "dvc.json")
    inputs = mapping(_or_empty(record.get("inputs")), "dvc.json inputs")
    for key, entry in inputs.items():
        data_name(key, "dvc.json inputs key")
        item = mapping(entry, f"dvc.json inputs.{key}")
        for part in ("file", "out"):
            optional(item.get(part), f"dvc.json inputs.{key}.{part}", relpath)
    for path in mapping(_or_empty(record.get("files")), "dvc.json files"):
        relpath(path, "dvc.json files key")


def check_folder_entries(entries: Iterable[tuple[str, str]]) -> None:
    """The entries of a run's folder as git lists them, (name, object type): each name once
    (which of two entries of one name a reader takes is arbitrary, and `git fsck` refuses
    such a tree), and each a file or a folder, never a submodule (a commit of another
    repository, which the journal does not hold)."""
    seen: set[str] = set()
    for entry_name, kind in entries:
        clean = entry_name.isprintable() or not re.search(_CONTROL, entry_name)
        label = entry_name if clean else _shown(entry_name)
        if entry_name in seen:
            raise _fail(label, "named twice in one folder")
        seen.add(entry_name)
        if kind not in ("blob", "tree"):
            raise _fail(label, "a submodule entry (a commit of another repository), not a file")


def check_file_names(names: Iterable[str]) -> None:
    """The files of a run's folder (``sub/name`` for nested ones): bounded, each a relpath."""
    for count, file_name in enumerate(names, 1):
        if count > MAX_ENTRIES:
            raise _fail("files", f"more than {MAX_ENTRIES} files in one run")
        relpath(file_name, "file name")


_PATCH_PATH_LINES = ("--- ", "+++ ", "rename from ", "rename to ", "copy from ", "copy to ")


def patch_paths(patch: str) -> list[str]:
    """The paths a git patch names in its headers (``diff --git``, ``---``/``+++``, renames,
    copies), without the ``a/``/``b/`` prefixes; hunk lines are not read."""
    found: list[str] = []
    in_header = False
    for line in patch.splitlines():
        if line.startswith("diff --git "):
            in_header = True
            found.extend(_unprefixed(word) for word in line[len("diff --git ") :].split(" "))
            continue
        if not in_header:
            continue
        if line.startswith("@@") or line.startswith("GIT binary patch"):
            in_header = False
            continue
        for head in _PATCH_PATH_LINES:
            if line.startswith(head):
                path = line[len(head) :].split("\t")[0]
                if path != "/dev/null":
                    found.append(path if head[0] in "rc" else _unprefixed(path))
    return [path for path in found if path]


def _unprefixed(path: str) -> str:
    path = path.strip('"')
    return path[2:] if path.startswith(("a/", "b/")) else path


def check_patch(patch: bytes) -> None:
    """``code.patch``: every path it would touch is a relpath (no ``..``, not absolute)."""
    for path in patch_paths(patch.decode("utf-8", errors="replace")):
        relpath(path, "code.patch entry")


def agrees_with_path(doc: Mapping[str, Any], *, fingerprint: str, run_id: str) -> None:
    """``run.json`` names the run its path names."""
    if doc.get("fingerprint") != fingerprint:
        raise InvalidRecord("run.json names another fingerprint than its path")
    if doc.get("id") != run_id:
        raise InvalidRecord("run.json names another run id than its path")
