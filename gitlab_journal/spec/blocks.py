"""Parts of a spec that describe tables and composite estimators.

- A table's options: ``columns`` (the features to keep), ``drop``, ``dtypes`` and ``na_values``;
  for a CSV/TSV file, its ``sep``, ``decimal``, ``thousands`` and ``encoding``.
- Constructor arguments that are lists of named blocks (:data:`LIST_KEYS`): a column
  transformer's ``transformers``, a feature union's ``transformer_list``, an ensemble's
  ``estimators``. Each item is a block ``{name: ..., estimator: ..., params: {...}}`` (or
  ``steps: [...]``, a Pipeline), with ``columns: [...]`` in a column transformer. Such a list is
  one constructor argument, never a grid axis; a grid over a block's param is written in the
  model's ``params`` with the block's dotted name (``prep__numbers__impute__strategy``).

Standard library only, like :mod:`.load`: the hooks load specs.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gitlab_journal.spec.model import CSV_DELIMITERS, TEXT_KEYS, StepSpec, TableView

if TYPE_CHECKING:
    from gitlab_journal.spec.load import _Node

# argument name -> whether its blocks name columns (a ColumnTransformer's third tuple item)
LIST_KEYS: Mapping[str, bool] = {
    "transformers": True,
    "transformer_list": False,
    "estimators": False,
}
TABLE_KEYS = ("columns", "drop", "dtypes", "na_values", *TEXT_KEYS)
BLOCK_KEYS = ("name", "estimator", "params", "steps", "columns", *LIST_KEYS)
LITERALS = ("passthrough", "drop")
# for a mark left empty: YAML reads an unquoted space as no value
WHITESPACE_HINT = "a tab is written \"\\t\" and a space ' ', quoted"


# --- tables -----------------------------------------------------------------------------------


def table_view(node: _Node, suffix: str) -> TableView | None:
    """The table options of a ``data`` mapping whose file ends in ``suffix``, or None when it
    gives none. A ``sep``, ``decimal`` or ``encoding`` that is the default is left out, so it
    is the same experiment as without it."""
    present = [key for key in TABLE_KEYS if key in node.value]
    if not present:
        return None
    where: list[tuple[str, str]] = []
    found: dict[str, Any] = {}
    for key in present:
        child = node.child(key)
        where.append((key, f"{child.ctx.shown}:{child.line}: {child.key}"))
        if key in TEXT_KEYS and suffix not in CSV_DELIMITERS:
            child.fail(f"{key} is for CSV and TSV files; a Parquet file keeps its own types")
        if key in ("sep", "decimal", "thousands"):
            found[key] = _mark(child, key)
        elif key == "encoding":
            found[key] = _encoding(child)
        elif key == "dtypes":
            child.mapping("a mapping of column: dtype (e.g. {pclass: category})")
            pairs = []
            for name, item in child.entries():
                column = _column_name(name, item)
                pairs.append((column, item.string("a dtype name (category, str, float64, ...)")))
                where.append((f"dtypes.{column}", f"{item.ctx.shown}:{item.line}: {item.key}"))
            found[key] = tuple(pairs)
        elif key == "na_values":
            found[key] = tuple(str(v) for v in _scalars(child))
        else:
            found[key] = _columns(child)
    sep = found.get("sep", "")
    decimal = found.get("decimal", "")
    if sep and sep == (decimal or "."):
        key = "decimal" if decimal else "sep"
        node.child(key).fail(f"the separator {sep!r} is also the decimal mark")
    if not sep and decimal == CSV_DELIMITERS.get(suffix):
        node.child("decimal").fail(
            f"the decimal mark {decimal!r} is the separator of a {suffix} file",
            hint="give the file's separator too, e.g. sep: ';'",
        )
    thousands = found.get("thousands", "")
    if thousands and thousands == (decimal or "."):
        node.child("thousands").fail(
            f"the thousands mark {thousands!r} is also the decimal mark",
            hint="give the decimal mark too, e.g. decimal: ','" if not decimal else None,
        )
    return TableView(
        columns=found.get("columns", ()),
        drop=found.get("drop", ()),
        dtypes=found.get("dtypes", ()),
        na_values=found.get("na_values", ()),
        sep="" if sep == CSV_DELIMITERS.get(suffix) else sep,
        decimal="" if decimal == "." else decimal,
        thousands=thousands,
        encoding=found.get("encoding", ""),
        where=tuple(where),
    )


def _mark(node: _Node, key: str) -> str:
    """A one-character ``sep``, ``decimal`` or ``thousands``, taken as written: a tab or a space
    is one too (``sep: "\\t"``, French ``thousands: ' '``). A quoted mark padded with spaces
    (``' ; '``) reads as its one character."""
    from gitlab_journal.spec.load import _kind

    example = "';' or \"\\t\"" if key == "sep" else "','"
    value = node.value
    if not isinstance(value, str) or not value:
        node.fail(
            f"expected one character, e.g. {example}, got {_kind(value)}",
            hint=WHITESPACE_HINT if value is None or value == "" else None,
        )
    raw = str(value)
    text = raw if len(raw) == 1 else raw.strip() or raw
    if text == "\\t":
        node.fail(f'{key}: a tab is written "\\t", in double quotes')
    if len(text) != 1:
        node.fail(f"{key} must be one character, e.g. {example}, not {text!r}")
    if text in ('"', "\n", "\r"):
        node.fail(f"{key} cannot be {text!r}")
    if key in ("decimal", "thousands") and (text.isdigit() or text in "+-"):
        node.fail(f"the {key} mark cannot be {text!r}")
    return text


def _encoding(node: _Node) -> str:
    """A codec Python knows, by its canonical name; UTF-8 (with or without a byte-order mark,
    which is read either way) as the default."""
    text = node.string("an encoding, e.g. latin-1 or cp1252")
    try:
        name = codecs.lookup(text).name
    except LookupError:
        node.fail(f"unknown encoding {text!r}", hint="e.g. utf-8, latin-1, cp1252, utf-16")
    return "" if name in ("utf-8", "utf-8-sig") else name


def _column_name(value: Any, node: _Node) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        node.fail("a column name must be a string")
    text = str(value).strip()
    if not text:
        node.fail("a column name must not be empty")
    return text


def _columns(node: _Node) -> tuple[str, ...]:
    items = node.items() if isinstance(node.value, list) else [node]
    if isinstance(node.value, list) and not node.value:
        node.fail("an empty list of columns")
    names = tuple(_column_name(item.value, item) for item in items)
    seen: set[str] = set()
    for name, item in zip(names, items, strict=True):
        if name in seen:
            item.fail(f"column {name!r} is named twice")
        seen.add(name)
    return names


def _scalars(node: _Node) -> list[Any]:
    items = node.items() if isinstance(node.value, list) else [node]
    out = []
    for item in items:
        if isinstance(item.value, Mapping | list) or item.value is None:
            item.fail("expected a string or a number")
        out.append(item.value)
    return out


# --- constructor lists ------------------------------------------------------------------------


def constructor_lists(node: _Node) -> dict[str, tuple[StepSpec, ...]]:
    """The constructor-list arguments of a model block or step mapping (maybe none)."""
    out: dict[str, tuple[StepSpec, ...]] = {}
    for key in LIST_KEYS:
        child = node.get(key)
        if child is not None:
            out[key] = _blocks(child, with_columns=LIST_KEYS[key])
    return out


def _blocks(node: _Node, *, with_columns: bool) -> tuple[StepSpec, ...]:
    if not isinstance(node.value, list) or not node.value:
        node.fail(
            "expected a list of named blocks (`- name: scale` with `estimator: ...`)",
            hint="a constructor list is one argument, not a grid axis",
        )
    blocks: list[StepSpec] = []
    for item in node.items():
        block = _block(item, with_columns=with_columns)
        if any(b.name == block.name for b in blocks):
            item.child("name").fail(f"block {block.name!r} appears twice")
        blocks.append(block)
    return tuple(blocks)


def _block(node: _Node, *, with_columns: bool) -> StepSpec:
    from gitlab_journal.spec.load import _estimator, _frozen, plain

    node.mapping("a named block {name: ..., estimator: ..., params: {...}}")
    node.keys_within(BLOCK_KEYS)
    name_node = node.get("name")
    if name_node is None:
        node.fail("a block needs a name:")
    name = name_node.string("a block name")
    if not name.isidentifier() or "__" in name:
        name_node.fail("a block name must be an identifier without '__'")
    columns: tuple[str, ...] | None = None
    columns_node = node.get("columns")
    if with_columns:
        if columns_node is None:
            node.fail("a column transformer's block needs columns: [...]")
        columns = _columns(columns_node)
    elif columns_node is not None:
        columns_node.fail("columns are for a column transformer's transformers")
    estimator_node, steps_node = node.get("estimator"), node.get("steps")
    if (estimator_node is None) == (steps_node is None):
        node.fail("a block needs estimator: or steps: (one of them)")
    lists = constructor_lists(node)
    params: dict[str, Any] = {}
    params_node = node.get("params")
    if params_node is not None and params_node.value is not None:
        params_node.mapping("a mapping of parameters")
        for key, child in params_node.entries():
            if not isinstance(key, str) or not key:
                child.fail("a parameter name must be a string")
            if isinstance(child.value, list):
                child.fail(
                    "a list in a block's params is a value, not a grid axis",
                    hint="write the axis in the model's params, e.g. "
                    "prep__numbers__impute__strategy: [mean, median]",
                )
            params[key] = _frozen(plain(child))
    if steps_node is not None:
        from gitlab_journal.spec.load import _steps

        steps, axes = _steps(steps_node)
        if axes:
            steps_node.fail(
                "a list in a block's step params is a value, not a grid axis",
                hint="write the axis in the model's params with the block's dotted name",
            )
        if params or lists:
            node.fail("a block with steps takes no params or lists of its own")
        return StepSpec(name=name, estimator=None, steps=steps, columns=columns)
    assert estimator_node is not None
    value = estimator_node.value
    if isinstance(value, str) and value.strip() in LITERALS:
        if value.strip() == "drop" and not with_columns:
            estimator_node.fail("drop is for a column transformer's transformers")
        if params or lists:
            node.fail(f"{value.strip()} takes no params")
        return StepSpec(name=name, estimator=value.strip(), columns=columns)
    return StepSpec(
        name=name,
        estimator=_estimator(estimator_node),
        params=params,
        columns=columns,
        lists=lists,
    )
