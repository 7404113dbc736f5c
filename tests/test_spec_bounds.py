"""Specs are bounded input: an alias bomb, deep nesting and a huge grid are refused at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import git

BOMB = "\n".join(
    ["data:", "  loader: prep:load", "  args:", '    a0: &a0 ["lol", "lol", "lol", "lol"]']
    + [f"    a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 12)]
    + ["model: sklearn.svm.SVC", ""]
)


def _journal_tip(repo: Path) -> str:
    return git(repo, "rev-parse", "--verify", "-q", "journal", check=False).strip()


@pytest.mark.timeout(30)
def test_alias_bomb_is_refused(repo: Path, cli: Callable[..., tuple[int, str, str]]) -> None:
    (repo / "journal.yaml").write_text(BOMB)
    cli("init")
    tip = _journal_tip(repo)
    code, _, err = cli("check")
    assert code == 2
    assert "journal.yaml:" in err and "data.args" in err and "aliases expand" in err
    assert _journal_tip(repo) == tip


@pytest.mark.timeout(30)
def test_deep_nesting_is_refused(repo: Path, cli: Callable[..., tuple[int, str, str]]) -> None:
    text = "data: sklearn:iris\nmodel: sklearn.svm.SVC\nnotes:\n  x: " + "[" * 5000 + "]" * 5000
    (repo / "journal.yaml").write_text(text + "\n")
    cli("init")
    code, _, err = cli("check")
    assert code == 2
    assert "journal.yaml:4:" in err and "levels deep" in err
    assert "Traceback" not in err


@pytest.mark.timeout(30)
def test_huge_grid_is_refused(repo: Path, cli: Callable[..., tuple[int, str, str]]) -> None:
    axes = "\n".join(f"    p{i}: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]" for i in range(7))
    (repo / "journal.yaml").write_text(
        f"data: sklearn:iris\nmodel:\n  estimator: sklearn.svm.SVC\n  params:\n{axes}\n"
    )
    cli("init")
    tip = _journal_tip(repo)
    code, _, err = cli("run", "--dry-run")
    assert code == 2
    assert "journal.yaml:4: model.params" in err and "10,000,000 points" in err
    assert "--search" in err
    assert _journal_tip(repo) == tip
