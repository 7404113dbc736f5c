"""Fingerprint every point of a spec and look each up in the journal, without training.

Resolving an estimator's defaults needs scikit-learn, which costs seconds to import; the resolved
identity of each (model block, point, seed, library version) is therefore cached under
``.git/journal/resolved.json``, so `check` and the hooks stay fast once a spec has been seen.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gitlab_journal.cachefiles import write_cache
from gitlab_journal.code.state import code_state
from gitlab_journal.data.hashing import data_hashes, hash_cache
from gitlab_journal.data.header import table_target
from gitlab_journal.journal.identity import (
    canonical_json,
    fingerprint,
    fingerprint_of_text,
    normalise,
)
from gitlab_journal.journal.records import UNFINISHED, CodeState, Run
from gitlab_journal.journal.store import Store
from gitlab_journal.spec.model import DEFAULT_MAX_POINTS, EvaluationSpec, ModelSpec, Point, Spec

RESOLVED_CACHE = "resolved.json"


@dataclass(frozen=True)
class Planned:
    """One grid point, fingerprinted, with the runs the journal already holds for it."""

    point: Point
    model: str
    params: Mapping[str, Any]
    identity: Mapping[str, Any]
    fingerprint: str
    earlier: tuple[Run, ...]

    @property
    def latest(self) -> Run | None:
        """The run that says where the point stands: the last recorded; of runs recorded in
        the same second, a finished one rather than an interrupted one (the run that trains
        an interrupted point again starts after it)."""
        if not self.earlier:
            return None
        return max(self.earlier, key=lambda run: (run.created, run.status not in UNFINISHED))


@dataclass(frozen=True)
class Plan:
    """A spec's grid, fingerprinted against the data and code as they are now (the work
    tree's, or the staged ones for the hooks)."""

    spec: Spec
    root: Path
    data: Mapping[str, str]
    code: CodeState
    points: tuple[Planned, ...]
    # what every run of the plan records in its warnings (a header that names a column twice)
    warnings: tuple[str, ...] = ()

    def pending(self, force: bool = False, retry: frozenset[str] = frozenset()) -> list[Planned]:
        """The points to train: new ones, all with ``force``, those whose latest run was
        stopped before it ended (``UNFINISHED``), and those whose latest run has a status in
        ``retry``."""
        again = retry | UNFINISHED
        return [p for p in self.points if force or p.latest is None or p.latest.status in again]

    def done(self) -> list[Planned]:
        """The points the journal holds a result of (a latest run that was not stopped)."""
        return [
            p for p in self.points if p.latest is not None and p.latest.status not in UNFINISHED
        ]


def evaluation_identity(evaluation: EvaluationSpec) -> dict[str, Any]:
    """The protocol part of identity: computable without scikit-learn.

    The splitter class (stratified or not) is a function of the estimator and the data, which
    identity holds already, so only the settings are recorded here.
    """
    scoring = sorted(evaluation.scoring)
    if evaluation.test_size is not None:
        return {
            "split": {"test_size": evaluation.test_size, "stratify": evaluation.stratify},
            "scoring": scoring,
            "seed": evaluation.seed,
        }
    return {
        "cv": {"folds": evaluation.cv, "shuffle": evaluation.shuffle},
        "scoring": scoring,
        "seed": evaluation.seed,
    }


_VERSION_LINE = re.compile(rb"""^__version__\s*=\s*["']([^"']+)["']""", re.MULTILINE)


# By back end, set or changed when its identity of the same block and point changes, so that
# no identity resolved by the rules before is read back from resolved.json ("command" 2: a
# command's template with ``--key={key}`` spelled ``--key {key}``, and its directory).
RESOLVE_RULES = {"command": "2"}


@functools.cache
def _library_version(kind: str) -> str:
    """The back end library's version, for the resolve cache's key, found without importing
    the library or importlib.metadata (each costs tens of milliseconds on `check`'s path): the
    ``__version__`` its ``__init__.py`` declares, else that file's size and mtime."""
    import importlib.util

    found = importlib.util.find_spec({"custom": "gitlab_journal"}.get(kind, kind))
    if found is None or found.origin is None:
        return "absent"
    try:
        head = Path(found.origin).read_bytes()[:65536]
        match = _VERSION_LINE.search(head)
        if match:
            return match.group(1).decode()
        info = os.stat(found.origin)
    except OSError:
        return "unknown"
    return f"{info.st_size}:{info.st_mtime_ns}"


class Resolver:
    """Resolved model identities, cached by model block, point, seed and library version."""

    def __init__(
        self,
        path: Path | None,
        *,
        root: Path | None = None,
        code: Mapping[str, str] | None = None,
    ):
        self.path = path
        self.root = root
        # Model code from the user's repository (a Keras builder) shapes the resolved identity:
        # such kinds are cached by the code dependencies and the back end's input files too.
        self.code = dict(code or {})
        self.entries: dict[str, dict[str, Any]] = {}
        self.changed = False
        # Each model block's part of the key, made once: a block holds its whole grid, and
        # copying that for every point made planning a long axis quadratic.
        self._blocks: dict[int, tuple[ModelSpec, dict[str, Any], dict[str, Any]]] = {}
        if path is not None:
            try:
                loaded = json.loads(path.read_text())
                if isinstance(loaded, dict):
                    self.entries = loaded
            except (OSError, ValueError):
                self.entries = {}

    def key(self, model: ModelSpec, params: Mapping[str, Any], seed: int | None) -> str:
        block, inputs = self._block(model)
        key = {
            "block": block,
            "point": dict(params),
            "seed": seed,
            "version": _library_version(model.kind),
            "inputs": inputs,
        }
        rules = RESOLVE_RULES.get(model.kind)
        if rules is not None:  # the back ends whose identities changed; others keep their keys
            key["rules"] = rules
        return fingerprint_of_text(canonical_json(key))

    def _block(self, model: ModelSpec) -> tuple[dict[str, Any], dict[str, Any]]:
        """The model block as the key holds it (without its grids), and its code inputs: made
        once per block (as the code is read once per plan)."""
        known = self._blocks.get(id(model))
        if known is not None and known[0] is model:
            return known[1], known[2]
        block = {k: v for k, v in asdict(model).items() if k not in ("grids", "line")}
        inputs = self._inputs(model)
        self._blocks[id(model)] = (model, block, inputs)
        return block, inputs

    def _own_code(self, model: ModelSpec) -> bool:
        """Whether the model names a factory, or an estimator class of the repository."""
        if model.factories():
            return True
        if self.root is None:
            return False
        from gitlab_journal.userimport import module_of, owns

        return any(owns(self.root, module_of(path)) for path in model.import_paths())

    def _inputs(self, model: ModelSpec) -> dict[str, Any]:
        if model.kind == "sklearn" and not self._own_code(model):
            return {}  # estimators from installed libraries only
        from gitlab_journal.train.backend import backend_for

        listed = getattr(backend_for(model), "cache_inputs", None)
        files: dict[str, str] = {}
        if listed is not None and self.root is not None:
            for relpath in listed(model):
                path = self.root / relpath
                if path.is_file():
                    files[relpath] = hashlib.sha256(path.read_bytes()).hexdigest()
        return {"files": files, "code": self.code}

    def resolve(
        self, model: ModelSpec, params: Mapping[str, Any], seed: int | None
    ) -> tuple[str, Mapping[str, Any], Mapping[str, Any]]:
        """(public model path, model identity, display params)."""
        key = self.key(model, params, seed)
        hit = self.entries.get(key)
        if hit is None:
            from gitlab_journal.train.backend import backend_for

            resolved = backend_for(model).resolve(model, params, seed, root=self.root)
            hit = {
                "model": resolved.model,
                "identity": normalise(resolved.identity),
                "params": normalise(resolved.params),
            }
            self.entries[key] = hit
            self.changed = True
        return hit["model"], hit["identity"], hit["params"]

    def save(self) -> None:
        if self.path is None or not self.changed:
            return
        write_cache(self.path, json.dumps(self.entries).encode("utf-8"))
        self.changed = False


class Planner:
    """Fingerprints points of one spec: the data is hashed and the code read once, the model
    identities resolved through a :class:`Resolver`. ``make_plan`` plans a grid with it; a
    search plans one sampled point at a time (``cache_resolved=False``: sampled points are not
    worth keeping in ``resolved.json``, which the hooks read)."""

    def __init__(
        self,
        store: Store,
        spec: Spec,
        *,
        staged: bool = False,
        cache_resolved: bool = True,
        code: CodeState | None = None,
        data: Callable[[], Mapping[str, str]] | None = None,
        header: Callable[[str], bytes | None] | None = None,
        preload: bool = False,
        warn: bool = True,
    ):
        self.store = store
        self.spec = spec
        self.tree = store.require().tree
        self.root = store.workdir or spec.path.parent
        cache_dir = store.cache_dir()
        cache = hash_cache(cache_dir)
        reading = None
        if data is None and preload and not _hash_cached(self.root, spec, cache):
            from gitlab_journal.data.loaders import preload_table

            reading = preload_table(self.root, spec.data)  # read while it is hashed
        try:
            # ``data``: what gives the data hashes to fingerprint with (say, the staged
            # data's), instead of the work tree's.
            self.data = (
                dict(data()) if data is not None else data_hashes(self.root, spec.data, cache)
            )
        finally:
            if reading is not None:
                reading.join()
        # Every column the spec names is checked against the table's header before anything
        # trains; a target other than the last column (the default) is part of the identity.
        # ``header``: what gives the table's bytes to read it from (say, the staged blob's),
        # instead of the work tree's file.
        checked = table_target(spec, self.root, header)
        target = checked.target
        self.warnings = tuple(checked.warnings)
        if warn and checked.warnings:
            for line in checked.warnings:
                print(f"warning: {line}", file=sys.stderr)
            print(f"hint: {checked.hint}", file=sys.stderr)
        self.table = dict(spec.data.view())
        if target is not None:
            self.table["target"] = target
        # ``code``: the code state to fingerprint with (say, HEAD's), instead of the work
        # tree's (or, ``staged``, the index's).
        self.code = code if code is not None else code_state(store.repo, spec.code, staged=staged)
        self.resolver = Resolver(
            cache_dir / RESOLVED_CACHE if cache_resolved else None,
            root=self.root,
            code=self.code.files,
        )
        self.evaluation = evaluation_identity(spec.evaluation)

    def plan(self, point: Point, *, fresh: bool = False) -> Planned:
        """``point`` fingerprinted, with its earlier runs (``fresh``: as of the journal's tip
        now, not when the planner started)."""
        model, model_identity, params = self.resolver.resolve(
            point.model, point.params, self.spec.evaluation.seed
        )
        identity = {
            "model": model_identity,
            "data": dict(self.data),
            "evaluation": self.evaluation,
            "code": {"files": dict(self.code.files)},
        }
        if self.table:  # a table's target, column selection and parsing options
            identity["table"] = dict(self.table)
        fp = fingerprint(identity)
        if fresh:
            self.tree = self.store.require().tree
        found = self.store.find(fp, self.tree)
        legacy = legacy_identity(identity, point.model)
        if legacy is not None:  # runs recorded before both option spellings were one
            found += self.store.find(fingerprint(legacy), self.tree)
            found.sort(key=lambda run: (run.created, run.id))
        return Planned(point, model, params, identity, fp, tuple(found))

    def as_plan(self, points: Sequence[Planned] = ()) -> Plan:
        self.resolver.save()
        return Plan(
            spec=self.spec,
            root=self.root,
            data=self.data,
            code=self.code,
            points=tuple(points),
            warnings=self.warnings,
        )


def legacy_identity(identity: Mapping[str, Any], model: ModelSpec) -> dict[str, Any] | None:
    """For a command written with ``--key={key}``: the identity its runs had when the
    template was kept as written (the same experiment, found under that fingerprint too: by
    the plan, and by `rerun`, whose reproduction of such a run is spelled as its record);
    None for any other model."""
    block = identity["model"]
    if model.kind != "command" or block.get("command") == model.estimator:
        return None
    return {**identity, "model": {**block, "command": model.estimator}}


def _hash_cached(root: Path, spec: Spec, cache: Any) -> bool:
    """Whether the hash cache knows every input of a table as it is now (nothing to read)."""
    if spec.data.source != "table" or cache is None:
        return True
    for relpath in spec.data.inputs():
        path = Path(root) / relpath
        try:
            if cache.get(path, path.stat()) is None:
                return False
        except OSError:
            return True  # missing: hashing reports it
    return True


def make_plan(
    store: Store,
    spec: Spec,
    *,
    staged: bool = False,
    code: CodeState | None = None,
    data: Callable[[], Mapping[str, str]] | None = None,
    header: Callable[[str], bytes | None] | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
    preload: bool = False,
    warn: bool = True,
) -> Plan:
    """Fingerprint every point of ``spec`` and find the journal's earlier runs of each; a grid
    of more than ``max_points`` is refused before anything is hashed.

    ``code`` and ``data``: the code state, and what gives the data hashes (called once the
    grid is known not to be too large), to fingerprint with instead of the work tree's
    (``staged``: the code as staged). ``header``: what gives a table's bytes as the commit
    holds it (None: the work tree's file), to read the header its columns are checked against.

    ``preload``: a table not hashed before is read in a thread while it is hashed, for this
    process's next load of it (a run that trains here, or `check`'s table checks). ``warn``:
    say the plan's warnings on stderr (each run of it records them too)."""
    points = spec.points(max_points)  # a spec it cannot expand fails before any data is hashed
    planner = Planner(
        store, spec, staged=staged, code=code, data=data, header=header, preload=preload, warn=warn
    )
    return planner.as_plan([planner.plan(point) for point in points])
