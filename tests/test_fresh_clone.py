"""A fresh `git clone` finds the team's journal: real bare remotes, real clones and pushes, real
`git journal` commands in the new clone."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git, make_repo
from helpers import Cli, logged

from gitlab_journal.api import Journal

SPEC = """\
data: {path: data.csv, target: label}
model:
  estimator: sklearn.tree.DecisionTreeClassifier
  params: {max_depth: DEPTHS}
evaluation: {cv: 2, seed: 0}
"""
ROWS = "a,b,label\n" + "".join(f"{i % 7},{(i * 3) % 5},{i % 2}\n" for i in range(24))


def bare(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(path))
    return path


def member(tmp_path: Path, name: str, remote: Path) -> Path:
    """A clone that started the project and pushed it to ``remote``."""
    path = make_repo(tmp_path / name)
    (path / "data.csv").write_text(ROWS)
    (path / "journal.yaml").write_text(SPEC.replace("DEPTHS", "[1, 2]"))
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "Add the experiment")
    git(path, "remote", "add", "origin", str(remote))
    git(path, "push", "-q", "-u", "origin", "main")
    return path


def has_local_journal(repo: Path) -> bool:
    return git(repo, "rev-parse", "--verify", "-q", "refs/heads/journal", check=False) != ""


def test_a_fresh_clone_reads_the_team_journal_and_writes_on_top_of_it(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = bare(tmp_path, "shared")
    first = member(tmp_path, "first", shared)
    monkeypatch.chdir(first)
    assert cli("init")[0] == 0
    assert cli("run", "-q")[0] == 0
    code, out, err = cli("sync")
    assert code == 0, err
    team = {str(r["id"]) for r in logged(cli)}
    assert len(team) == 2

    git(tmp_path, "clone", "-q", str(shared), "fresh")
    fresh = tmp_path / "fresh"
    monkeypatch.chdir(fresh)

    assert {str(r["id"]) for r in logged(cli)} == team
    code, out, _ = cli("check")
    assert code == 1 and "already run" in out, out
    assert not has_local_journal(fresh), "reading creates nothing"

    code, _, err = cli("init")
    assert code == 2
    assert "origin/journal" in err and "git journal sync" in err
    assert not has_local_journal(fresh)

    (fresh / "journal.yaml").write_text(SPEC.replace("DEPTHS", "[1, 2, 3]"))
    code, out, err = cli("run", "-q")
    assert code == 0, err
    assert "Recorded 1 run(s), skipped 2 already run" in out, out
    assert git(fresh, "config", "branch.journal.remote").strip() == "origin"
    assert git(fresh, "config", "branch.journal.merge").strip() == "refs/heads/journal"
    parent = git(fresh, "rev-parse", "journal^").strip()
    assert parent == git(fresh, "rev-parse", "origin/journal").strip(), "built on the team's"
    assert "[origin/journal: ahead 1]" in git(fresh, "branch", "-vv", "--list", "journal")
    assert len(logged(cli)) == 3

    # The upstream is set, so a plain `git push` of the branch goes where it came from.
    git(fresh, "push", "-q", "origin", "journal")
    assert git(shared, "rev-parse", "journal") == git(fresh, "rev-parse", "journal")


def test_sync_in_a_fresh_clone_takes_the_remote_journal(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = bare(tmp_path, "shared")
    first = member(tmp_path, "first", shared)
    Journal(first).record(model="my.Model", params={"C": 1}, metrics={"acc": 0.5})
    git(first, "push", "-q", "origin", "journal")
    git(tmp_path, "clone", "-q", str(shared), "fresh")
    monkeypatch.chdir(tmp_path / "fresh")

    code, out, err = cli("sync")

    assert code == 0, err
    assert "Took the journal of origin: 1 run(s)" in out, out
    assert git(tmp_path / "fresh", "config", "branch.journal.remote").strip() == "origin"


def test_a_plain_git_fetch_brings_a_journal_pushed_after_the_clone(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = bare(tmp_path, "shared")
    first = member(tmp_path, "first", shared)
    git(tmp_path, "clone", "-q", str(shared), "early")
    Journal(first).record(model="my.Model", params={"C": 1}, metrics={"acc": 0.5})
    git(first, "push", "-q", "origin", "journal")
    monkeypatch.chdir(tmp_path / "early")

    code, _, err = cli("log")
    assert code == 2 and "no journal yet" in err and "`git fetch`" in err
    git(tmp_path / "early", "fetch", "-q")
    assert len(logged(cli)) == 1


def test_two_remotes_with_journals_the_upstream_or_journal_remote_chooses(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, theirs = bare(tmp_path, "ours"), bare(tmp_path, "theirs")
    for name, remote, model in (("a", ours, "ours.Model"), ("b", theirs, "theirs.Model")):
        path = member(tmp_path, name, remote)
        Journal(path).record(model=model, params={"C": 1}, metrics={"acc": 0.5})
        git(path, "push", "-q", "origin", "journal")
    git(tmp_path, "clone", "-q", str(ours), "fresh")
    fresh = tmp_path / "fresh"
    git(fresh, "remote", "add", "other", str(theirs))
    git(fresh, "fetch", "-q", "other")
    monkeypatch.chdir(fresh)

    assert [r["model"] for r in logged(cli)] == ["ours.Model"], "main's upstream is origin"

    git(fresh, "branch", "--unset-upstream")
    code, _, err = cli("log")
    assert code == 2
    assert "several remotes have one (origin, other)" in err
    assert "git config journal.remote" in err

    git(fresh, "config", "journal.remote", "other")
    assert [r["model"] for r in logged(cli)] == ["theirs.Model"]
    Journal(fresh).record(model="mine.Model", params={"C": 2}, metrics={"acc": 0.7})
    assert git(fresh, "config", "branch.journal.remote").strip() == "other"
    assert sorted(str(r["model"]) for r in logged(cli)) == ["mine.Model", "theirs.Model"]
