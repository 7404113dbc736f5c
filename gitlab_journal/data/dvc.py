"""DVC: reuse its hashes, record what it tracks, bring a run's data back.

- :class:`DvcState` answers "what is the md5 of this file?" from DVC's own state database when
  DVC tracks the path (a ``.dvc`` file or an output in ``dvc.lock``, for the path or a folder
  above it) and the file's inode, mtime and size are still those DVC recorded: what `dvc status`
  trusts. Anything else (another stat, a hash DVC does not know, DVC not installed) answers
  nothing, and the caller reads the data.
- :func:`dvc_record` is the ``dvc.json`` a run records: the DVC remote and the exact ``.dvc`` /
  ``dvc.lock`` text that tracked each input, so the run's data can be found again. A tracking
  file that does not describe the data as it is (edited, not yet `dvc add`ed: :func:`unsaved`)
  is left out: it would bring back other data.
- :func:`restore` writes those tracking files back and runs ``dvc checkout`` (``dvc pull`` when
  the local cache lacks the data): `git journal checkout-data RUN`. It refuses, before touching
  anything, a record that names other data than the run used, or data that neither DVC's cache
  nor its remote holds; and it checks the md5 of what DVC brought back.

The git hooks import :mod:`gitlab_journal.data.hashing`, which imports this module: only the
standard library at the top; ruamel.yaml and DVC itself are imported when a path is tracked.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from gitlab_journal.errors import CheckFailed, JournalError, MissingExtra
from gitlab_journal.journal.format import DVC_RECORD_FILE
from gitlab_journal.pathsafe import check_relative, confined

if TYPE_CHECKING:
    from gitlab_journal.data.hashing import HashCache
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


def _parse_yaml(text: str) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        return YAML(typ="safe", pure=True).load(text)
    except YAMLError:
        return None


def tracked_outs(file: str, text: str) -> dict[str, str | None]:
    """The outputs a ``.dvc`` file or ``dvc.lock`` (repo-relative ``file``, its ``text``)
    tracks: repo-relative output path -> the md5 it records."""
    base = PurePosixPath(file).parent
    doc = _parse_yaml(text)
    outs = _lock_outs(doc) if PurePosixPath(file).name == LOCK_FILE else _outs(doc)
    return {_norm(base / out["path"]): _md5(out) for out in outs}


def _lock_outs(doc: Any) -> Iterable[Mapping[str, Any]]:
    """The outputs of every stage of a parsed ``dvc.lock``."""
    stages = doc.get("stages") if isinstance(doc, Mapping) else None
    for stage in stages.values() if isinstance(stages, Mapping) else ():
        yield from _outs(stage)


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

    def read(file: str) -> str | None:
        path = root / file
        if not path.is_file():
            return None
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    return tracking_in(read, relpath)


def tracking_in(read: Callable[[str], str | None], relpath: str) -> Tracking | None:
    """:func:`tracking` in another copy of the repository's files (git's index, a commit):
    ``read`` gives the text of a repo-relative file there, None where it has none."""
    for candidate in _ancestors(relpath):
        text = read(candidate + DVC_FILE_SUFFIX)
        if text is not None:
            base = PurePosixPath(candidate).parent
            for out in _outs(_parse_yaml(text)):
                if _norm(base / out["path"]) == candidate:
                    return Tracking(candidate + DVC_FILE_SUFFIX, candidate, _md5(out))
    # dvc.lock files next to the input or in a folder above it, the repository root included
    folders = [str(PurePosixPath(a).parent) for a in _ancestors(relpath)]
    for folder in dict.fromkeys(folders):
        base = PurePosixPath("" if folder == "." else folder)
        text = read(str(base / LOCK_FILE))
        if text is None:
            continue
        for out in _lock_outs(_parse_yaml(text)):
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


@dataclass(frozen=True)
class Unsaved:
    """An input whose DVC tracking file describes other data than the work tree holds: edited
    and not yet `dvc add`ed (or `dvc commit`ed), so DVC cannot bring the data back."""

    name: str  # the input
    tracking: Tracking
    md5: str | None  # the md5 of the tracked output as it is (None: it could not be read)

    def describe(self) -> str:
        tracked = self.tracking
        return (
            f"{tracked.out} is not `dvc add`ed (md5 {self.md5 or 'unreadable'}, its "
            f"{tracked.file} says {tracked.md5 or 'none'})"
        )


def unsaved(root: Path, data: DataSpec, cache: HashCache | None = None) -> list[Unsaved]:
    """The inputs DVC tracks whose tracking file does not describe them as they are now.

    The tracked output (the input, or a folder above it) is hashed through ``cache`` (the
    run's own stat cache makes that free for data the plan just hashed), by default the
    repository's."""
    from gitlab_journal.data.hashing import hash_input

    root = Path(root)
    found: list[tuple[str, Tracking]] = []
    for relpath in data.inputs():
        name = relpath.rstrip("/")
        tracked = tracking(root, name)
        if tracked is not None:
            found.append((name, tracked))
    if not found:
        return []
    if cache is None:
        cache = _repository_cache(root)
    out: list[Unsaved] = []
    for name, tracked in found:
        try:
            md5: str | None = hash_input(root, tracked.out, cache)
        except (JournalError, OSError):
            md5 = None
        if md5 is None or md5 != tracked.md5:
            out.append(Unsaved(name, tracked, md5))
    return out


def _repository_cache(root: Path) -> HashCache | None:
    """The stat cache of the repository at ``root`` (``<git dir>/journal``), if it has one."""
    import pygit2

    from gitlab_journal.data.hashing import hash_cache

    try:
        git_dir = pygit2.discover_repository(str(root))
    except pygit2.GitError:
        return None
    if git_dir is None or not (Path(git_dir) / "journal").is_dir():
        return None
    return hash_cache(Path(git_dir) / "journal")


def dvc_record(
    root: Path,
    data: DataSpec,
    cache: HashCache | None = None,
    *,
    stale: Collection[str] | None = None,
) -> dict[str, bytes]:
    """``{"dvc.json": ...}`` for a run whose inputs DVC tracks; ``{}`` otherwise. An input
    whose tracking file does not describe its data as it is (:func:`unsaved`; ``stale``: their
    names, when the caller has them) is left out, with that file's text unless it tracks
    another input too."""
    root = Path(root)
    if stale is None:
        stale = {item.name for item in unsaved(root, data, cache)}
    inputs: dict[str, dict[str, str | None]] = {}
    files: dict[str, str] = {}
    for relpath in data.inputs():
        name = relpath.rstrip("/")
        found = tracking(root, name)
        if found is None or name in stale:
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
        target = _recorded_out(name, spec)
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
    expected: Mapping[str, str] | None = None,
    cache: HashCache | None = None,
    dirty: Iterable[str] = (),
    force: bool = False,
    pull: bool = True,
    where: str = DVC_RECORD_FILE,
) -> Restored:
    """Write a run's ``.dvc``/``dvc.lock`` files back and check its data out with DVC.

    ``expected``: the md5 the run recorded for each input. Before anything is written, a
    record whose tracking files name other data (the input was not `dvc add`ed when the run
    was made), and data that neither DVC's cache nor the remote holds, are refused (CheckFailed,
    also with ``force``: DVC would replace the work tree's data with other data); afterwards
    each input is hashed (through ``cache``) and one that DVC did not bring back as the run
    used it is an error (CheckFailed), the tracking files put back as they were.

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
    wanted = _wanted(root, doc, files, expected or {}, cache, where)
    _refuse_unavailable(root, doc, wanted, expected or {}, cache, pull=pull, where=where)
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
        _verify(root, expected or {}, list(doc.get("inputs") or {}), cache, where)
    except JournalError:
        # DVC could not bring the data back: leave the tracking files as they were.
        for relpath, previous in before.items():
            if previous is None:
                (root / relpath).unlink(missing_ok=True)
            else:
                (root / relpath).write_text(previous, encoding="utf-8")
        raise
    return Restored(tuple(written), tuple(unchanged), tuple(targets), pulled)


def _wanted(
    root: Path,
    doc: Mapping[str, Any],
    files: Mapping[str, str],
    expected: Mapping[str, str],
    cache: HashCache | None,
    where: str,
) -> dict[str, str]:
    """Tracked output -> the md5 the record's tracking files give it, for each input; a
    record that gives an input other data than ``expected`` (its data was edited and not
    `dvc add`ed when the run was made) is refused."""
    wanted: dict[str, str] = {}
    outs_of: dict[str, dict[str, str | None]] = {}
    for name, spec in sorted((doc.get("inputs") or {}).items()):
        file = spec.get("file") if isinstance(spec, Mapping) else None
        out = _recorded_out(name, spec)
        text = files.get(str(file)) if file else None
        if text is None:
            raise CheckFailed(
                f"{where}: its {DVC_RECORD_FILE} lacks the tracking file of {name}",
                hint="DVC has nothing to bring that data back from",
            )
        outs = outs_of.setdefault(str(file), tracked_outs(str(file), text))
        md5 = outs.get(out)
        if md5 is None:
            raise CheckFailed(
                f"{where}: its {file} gives {out} no md5", hint="DVC cannot bring it back"
            )
        if out == name and name in expected and md5 != expected[name]:
            raise CheckFailed(
                f"{where} used {name} with md5 {expected[name]}, but the {file} it recorded "
                f"describes other data (md5 {md5}): the data was not `dvc add`ed when the run "
                "was made, so DVC cannot bring it back",
                hint=_hint(root, [name], expected, cache),
            )
        wanted[out] = md5
    return wanted


def _recorded_out(name: str, spec: Any) -> str:
    """The tracked output (the input, or a folder above it) a ``dvc.json`` entry names."""
    return str(spec.get("out") or name) if isinstance(spec, Mapping) else name


def _refuse_unavailable(
    root: Path,
    doc: Mapping[str, Any],
    wanted: Mapping[str, str],
    expected: Mapping[str, str],
    cache: HashCache | None,
    *,
    pull: bool,
    where: str,
) -> None:
    """Refuse, before anything is written, data that neither DVC's cache nor (when ``pull``)
    the remote holds, and a tracked folder whose manifest gives an input other data than
    ``expected``. What DVC cannot tell (it is not installed, the remote does not answer) is
    left to `dvc checkout` and `dvc pull` and the check of what they brought back."""
    try:
        from dvc.repo import Repo
    except ImportError:
        return
    try:
        repo = Repo(str(root))
    except Exception:  # DVC's own commands will say what is wrong
        return
    try:
        caches = [repo.cache.local, repo.cache.legacy]
        for name, spec in sorted((doc.get("inputs") or {}).items()):
            out = _recorded_out(name, spec)
            md5 = wanted.get(out)
            if md5 is None or out == name or name not in expected:
                continue
            entries = _manifest(caches, md5)
            inside = _part(entries, PurePosixPath(name).relative_to(out).as_posix())
            if entries is not None and inside != expected[name]:
                raise CheckFailed(
                    f"{where} used {name} with md5 {expected[name]}, but the {out} it "
                    f"recorded holds other data there ({inside or 'none'}): it was not "
                    "`dvc add`ed when the run was made, so DVC cannot bring it back",
                    hint=_hint(root, [name], expected, cache),
                )
        missing = {out: md5 for out, md5 in wanted.items() if not _held(caches, md5)}
        if not missing:
            return
        remote = _remote_name(root, doc) if pull else None
        if remote is not None:
            try:
                odb = repo.cloud.get_remote_odb(remote)
                missing = {out: md5 for out, md5 in missing.items() if not _held([odb], md5)}
            except Exception:  # unreachable, no credentials: `dvc pull` will say so
                return
        if not missing:
            return
    finally:
        repo.close()
    raise _not_available(root, missing, expected, doc, cache, pull=pull, remote=remote, where=where)


def _held(odbs: Sequence[Any], md5: str) -> bool:
    """Whether one of the object databases holds ``md5``: a file's object, or a folder's
    manifest and (when the manifest can be read here) every object it names."""
    for odb in odbs:
        try:
            if not odb.exists(md5):
                continue
            if not md5.endswith(".dir"):
                return True
            entries = _manifest([odb], md5)
            if entries is None or all(odb.exists(oid) for oid in entries.values()):
                return True
        except Exception:  # an unreadable object: not held
            continue
    return False


def _manifest(odbs: Sequence[Any], md5: str) -> dict[str, str] | None:
    """relpath -> md5 of a folder's manifest (``.dir``) in a local cache; None when no cache
    holds it readable (a remote's is not read: that would download it)."""
    if not md5.endswith(".dir"):
        return None
    for odb in odbs:
        if getattr(getattr(odb, "fs", None), "protocol", "local") not in ("local", "file"):
            continue
        try:
            doc = json.loads(Path(odb.oid_to_path(md5)).read_text(encoding="utf-8"))
        except Exception:
            continue
        if isinstance(doc, list):
            return {str(e.get("relpath")): str(e.get("md5")) for e in doc if isinstance(e, Mapping)}
    return None


def _part(entries: Mapping[str, str] | None, relpath: str) -> str | None:
    """The md5 a folder's manifest gives the file ``relpath`` in it, or the ``.dir`` hash of
    its folder ``relpath``; None when it holds neither."""
    from gitlab_journal.data.hashing import manifest_md5

    if entries is None:
        return None
    if relpath in entries:
        return entries[relpath]
    prefix = relpath + "/"
    inside = [
        (path[len(prefix) :], md5) for path, md5 in entries.items() if path.startswith(prefix)
    ]
    return manifest_md5(inside) if inside else None


def _remote_name(root: Path, doc: Mapping[str, Any]) -> str | None:
    """The DVC remote `dvc pull` would use: the run's, when still configured, else the
    default one; None without either."""
    config = read_config(root)
    recorded = doc.get("remote")
    name = recorded.get("name") if isinstance(recorded, Mapping) else None
    if name and f'remote "{name}"' in config:
        return str(name)
    default = config.get("core", {}).get("remote")
    return default or None


def _not_available(
    root: Path,
    missing: Mapping[str, str],
    expected: Mapping[str, str],
    doc: Mapping[str, Any],
    cache: HashCache | None,
    *,
    pull: bool,
    remote: str | None,
    where: str,
) -> CheckFailed:
    if not pull:
        place = "not in DVC's cache (and --no-pull)"
        otherwise = "without --no-pull, `dvc pull` looks for it on the DVC remote"
    elif remote is None:
        place = "not in DVC's cache, and no DVC remote is configured"
        otherwise = "configure the DVC remote that holds it: `dvc remote add -d NAME URL`"
    else:
        place = f"neither in DVC's cache nor on its remote {remote!r}"
        otherwise = "`dvc push` it from the clone that `dvc add`ed it"
    held = ", ".join(f"{out} md5 {md5}" for out, md5 in sorted(missing.items()))
    names = [
        name
        for name, spec in sorted((doc.get("inputs") or {}).items())
        if _recorded_out(name, spec) in missing
    ]
    hint = _hint(root, names, expected, cache, otherwise=otherwise)
    return CheckFailed(f"{where}'s data is {place}: {held}", hint=hint)


def _hint(
    root: Path,
    names: Sequence[str],
    expected: Mapping[str, str],
    cache: HashCache | None,
    *,
    otherwise: str = "",
) -> str:
    """Nothing was changed; and when the work tree holds some of the inputs ``names`` as the
    run used them, how to keep them."""
    from gitlab_journal.data.hashing import hash_input

    here: list[str] = []
    for name in names:
        if name not in expected:
            continue
        try:
            if hash_input(root, name, cache) == expected[name]:
                here.append(name)
        except (JournalError, OSError):
            continue
    if here:
        return (
            f"nothing was changed; the work tree holds that data now: "
            f"`dvc add {' '.join(here)}` keeps it"
        )
    return "nothing was changed" + (f"; {otherwise}" if otherwise else "")


def _verify(
    root: Path,
    expected: Mapping[str, str],
    inputs: Sequence[str],
    cache: HashCache | None,
    where: str,
) -> None:
    """Each input holds the md5 the run used, else CheckFailed naming what is there now. The
    data DVC wrote is read (DVC's state would only repeat what DVC believes it wrote)."""
    from gitlab_journal.data.hashing import hash_input

    wrong: list[str] = []
    for name in sorted(inputs):
        if name not in expected:
            continue
        try:
            now: str | None = hash_input(root, name, cache, dvc_state=False)
        except (JournalError, OSError):
            now = None
        if now != expected[name]:
            wrong.append(f"{name} md5 {now or 'missing'}, not {expected[name]}")
    if wrong:
        raise CheckFailed(
            f"DVC did not bring back the data {where} used: {'; '.join(wrong)}",
            hint="its DVC record or DVC's cache holds other data; the tracking files were "
            "put back as they were, the data stays as DVC left it",
        )


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
