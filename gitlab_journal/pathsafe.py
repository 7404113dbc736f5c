"""Paths taken from a journal record, confined to the repository they are written into.

A record may come from another clone (a push, a fetch, `git journal sync`): what it names is
data, never a place to write. :func:`confined` is the one check every record path goes through
before it becomes a file path: relative, normalised (no ``.``, ``..`` or empty parts), not inside
``.git``, and not through a symbolic link that leaves the repository. Anything else is refused
with a :class:`JournalError` (exit 2) naming the record and the path, before a byte is written.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from gitlab_journal.errors import JournalError


def refusal(relpath: object, why: str, *, where: str) -> JournalError:
    return JournalError(
        f"{where}: refusing path {relpath!r}: {why}",
        hint="a record names paths inside the repository only; this one may come from a "
        "hostile or broken clone, and nothing was written",
    )


def check_relative(relpath: object, *, where: str) -> str:
    """``relpath`` itself, when it is a plain relative path; the error otherwise (no file
    system access: a check for paths that are not yet joined to a root)."""
    if not isinstance(relpath, str) or not relpath:
        raise refusal(relpath, "not a path", where=where)
    if "\0" in relpath or "\\" in relpath:
        raise refusal(relpath, "it holds a NUL or a backslash", where=where)
    if relpath.startswith("/") or PureWindowsPath(relpath).drive:
        raise refusal(relpath, "it is absolute", where=where)
    parts = relpath.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise refusal(relpath, "it is not a normalised path inside the repository", where=where)
    if any(part.lower() == ".git" for part in parts):
        raise refusal(relpath, "it is inside .git", where=where)
    return relpath


def confined(root: Path, relpath: object, *, where: str) -> Path:
    """``root / relpath``, once ``relpath`` is known to stay inside ``root``.

    ``where`` names the record for the message (``"run 1a2b3c4d5e6f, dvc.json"``). Every part
    of the path that exists is looked at: a symbolic link on the way must resolve inside
    ``root`` (the last part may be a link only if it does too, since writing follows it).
    """
    name = check_relative(relpath, where=where)
    base = Path(os.path.realpath(root))
    current = Path(root)
    for part in PurePosixPath(name).parts:
        current = current / part
        if current.is_symlink():
            resolved = Path(os.path.realpath(current))
            if resolved != base and base not in resolved.parents:
                raise refusal(
                    relpath, f"{current} is a symbolic link out of the repository", where=where
                )
        elif not current.exists():
            break  # nothing further down exists yet: no link can lead out
    return Path(root) / name
