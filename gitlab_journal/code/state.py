"""The code a run depends on: content hashes of its code dependencies, and the repository state.

Identity takes the code dependencies, every file matching the spec's ``code`` globs that git does
not ignore, **tracked or not**, as it is in the work tree (uncommitted changes included), each by
its git blob id. So a tracked and an untracked file with the same bytes are the same input, and
`git add`, `git commit` or `git stash` + `git stash pop` of unchanged code never change a
fingerprint, while an edit to a new loader nobody has added yet is a new experiment. Runs whose
code was all tracked keep the fingerprints they had before untracked files counted.

Untracked folders that hold installed or generated code (:data:`SKIPPED_DIRS`, e.g. a virtual
environment nobody ignored, or any folder with a ``pyvenv.cfg``) and nested repositories are never
walked into. More than :data:`MAX_CODE_FILES` matching files is an error: the globs are too wide.

A notebook (``*.ipynb``) counts by its code cells' source only (:func:`notebook_id`): re-running
its cells changes outputs and execution counts, not its identity.

With ``staged`` (the pre-commit hook) a tracked file counts as it is in the index, the content the
commit will hold, and an untracked one as it is in the work tree: it is not part of the commit,
but stays there as an input of the code being committed.

HEAD, the branch, the dirty flag and the work tree's tree id are recorded but are not identity.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import stat
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pygit2

from gitlab_journal.errors import JournalError
from gitlab_journal.journal.records import CodeState

REGULAR, EXECUTABLE, SYMLINK, GITLINK = 0o100644, 0o100755, 0o120000, 0o160000
MAX_CODE_FILES = 2000  # matching files, tracked and untracked together
# Untracked folders that hold installed or generated code, never the project's own.
SKIPPED_DIRS = frozenset(
    {".git", ".venv", "venv", "site-packages", "node_modules", "__pycache__", "build", "dist"}
    | {".tox", ".nox", ".eggs", ".ipynb_checkpoints"}
)
NOTEBOOK_SUFFIX = ".ipynb"
NOTEBOOK_CELL = "# %%\n"
_WT_NEW = pygit2.enums.FileStatus.WT_NEW


def matches(path: str, globs: Sequence[str]) -> bool:
    """Whether a repository path matches any glob.

    A glob without '/' matches a file name at any depth (like .gitignore: ``*.py``); one with
    '/' matches the whole path, and ``**/`` stands for any number of folders, none included.
    """
    name = path.rsplit("/", 1)[-1]
    for glob in globs:
        if "/" not in glob:
            if fnmatch.fnmatchcase(name, glob):
                return True
            continue
        pattern = glob.lstrip("/")
        if fnmatch.fnmatchcase(path, pattern) or (
            "**/" in pattern and fnmatch.fnmatchcase(path, pattern.replace("**/", ""))
        ):
            return True
    return False


def current_index(repo: pygit2.Repository) -> pygit2.Index:
    """The index git itself would use: ``GIT_INDEX_FILE`` when set (`git commit -a` and
    `git commit PATH` run the pre-commit hook on a temporary index), else the repository's."""
    path = os.environ.get("GIT_INDEX_FILE")
    if path:
        from_env = pygit2.Index(path)
        from_env._repo = repo  # type: ignore[assignment]  # lets libgit2 diff it against trees
        return from_env
    index: pygit2.Index = repo.index
    index.read(False)
    return index


def code_files(
    repo: pygit2.Repository, globs: Sequence[str], *, staged: bool = False
) -> dict[str, str]:
    """Code dependency -> content id (see the module's docstring): tracked files from the work
    tree (or the index when ``staged``), untracked ones that git does not ignore from the work
    tree."""
    return _code_files(repo, globs, staged=staged)[0]


def _code_files(
    repo: pygit2.Repository, globs: Sequence[str], *, staged: bool = False
) -> tuple[dict[str, str], list[str]]:
    """:func:`code_files`, and those of them that are untracked (in no index), sorted."""
    if repo.workdir is None:
        return {}, []
    root = Path(repo.workdir)
    index = current_index(repo)
    out: dict[str, str] = {}
    for entry in index:
        path = entry.path
        if not matches(path, globs):
            continue
        if staged:
            out[path] = blob_code_id(repo, path, entry.id)
            continue
        file = root / path
        if file.is_file():
            out[path] = file_code_id(file)
    others = untracked_code(repo, globs)
    untracked: list[str] = []
    for path in others:
        file = root / path
        if path not in out and file.is_file():
            out[path] = file_code_id(file)
            untracked.append(path)
    if os.environ.get("GIT_INDEX_FILE"):
        # A partial commit's index (`git commit PATH`) lacks files added to the real one:
        # they stay in the work tree, inputs like the untracked ones.
        real = repo.index
        real.read(False)
        for e in real:
            file = root / e.path
            if e.path not in out and matches(e.path, globs) and file.is_file():
                out[e.path] = file_code_id(file)
    if len(out) > MAX_CODE_FILES:
        raise _too_many(list(out), globs)
    return dict(sorted(out.items())), untracked


def untracked_code(repo: pygit2.Repository, globs: Sequence[str]) -> list[str]:
    """The untracked files matching ``globs`` that git does not ignore, outside
    :data:`SKIPPED_DIRS`, virtual environments and nested repositories; sorted.

    libgit2's status names untracked folders as a whole (``new/``) and is fast; those folders
    are walked here, pruned by name and by git's ignore rules (a ``.gitignore`` inside them
    included)."""
    if repo.workdir is None:
        return []
    root = Path(repo.workdir)
    status = repo.status(untracked_files="normal", ignored=False)
    out: list[str] = []
    for path, flags in status.items():
        if not flags & _WT_NEW:
            continue
        if path.endswith("/"):
            folder = path.rstrip("/")
            if not _skipped(folder):
                _walk(repo, root, folder, globs, out)
        elif matches(path, globs) and not _skipped(path.rpartition("/")[0]):
            out.append(path)
        if len(out) > MAX_CODE_FILES:
            raise _too_many(out, globs)
    return sorted(out)


def _skipped(folder: str) -> bool:
    """Whether a folder (a repository path, '' for the root) lies in a skipped one."""
    return any(part in SKIPPED_DIRS for part in folder.split("/") if part)


def _walk(
    repo: pygit2.Repository, root: Path, folder: str, globs: Sequence[str], out: list[str]
) -> None:
    """Add the matching, not ignored files under the untracked ``folder`` to ``out``."""
    full = root / folder
    try:
        entries = list(os.scandir(full))
    except OSError:
        return
    names = {entry.name for entry in entries}
    if ".git" in names or "pyvenv.cfg" in names:
        return  # a nested repository, or a virtual environment under another name
    for entry in sorted(entries, key=lambda e: e.name):
        path = f"{folder}/{entry.name}"
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            continue
        if is_dir:
            if entry.name not in SKIPPED_DIRS and not repo.path_is_ignored(path + "/"):
                _walk(repo, root, path, globs, out)
        elif matches(path, globs) and not repo.path_is_ignored(path):
            out.append(path)
            if len(out) > MAX_CODE_FILES:
                raise _too_many(out, globs)


def _too_many(paths: Sequence[str], globs: Sequence[str]) -> JournalError:
    counts = {glob: sum(1 for p in paths if matches(p, [glob])) for glob in globs}
    widest = max(counts, key=lambda g: counts[g]) if counts else "*"
    return JournalError(
        f"code: more than {MAX_CODE_FILES} files match {widest!r} "
        f"(e.g. {sorted(p for p in paths if matches(p, [widest]))[0]})",
        hint="give the spec a narrower `code:` (say `src/**/*.py`), "
        "or ignore generated folders in .gitignore",
    )


def file_code_id(file: Path) -> str:
    """A work-tree file's content id: its git blob id, or a notebook's :func:`notebook_id`."""
    if file.name.endswith(NOTEBOOK_SUFFIX):
        try:
            return notebook_id(file.read_bytes())
        except OSError:
            pass
    return str(pygit2.hashfile(str(file)))


def blob_code_id(repo: pygit2.Repository, path: str, oid: pygit2.Oid | str) -> str:
    """A stored blob's content id, as :func:`file_code_id` gives it for the same bytes."""
    if path.endswith(NOTEBOOK_SUFFIX):
        blob = repo.get(oid if isinstance(oid, pygit2.Oid) else pygit2.Oid(hex=oid))
        if isinstance(blob, pygit2.Blob):
            return notebook_id(blob.data)
    return str(oid)


def _notebook(data: bytes) -> tuple[dict[str, Any], list[Any]] | None:
    """A notebook's document and its list of cells; None for what is not one."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    cells = doc.get("cells") if isinstance(doc, dict) else None
    return (doc, cells) if isinstance(cells, list) else None


def notebook_code(data: bytes) -> str | None:
    """The canonical text of a notebook's code: each code cell that is not blank, as
    ``# %%`` and a newline, then its source, ending with a newline (the "percent" format of
    Jupytext and VS Code). Outputs, execution counts, metadata and markdown cells are left out.
    None for what is not an nbformat 4 notebook."""
    found = _notebook(data)
    if found is None:
        return None
    _, cells = found
    parts: list[str] = []
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(str(line) for line in source)
        if not isinstance(source, str) or not source.strip():
            continue
        parts.append(NOTEBOOK_CELL + source + ("" if source.endswith("\n") else "\n"))
    return "".join(parts)


def notebook_without_outputs(data: bytes) -> bytes | None:
    """A notebook's bytes with every code cell's outputs and execution count cleared (what
    the run keeps of a tracked notebook it changed: its code, not its results); None for
    what is not an nbformat 4 notebook."""
    found = _notebook(data)
    if found is None:
        return None
    doc, cells = found
    for cell in cells:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def same_notebook_code(repo: pygit2.Repository, path: str) -> bool:
    """Whether the tracked notebook ``path`` holds, in the work tree, the code HEAD has
    (only its outputs, execution counts or metadata changed)."""
    if not path.endswith(".ipynb") or repo.workdir is None or repo.head_is_unborn:
        return False
    try:
        entry = repo.head.peel(pygit2.Commit).tree[path]
        data = (Path(repo.workdir) / path).read_bytes()
    except (KeyError, OSError):
        return False
    blob = repo[entry.id]
    if not isinstance(blob, pygit2.Blob):
        return False
    code = notebook_code(data)
    return code is not None and code == notebook_code(blob.data)


def notebook_id(data: bytes) -> str:
    """A notebook's content id: the git blob id of :func:`notebook_code`'s text (the id
    `git hash-object` gives that text), or of the raw bytes when it is not a notebook."""
    code = notebook_code(data)
    return str(pygit2.hash(data if code is None else code.encode("utf-8")))


def head_state(repo: pygit2.Repository) -> tuple[str | None, str | None]:
    """(HEAD commit, branch name); None for an unborn HEAD or a detached one's branch."""
    if repo.head_is_unborn:
        try:
            target = repo.references["HEAD"].target
        except KeyError:
            return None, None
        return None, str(target).removeprefix("refs/heads/")
    head = repo.head
    branch = None if repo.head_is_detached else head.shorthand
    return str(head.target), branch


def is_dirty(repo: pygit2.Repository) -> bool:
    """Whether any tracked file differs from HEAD, staged or not; a notebook whose code cells
    are HEAD's (its outputs ran again) does not count."""
    if repo.workdir is None:
        return False
    status = repo.status(untracked_files="no", ignored=False)
    return any(
        flags != pygit2.enums.FileStatus.CURRENT and not same_notebook_code(repo, path)
        for path, flags in status.items()
    )


def tree_id(entries: Mapping[str, tuple[int, str]]) -> str:
    """The git tree id of ``path -> (mode, object id)``, computed as git does, writing nothing."""
    root: dict[str, Any] = {}
    for path, value in entries.items():
        *folders, name = path.split("/")
        node = root
        for folder in folders:
            node = node.setdefault(folder, {})
        node[name] = value
    sha256 = any(len(oid) == 64 for _, oid in entries.values())

    def write(node: dict[str, Any]) -> str:
        items: list[tuple[bytes, bytes]] = []
        for name, value in node.items():
            if isinstance(value, dict):
                key, mode, oid = name + "/", 0o40000, write(value)
            else:
                key, (mode, oid) = name, value
            items.append((key.encode(), f"{mode:o} {name}".encode() + b"\0" + bytes.fromhex(oid)))
        body = b"".join(entry for _, entry in sorted(items))
        digest = hashlib.sha256() if sha256 else hashlib.sha1()
        digest.update(b"tree %d\0" % len(body) + body)
        return digest.hexdigest()

    return write(root)


def worktree_tree(repo: pygit2.Repository, untracked: Sequence[str] = ()) -> str | None:
    """The tree id of the tracked files as they are in the work tree (what `git add -u` and
    `git write-tree` would give), computed without writing anything; None without a work tree
    or mid-conflict. ``untracked``: files not in the index to hold too (as `git add` of them
    would), the untracked code dependencies of a run."""
    if repo.workdir is None:
        return None
    index = repo.index
    index.read(False)
    if index.conflicts is not None:
        return None
    root = Path(repo.workdir)
    changed = pygit2.enums.FileStatus.WT_MODIFIED | pygit2.enums.FileStatus.WT_TYPECHANGE
    status = repo.status(untracked_files="no", ignored=False)
    try:
        filemode = bool(repo.config.get_bool("core.filemode"))
    except (KeyError, pygit2.GitError):
        filemode = True
    entries: dict[str, tuple[int, str]] = {}
    for entry in index:
        flags = status.get(entry.path, 0)
        if flags & pygit2.enums.FileStatus.WT_DELETED:
            continue
        if not flags & changed or entry.mode == GITLINK:
            entries[entry.path] = (entry.mode, str(entry.id))
            continue
        file = root / entry.path
        try:
            info = os.lstat(file)
            if stat.S_ISLNK(info.st_mode):
                entries[entry.path] = (SYMLINK, str(pygit2.hash(os.fsencode(os.readlink(file)))))
                continue
            oid = str(pygit2.hashfile(str(file)))
        except OSError:
            continue
        mode = entry.mode
        if filemode:
            mode = EXECUTABLE if info.st_mode & stat.S_IXUSR else REGULAR
        entries[entry.path] = (mode, oid)
    for path in untracked:
        file = root / path
        try:
            info = os.lstat(file)
            if stat.S_ISLNK(info.st_mode):
                entries[path] = (SYMLINK, str(pygit2.hash(os.fsencode(os.readlink(file)))))
                continue
            oid = str(pygit2.hashfile(str(file)))
        except OSError:
            continue
        entries[path] = (EXECUTABLE if filemode and info.st_mode & stat.S_IXUSR else REGULAR, oid)
    return tree_id(entries)


def code_state(repo: pygit2.Repository, globs: Sequence[str], *, staged: bool = False) -> CodeState:
    """HEAD, the branch, the code dependencies and whether the code is all in HEAD.

    ``dirty``: some of the code is not in HEAD, a tracked file that differs from it (staged or
    not) or an untracked code dependency. ``tree``: the tree of the code as the run reads it,
    the tracked files as they are in the work tree and the untracked code dependencies (HEAD's
    tree when clean); a commit with exactly that tree holds the run's code."""
    commit, branch = head_state(repo)
    files, untracked = _code_files(repo, globs, staged=staged)
    dirty = is_dirty(repo) or bool(untracked)
    tree: str | None = None
    if not staged:
        clean = not dirty and commit is not None
        tree = (
            str(repo.head.peel(pygit2.Commit).tree_id) if clean else worktree_tree(repo, untracked)
        )
    return CodeState(
        commit=commit,
        branch=branch,
        dirty=dirty,
        files=files,
        tree=tree,
    )


RACY_NS = 1_000_000_000  # a file changed this recently may change again within its mtime's tick


def code_paths(repo: pygit2.Repository, globs: Sequence[str]) -> set[str]:
    """The repository paths of the code dependencies as :func:`code_files` finds them (their
    content not read): tracked files there in the work tree, untracked ones not ignored."""
    if repo.workdir is None:
        return set()
    root = Path(repo.workdir)
    found = {e.path for e in current_index(repo) if matches(e.path, globs)}
    found.update(untracked_code(repo, globs))
    return {path for path in found if (root / path).is_file()}


class CodeWatch:
    """Whether the code dependencies still hold the content a plan fingerprinted.

    :meth:`changes` stats each file and reads it again only when its stat (mtime, ctime, size,
    inode) moved since its content was last found to be the fingerprinted one, so a check of
    unchanged code costs one ``stat`` per file. A file changed within :data:`RACY_NS` of a
    check is read at the next check too: an edit in the same tick of the clock could leave its
    stat as it was.

    With the ``repo`` and the ``globs`` the files were found with, a file the globs match that
    was not among them (a module or a config written while a grid trains) is a change too. The
    folders that hold the code, and the work tree's root, are watched by their stat: a file
    made in one of them (or in a new folder made in one) moves its time, and only then are the
    code's paths found again (git's status and the index: a few ms)."""

    def __init__(
        self,
        root: Path | str | None,
        files: Mapping[str, str],
        repo: pygit2.Repository | None = None,
        globs: Sequence[str] = (),
    ):
        # (path, full path, content id); none without a work tree
        self.files: list[tuple[str, str, str]] = []
        self.known: dict[str, tuple[int, int, int, int]] = {}
        self.repo = repo if root is not None and globs else None
        self.globs = tuple(globs)
        self.paths = frozenset(files)
        self.folders: dict[str, tuple[int, int] | None] = {}  # None: not settled, look
        if root is not None:
            self.files = [(path, os.path.join(root, path), oid) for path, oid in files.items()]
            if self.repo is not None:
                folders = {""}
                for path in files:
                    parts = path.split("/")[:-1]
                    folders.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
                self.folders = {os.path.join(root, f): None for f in sorted(folders)}

    def changes(self) -> list[str]:
        """The code dependencies whose content is not the fingerprinted one now, sorted
        (a deleted one named so, a new one too)."""
        changed: list[str] = []
        now = time.time_ns()
        for path, full, oid in self.files:
            try:
                info = os.stat(full)
            except OSError:
                changed.append(f"{path} (deleted)")
                continue
            seen = (info.st_mtime_ns, info.st_ctime_ns, info.st_size, info.st_ino)
            if self.known.get(path) == seen:
                continue
            try:
                same = file_code_id(Path(full)) == oid
            except OSError:
                same = False
            if not same:
                self.known.pop(path, None)
                changed.append(path)
            elif now - max(info.st_mtime_ns, info.st_ctime_ns) > RACY_NS:
                self.known[path] = seen
        changed.extend(f"{path} (new)" for path in self._new(now))
        return sorted(changed)

    def _new(self, now: int) -> list[str]:
        """The paths the globs match now that the plan did not have, when a watched folder
        moved since the last look."""
        if self.repo is None:
            return []
        stats: dict[str, tuple[int, int] | None] = {}
        for folder in self.folders:
            try:
                info = os.stat(folder)
            except OSError:
                stats[folder] = None
                continue
            stats[folder] = (info.st_mtime_ns, info.st_ino)
        if all(self.folders[f] is not None and self.folders[f] == stats[f] for f in stats):
            return []
        found = sorted(code_paths(self.repo, self.globs) - self.paths)
        for folder, seen in stats.items():  # settled, unless moved in this tick of the clock
            settled = seen is not None and now - seen[0] > RACY_NS
            self.folders[folder] = seen if settled else None
        return found
