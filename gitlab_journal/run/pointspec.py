"""The spec of one grid point: the run's spec with its grid narrowed to that point.

Every run keeps this document as ``spec.yaml`` in its journal directory. Loaded from the spec's
own directory (relative data paths resolve as they did), it yields exactly one point, the run's:
every grid axis becomes a one-value axis, and a list of grids or of model blocks becomes the one
the point came from. Everything else (data, evaluation, notes, code globs, name) is the spec as
it was run, ``--set`` overrides applied.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML

from gitlab_journal.spec.load import PLAIN_LISTS
from gitlab_journal.spec.model import Point, Spec


def point_document(spec: Spec, point: Point) -> dict[str, Any]:
    """``spec.document`` with the model narrowed to ``point`` (see the module's docstring).

    A new top level and model block; what it keeps unchanged (data, evaluation, ...) is the
    spec's own, shared rather than copied (a copy per point of a spec with a long axis made a
    grid quadratic): read it, do not change it."""
    doc = dict(spec.document)
    if "command" in doc:  # a command's params are at the top
        doc.pop("params", None)
        if point.params:
            doc["params"] = dict(point.params)
        return doc
    blocks = doc.get("model")
    if isinstance(blocks, list):
        position = next(i for i, model in enumerate(spec.models) if model is point.model)
        block = blocks[position]
    else:
        block = blocks
    doc["model"] = _narrow(block, point.params)
    return doc


def dump_spec(doc: Mapping[str, Any], header: str = "") -> bytes:
    """A spec document as YAML text, in its key order, with ``header`` as a leading comment."""
    out = io.StringIO()
    for line in header.splitlines():
        out.write(f"# {line}\n" if line else "#\n")
    lines: list[str] = []
    try:
        _mapping(dict(doc), 0, lines)
    except _Unusual:
        out.write(_yaml_text(doc))
    else:
        out.write("".join(lines) if lines else _yaml_text(doc))
    return out.getvalue().encode("utf-8")


def _yaml_text(doc: Any) -> str:
    """``doc`` as ruamel.yaml's round-trip dumper writes it (block style, key order kept)."""
    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.representer.add_representer(type(None), _null)
    out = io.StringIO()
    yaml.dump(dict(doc) if isinstance(doc, Mapping) else doc, out)
    return out.getvalue()


# The block layout of plain data (dicts, lists and scalars), laid out here as ruamel.yaml's
# round-trip dumper lays it out, at a hundredth of its cost (a grid writes a spec.yaml per
# point). Each scalar is written as ruamel.yaml writes it (asked once per value: its quoting
# and escaping are ruamel's own); anything else (another type, a scalar it would not write on
# one line, a long key) is left to ruamel.yaml whole. tests/test_pointspec.py compares the two
# on every kind of document.


class _Unusual(Exception):
    """Not plain data this layout covers: ruamel.yaml writes the document."""


_SCALAR_TYPES = (str, int, float, bool, type(None))
_scalars: dict[tuple[type, str | int | bool | None], str] = {}


def _scalar(value: Any) -> str:
    if type(value) not in _SCALAR_TYPES:
        raise _Unusual
    key = (type(value), repr(value) if type(value) is float else value)
    text = _scalars.get(key)
    if text is None:
        line = _yaml_text({"k": value})
        if not line.startswith("k: ") or len(line.splitlines()) != 1:
            raise _Unusual  # a block scalar, folded, or a line break of another kind inside
        text = line[3:-1]
        if len(_scalars) >= 10_000:
            _scalars.clear()
        _scalars[key] = text
    return text


def _key(name: Any) -> str:
    if type(name) is not str:
        raise _Unusual
    text = _scalar(name)
    if len(text) > 100:
        raise _Unusual  # ruamel.yaml writes a long key as a complex key
    return text


def _mapping(doc: dict[Any, Any], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for name, value in doc.items():
        key = _key(name)
        if type(value) is dict and value:
            out.append(f"{pad}{key}:\n")
            _mapping(value, indent + 2, out)
        elif type(value) is list and value:
            out.append(f"{pad}{key}:\n")
            _sequence(value, indent, out)
        else:
            out.append(f"{pad}{key}: {_leaf(value)}\n")


def _sequence(items: list[Any], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for item in items:
        if (type(item) is dict or type(item) is list) and item:
            inner: list[str] = []
            if isinstance(item, dict):
                _mapping(item, indent + 2, inner)
            else:
                _sequence(item, indent + 2, inner)
            inner[0] = f"{pad}- {inner[0][indent + 2 :]}"  # the first line beside the dash
            out.extend(inner)
        else:
            out.append(f"{pad}- {_leaf(item)}\n")


def _leaf(value: Any) -> str:
    if type(value) is dict:
        return "{}"  # empty: the non-empty ones are laid out as blocks
    if type(value) is list:
        return "[]"
    return _scalar(value)


def _null(representer: Any, value: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


def _narrow(block: Any, params: Mapping[str, Any]) -> Any:
    if not isinstance(block, Mapping):
        return block  # `model: sklearn.svm.SVC`: no grid
    rest = dict(params)
    out: dict[str, Any] = {}
    for key, value in block.items():
        if key == "params":
            continue  # written last, from what the steps and settings do not take
        if key == "steps" and isinstance(value, list):
            out[key] = [_narrow_step(step, rest) for step in value]
        elif key in ("compile", "fit") and "keras" in block and isinstance(value, Mapping):
            out[key] = _narrow_settings(value, key, rest)
        else:
            out[key] = value
    if rest:
        out["params"] = {name: _one(value) for name, value in rest.items()}
    return out


def _narrow_step(step: Any, rest: dict[str, Any]) -> Any:
    if not isinstance(step, Mapping) or len(step) != 1:
        return step
    ((name, value),) = step.items()
    if not isinstance(value, Mapping) or not isinstance(value.get("params"), Mapping):
        return step
    params = {}
    for key, item in value["params"].items():
        axis = f"{name}__{key}"
        # An axis of the point (a list of values, or a range under --search) becomes its value.
        params[key] = _axis(rest.pop(axis)) if axis in rest else item
    return {name: {**value, "params": params}}


def _narrow_settings(section: Mapping[str, Any], prefix: str, rest: dict[str, Any]) -> Any:
    out: dict[str, Any] = {}
    for key, value in section.items():
        dotted = f"{prefix}.{key}"
        if dotted in rest and key not in PLAIN_LISTS:
            # an axis of the point: a list of values, or a range under --search
            out[key] = _axis(rest.pop(dotted))
        elif isinstance(value, Mapping):
            out[key] = _narrow_settings(value, dotted, rest)
        else:
            out[key] = value
    return out


def _one(value: Any) -> Any:
    """A one-value axis of ``params``: the value itself, or a list holding it when it is one."""
    plain = _thaw(value)
    return [plain] if isinstance(plain, list) else plain


def _axis(value: Any) -> list[Any]:
    """A one-value axis where only a list is an axis (step params, Keras compile and fit)."""
    return [_thaw(value)]


def _thaw(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_thaw(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _thaw(item) for key, item in value.items()}
    return value
