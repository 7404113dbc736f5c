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


def _sections(markdown: str) -> dict[str, str]:
    """A Markdown report's families: heading -> the text under it."""
    return {part.split("\n", 1)[0]: part.split("\n", 1)[1] for part in markdown.split("\n## ")[1:]}


def _leaderboard_ids(section: str) -> list[str]:
    cells = [line.split(" | ") for line in section.splitlines() if line.startswith("| ")]
    return [row[1].strip("`") for row in cells[1:]]  # under the heading row


FAMILY = "HistGradientBoostingClassifier on data/passengers.csv"


def test_the_report_keeps_runs_that_read_the_table_another_way_apart(
    two_runs: tuple[str, str], cli: Cli, tmp_path: Path
) -> None:
    """Two runs of one model on one file, the second reading it without `fare` and with `?`
    as missing: two experiments, so two families, each heading naming how it read the table
    where they differ."""
    first, second = two_runs
    code, out, err = cli("report", "--md", "-")
    assert code == 0, err
    assert "2 runs: 2 ok, 0 not ok; 2 experiment families." in out
    sections = _sections(out)
    plain = f"{FAMILY} (table.drop=—, table.na_values=—): accuracy (higher is better)"
    dropped = (
        f'{FAMILY} (table.drop=\\["fare"\\], table.na_values=\\["?"\\]): '
        "accuracy (higher is better)"
    )
    assert sorted(sections) == sorted([plain, dropped])
    assert _leaderboard_ids(sections[plain]) == [first]
    assert _leaderboard_ids(sections[dropped]) == [second]
    assert "table.drop" not in sections[plain].split("| # |", 1)[1]  # not in the rows

    code, _, err = cli("report", "--html", str(tmp_path / "report.html"))
    assert code == 0, err
    html = (tmp_path / "report.html").read_text()
    assert html.count("<h2>") == 2
    assert "(table.drop=[&quot;fare&quot;], table.na_values=[&quot;?&quot;])" in html


def test_the_report_since_compares_with_runs_that_read_the_table_alike(
    two_runs: tuple[str, str], repo: Path, cli: Cli
) -> None:
    """The run added last is the only one in scope: no run before it read the table its way,
    so its family has no best run from before to beat."""
    _, second = two_runs
    code, out, err = cli("report", "--since", "journal~1", "--md", "-")
    assert code == 0, err
    (heading,) = _sections(out)
    assert "table.drop=\\[" in heading
    assert "best before" not in out and "the best new run" not in out.lower()

    again = _run(repo, cli, DROPPED, "--force")  # the same experiment once more
    code, out, err = cli("report", "--since", "journal~1", "--md", "-")
    assert code == 0, err
    (section,) = _sections(out).values()
    assert _leaderboard_ids(section) == [again]
    assert f"(run {second})" in section


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


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("table.drop ~ fare", "second"),
        ("table.drop == '[\"fare\"]'", "second"),
        ("table.na_values == '[\"?\"]'", "second"),
        ("table.na_values ~ '*\"[?]\"*'", "second"),  # a glob: [?] is the character itself
        ("table.dtypes.sex == category", "both"),
        ("not table.drop ~ fare", "first"),
        ("table.drop == null", "first"),
        ("table.drop ~ fare and params.max_iter == 20", "second"),
        ("table.dtypes.sex == category and not table.na_values != null", "first"),
        ("table.target == survived", "neither"),  # the last column: the default, not recorded
        ("table.sep == ';'", "neither"),
    ],
)
def test_log_where_filters_on_how_the_table_was_read(
    two_runs: tuple[str, str], cli: Cli, expression: str, expected: str
) -> None:
    first, second = two_runs
    want = {
        "first": [first],
        "second": [second],
        "both": sorted(two_runs),
        "neither": [],
    }[expected]
    code, out, err = cli("log", "--json", "--where", expression)
    assert code == 0, err
    assert sorted(run["id"] for run in json.loads(out)) == want
    code, out, err = cli("log", "--where", expression)
    assert code == 0, err
    assert all(run in out for run in want)
    assert not any(run in out for run in set(two_runs) - set(want))


def test_log_sorts_by_a_table_option_and_names_the_field(
    two_runs: tuple[str, str], cli: Cli
) -> None:
    first, second = two_runs
    code, out, err = cli("log", "--json", "--sort", "table.drop")
    assert code == 0, err
    assert [run["id"] for run in json.loads(out)] == [second, first]  # no value: last

    code, _, err = cli("log", "--where", "tables.drop ~ fare")
    assert code == 2
    assert "table.NAME" in err
