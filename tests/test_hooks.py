"""The hooks: `check --staged` (silent and alerting), install and uninstall around a user's own
hook, core.hooksPath, the pre-commit framework, and the post-commit note. Real repositories,
real `git commit` running the installed scripts, real scikit-learn fits."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GIT_ENV, git

from gitlab_journal.cli import main
from gitlab_journal.code.state import worktree_tree
from gitlab_journal.journal.index import open_index
from gitlab_journal.journal.records import Run
from gitlab_journal.journal.store import Store

SPEC = """\
data: sklearn:iris
model:
  estimator: sklearn.linear_model.LogisticRegression
  params:
    C: {C}
    max_iter: 300
evaluation: {{cv: 3, seed: 0}}
"""
BIN = str(Path(sys.executable).parent)
WEEK_AGO = "2024-05-01T10:00:00+00:00"


def env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: gitlab-journal on PATH, a fixed identity."""
    out = {**os.environ, **GIT_ENV, **extra}
    out["PATH"] = BIN + os.pathsep + out.get("PATH", "")
    return out


def sh(cwd: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env(**extra), capture_output=True, text=True)


def spec(repo: Path, c: object) -> None:
    (repo / "journal.yaml").write_text(SPEC.format(C=c))


def journal_run(repo: Path) -> list[str]:
    """`git journal run` (in this process: scikit-learn is imported once); the new run ids."""
    before = set(run_ids(repo))
    assert main(["-C", str(repo), "run", "-q"]) == 0
    return sorted(set(run_ids(repo)) - before)


def run_ids(repo: Path) -> list[str]:
    with open_index(Store.discover(repo)) as index:
        return [row.id for row in index.query()]


def show(repo: Path, run_id: str) -> Run:
    with open_index(Store.discover(repo)) as index:
        return index.resolve(run_id)


def check_staged(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return sh(repo, "git", "journal", "check", "--staged", *args)


@pytest.fixture
def project(repo: Path) -> Path:
    """A project whose spec (C=0.1) was committed a week ago and run from that commit."""
    spec(repo, 0.1)
    git(repo, "add", "journal.yaml")
    done = sh(repo, "git", "commit", "-q", "-m", "Try C=0.1", GIT_COMMITTER_DATE=WEEK_AGO)
    assert done.returncode == 0, done.stderr
    assert sh(repo, "git", "journal", "init").returncode == 0
    journal_run(repo)
    return repo


def test_fresh_run_then_commit_is_silent_and_noted_as_committed(project: Path) -> None:
    assert sh(project, "git", "journal", "hooks", "install").returncode == 0
    git(project, "config", "journal.hook.mode", "block")
    spec(project, 1.0)
    (project / "train.py").write_text("SEED = 1\n")
    (fresh,) = journal_run(project)
    assert show(project, fresh).code.dirty is True

    done = sh(project, "git", "commit", "-a", "-q", "-m", "C=1 is better")

    assert done.returncode == 0, done.stderr
    assert "already run" not in done.stdout + done.stderr
    head = git(project, "rev-parse", "HEAD").strip()
    assert show(project, fresh).code.committed == head
    assert f"Journal-Run: {fresh}" in git(project, "log", "-1", "--format=%B", "journal")
    shown = "".join(sh(project, "git", "journal", "show", fresh).stdout.split())
    assert f"sincecommittedas{head}" in shown


def test_reverting_the_spec_to_a_value_run_a_week_ago_alerts_naming_that_run(
    project: Path,
) -> None:
    (week_old,) = run_ids(project)
    old_commit = git(project, "rev-parse", "HEAD").strip()
    spec(project, 1.0)
    git(project, "commit", "-q", "-am", "C=1")
    journal_run(project)
    spec(project, 0.1)  # back to what ran a week ago
    git(project, "add", "journal.yaml")

    warned = check_staged(project)
    blocked = check_staged(project, "--mode", "block")
    as_json = json.loads(check_staged(project, "--json").stdout)

    assert warned.returncode == 0
    assert week_old in warned.stderr and old_commit[:10] in warned.stderr
    assert "accuracy 0." in warned.stderr and "2 runs" not in warned.stderr
    assert "journal.hook.mode is warn" in warned.stderr
    assert blocked.returncode == 1 and week_old in blocked.stderr
    (duplicate,) = as_json["duplicates"]
    assert duplicate["params"] == {"C": 0.1, "max_iter": 300}
    assert [r["id"] for r in duplicate["earlier"]] == [week_old]
    assert duplicate["earlier"][0]["code_commit"] == old_commit


def test_the_installed_hook_warns_or_blocks_a_real_commit(project: Path) -> None:
    (week_old,) = run_ids(project)
    spec(project, 1.0)
    git(project, "commit", "-q", "-am", "C=1")
    assert sh(project, "git", "journal", "hooks", "install").returncode == 0
    spec(project, 0.1)
    head = git(project, "rev-parse", "HEAD").strip()

    git(project, "config", "journal.hook.mode", "block")
    refused = sh(project, "git", "commit", "-a", "-q", "-m", "back to C=0.1")
    assert refused.returncode != 0 and week_old in refused.stderr
    assert git(project, "rev-parse", "HEAD").strip() == head  # `commit -a`'s own index was read

    git(project, "config", "journal.hook.mode", "warn")
    warned = sh(project, "git", "commit", "-a", "-q", "-m", "back to C=0.1")
    assert warned.returncode == 0 and week_old in warned.stderr
    assert git(project, "rev-parse", "HEAD").strip() != head


def test_unrelated_commits_stay_silent(project: Path) -> None:
    git(project, "config", "journal.hook.mode", "block")
    (project / "README.md").write_text("# project\n\nNotes.\n")
    git(project, "add", "README.md")
    assert check_staged(project).stderr == ""  # the spec's runs are HEAD's own: not news
    git(project, "commit", "-q", "-m", "Notes")

    # Edit and run, then commit something else first, then what was run.
    spec(project, 3.0)
    journal_run(project)
    (project / "README.md").write_text("# project\n\nMore notes.\n")
    assert sh(project, "git", "journal", "hooks", "install").returncode == 0
    first = sh(project, "git", "commit", "-q", "-m", "More notes", "README.md")
    second = sh(project, "git", "commit", "-q", "-m", "C=3", "journal.yaml")

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "already run" not in first.stderr + second.stderr


def test_a_code_change_since_the_run_makes_it_an_earlier_state(project: Path) -> None:
    spec(project, 5.0)
    journal_run(project)  # dirty run of C=5 on the current HEAD
    (dirty,) = [r for r in run_ids(project) if show(project, r).params["C"] == 5]
    git(project, "stash", "-q")
    (project / "train.py").write_text("SEED = 2\n")
    git(project, "commit", "-q", "-am", "New training code")
    (project / "train.py").write_text("SEED = 0\n")  # ...and back
    git(project, "commit", "-q", "-am", "Old training code again")
    spec(project, 5.0)
    git(project, "add", "journal.yaml")

    found = json.loads(check_staged(project, "--json").stdout)

    # The code moved on and came back since the run: a commit in between touched train.py.
    assert [r["id"] for d in found["duplicates"] for r in d["earlier"]] == [dirty]


def test_no_journal_unstaged_spec_and_broken_spec(repo: Path) -> None:
    spec(repo, 0.1)
    assert check_staged(repo).returncode == 0 and check_staged(repo).stderr == ""  # no journal
    assert sh(repo, "git", "journal", "init").returncode == 0
    skipped = json.loads(check_staged(repo, "--json").stdout)
    assert skipped["skipped"] == "journal.yaml is not in the index"
    (repo / "journal.yaml").write_text("data: [unclosed\n")
    git(repo, "add", "journal.yaml")
    warned = check_staged(repo)
    assert warned.returncode == 0 and "journal.yaml (staged):" in warned.stderr
    assert check_staged(repo, "--mode", "block").returncode == 2
    git(repo, "config", "journal.hook.mode", "sometimes")
    bad_mode = check_staged(repo)
    assert bad_mode.returncode == 2 and "warn or block" in bad_mode.stderr


def test_check_staged_imports_no_sklearn_once_the_params_are_cached(project: Path) -> None:
    spec(project, 1.0)
    git(project, "add", "journal.yaml")
    code = (
        "import sys\n"
        "from gitlab_journal.cli import main\n"
        "rc = main(['check', '--staged', '--json'])\n"
        "print('SKLEARN' if 'sklearn' in sys.modules else 'NO-SKLEARN', rc)\n"
    )
    first = sh(project, sys.executable, "-c", code)  # C=1 is new: resolved once, then cached
    second = sh(project, sys.executable, "-c", code)
    assert first.stdout.strip().endswith("SKLEARN 0")
    assert second.stdout.strip().endswith("NO-SKLEARN 0"), second.stdout + second.stderr


def test_install_and_uninstall_keep_the_users_own_hook(repo: Path) -> None:
    hooks = repo / ".git" / "hooks"
    mine = "#!/bin/sh\necho users-hook-ran >&2\nexit ${FAIL_USERS_HOOK:-0}\n"
    (hooks / "pre-commit").write_text(mine)
    (hooks / "pre-commit").chmod(0o755)

    installed = sh(repo, "git", "journal", "hooks", "install")

    assert installed.returncode == 0, installed.stderr
    assert (hooks / "pre-commit.legacy").read_text() == mine
    ours = (hooks / "pre-commit").read_text()
    assert "# gitlab-journal hook, ID: " in ours and f"INSTALL_PYTHON={sys.executable}" in ours
    assert os.access(hooks / "pre-commit", os.X_OK) and os.access(hooks / "post-commit", os.X_OK)
    (repo / "README.md").write_text("changed\n")
    committed = sh(repo, "git", "commit", "-qam", "one")
    assert committed.returncode == 0 and "users-hook-ran" in committed.stderr
    (repo / "README.md").write_text("changed again\n")
    failing = sh(repo, "git", "commit", "-qam", "two", FAIL_USERS_HOOK="3")
    assert failing.returncode != 0  # the user's hook still decides
    assert sh(repo, "git", "journal", "hooks", "install").stdout.startswith("updated")
    assert (hooks / "pre-commit.legacy").read_text() == mine  # not replaced by ours

    removed = sh(repo, "git", "journal", "hooks", "uninstall")

    assert removed.returncode == 0, removed.stderr
    assert (hooks / "pre-commit").read_text() == mine
    assert not (hooks / "pre-commit.legacy").exists() and not (hooks / "post-commit").exists()
    # A hook that is not ours is left alone.
    assert "not a gitlab-journal hook" in sh(repo, "git", "journal", "hooks", "uninstall").stdout
    assert (hooks / "pre-commit").read_text() == mine


def test_install_respects_core_hooks_path(repo: Path) -> None:
    git(repo, "config", "core.hooksPath", ".githooks")
    (repo / "sub").mkdir()

    done = sh(repo / "sub", "git", "journal", "hooks", "install")

    assert done.returncode == 0, done.stderr
    assert (repo / ".githooks" / "pre-commit").is_file()
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    status = sh(repo, "git", "journal", "hooks", "status").stdout
    assert "pre-commit   installed" in status and ".githooks" in status
    assert sh(repo, "git", "journal", "hooks", "uninstall").returncode == 0
    assert not (repo / ".githooks" / "pre-commit").exists()


def test_the_pre_commit_framework_runs_journal_duplicates(project: Path, tmp_path: Path) -> None:
    """`pre-commit try-repo` with the manifest at this checkout's root."""
    manifest = Path(__file__).resolve().parents[1] / ".pre-commit-hooks.yaml"
    hook_repo = tmp_path / "hook-repo"
    hook_repo.mkdir()
    shutil.copy(manifest, hook_repo / ".pre-commit-hooks.yaml")
    git(hook_repo, "init", "-q", "-b", "main")
    git(hook_repo, "add", ".")
    git(hook_repo, "commit", "-q", "-m", "hooks")
    (week_old,) = run_ids(project)
    spec(project, 1.0)
    git(project, "commit", "-q", "-am", "C=1")
    home = str(tmp_path / "pre-commit-home")

    def try_repo() -> subprocess.CompletedProcess[str]:
        return sh(
            project,
            "pre-commit",
            "try-repo",
            str(hook_repo),
            "journal-duplicates",
            PRE_COMMIT_HOME=home,
            PRE_COMMIT_COLOR="never",
        )

    quiet = try_repo()
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "Passed" in quiet.stdout and week_old not in quiet.stdout

    spec(project, 0.1)
    git(project, "add", "journal.yaml")
    warned = try_repo()
    assert warned.returncode == 0 and week_old in warned.stdout  # verbose: the warning shows

    git(project, "config", "journal.hook.mode", "block")
    blocked = try_repo()
    assert blocked.returncode == 1 and "Failed" in blocked.stdout and week_old in blocked.stdout


def test_worktree_tree_is_what_git_would_commit(repo: Path) -> None:
    (repo / "sub").mkdir()
    (repo / "sub" / "tool.sh").write_text("#!/bin/sh\n")
    (repo / "sub" / "tool.sh").chmod(0o755)
    os.symlink("train.py", repo / "link.py")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "more files")
    (repo / "train.py").write_text("SEED = 9\n")
    (repo / "sub" / "tool.sh").chmod(0o644)
    (repo / "README.md").unlink()
    (repo / "untracked.txt").write_text("not tracked\n")

    ours = worktree_tree(Store.discover(repo).repo)

    git(repo, "add", "-u")
    assert ours == git(repo, "write-tree").strip()
