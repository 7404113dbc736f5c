"""The data a commit holds: each input's md5 as git's index (the commit being made) or a
commit's tree gives it, for the pre-commit hook, hashed as :mod:`gitlab_journal.data.hashing`
hashes the work tree.

- An input DVC tracks there (a ``.dvc`` file or a ``dvc.lock`` in the index or the tree names
  it): the md5 that file records. The data itself is not read.
- A file git tracks there: the md5 of its blob, over the bytes a checkout writes (git's own
  line-ending and ``ident`` filters applied). A folder git tracks: DVC's ``.dir`` hash of its
  files, those git tracks by their blobs, the others (untracked, ignored) as they are in the
  work tree, where they stay.
- Anything else, hashed from the work tree as a run hashes it: data the commit does not hold
  (untracked, ignored, not ``dvc add``ed and staged), a file a filter driver writes (Git LFS:
  the blob is a pointer), a symbolic link, an input inside a folder DVC tracks (its part of the
  folder is in DVC's cache, not in the tracking file), a DVC output whose tracking file records
  no md5.

A blob's md5 is kept in the stat cache under its blob id (and the filters' attributes and
settings, when git's own filters apply), so each version is read once.

A table's header is read by the same rule (:func:`committed_file`): from the bytes a checkout
of its blob writes when git tracks it there, else from the work tree's file.

The standard library and pygit2 only, as :mod:`gitlab_journal.data.hashing`: the hooks import
this module (:mod:`gitlab_journal.data.dvc` is imported when an input is looked up, ruamel.yaml
when a DVC tracking file is there to read).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pygit2

from gitlab_journal.data.hashing import (
    CHUNK_SIZE,
    SKIP_DIRS,
    HashCache,
    _walk_files,
    data_hashes,
    file_md5,
    hash_input,
    manifest_md5,
)
from gitlab_journal.spec.model import DataSpec

Entry = tuple[pygit2.Oid, int]  # a file's blob id and mode
FILE_MODES = frozenset({pygit2.enums.FileMode.BLOB, pygit2.enums.FileMode.BLOB_EXECUTABLE})


def committed_hashes(
    repo: pygit2.Repository,
    root: Path,
    data: DataSpec,
    cache: HashCache | None,
    source: pygit2.Index | pygit2.Tree,
) -> dict[str, str]:
    """Input name -> md5 of ``data`` as ``source`` holds it (git's index, or a commit's tree),
    the work tree's where it does not (see the module's docstring); named as
    :func:`~gitlab_journal.data.hashing.data_hashes` names them."""
    if data.source == "sklearn":
        return data_hashes(root, data, cache)
    files = _Files(repo, source)
    out: dict[str, str] = {}
    for relpath in data.inputs():
        name = relpath.rstrip("/")
        md5 = _committed_md5(files, Path(root), name, cache)
        out[name] = md5 if md5 is not None else hash_input(root, relpath, cache)
    if cache is not None:
        cache.save()
    return out


def committed_file(
    repo: pygit2.Repository, source: pygit2.Index | pygit2.Tree
) -> Callable[[str], bytes | None]:
    """What gives the bytes of the file at a path as ``source`` (git's index, or a commit's
    tree) holds it, as a checkout writes them: None where the work tree's file counts, as for
    its md5 (a file ``source`` does not hold, a link, a submodule, a file a filter driver
    writes)."""
    files = _Files(repo, source)

    def read(relpath: str) -> bytes | None:
        entry = files.entry(relpath)
        return None if entry is None else _blob_bytes(repo, relpath, entry)

    return read


class _Files:
    """The files of git's index or of a tree: their entries, and a tracking file's text."""

    def __init__(self, repo: pygit2.Repository, source: pygit2.Index | pygit2.Tree):
        self.repo = repo
        self.source = source
        self._index_files: dict[str, Entry] | None = None

    def entry(self, path: str) -> Entry | None:
        """The blob id and mode of the file at ``path``; None for a folder or nothing."""
        try:
            if isinstance(self.source, pygit2.Index):
                found = self.source[path]
                return found.id, int(found.mode)
            obj = self.source[path]
        except KeyError:
            return None
        if obj.type != pygit2.enums.ObjectType.BLOB:
            return None
        return obj.id, int(obj.filemode)

    def under(self, folder: str) -> dict[str, Entry]:
        """The files below ``folder``: path relative to it -> entry."""
        if isinstance(self.source, pygit2.Index):
            if self._index_files is None:
                self._index_files = {e.path: (e.id, int(e.mode)) for e in self.source}
            prefix = folder + "/"
            return {
                path[len(prefix) :]: entry
                for path, entry in self._index_files.items()
                if path.startswith(prefix)
            }
        try:
            obj = self.source[folder]
        except KeyError:
            return {}
        if not isinstance(obj, pygit2.Tree):
            return {}
        return dict(_tree_files(obj, ""))

    def text(self, path: str) -> str | None:
        """The text of the file at ``path`` (a DVC tracking file), None where there is none."""
        found = self.entry(path)
        if found is None:
            return None
        blob = self.repo[found[0]]
        if not isinstance(blob, pygit2.Blob):
            return None
        try:
            return blob.data.decode("utf-8")
        except UnicodeDecodeError:
            return None


def _tree_files(tree: pygit2.Tree, prefix: str) -> Iterator[tuple[str, Entry]]:
    for obj in tree:
        path = prefix + str(obj.name)
        if isinstance(obj, pygit2.Tree):
            yield from _tree_files(obj, path + "/")
        else:
            yield path, (obj.id, int(obj.filemode))


def _committed_md5(files: _Files, root: Path, name: str, cache: HashCache | None) -> str | None:
    """The md5 of the input ``name`` as ``files`` hold it; None: take the work tree's."""
    from gitlab_journal.data.dvc import tracking_in  # when needed, as hashing imports it

    tracked = tracking_in(files.text, name)
    if tracked is not None:
        return tracked.md5 if tracked.out == name else None
    entry = files.entry(name)
    if entry is not None:
        return _blob_md5(files.repo, name, entry, cache)
    if (root / name).is_file():
        return None  # a file git does not track (its folders are looked for no further)
    inside = files.under(name)
    return _folder_md5(files.repo, root, name, inside, cache) if inside else None


# What shapes the bytes a checkout writes from a blob, beyond its content: the attributes and
# settings of git's line-ending and ``ident`` filters.
FILTER_ATTRIBUTES = ("text", "eol", "crlf", "ident")
FILTER_SETTINGS = ("core.autocrlf", "core.eol")


def _written_as_stored(repo: pygit2.Repository, path: str, mode: int) -> bool | None:
    """Whether a checkout writes the blob at ``path`` as it is stored (True) or through git's
    own line-ending and ``ident`` filters (False); None for a link, a submodule, or a file a
    filter driver writes (its output is not known here)."""
    if mode not in FILE_MODES:
        return None
    try:
        if repo.get_attr(path, "filter"):
            return None
        return repo.load_filter_list(path, pygit2.enums.FilterMode.SMUDGE) is None
    except pygit2.GitError:
        return None


def _blob_bytes(repo: pygit2.Repository, path: str, entry: Entry) -> bytes | None:
    """The bytes a checkout of the blob at ``path`` writes; None where they are not known
    here (see :func:`_written_as_stored`)."""
    oid, mode = entry
    raw = _written_as_stored(repo, path, mode)
    blob = repo[oid] if raw is not None else None
    if not isinstance(blob, pygit2.Blob):
        return None
    if raw:
        return blob.data
    with pygit2.BlobIO(blob, as_path=path, flags=pygit2.enums.BlobFilter(0)) as stream:
        return stream.read()


def _blob_md5(
    repo: pygit2.Repository, path: str, entry: Entry, cache: HashCache | None
) -> str | None:
    """The md5 of the bytes a checkout of the blob at ``path`` writes; None for a link, a
    submodule, or a file a filter driver writes (its output is not known here). Kept in
    ``cache`` under the blob id, with the filters' attributes and settings when any apply."""
    oid, mode = entry
    raw = _written_as_stored(repo, path, mode)
    if raw is None:
        return None
    try:
        key = str(oid) if raw else f"{oid}:{_filter_signature(repo, path)}"
    except pygit2.GitError:
        return None
    if cache is not None:
        known = cache.get_blob(key)
        if known is not None:
            return known
    blob = repo[oid]
    if not isinstance(blob, pygit2.Blob):
        return None
    if raw:
        md5, size = hashlib.md5(memoryview(blob)).hexdigest(), blob.size  # no copy
    else:  # git's own filters, as a checkout applies them
        digest = hashlib.md5()
        size = 0
        with pygit2.BlobIO(blob, as_path=path, flags=pygit2.enums.BlobFilter(0)) as stream:
            while chunk := stream.read(CHUNK_SIZE):
                digest.update(chunk)
                size += len(chunk)
        md5 = digest.hexdigest()
    if cache is not None:
        cache.put_blob(key, size, md5)
    return md5


def _filter_signature(repo: pygit2.Repository, path: str) -> str:
    """The attributes of ``path`` and the settings git's own filters read, as one string."""
    values: list[object] = [repo.get_attr(path, name) for name in FILTER_ATTRIBUTES]
    for name in FILTER_SETTINGS:
        try:
            values.append(str(repo.config[name]))
        except KeyError:
            values.append(None)
    return json.dumps(values, separators=(",", ":"))


def _folder_md5(
    repo: pygit2.Repository,
    root: Path,
    name: str,
    inside: dict[str, Entry],
    cache: HashCache | None,
) -> str | None:
    """DVC's hash of the folder ``name``: the files ``inside`` it by their blobs, the work
    tree's other files as they are there; None when a file is known neither way."""
    folder = root / name
    worktree = dict(_walk_files(folder)) if folder.is_dir() else {}
    md5s: dict[str, str] = {}
    for relpath, entry in inside.items():
        if any(part in SKIP_DIRS for part in relpath.split("/")[:-1]):
            continue  # as the work tree's hash skips them
        if entry[1] not in FILE_MODES:
            continue  # a link or a submodule: as the work tree has it, below
        md5 = _blob_md5(repo, f"{name}/{relpath}", entry, cache)
        if md5 is None:
            if relpath not in worktree:
                return None
            md5 = file_md5(worktree[relpath], cache)
        md5s[relpath] = md5
    for relpath, full in worktree.items():
        if relpath not in md5s:
            md5s[relpath] = file_md5(full, cache)
    return manifest_md5(md5s.items())
