from __future__ import annotations

from gitlab_journal.cli import entry

raise SystemExit(entry())
