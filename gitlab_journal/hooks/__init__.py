"""Git hooks: what the pre-commit, post-commit and pre-receive scripts run, and their installer."""
