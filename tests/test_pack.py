"""A `run` writes its records' objects into one pack: a grid leaves no loose objects."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import git
from helpers import Cli, fsck, make_run

from gitlab_journal.journal.batch import Batch
from gitlab_journal.journal.store import Store
from gitlab_journal.run.maintenance import pack_if_needed

SPEC = """\
data: sklearn:iris
model:
  estimator: sklearn.dummy.DummyClassifier
  params:
    strategy: [prior, stratified, uniform]
    random_state: [0, 1]
evaluation:
  cv: 2
  seed: 0
"""


def loose_objects(repo: Path) -> int:
    counts = dict(line.split(": ", 1) for line in git(repo, "count-objects", "-v").splitlines())
    return int(counts["count"])


def test_a_grid_leaves_its_runs_packed_and_readable(repo: Path, cli: Cli) -> None:
    (repo / "journal.yaml").write_text(SPEC)
    git(repo, "add", "journal.yaml")
    git(repo, "commit", "-q", "-m", "Add the spec")
    assert cli("init")[0] == 0
    git(repo, "repack", "-adq")  # the code's objects and the journal's first commit
    packs = len(list((repo / ".git/objects/pack").glob("*.pack")))

    code, _, err = cli("run", "-q")

    assert code == 0, err
    assert loose_objects(repo) == 0
    assert len(list((repo / ".git/objects/pack").glob("*.pack"))) == packs + 1
    fsck = subprocess.run(["git", "fsck", "--strict"], cwd=repo, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr
    code, out, err = cli("log", "--json")
    assert code == 0, err
    assert out.count('"fingerprint"') == 6
    # A second run of new points packs again, beside the first pack.
    (repo / "journal.yaml").write_text(SPEC.replace("[0, 1]", "[2]"))
    git(repo, "commit", "-q", "-am", "Another seed")
    git(repo, "repack", "-dq")
    assert cli("run", "-q")[0] == 0
    assert loose_objects(repo) == 0
    assert int(git(repo, "rev-list", "--count", "journal")) == 10


def test_too_many_packs_are_merged_by_git_gc_auto(repo: Path) -> None:
    """After a run, `git gc --auto` (the git program) merges the packs once git's own limit
    is passed."""
    store = Store.discover(repo)
    store.init()
    git(repo, "config", "gc.autoPackLimit", "2")
    git(repo, "config", "gc.autoDetach", "false")  # merged before it returns
    for first in (0, 10, 20):
        batch = Batch(store, pack_min_runs=1)
        for number in range(first, first + 3):
            batch.add(make_run(f"{number:012x}", {"C": float(number)}))
        batch.flush()
    assert len(list((repo / ".git/objects/pack").glob("pack-*.pack"))) >= 3

    assert pack_if_needed(store)

    assert len(list((repo / ".git/objects/pack").glob("pack-*.pack"))) == 1
    assert git(repo, "rev-list", "--count", "journal").strip() == "10"
    fsck(repo)


def test_packing_is_best_effort_where_git_fails(repo: Path) -> None:
    store = Store.discover(repo)
    store.init()
    (repo / ".git/config").write_text("[gc\nthis is not a config file\n")

    assert pack_if_needed(store) is False
