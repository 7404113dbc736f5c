"""The journal's files are written as `json.dumps(indent=2)` writes them, byte for byte."""

from __future__ import annotations

import enum
import json
import math
import random
from typing import Any

import pytest

from gitlab_journal.journal.format import indented_json


class Level(enum.IntEnum):
    HIGH = 3


def _value(rng: random.Random, depth: int) -> Any:
    pick = rng.randrange(12 if depth < 4 else 7)
    if pick == 0:
        return rng.choice([None, True, False])
    if pick == 1:
        return rng.randint(-(10**20), 10**20)
    if pick == 2:
        return rng.choice([0.1, -2.5e-300, 1e22, math.nan, math.inf, -math.inf, -0.0, 1 / 3])
    if pick in (3, 4):
        return rng.choice(
            ["", "plain", 'quote " and \\ back', "é ü 日本", "\n\t\x00\x1f", "\u2028"]
        )
    if pick == 5:
        return rng.uniform(-1e6, 1e6)
    if pick == 6:
        return rng.choice([{}, [], ()])
    if pick in (7, 8):
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if pick == 9:
        return tuple(_value(rng, depth + 1) for _ in range(rng.randrange(3)))
    return {
        rng.choice(["a", "é", 'k"ey', "x y", "", "metrics"]) + str(i): _value(rng, depth + 1)
        for i in range(rng.randrange(5))
    }


@pytest.mark.parametrize("seed", range(200))
def test_indented_json_equals_the_json_module(seed: int) -> None:
    value = _value(random.Random(seed), 0)
    assert indented_json(value) == json.dumps(value, indent=2, ensure_ascii=False, allow_nan=True)


@pytest.mark.parametrize(
    "value",
    [
        {1: "an int key", "b": 2},
        {"nested": {2.5: "a float key", None: 1, True: 2}},
        {"enum": Level.HIGH},
        [Level.HIGH, {"x": [1, {3: 4}]}],
    ],
)
def test_what_it_does_not_cover_is_left_to_the_json_module(value: Any) -> None:
    assert indented_json(value) == json.dumps(value, indent=2, ensure_ascii=False, allow_nan=True)
