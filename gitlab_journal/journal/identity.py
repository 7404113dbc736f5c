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
        if "." not in qualname and getattr(mod, qualname, None) is obj:
            best = prefix
    return f"{best}.{qualname}" if best else qualname


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
    if callable(value):
        return _callable(value)
    text = repr(value)
    if _ADDRESS.search(text):
        raise JournalError(
            f"cannot fingerprint a value of type {type(value).__qualname__}: "
            "it has no stable form (its repr holds a memory address)",
            hint="pass it as plain data, or give the class a get_params() method",
        )
    return {"__repr__": text, "type": public_path(type(value))}


def _is_partial(value: Any) -> bool:
    return type(value).__name__ == "partial" and hasattr(value, "func")


def _callable(value: Any) -> Any:
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
