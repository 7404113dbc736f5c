"""Exit codes: an unexpected exception is a bug (3, one line, a log), a fault of the machine is
an input error (2), and neither is mistaken for "a check failed" (1)."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import CliResult

from gitlab_journal import errors
from gitlab_journal.commands import log as log_command


def test_check_failed_carries_exit_1_and_journal_error_exit_2() -> None:
    assert errors.CheckFailed("x").exit_code == errors.EXIT_CHECK_FAILED == 1
    assert errors.JournalError("x").exit_code == errors.EXIT_USAGE == 2
    assert errors.JournalError("x", exit_code=errors.EXIT_CHECK_FAILED).exit_code == 1
    assert isinstance(errors.CheckFailed("x"), errors.JournalError)


def test_unexpected_exception_exits_3_with_one_line_and_a_log(
    repo: Path, cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(args: object) -> int:
        raise KeyError("params")

    monkeypatch.setattr(log_command, "run", broken)
    code, _, err = cli("log")
    assert code == errors.EXIT_BUG == 3
    lines = err.strip().splitlines()
    assert lines[0].startswith("error: unexpected KeyError") and "bug" in lines[0]
    assert "Traceback" not in err
    log = repo / ".git" / "journal" / "last-error.log"
    assert str(log) in lines[1]
    kept = log.read_text()
    assert "Traceback" in kept and "KeyError: 'params'" in kept and "broken" in kept


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_machine_faults_are_input_errors(
    repo: Path, cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    def full(args: object) -> int:
        raise OSError(code, "fault", str(repo / ".git" / "objects"))

    monkeypatch.setattr(log_command, "run", full)
    status, _, err = cli("log")
    assert status == errors.EXIT_USAGE
    assert err.startswith("error: ") and "Traceback" not in err
    assert "nothing was recorded" in err


def test_a_bug_in_warn_mode_never_blocks_a_commit(repo: Path, tmp_path: Path) -> None:
    """The installed pre-commit hook lets exit 3 through in warn mode and stops in block mode."""
    from conftest import git

    hooks = repo / ".git" / "hooks"
    script = (Path(__file__).parent.parent / "hook_scripts" / "pre-commit").read_text()
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    # A stand-in `git-journal` that fails as a bug would: the hook's own logic is under test.
    (fake_bin / "git-journal").write_text("#!/bin/sh\necho 'error: unexpected' >&2\nexit 3\n")
    (fake_bin / "git-journal").chmod(0o755)
    (hooks / "pre-commit").write_text(script)
    (hooks / "pre-commit").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}"}

    def commit(name: str) -> subprocess.CompletedProcess[str]:
        (repo / name).write_text(f"{name}\n")
        git(repo, "add", name)
        return subprocess.run(
            ["git", "commit", "-q", "-m", f"Add {name}"],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    warn = commit("a.txt")
    assert warn.returncode == 0, warn.stderr
    git(repo, "config", "journal.hook.mode", "block")
    assert commit("b.txt").returncode != 0


def test_tests_never_see_the_users_git_configuration(repo: Path) -> None:
    import pygit2
    from conftest import git

    assert git(repo, "config", "--global", "user.name").strip() == "Ada Lovelace"
    home = Path(os.environ["HOME"])
    origin = git(repo, "config", "--global", "--show-origin", "user.name")
    assert origin.startswith(f"file:{home}/.gitconfig"), origin
    assert str(home) in pygit2.settings.search_path[pygit2.enums.ConfigLevel.GLOBAL]


def test_an_invalid_journal_branch_name_is_an_input_error(
    repo: Path, cli: Callable[..., CliResult]
) -> None:
    from conftest import git

    assert cli("init")[0] == 0
    git(repo, "config", "journal.branch", "a..b")
    code, _, err = cli("log")
    assert code == errors.EXIT_USAGE
    assert "'a..b' is not a valid branch name" in err and "Traceback" not in err


def test_a_file_where_the_journal_folder_goes_is_an_input_error(
    repo: Path, cli: Callable[..., CliResult]
) -> None:
    from conftest import git

    assert cli("init")[0] == 0
    tip = git(repo, "rev-parse", "journal").strip()
    (repo / "journal.yaml").write_text(
        "data: sklearn:iris\nmodel:\n  estimator: sklearn.dummy.DummyClassifier\n"
        "evaluation: {cv: 2}\n"
    )
    (repo / ".git" / "journal").write_text("in the way\n")
    code, _, err = cli("run", "-q")
    assert code == errors.EXIT_USAGE, err
    assert ".git/journal is in the way" in err
    assert git(repo, "rev-parse", "journal").strip() == tip
    git(repo, "fsck", "--strict")
