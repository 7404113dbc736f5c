"""DVC: reuse its hashes, record what it tracks, bring a run's data back.

- :class:`DvcState` answers "what is the md5 of this file?" from DVC's own state database when
  DVC tracks the path (a ``.dvc`` file or an output in ``dvc.lock``, for the path or a folder
  above it) and the file's inode, mtime and size are still those DVC recorded: what `dvc status`
  trusts. Anything else (another stat, a hash DVC does not know, DVC not installed) answers
  nothing, and the caller reads the data.
- :func:`dvc_record` is the ``dvc.json`` a run records: the DVC remote and the exact ``.dvc`` /
  ``dvc.lock`` text that tracked each input, so the run's data can be found again.
- :func:`restore` writes those tracking files back and runs ``dvc checkout`` (``dvc pull`` when
  the local cache lacks the data): `git journal checkout-data RUN`.

The git hooks import :mod:`gitlab_journal.data.hashing`, which imports this module: only the
standard library at the top; ruamel.yaml and DVC itself are imported when a path is tracked.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from gitlab_journal.errors import CheckFailed, JournalError, MissingExtra
from gitlab_journal.journal.format import DVC_RECORD_FILE
from gitlab_journal.pathsafe import check_relative, confined

if TYPE_CHECKING:
    from gitlab_journal.spec.model import DataSpec

DVC_FILE_SUFFIX = ".dvc"
LOCK_FILE = "dvc.lock"
CONFIG_FILES = (".dvc/config", ".dvc/config.local")

_SECTION = re.compile(r"^\s*\[\s*'?(?P<name>[^\]']+?)'?\s*\]\s*$")
_REMOTE_SECTION = re.compile(r'^remote\s+"(?P<name>[^"]+)"$')


@dataclass(frozen=True)
class Tracking:
    """The DVC file that tracks an input: a ``.dvc`` file or a ``dvc.lock`` (repo-relative)."""

    file: str  # e.g. "data/train.csv.dvc" or "dvc.lock"
    out: str  # the tracked output, repo-relative (the input itself or a folder above it)
    md5: str | None  # DVC's recorded hash of ``out``


# --- finding what DVC tracks --------------------------------------------------------------------


def _load_yaml(path: Path) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError):
        return None


def _outs(doc: Any) -> Iterable[Mapping[str, Any]]:
    if not isinstance(doc, Mapping):
        return
    for out in doc.get("outs") or ():
        if isinstance(out, Mapping) and isinstance(out.get("path"), str):
            yield out


def _ancestors(relpath: str) -> list[str]:
    """``a/b/c`` -> ``["a/b/c", "a/b", "a"]``."""
    parts = PurePosixPath(relpath.strip("/")).parts
    return ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]


def tracking(root: Path, relpath: str) -> Tracking | None:
    """The DVC file that tracks ``relpath`` (or a folder above it), if any."""
    root = Path(root)
    for candidate in _ancestors(relpath):
        dvc_file = root / (candidate + DVC_FILE_SUFFIX)
        if dvc_file.is_file():
            base = PurePosixPath(candidate).parent
            for out in _outs(_load_yaml(dvc_file)):
                if _norm(base / out["path"]) == candidate:
                    return Tracking(candidate + DVC_FILE_SUFFIX, candidate, _md5(out))
    # dvc.lock files next to the input or in a folder above it, the repository root included
    folders = [str(PurePosixPath(a).parent) for a in _ancestors(relpath)]
    for folder in dict.fromkeys(folders):
        base = PurePosixPath("" if folder == "." else folder)
        lock = root / base / LOCK_FILE
        if not lock.is_file():
            continue
        doc = _load_yaml(lock)
        stages = doc.get("stages") if isinstance(doc, Mapping) else None
        for stage in (stages or {}).values():
            for out in _outs(stage):
                out_path = _norm(base / out["path"])
                if out_path in _ancestors(relpath):
                    return Tracking(str(base / LOCK_FILE), out_path, _md5(out))
    return None


def _norm(path: PurePosixPath) -> str:
    return os.path.normpath(str(path)).replace(os.sep, "/").strip("/")


def _md5(out: Mapping[str, Any]) -> str | None:
    value = out.get("md5")
    return str(value) if value else None


# --- DVC's state: hashes without reading the data -------------------------------------------------


class DvcState:
    """Hashes DVC already knows for files under ``root/relpath``, looked up lazily.

    Nothing is imported or opened until :meth:`lookup` is called with paths our own cache did not
    know; then only if DVC tracks ``relpath`` and DVC is installed.
    """

    def __init__(self, root: Path, relpath: str):
        self.root = Path(root)
        self.relpath = relpath
        self._tracked: bool | None = None

    def tracked(self) -> bool:
        if self._tracked is None:
            self._tracked = tracking(self.root, self.relpath) is not None
        return self._tracked

    def lookup(self, paths: Sequence[Path]) -> dict[Path, str]:
        """path -> md5 for each file whose inode, mtime and size match DVC's state."""
        if not paths or not self.tracked():
            return {}
        try:
            from dvc.repo import Repo
        except ImportError:
            return {}
        found: dict[Path, str] = {}
        try:
            repo = Repo(str(self.root))
        except Exception:  # not a DVC repository after all, or an unreadable one: re-hash
            return {}
        try:
            by_name = {os.path.abspath(p): Path(p) for p in paths}
            for name, _meta, hash_info in repo.state.get_many(list(by_name), repo.fs, {}):
                # "md5" is DVC 3's hash of the raw bytes; DVC 2's "md5-dos2unix" is not ours.
                if hash_info is not None and hash_info.name == "md5" and hash_info.value:
                    found[by_name[name]] = str(hash_info.value)
        except Exception:  # DVC's state is a cache: when it cannot answer, read the data
            return {}
        finally:
            repo.close()
        return found


# --- what a run records -------------------------------------------------------------------------


def _strip_credentials(url: str) -> str:
    """A remote URL without any user:password part."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.netloc and "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return url


def read_config(root: Path) -> dict[str, dict[str, str]]:
    """DVC's config (``.dvc/config`` then ``.dvc/config.local``) as section -> key -> value."""
    sections: dict[str, dict[str, str]] = {}
    for name in CONFIG_FILES:
        try:
            text = (Path(root) / name).read_text(encoding="utf-8")
        except OSError:
            continue
        current: dict[str, str] | None = None
        for line in text.splitlines():
            stripped = line.strip()
            if not stripped or stripped.startswith(("#", ";")):
                continue
            match = _SECTION.match(stripped)
            if match:
                current = sections.setdefault(match.group("name").strip(), {})
                continue
            key, sep, value = stripped.partition("=")
            if sep and current is not None:
                current[key.strip()] = value.strip()
    return sections


def default_remote(root: Path) -> dict[str, str] | None:
    """``{"name", "url"}`` of the DVC default remote (credentials left out), if one is set."""
    config = read_config(root)
    name = config.get("core", {}).get("remote")
    if not name:
        return None
    url = config.get(f'remote "{name}"', {}).get("url", "")
    return {"name": name, "url": _strip_credentials(url)}


def dvc_record(root: Path, data: DataSpec) -> dict[str, bytes]:
    """``{"dvc.json": ...}`` for a run whose inputs DVC tracks; ``{}`` otherwise."""
    root = Path(root)
    inputs: dict[str, dict[str, str | None]] = {}
    files: dict[str, str] = {}
    for relpath in data.inputs():
        name = relpath.rstrip("/")
        found = tracking(root, name)
        if found is None:
            continue
        inputs[name] = {"file": found.file, "out": found.out, "md5": found.md5}
        try:
            files[found.file] = (root / found.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
    if not inputs:
        return {}
    doc = {
        "remote": default_remote(root),
        "inputs": dict(sorted(inputs.items())),
        "files": dict(sorted(files.items())),
    }
    return {DVC_RECORD_FILE: (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()}


# --- bringing a run's data back -----------------------------------------------------------------


@dataclass(frozen=True)
class Restored:
    """What :func:`restore` did."""

    written: tuple[str, ...]  # tracking files written back
    unchanged: tuple[str, ...]  # tracking files that already matched
    targets: tuple[str, ...]  # the outputs checked out
    pulled: bool  # whether `dvc pull` was needed


def parse_record(blob: bytes, where: str) -> dict[str, Any]:
    try:
        doc = json.loads(blob)
    except (ValueError, UnicodeDecodeError) as exc:
        raise JournalError(f"{where}: unreadable {DVC_RECORD_FILE}: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), dict):
        raise JournalError(f"{where}: malformed {DVC_RECORD_FILE}")
    return doc


def record_paths(root: Path, doc: Mapping[str, Any], where: str) -> tuple[list[str], list[str]]:
    """The tracking files and the outputs a ``dvc.json`` names, each confined to ``root``
    (:func:`gitlab_journal.pathsafe.confined`): a path that leads out is refused here, before
    anything is written or handed to DVC."""
    files = doc.get("files") or {}
    inputs = doc.get("inputs") or {}
    if not isinstance(files, Mapping) or not isinstance(inputs, Mapping):
        raise JournalError(f"{where}: malformed {DVC_RECORD_FILE}")
    for relpath, text in files.items():
        confined(root, relpath, where=f"{where}, {DVC_RECORD_FILE} files")
        if not isinstance(text, str):
            raise JournalError(f"{where}: malformed {DVC_RECORD_FILE}: {relpath!r} is not text")
    targets: set[str] = set()
    for name, spec in inputs.items():
        check_relative(name, where=f"{where}, {DVC_RECORD_FILE} inputs")
        out = spec.get("out") if isinstance(spec, Mapping) else None
        target = str(out) if out else name
        confined(root, target, where=f"{where}, {DVC_RECORD_FILE} inputs")
        targets.add(target)
    return sorted(files), sorted(targets)


def _dvc(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        import dvc  # noqa: F401
    except ImportError as exc:
        raise MissingExtra("bringing data back needs DVC", extra="dvc") from exc
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )


def restore(
    root: Path,
    doc: Mapping[str, Any],
    *,
    dirty: Iterable[str] = (),
    force: bool = False,
    pull: bool = True,
    where: str = DVC_RECORD_FILE,
) -> Restored:
    """Write a run's ``.dvc``/``dvc.lock`` files back and check its data out with DVC.

    ``dirty``: tracking files with uncommitted changes, which are not overwritten unless
    ``force``. Raises JournalError with DVC's own message when DVC cannot bring the data back.
    Every path the record names is confined to ``root`` first (``where`` names the record).
    """
    root = Path(root)
    names, targets = record_paths(root, doc, where)
    files: Mapping[str, str] = doc.get("files") or {}
    if not (root / ".dvc").is_dir():
        raise JournalError(
            f"{root} is not a DVC repository",
            hint="run `dvc init`, or clone the repository the run was made in",
        )
    written: list[str] = []
    unchanged: list[str] = []
    changed = []
    for relpath in names:
        text = files[relpath]
        path = root / relpath
        try:
            current = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            current = None
        if current == text:
            unchanged.append(relpath)
        else:
            changed.append(relpath)
    blocked = sorted(set(changed) & set(dirty))
    if blocked and not force:
        raise JournalError(
            f"uncommitted changes in {', '.join(blocked)} would be overwritten",
            hint="commit or stash them first, or pass --force",
        )
    before: dict[str, str | None] = {}
    for relpath in changed:
        path = root / relpath
        before[relpath] = path.read_text(encoding="utf-8") if path.is_file() else None
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[relpath], encoding="utf-8")
        written.append(relpath)
    try:
        pulled = _checkout(root, doc, targets, force=force, pull=pull)
    except JournalError:
        # DVC could not bring the data back: leave the tracking files as they were.
        for relpath, previous in before.items():
            if previous is None:
                (root / relpath).unlink(missing_ok=True)
            else:
                (root / relpath).write_text(previous, encoding="utf-8")
        raise
    return Restored(tuple(written), tuple(unchanged), tuple(targets), pulled)


def _checkout(
    root: Path, doc: Mapping[str, Any], targets: Sequence[str], *, force: bool, pull: bool
) -> bool:
    """`dvc checkout` the targets, else `dvc pull` them; whether pulling was needed."""
    # "--": a target named like an option (``--force``) stays a path.
    done = _dvc(root, "checkout", *(["--force"] if force else []), "--", *targets)
    if done.returncode == 0:
        return False
    if not pull:
        raise _dvc_error("checkout", done)
    remote = doc.get("remote") or {}
    pull_args = ["pull", *(["--force"] if force else [])]
    name = remote.get("name") if isinstance(remote, Mapping) else None
    if name and f'remote "{name}"' in read_config(root):
        pull_args += ["--remote", str(name)]
    done = _dvc(root, *pull_args, "--", *targets)
    if done.returncode != 0:
        raise _dvc_error("pull", done)
    return True


def _dvc_error(what: str, done: subprocess.CompletedProcess[str]) -> JournalError:
    """DVC's first ERROR line (and the line after it, often the path it is about)."""
    text = done.stderr + "\n" + done.stdout
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [i for i, line in enumerate(lines) if line.startswith("ERROR")]
    if errors:
        i = errors[0]
        detail = lines[i].removeprefix("ERROR:").strip()
        if i + 1 < len(lines) and not lines[i + 1].startswith(("ERROR", "WARNING")):
            detail += f" {lines[i + 1]}"
    else:
        detail = lines[-1] if lines else f"exit code {done.returncode}"
    hint = "is the DVC remote reachable? see `dvc remote list` and `dvc status -c`"
    if "--force" in text:
        hint = "--force lets DVC replace data that is not in its cache (that data is lost)"
    return CheckFailed(f"dvc {what} failed: {detail}", hint=hint)
