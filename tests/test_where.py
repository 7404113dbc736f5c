"""The --where language: or, not, parentheses and `in [..]`, as `git journal log` takes it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import Cli
from test_index import SVC_PIPE, make_run

from gitlab_journal.journal import where
from gitlab_journal.journal.store import Store

ALL = ["fail0001", "lr000001", "lr000002", "lr000003", "svc00001"]


@pytest.fixture
def journal(repo: Path) -> Path:
    store = Store.discover(repo)
    store.init()
    runs = [
        make_run("lr000001", params={"C": 0.1, "solver": "lbfgs"}, metrics={"accuracy": 0.8}),
        make_run(
            "lr000002",
            params={"C": 1.0, "solver": "liblinear"},
            metrics={"accuracy": 0.95},
            second=1,
        ),
        make_run(
            "lr000003", params={"C": 10, "solver": "saga"}, metrics={"accuracy": 0.9}, second=2
        ),
        make_run(
            "svc00001",
            model=SVC_PIPE,
            params={"svc__C": 2.5, "svc__kernel": "rbf"},
            metrics={"accuracy": 0.97},
            second=3,
        ),
        make_run("fail0001", params={"C": 100.0}, metrics={}, status="failed", second=4),
    ]
    for run in runs:
        store.record(run)
    return repo


def logged(cli: Cli, *where: str) -> list[str]:
    args = [a for w in where for a in ("--where", w)]
    code, out, err = cli("log", "--json", *args)
    assert code == 0, err
    return sorted(r["id"] for r in json.loads(out))


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("params.C < 0.5 or params.C > 50", ["fail0001", "lr000001"]),
        ("not params.C > 1", ["lr000001", "lr000002", "svc00001"]),
        ("not status == ok", ["fail0001"]),
        ("params.solver in [lbfgs, saga]", ["lr000001", "lr000003"]),
        ("params.solver in ['liblinear']", ["lr000002"]),
        ("params.C in [0.1, 10]", ["lr000001", "lr000003"]),
        ("params.solver not in [lbfgs, saga]", ["fail0001", "lr000002", "svc00001"]),
        ("model in [Pipeline]", ["svc00001"]),
        (
            "(params.C > 5 or model == Pipeline) and metrics.accuracy >= 0.9",
            ["lr000003", "svc00001"],
        ),
        (
            "params.C > 5 or model == Pipeline and metrics.accuracy >= 0.95",
            ["fail0001", "lr000003", "svc00001"],
        ),
        ("not (params.C >= 1 and params.C <= 10)", ["fail0001", "lr000001", "svc00001"]),
        ("NOT params.solver ~ lib OR id == lr000002", ALL),
        ("params.C > 1 and (status == failed)", ["fail0001"]),
    ],
)
def test_log_where_language(journal: Path, cli: Cli, expression: str, expected: list[str]) -> None:
    assert logged(cli, expression) == expected


def test_several_wheres_still_and(journal: Path, cli: Cli) -> None:
    assert logged(cli, "params.C > 0.5 or model == Pipeline", "metrics.accuracy > 0.92") == [
        "lr000002",
        "svc00001",
    ]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("(params.C > 1", "'\\(' is not closed"),
        ("params.C in [1, 2", "not closed"),
        ("params.C in 1", "expected '\\['"),
        ("params.C > 1 or", "expected a field"),
        ("not", "expected a field"),
        ("params.C > 1)", "unexpected"),
        ("size in [1]", "unknown field 'size'"),
    ],
)
def test_malformed_where_exits_2_naming_it(
    journal: Path, cli: Cli, expression: str, message: str
) -> None:
    code, _, err = cli("log", "--where", expression)
    assert code == 2
    assert repr(expression) in err
    assert re.search(message, err), err


def test_and_binds_tighter_than_or() -> None:
    tree = where.parse("a.x == 1 or a.y == 2 and not a.z == 3")
    assert isinstance(tree, where.Or)
    assert isinstance(tree.operands[1], where.And)
    assert isinstance(tree.operands[1].operands[1], where.Not)
    assert [c.raw for c in where.clauses(tree)] == ["1", "2", "3"]


def test_unquoted_value_keeps_inner_spaces_and_words() -> None:
    tree = where.parse("name == my run or name == 'x or y'")
    assert [c.value for c in where.clauses(tree)] == ["my run", "x or y"]
