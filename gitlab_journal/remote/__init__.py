"""Many clones: sync journals through a shared remote, and claim grid points on it.

Every network operation runs the `git` program (through GitPython), so credentials, ssh config
and proxies work as the user set them up; the journal's own commits are written by
:mod:`gitlab_journal.journal.store` alone.
"""
