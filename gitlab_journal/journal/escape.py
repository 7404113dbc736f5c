"""Text from a record made safe for Markdown: the journal branch's README and `report --md`.

A record's names and values are the user's (a metric name, a param key, a spec's ``name``), so
they may hold anything: a newline or a ``|`` would end a table cell or row, HTML would pass
into the rendered page, a terminal escape sequence would reach whoever prints the file.
"""

from __future__ import annotations

import re

# C0 and C1 control characters, DEL, and the Unicode controls that reorder or break lines
# (bidi embeddings, overrides and isolates; line and paragraph separators). Compiled when first
# used (re keeps them), not when the store imports this module for every command.
_CONTROL = "[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
_MD_SPECIAL = r"([\\`*\[\]|])"
_LINE_BREAKS = r"\r\n|[\r\n\u2028\u2029]"


def visible(char: str) -> str:
    """A control character written out: ``\\x1b``, ``\\u202e``."""
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def controls_visible(text: str) -> str:
    """``text`` with every control character written out, so none is emitted."""
    return re.sub(_CONTROL, lambda m: visible(m.group()), text)


def md_cell(text: object) -> str:
    """Text for a Markdown table cell, heading or line of prose: line breaks become spaces,
    ``|`` and inline syntax are backslash-escaped, ``<``, ``>`` and ``&`` become entities, other
    control characters are written out."""
    line = re.sub(_LINE_BREAKS, " ", str(text)).replace("\t", " ")
    line = controls_visible(line)
    line = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(_MD_SPECIAL, r"\\\1", line)


def md_code(text: object) -> str:
    """Text as an inline code span that stays in its table cell: a fence longer than any run
    of backticks inside, ``|`` escaped (GitLab and GitHub split cells before code spans)."""
    line = controls_visible(re.sub(_LINE_BREAKS, " ", str(text)).replace("\t", " "))
    line = line.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", line)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if line.startswith("`") or line.endswith("`") else ""
    return f"{fence}{pad}{line}{pad}{fence}"
