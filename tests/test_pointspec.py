"""A run's spec.yaml is laid out without ruamel.yaml's dumper for plain data, and must come out
byte for byte as that dumper writes it, and load back to the same document."""

from __future__ import annotations

import io
import math
import random
from typing import Any

import pytest
from ruamel.yaml import YAML

from gitlab_journal.run import pointspec
from gitlab_journal.run.pointspec import dump_spec

TRICKY = [
    "",
    " ",
    " leading",
    "trailing ",
    "yes",
    "no",
    "true",
    "null",
    "~",
    "1",
    "1.0",
    "1e3",
    "0x1F",
    ".inf",
    "-",
    "- item",
    "a: b",
    "a:b",
    "key:",
    "#comment",
    "a #b",
    "[list]",
    "{map}",
    "'single'",
    '"double"',
    "tab\there",
    "two\nlines",
    "trailing newline\n",
    "é and ü",
    "日本語",
    "emoji 🙂",
    "\u2028",
    "\x07bell",
    "x" * 150,
    "sklearn.linear_model.LogisticRegression",
    "data/passengers.csv",
    "sklearn:iris",
    "More C, less regularisation",
    "mymodule:make_model",
    "%percent",
    "@at",
    "`tick",
    "&anchor",
    "*alias",
    "!tag",
    "|",
    ">",
    "?",
    "=",
    "<<",
]
NUMBERS: list[Any] = [
    0,
    1,
    -7,
    10**20,
    0.0,
    -0.0,
    1.0,
    0.1,
    1e-05,
    1e20,
    123456.789,
    math.inf,
    -math.inf,
    math.nan,
    True,
    False,
    None,
]


def ruamel_text(doc: Any) -> str:
    """What dump_spec wrote before: ruamel.yaml's round-trip dumper, whole."""
    return pointspec._yaml_text(doc)


def random_value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth < 4 and roll < 0.2:
        return {random_key(rng): random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    if depth < 4 and roll < 0.35:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if roll < 0.7:
        return rng.choice(TRICKY)
    return rng.choice(NUMBERS)


def random_key(rng: random.Random) -> str:
    return rng.choice([*TRICKY[:20], "C", "max_iter", "clf__C", "steps", "params", "k" * 120])


def test_every_kind_of_document_comes_out_as_ruamel_writes_it() -> None:
    rng = random.Random(20261207)
    documents = [{"top": random_value(rng, 0), "next": random_value(rng, 0)} for _ in range(400)]
    documents += [{"k": value} for value in [*TRICKY, *NUMBERS, {}, [], [[]], [{}], [[1, [2]]]]]
    laid_out = 0
    for doc in documents:
        ours = dump_spec(doc).decode("utf-8")
        assert ours == ruamel_text(doc), doc
        lines: list[str] = []
        try:
            pointspec._mapping(doc, 0, lines)
            laid_out += 1
        except pointspec._Unusual:
            pass
    assert laid_out > len(documents) // 2  # most go the fast way, not all through ruamel


def test_the_spec_of_a_point_loads_back_to_its_document() -> None:
    doc = {
        "data": {"path": "data/passengers.csv", "target": "survived", "na_values": ["", "?"]},
        "model": {
            "estimator": "sklearn.pipeline.Pipeline",
            "steps": [
                {
                    "prep": {
                        "estimator": "sklearn.compose.ColumnTransformer",
                        "transformers": [
                            {"name": "numbers", "columns": ["age", "fare"], "steps": []},
                            {"name": "categories", "columns": ["sex"], "params": {}},
                        ],
                    }
                },
                {"clf": "sklearn.linear_model.LogisticRegression"},
            ],
            "params": {"clf__C": 0.1, "prep__numbers__impute__strategy": "median"},
        },
        "evaluation": {"cv": 5, "scoring": ["accuracy", "roc_auc"], "seed": 0},
        "notes": {"hypothesis": "Fares matter: more than class?", "empty": None},
    }
    text = dump_spec(doc, "The spec of run 0123456789ab: its grid point alone.\nSecond line.")

    assert text.decode().startswith("# The spec of run 0123456789ab: its grid point alone.\n")
    assert YAML(typ="safe").load(io.BytesIO(text)) == doc
    assert text.decode().split("\n", 2)[2] == ruamel_text(doc)


@pytest.mark.parametrize("value", [(1, 2), {1: "int key"}, b"bytes", {"set"}])
def test_anything_else_is_left_to_ruamel(value: Any) -> None:
    doc = {"k": value}
    lines: list[str] = []
    with pytest.raises(pointspec._Unusual):
        pointspec._mapping(doc, 0, lines)
