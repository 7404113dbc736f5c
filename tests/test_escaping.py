"""Text from a record rendered safely: no injected Markdown lines in the journal branch's
README or in `report --md`, no control character from `show` or `log`."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import git
from test_review import make_run

from gitlab_journal.journal.store import Store

HOSTILE = "evil\n| x | y |\n<script>alert(1)</script>\x1b[31m"


def _journal(repo: Path) -> Store:
    store = Store.discover(repo)
    store.init()
    store.record(
        make_run(
            "hostile1",
            {"C": 1.0, "k|e\ny": "<b>v</b>"},
            metrics={"acc|uracy\n# injected": 0.9},
            name=HOSTILE,
        )
    )
    return store


def test_readme_leaderboard_escapes_hostile_names(repo: Path) -> None:
    _journal(repo)
    readme = git(repo, "show", "journal:README.md")
    assert "<script>" not in readme and "<b>" not in readme
    assert "\x1b" not in readme
    assert not any(line.startswith("# injected") for line in readme.splitlines())
    assert not any(line.startswith("| x | y |") for line in readme.splitlines())
    rows = [line for line in readme.splitlines() if line.startswith("| 1 |")]
    assert len(rows) == 1 and len(re.findall(r"(?<!\\)\|", rows[0])) == 7  # six cells


def test_report_md_and_terminal_output_escape_hostile_names(repo: Path, cli) -> None:
    _journal(repo)
    code, out, err = cli("report", "--md", "-")
    assert code == 0, err
    assert "<script>" not in out and "\x1b" not in out
    assert not any(line.startswith("| x | y |") for line in out.splitlines())
    assert not any(line.startswith("# injected") for line in out.splitlines())
    for args in (("show", "hostile1"), ("log",)):
        code, out, err = cli(*args)
        assert code == 0, err
        assert "\x1b" not in out
    code, out, _ = cli("show", "hostile1")
    assert "\\x1b[31m" in out
    assert "git show journal:runs/" in out and "run.json" in out
