"""Spec templates that `git journal new --template NAME` copies."""
