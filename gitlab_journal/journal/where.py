"""The ``--where`` language: comparisons joined with ``and``, ``or``, ``not``, parentheses and
``FIELD in [V, ...]``, parsed into a small tree that the index turns into SQL.

    params.C > 1 and (model == SVC or model == LogisticRegression)
    not status == failed
    params.kernel in [rbf, linear] and metrics.accuracy >= 0.9
    table.drop ~ fare and not table.dtypes.sex == category

``and`` binds tighter than ``or``; ``not`` tighter than both. A comparison that does not hold for
a run (a missing field, another type) is false, so ``not`` is its exact complement.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gitlab_journal.errors import JournalError

_FIELD_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[^\s=!<>~\"'()\[\],]*)?)\s*")
_OP_RE = re.compile(r"(==|!=|>=|<=|=|>|<|~)\s*")
_KEYWORD_RE = re.compile(r"\s*(and|or|not|in)(?=[\s(\[]|$)", re.IGNORECASE)
# an unquoted value ends before ' and ', ' or ', a ')' or the end (inside [..]: ',' or ']')
_VALUE_END = re.compile(r"\s+(?:and|or)(?=[\s(]|$)|\)", re.IGNORECASE)
_LIST_VALUE_END = re.compile(r"[,\]]")
_OP_CHARS = set("=<>!~'\"")
_NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")

HINT = (
    "e.g. 'params.C > 1 and (model == SVC or not status == failed)' or "
    "'params.kernel in [rbf, linear]'"
)


@dataclass(frozen=True)
class Clause:
    """One ``FIELD OP VALUE`` comparison, parsed."""

    field: str
    op: str
    value: Any  # str, int, float, bool, or None for null
    raw: str
    quoted: bool


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


Node = Clause | Not | And | Or


def _literal(raw: str) -> Any:
    lowered = raw.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    if lowered in ("null", "none"):
        return None
    if _NUMBER_RE.match(raw):
        return float(raw) if any(c in raw for c in ".eE") else int(raw)
    return raw


class _Parser:
    def __init__(self, expression: str, check_field: Callable[[str], object]):
        self.text = expression
        self.pos = 0
        self.check_field = check_field

    def fail(self, why: str, hint: str = HINT) -> JournalError:
        return JournalError(f"malformed --where {self.text!r}: {why}", hint=hint)

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek_char(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def keyword(self, word: str) -> bool:
        match = _KEYWORD_RE.match(self.text, self.pos)
        if match and match.group(1).lower() == word:
            self.pos = match.end()
            return True
        return False

    def parse(self) -> Node:
        node = self.or_expr()
        self.skip_space()
        if self.pos < len(self.text):
            rest = self.text[self.pos :].strip()
            raise self.fail(
                f"unexpected {rest!r}",
                hint="join comparisons with ' and ' or ' or ', or give --where several times",
            )
        return node

    def or_expr(self) -> Node:
        operands = [self.and_expr()]
        while self.keyword("or"):
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_expr(self) -> Node:
        operands = [self.not_expr()]
        while self.keyword("and"):
            operands.append(self.not_expr())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def not_expr(self) -> Node:
        if self.keyword("not"):
            return Not(self.not_expr())
        if self.peek_char() == "(":
            self.pos += 1
            node = self.or_expr()
            if self.peek_char() != ")":
                raise self.fail("a '(' is not closed")
            self.pos += 1
            return node
        return self.comparison()

    def comparison(self) -> Node:
        fmatch = _FIELD_RE.match(self.text, self.pos)
        if not fmatch:
            raise self.fail(f"expected a field at {self.text[self.pos :]!r}")
        name = fmatch.group(1)
        self.check_field(name)  # unknown fields fail early, naming the expression
        self.pos = fmatch.end()
        negated = False
        start = self.pos
        if self.keyword("not"):
            negated = True
            if not self.keyword("in"):
                self.pos = start
                negated = False
        if negated or self.keyword("in"):
            values = self.value_list(name)
            node: Node = values[0] if len(values) == 1 else Or(tuple(values))
            return Not(node) if negated else node
        omatch = _OP_RE.match(self.text, self.pos)
        if not omatch:
            raise self.fail(f"expected an operator after {name!r}")
        op = "==" if omatch.group(1) == "=" else omatch.group(1)
        self.pos = omatch.end()
        return self.value(name, op, _VALUE_END)

    def value_list(self, name: str) -> list[Clause]:
        if self.peek_char() != "[":
            raise self.fail(f"expected '[' after {name!r} in")
        self.pos += 1
        values: list[Clause] = []
        while True:
            values.append(self.value(name, "==", _LIST_VALUE_END))
            char = self.peek_char()
            self.pos += 1
            if char == "]":
                return values
            if char != ",":
                raise self.fail(f"a '[' after {name!r} in is not closed")

    def value(self, name: str, op: str, end_re: re.Pattern[str]) -> Clause:
        text = self.text
        self.skip_space()
        if self.pos < len(text) and text[self.pos] in "'\"":
            quote = text[self.pos]
            out: list[str] = []
            i = self.pos + 1
            while i < len(text):
                ch = text[i]
                if ch == "\\" and i + 1 < len(text):
                    out.append(text[i + 1])
                    i += 2
                    continue
                if ch == quote:
                    raw = "".join(out)
                    self.pos = i + 1
                    return Clause(name, op, raw, raw, True)
                out.append(ch)
                i += 1
            raise JournalError(f"unclosed quote in --where {text!r}")
        match = end_re.search(text, self.pos)
        end = match.start() if match else len(text)
        raw = text[self.pos : end].strip()
        if not raw:
            raise self.fail("no value", hint="e.g. 'params.C > 1'")
        if _OP_CHARS.intersection(raw):
            raise self.fail(
                f"unexpected {raw!r}",
                hint="quote a value that holds = < > ! ~ or quotes; join clauses with ' and '",
            )
        self.pos = end
        return Clause(name, op, _literal(raw), raw, False)


def parse(expression: str, check_field: Callable[[str], object] = lambda name: None) -> Node:
    """The tree of ``expression``; ``check_field(name)`` raises for a field it does not know.
    A malformed expression is a JournalError."""
    return _Parser(expression, check_field).parse()


def clauses(node: Node) -> list[Clause]:
    """Every comparison in ``node``, in order."""
    if isinstance(node, Clause):
        return [node]
    if isinstance(node, Not):
        return clauses(node.operand)
    return [c for operand in node.operands for c in clauses(operand)]


def to_sql(
    node: Node, clause_sql: Callable[[Clause], tuple[str, list[Any]]]
) -> tuple[str, list[Any]]:
    """SQL for ``node``; each comparison's SQL (from ``clause_sql``) is made two-valued
    (a NULL outcome is false) so that ``not`` is its complement."""
    if isinstance(node, Clause):
        sql, args = clause_sql(node)
        return f"COALESCE({sql}, 0)", args
    if isinstance(node, Not):
        sql, args = to_sql(node.operand, clause_sql)
        return f"(NOT {sql})", args
    parts: list[str] = []
    args = []
    for operand in node.operands:
        sql, operand_args = to_sql(operand, clause_sql)
        parts.append(sql)
        args.extend(operand_args)
    joiner = " AND " if isinstance(node, And) else " OR "
    return "(" + joiner.join(parts) + ")", args
