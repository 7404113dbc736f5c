"""`git journal hooks install|uninstall`: put the hook scripts in place, and take them out.

The hooks folder is the one git itself uses: `git rev-parse --git-path hooks`, run through
GitPython, so ``core.hooksPath`` (relative or absolute) and linked work trees are respected.
A hook already there that is not ours is kept beside ours as ``<name>.legacy``; our script runs
it first and stops when it fails (as the pre-commit framework does). Our scripts carry an ID
line, so `uninstall` removes only ours and puts a kept hook back.
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from gitlab_journal.errors import JournalError

HOOKS = ("pre-commit", "post-commit", "pre-receive")
WORK_TREE_HOOKS = ("pre-commit", "post-commit")
SERVER_HOOKS = ("pre-receive",)
ID_LINE = "# gitlab-journal hook, ID: 5b1f0c4e9a7d2e63"
LEGACY = ".legacy"
_PYTHON_LINE = "INSTALL_PYTHON=''"


@dataclass(frozen=True)
class Change:
    """What happened to one hook: ``installed``, ``updated``, ``removed``, ``restored`` (a kept
    hook put back), ``absent`` or ``foreign`` (a hook that is not ours, left alone)."""

    name: str
    path: Path
    action: str
    legacy: Path | None = None


def hooks_dir(path: str | Path = ".") -> tuple[Path, bool]:
    """(the hooks folder git uses for the repository at ``path``, whether it is bare)."""
    import git

    try:
        repo = git.Repo(str(path), search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise JournalError(
            f"not a git repository: {Path(path).resolve()}",
            hint="run this inside a git repository",
        ) from None
    base = Path(repo.working_tree_dir or repo.git_dir)
    try:
        found = repo.git.rev_parse("--git-path", "hooks")
    except git.GitCommandError as exc:
        raise JournalError(f"git could not name the hooks folder: {exc.stderr.strip()}") from exc
    folder = Path(found)
    if not folder.is_absolute():
        folder = base / folder
    return Path(os.path.normpath(folder)), bool(repo.bare)


def script(name: str, python: str | None = None) -> str:
    """The text of hook ``name``, set to run gitlab-journal with ``python`` (default: this
    interpreter)."""
    if name not in HOOKS:
        raise JournalError(f"unknown hook {name!r}", hint="one of: " + ", ".join(HOOKS))
    text = (resources.files("gitlab_journal.hook_scripts") / name).read_text(encoding="utf-8")
    python = python or sys.executable
    return text.replace(_PYTHON_LINE, f"INSTALL_PYTHON={shlex.quote(python)}", 1)


def is_ours(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return ID_LINE.encode() in head


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.gitlab-journal-tmp")
    tmp.write_text(text, encoding="utf-8")
    mode = tmp.stat().st_mode
    tmp.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    os.replace(tmp, path)


def install(path: str | Path = ".", names: tuple[str, ...] = ()) -> list[Change]:
    """Install hooks ``names`` (default: pre-commit and post-commit, or pre-receive in a bare
    repository) in the repository at ``path``."""
    folder, bare = hooks_dir(path)
    names = names or (SERVER_HOOKS if bare else WORK_TREE_HOOKS)
    texts = {name: script(name) for name in names}  # unknown names fail before any write
    for name in names:
        target, legacy = folder / name, folder / (name + LEGACY)
        if (target.exists() or target.is_symlink()) and not is_ours(target) and legacy.exists():
            raise JournalError(
                f"{target} is not ours and {legacy.name} exists too: nothing installed",
                hint="move one of them away, then run `git journal hooks install` again",
            )
    folder.mkdir(parents=True, exist_ok=True)
    changes = []
    for name in names:
        target, legacy = folder / name, folder / (name + LEGACY)
        kept: Path | None = legacy if legacy.exists() else None
        action = "installed"
        if target.exists() or target.is_symlink():
            if is_ours(target):
                action = "updated"
            else:
                os.replace(target, legacy)
                kept = legacy
        _write(target, texts[name])
        changes.append(Change(name, target, action, kept))
    return changes


def uninstall(path: str | Path = ".", names: tuple[str, ...] = HOOKS) -> list[Change]:
    """Remove our hooks ``names``; a hook that was kept as ``<name>.legacy`` is put back."""
    folder, _ = hooks_dir(path)
    for name in names:
        if name not in HOOKS:
            raise JournalError(f"unknown hook {name!r}", hint="one of: " + ", ".join(HOOKS))
    changes = []
    for name in names:
        target, legacy = folder / name, folder / (name + LEGACY)
        present = target.exists() or target.is_symlink()
        if present and not is_ours(target):
            changes.append(Change(name, target, "foreign"))
            continue
        if present:
            target.unlink()
        if legacy.exists():
            os.replace(legacy, target)
            changes.append(Change(name, target, "restored", legacy))
        else:
            changes.append(Change(name, target, "removed" if present else "absent"))
    return changes


def status(path: str | Path = ".") -> list[Change]:
    """Each hook as it stands: ``installed`` (ours), ``foreign`` or ``absent``."""
    folder, _ = hooks_dir(path)
    out = []
    for name in HOOKS:
        target, legacy = folder / name, folder / (name + LEGACY)
        if target.exists() or target.is_symlink():
            action = "installed" if is_ours(target) else "foreign"
        else:
            action = "absent"
        out.append(Change(name, target, action, legacy if legacy.exists() else None))
    return out
