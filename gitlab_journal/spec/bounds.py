"""Bounds on spec input: its size, its nesting depth, what its YAML aliases expand to, and the
number of grid points it may ask for (counted in :mod:`.model`, which must not import YAML).

A spec is input from anyone who can commit to the repository (or push a record holding one), so
reading it must take a bounded time and memory: a billion-laughs alias bomb, a 5,000-deep
nesting or a 10^7-point grid are refused with one line, within a second, before anything is
expanded. This module imports only the standard library and ruamel.yaml (the hooks load specs).
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

MAX_SPEC_BYTES = 1 << 20  # a spec larger than 1 MiB is not a hand-written experiment
MAX_DEPTH = 64  # nesting levels of mappings and lists
MAX_NODES = 100_000  # values in the document once every alias is expanded


class SpecTooLarge(Exception):
    """A bound was crossed while reading a spec; ``line`` (1-based) and ``key`` locate it."""

    def __init__(self, problem: str, line: int = 1, key: str = "", hint: str | None = None):
        super().__init__(problem)
        self.problem = problem
        self.line = line
        self.key = key
        self.hint = hint


class BoundedComposer(Composer):
    """ruamel's composer, refusing a document whose aliases expand past ``MAX_NODES`` values.

    Composing shares an anchored node between its aliases, so composing is linear in the text;
    the expanded size is counted over that shared graph (each node once), before anything is
    constructed or copied.
    """

    def compose_document(self) -> Any:
        self._aliased: set[int] = set()
        node = super().compose_document()
        if self._aliased:
            check_expanded_size(node, self._aliased)
        return node

    def return_alias(self, node: Any) -> Any:
        self._aliased.add(id(node))
        return super().return_alias(node)


def spec_yaml(typ: str = "rt") -> YAML:
    """A ruamel loader with the depth and alias bounds (``typ``: rt for specs, safe for
    ``--set`` values)."""
    yaml = YAML(typ=typ, pure=True) if typ == "safe" else YAML(typ=typ)
    yaml.Composer = BoundedComposer
    yaml.max_depth = MAX_DEPTH
    return yaml


def check_text_size(text: str | bytes) -> None:
    if len(text) > MAX_SPEC_BYTES:
        raise SpecTooLarge(
            f"the spec is {len(text):,} bytes, more than the {MAX_SPEC_BYTES:,} a spec may be",
            hint="a spec describes experiments; keep data in data files",
        )


def _children(node: Node) -> list[tuple[Node | None, Node]]:
    """(key node or None, child node) pairs of a collection node, in document order."""
    if isinstance(node, MappingNode):
        out: list[tuple[Node | None, Node]] = []
        for key, value in node.value:
            out.append((None, key))
            out.append((key, value))
        return out
    if isinstance(node, SequenceNode):
        return [(None, item) for item in node.value]
    return []


def check_expanded_size(root: Node, aliased: set[int]) -> None:
    """Raise :class:`SpecTooLarge` if the document under ``root`` expands (aliases copied) to
    more than ``MAX_NODES`` nodes, or an alias refers to a collection holding it."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:  # iterative post-order: alias chains may be longer than the recursion limit
        node, done = stack.pop()
        ident = id(node)
        if done:
            on_path.discard(ident)
            total = 1 + sum(sizes[id(child)] for _, child in _children(node))
            sizes[ident] = min(total, MAX_NODES + 1)
            continue
        if ident in sizes:
            continue
        if ident in on_path:
            raise SpecTooLarge(
                "a YAML alias refers to a collection that holds it (a recursive alias)",
                line=node.start_mark.line + 1,
                hint="spell the value out instead of using an alias",
            )
        on_path.add(ident)
        stack.append((node, True))
        for _, child in reversed(_children(node)):
            if id(child) not in sizes:
                stack.append((child, False))
    if sizes[id(root)] <= MAX_NODES:
        return
    line, key = _largest_alias(root, sizes, aliased)
    raise SpecTooLarge(
        f"YAML aliases expand the spec to more than {MAX_NODES:,} values",
        line=line,
        key=key,
        hint="spell the values out, or use fewer aliases of aliases",
    )


def _largest_alias(root: Node, sizes: dict[int, int], aliased: set[int]) -> tuple[int, str]:
    """Where the expansion comes from: follow the largest child down to the first alias."""
    node, line = root, root.start_mark.line + 1
    key_parts: list[str] = []
    for _ in range(MAX_DEPTH + 1):
        sequence = isinstance(node, SequenceNode)
        children = [(k, c) for k, c in _children(node) if k is not None or sequence]
        if not children:
            break
        position, (key, child) = max(
            enumerate(children), key=lambda pair: sizes.get(id(pair[1][1]), 0)
        )
        key_parts.append(str(key.value) if key is not None else str(position))
        line = (key.start_mark.line if key is not None else child.start_mark.line) + 1
        if id(child) in aliased:
            break
        node = child
    return line, ".".join(key_parts)
