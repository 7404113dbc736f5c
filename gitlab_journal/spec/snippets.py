"""Spec YAML as hints write it: a column name is written plainly when YAML reads it back as that
same string, else quoted (``'Unnamed: 0'``, ``'2024'``, ``'null'``), so a hint's
``data: drop: [...]`` can be pasted into the spec as it is."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

# Plain in a flow collection and read back as a string: a letter or underscore first, then
# letters, digits, ``_``, ``.``, ``-`` (no ``:``, ``#``, ``,``, brackets or outer spaces).
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
# Plain words YAML (1.1 or 1.2) reads as something other than a string.
_SPECIAL = frozenset(
    ["null", "~", "true", "false", "yes", "no", "on", "off", "y", "n", ".nan", ".inf"]
)


def flow_scalar(text: str) -> str:
    """``text`` as a YAML scalar inside ``[...]`` or ``{...}``."""
    if _PLAIN.fullmatch(text) and text.lower() not in _SPECIAL:
        return text
    if text.isprintable():
        return "'" + text.replace("'", "''") + "'"
    return json.dumps(text)  # a double-quoted YAML scalar, its control characters escaped


def flow_list(names: Iterable[str]) -> str:
    """``[a, 'b: c']``."""
    return "[" + ", ".join(flow_scalar(name) for name in names) + "]"
