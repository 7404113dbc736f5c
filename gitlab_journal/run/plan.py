"""Fingerprint every point of a spec and look each up in the journal, without training.

Resolving an estimator's defaults needs scikit-learn, which costs seconds to import; the resolved
identity of each (model block, point, seed, library version) is therefore cached under
``.git/journal/resolved.json``, so `check` and the hooks stay fast once a spec has been seen.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from gitlab_journal.codestate import code_state
from gitlab_journal.data.hashing import HashCache, data_hashes
from gitlab_journal.identity import canonical_json, fingerprint, fingerprint_of_text, normalise
from gitlab_journal.journal.records import CodeState, Run
from gitlab_journal.journal.store import Store
from gitlab_journal.spec.model import EvaluationSpec, ModelSpec, Point, Spec

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


@dataclass(frozen=True)
class Plan:
    spec: Spec
    root: Path
    data: Mapping[str, str]
    code: CodeState
    points: tuple[Planned, ...]

    def pending(self, force: bool = False) -> list[Planned]:
        return [p for p in self.points if force or not p.earlier]

    def done(self) -> list[Planned]:
        return [p for p in self.points if p.earlier]


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


@functools.cache
def _library_version(kind: str) -> str:
    dist = {"sklearn": "scikit-learn"}.get(kind, kind)
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


class Resolver:
    """Resolved model identities, cached by model block, point, seed and library version."""

    def __init__(self, path: Path | None):
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {}
        self.changed = False
        if path is not None:
            try:
                loaded = json.loads(path.read_text())
                if isinstance(loaded, dict):
                    self.entries = loaded
            except (OSError, ValueError):
                self.entries = {}

    def key(self, model: ModelSpec, params: Mapping[str, Any], seed: int | None) -> str:
        block = {k: v for k, v in asdict(model).items() if k not in ("grids", "line")}
        text = canonical_json(
            {
                "block": block,
                "point": dict(params),
                "seed": seed,
                "version": _library_version(model.kind),
            }
        )
        return fingerprint_of_text(text)

    def resolve(
        self, model: ModelSpec, params: Mapping[str, Any], seed: int | None
    ) -> tuple[str, Mapping[str, Any], Mapping[str, Any]]:
        """(public model path, model identity, display params)."""
        key = self.key(model, params, seed)
        hit = self.entries.get(key)
        if hit is None:
            from gitlab_journal.train.backend import backend_for

            resolved = backend_for(model).resolve(model, params, seed)
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
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".resolved-")
            with os.fdopen(fd, "w") as handle:
                json.dump(self.entries, handle)
            os.replace(tmp, self.path)
        except OSError:
            pass  # a cache that cannot be written only costs time
        self.changed = False


def make_plan(store: Store, spec: Spec, *, staged: bool = False) -> Plan:
    """Fingerprint every point of ``spec`` and find the journal's earlier runs of each."""
    tip = store.require()
    root = store.workdir or spec.path.parent
    cache_dir = store.cache_dir()
    data = data_hashes(root, spec.data, HashCache(cache_dir / "md5-cache.json"))
    code = code_state(store.repo, spec.code, staged=staged)
    resolver = Resolver(cache_dir / RESOLVED_CACHE)
    evaluation = evaluation_identity(spec.evaluation)
    planned: list[Planned] = []
    for point in spec.points():
        model, model_identity, params = resolver.resolve(
            point.model, point.params, spec.evaluation.seed
        )
        identity = {
            "model": model_identity,
            "data": dict(data),
            "evaluation": evaluation,
            "code": {"files": dict(code.files)},
        }
        fp = fingerprint(identity)
        earlier = tuple(store.find(fp, tip.tree))
        planned.append(Planned(point, model, params, identity, fp, earlier))
    resolver.save()
    return Plan(spec=spec, root=root, data=data, code=code, points=tuple(planned))
