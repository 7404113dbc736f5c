"""Follow a table's text columns (and its dates and time spans) through a scikit-learn model to
the first step that takes numbers only, and its columns of numbers with blank cells to the first
step that takes no missing values (by its ``allow_nan`` tag; an imputer fills them), so such a
spec stops before training with the column and the step named, instead of recording a failed
run for every point.

A column is followed through pipelines, column transformers (by column name), feature unions,
ensembles and wrappers; an encoder (``OneHotEncoder``, ``OrdinalEncoder``, ``TargetEncoder``, a
vectorizer or hasher) ends it, as does a step outside scikit-learn (which may take text). Only
scikit-learn's own steps are judged, and only when the route is known: a column selector that
is not a list of names ends the walk without a verdict.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from gitlab_journal.spec.snippets import flow_list, flow_scalar

ENCODING = ("Encoder", "Vectorizer", "Hasher")
PASSING_IMPUTES = frozenset({"most_frequent", "constant"})  # SimpleImputer keeps text then
TAKES_ANYTHING = ("sklearn.dummy.",)
# steps that may do anything with text (a user's function, a mask of the missing cells)
NO_VERDICT = frozenset({"FunctionTransformer", "MissingIndicator"})
# a date or a time stamp as tables write them, with a four-digit year (so a version such as
# 1.2.3 is not one): 2024-01-31, 31/01/2024, 2024-01-31T09:30:00Z
DATE = re.compile(
    r"(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4})"
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)
DATE_SAMPLE = 50  # the first non-blank cells of a column looked at
BLANKS = "blank cells"  # the kind of a column of numbers with missing values, in its own walk
# a number written with thousands separators: 54,170.50 or 54.170,50 or 54 170
GROUPED = re.compile(r"[+-]?\d{1,3}(?P<mark>[,. '\u00a0])\d{3}(?:(?P=mark)\d{3})*(?:[.,]\d+)?")


@dataclass(frozen=True)
class Blocked:
    """Text columns that reach ``step`` (its dotted name; empty: the model itself), of class
    ``kind``, which takes numbers only (``by_dtype``: and categories, told by their dtype)."""

    columns: tuple[str, ...]
    step: str
    kind: str
    by_dtype: bool = False
    blanks: bool = False  # the columns are numbers with blank cells, and the step takes none


def text_columns(X: Any) -> dict[str, str]:
    """Column -> ``strings``, ``categories``, ``dates`` or ``time spans`` for the columns of a
    DataFrame that hold neither numbers nor booleans (a category column counts when its
    categories are not numbers; dates and time spans by their dtype, as Parquet keeps them or
    ``dtypes:`` makes them)."""
    import pandas as pd

    out: dict[str, str] = {}
    for name, dtype in X.dtypes.items():
        if isinstance(dtype, pd.CategoricalDtype):
            if not pd.api.types.is_numeric_dtype(dtype.categories.dtype):
                out[str(name)] = "categories"
        elif pd.api.types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
            out[str(name)] = "dates"
        elif pd.api.types.is_timedelta64_dtype(dtype):
            out[str(name)] = "time spans"
        elif pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
            out[str(name)] = "strings"
    return out


def blocked(estimator: Any, X: Any) -> Blocked | None:
    """The first step of ``estimator`` that text columns of ``X`` reach and cannot take, else
    the first that its blank cells reach and cannot take, or None."""
    if not hasattr(X, "dtypes") or not hasattr(X, "columns"):
        return None
    every = [str(c) for c in X.columns]
    kinds = text_columns(X)
    if kinds:
        found, _, _ = _flow(estimator, list(kinds), kinds, every, "")
        if found is not None:
            return found
    # Text columns too: an encoder that passes the text walk may hand their blanks on.
    missing = {str(name) for name, any_blank in X.isna().any().items() if any_blank}
    blanks = {c: BLANKS for c in every if c in missing}
    if not blanks:
        return None
    found, _, _ = _flow(estimator, list(blanks), blanks, every, "")
    return found


Flow = tuple[Blocked | None, list[str], dict[str, str]]


def _flow(est: Any, cols: list[str], kinds: dict[str, str], every: list[str], path: str) -> Flow:
    """What ``est`` does with the text columns ``cols`` of the kinds ``kinds``: a step they
    block on, or the text columns still raw in its output and their kinds there (a category
    an imputer fills, or one handed on in an array, is text after it)."""
    if not cols or est is None or (isinstance(est, str) and est == "passthrough"):
        return None, cols, kinds
    if isinstance(est, str):  # "drop"
        return None, [], kinds
    cls = type(est)
    name = cls.__name__
    module = f"{cls.__module__}."
    if not module.startswith("sklearn.") or module.startswith(TAKES_ANYTHING):
        return None, [], kinds  # not scikit-learn's: it may well take text
    blanks = kinds[cols[0]] == BLANKS  # the walk of blank cells, not of text
    if blanks and name == "OrdinalEncoder" and _is_blank(getattr(est, "encoded_missing_value", 0)):
        return None, cols, kinds  # it encodes a blank cell as a blank (its default)
    if any(part in name for part in ENCODING) or name in NO_VERDICT:
        return None, [], kinds
    if blanks and name.endswith("Imputer"):
        return None, [], kinds  # it fills them
    if name == "SimpleImputer" and getattr(est, "strategy", None) in PASSING_IMPUTES:
        return None, cols, _as_text(kinds, cols)  # it fills a category column with strings
    steps = getattr(est, "steps", None)
    if name == "Pipeline" and isinstance(steps, list):
        for step_name, step in steps:
            found, cols, kinds = _flow(step, cols, kinds, every, _join(path, step_name))
            if found is not None:
                return found, [], kinds
            if not _hands_on_frames(step):  # an array: a category column is plain values in it
                kinds = _as_text(kinds, cols)
        return None, cols, kinds
    if name == "ColumnTransformer":
        return _columns(est, cols, kinds, every, path)
    if name == "FeatureUnion":
        out: list[str] = []
        after = dict(kinds)
        for part_name, part in getattr(est, "transformer_list", []):
            found, rest, changed = _flow(part, cols, kinds, every, _join(path, part_name))
            if found is not None:
                return found, [], kinds
            out.extend(c for c in rest if c not in out)
            after.update({c: changed[c] for c in rest if changed[c] == "strings"})
        return None, out, after
    members = getattr(est, "estimators", None)
    if isinstance(members, list) and members and isinstance(members[0], tuple):
        for member_name, member in members:
            found, _, _ = _flow(member, cols, kinds, every, _join(path, member_name))
            if found is not None:
                return found, [], kinds
        return None, [], kinds
    inner = _wrapped(est)
    if inner is not None:
        key, wrapped = inner
        found, _, _ = _flow(wrapped, cols, kinds, every, _join(path, key))
        return found, [], kinds
    if blanks:
        if not _takes_blanks(est):
            return Blocked(tuple(cols), path, name, blanks=True), [], kinds
        return None, cols if hasattr(est, "transform") else [], kinds  # passed on, or taken
    by_dtype = False
    if name.startswith("HistGradientBoosting"):
        by_dtype = getattr(est, "categorical_features", None) == "from_dtype"
        if by_dtype:
            cols = [c for c in cols if kinds[c] != "categories"]
        if not cols:
            return None, [], kinds
    return Blocked(tuple(cols), path, name, by_dtype), [], kinds


def _as_text(kinds: dict[str, str], cols: Sequence[str]) -> dict[str, str]:
    """``kinds`` with the category columns among ``cols`` turned into text."""
    chosen = set(cols)
    if not any(kinds[c] == "categories" for c in chosen):
        return kinds
    return {c: "strings" if k == "categories" and c in chosen else k for c, k in kinds.items()}


def _is_blank(value: Any) -> bool:
    return isinstance(value, float) and value != value  # NaN


def _takes_blanks(est: Any) -> bool:
    """Whether a scikit-learn estimator takes missing values (its ``allow_nan`` tag); one whose
    tags cannot be read gets no verdict."""
    try:
        from sklearn.utils import get_tags

        return bool(get_tags(est).input_tags.allow_nan)
    except Exception:  # an estimator whose tags fail: not this walk's to judge
        return True


def _hands_on_frames(step: Any) -> bool:
    """Whether a pipeline step hands the next one a DataFrame (keeping dtypes): passthrough,
    or a transformer whose output is pandas (its own set_output, else scikit-learn's config)."""
    if step is None or isinstance(step, str):
        return True
    output = (getattr(step, "_sklearn_output_config", None) or {}).get("transform")
    if output is None:
        from sklearn import get_config

        output = get_config().get("transform_output", "default")
    return bool(output == "pandas")


def _join(path: str, name: str) -> str:
    return f"{path}__{name}" if path else str(name)


def _columns(est: Any, cols: list[str], kinds: dict[str, str], every: list[str], path: str) -> Flow:
    out: list[str] = []
    after = dict(kinds)
    taken: set[str] = set()
    for part_name, part, selector in getattr(est, "transformers", []):
        names = _names(selector, every)
        if names is None:
            return None, [], kinds  # a selector this walk cannot follow: no verdict
        taken.update(names)
        chosen = [c for c in cols if c in names]
        found, rest, changed = _flow(part, chosen, kinds, every, _join(path, part_name))
        if found is not None:
            return found, [], kinds
        out.extend(rest)
        after.update({c: changed[c] for c in rest})
    left = [c for c in cols if c not in taken]
    remainder = getattr(est, "remainder", "drop")
    found, rest, changed = _flow(remainder, left, kinds, every, _join(path, "remainder"))
    if found is not None:
        return found, [], kinds
    after.update({c: changed[c] for c in rest})
    return None, out + rest, after


def _names(selector: Any, every: Sequence[str]) -> set[str] | None:
    if isinstance(selector, str):
        return {selector}
    if isinstance(selector, list | tuple) and all(isinstance(s, str) for s in selector):
        return set(selector)
    if isinstance(selector, list | tuple) and all(
        isinstance(s, int) and not isinstance(s, bool) for s in selector
    ):
        return {every[i] for i in selector if -len(every) <= i < len(every)}
    return None


def _wrapped(est: Any) -> tuple[str, Any] | None:
    """The estimator a scikit-learn wrapper hands the data to (``estimator``, ``regressor``)."""
    try:
        params = est.get_params(deep=False)
    except Exception:  # not a well-behaved estimator: no verdict
        return None
    for key in ("estimator", "regressor", "base_estimator", "classifier"):
        value = params.get(key)
        if value is not None and hasattr(value, "get_params"):
            return key, value
    return None


def _describe_blanks(found: Blocked, step: str, X: Any) -> tuple[str, str]:
    first = found.columns[0]
    count = int(_column(X, first).isna().sum())
    others = f" (and {', '.join(repr(c) for c in found.columns[1:])})" if found.columns[1:] else ""
    return (
        f"column {first!r}{others} has blank cells ({count} of {len(X)} rows) and reaches "
        f"{step}, which takes no missing values",
        "fill them first: a sklearn.impute.SimpleImputer step before it (in a column "
        f"transformer, a block for {flow_list(found.columns)} whose steps start with one), or "
        "use a model that takes them (sklearn.ensemble.HistGradientBoostingClassifier or "
        "...Regressor)",
    )


def thousands_mark(texts: Iterable[str]) -> str | None:
    """The thousands separator that the first cells of a text column all use to write numbers
    (``54,170.50``: ``,``), or None when they are not all numbers written so."""
    marks = set()
    for text in itertools.islice(texts, DATE_SAMPLE):
        match = GROUPED.fullmatch(text.strip())
        if match is None:
            return None
        marks.add(match.group("mark"))
    return marks.pop() if len(marks) == 1 else None


def _example(X: Any, name: str) -> str:
    """The first cell of column ``name`` that is not blank, as text."""
    import pandas as pd

    first = next((v for v in _column(X, name) if not pd.isna(v) and str(v).strip()), "")
    return str(first).strip()


def _texts(X: Any, name: str) -> Iterator[str]:
    """The cells of column ``name`` that hold text (not blank), in order, read lazily."""
    return (v for v in _column(X, name) if isinstance(v, str) and v.strip())


def _column(X: Any, name: str) -> Any:
    """The column of ``X`` that the walk calls ``name`` (the walk names columns as text)."""
    return X[next(c for c in X.columns if str(c) == name)]


def date_columns(X: Any, names: Sequence[str]) -> list[str]:
    """The columns of ``names`` whose first non-blank cells all read as dates or time stamps
    (written as dates are, and dates pandas can read: not 12-34-5678)."""
    import pandas as pd

    found = []
    for name in names:
        cells = (v.strip() for v in _texts(X, name))
        sample = list(itertools.islice(cells, DATE_SAMPLE))  # not the whole column
        if not sample or not all(DATE.fullmatch(v) for v in sample):
            continue
        try:
            read = pd.to_datetime(pd.Series(sample), errors="coerce", format="mixed", utc=True)
        except (ValueError, TypeError, OverflowError):
            continue
        if not read.isna().any():
            found.append(name)
    return found


def describe(
    found: Blocked, kinds: dict[str, str], X: Any, *, frames: bool = False
) -> tuple[str, str]:
    """The error's message and hint for text columns reaching a numbers-only step (or blank
    cells one that takes none); ``frames``: the model's steps hand DataFrames on
    (``transform_output: pandas``)."""
    step = f"step {found.step!r} ({found.kind})" if found.step else found.kind
    if found.blanks:
        return _describe_blanks(found, step, X)
    texts = [c for c in found.columns if kinds[c] in ("strings", "categories")]
    dates = [c for c in found.columns if kinds[c] == "dates"] + date_columns(X, texts)
    spans = [c for c in found.columns if kinds[c] == "time spans"]
    if dates or spans:
        kind, shown_columns = ("dates", dates) if dates else ("time spans", spans)
        shown = " and ".join(repr(c) for c in shown_columns)
        example = _example(X, shown_columns[0])
        into = (
            "a date into numbers (year, month, day of the week, days since)"
            if dates
            else "a time span into numbers (its seconds: Series.dt.total_seconds())"
        )
        level = "; as a category each date would be a level of its own" if dates else ""
        return (
            f"column {shown} holds {kind}, e.g. {example!r}, and reaches {step}, which takes "
            "numbers only",
            f"leave {'it' if len(shown_columns) == 1 else 'them'} out with data: drop: "
            f"{flow_list(shown_columns)}, or turn {into} in a loader of your repository{level}",
        )
    first = found.columns[0]
    sample = next(_texts(X, first), None)
    example = f", e.g. {sample!r}" if sample is not None else ""
    others = f" (and {', '.join(repr(c) for c in found.columns[1:])})" if found.columns[1:] else ""
    message = (
        f"column {first!r}{others} holds {kinds[first]}{example} and reaches {step}, "
        "which takes numbers only"
    )
    mark = thousands_mark(_texts(X, first)) if kinds[first] == "strings" else None
    if mark is not None:
        return message, (
            f"it holds numbers written with thousands separators: add thousands: '{mark}' to "
            "the data block"
        )
    if found.kind.startswith("HistGradientBoosting"):
        categories = all(kinds[c] == "categories" for c in found.columns)
        if categories and not found.by_dtype:
            return message, (
                f"{found.kind} takes category columns as categories with "
                "categorical_features: from_dtype in its params"
            )
        if categories:  # they reach it as text: lost on the way
            message = (
                f"column {first!r}{others} holds categories{example} but reaches {step} as "
                f"text; {found.kind} takes numbers and categories only"
            )
            if frames:
                return message, (
                    f"an imputer before {found.step!r} fills it with strings: pass category "
                    f"columns through (estimator: passthrough); {found.kind} takes their blank "
                    "cells as they are"
                )
            return message, (
                f"a step before {found.step!r} hands it on as a plain array, where categories "
                "are lost: add transform_output: pandas to the model block (DataFrames between "
                "steps, scikit-learn's set_output)"
            )
        typed = ", ".join(f"{flow_scalar(c)}: category" for c in found.columns)
        return message, f"make it a category, which {found.kind} takes: data: dtypes: {{{typed}}}"
    listed = flow_list(found.columns)
    hint = (
        "encode it first: a sklearn.compose.ColumnTransformer step whose block for "
        f"{listed} is a sklearn.preprocessing.OneHotEncoder (see the README's Tabular data), "
        f"or leave it out with data: drop: {listed}"
    )
    return message, hint
