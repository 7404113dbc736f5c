"""Spec YAML in hints: each column name, written into a flow list or mapping, reads back through
the spec's own YAML reader as the same string."""

from __future__ import annotations

import pytest

from gitlab_journal.spec.bounds import spec_yaml
from gitlab_journal.spec.snippets import flow_list, flow_scalar

NAMES = [
    "age",
    "fare_2",
    "x.1",
    "Unnamed: 0",
    "fare ($)",
    "Âge du passager",
    "2024",
    "1e3",
    "null",
    "True",
    "no",
    "~",
    "-",
    "# notes",
    "a, b",
    "[x]",
    "{x}",
    "it's",
    ' "quoted" ',
    "*star",
    "&anchor",
    "!tag",
    "@at",
    "%pct",
    "`tick`",
    "|bar",
    ">gt",
    "?",
    "tab\there",
    "",
]


@pytest.mark.parametrize("name", NAMES)
def test_a_name_reads_back_as_itself(name: str) -> None:
    yaml = spec_yaml()  # the spec loader's reader
    assert yaml.load(f"drop: {flow_list([name, 'age'])}\n")["drop"] == [name, "age"]
    assert dict(yaml.load(f"dtypes: {{{flow_scalar(name)}: category}}\n")["dtypes"]) == {
        name: "category"
    }


def test_plain_names_stay_plain() -> None:
    assert flow_list(["age", "fare_2", "x.1"]) == "[age, fare_2, x.1]"
    assert flow_scalar("Unnamed: 0") == "'Unnamed: 0'"
    assert flow_scalar("it's") == "'it''s'"
