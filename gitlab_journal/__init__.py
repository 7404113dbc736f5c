"""gitlab-journal: a Git-native lab journal for machine-learning experiments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from gitlab_journal.api import Journal
    from gitlab_journal.current import current_run

__all__ = ["Journal", "__version__", "current_run"]


def __getattr__(name: str) -> Any:
    # `Journal` is imported on first use, so `import gitlab_journal` stays cheap for the CLI.
    if name == "Journal":
        from gitlab_journal.api import Journal

        return Journal
    if name == "current_run":
        from gitlab_journal.current import current_run

        return current_run
    raise AttributeError(name)
