"""``--set dotted.key=value`` overrides, applied to a loaded spec document before validation.

The value is parsed as YAML, so ``C=10`` sets an int, ``C=[1, 10]`` a grid list and
``kernel=rbf`` a string. Numeric parts of the key index lists (``model.1.params.C=2``); missing
mapping keys are created, missing list indexes are errors.
"""

from __future__ import annotations

from collections.abc import MutableMapping, MutableSequence, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from gitlab_journal.errors import JournalError
from gitlab_journal.spec.bounds import SpecTooLarge, check_text_size, spec_yaml

PathPart = str | int


def parse_override(text: str, path: Path | str) -> tuple[list[str], Any]:
    """Split ``dotted.key=value`` into its key parts and its value, parsed as YAML."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise JournalError(
            f"{path}: --set {text}: expected dotted.key=value",
            hint="e.g. --set model.params.C=10 or --set 'model.params.C=[1, 10]'",
        )
    parts = key.split(".")
    if any(not part.strip() for part in parts):
        raise JournalError(f"{path}: --set {text}: empty part in key {key!r}")
    try:
        check_text_size(raw)
        value = spec_yaml("safe").load(raw)
    except SpecTooLarge as exc:
        raise JournalError(f"{path}: --set {key}: {exc.problem}", hint=exc.hint) from None
    except YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise JournalError(f"{path}: --set {text}: cannot parse the value: {problem}") from exc
    return [part.strip() for part in parts], value


def apply_overrides(
    doc: MutableMapping[Any, Any], overrides: Sequence[str], path: Path | str
) -> tuple[str, ...]:
    """Apply each override to ``doc`` in place, in order.

    Returns the dotted keys that were set, with list indexes as numbers (``model.1.params.C``),
    so that errors found later can say a value came from ``--set``.
    """
    if not isinstance(doc, MutableMapping):
        raise JournalError(f"{path}: --set needs a spec that is a mapping")
    keys: list[str] = []
    for text in overrides:
        parts, value = parse_override(text, path)
        resolved = _set(doc, parts, value, text, path)
        keys.append(".".join(str(part) for part in resolved))
    return tuple(keys)


def _set(
    doc: MutableMapping[Any, Any], parts: list[str], value: Any, text: str, path: Path | str
) -> list[PathPart]:
    """Set ``value`` at ``parts`` below ``doc``, creating missing mappings on the way."""
    node: Any = doc
    resolved: list[PathPart] = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join([*map(str, resolved), part])
        if isinstance(node, MutableMapping):
            key = _mapping_key(node, part)
            resolved.append(key)
            if last:
                node[key] = value
            else:
                if node.get(key) is None:
                    node[key] = CommentedMap()
                node = node[key]
        elif isinstance(node, MutableSequence):
            index = _list_index(node, part, where, text, path)
            resolved.append(index)
            if last:
                node[index] = value
            else:
                node = node[index]
        else:
            parent = ".".join(map(str, resolved[:-1])) or "the spec"
            raise JournalError(
                f"{path}: --set {text}: {parent} is a {type(node).__name__}, "
                f"not a mapping or a list, so {where} cannot be set"
            )
    return resolved


def _mapping_key(node: MutableMapping[Any, Any], part: str) -> PathPart:
    """A numeric part names an int key when the mapping has one (e.g. ``class_weight.0``)."""
    if part.isdigit() and int(part) in node:
        return int(part)
    return part


def _list_index(
    node: MutableSequence[Any], part: str, where: str, text: str, path: Path | str
) -> int:
    if not part.isdigit():
        raise JournalError(f"{path}: --set {text}: {where}: this is a list; index it with a number")
    index = int(part)
    if index >= len(node):
        raise JournalError(
            f"{path}: --set {text}: {where}: no item {index} (the list has {len(node)})"
        )
    return index
