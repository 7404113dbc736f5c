#!/usr/bin/env bash
# The quick start: a scratch git repository, a grid over scikit-learn's iris data set recorded
# in its journal, then the journal's log. Run it after `pip install .`; it leaves the scratch
# repository in place and prints where it is.
set -euo pipefail
scratch=$(mktemp -d "${TMPDIR:-/tmp}/journal-quickstart.XXXXXX")
cd "$scratch"
git init -q -b main
git config user.name >/dev/null || git config user.name "Quick Start"
git config user.email >/dev/null || git config user.email "quickstart@example.com"
echo "# scratch project" > README.md
git add README.md && git commit -q -m "Start a scratch project"

git journal init
git journal new --template sklearn-classifier
git journal run
git journal run          # again: every point was already run, nothing is trained
git journal log
echo
echo "The scratch repository is $scratch; try: cd $scratch && git log journal"
