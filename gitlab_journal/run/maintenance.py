"""Keep the repository packed: every run writes a few objects, and 100,000 runs must not leave
close to a million loose files. `git gc --auto` (run by the git program, through GitPython)
packs them once git's own threshold is passed and costs almost nothing below it."""

from __future__ import annotations

from gitlab_journal.journal.store import Store


def pack_if_needed(store: Store) -> bool:
    """Run `git gc --auto --quiet`; False when git could not be run (packing is best effort)."""
    import git

    try:
        git.Repo(str(store.git_dir)).git.gc("--auto", "--quiet")
    except (git.GitCommandError, git.GitCommandNotFound, OSError):
        return False
    return True
