"""The Keras back end: a model built by a ``module:function`` of the user's repository, compiled
and fit as the spec's ``compile`` and ``fit`` say, scored on the hold-out split.

Keras and TensorFlow are imported inside the functions (by :func:`import_keras`), never when
this module is imported: planning reads only :func:`cache_inputs` without them.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gitlab_journal.errors import JournalError, MissingExtra
from gitlab_journal.journal.format import CURVE_FILE, HISTORY_FILE, MODEL_FILE, SUMMARY_FILE
from gitlab_journal.journal.identity import normalise
from gitlab_journal.spec.model import EvaluationSpec, ModelSpec
from gitlab_journal.train.backend import Resolved, Result, TrainOptions

TRACEBACK_LINES = 15
DEFAULT_FACTOR = 10.0  # fail_fast's diverge: a loss grown past this factor of its best
DEFAULT_PATIENCE = 10  # fail_fast's stall: epochs without improvement

FIT_KEYS = (
    "epochs",
    "batch_size",
    "validation_split",
    "validation_data",
    "shuffle",
    "callbacks",
    "class_weight",
    "initial_epoch",
    "steps_per_epoch",
    "validation_steps",
    "validation_freq",
    "fail_fast",
    "save_model",
    "verbose",
)
FIT_DEFAULTS: Mapping[str, Any] = {
    "epochs": 1,
    "batch_size": 32,
    "validation_split": 0.0,
    "shuffle": True,
    "callbacks": [],
    "class_weight": None,
}
COMPILE_KEYS = (  # keras.Model.compile's arguments (a test compares them with Keras's own)
    "optimizer",
    "loss",
    "loss_weights",
    "metrics",
    "weighted_metrics",
    "run_eagerly",
    "steps_per_execution",
    "jit_compile",
    "auto_scale_loss",
)
CALLBACKS = (  # keras.callbacks' classes, so a spec is checked without importing TensorFlow
    "BackupAndRestore",
    "CSVLogger",
    "EarlyStopping",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "RemoteMonitor",
    "SwapEMAWeights",
    "TensorBoard",
    "TerminateOnNaN",
)
NOT_IDENTITY = ("save_model", "verbose")  # how a run is kept and shown, not what it is
OWN_FIT_KEYS = ("fail_fast", "save_model", "verbose", "validation_data", "callbacks")
CLASSIFICATION_LOSSES = ("crossentropy", "hinge", "focal")


# --- the spec point ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """One point split back into builder params and the ``compile``/``fit`` settings."""

    builder: dict[str, Any]
    compile: dict[str, Any]
    fit: dict[str, Any]


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2: TensorFlow's C++ start-up notes bypass its log level."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_keras(where: str = "") -> Any:
    """Keras, on the TensorFlow back end, with TensorFlow's start-up logging quiet (unless the
    environment chose otherwise); where it is not installed, an input error naming the Keras
    extra (after ``where``, e.g. the spec's line, when given)."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    quiet = os.environ["TF_CPP_MIN_LOG_LEVEL"] not in ("", "0")
    try:
        with _quiet_stderr() if quiet else contextlib.nullcontext():
            import keras
    except ImportError as exc:
        prefix = f"{where}: " if where else ""
        raise MissingExtra(
            f"{prefix}Keras models need Keras and TensorFlow, which are not installed here: {exc}",
            extra="keras",
        ) from exc
    return keras


def _where(model: ModelSpec) -> str:
    return model.located()


def settings(model: ModelSpec, params: Mapping[str, Any]) -> Settings:
    """Builder params, and compile/fit with the point's dotted ``compile.*``/``fit.*`` axes."""
    sections = {
        name: copy.deepcopy(dict(model.fixed.get(name) or {})) for name in ("compile", "fit")
    }
    builder: dict[str, Any] = {}
    for key, value in params.items():
        head, dot, rest = key.partition(".")
        if dot and head in sections:
            target = sections[head]
            *parents, leaf = rest.split(".")
            for part in parents:
                target = target.setdefault(part, {})
            target[leaf] = _plain(value)
        else:
            builder[key] = _plain(value)
    unknown = [k for k in sections["fit"] if k not in FIT_KEYS]
    if unknown:
        raise JournalError(
            f"{_where(model)}: fit.{unknown[0]}: unknown fit setting"
            + _guess(unknown[0], FIT_KEYS),
            hint="fit settings: " + ", ".join(FIT_KEYS),
        )
    for key in sections["compile"]:
        if key not in COMPILE_KEYS:
            raise JournalError(
                f"{_where(model)}: compile.{key}: unknown compile setting"
                + _guess(key, COMPILE_KEYS),
                hint="compile settings: " + ", ".join(COMPILE_KEYS),
            )
    for item in sections["fit"].get("callbacks") or []:
        name = str(item.get("class", "") if isinstance(item, Mapping) else item)
        wanted = name.replace("_", "").lower()  # early_stopping, EarlyStopping
        if ":" not in name and not any(known.lower() == wanted for known in CALLBACKS):
            raise JournalError(
                f"{_where(model)}: fit.callbacks: unknown Keras callback {name!r}"
                + _guess(name, CALLBACKS),
                hint="callbacks: " + ", ".join(CALLBACKS) + ", or a module:function of yours",
            )
    return Settings(builder=builder, compile=sections["compile"], fit=sections["fit"])


def _plain(value: Any) -> Any:
    """Spec tuples (grid values) back to the lists Keras expects."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def fail_fast(fit: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """``fit.fail_fast`` with its defaults: ``diverge: {factor}``, ``stall: {patience, monitor,
    min_delta}``; ``false`` switches one (or, at the top, both) off."""
    validated = bool(fit.get("validation_split")) or fit.get("validation_data") is not None
    defaults: dict[str, dict[str, Any]] = {
        "diverge": {"factor": DEFAULT_FACTOR},
        "stall": {
            "patience": DEFAULT_PATIENCE,
            "monitor": "val_loss" if validated else "loss",
            "min_delta": 0.0,
        },
    }
    given = fit.get("fail_fast", True)
    if given is False:
        return {"diverge": False, "stall": False}
    if given is True or given is None:
        return dict(defaults)
    if not isinstance(given, Mapping):
        raise JournalError(f"{where}: fit.fail_fast: expected true, false or a mapping")
    out: dict[str, Any] = {}
    for name, default in defaults.items():
        value = given.get(name, True)
        if value is False:
            out[name] = False
        elif value is True or value is None:
            out[name] = dict(default)
        elif isinstance(value, Mapping):
            extra = sorted(set(value) - set(default))
            if extra:
                raise JournalError(
                    f"{where}: fit.fail_fast.{name}.{extra[0]}: unknown setting",
                    hint=f"settings: {', '.join(default)}",
                )
            out[name] = {**default, **value}
        else:
            raise JournalError(f"{where}: fit.fail_fast.{name}: expected true, false or a mapping")
    extra = sorted(set(given) - set(defaults))
    if extra:
        raise JournalError(
            f"{where}: fit.fail_fast.{extra[0]}: unknown check", hint="checks: diverge, stall"
        )
    return out


def _guess(name: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def cache_inputs(model: ModelSpec) -> tuple[str, ...]:
    """Repository files a resolved identity depends on: the builder's module, and the
    validation data file if the spec names one."""
    module = model.estimator.partition(":")[0].replace(".", "/")
    paths = [f"{module}.py", f"{module}/__init__.py"]
    data = (model.fixed.get("fit") or {}).get("validation_data")
    if isinstance(data, str):
        paths.append(data)
    return tuple(paths)


# --- building ----------------------------------------------------------------------------------


def builder_function(model: ModelSpec, root: Path | None) -> Callable[..., Any]:
    """The ``module:function`` builder, imported from the repository root afresh."""
    from gitlab_journal.userimport import import_from_root

    found: Callable[..., Any] = import_from_root(
        root or Path.cwd(), model.estimator, what="Keras builder", where=_where(model)
    )
    return found


def _object(keras: Any, kind: str, value: Any) -> Any:
    """An optimizer, loss or metric from a name or ``{class: Name, setting: value, ...}``."""
    if not isinstance(value, Mapping):
        return value
    if "class" not in value:
        raise JournalError(f"compile.{kind}: a mapping needs class: (e.g. {{class: adam}})")
    config = {k: v for k, v in value.items() if k != "class"}
    module = {"optimizer": keras.optimizers, "loss": keras.losses, "metric": keras.metrics}[kind]
    try:
        return module.get({"class_name": str(value["class"]), "config": config})
    except (TypeError, ValueError) as exc:
        raise JournalError(f"compile.{kind}: {value['class']}: {exc}") from exc


def compile_arguments(keras: Any, compile_settings: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(compile_settings)
    if "optimizer" in out:
        out["optimizer"] = _object(keras, "optimizer", out["optimizer"])
        if isinstance(out["optimizer"], str):
            out["optimizer"] = keras.optimizers.get(out["optimizer"])
    if "loss" in out:
        out["loss"] = _object(keras, "loss", out["loss"])
    if isinstance(out.get("metrics"), list):
        out["metrics"] = [_object(keras, "metric", m) for m in out["metrics"]]
    return out


def build_model(model: ModelSpec, point: Settings, seed: int | None, root: Path | None) -> Any:
    """The point's Keras model, built by the user's builder (seeded) and compiled."""
    keras = import_keras(_where(model))
    if seed is not None:
        keras.utils.set_random_seed(seed)
    function = builder_function(model, root)
    where = _where(model)
    try:
        built = function(**point.builder)
    except TypeError as exc:
        raise JournalError(f"{where}: {model.estimator}: {exc}") from exc
    if not isinstance(built, keras.Model):
        raise JournalError(
            f"{where}: {model.estimator} returned {type(built).__name__}, not a keras.Model"
        )
    if point.compile:
        try:
            built.compile(**compile_arguments(keras, point.compile))
        except (TypeError, ValueError) as exc:
            raise JournalError(f"{where}: compile: {exc}") from exc
    elif not built.compiled:
        raise JournalError(
            f"{where}: {model.estimator} returned a model that is not compiled, and the spec "
            "has no compile settings",
            hint="add compile: {optimizer: adam, loss: ..., metrics: [...]}",
        )
    return built


def architecture(built: Any) -> Any:
    """``get_config()`` with the model's and every layer's name normalised (``layer_0``,
    ``layer_1``, ... in config order), so two builds of one architecture have one identity
    whatever Keras numbered them."""
    config = built.get_config()
    names: dict[str, str] = {}

    def collect(value: Any) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                if key == "layers" and isinstance(inner, list):
                    for layer in inner:
                        if not isinstance(layer, Mapping):
                            continue
                        for name in (layer.get("name"), (layer.get("config") or {}).get("name")):
                            if isinstance(name, str) and name not in names:
                                names[name] = f"layer_{sum(v != 'model' for v in names.values())}"
                collect(inner)
        elif isinstance(value, list):
            for inner in value:
                collect(inner)

    if isinstance(config.get("name"), str):
        names[config["name"]] = "model"
    collect(config)

    def rename(value: Any) -> Any:
        if isinstance(value, str):
            return names.get(value, value)
        if isinstance(value, Mapping):
            return {k: rename(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [rename(v) for v in value]
        return value

    return normalise(rename(config))


def compile_identity(built: Any) -> Any:
    """``get_compile_config()`` (the optimizer with every default) without the optimizer's
    numbered name (``adam_1``)."""
    if not built.compiled:
        return {}
    config = dict(built.get_compile_config() or {})
    optimizer = config.get("optimizer")
    if isinstance(optimizer, Mapping) and isinstance(optimizer.get("config"), Mapping):
        inner = {k: v for k, v in optimizer["config"].items() if k != "name"}
        config["optimizer"] = {**optimizer, "config": inner}
    return normalise(config)


def effective_fit(point: Settings, *, where: str, root: Path | None) -> dict[str, Any]:
    """The fit settings that make the experiment: defaults filled, fail-fast resolved, the
    validation data file by content."""
    fit = {**FIT_DEFAULTS, **point.fit}
    fit["fail_fast"] = fail_fast(point.fit, where=where)
    data = point.fit.get("validation_data")
    if data is not None:
        if not isinstance(data, str) or not data.endswith(".npz"):
            raise JournalError(
                f"{where}: fit.validation_data: expected a repository path to an .npz holding X "
                "and y"
            )
        if root is not None:
            from gitlab_journal.data.hashing import file_md5

            path = root / data
            if not path.is_file():
                raise JournalError(f"{where}: fit.validation_data: no file {data}")
            fit["validation_data"] = {"path": data, "md5": file_md5(path)}
    for key in NOT_IDENTITY:
        fit.pop(key, None)
    return fit


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping) and value:
        for key, inner in value.items():
            _flat(f"{prefix}.{key}", inner, out)
    else:
        out[prefix] = value


def resolve(
    model: ModelSpec, params: Mapping[str, Any], seed: int | None, *, root: Path | None = None
) -> Resolved:
    """The point's identity: the built architecture, the compile configuration with every
    default (optimizer included), the fit settings and the seed. Builds, never trains."""
    point = settings(model, params)
    where = _where(model)
    fit = effective_fit(point, where=where, root=root)
    built = build_model(model, point, seed, root)
    identity = {
        "kind": "keras",
        "builder": model.estimator,
        "params": normalise(point.builder),
        "architecture": architecture(built),
        "compile": compile_identity(built),
        "fit": normalise(fit),
        "seed": seed,
    }
    shown: dict[str, Any] = dict(point.builder)
    _flat("compile", point.compile, shown)
    _flat("fit", {k: v for k, v in point.fit.items() if k not in NOT_IDENTITY}, shown)
    return Resolved(
        model=model.estimator.replace(":", "."),
        identity=identity,
        params={k: normalise(v) for k, v in shown.items()},
    )


# --- training ----------------------------------------------------------------------------------


def is_classification(y: Any, loss: Any) -> bool:
    y = np.asarray(y)
    if y.dtype.kind in "USO":
        return True
    name = str(loss.get("class") if isinstance(loss, Mapping) else loss).lower()
    return y.dtype.kind in "iub" and any(part in name for part in CLASSIFICATION_LOSSES)


def _callbacks(keras: Any, given: Any, root: Path | None, where: str) -> list[Any]:
    """``fit.callbacks``: Keras callback names (``EarlyStopping`` or ``early_stopping``),
    ``{class: Name, setting: ...}``, or ``module:function`` from the repository."""
    out: list[Any] = []
    for item in given or []:
        settings_ = dict(item) if isinstance(item, Mapping) else {"class": item}
        name = str(settings_.pop("class", ""))
        if ":" in name:
            factory: Any = builder_function(ModelSpec(kind="keras", estimator=name, line=0), root)
        else:
            wanted = name.replace("_", "").lower()  # early_stopping, EarlyStopping
            factory = getattr(keras.callbacks, name, None) or next(
                (
                    getattr(keras.callbacks, attr)
                    for attr in dir(keras.callbacks)
                    if attr.lower() == wanted
                ),
                None,
            )
            if factory is None:
                raise JournalError(f"{where}: fit.callbacks: unknown Keras callback {name!r}")
        try:
            out.append(factory(**settings_))
        except TypeError as exc:
            raise JournalError(f"{where}: fit.callbacks: {name}: {exc}") from exc
    return out


def _json_safe(values: list[float]) -> list[float | None]:
    return [v if np.isfinite(v) else None for v in values]


def _summary(built: Any) -> str:
    lines: list[str] = []
    built.summary(print_fn=lambda line, line_break=True: lines.append(str(line)))
    return "\n".join(lines).rstrip() + "\n"


def _best_epoch(history: Mapping[str, list[float]], monitor: str) -> int | None:
    from gitlab_journal.train.callbacks import higher_is_better

    values = history.get(monitor) or history.get("loss")
    if not values:
        return None
    key = monitor if monitor in history else "loss"
    finite = [(v, i) for i, v in enumerate(values) if np.isfinite(v)]
    if not finite:
        return None
    pick = max if higher_is_better(key) else min
    return pick(finite)[1]


def train(
    model: ModelSpec,
    params: Mapping[str, Any],
    X: Any,
    y: Any,
    evaluation: EvaluationSpec,
    *,
    options: TrainOptions | None = None,
) -> Result:
    """Build, pre-flight check, fit with the fail-fast callbacks, and score on the hold-out
    split. A training error is a ``failed`` result, never a crash."""
    options = options or TrainOptions()
    start = time.perf_counter()
    try:
        return _train(model, params, X, y, evaluation, options, start)
    except (KeyboardInterrupt, JournalError):
        raise
    except Exception:
        lines = traceback.format_exc().strip().splitlines()
        return Result(
            status="failed",
            error="\n".join(lines[-TRACEBACK_LINES:]),
            seconds=time.perf_counter() - start,
        )


def _train(
    model: ModelSpec,
    params: Mapping[str, Any],
    X: Any,
    y: Any,
    evaluation: EvaluationSpec,
    options: TrainOptions,
    start: float,
) -> Result:
    from sklearn.model_selection import train_test_split

    from gitlab_journal.train import preflight, progress

    if "tensorflow" not in sys.modules and "keras" not in sys.modules:
        progress.say("importing TensorFlow (once per process)")
    where = _where(model)
    keras = import_keras(where)
    from gitlab_journal.train.callbacks import EpochLog, StopOnDivergence, StopOnStall

    point = settings(model, params)
    fit = effective_fit(point, where=where, root=options.root)
    X = np.asarray(X)
    y = np.asarray(y)
    classification = is_classification(y, point.compile.get("loss"))
    if y.dtype.kind in "USO":
        _, y = np.unique(y, return_inverse=True)
    if evaluation.test_size is None:
        raise JournalError(f"{where}: Keras models are scored on a hold-out split")
    stratify = evaluation.stratify if evaluation.stratify is not None else classification
    X_train, X_test, y_train, y_test = train_test_split(
        X,
        y,
        test_size=evaluation.test_size,
        random_state=evaluation.seed,
        stratify=y if stratify else None,
    )
    built = build_model(model, point, evaluation.seed, options.root)
    if not built.built:
        built.build((None, *X_train.shape[1:]))
    found = preflight.keras_findings(
        built, X_train, y_train, X_test, classification=classification, fit=fit
    )
    findings = preflight.enforce(found, ignore=options.ignore_checks, strict=options.strict)

    log = EpochLog()
    callbacks: list[Any] = [log]
    checks = fit["fail_fast"]
    diverge = stall = None
    if checks["diverge"] is not False:
        diverge = StopOnDivergence(factor=checks["diverge"]["factor"])
        callbacks.append(diverge)
    monitor = checks["stall"]["monitor"] if checks["stall"] is not False else None
    if checks["stall"] is not False:
        stall = StopOnStall(**checks["stall"])
        callbacks.append(stall)
    callbacks += _callbacks(keras, point.fit.get("callbacks"), options.root, where)
    arguments = {k: v for k, v in point.fit.items() if k not in OWN_FIT_KEYS and v is not None}
    arguments.setdefault("batch_size", FIT_DEFAULTS["batch_size"])
    if isinstance(point.fit.get("validation_data"), str) and options.root is not None:
        from gitlab_journal.data.loaders import load_data
        from gitlab_journal.spec.model import DataSpec

        X_val, y_val = load_data(
            options.root, DataSpec(source="arrays", path=point.fit["validation_data"])
        )
        arguments["validation_data"] = (X_val, y_val)

    fit_start = time.perf_counter()
    built.fit(X_train, y_train, callbacks=callbacks, verbose=0, **arguments)
    fit_time = time.perf_counter() - fit_start

    status, reason = "ok", None
    if diverge is not None and diverge.reason:
        status, reason = "diverged", diverge.reason
    elif stall is not None and stall.reason:
        status, reason = "stalled", stall.reason
    monitor = monitor or ("val_loss" if "val_loss" in log.history else "loss")

    metrics: dict[str, float] = {}
    score_time = 0.0
    if status != "diverged":  # a diverged model's scores say nothing
        score_start = time.perf_counter()
        scores = built.evaluate(X_test, y_test, verbose=0, return_dict=True)
        score_time = time.perf_counter() - score_start
        ordered = [k for k in scores if k != "loss"] + (["loss"] if "loss" in scores else [])
        metrics.update({k: float(scores[k]) for k in ordered})
    kept, files = outputs(
        built,
        log,
        monitor=monitor,
        status=status,
        reason=reason,
        title=model.estimator.replace(":", ".") + _point_text(params),
        save_model=bool(point.fit.get("save_model")),
    )
    metrics.update(kept)
    metrics["fit_time"] = fit_time
    metrics["score_time"] = score_time
    return Result(
        status=status,
        metrics=metrics,
        files=files,
        warnings=(f"{status}: {reason}",) if reason else (),
        seconds=time.perf_counter() - start,
        findings=findings,
    )


def outputs(
    built: Any,
    log: Any,
    *,
    monitor: str,
    status: str,
    reason: str | None,
    title: str,
    save_model: bool = False,
) -> tuple[dict[str, float], dict[str, bytes]]:
    """What a trained model leaves in its run: the last and the best epoch's metrics
    (``train_*``/``val_*``, ``best_*``), epochs, parameter count and mean epoch time; and the
    files history.json, summary.txt, curve.png and (opt-in) model.keras."""
    history: dict[str, list[float]] = log.history
    best = _best_epoch(history, monitor)
    metrics: dict[str, float] = {}
    for key, values in history.items():
        name = key if key.startswith("val_") else f"train_{key}"
        if values and np.isfinite(values[-1]):
            metrics[name] = float(values[-1])
    if best is not None:
        metrics["best_epoch"] = float(best + 1)
        for key, values in history.items():
            name = key if key.startswith("val_") else f"train_{key}"
            if best < len(values) and np.isfinite(values[best]):
                metrics[f"best_{name}"] = float(values[best])
    parameters = int(built.count_params()) if built.built else 0
    metrics["epochs"] = float(log.epochs)
    metrics["param_count"] = float(parameters)
    metrics["epoch_time"] = float(np.mean(log.seconds)) if log.seconds else 0.0
    record = {
        "epochs": log.epochs,
        "history": {k: _json_safe(v) for k, v in history.items()},
        "epoch_seconds": list(log.seconds),
        "monitor": monitor,
        "best_epoch": None if best is None else best + 1,
        "stopped": None if reason is None else {"status": status, "reason": reason},
        "param_count": parameters,
    }
    files = {HISTORY_FILE: (json.dumps(record, indent=2, allow_nan=False) + "\n").encode()}
    if built.built:
        files[SUMMARY_FILE] = _summary(built).encode()
    if history:
        from gitlab_journal.train.curve import learning_curve

        stopped = f"{status}: {reason}" if reason else None
        files[CURVE_FILE] = learning_curve(history, title=title, best_epoch=best, stopped=stopped)
    if save_model:
        files[MODEL_FILE] = _saved(built)
    return metrics, files


def _point_text(params: Mapping[str, Any]) -> str:
    shown = ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in sorted(params.items()))
    return f"({shown})" if shown else ""


def _saved(built: Any) -> bytes:
    with tempfile.TemporaryDirectory(prefix="journal-model-") as folder:
        path = Path(folder) / MODEL_FILE
        built.save(path)
        return path.read_bytes()
