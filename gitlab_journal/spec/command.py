"""A command as an experiment: a spec naming ``command`` instead of ``model``, and the ad-hoc
``git journal run -- python train.py --lr 0.1`` form.

Both become a :class:`Spec` with one model block of kind ``command``: ``estimator`` holds the
command template (``python train.py --lr {lr}``), the grids its params, and ``fixed`` the
metrics source and the timeout. Data is a list of files or folders the command reads, hashed as
DVC hashes them (``DataSpec(source="files")``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitlab_journal.errors import JournalError
from gitlab_journal.spec.model import (
    DEFAULT_CODE_GLOBS,
    DataSpec,
    EvaluationSpec,
    ModelSpec,
    Spec,
    shown_path,
)

if TYPE_CHECKING:
    from gitlab_journal.spec.load import _Node

COMMAND_KEYS = (
    "name",
    "command",
    "directory",
    "params",
    "data",
    "code",
    "metrics",
    "timeout",
    "notes",
)
DEFAULT_METRICS = "metrics.json"
# Where the spec of `git journal run -- COMMAND` is said to sit (it is never written there; each
# run keeps it as spec.yaml, which `rerun` runs).
ADHOC_SPEC = "journal-command.yaml"
PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
# A command run has no cross-validation: its evaluation is whatever the command does.
COMMAND_EVALUATION = EvaluationSpec(cv=None)


def placeholders(template: str) -> list[str]:
    """The ``{name}`` placeholders of a command template (``{{``/``}}`` are literal braces)."""
    return [m.group(1) for m in PLACEHOLDER.finditer(template) if m.group(1) is not None]


# ``--key={name}`` as one word of a command template (``{{`` is a literal brace, never a
# placeholder): the same option and value as ``--key {name}``.
_JOINED_OPTION = re.compile(r"(?<!\S)(--[A-Za-z_][A-Za-z0-9_-]*)=(\{[^{}\s]+\})(?!\S)")


def command_template(template: str) -> str:
    """The spelling of a command template in its experiment's identity: each ``--key={name}``
    word written ``--key {name}``, as both give the option the same value (the command still
    runs as written)."""
    return _JOINED_OPTION.sub(r"\1 \2", template)


def substitute(template: str, params: Mapping[str, Any]) -> str:
    """The template with each ``{name}`` replaced by its shell-quoted value."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "{{":
            return "{"
        if match.group(0) == "}}":
            return "}"
        return shlex.quote(_text(params[match.group(1)]))

    return PLACEHOLDER.sub(one, template)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def command_spec(root: _Node, path: Path) -> Spec:
    """The spec document at ``root`` (which has ``command``) as a spec of one command block."""
    from gitlab_journal.spec.load import _grids, _lines, _notes, _repo_path, plain

    root.keys_within(COMMAND_KEYS)
    command_node = root.child("command")
    template = command_node.string("a command line, e.g. python train.py --lr {lr}")
    grids = _grids(root.get("params"))
    known = {key for grid in grids for key in grid}
    for name in placeholders(template):
        if name not in known:
            command_node.fail(
                f"{{{name}}} is not among the params",
                hint=f"params: {', '.join(sorted(known)) or 'none'}; write {{{{ for a literal {{",
            )
    for grid in grids:
        for key, axis in grid.items():
            if any(isinstance(value, Mapping) and "low" in value for value in axis):
                continue
            if any(isinstance(value, Mapping | list | tuple) for value in axis):
                root.child("params").fail(
                    f"{key}: a command's param is a number, a string or a boolean"
                )
    deps: tuple[str, ...] = ()
    data_node = root.get("data")
    if data_node is not None and data_node.value is not None:
        data_node.strings("a path or a list of paths the command reads")
        items = data_node.items() if isinstance(data_node.value, list) else [data_node]
        deps = tuple(_repo_path(item, item.string(), keep_dir=True) for item in items)
    fixed: dict[str, Any] = {"metrics": _metrics(root.get("metrics"))}
    directory = _directory(root.get("directory"))
    if directory:
        fixed["directory"] = directory
    timeout_node = root.get("timeout")
    if timeout_node is not None and timeout_node.value is not None:
        value = timeout_node.value
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            timeout_node.fail("expected a positive number of seconds")
        fixed["timeout"] = float(value)
    code_node, name_node, notes = root.get("code"), root.get("name"), root.get("notes")
    model = ModelSpec(
        kind="command",
        estimator=template,
        grids=grids,
        fixed=fixed,
        line=command_node.line,
        origin=shown_path(path),
    )
    return Spec(
        path=path,
        data=DataSpec(source="files", deps=deps),
        models=(model,),
        evaluation=COMMAND_EVALUATION,
        notes=_notes(notes) if notes is not None else {},
        code=code_node.strings("a glob or a list of globs")
        if code_node is not None
        else DEFAULT_CODE_GLOBS,
        document=plain(root),
        name=name_node.string() if name_node is not None else None,
        lines=_lines(root),
    )


def _directory(node: _Node | None) -> str:
    """``directory:``, the folder the command runs in (relative to the spec's folder, inside
    the repository), as a POSIX path from the repository's root; "" for the root itself."""
    if node is None or node.value is None:
        return ""
    text = node.string("a folder of the repository, relative to the spec's folder")
    ctx = node.ctx
    full = Path(os.path.normpath(Path(text) if Path(text).is_absolute() else ctx.spec_dir / text))
    try:
        relative = full.relative_to(ctx.root).as_posix()
    except ValueError:
        node.fail(f"{text!r} is not inside the repository ({ctx.root})")
    if not full.is_dir():
        node.fail(f"{text!r}: no such folder ({full})")
    return "" if relative == "." else relative


def _metrics(node: _Node | None) -> dict[str, str]:
    """``metrics: FILE`` (a JSON file of flat names to numbers) or ``{dvclive: DIR}``."""
    if node is None or node.value is None:
        return {"file": DEFAULT_METRICS}
    if isinstance(node.value, str):
        text = node.string()
        if not text.endswith(".json") or text.startswith("/") or ".." in Path(text).parts:
            node.fail(f"expected a relative .json file name, got {text!r}")
        return {"file": text}
    node.mapping("a .json file name or {dvclive: DIR}")
    node.keys_within(("dvclive",))
    folder = node.child("dvclive").string("DVCLive's output folder (default dvclive)")
    if folder.startswith("/") or ".." in Path(folder).parts:
        node.child("dvclive").fail(f"expected a folder inside the repository, got {folder!r}")
    return {"dvclive": folder.rstrip("/")}


# --- `git journal run -- COMMAND ARGS...` -----------------------------------------------------

# What messages about an ad-hoc command name instead of a file and line.
ADHOC_SHOWN = "the command"


def adhoc_document(
    argv: Sequence[str], *, data: Sequence[str] = (), metrics: str | None = None
) -> dict[str, Any]:
    """The spec document of an ad-hoc command: each ``--key value`` and ``--key=value``
    argument becomes a param and a ``{key}`` placeholder, so the same script with other values
    is another point of the same experiment.

    The command runs exactly as typed: a value is a number param only when it is that number's
    own text (``0.1``, ``3``, ``-2``), else the text typed (``1.10``, ``0001``, ``1e3``,
    ``inf``). An option given more than once has its last value as the param, as argparse
    reads it; its earlier occurrences stay words of the command."""
    if not argv:
        raise JournalError("no command after --", hint="e.g. git journal run -- python train.py")
    options = _options(list(argv))
    last = {key: index for index, (_, key, _, _) in enumerate(options) if key is not None}
    words: list[str] = []
    params: dict[str, Any] = {}
    for index, (typed, key, value, joined) in enumerate(options):
        if key is None or last[key] != index:
            words.extend(_literal(word) for word in typed)
            continue
        params[key] = param_value(value)
        placeholder = "{" + key + "}"
        words.append(f"--{key}={placeholder}" if joined else f"--{key} {placeholder}")
    doc: dict[str, Any] = {"command": " ".join(words)}
    if params:
        doc["params"] = params
    if data:
        doc["data"] = list(data)
    if metrics:
        doc["metrics"] = metrics
    return doc


_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def _options(args: list[str]) -> list[tuple[list[str], str | None, str, bool]]:
    """The command's words in groups: (the words typed, the option's key or None for a plain
    word, its value, whether it was typed ``--key=value``)."""
    out: list[tuple[list[str], str | None, str, bool]] = []
    i = 0
    while i < len(args):
        arg = args[i]
        key, value = _option(arg, args[i + 1] if i + 1 < len(args) else None)
        if key is None:
            out.append(([arg], None, "", False))
            i += 1
        elif "=" in arg:
            out.append(([arg], key, value, True))
            i += 1
        else:
            out.append(([arg, value], key, value, False))
            i += 2
    return out


def _option(arg: str, following: str | None) -> tuple[str | None, str]:
    if not arg.startswith("--") or arg == "--":
        return None, ""
    body = arg[2:]
    if "=" in body:
        key, value = body.split("=", 1)
        return (key, value) if _KEY.fullmatch(key) else (None, "")
    if not _KEY.fullmatch(body) or following is None or following.startswith("--"):
        return None, ""  # a flag without a value stays part of the command
    return body, following


def _literal(word: str) -> str:
    return shlex.quote(word).replace("{", "{{").replace("}", "}}")


def param_value(text: str) -> int | float | str:
    """A typed value as a param: the number when ``text`` is the number's own text, the one
    it is written back as (``3``, ``-2``, ``0.1``, ``1e-05``); else the text itself
    (``0001``, ``1.10``, ``1e3``, ``+3``, ``1_000``, ``inf``, ``nan``), which the command
    receives unchanged and which is another value than any number."""
    number: int | float
    try:
        number = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            return text
    if isinstance(number, float) and not math.isfinite(number):
        return text
    return number if _text(number) == text else text


def adhoc_spec(
    argv: Sequence[str],
    root: Path,
    *,
    data: Sequence[str] = (),
    metrics: str | None = None,
    cwd: Path | None = None,
) -> Spec:
    """The spec of `git journal run -- COMMAND ARGS...` in the repository at ``root``: one
    point, its params parsed from the command's ``--key value`` arguments; its messages name
    the command (and ``--data``, ``--metrics``), never a file and line.

    Typed in ``cwd``, a folder of the repository, the command runs there (``directory``) and
    its ``--data`` paths are read from there, as any command typed there would."""
    from gitlab_journal.spec.load import load_spec_document

    top = Path(os.path.normpath(root.absolute()))
    inside = Path(os.path.normpath(cwd.absolute())) if cwd is not None else top
    directory = ""
    if inside != top and inside.is_relative_to(top):
        directory = inside.relative_to(top).as_posix()
        # each path as typed there, written from the repository's root (as the spec keeps it)
        data = [_from_root(path, inside, top) for path in data]
    doc = adhoc_document(argv, data=data, metrics=metrics)
    if directory:
        doc["directory"] = directory
    try:
        spec = load_spec_document(doc, root / ADHOC_SPEC, ADHOC_SHOWN)
    except JournalError as exc:
        raise JournalError(
            _adhoc_message(exc.message), hint=exc.hint, exit_code=exc.exit_code
        ) from exc
    fields = {field.name: getattr(spec, field.name) for field in dataclasses.fields(spec)}
    fields["models"] = tuple(
        dataclasses.replace(model, origin=ADHOC_SHOWN) for model in spec.models
    )
    return AdhocSpec(**fields)


def _from_root(path: str, cwd: Path, top: Path) -> str:
    """``path``, typed in ``cwd``, relative to the repository's root ``top`` (as typed when it
    leaves the repository: the spec's check then says so)."""
    full = Path(os.path.normpath(cwd / Path(path).expanduser()))
    if not full.is_relative_to(top):
        return path
    relative = full.relative_to(top).as_posix()
    return relative + "/" if path.endswith("/") and relative != "." else relative


class AdhocSpec(Spec):
    """The spec of an ad-hoc command, which sits in no file: a key is located by what was
    typed (the command, its ``--key``, ``--data`` or ``--metrics``)."""

    def where(self, key: str, default: int = 1) -> str:
        return adhoc_where(key)


def adhoc_where(key: str) -> str:
    """How a message names a dotted key of an ad-hoc command's spec."""
    head, _, rest = key.partition(".")
    if head == "command" or (head == "params" and not rest):
        return ADHOC_SHOWN
    if head == "params":
        return f"{ADHOC_SHOWN}: --{rest}"
    if head in ("data", "metrics"):
        return f"{ADHOC_SHOWN}: --{head}"
    return f"{ADHOC_SHOWN}: {key}"


_LOCATED = re.compile(re.escape(ADHOC_SHOWN) + r":\d+: (?:([^\s:]+): )?")


def _adhoc_message(message: str) -> str:
    """A message of the spec loader (``the command:1: data.0: ...``) as ``adhoc_where`` names
    the key."""
    match = _LOCATED.match(message)
    if match is None:
        return message
    named = adhoc_where(match.group(1)) if match.group(1) else ADHOC_SHOWN
    return f"{named}: {message[match.end() :]}"
