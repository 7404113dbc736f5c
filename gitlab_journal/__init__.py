"""gitlab-journal: a Git-native lab journal for machine-learning experiments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from gitlab_journal.api import Journal
    from gitlab_journal.autologging import autolog
    from gitlab_journal.current import current_run

__all__ = ["Journal", "__version__", "autolog", "current_run"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so `import gitlab_journal` stays cheap for the CLI. (Autologging
    # lives in `autologging`: a submodule named `autolog` would shadow the function.)
    if name == "Journal":
        from gitlab_journal.api import Journal

        return Journal
    if name == "autolog":
        from gitlab_journal.autologging import autolog

        return autolog
    if name == "current_run":
        from gitlab_journal.current import current_run

        return current_run
    raise AttributeError(name)
