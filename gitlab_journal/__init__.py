"""gitlab-journal: a Git-native lab journal for machine-learning experiments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from gitlab_journal.api import Journal

__all__ = ["Journal", "__version__"]


def __getattr__(name: str) -> Any:
    # `Journal` is imported on first use, so `import gitlab_journal` stays cheap for the CLI.
    if name == "Journal":
        from gitlab_journal.api import Journal

        return Journal
    raise AttributeError(name)
