"""Load ``journal.yaml`` and validate it into the frozen records of :mod:`.model`.

Every problem is a :class:`JournalError` of the form ``{file}:{line}: {dotted.key}: {problem}``.
This module imports only the standard library and ruamel.yaml: git hooks load specs and must not
pay for scikit-learn, NumPy or TensorFlow.
"""

from __future__ import annotations

import datetime
import difflib
import os
import re
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

from ruamel.yaml.comments import CommentedBase
from ruamel.yaml.composer import MaxDepthExceededError
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarbool import ScalarBoolean

from gitlab_journal.errors import JournalError
from gitlab_journal.spec.bounds import MAX_DEPTH, SpecTooLarge, check_text_size, spec_yaml
from gitlab_journal.spec.locate import repo_root
from gitlab_journal.spec.model import (
    DEFAULT_CODE_GLOBS,
    DEFAULT_FOLDS,
    DataSpec,
    Distribution,
    EvaluationSpec,
    ModelSpec,
    Spec,
    StepSpec,
    shown_path,
    table_format,
)
from gitlab_journal.spec.overrides import apply_overrides

TOP_KEYS = ("name", "data", "model", "evaluation", "notes", "code", "checks")
ARRAY_SUFFIXES = (".npz",)
PLAIN_LISTS = frozenset({"metrics", "callbacks"})  # lists in Keras compile/fit that are values
KERAS_TEST_SIZE = 0.2  # a Keras spec's hold-out split when its evaluation names none
NEW_HINT = "create one with `git journal new --template sklearn-classifier`"

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_ESTIMATOR_RE = re.compile(rf"{_IDENT}(\.{_IDENT})+")
_CALLABLE_RE = re.compile(rf"{_IDENT}(\.{_IDENT})*:{_IDENT}")
_DATASET_RE = re.compile(_IDENT)
_CHECK_RE = re.compile(r"[A-Z]{2}[0-9]{3}")


# --- loading ----------------------------------------------------------------------------------


def load_spec(path: Path, overrides: Sequence[str] = ()) -> Spec:
    """Read, override (``--set``) and validate the spec at ``path``."""
    shown = _display(path)
    return _load(_read(path, shown), path, shown, overrides)


def load_spec_text(
    text: str, path: Path, overrides: Sequence[str] = (), *, shown: str | None = None
) -> Spec:
    """Validate spec ``text`` as if it were the file at ``path`` (e.g. the staged version of
    it, read from git's index): relative paths resolve against ``path``'s directory, and errors
    name ``shown`` (default: ``path`` as :func:`load_spec` shows it)."""
    shown = shown if shown is not None else _display(path)
    return _load(_parse(text, shown), path, shown, overrides)


def _load(doc: Any, path: Path, shown: str, overrides: Sequence[str]) -> Spec:
    if doc is None:
        raise JournalError(f"{shown}:1: the spec is empty", hint=NEW_HINT)
    if not isinstance(doc, MutableMapping):
        raise JournalError(f"{shown}:1: the spec must be a mapping of keys (data, model, ...)")
    overridden = apply_overrides(doc, overrides, shown) if overrides else ()
    spec_dir = Path(os.path.normpath(path.absolute().parent))
    ctx = _Context(shown, overridden, spec_dir, repo_root(spec_dir))
    return _spec(_Node(doc, "", 1, ctx), path)


def _display(path: Path) -> str:
    """The path as the user would type it: relative to the working directory when inside it."""
    if not path.is_absolute():
        return str(path)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _read(path: Path, shown: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise JournalError(f"no spec at {shown}", hint=NEW_HINT) from None
    except IsADirectoryError:
        raise JournalError(f"{shown} is a directory, not a spec file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise JournalError(f"cannot read {shown}: {exc}") from exc
    return _parse(text, shown)


def _parse(text: str, shown: str) -> Any:
    """The YAML document of ``text``, within the bounds of :mod:`.bounds`."""
    try:
        check_text_size(text)
        return spec_yaml().load(text)
    except SpecTooLarge as exc:
        where = f"{exc.key}: " if exc.key else ""
        raise JournalError(f"{shown}:{exc.line}: {where}{exc.problem}", hint=exc.hint) from None
    except YAMLError as exc:
        raise _yaml_error(exc, shown) from exc


def _yaml_error(exc: YAMLError, shown: str) -> JournalError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else 1
    if isinstance(exc, MaxDepthExceededError):
        return JournalError(
            f"{shown}:{line}: the spec nests mappings and lists more than {MAX_DEPTH} levels deep",
            hint="a spec is a few levels deep; flatten the value",
        )
    problem = getattr(exc, "problem", None) or str(exc).strip().splitlines()[0]
    context = getattr(exc, "context", None)
    if context and "duplicate key" not in problem:
        problem = f"{context}: {problem}"
    return JournalError(f"{shown}:{line}: YAML syntax error: {problem}")


# --- a located view of the document --------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    shown: str
    overridden: tuple[str, ...]
    spec_dir: Path
    root: Path


@dataclass(frozen=True)
class _Node:
    """A value of the document, with its dotted key and 1-based line, able to report errors."""

    value: Any
    key: str
    line: int
    ctx: _Context

    def fail(self, problem: str, hint: str | None = None) -> NoReturn:
        where = self.key or "spec"
        message = f"{self.ctx.shown}:{self.line}: {where}: {problem}"
        if any(self.key == k or self.key.startswith(k + ".") for k in self.ctx.overridden):
            message += " (set by --set)"
        raise JournalError(message, hint=hint)

    def child(self, key: Any) -> _Node:
        """The value at ``key`` of this mapping, located at the key's line."""
        line = _lc_line(self.value, key, self.line)
        return _Node(self.value[key], _join(self.key, key), line, self.ctx)

    def get(self, key: str) -> _Node | None:
        return self.child(key) if key in self.value else None

    def entries(self) -> list[tuple[Any, _Node]]:
        return [(key, self.child(key)) for key in self.value]

    def items(self) -> list[_Node]:
        """The items of this list, each at its own line."""
        return [
            _Node(item, _join(self.key, i), _lc_line(self.value, i, self.line), self.ctx)
            for i, item in enumerate(self.value)
        ]

    def mapping(self, what: str = "a mapping") -> _Node:
        if not isinstance(self.value, Mapping):
            self.fail(f"expected {what}, got {_kind(self.value)}")
        return self

    def keys_within(self, allowed: Iterable[str]) -> None:
        """Reject keys not in ``allowed``, suggesting the closest one."""
        allowed = tuple(allowed)
        for key, node in self.entries():
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                guess = f" (did you mean {close[0]!r}?)" if close else ""
                node.fail(f"unknown key{guess}", hint=f"allowed here: {', '.join(allowed)}")

    def string(self, what: str = "a string") -> str:
        if not isinstance(self.value, str) or not self.value.strip():
            self.fail(f"expected {what}, got {_kind(self.value)}")
        return str(self.value).strip()

    def strings(self, what: str = "a string or a list of strings") -> tuple[str, ...]:
        if isinstance(self.value, str):
            return (self.string(),)
        if not isinstance(self.value, list):
            self.fail(f"expected {what}, got {_kind(self.value)}")
        return tuple(item.string() for item in self.items())

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            self.fail(f"expected true or false, got {_kind(self.value)}")
        return self.value

    def integer(self, minimum: int) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            self.fail(f"expected an integer, got {_kind(self.value)}")
        if self.value < minimum:
            self.fail(f"must be at least {minimum}, got {self.value}")
        return int(self.value)


def _lc_line(container: Any, key: Any, default: int) -> int:
    """The 1-based line ruamel recorded for ``key`` (or a list index); ``default`` if none."""
    if isinstance(container, CommentedBase):
        data = getattr(container.lc, "data", None) or {}
        position = data.get(key)
        if position:
            return int(position[0]) + 1
    return default


def _join(prefix: str, key: Any) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"a string ({value!r})" if value.strip() else "an empty string"
    if isinstance(value, int | float):
        return f"a number ({value})"
    return type(value).__name__


# --- plain data ---------------------------------------------------------------------------------


def plain(node: _Node) -> Any:
    """The node's value as plain Python: dict, list, str, int, float, bool, None.

    ruamel's round-trip types become their builtin bases; dates become ISO strings.
    """
    value = node.value
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, ScalarBoolean):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, child in node.entries():
            if isinstance(key, Mapping | list | CommentedBase):
                child.fail("a key must be a plain scalar")
            out[plain(_Node(key, child.key, child.line, node.ctx))] = plain(child)
        return out
    if isinstance(value, list):
        return [plain(item) for item in node.items()]
    node.fail(f"unsupported YAML value {type(value).__name__} (tags are not allowed)")


def _frozen(value: Any) -> Any:
    """Lists become tuples, recursively, so a candidate value is one value (e.g. ``(100, 50)``)."""
    if isinstance(value, list):
        return tuple(_frozen(item) for item in value)
    if isinstance(value, dict):
        return {key: _frozen(item) for key, item in value.items()}
    return value


# --- the spec ---------------------------------------------------------------------------------


def load_spec_document(doc: Mapping[str, Any], path: Path, shown: str) -> Spec:
    """Validate a spec given as data (the ad-hoc ``run -- COMMAND``), as if it were at
    ``path``."""
    return _load(dict(doc), path, shown, ())


def _spec(root: _Node, path: Path) -> Spec:
    if isinstance(root.value, Mapping) and "command" in root.value:
        from gitlab_journal.spec.command import command_spec

        if "model" in root.value:
            root.child("command").fail("a spec has a model or a command, not both")
        return command_spec(root, path)
    root.keys_within(TOP_KEYS)
    data, model = root.get("data"), root.get("model")
    if data is None:
        root.fail("no data: key", hint="e.g. `data: sklearn:iris`")
    if model is None:
        root.fail(
            "no model: key",
            hint="e.g. `model: {estimator: sklearn.svm.SVC}`, or `command: python train.py`",
        )
    name = root.get("name")
    notes, code, evaluation = root.get("notes"), root.get("code"), root.get("evaluation")
    data_spec = _data(data)
    models = tuple(replace(m, origin=shown_path(path)) for m in _models(model))
    scored = _evaluation(evaluation) if evaluation is not None else EvaluationSpec()
    if scored.test_size is None and any(m.kind == "keras" for m in models):
        cv = evaluation.get("cv") if evaluation is not None else None
        if cv is not None:
            cv.fail(
                "Keras models are scored on a hold-out split, not cross-validation",
                hint="write evaluation: {split: {test_size: 0.2}}",
            )
        scored = replace(scored, cv=None, test_size=KERAS_TEST_SIZE)
    checks = root.get("checks")
    return Spec(
        path=path,
        data=data_spec,
        models=models,
        evaluation=scored,
        notes=_notes(notes) if notes is not None else {},
        code=code.strings("a glob or a list of globs") if code is not None else DEFAULT_CODE_GLOBS,
        document=plain(root),
        name=name.string() if name is not None else None,
        ignore_checks=_checks(checks) if checks is not None else (),
        lines=_lines(root),
    )


def _lines(root: _Node) -> dict[str, int]:
    """The line of every dotted key and list item of the document (``model.params.C``), so
    checks made after loading (with scikit-learn, on a cached spec) can name where they are."""
    out: dict[str, int] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        out.setdefault(node.key, node.line)
        if isinstance(node.value, Mapping):
            stack.extend(child for _, child in node.entries())
        elif isinstance(node.value, list):
            stack.extend(node.items())
    return out


def _checks(node: _Node) -> tuple[str, ...]:
    """``checks: {ignore: [JP003, ...]}``: pre-flight check codes to silence."""
    if node.value is None:
        return ()
    node.mapping("a mapping (ignore: [JP003, ...])")
    node.keys_within(("ignore",))
    ignore = node.get("ignore")
    if ignore is None or ignore.value is None:
        return ()
    codes = ignore.strings("a check code or a list of them")
    items = ignore.items() if isinstance(ignore.value, list) else [ignore]
    for code, item in zip(codes, items, strict=True):
        if not _CHECK_RE.fullmatch(code):
            item.fail(f"{code!r} is not a check code like JP003", hint="see docs/checks.md")
    return codes


def _notes(node: _Node) -> dict[str, str]:
    node.mapping("a mapping of notes (hypothesis: ..., procedure: ...)")
    out: dict[str, str] = {}
    for key, child in node.entries():
        if not isinstance(key, str):
            child.fail("a note's name must be a string")
        value = plain(child)
        if isinstance(value, dict | list):
            child.fail("a note must be text, not a mapping or a list")
        out[key] = "" if value is None else str(value)
    return out


# --- data -----------------------------------------------------------------------------------


DATA_FORMS = (
    "sklearn:NAME, a .csv/.tsv (or .csv.gz, ...)/.parquet/.pq/.npz path, or a mapping with "
    "sklearn, path "
    "(and target), X and y, or loader"
)


def _data(node: _Node) -> DataSpec:
    value = node.value
    if isinstance(value, str):
        return _data_string(node)
    if not isinstance(value, Mapping):
        node.fail(f"expected {DATA_FORMS}; got {_kind(value)}")
    if "sklearn" in value:
        node.keys_within(("sklearn",))
        return _sklearn_data(node.child("sklearn"), node.child("sklearn").string())
    if "loader" in value:
        return _loader_data(node)
    if "path" in value:
        return _path_data(node)
    if {"X", "x", "y"} & set(value):
        return _array_data(node)
    node.fail(f"cannot tell the kind of data; expected {DATA_FORMS}")


def _data_string(node: _Node) -> DataSpec:
    text = node.string()
    if text.startswith("sklearn:"):
        return _sklearn_data(node, text.removeprefix("sklearn:").strip())
    lower = text.lower()
    if table_format(text):
        return DataSpec(source="table", path=_repo_path(node, text))
    if lower.endswith(ARRAY_SUFFIXES):
        return DataSpec(source="arrays", path=_repo_path(node, text))
    node.fail(f"unknown data {text!r}; expected {DATA_FORMS}")


def _sklearn_data(node: _Node, name: str) -> DataSpec:
    name = name.removeprefix("load_")
    if not _DATASET_RE.fullmatch(name):
        node.fail(f"{name!r} is not a scikit-learn data set name (e.g. iris, wine, diabetes)")
    return DataSpec(source="sklearn", name=name)


def _path_data(node: _Node) -> DataSpec:
    path_node = node.child("path")
    text = path_node.string("a file path")
    lower = text.lower()
    if lower.endswith(ARRAY_SUFFIXES):
        node.keys_within(("path",))
        return DataSpec(source="arrays", path=_repo_path(path_node, text))
    suffix = table_format(text)
    if suffix is None:
        path_node.fail(
            f"unknown data file type {text!r}; expected .csv or .tsv (maybe compressed: .gz, "
            ".bz2, .xz, .zip), .parquet, .pq or .npz",
            hint="read other formats in a loader of your repository ({loader: prep:load, deps: "
            "[data/raw.xlsx]}); save a spreadsheet as CSV",
        )
    from gitlab_journal.spec.blocks import TABLE_KEYS, table_view

    node.keys_within(("path", "target", *TABLE_KEYS))
    target_node = node.get("target")
    target = None
    if target_node is not None and target_node.value is not None:
        if isinstance(target_node.value, int) and not isinstance(target_node.value, bool):
            target = str(target_node.value)
        else:
            target = target_node.string("a column name")
    return DataSpec(
        source="table",
        path=_repo_path(path_node, text),
        target=target,
        table=table_view(node, suffix),
    )


def _array_data(node: _Node) -> DataSpec:
    node.keys_within(("X", "x", "y"))
    if "X" in node.value and "x" in node.value:
        node.child("x").fail("give X or x, not both")
    x_node = node.get("X") or node.get("x")
    if x_node is None:
        node.fail("arrays need X (features) as well as y")
    y_node = node.get("y")
    if y_node is None:
        node.fail("arrays need y (targets) as well as X")
    x, y = (_npy(n) for n in (x_node, y_node))
    return DataSpec(source="arrays", x=x, y=y)


def _npy(node: _Node) -> str:
    text = node.string("a .npy file path")
    if not text.lower().endswith(".npy"):
        node.fail(f"expected a .npy file, got {text!r}")
    return _repo_path(node, text)


def _loader_data(node: _Node) -> DataSpec:
    node.keys_within(("loader", "deps", "args"))
    loader_node = node.child("loader")
    loader = loader_node.string("module:function")
    if not _CALLABLE_RE.fullmatch(loader):
        loader_node.fail(f"{loader!r} does not look like module:function (e.g. prep:load)")
    deps: tuple[str, ...] = ()
    deps_node = node.get("deps")
    if deps_node is not None and deps_node.value is not None:
        deps_node.strings("a path or a list of paths")
        items = deps_node.items() if isinstance(deps_node.value, list) else [deps_node]
        deps = tuple(_repo_path(item, item.string(), keep_dir=True) for item in items)
    args: dict[str, Any] = {}
    args_node = node.get("args")
    if args_node is not None and args_node.value is not None:
        args = plain(args_node.mapping("a mapping of keyword arguments"))
        for key, child in args_node.entries():
            if not isinstance(key, str) or not key.isidentifier():
                child.fail("an argument name must be a Python identifier")
    return DataSpec(source="loader", loader=loader, deps=deps, args=args)


def _repo_path(node: _Node, text: str, *, keep_dir: bool = False) -> str:
    """``text`` (relative to the spec's directory) as a POSIX path relative to the repository."""
    ctx = node.ctx
    raw = Path(text).expanduser() if text.startswith("~") else Path(text)
    full = Path(os.path.normpath(raw if raw.is_absolute() else ctx.spec_dir / raw))
    try:
        relative = full.relative_to(ctx.root)
    except ValueError:
        where = "is outside" if raw.is_absolute() else "escapes"
        node.fail(f"{text!r} {where} the repository ({ctx.root}); data must live inside it")
    posix = relative.as_posix()
    if posix in ("", "."):
        node.fail(f"{text!r} is the repository itself; name a file or a directory in it")
    if keep_dir and (text.endswith("/") or full.is_dir()):
        posix += "/"
    return posix


# --- models -----------------------------------------------------------------------------------


SKLEARN_KEYS = ("estimator", "params", "steps", "transform_output")
# What a model block's transformers hand on (scikit-learn's set_output): "default" (arrays) is
# the same experiment as saying nothing.
TRANSFORM_OUTPUTS = ("default", "pandas")
KERAS_KEYS = ("keras", "params", "compile", "fit")


def _models(node: _Node) -> tuple[ModelSpec, ...]:
    if isinstance(node.value, list):
        if not node.value:
            node.fail("an empty list of model blocks")
        return tuple(_model(item) for item in node.items())
    return (_model(node),)


def _model(node: _Node) -> ModelSpec:
    if isinstance(node.value, str):
        return ModelSpec(kind="sklearn", estimator=_estimator(node), line=node.line)
    node.mapping("a model block (estimator: ..., params: ...) or a list of them")
    if "keras" in node.value:
        if "estimator" in node.value:
            node.child("keras").fail("a model block has estimator or keras, not both")
        return _keras_model(node)
    return _sklearn_model(node)


def _estimator(node: _Node) -> str:
    text = node.string("an estimator import path")
    if not _ESTIMATOR_RE.fullmatch(text) and not _CALLABLE_RE.fullmatch(text):
        node.fail(
            f"{text!r} is not an import path like sklearn.svm.SVC",
            hint="write the module and the class, separated by dots",
        )
    return text


def _sklearn_model(node: _Node) -> ModelSpec:
    from gitlab_journal.spec.blocks import LIST_KEYS, constructor_lists

    node.keys_within((*SKLEARN_KEYS, *LIST_KEYS))
    steps_node = node.get("steps")
    estimator_node = node.get("estimator")
    if estimator_node is None:
        if steps_node is None:
            node.fail("a model block needs estimator: (or keras:)")
        estimator = "sklearn.pipeline.Pipeline"
    else:
        estimator = _estimator(estimator_node)
    grids = _grids(node.get("params"))
    steps: tuple[StepSpec, ...] = ()
    is_pipeline = estimator.rsplit(".", 1)[-1] == "Pipeline"
    if steps_node is not None:
        if not is_pipeline:
            steps_node.fail(f"steps are for a Pipeline, not {estimator}")
        steps, axes = _steps(steps_node)
        grids = _merge_axes(grids, axes, steps_node)
    elif is_pipeline:
        node.fail("a Pipeline needs steps: (a list of `- name: estimator.path`)")
    lists = constructor_lists(node)
    fixed: dict[str, Any] = {}
    output_node = node.get("transform_output")
    if output_node is not None:
        output = output_node.string("pandas or default")
        if output not in TRANSFORM_OUTPUTS:
            output_node.fail(
                f"{output!r} is not a transform output this takes",
                hint="transform_output: pandas (DataFrames between steps) or default (arrays)",
            )
        if output != "default":
            fixed["transform_output"] = output
    return ModelSpec(
        kind="sklearn",
        estimator=estimator,
        grids=grids,
        steps=steps,
        fixed=fixed,
        line=node.line,
        lists=lists,
    )


def _keras_model(node: _Node) -> ModelSpec:
    node.keys_within(KERAS_KEYS)
    keras_node = node.child("keras")
    build = keras_node.string("module:function")
    if not _CALLABLE_RE.fullmatch(build):
        keras_node.fail(f"{build!r} does not look like module:function (e.g. model:build)")
    grids = _grids(node.get("params"))
    fixed: dict[str, Any] = {}
    axes: dict[str, tuple[Any, ...]] = {}
    for section in ("compile", "fit"):
        section_node = node.get(section)
        if section_node is None or section_node.value is None:
            continue
        section_node.mapping(f"a mapping of {section} arguments")
        fixed[section] = _split_settings(section_node, section, axes)
    grids = _merge_axes(grids, axes, node)
    return ModelSpec(kind="keras", estimator=build, grids=grids, fixed=fixed, line=node.line)


def _split_settings(node: _Node, prefix: str, axes: dict[str, tuple[Any, ...]]) -> dict[str, Any]:
    """Split a compile/fit mapping into fixed values and grid axes under dotted keys."""
    fixed: dict[str, Any] = {}
    for key, child in node.entries():
        if not isinstance(key, str):
            child.fail("a setting's name must be a string")
        dotted = f"{prefix}.{key}"
        if _is_range(child.value):
            axes[dotted] = _axis(child)
        elif isinstance(child.value, Mapping):
            fixed[key] = _split_settings(child, dotted, axes)
        elif isinstance(child.value, list) and key not in PLAIN_LISTS:
            axes[dotted] = _axis(child)
        else:
            fixed[key] = plain(child)
    return fixed


def _steps(node: _Node) -> tuple[tuple[StepSpec, ...], dict[str, tuple[Any, ...]]]:
    """Pipeline steps; list-valued step params become grid axes named ``step__param``."""
    if not isinstance(node.value, list) or not node.value:
        node.fail("expected a list of steps (`- scale: sklearn.preprocessing.StandardScaler`)")
    steps: list[StepSpec] = []
    axes: dict[str, tuple[Any, ...]] = {}
    for item in node.items():
        if not isinstance(item.value, Mapping) or len(item.value) != 1:
            item.fail("a step is one `name: estimator.path` pair")
        ((name, value_node),) = item.entries()
        if not isinstance(name, str) or not name.isidentifier() or "__" in name:
            value_node.fail("a step name must be an identifier without '__'")
        if any(step.name == name for step in steps):
            value_node.fail(f"step {name!r} appears twice")
        step, step_axes = _step(name, value_node)
        steps.append(step)
        axes.update(step_axes)
    return tuple(steps), axes


def _step(name: str, node: _Node) -> tuple[StepSpec, dict[str, tuple[Any, ...]]]:
    if node.value is None or node.value == "passthrough":
        return StepSpec(name=name, estimator=None), {}
    if isinstance(node.value, str):
        return StepSpec(name=name, estimator=_estimator(node)), {}
    from gitlab_journal.spec.blocks import LIST_KEYS, constructor_lists

    node.mapping("an estimator path, passthrough, or {estimator: ..., params: ...}")
    node.keys_within(("estimator", "params", *LIST_KEYS))
    estimator_node = node.get("estimator")
    if estimator_node is None:
        node.fail("a step mapping needs estimator:")
    params: dict[str, Any] = {}
    axes: dict[str, tuple[Any, ...]] = {}
    params_node = node.get("params")
    if params_node is not None and params_node.value is not None:
        params_node.mapping("a mapping of parameters")
        for key, child in params_node.entries():
            _param_name(key, child)
            if isinstance(child.value, list) or _is_range(child.value):
                axes[f"{name}__{key}"] = _axis(child)
            else:
                params[key] = _frozen(plain(child))
    lists = constructor_lists(node)
    return StepSpec(
        name=name, estimator=_estimator(estimator_node), params=params, lists=lists
    ), axes


def _grids(node: _Node | None) -> tuple[dict[str, tuple[Any, ...]], ...]:
    """``params``: a mapping (one grid) or a list of mappings (several), as ParameterGrid."""
    if node is None or node.value is None:
        return ({},)
    if isinstance(node.value, list):
        if not node.value:
            node.fail("an empty list of grids")
        return tuple(_grid(item) for item in node.items())
    return (_grid(node),)


def _grid(node: _Node) -> dict[str, tuple[Any, ...]]:
    node.mapping("a mapping of parameters (a list value is a grid axis)")
    grid: dict[str, tuple[Any, ...]] = {}
    for key, child in node.entries():
        grid[_param_name(key, child)] = _axis(child)
    return grid


def _param_name(key: Any, node: _Node) -> str:
    if not isinstance(key, str) or not key:
        node.fail("a parameter name must be a string")
    return key


def _axis(node: _Node) -> tuple[Any, ...]:
    """A list is the axis's candidates; a range (``{low: .., high: ..}``) is one Distribution
    (searched by ``run --search``); anything else is a one-value axis."""
    if _is_range(node.value):
        return (_range(node),)
    if isinstance(node.value, list):
        if not node.value:
            node.fail(
                "an empty grid list has no candidates",
                hint="give at least one value; write [[]] for one empty-list value",
            )
        return tuple(_frozen(plain(item)) for item in node.items())
    return (_frozen(plain(node)),)


RANGE_KEYS = ("low", "high", "log", "step")


def _is_range(value: Any) -> bool:
    """A mapping of only range keys, with ``low`` or ``high``: a search range, not a value."""
    return (
        isinstance(value, Mapping)
        and bool(value)
        and all(isinstance(k, str) and k in RANGE_KEYS for k in value)
        and ("low" in value or "high" in value)
    )


def _range(node: _Node) -> Distribution:
    """``{low, high, log?, step?}``: an int range when low, high (and step) are integers."""
    bounds: list[float] = []
    for key in ("low", "high"):
        child = node.get(key)
        if child is None:
            node.fail(f"a range needs {key} as well", hint="e.g. {low: 1e-4, high: 100, log: true}")
        if isinstance(child.value, bool) or not isinstance(child.value, int | float):
            child.fail(f"expected a number, got {_kind(child.value)}")
        bounds.append(child.value)
    low, high = bounds
    log_node, step_node = node.get("log"), node.get("step")
    log = log_node.boolean() if log_node is not None else False
    step: float | None = None
    if step_node is not None:
        value = step_node.value
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            step_node.fail(f"expected a positive number, got {_kind(value)}")
        if log:
            step_node.fail("a range takes log or step, not both")
        step = value
    integer = all(isinstance(v, int) for v in (low, high, step if step is not None else 0))
    if not low < high:
        node.fail(f"low ({low}) must be below high ({high})")
    if log and low <= 0:
        node.fail(f"a log range needs low above 0, got {low}")
    return Distribution(
        low=int(low) if integer else float(low),
        high=int(high) if integer else float(high),
        log=log,
        step=None if step is None else (int(step) if integer else float(step)),
        integer=integer,
        key=node.key,
        line=node.line,
    )


def _merge_axes(
    grids: tuple[dict[str, tuple[Any, ...]], ...],
    axes: Mapping[str, tuple[Any, ...]],
    node: _Node,
) -> tuple[dict[str, tuple[Any, ...]], ...]:
    """Add the same extra axes to every grid; an axis given twice is an error."""
    if not axes:
        return grids
    for grid in grids:
        for key in axes:
            if key in grid:
                node.fail(f"{key} is set both in params and here")
    return tuple({**grid, **axes} for grid in grids)


# --- evaluation -------------------------------------------------------------------------------


def _evaluation(node: _Node) -> EvaluationSpec:
    if node.value is None:
        return EvaluationSpec()
    node.mapping("a mapping (cv or split, scoring, seed)")
    node.keys_within(("cv", "split", "scoring", "seed"))
    cv_node, split_node = node.get("cv"), node.get("split")
    if cv_node is not None and split_node is not None:
        split_node.fail("give either cv or split, not both")
    cv: int | None = DEFAULT_FOLDS
    shuffle = False
    test_size: float | None = None
    stratify: bool | None = None
    if cv_node is not None:
        cv, shuffle = _cv(cv_node)
    if split_node is not None:
        cv = None
        test_size, stratify = _split(split_node)
    scoring_node, seed_node = node.get("scoring"), node.get("seed")
    scoring: tuple[str, ...] = ()
    if scoring_node is not None and scoring_node.value is not None:
        scoring = scoring_node.strings("a scorer name or a list of them")
    seed = None
    if seed_node is not None and seed_node.value is not None:
        seed = seed_node.integer(minimum=0)
    return EvaluationSpec(
        cv=cv, shuffle=shuffle, test_size=test_size, stratify=stratify, scoring=scoring, seed=seed
    )


def _cv(node: _Node) -> tuple[int, bool]:
    if not isinstance(node.value, Mapping):
        return node.integer(minimum=2), False
    node.keys_within(("folds", "shuffle"))
    folds_node, shuffle_node = node.get("folds"), node.get("shuffle")
    folds = folds_node.integer(minimum=2) if folds_node is not None else DEFAULT_FOLDS
    shuffle = shuffle_node.boolean() if shuffle_node is not None else False
    return folds, shuffle


def _split(node: _Node) -> tuple[float, bool | None]:
    if isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return _test_size(node), None
    node.mapping("a mapping {test_size: 0.25, stratify: true}")
    node.keys_within(("test_size", "stratify"))
    size_node, stratify_node = node.get("test_size"), node.get("stratify")
    if size_node is None:
        node.fail("a split needs test_size (a fraction like 0.25, or a count)")
    stratify = None
    if stratify_node is not None and stratify_node.value is not None:
        stratify = stratify_node.boolean()
    return _test_size(size_node), stratify


def _test_size(node: _Node) -> float:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        node.fail(f"expected a fraction between 0 and 1 or a count, got {_kind(value)}")
    if isinstance(value, int):
        if value < 1:
            node.fail(f"a test_size count must be at least 1, got {value}")
        return int(value)
    if not 0.0 < value < 1.0:
        node.fail(f"a test_size fraction must be between 0 and 1 (exclusive), got {value}")
    return float(value)
