"""The code a run was made with: its identity (state) and its uncommitted changes (patch)."""
