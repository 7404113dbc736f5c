"""Notes on recorded runs: a note is a new journal commit that updates the run's record;
nothing is rewritten. `git journal note` and the browser view's note form both write here."""

from __future__ import annotations

from dataclasses import replace

from gitlab_journal.errors import JournalError
from gitlab_journal.journal import schema
from gitlab_journal.journal.index import Index
from gitlab_journal.journal.records import Run
from gitlab_journal.journal.store import Store

DEFAULT_KEY = "inference"


def add_note(
    store: Store, run: str, message: str, key: str = DEFAULT_KEY, index: Index | None = None
) -> tuple[Run, str]:
    """Set note ``key`` of the run ``run`` names (an id, a prefix or a journal commit) to
    ``message``; returns the run as it was and the new journal commit."""
    if not key.strip():
        raise JournalError("a note needs a key", hint="e.g. --key inference")
    schema.name(key, "note key")  # an InvalidRecord (a JournalError) names the problem
    schema.text(message, f"note {key}")
    own = index is None
    opened = Index.open(store) if index is None else index
    try:
        target = opened.resolve(run)
    finally:
        if own:
            opened.close()
    notes = dict(target.notes)
    notes[key] = message
    updated = replace(target, notes=notes)
    commit = store.update_run(updated, f"Note {key} on run {target.id}\n\n{message}")
    return target, commit
