"""Canonical JSON and the experiment fingerprint.

The fingerprint is the sha256 of the canonical JSON of an experiment's identity (model, data,
evaluation protocol, code). Canonical JSON is stable across processes, machines and Python
versions: keys sorted, numbers normalised (``1 == 1.0``), no whitespace, and objects that have
no JSON form encoded by value (estimators by class and params, callables by import path, arrays
by dtype, shape and a hash of their bytes), never by a ``repr`` that holds a memory address.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import importlib
import json
import math
import re
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from gitlab_journal.errors import JournalError

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def public_path(obj: Any) -> str:
    """The shortest import path that names ``obj`` (a class or function).

    ``sklearn.linear_model._logistic.LogisticRegression`` becomes
    ``sklearn.linear_model.LogisticRegression``, so identity does not depend on a library's
    private module layout.
    """
    module = str(getattr(obj, "__module__", None) or "")
    qualname = str(getattr(obj, "__qualname__", None) or getattr(obj, "__name__", ""))
    parts = module.split(".")
    best = module
    # Try every shorter prefix of the module path; keep the shortest that exposes the object.
    for end in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:end])
        try:
            mod = importlib.import_module(prefix)
        except Exception:  # pragma: no cover - a broken parent package
            break
        if "." not in qualname and _exposes(getattr(mod, qualname, None), obj):
            best = prefix
    return f"{best}.{qualname}" if best else qualname


def _exposes(found: Any, obj: Any) -> bool:
    """Whether ``found``, a module's attribute, is ``obj``, or autologging's wrapper of it (a
    ``sklearn.metrics`` function, patched where it is exposed, keeps the path it has unpatched:
    a scorer holding the function itself is the same as one holding the wrapper)."""
    if found is obj:
        return True
    return found is not None and (
        getattr(found, "__journal_autolog__", False) is True
        and getattr(found, "__wrapped__", None) is obj
    )


def _float(value: float) -> Any:
    if not math.isfinite(value):
        return finite_json(value)
    if value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value  # json writes repr(float): the shortest round-trip form, the same everywhere


_NON_FINITE = ("inf", "-inf", "nan")


def finite_json(value: Any) -> Any:
    """``value`` with each NaN or infinity written as identity.json writes it
    (``{"__float__": "inf"}``, ``"-inf"``, ``"nan"``): a param may be one (a spec's ``.inf``,
    the Python API's ``float("nan")``), and what the journal writes or prints as JSON is strict
    JSON, where a null would read as None."""
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": "nan" if math.isnan(value) else "inf" if value > 0 else "-inf"}
    if isinstance(value, Mapping):
        return {str(k): finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


def flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys: ``{"cv": {"folds": 5}}`` -> ``{"cv.folds": 5}``."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping) and item:
            out.update(flatten(item, name + "."))
        else:
            out[name] = item
    return out


def json_safe(value: Any) -> Any:
    """Plain JSON data with NaN and infinities as null, so any JSON reader accepts it: how
    metrics.json, folds.json and classes.json write a score that is not a finite number."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def non_finite(value: Any) -> str | None:
    """``inf``, ``-inf`` or ``nan`` for a number that is not finite, a float or the journal's
    form of one (``{"__float__": "inf"}``); None for any other value."""
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return "nan" if math.isnan(value) else "inf" if value > 0 else "-inf"
    if isinstance(value, Mapping) and len(value) == 1:
        tag = value.get("__float__")
        return tag if tag in _NON_FINITE else None
    return None


def value_json_text(value: Any) -> str:
    """``value`` as JSON text (keys sorted), but a number that is not finite as ``inf``."""
    tag = non_finite(value)
    if tag is not None:
        return tag
    if isinstance(value, Mapping):
        items = sorted((str(k), v) for k, v in value.items())
        inner = ", ".join(
            f"{json.dumps(k, ensure_ascii=False)}: {value_json_text(v)}" for k, v in items
        )
        return "{" + inner + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(value_json_text(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    return "__key__:" + canonical_json(key)


def normalise(value: Any) -> Any:
    """Turn ``value`` into plain JSON data with one spelling per meaning."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, Mapping):
        return {_key(k): normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalise(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((normalise(v) for v in value), key=canonical_json)
    if isinstance(value, enum.Enum):
        return normalise(value.value)
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, bytes):
        return {"__bytes__": hashlib.sha256(value).hexdigest()}
    # numpy, without importing it: scalars have .item(), arrays have .dtype and .shape.
    module = type(value).__module__
    if module == "numpy" or module.startswith("numpy."):
        return _numpy(value)
    if hasattr(value, "get_params") and not isinstance(value, type):
        return {
            "__estimator__": public_path(type(value)),
            "params": normalise(value.get_params(deep=False)),
        }
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            "__dataclass__": public_path(type(value)),
            "fields": normalise(dataclasses.asdict(value)),
        }
    if isinstance(value, type):
        return {"__class__": public_path(value)}
    if _is_partial(value):
        return {
            "__partial__": normalise(value.func),
            "args": normalise(list(value.args)),
            "keywords": normalise(dict(value.keywords)),
        }
    if _is_scorer(value):
        return _scorer(value)
    if callable(value):
        return _callable(value)
    splitter = _splitter(value)
    if splitter is not None:
        return splitter
    return _by_repr(
        value, "a value", "pass it as plain data, or give the class a get_params() method"
    )


def _by_repr(value: Any, what: str, hint: str) -> dict[str, Any]:
    """``value`` by its repr and type, when the repr holds no memory address (else an error
    naming ``what`` could not be fingerprinted, with ``hint``)."""
    text = repr(value)
    if _ADDRESS.search(text):
        raise JournalError(
            f"cannot fingerprint {what} of type {type(value).__qualname__}: "
            "it has no stable form (its repr holds a memory address)",
            hint=hint,
        )
    return {"__repr__": text, "type": public_path(type(value))}


def _is_partial(value: Any) -> bool:
    return type(value).__name__ == "partial" and hasattr(value, "func")


def _callable(value: Any) -> Any:
    if getattr(value, "__qualname__", None) is None and getattr(value, "__name__", None) is None:
        # An object with a __call__ method, not a function: no name says what it does, its
        # class and state do.
        state = getattr(value, "__dict__", None)
        if isinstance(state, dict):
            return {"__callable__": public_path(type(value)), "state": normalise(state)}
        return _by_repr(
            value, "a callable", "pass a function, or give the class a get_params() method"
        )
    path = public_path(value)
    if "<lambda>" in path or "<locals>" in path:
        # No import path names it: identify it by its source text.
        import inspect

        try:
            source = inspect.getsource(value)
        except (OSError, TypeError):
            source = path
        return {"__callable__": path, "source": hashlib.sha256(source.encode()).hexdigest()}
    return {"__callable__": path}


# -- scikit-learn's scorers and splitters, by value (scikit-learn is imported by then) ---------

SCORERS = "sklearn.metrics._scorer"  # where scikit-learn's scorer classes live
SPLITTERS = "sklearn.model_selection._split"  # ... and its cross-validation splitters
_named_scorers: dict[str, str] | None = None  # a named scorer's canonical JSON -> its name


def _is_scorer(value: Any) -> bool:
    return any(klass.__module__ == SCORERS for klass in type(value).__mro__[:-1])


def _scorer(value: Any) -> Any:
    """A scikit-learn scorer (``make_scorer(...)``, ``get_scorer(...)``, several of them) by
    value: its class and attributes, ``_Scorer``'s being its score function (by import path,
    or source for a lambda), sign, keyword arguments and response method; a metadata request
    only when it requests something. One that scores as a named scorer is that name, as
    ``scoring="accuracy"`` gives it."""
    fields: dict[str, Any] = {}
    for key, item in vars(value).items():
        if key == "_metadata_request":
            item = _requests(item)
            if not item:
                continue
        fields[key.lstrip("_")] = item
    encoded = {"__scorer__": public_path(type(value)), **normalise(fields)}
    name = _scorer_names().get(canonical_json(encoded))
    return name if name is not None else encoded


def _requests(request: Any) -> dict[str, Any]:
    """A scorer's metadata request (method -> param -> request), only what it requests."""
    if not isinstance(request, Mapping):
        return {"request": normalise(request)}
    out: dict[str, Any] = {}
    for method, params in request.items():
        if isinstance(params, Mapping):
            asked = {str(k): v for k, v in params.items() if v is not None}
            if asked:
                out[str(method)] = asked
        elif params is not None:
            out[str(method)] = params
    return out


def _scorer_names() -> dict[str, str]:
    """scikit-learn's named scorers (``get_scorer_names()``), by the canonical JSON of their
    value; of two that score alike, the first name in order."""
    global _named_scorers
    if _named_scorers is None:
        named: dict[str, str] = {}
        try:
            from sklearn.metrics import get_scorer, get_scorer_names

            for name in sorted(get_scorer_names()):
                scorer = get_scorer(name)
                fields = {k.lstrip("_"): v for k, v in vars(scorer).items()}
                fields.pop("metadata_request", None)
                encoded = {"__scorer__": public_path(type(scorer)), **normalise(fields)}
                named.setdefault(canonical_json(encoded), name)
        except Exception:  # pragma: no cover - a scikit-learn without them: no names
            named = {}
        _named_scorers = named
    return _named_scorers


def _splitter(value: Any) -> Any | None:
    """A scikit-learn cross-validation splitter (``KFold(5)``, ``PredefinedSplit(folds)``...) by
    its class and params, as its repr names them; None for any other value. One whose params
    are all plain values keeps the repr form it always had (its repr shows them whole); one
    with an array or another object is encoded by value, arrays hashed, never by a repr that
    numpy cuts short past 1000 elements."""
    method = getattr(type(value), "__repr__", None)
    if getattr(method, "__module__", None) != SPLITTERS:
        return None
    params = _splitter_params(value)
    if all(item is None or type(item) in (bool, int, float, str) for item in params.values()):
        return {"__repr__": repr(value), "type": public_path(type(value))}
    return {"__splitter__": public_path(type(value)), "params": normalise(params)}


def _splitter_params(value: Any) -> dict[str, Any]:
    """A splitter's params as scikit-learn's repr of it reads them: each argument of its
    ``__init__`` (a repeated splitter's from its ``cvargs`` too), deprecated ones left out."""
    import inspect
    import warnings

    init = type(value).__init__
    if init is object.__init__:
        return {}
    names = sorted(
        p.name
        for p in inspect.signature(init).parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    )
    params: dict[str, Any] = {}
    for name in names:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FutureWarning)
            item = getattr(value, name, None)
            if item is None and hasattr(value, "cvargs"):
                item = value.cvargs.get(name, None)
        if any(issubclass(w.category, FutureWarning) for w in caught):
            continue  # a deprecated param, as the repr leaves it out
        params[name] = item
    return params


def _numpy(value: Any) -> Any:
    if hasattr(value, "shape") and hasattr(value, "dtype") and getattr(value, "ndim", 0) > 0:
        if value.dtype.kind == "O":
            return {
                "__ndarray__": str(value.dtype),
                "shape": list(value.shape),
                "values": normalise(value.tolist()),
            }
        data = value.tobytes(order="C")
        return {
            "__ndarray__": value.dtype.str,
            "shape": list(value.shape),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    if hasattr(value, "item"):
        return normalise(value.item())
    return {"__repr__": repr(value), "type": public_path(type(value))}


def canonical_json(value: Any) -> str:
    """Canonical JSON text of ``value``: sorted keys, no spaces, normalised values."""
    return json.dumps(
        normalise(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def fingerprint_of_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fingerprint(identity: Mapping[str, Any]) -> str:
    """The experiment fingerprint: sha256 of the canonical JSON of its identity."""
    return fingerprint_of_text(canonical_json(identity))
