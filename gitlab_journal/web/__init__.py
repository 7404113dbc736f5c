"""The browser view of the journal: `git journal ui` (a local server) and `git journal site`
(static files)."""
