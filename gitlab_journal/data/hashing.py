"""DVC-compatible md5 hashes of a run's data, with a stat cache so large data is hashed once.

A file's hash is the md5 of its raw bytes (DVC 3). A directory's hash is DVC's: the md5 of the
JSON manifest ``[{"md5": ..., "relpath": ...}, ...]`` sorted by relpath and serialised with
``json.dumps(..., sort_keys=True)``, followed by ``.dir``.

The git hooks import this module, so it imports the standard library only: never numpy,
scikit-learn or pandas (the data sets bundled with scikit-learn are found without importing it).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gitlab_journal.cachefiles import write_cache
from gitlab_journal.errors import JournalError

if TYPE_CHECKING:
    from gitlab_journal.spec.model import DataSpec

CHUNK_SIZE = 4 * 1024 * 1024
DIR_SUFFIX = ".dir"
SKIP_DIRS = frozenset({".git", ".dvc"})

# The files scikit-learn ships for each bundled data set, under sklearn/datasets/data.
BUNDLED: dict[str, tuple[str, ...]] = {
    "iris": ("iris.csv",),
    "wine": ("wine_data.csv",),
    "breast_cancer": ("breast_cancer.csv",),
    "digits": ("digits.csv.gz",),
    "diabetes": ("diabetes_data_raw.csv.gz", "diabetes_target.csv.gz"),
    "linnerud": ("linnerud_exercise.csv", "linnerud_physiological.csv"),
}

MISSING_HINT = (
    "data paths in journal.yaml are relative to the repository root; "
    "if the data is tracked by DVC, run `dvc pull` first"
)


class Reuse(Protocol):
    """Hashes known elsewhere (DVC's state) for files our cache does not know."""

    def lookup(self, paths: Sequence[Path]) -> dict[Path, str]: ...


HASH_CACHE_FILE = "md5-cache.json"
BLOB_KEY = "git-blob:"  # a git blob's entry: its id after this, never an absolute path


def hash_cache(cache_dir: Path) -> HashCache:
    """The clone's data-hash cache, in its ``.git/journal`` folder."""
    return HashCache(cache_dir / HASH_CACHE_FILE)


class HashCache:
    """A JSON stat cache: absolute path -> {size, mtime_ns, inode, md5}; and ``git-blob:<id>``
    -> the md5 of a git blob's bytes (as a checkout writes them).

    An entry is used only when size, mtime_ns and inode all match the file as it is now. The
    file is read lazily; a missing or corrupt file is an empty cache. ``save`` merges this
    process's new entries into what is on disk and replaces the file atomically, so concurrent
    writers may lose entries but never leave a half-written file. Saving is best effort: an
    unwritable location is silently skipped.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._entries: dict[str, dict[str, Any]] | None = None
        self._new: dict[str, dict[str, Any]] = {}

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(raw, dict):
            return {}
        return {k: v for k, v in raw.items() if isinstance(k, str) and _valid_entry(v)}

    @property
    def entries(self) -> dict[str, dict[str, Any]]:
        if self._entries is None:
            self._entries = self._read()
        return self._entries

    @property
    def dirty(self) -> bool:
        return bool(self._new)

    def get(self, path: Path, st: os.stat_result) -> str | None:
        """The cached md5 of ``path`` if its size, mtime_ns and inode match ``st``."""
        entry = self.entries.get(_key(path))
        if entry is None:
            return None
        if (
            entry["size"] == st.st_size
            and entry["mtime_ns"] == st.st_mtime_ns
            and entry["inode"] == st.st_ino
        ):
            return str(entry["md5"])
        return None

    def put(self, path: Path, st: os.stat_result, md5: str) -> None:
        entry = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino, "md5": md5}
        self._put(_key(path), entry)

    def get_blob(self, key: str) -> str | None:
        """The cached md5 of a git blob's bytes (``key``: its id, and whatever else shapes the
        bytes hashed): a blob id names its content, so an entry never goes stale."""
        entry = self.entries.get(BLOB_KEY + key)
        return None if entry is None else str(entry["md5"])

    def put_blob(self, key: str, size: int, md5: str) -> None:
        self._put(BLOB_KEY + key, {"size": size, "mtime_ns": 0, "inode": 0, "md5": md5})

    def _put(self, key: str, entry: dict[str, Any]) -> None:
        self.entries[key] = entry
        self._new[key] = entry

    def save(self) -> None:
        """Merge new entries into the file on disk and replace it atomically."""
        if not self._new:
            return
        merged = self._read()
        merged.update(self._new)
        text = json.dumps(merged, sort_keys=True, separators=(",", ":"))
        if not write_cache(self.path, text.encode("utf-8")):
            return
        self._entries = merged
        self._new = {}


def _key(path: Path) -> str:
    return os.path.abspath(path)


def _valid_entry(value: object) -> bool:
    return (
        isinstance(value, dict)
        and all(isinstance(value.get(k), int) for k in ("size", "mtime_ns", "inode"))
        and isinstance(value.get("md5"), str)
    )


def _md5_of_file(path: Path) -> str:
    """md5 of a file's bytes, read into one reused buffer (hashlib releases the GIL)."""
    digest = hashlib.md5()
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def file_md5(path: Path, cache: HashCache | None = None, reuse: Reuse | None = None) -> str:
    """The md5 hex of a file's raw bytes, as DVC 3 computes it; read from ``cache`` when fresh,
    else from ``reuse`` (DVC's state) when it knows the file as it is now."""
    path = Path(path)
    if cache is None:
        return _md5_of_file(path)
    before = os.stat(path)
    cached = cache.get(path, before)
    if cached is not None:
        return cached
    if reuse is not None:
        known = reuse.lookup([path]).get(path)
        if known is not None:
            cache.put(path, before, known)
            return known
    md5 = _md5_of_file(path)
    after = os.stat(path)
    # Only remember a hash of a file that did not change while it was read.
    if (before.st_size, before.st_mtime_ns, before.st_ino) == (
        after.st_size,
        after.st_mtime_ns,
        after.st_ino,
    ):
        cache.put(path, after, md5)
    return md5


def _walk_files(path: Path) -> list[tuple[str, Path]]:
    """(posix relpath, path) of the regular files under ``path``, skipping .git and .dvc."""
    out: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        for name in filenames:
            full = Path(dirpath) / name
            try:
                mode = os.stat(full).st_mode
            except OSError:  # a dangling link
                continue
            if stat.S_ISREG(mode):
                out.append((full.relative_to(path).as_posix(), full))
    return out


def manifest_md5(entries: Iterable[tuple[str, str]]) -> str:
    """DVC's directory hash of (relpath, md5) pairs: md5 of the sorted JSON manifest + ``.dir``."""
    manifest = sorted(
        ({"md5": md5, "relpath": relpath} for relpath, md5 in entries),
        key=lambda entry: entry["relpath"],
    )
    text = json.dumps(manifest, sort_keys=True)
    return hashlib.md5(text.encode("utf-8")).hexdigest() + DIR_SUFFIX


def dir_md5(path: Path, cache: HashCache | None = None, reuse: Reuse | None = None) -> str:
    """DVC's hash of a directory, each file's md5 read from ``cache`` when fresh, else from
    ``reuse`` (DVC's state, asked once for all the files the cache missed)."""
    files = _walk_files(Path(path))
    if cache is not None and reuse is not None:
        missed = [full for _, full in files if cache.get(full, os.stat(full)) is None]
        for full, md5 in (reuse.lookup(missed) if missed else {}).items():
            cache.put(full, os.stat(full), md5)
    return manifest_md5((rel, file_md5(full, cache)) for rel, full in files)


def _missing(relpath: str, root: Path) -> JournalError:
    return JournalError(
        f"data file not found: {relpath} (looked for {Path(root) / relpath})",
        hint="data paths (in journal.yaml, or given to the Python API) are relative to the "
        f"repository root, {root}; if the data is tracked by DVC, run `dvc pull` first",
    )


def hash_input(root: Path, relpath: str, cache: HashCache | None, *, dvc_state: bool = True) -> str:
    """The md5 of a repository-relative file, or the ``.dir`` hash of a directory.

    With a ``cache``, a file is read only when neither the cache nor DVC's state (where DVC
    tracks the path; not with ``dvc_state=False``, to check what DVC itself wrote) knows it as
    it is now.
    """
    path = Path(root) / relpath.rstrip("/")
    reuse = _DvcReuse(Path(root), relpath.rstrip("/")) if cache is not None and dvc_state else None
    try:
        if path.is_dir():
            md5 = dir_md5(path, cache, reuse)
        elif path.is_file():
            md5 = file_md5(path, cache, reuse)
        else:
            raise _missing(relpath, root)
    except FileNotFoundError as exc:
        raise _missing(relpath, root) from exc
    if cache is not None:
        cache.save()
    return md5


class _DvcReuse:
    """DVC's state for one input, imported only when our cache misses (the hooks stay fast)."""

    def __init__(self, root: Path, relpath: str):
        self.root = root
        self.relpath = relpath

    def lookup(self, paths: Sequence[Path]) -> dict[Path, str]:
        from gitlab_journal.data.dvc import DvcState

        return DvcState(self.root, self.relpath).lookup(paths)


def bundled_files(name: str) -> list[Path]:
    """The files scikit-learn ships for a bundled data set, found without importing sklearn."""
    if name not in BUNDLED:
        raise JournalError(
            f"unknown scikit-learn data set: {name}",
            hint="known data sets: " + ", ".join(sorted(BUNDLED)),
        )
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise JournalError(
            f"scikit-learn is not installed, so its data set {name!r} cannot be found",
            hint="pip install scikit-learn",
        )
    data_dir = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    files = [data_dir / fname for fname in BUNDLED[name]]
    for f in files:
        if not f.is_file():
            raise JournalError(
                f"scikit-learn's data file for {name!r} is missing: {f}",
                hint="reinstall scikit-learn",
            )
    return files


def bundled_md5(name: str, cache: HashCache | None) -> str:
    """The md5 of a bundled data set: its one file's md5, or the ``.dir`` hash of its files."""
    files = bundled_files(name)
    if len(files) == 1:
        md5 = file_md5(files[0], cache)
    else:
        md5 = manifest_md5((f.name, file_md5(f, cache)) for f in files)
    if cache is not None:
        cache.save()
    return md5


def data_hashes(root: Path, data: DataSpec, cache: HashCache | None) -> dict[str, str]:
    """Input name -> md5 for a run's data.

    A scikit-learn data set is named ``sklearn:<name>``; every other input by its repository
    path (a directory without its trailing ``/``). A loader without declared deps has no inputs:
    its code is hashed with the rest of the code.
    """
    if data.source == "sklearn":
        if not data.name:
            raise JournalError(
                "data source 'sklearn' needs a name",
                hint="known data sets: " + ", ".join(sorted(BUNDLED)),
            )
        return {f"sklearn:{data.name}": bundled_md5(data.name, cache)}
    out: dict[str, str] = {}
    for relpath in data.inputs():
        out[relpath.rstrip("/")] = hash_input(root, relpath, cache)
    return out
