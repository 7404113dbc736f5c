"""Reproduce recorded runs: `git journal rerun` and `git journal checkout`."""
