from __future__ import annotations

from gitlab_journal.cli import main

raise SystemExit(main())
