"""The experiment spec as frozen records: what `journal.yaml` says, validated.

These records carry no behaviour that needs scikit-learn or TensorFlow: the hooks build them.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitlab_journal.errors import JournalError

DEFAULT_SPEC = "journal.yaml"
DEFAULT_CODE_GLOBS: tuple[str, ...] = ("*.py",)
DEFAULT_FOLDS = 5
DEFAULT_MAX_POINTS = 100_000  # grid points a spec may expand to
CSV_DELIMITERS = {".csv": ",", ".tsv": "\t"}  # a text table's separator unless ``sep`` says
# how a CSV/TSV file is written (a table's options)
TEXT_KEYS = ("sep", "decimal", "thousands", "encoding")
COMPRESSIONS = (".gz", ".bz2", ".xz", ".zip")  # a text table compressed, as pandas reads it
PARQUET_SUFFIXES = (".parquet", ".pq")


def table_format(path: str) -> str | None:
    """A table file's format by its name, compression aside: ``.csv``, ``.tsv``, ``.parquet`` or
    ``.pq`` (``data/x.csv.gz`` is a ``.csv``), or None for a file that is not a table."""
    lower = path.lower()
    for compression in COMPRESSIONS:
        if lower.endswith(compression):
            lower = lower.removesuffix(compression)
            return next((s for s in CSV_DELIMITERS if lower.endswith(s)), None)
    return next((s for s in (*CSV_DELIMITERS, *PARQUET_SUFFIXES) if lower.endswith(s)), None)


# dtype names that name themselves in an identity (see :func:`dtype_identity`): the identity
# of a spec that writes only these imports no pandas
CANONICAL_DTYPES = frozenset(
    {
        *(f"{kind}{bits}" for kind in ("int", "uint", "Int", "UInt") for bits in (8, 16, 32, 64)),
        *("float16", "float32", "float64", "Float32", "Float64", "complex64", "complex128"),
        *("bool", "boolean", "category", "string", "str", "object"),
        *(
            f"{kind}64[{unit}]"
            for kind in ("datetime", "timedelta")
            for unit in ("s", "ms", "us", "ns")
        ),
    }
)
# the kinds of NumPy dtype whose aliases are renamed: booleans, integers, floats, complex
# numbers, time spans and dates
NUMPY_KINDS = "biufcmM"


def dtype_identity(name: str) -> str:
    """The name a ``dtypes`` entry is part of an experiment's identity under:
    :func:`canonical_dtype`'s, without pandas for a name that is its own."""
    return name if name in CANONICAL_DTYPES else canonical_dtype(name)


@functools.lru_cache(maxsize=256)
def canonical_dtype(name: str) -> str:
    """A NumPy dtype's canonical name for any of its aliases (``float``, ``double``, ``f8`` and
    ``<f8`` are ``float64``; ``M8[ns]`` is ``datetime64[ns]``), as pandas reads the name; any
    other name as written. pandas' own dtypes (``category``, ``string``, ``Int64``), text and
    object ones (``str`` is pandas 3's string dtype and pandas 2's ``object``), and a name
    pandas does not know (which ``check`` refuses) keep their spelling."""
    import numpy as np
    import pandas as pd

    try:
        dtype = pd.api.types.pandas_dtype(name)
    except (TypeError, ValueError):
        return name
    if not isinstance(dtype, np.dtype) or dtype.kind not in NUMPY_KINDS:
        return name
    return str(dtype.name)


def grid_size(grids: Any) -> int:
    """The number of points of ``grids`` (mappings of axes), without expanding them: the sum
    over grids of the product of their axis lengths."""
    total = 0
    for grid in grids:
        count = 1
        for axis in grid.values():
            count *= len(axis)
        total += count
    return total


@dataclass(frozen=True)
class TableView:
    """What a ``table`` data block says beyond its path and target: the feature ``columns`` to
    keep (empty: all), the columns to ``drop``, ``dtypes`` overrides (``{pclass: category}``),
    extra ``na_values``, and how a CSV/TSV file is written: its ``sep``arator, ``decimal`` mark,
    ``thousands`` separator and ``encoding`` (empty: the defaults, ``,`` or a tab by suffix,
    ``.``, none and UTF-8). ``where`` locates each key in the spec (``journal.yaml:4:
    data.drop``, and ``data.dtypes.age`` for each dtype), for errors raised while loading."""

    columns: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    dtypes: tuple[tuple[str, str], ...] = ()
    na_values: tuple[str, ...] = ()
    sep: str = ""
    decimal: str = ""
    thousands: str = ""
    encoding: str = ""  # a codec's canonical name (codecs.lookup)
    where: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def identity(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.columns:
            out["columns"] = list(self.columns)
        if self.drop:
            out["drop"] = sorted(self.drop)
        if self.dtypes:
            out["dtypes"] = {column: dtype_identity(name) for column, name in sorted(self.dtypes)}
        if self.na_values:
            out["na_values"] = sorted(self.na_values)
        for key in TEXT_KEYS:
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out

    def read_options(self, suffix: str) -> tuple[str, str, str | None, str | None]:
        """(separator, decimal mark, thousands separator or None, encoding or None for UTF-8)
        of a CSV/TSV file."""
        return (
            self.sep or CSV_DELIMITERS[suffix],
            self.decimal or ".",
            self.thousands or None,
            self.encoding or None,
        )

    def located(self, key: str) -> str:
        """``file:line: data.key`` for an error about ``key`` (its nearest located parent's for a
        dotted key the spec does not locate itself), or ``data.key``."""
        where = dict(self.where)
        probe = key
        while probe not in where and "." in probe:
            probe = probe.rsplit(".", 1)[0]
        return where.get(probe, f"data.{key}")


@dataclass(frozen=True)
class DataSpec:
    """Where a run's data comes from.

    ``source`` is one of:
    - ``sklearn``: a data set bundled with scikit-learn, ``name`` e.g. ``iris``;
    - ``table``: a CSV or Parquet file at ``path`` with a ``target`` column (None: the last column);
    - ``arrays``: ``x`` and ``y`` ``.npy`` files, or one ``.npz`` at ``path`` holding ``X`` and
      ``y``;
    - ``loader``: a ``module:function`` from the user's repository returning ``(X, y)``, called
      with ``args`` as keyword arguments, whose declared inputs ``deps`` are hashed.

    Paths are POSIX, relative to the repository root; a directory dep keeps its trailing ``/``.
    """

    source: str
    name: str | None = None
    path: str | None = None
    target: str | None = None
    x: str | None = None
    y: str | None = None
    loader: str | None = None
    deps: tuple[str, ...] = ()
    args: Mapping[str, Any] = field(default_factory=dict)
    table: TableView | None = None  # a table's column selection and parsing options

    def view(self) -> dict[str, Any]:
        """The table options that shape the data a model sees (part of identity when set)."""
        return self.table.identity() if self.table is not None else {}

    def inputs(self) -> tuple[str, ...]:
        """The repository paths this data is read from (what gets hashed), in a stable order."""
        if self.source == "table" and self.path:
            return (self.path,)
        if self.source == "arrays":
            if self.path:
                return (self.path,)
            return tuple(p for p in (self.x, self.y) if p)
        if self.source in ("loader", "files"):
            return self.deps
        return ()


@dataclass(frozen=True)
class StepSpec:
    """One step of a pipeline, or one named block of a constructor list (a column transformer's
    transformers, a voting ensemble's estimators): a name and an estimator import path (None:
    ``passthrough``; ``"drop"`` too in a column transformer).

    ``steps``: the block is a Pipeline of these. ``columns``: the columns a column
    transformer's block takes. ``lists``: constructor arguments that are lists of named blocks
    (``transformers``, ``transformer_list``, ``estimators``), by argument name.
    """

    name: str
    estimator: str | None
    params: Mapping[str, Any] = field(default_factory=dict)
    steps: tuple[StepSpec, ...] = ()
    columns: tuple[str, ...] | str | None = None
    lists: Mapping[str, tuple[StepSpec, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Distribution:
    """A param given as a range to search (``run --search``), not a grid axis.

    ``{low: 1e-4, high: 1e2, log: true}``: floats; integers for ``low`` and ``high`` (and
    ``step``) make an int range. ``key`` and ``line`` locate it in the spec, for errors.
    """

    low: float
    high: float
    log: bool = False
    step: float | None = None
    integer: bool = False
    key: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)

    def describe(self) -> str:
        kind = "int" if self.integer else "float"
        extra = ", log" if self.log else (f", step {self.step:g}" if self.step else "")
        return f"{kind} {self.low:g}..{self.high:g}{extra}"


@dataclass(frozen=True)
class ModelSpec:
    """One model block: the estimator and its parameter grids.

    ``grids`` is a tuple of grids, as scikit-learn's ``ParameterGrid`` takes a list of dicts; each
    grid maps a parameter to the tuple of its candidate values (a scalar in the spec is a
    one-value axis). ``fixed`` holds settings that are not parameters of the estimator (for Keras:
    ``compile`` and ``fit``; for scikit-learn: ``transform_output``).
    """

    kind: str  # "sklearn" (estimators and pipelines); other back ends add their own kinds
    estimator: str
    grids: tuple[Mapping[str, tuple[Any, ...]], ...] = ({},)
    steps: tuple[StepSpec, ...] = ()
    fixed: Mapping[str, Any] = field(default_factory=dict)
    line: int = 0
    lists: Mapping[str, tuple[StepSpec, ...]] = field(default_factory=dict)
    origin: str = field(default="", compare=False)  # the spec file, as errors name it

    def located(self) -> str:
        """``journal.yaml:4: model``, for an error about this block."""
        if self.origin and self.line:
            return f"{self.origin}:{self.line}: model"
        return f"model (line {self.line})" if self.line else "model"

    def import_paths(self) -> tuple[str, ...]:
        """Every estimator import path of the block (``xgboost.XGBClassifier``), in its steps
        and constructor lists too: the packages a run's result depends on."""
        found: list[str] = []

        def visit(path: str | None, steps: tuple[StepSpec, ...], lists: Any) -> None:
            if path and path not in ("passthrough", "drop"):
                found.append(path)
            for step in steps:
                visit(step.estimator, step.steps, step.lists)
            for blocks in lists.values():
                for block in blocks:
                    visit(block.estimator, block.steps, block.lists)

        if self.kind == "sklearn":
            visit(self.estimator, self.steps, self.lists)
        return tuple(dict.fromkeys(found))

    def factories(self) -> tuple[str, ...]:
        """The repository modules (``pkg/mod.py``) of the block's estimator factories
        (``estimator: module:function``), anywhere in its steps and constructor lists."""
        modules = (
            path.partition(":")[0].replace(".", "/") + ".py"
            for path in self.import_paths()
            if ":" in path
        )
        return tuple(dict.fromkeys(modules))

    def points(self) -> list[dict[str, Any]]:
        """Every grid point, in ``ParameterGrid`` order within each grid (keys sorted)."""
        out: list[dict[str, Any]] = []
        for grid in self.grids:
            keys = sorted(grid)
            for values in itertools.product(*(grid[k] for k in keys)):
                out.append(dict(zip(keys, values, strict=True)))
        return out

    def distributions(self) -> list[Distribution]:
        """The params of this block given as ranges: only ``run --search`` can expand them."""
        return [
            value
            for grid in self.grids
            for axis in grid.values()
            for value in axis
            if isinstance(value, Distribution)
        ]


@dataclass(frozen=True)
class EvaluationSpec:
    """How a run is scored.

    ``cv`` folds (``shuffle`` with ``seed`` when asked; stratified for classifiers, as
    scikit-learn's ``cv=N`` is), or a hold-out ``test_size`` split (stratified for classifiers
    unless ``stratify`` is False). ``scoring``: scorer names as scikit-learn spells them; empty
    means the estimator's default (accuracy for classifiers, r2 for regressors).
    """

    cv: int | None = DEFAULT_FOLDS
    shuffle: bool = False
    test_size: float | None = None
    stratify: bool | None = None
    scoring: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True)
class Point:
    """One experiment to run: a model block and one point of its grid."""

    model: ModelSpec
    params: Mapping[str, Any]
    index: int


@dataclass(frozen=True)
class Spec:
    """A validated spec. ``document`` is the spec as plain data after ``--set`` overrides."""

    path: Path
    data: DataSpec
    models: tuple[ModelSpec, ...]
    evaluation: EvaluationSpec
    notes: Mapping[str, str] = field(default_factory=dict)
    code: tuple[str, ...] = DEFAULT_CODE_GLOBS
    document: Mapping[str, Any] = field(default_factory=dict)
    name: str | None = None  # an experiment family name, optional
    ignore_checks: tuple[str, ...] = ()  # pre-flight check codes silenced (`checks: {ignore: }`)
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)  # dotted key -> line

    def model_key(self, index: int) -> str:
        """The dotted key of the ``index``-th model block (``model``, or ``model.1`` in a list)."""
        if "command" in self.document:
            return "command"
        return f"model.{index}" if isinstance(self.document.get("model"), list) else "model"

    def where(self, key: str, default: int = 1) -> str:
        """``file:line: key`` for a dotted key of the document (its nearest located parent's
        line when the key itself has none, e.g. a key --set created)."""
        probe = key
        while probe not in self.lines and "." in probe:
            probe = probe.rsplit(".", 1)[0]
        return f"{shown_path(self.path)}:{self.lines.get(probe, default)}: {key}"

    def size(self) -> int:
        """The number of grid points, counted without expanding the grids."""
        return sum(grid_size(model.grids) for model in self.models)

    def points(self, max_points: int | None = DEFAULT_MAX_POINTS) -> list[Point]:
        """Every grid point; a grid of more than ``max_points`` is refused before it is
        expanded (None: no bound)."""
        if max_points is not None:
            self.check_size(max_points)
        out: list[Point] = []
        for model in self.models:
            ranges = model.distributions()
            if ranges:
                raise JournalError(
                    f"{shown_path(self.path)}:{ranges[0].line}: {ranges[0].key}: a range "
                    f"({ranges[0].describe()}) is searched, not expanded as a grid",
                    hint="run `git journal run --search optuna --trials N`, "
                    "or give a list of values (a grid axis)",
                )
            for params in model.points():
                out.append(Point(model=model, params=params, index=len(out)))
        return out

    def check_size(self, max_points: int) -> None:
        total = self.size()
        if total <= max_points:
            return
        index, model = max(enumerate(self.models), key=lambda pair: grid_size(pair[1].grids))
        key = self.model_key(index)
        block: Any
        if "command" in self.document:
            block = self.document
            key = ""
        elif isinstance(self.document.get("model"), list):
            block = self.document["model"][index]
        else:
            block = self.document.get("model")
        if isinstance(block, Mapping) and "params" in block:
            key = f"{key}.params" if key else "params"
        raise JournalError(
            f"{self.where(key, model.line or 1)}: the grid has {total:,} points, more than "
            f"the limit of {max_points:,}",
            hint="search it instead (`git journal run --search optuna --trials N` with ranges), "
            "or narrow the lists",
        )


def shown_path(path: Path) -> str:
    """The spec's path as the user would type it: relative to the working directory if inside."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
