"""Record a Keras ``fit`` of your own training code as one journal run.

    from gitlab_journal.keras import JournalCallback

    model.fit(X, y, epochs=20, callbacks=[
        JournalCallback(params={"units": 64, "seed": 0}, data={"train": (X, y)}),
    ])

Before the first epoch the callback checks the journal for the same experiment (the same
params, data, code, architecture, compile configuration and epochs) and raises, or warns, as
asked; it collects the history as ``fit`` goes, and commits one run when ``fit`` returns: its
metrics, history.json, summary.txt, curve.png, and model.keras when asked. A first Ctrl-C stops
``fit`` after the current batch and records the run as ``interrupted`` with the epochs it
reached, then raises KeyboardInterrupt; a second Ctrl-C interrupts at once.

Importing this module imports Keras. The callback records through ``run/``, as every run is.
"""

from __future__ import annotations

from gitlab_journal.errors import DuplicateRunWarning
from gitlab_journal.run.keras_fit import JournalCallback

__all__ = ["DuplicateRunWarning", "JournalCallback"]
