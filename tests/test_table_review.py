"""Reviewing runs of a table: `show`, `diff` and `compare` say how the table was read (the
target, the columns kept or dropped, the dtypes and reading options the identity records), so
two runs that differ only there are not shown as the same setup."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import git
from helpers import Cli, logged
from helpers.passengers import COLUMNS, HGB_SPEC, passengers, write_table

pytestmark = pytest.mark.slow  # real training on the passenger table

DROPPED = HGB_SPEC.replace("  dtypes:", "  drop: [fare]\n  na_values: ['?']\n  dtypes:")


def _ids(cli: Cli) -> set[str]:
    return {run["id"] for run in logged(cli)}


def _run(repo: Path, cli: Cli, spec: str, *args: str) -> str:
    """Run ``spec``; the id of the run it records."""
    (repo / "journal.yaml").write_text(spec)
    before = _ids(cli)
    code, _, err = cli("run", "-q", *args)
    assert code == 0, err
    (run_id,) = _ids(cli) - before
    return run_id


@pytest.fixture
def two_runs(repo: Path, cli: Cli) -> tuple[str, str]:
    """Two runs of one model and params: the second drops `fare` and reads `?` as missing."""
    write_table(repo / "data" / "passengers.csv", COLUMNS, passengers())
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add the passenger table")
    assert cli("init")[0] == 0
    return _run(repo, cli, HGB_SPEC), _run(repo, cli, DROPPED)


def _json(cli: Cli, *args: str) -> Any:
    code, out, err = cli(*args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_diff_shows_a_table_read_another_way(two_runs: tuple[str, str], cli: Cli) -> None:
    first, second = two_runs
    changes = _json(cli, "diff", first, second)
    assert changes["table"] == {"drop": [None, ["fare"]], "na_values": [None, ["?"]]}
    assert "params" not in changes and "model" not in changes

    code, out, err = cli("diff", first, second)
    assert code == 0, err
    lines = out.splitlines()
    at = lines.index("table")
    assert lines[at + 1].split() == ["drop", "—", "→", '["fare"]']
    assert lines[at + 2].split() == ["na_values", "—", "→", '["?"]']


def test_show_prints_how_the_table_was_read(two_runs: tuple[str, str], cli: Cli) -> None:
    _, second = two_runs
    shown = _json(cli, "show", second)
    assert shown["table"] == {
        "drop": ["fare"],
        "dtypes": {"embarked": "category", "sex": "category"},
        "na_values": ["?"],
    }
    code, out, err = cli("show", second)
    assert code == 0, err
    lines = out.splitlines()
    at = lines.index("table")
    assert [line.split() for line in lines[at + 1 : at + 5]] == [
        ["drop", '["fare"]'],
        ["dtypes.embarked", "category"],
        ["dtypes.sex", "category"],
        ["na_values", '["?"]'],
    ]
    assert lines[at - 2].split()[0] == "data/passengers.csv"  # after the data section


def test_log_json_holds_each_runs_table(two_runs: tuple[str, str], cli: Cli) -> None:
    first, second = two_runs
    tables = {run["id"]: run.get("table") for run in _json(cli, "log")}
    assert tables[first] == {"dtypes": {"embarked": "category", "sex": "category"}}
    assert tables[second]["drop"] == ["fare"]


def test_compare_shows_the_table_rows_that_vary(two_runs: tuple[str, str], cli: Cli) -> None:
    first, second = two_runs
    compared = _json(cli, "compare", first, second)
    rows = {(row["group"], row["key"]): row["values"] for row in compared["rows"]}
    assert rows[("table", "drop")] == [None, ["fare"]]
    assert rows[("table", "na_values")] == [None, ["?"]]
    assert ("table", "dtypes.sex") not in rows  # the same in both

    code, out, err = cli("compare", first, second)
    assert code == 0, err
    cells = [line.replace("│", " ").split() for line in out.splitlines()]
    at = cells.index(["table"])
    assert cells[at + 1 : at + 3] == [["drop", "—", '["fare"]'], ["na_values", "—", '["?"]']]


def test_a_table_read_the_same_way_shows_no_table_change(
    two_runs: tuple[str, str], repo: Path, cli: Cli
) -> None:
    first, second = two_runs
    again = _run(repo, cli, DROPPED, "--force")  # the same experiment once more
    assert "table" not in _json(cli, "diff", second, again)
    assert "table" in _json(cli, "diff", first, again)


def test_the_report_names_the_table_option_two_leaderboard_rows_differ_in(
    two_runs: tuple[str, str], cli: Cli, tmp_path: Path
) -> None:
    first, second = two_runs
    code, out, err = cli("report", "--md", "-")
    assert code == 0, err
    cells = [line.split(" | ") for line in out.splitlines() if line.startswith("| ")]
    rows = {row[1].strip("`"): row[3] for row in cells if row[1].strip("`") in two_runs}
    assert rows[second] == 'table.drop=\\["fare"\\], table.na_values=\\["?"\\]'
    assert rows[first] == "(same for all)"  # the same params: only the table tells them apart

    code, _, err = cli("report", "--html", str(tmp_path / "report.html"))
    assert code == 0, err
    html = (tmp_path / "report.html").read_text()
    assert "table.drop=[&quot;fare&quot;]" in html


def test_the_report_reads_no_table_options_when_all_runs_read_it_alike(
    repo: Path, cli: Cli
) -> None:
    write_table(repo / "data" / "passengers.csv", COLUMNS, passengers())
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add the passenger table")
    assert cli("init")[0] == 0
    (repo / "journal.yaml").write_text(HGB_SPEC.replace("max_iter: 20", "max_iter: [10, 20]"))
    assert cli("run", "-q")[0] == 0
    code, out, err = cli("report", "--md", "-")
    assert code == 0, err
    assert "table." not in out
    assert "max_iter=10" in out and "max_iter=20" in out
