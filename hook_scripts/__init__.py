"""The git hook scripts, shipped as the package gitlab_journal.hook_scripts."""
