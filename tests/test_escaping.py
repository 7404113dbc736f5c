"""Text from a record rendered safely: no injected Markdown cells or HTML in the journal
branch's README or in `report --md`, no control character from `show` or `log`. Newlines and
control characters in names never get this far: the record schema refuses them on write and on
read (tests/test_untrusted_journal.py); what the schema allows must still render safely."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import git
from helpers import Cli, make_run

from gitlab_journal.journal.store import Store

HOSTILE = "evil | x | y | <script>alert(1)</script> `code` *bold*"


def _journal(repo: Path) -> Store:
    store = Store.discover(repo)
    store.init()
    store.record(
        make_run(
            "hostile1",
            {"C": 1.0, "k|e y": "<b>v</b>"},
            metrics={"acc|uracy # injected": 0.9},
            name=HOSTILE,
        )
    )
    return store


def test_readme_leaderboard_escapes_hostile_names(repo: Path) -> None:
    _journal(repo)
    readme = git(repo, "show", "journal:README.md")
    assert "<script>" not in readme and "<b>" not in readme
    assert not any(line.startswith("# injected") for line in readme.splitlines())
    rows = [line for line in readme.splitlines() if line.startswith("| 1 |")]
    assert len(rows) == 1 and len(re.findall(r"(?<!\\)\|", rows[0])) == 7  # six cells


def test_report_md_and_terminal_output_escape_hostile_names(repo: Path, cli: Cli) -> None:
    _journal(repo)
    code, out, err = cli("report", "--md", "-")
    assert code == 0, err
    assert "<script>" not in out
    assert not any(line.startswith("# injected") for line in out.splitlines())
    for args in (("show", "hostile1"), ("log",)):
        code, out, err = cli(*args)
        assert code == 0, err
        assert "\x1b" not in out
    code, out, _ = cli("show", "hostile1")
    assert "git show journal:runs/" in out and "run.json" in out


def test_control_characters_are_shown_never_emitted() -> None:
    """Text the schema never sees (a spec's names, a file's contents) goes through the same
    helpers: an escape sequence is written out, a Markdown cell stays one cell."""
    from gitlab_journal.journal.escape import md_cell
    from gitlab_journal.review.escape import terminal

    shown = terminal("red\x1b[31m\x9b2J\nnext")
    assert "\x1b" not in shown and "\x9b" not in shown and "\n" not in shown
    assert "\\x1b[31m" in shown
    cell = md_cell("a|b\n# injected <script>")
    assert "\n" not in cell and "<script>" not in cell and "\\|" in cell
