"""A cache of validated specs, keyed by the spec's bytes and the overrides.

Parsing YAML with line numbers costs tens of milliseconds (and importing ruamel.yaml as much
again); `check` and the hooks read the same spec over and over, so a validated spec is kept
under ``.git/journal/specs/``. The key holds the spec's path and text, the overrides and this
package's version, so any change reparses. A missing or unreadable entry only costs time.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path

from gitlab_journal import __version__
from gitlab_journal.cachefiles import write_cache
from gitlab_journal.errors import JournalError
from gitlab_journal.spec.model import Spec

CACHE_VERSION = "6"
KEEP = 64  # entries kept; older ones are removed when a new one is written


def _key(path: Path, text: bytes, overrides: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for part in (CACHE_VERSION, __version__, str(path.resolve()), *overrides):
        digest.update(part.encode() + b"\0")
    digest.update(text)
    return digest.hexdigest()


def load_spec_cached(path: Path, overrides: Sequence[str], cache_dir: Path) -> Spec:
    """``load_spec`` through the cache; errors are never cached. ruamel.yaml and the loader
    are imported only on a miss."""
    try:
        text = path.read_bytes()
    except OSError:
        from gitlab_journal.spec.load import load_spec

        return load_spec(path, overrides)  # reports the missing or unreadable file

    def load() -> Spec:
        from gitlab_journal.spec.load import load_spec

        return load_spec(path, overrides)

    return _cached(cache_dir, _key(path, text, overrides), load)


def load_spec_text_cached(
    text: bytes, path: Path, overrides: Sequence[str], cache_dir: Path, *, shown: str
) -> Spec:
    """``load_spec_text`` (a spec read from git, e.g. the staged one) through the cache."""

    def load() -> Spec:
        from gitlab_journal.spec.load import load_spec_text

        return load_spec_text(text.decode("utf-8"), path, overrides, shown=shown)

    return _cached(cache_dir, _key(path, text, overrides), load)


def _cached(cache_dir: Path, key: str, load: Callable[[], Spec]) -> Spec:
    folder = cache_dir / "specs"
    entry = folder / key
    try:
        with entry.open("rb") as handle:
            cached = pickle.load(handle)
        if isinstance(cached, Spec):
            return cached
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        pass
    spec = load()
    _store(folder, entry, spec)
    return spec


def _store(folder: Path, entry: Path, spec: Spec) -> None:
    try:
        if not write_cache(entry, pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL)):
            return
        entries = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime)
        for old in entries[:-KEEP]:
            old.unlink(missing_ok=True)
    except (OSError, pickle.PicklingError, JournalError):
        pass
