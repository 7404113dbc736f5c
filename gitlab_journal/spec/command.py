"""A command as an experiment: a spec naming ``command`` instead of ``model``, and the ad-hoc
``git journal run -- python train.py --lr 0.1`` form.

Both become a :class:`Spec` with one model block of kind ``command``: ``estimator`` holds the
command template (``python train.py --lr {lr}``), the grids its params, and ``fixed`` the
metrics source and the timeout. Data is a list of files or folders the command reads, hashed as
DVC hashes them (``DataSpec(source="files")``).
"""

from __future__ import annotations

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

COMMAND_KEYS = ("name", "command", "params", "data", "code", "metrics", "timeout", "notes")
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


def adhoc_document(
    argv: Sequence[str], *, data: Sequence[str] = (), metrics: str | None = None
) -> dict[str, Any]:
    """The spec document of an ad-hoc command: each ``--key value`` and ``--key=value``
    argument becomes a param and a ``{key}`` placeholder, so the same script with other values
    is another point of the same experiment."""
    if not argv:
        raise JournalError("no command after --", hint="e.g. git journal run -- python train.py")
    words: list[str] = []
    params: dict[str, Any] = {}
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        key, value = _option(arg, args[i + 1] if i + 1 < len(args) else None)
        if key is None or key in params:
            words.append(_literal(arg))
            i += 1
            continue
        params[key] = _number(value)
        placeholder = "{" + key + "}"
        words.append(f"--{key}={placeholder}" if "=" in arg else f"--{key} {placeholder}")
        i += 1 if "=" in arg else 2
    doc: dict[str, Any] = {"command": " ".join(words)}
    if params:
        doc["params"] = params
    if data:
        doc["data"] = list(data)
    if metrics:
        doc["metrics"] = metrics
    return doc


_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


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


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text
