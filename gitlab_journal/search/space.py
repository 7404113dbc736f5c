"""The search space of one model block: its ranges, its lists (categorical choices) and the
values it fixes.

Values travel in the spec's terms (``C: 0.5``, ``kernel: rbf``); Optuna sees each categorical
choice as a token (the value itself when Optuna can store it, else its canonical JSON).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitlab_journal.errors import JournalError
from gitlab_journal.journal.identity import canonical_json, normalise
from gitlab_journal.spec.model import Distribution, ModelSpec

_PLAIN = (str, int, float, bool, type(None))
_JSON_TOKEN = "json:"


@dataclass(frozen=True)
class Dim:
    """One searched param: a range, or the choices of a list."""

    name: str
    range: Distribution | None = None
    choices: tuple[Any, ...] = ()

    def describe(self) -> str:
        if self.range is not None:
            return self.range.describe()
        return "one of " + ", ".join(_show(c) for c in self.choices)

    def optuna(self) -> Any:
        """This dimension as an Optuna distribution."""
        import optuna.distributions as od

        r = self.range
        if r is None:
            return od.CategoricalDistribution([_token(c) for c in self.choices])
        if r.integer:
            step = int(r.step or 1)
            return od.IntDistribution(int(r.low), int(r.high), log=r.log, step=step)
        return od.FloatDistribution(float(r.low), float(r.high), log=r.log, step=r.step)

    def token(self, value: Any) -> Any:
        """The Optuna value of ``value`` (a recorded or spec value), or None when it is not in
        this dimension (out of range, off the step, not one of the choices)."""
        r = self.range
        if r is None:
            wanted = _key(value)
            for choice in self.choices:
                if _key(choice) == wanted:
                    return _token(choice)
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        number = float(value)
        if not math.isfinite(number) or not r.low <= number <= r.high:
            return None
        if r.integer:
            if number != round(number):
                return None
            number = round(number)
        if r.step:
            steps = (number - r.low) / r.step
            if abs(steps - round(steps)) > 1e-9:
                return None
        return number

    def value(self, token: Any) -> Any:
        """The spec value of an Optuna value."""
        if self.range is not None:
            return int(token) if self.range.integer else float(token)
        for choice in self.choices:
            if _token(choice) == token:
                return choice
        raise KeyError(token)

    def clip(self, value: Any) -> Any:
        """``value`` moved into this dimension when it can be (a range clips, a step rounds);
        None when it cannot (a choice not listed, a value of another type)."""
        r = self.range
        if r is None:
            token = self.token(value)
            return None if token is None else self.value(token)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        number = min(max(float(value), float(r.low)), float(r.high))
        if r.step:
            number = r.low + round((number - r.low) / r.step) * r.step
            number = min(number, r.high)
        return round(number) if r.integer else float(number)

    def unit(self, value: Any) -> list[float]:
        """``value`` in [0, 1] (a log range on a log scale); one-hot for choices."""
        r = self.range
        if r is None:
            wanted = _key(value)
            return [1.0 if _key(c) == wanted else 0.0 for c in self.choices]
        low, high, number = float(r.low), float(r.high), float(value)
        if r.log:
            low, high, number = math.log(low), math.log(high), math.log(max(number, 1e-300))
        return [min(max((number - low) / (high - low), 0.0), 1.0)]


@dataclass(frozen=True)
class SearchSpace:
    """What ``run --search`` samples for one model block."""

    model: ModelSpec
    dims: tuple[Dim, ...]
    fixed: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, model: ModelSpec) -> SearchSpace:
        """The block's space: a range is a range, a list of several values a categorical
        choice, a single value fixed. One params mapping per block (not a list of grids)."""
        where = f"model (line {model.line})" if model.line else "model"
        if len(model.grids) != 1:
            raise JournalError(
                f"{where}: --search takes one params mapping per model block, "
                f"not a list of {len(model.grids)} grids",
                hint="give each grid its own model block (model: [{...}, {...}])",
            )
        dims: list[Dim] = []
        fixed: dict[str, Any] = {}
        for name, axis in sorted(model.grids[0].items()):
            if len(axis) == 1 and isinstance(axis[0], Distribution):
                dims.append(Dim(name, range=axis[0]))
            elif len(axis) > 1:
                if any(isinstance(v, Distribution) for v in axis):
                    raise JournalError(f"{where}: {name}: a list of ranges cannot be searched")
                dims.append(Dim(name, choices=tuple(axis)))
            else:
                fixed[name] = axis[0]
        if not dims:
            raise JournalError(
                f"{where}: nothing to search: no param is a range or a list",
                hint="give a range, e.g. C: {low: 1e-3, high: 1e3, log: true}, or a list",
            )
        return cls(model=model, dims=tuple(dims), fixed=fixed)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dims)

    def anchor(self) -> dict[str, Any]:
        """One point of the space: each range's low end, each list's first value."""
        return {d.name: d.range.low if d.range is not None else d.choices[0] for d in self.dims}

    def distributions(self) -> dict[str, Any]:
        return {d.name: d.optuna() for d in self.dims}

    def tokens(self, values: Mapping[str, Any]) -> dict[str, Any] | None:
        """Optuna params of a point given in spec values; None when one is outside."""
        out: dict[str, Any] = {}
        for dim in self.dims:
            if dim.name not in values:
                return None
            token = dim.token(values[dim.name])
            if token is None:
                return None
            out[dim.name] = token
        return out

    def values(self, tokens: Mapping[str, Any]) -> dict[str, Any]:
        """Spec values of Optuna params (searched params only)."""
        return {dim.name: dim.value(tokens[dim.name]) for dim in self.dims}

    def point(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """A point's params: the fixed values and the searched ones."""
        return {**self.fixed, **{k: values[k] for k in self.names}}

    def clip(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The searched values of ``values`` that can be moved into this space."""
        out: dict[str, Any] = {}
        for dim in self.dims:
            if dim.name in values:
                clipped = dim.clip(values[dim.name])
                if clipped is not None:
                    out[dim.name] = clipped
        return out

    def unit(self, values: Mapping[str, Any]) -> list[float]:
        """A point as a vector in the unit cube (for distances and the surrogate model)."""
        out: list[float] = []
        for dim in self.dims:
            out.extend(dim.unit(values[dim.name]))
        return out

    def distance(self, a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
        """Euclidean distance in the unit cube, per dimension (0: the same point, 1: opposite
        corners)."""
        ua, ub = self.unit(a), self.unit(b)
        total = sum((x - y) ** 2 for x, y in zip(ua, ub, strict=True))
        return math.sqrt(total / len(self.dims))


def _key(value: Any) -> str:
    try:
        return canonical_json(normalise(value))
    except JournalError:
        return repr(value)


def _token(value: Any) -> Any:
    if isinstance(value, _PLAIN):
        return value
    return _JSON_TOKEN + _key(value)


def _show(value: Any) -> str:
    return value if isinstance(value, str) else _key(value)


def show_value(value: Any) -> str:
    """A value as a table cell: floats to 4 significant digits."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return _show(value)
