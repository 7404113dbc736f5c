"""Autologging: every scikit-learn ``fit`` and Keras ``Model.fit`` of a script or notebook is a
journal run, with one line.

    import gitlab_journal
    gitlab_journal.autolog()

Only the outermost ``fit`` is a run (a Pipeline's steps, a meta-estimator's inner fits and a
``super().fit`` are part of it). Each is a run of kind ``autolog``: params from
``get_params(deep=True)``, data hashed by value (:mod:`gitlab_journal.data.values`), code = the
repository's ``code`` globs plus the calling script (or the notebook's code cells run so far).
Before it trains, its fingerprint is looked up: an experiment already in the journal warns
(:class:`DuplicateRunWarning`, naming the earlier run, its date and metrics), raises
:class:`DuplicateRunError`, or is ignored, as ``on_duplicate`` says. The run records the
training score; a ``sklearn.metrics`` function called afterwards on that estimator's
predictions (until the next fit) adds its value, named as the function is, ``_test`` appended
when the true labels differ from the training ones. A ``cross_validate`` or ``cross_val_score``
call is one run of the cross-validation as a whole (its folds' fits are part of it, in this
process or in ``n_jobs`` workers), its metrics the held-out scores it returns. A fit that
IPython's ``%timeit`` or ``%%timeit`` runs, loop after loop, is no run (one warning a timing).

Patching happens only when :func:`autolog` is called, and for a library not imported yet, when
it is imported; ``autolog(disable=True)`` undoes all of it. Anything the journal cannot do (no
repository, data it cannot hash) is a warning: the fit itself always runs.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib.abc
import importlib.machinery
import inspect
import sys
import threading
import types
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from gitlab_journal.errors import DuplicateRunError, DuplicateRunWarning, JournalError

__all__ = ["AutologWarning", "DuplicateRunError", "DuplicateRunWarning", "autolog"]

OnDuplicate = Literal["warn", "raise", "ignore"]
KIND = "autolog"
PREDICT_METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function")
# sklearn.metrics arguments that hold the predictions, after y_true
PREDICTION_ARGS = ("y_pred", "y_score", "y_prob", "y_proba", "probas_pred", "pred_decision")
MAX_TRACKED = 64  # predictions of the last fitted estimator kept to match metric calls
VALIDATION = "sklearn.model_selection._validation"  # where scikit-learn fits the folds
PATCHED_MODULES = ("sklearn.base", "sklearn.metrics", VALIDATION, "keras")
# scikit-learn's functions that fit an estimator once a fold: a call of the first two is one run
# of the cross-validation; the others' fits are not recorded (and they say so)
CROSS_VALIDATIONS = ("cross_validate", "cross_val_score")
UNRECORDED_FOLDS = (
    "cross_val_predict",
    "learning_curve",
    "validation_curve",
    "permutation_test_score",
)
_MARK = "__journal_autolog__"
# The file name IPython's %timeit and %%timeit compile the timed code with (its setup too).
TIMEIT_CODE = "<magic-timeit>"
MAX_KEPT_CELLS = 64  # notebook cells' texts kept by id, for the runs that name them


class AutologWarning(UserWarning):
    """A fit that autolog could not record (it still ran), or recorded with a caveat (its run's
    ``warnings`` say it too)."""


@dataclass
class _Tracked:
    """The last outermost fit: its run, and the predictions its estimator gave since."""

    estimator: Any
    run: Any  # gitlab_journal.journal.records.Run
    journal: Any  # gitlab_journal.api.Journal
    y_md5: str | None
    predictions: dict[int, Any] = field(default_factory=dict)


@dataclass
class _State:
    on_duplicate: OnDuplicate = "warn"
    patches: list[tuple[Any, str, Any]] = field(default_factory=list)  # (owner, name, before)
    depth: int = 0  # fits in progress, all threads together
    busy: bool = False  # autolog's own calls (the training score) are not tracked
    unseen_told: bool = False  # that a cross-validation autolog did not see is not recorded
    tracked: _Tracked | None = None
    journals: dict[str, Any] = field(default_factory=dict)
    hook: _ImportHook | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)
    # the timed code of the last %timeit whose fits were said not to be recorded
    timed: weakref.ref[types.CodeType] | None = None


_NONE = object()
_state: _State | None = None


def _current() -> _State | None:
    """The patching in force, if any. The wrappers ask for it through this function rather
    than naming the global: a class a script defines is sent to joblib's workers by value
    (cloudpickle), wrappers and the globals they name included, and the state (its lock) is
    not picklable, where this function is sent by reference."""
    return _state


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No fit inside is recorded on its own: the Python API's run block records what it
    trains as one run (autologged fits in it would be more runs of the same experiment)."""
    state = _current()
    if state is None:
        yield
        return
    with state.lock:
        state.depth += 1
    try:
        yield
    finally:
        with state.lock:
            state.depth -= 1


def autolog(on_duplicate: OnDuplicate = "warn", disable: bool = False) -> None:
    """Record every outermost scikit-learn ``fit`` and Keras ``Model.fit`` from now on (see the
    module's docstring); ``disable=True`` undoes the patching."""
    global _state
    if on_duplicate not in ("warn", "raise", "ignore"):
        raise JournalError(
            f"on_duplicate must be 'warn', 'raise' or 'ignore', not {on_duplicate!r}"
        )
    if _state is not None:
        _unpatch(_state)
        _state = None
    if disable:
        return
    _state = _State(on_duplicate=on_duplicate)
    hook = _ImportHook(_state)
    _state.hook = hook
    sys.meta_path.insert(0, hook)
    for module in PATCHED_MODULES:
        if module in sys.modules:
            hook.patch(module)


# -- patching ---------------------------------------------------------------------------------


def _set(state: _State, owner: Any, name: str, value: Any) -> None:
    before = owner.__dict__.get(name, _NONE) if hasattr(owner, "__dict__") else _NONE
    state.patches.append((owner, name, before))
    setattr(owner, name, value)


def _unpatch(state: _State) -> None:
    if state.hook is not None and state.hook in sys.meta_path:
        sys.meta_path.remove(state.hook)
    for owner, name, before in reversed(state.patches):
        if before is _NONE:
            with contextlib.suppress(AttributeError):
                delattr(owner, name)
        else:
            setattr(owner, name, before)
    state.patches.clear()
    state.tracked = None


class _ImportHook(importlib.abc.MetaPathFinder):
    """Patches scikit-learn and Keras when they are imported after :func:`autolog`."""

    def __init__(self, state: _State) -> None:
        self.state = state
        self.done: set[str] = set()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in PATCHED_MODULES or fullname in self.done:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                loader = spec.loader
                original = loader.exec_module

                def exec_module(
                    module: types.ModuleType, original: Callable[..., Any] = original
                ) -> None:
                    original(module)
                    self.patch(fullname)

                loader.exec_module = exec_module  # type: ignore[method-assign]
                return spec
        return None

    def patch(self, module: str) -> None:
        if module in self.done:
            return
        self.done.add(module)
        if module == "sklearn.base":
            _patch_sklearn(self.state)
        elif module == "sklearn.metrics":
            _patch_metrics(self.state)
        elif module == VALIDATION:
            _patch_validation(self.state)
        elif module == "keras":
            _patch_keras(self.state)


def _subclasses(cls: type) -> Iterator[type]:
    seen: set[type] = set()
    stack = [cls]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        yield current
        stack.extend(current.__subclasses__())


def _patch_sklearn(state: _State) -> None:
    from sklearn.base import BaseEstimator

    for cls in _subclasses(BaseEstimator):
        _patch_class(state, cls)
    # classes defined later (a module imported later, the user's own subclasses)
    own = BaseEstimator.__dict__.get("__init_subclass__")

    def init_subclass(cls: type, /, **kwargs: Any) -> None:
        if own is None:
            super(BaseEstimator, cls).__init_subclass__(**kwargs)
        else:
            own.__func__(cls, **kwargs)
        if _state is state:
            _patch_class(state, cls)

    _set(state, BaseEstimator, "__init_subclass__", classmethod(init_subclass))


def _patch_class(state: _State, cls: type) -> None:
    """Wrap the ``fit`` and predict methods ``cls`` has, its own or inherited (from a mixin
    too), on ``cls`` itself."""
    fit = inspect.getattr_static(cls, "fit", None)
    if inspect.isfunction(fit) and not getattr(fit, _MARK, False):
        _set(state, cls, "fit", _fit_wrapper(fit))
    for name in PREDICT_METHODS:
        method = inspect.getattr_static(cls, name, None)
        if method is None or getattr(method, _MARK, False):
            continue
        if inspect.isfunction(method):
            _set(state, cls, name, _predict_wrapper(method))
        elif hasattr(method, "__get__") and not isinstance(
            method, staticmethod | classmethod | property
        ):  # a method behind a descriptor, such as scikit-learn's `available_if`
            _set(state, cls, name, _TrackingDescriptor(method))


def _fit_wrapper(fit: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fit)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        state = _current()
        if state is None or state.depth or state.busy:
            return fit(self, *args, **kwargs)
        caller = sys._getframe(1)
        if caller.f_globals.get("__name__") == VALIDATION:
            return _unseen_fold(state, fit, (self, *args), kwargs)
        timed = _timed_frame(caller)
        if timed is not None:
            return _timed(state, timed, fit, (self, *args), kwargs)
        return _autologged_fit(state, fit, self, args, kwargs)

    setattr(wrapper, _MARK, True)
    return wrapper


def _predict_wrapper(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        state = _current()
        if state is None or state.busy or state.depth:
            return method(self, *args, **kwargs)
        state.depth += 1
        try:
            result = method(self, *args, **kwargs)
        finally:
            state.depth -= 1
        tracked = state.tracked
        if tracked is not None and tracked.estimator is self:
            if len(tracked.predictions) >= MAX_TRACKED:
                tracked.predictions.pop(next(iter(tracked.predictions)))
            tracked.predictions[id(result)] = result  # kept, so the id is not reused
        return result

    setattr(wrapper, _MARK, True)
    return wrapper


class _TrackingDescriptor:
    """A predict method behind a descriptor (absent when the descriptor says so), tracked."""

    def __init__(self, descriptor: Any) -> None:
        self.descriptor = descriptor
        setattr(self, _MARK, True)
        functools.update_wrapper(self, descriptor)  # type: ignore[arg-type]

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        bound = self.descriptor.__get__(obj, owner)  # AttributeError where unavailable
        if obj is None:
            return bound

        def call(_self: Any, *args: Any, **kwargs: Any) -> Any:
            return bound(*args, **kwargs)

        # named as the method it tracks: scikit-learn's scorers look a method up again by its
        # ``__name__`` (a Pipeline's predict_proba, an SVC's with probability=True)
        functools.update_wrapper(call, bound)
        return types.MethodType(_predict_wrapper(call), obj)


def _patch_metrics(state: _State) -> None:
    import sklearn.metrics as metrics

    originals: dict[int, Callable[..., Any]] = {}
    for name in getattr(metrics, "__all__", dir(metrics)):
        func = getattr(metrics, name, None)
        if not inspect.isfunction(func) or getattr(func, _MARK, False):
            continue
        wrapped = _metric_wrapper(func)
        originals[id(func)] = wrapped
        _set(state, metrics, name, wrapped)
        home = sys.modules.get(func.__module__)
        if home is not None and getattr(home, name, None) is func:
            _set(state, home, name, wrapped)
    # names the calling script imported before autolog() was called
    main = sys.modules.get("__main__")
    if main is not None:
        for key, value in list(vars(main).items()):
            if inspect.isfunction(value) and id(value) in originals:
                _set(state, main, key, originals[id(value)])


def _metric_wrapper(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        state = _current()
        if state is None:
            return func(*args, **kwargs)
        state.depth += 1  # a metric's own use of estimators (a LabelEncoder) is no run
        try:
            result = func(*args, **kwargs)
        finally:
            state.depth -= 1
        if state is not None and state.tracked is not None and not (state.busy or state.depth):
            _metric_called(state, func.__name__, args, kwargs, result)
        return result

    setattr(wrapper, _MARK, True)
    return wrapper


# -- one autologged sklearn fit -----------------------------------------------------------


def _journal(state: _State) -> Any:
    from gitlab_journal.api import Journal

    key = str(Path.cwd())
    if key not in state.journals:
        state.journals[key] = Journal(key)
    return state.journals[key]


def _fit_data(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    X = args[0] if args else kwargs.get("X", kwargs.get("x"))
    y = args[1] if len(args) > 1 else kwargs.get("y", kwargs.get("Y"))
    return X, y


def _md5(value: Any) -> str:
    from gitlab_journal.data.values import value_md5

    if isinstance(value, list | tuple):
        import numpy as np

        value = np.asarray(value)
    return value_md5(value)


def _autologged_fit(
    state: _State, fit: Callable[..., Any], estimator: Any, args: Any, kwargs: Any
) -> Any:
    if _is_search(estimator):
        return _search_fit(state, fit, estimator, args, kwargs)
    state.tracked = None
    prepared = None
    try:
        prepared = _prepare(state, fit, estimator, args, kwargs)
    except DuplicateRunError:
        raise
    except Exception as exc:  # the journal's trouble never stops the fit
        warnings.warn(f"autolog: this fit is not recorded: {exc}", AutologWarning, stacklevel=3)
    state.depth += 1
    try:
        result = fit(estimator, *args, **kwargs)
    finally:
        state.depth -= 1
    if prepared is not None:
        try:
            _record(state, estimator, args, kwargs, prepared)
        except Exception as exc:
            warnings.warn(f"autolog: this fit is not recorded: {exc}", AutologWarning, stacklevel=3)
    return result


@dataclass(frozen=True)
class _Prepared:
    journal: Any
    model: str
    params: dict[str, Any]
    data: dict[str, Any]
    caller: dict[str, str]
    y_md5: str | None
    settings: dict[str, Any] | None = None  # {"fit": the fit's arguments that are not data}


def _prepare(
    state: _State, fit: Callable[..., Any], estimator: Any, args: Any, kwargs: Any
) -> _Prepared:
    from gitlab_journal.journal.identity import public_path

    journal = _journal(state)
    data, y_md5 = _digests(args, kwargs)
    more, settings = _fit_arguments(_fit_extras(fit, args, kwargs))
    data.update(more)
    prepared = _Prepared(
        journal=journal,
        model=public_path(type(estimator)),
        params=dict(estimator.get_params(deep=True)),
        data=data,
        caller=caller_code((estimator, *_callables(settings))),
        y_md5=y_md5,
        settings=settings,
    )
    message = None
    if state.on_duplicate != "ignore":
        message = _duplicate(journal, _identity(prepared), prepared.model)
    if message is not None:
        if state.on_duplicate == "raise":
            raise DuplicateRunError(
                message, hint="change a param or the data, or autolog(on_duplicate='warn')"
            )
        warnings.warn(message, DuplicateRunWarning, stacklevel=4)
    return prepared


def _digests(args: Any, kwargs: Any) -> tuple[dict[str, Any], str | None]:
    """The fit's X and y, each hashed once; and y's md5."""
    from gitlab_journal.data.values import Digest

    X, y = _fit_data(args, kwargs)
    data: dict[str, Any] = {}
    y_md5 = None
    if X is not None:
        data["X"] = Digest(_md5(X))
    if y is not None:
        y_md5 = _md5(y)
        data["y"] = Digest(y_md5)
    return data, y_md5


def _identity(prepared: _Prepared) -> dict[str, Any]:
    identity = {
        "model": prepared.model,
        "params": prepared.params,
        "data": prepared.data,
        "caller": prepared.caller,
    }
    if prepared.settings:
        identity["settings"] = prepared.settings
    return identity


DATA_NAMES = ("X", "y", "x", "Y")  # a fit's data, hashed as such by _digests


def _fit_extras(fit: Callable[..., Any], args: Any, kwargs: Any) -> dict[str, Any]:
    """The arguments a fit is given besides its data (``X`` and ``y``): named as its signature
    names them (``fit(X, y, w)`` gives ``sample_weight``), those given as None left out (as
    if not given)."""
    extras = {k: v for k, v in kwargs.items() if k not in DATA_NAMES}
    if len(args) > 2:
        try:
            names = [
                p.name
                for p in inspect.signature(fit).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ][1:]  # self
        except (TypeError, ValueError):
            names = []
        for i, value in enumerate(args[2:], start=2):
            extras[names[i] if i < len(names) else f"arg{i}"] = value
    return {k: v for k, v in extras.items() if v is not None}


def _fit_arguments(extras: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A fit's (or a cross-validation's ``params``) arguments, as the identity holds them: each
    array (``sample_weight``, groups) is data, hashed by value under its name; the others are
    ``settings`` (``{"fit": {name: value}}``, arrays inside them hashed too), None when none."""
    from gitlab_journal.data.values import Digest

    data: dict[str, Any] = {}
    others: dict[str, Any] = {}
    for name, value in extras.items():
        if _is_data(value):
            data[name] = Digest(_md5(value))
        else:
            others[name] = _hashed(value)
    return data, ({"fit": others} if others else None)


def _is_data(value: Any) -> bool:
    """Whether ``value`` is an array of numbers (numpy, pandas, scipy sparse, or a list of
    numbers) rather than a setting."""
    if hasattr(value, "shape") and (hasattr(value, "dtype") or hasattr(value, "dtypes")):
        return getattr(value, "ndim", 1) != 0
    if isinstance(value, list | tuple) and value:
        import numpy as np

        try:
            array = np.asarray(value)
        except (TypeError, ValueError):
            return False
        return array.ndim > 0 and array.dtype.kind in "biufc"
    return False


def _hashed(value: Any) -> Any:
    """A setting with each array in it (an ``eval_set``'s) replaced by its md5."""
    if _is_data(value):
        return {"__data__": _md5(value)}
    if isinstance(value, dict):
        return {k: _hashed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_hashed(v) for v in value]
    return value


def _callables(settings: dict[str, Any] | None) -> list[Any]:
    """The values among a fit's settings, whose notebook code counts as the estimator's does."""
    return list((settings or {}).get("fit", {}).values())


def _duplicate(journal: Any, fit: dict[str, Any], model: str) -> str | None:
    """What a duplicate of ``fit`` (given as to ``Journal.record``) is told, or None when the
    journal holds no finished run of it."""
    from gitlab_journal.run import observed

    earlier = observed.earlier(journal.store, journal.fingerprint(**fit))
    return observed.duplicate_message(earlier, model=model) if earlier else None


def _record(state: _State, estimator: Any, args: Any, kwargs: Any, prepared: _Prepared) -> None:
    X, y = _fit_data(args, kwargs)
    metrics: dict[str, float] = {}
    score = getattr(estimator, "score", None)
    if callable(score) and X is not None:
        state.busy = True
        try:
            value = score(X, y) if y is not None else score(X)
            if isinstance(value, int | float) or hasattr(value, "item"):
                metrics["score"] = float(value)
        except Exception:  # an estimator that cannot score itself has no score
            pass
        finally:
            state.busy = False
    run = prepared.journal.record(**_identity(prepared), metrics=metrics, kind=KIND)
    state.tracked = _Tracked(
        estimator=estimator, run=run, journal=prepared.journal, y_md5=prepared.y_md5
    )


def _metric_called(
    state: _State, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any
) -> None:
    tracked = state.tracked
    if tracked is None:
        return
    predicted = args[1] if len(args) > 1 else None
    for key in PREDICTION_ARGS:
        if predicted is None:
            predicted = kwargs.get(key)
    if predicted is None or tracked.predictions.get(id(predicted)) is not predicted:
        return
    try:
        value = float(result)
    except (TypeError, ValueError):
        return  # a report or a matrix, not one number
    y_true = args[0] if args else kwargs.get("y_true")
    try:
        same = y_true is not None and _md5(y_true) == tracked.y_md5
    except Exception:
        same = False
    metric = name if same else f"{name}_test"
    try:
        _update_metric(tracked, metric, value)
    except Exception as exc:
        warnings.warn(f"autolog: {metric} is not recorded: {exc}", AutologWarning, stacklevel=4)


def _update_metric(tracked: _Tracked, metric: str, value: float) -> None:
    run = tracked.run
    known = run.metrics.get(metric)
    if known is not None:  # a recorded value is never changed: a journal only grows
        if known != value:
            warnings.warn(
                f"autolog: {metric} of run {run.id} is recorded already ({known:.6g}); "
                f"{value:.6g} is not recorded",
                AutologWarning,
                stacklevel=5,
            )
        return
    updated = replace(run, metrics={**run.metrics, metric: value})
    message = f"Metric {metric} of run {run.id}\n\n{metric} = {value:.6g}"
    commit = tracked.journal.store.update_run(updated, message)
    tracked.run = updated.with_commit(commit)


# -- GridSearchCV and RandomizedSearchCV: a run per candidate ------------------------------


def _is_search(estimator: Any) -> bool:
    try:
        from sklearn.model_selection._search import BaseSearchCV
    except ImportError:  # pragma: no cover - a scikit-learn that moved it
        return False
    return isinstance(estimator, BaseSearchCV)


@dataclass(frozen=True)
class _SearchPlan:
    journal: Any
    data: dict[str, Any]
    caller: dict[str, str]
    y_md5: str | None
    evaluation: dict[str, Any]
    settings: dict[str, Any] | None = None  # {"fit": the fit's arguments that are not data}


def _search_fit(state: _State, fit: Callable[..., Any], search: Any, args: Any, kwargs: Any) -> Any:
    state.tracked = None
    plan = None
    try:
        plan = _prepare_search(state, fit, search, args, kwargs)
    except DuplicateRunError:
        raise
    except Exception as exc:
        warnings.warn(f"autolog: this search is not recorded: {exc}", AutologWarning, stacklevel=4)
    state.depth += 1
    try:
        result = fit(search, *args, **kwargs)
    finally:
        state.depth -= 1
    if plan is not None:
        try:
            _record_search(state, search, plan)
        except Exception as exc:
            warnings.warn(
                f"autolog: this search is not recorded: {exc}", AutologWarning, stacklevel=4
            )
    return result


def _candidate(search: Any, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A candidate's model and resolved params, as a fit of it alone would have them."""
    from sklearn.base import clone

    from gitlab_journal.journal.identity import public_path

    base = clone(search.estimator).set_params(**params)
    return public_path(type(base)), dict(base.get_params(deep=True))


def _candidates(search: Any) -> list[dict[str, Any]]:
    """The candidates a search will fit, known before it runs: a grid's points, or what a
    randomized search will sample, drawn from a copy of the random state it will draw from
    (an integer seed, a ``RandomState``, or numpy's global one for ``None``), so the search
    still samples exactly what it would have without autolog."""
    from sklearn.model_selection import ParameterGrid, ParameterSampler
    from sklearn.utils import check_random_state

    if hasattr(search, "param_grid"):
        return list(ParameterGrid(search.param_grid))
    if not hasattr(search, "param_distributions"):
        return []
    try:
        state = copy.deepcopy(check_random_state(getattr(search, "random_state", None)))
    except ValueError:  # not a seed scikit-learn takes: the search itself will say so
        return []
    sampler = ParameterSampler(search.param_distributions, search.n_iter, random_state=state)
    return list(sampler)


def _prepare_search(
    state: _State, fit: Callable[..., Any], search: Any, args: Any, kwargs: Any
) -> _SearchPlan:
    from gitlab_journal.journal.identity import normalise

    data, y_md5 = _digests(args, kwargs)
    more, settings = _fit_arguments(_fit_extras(fit, args, kwargs))
    data.update(more)
    owners = (getattr(search, "estimator", None), search.scoring, search.cv)
    plan = _SearchPlan(
        journal=_journal(state),
        data=data,
        caller=caller_code((*owners, *_callables(settings))),
        y_md5=y_md5,
        # as it is before the search runs (a scorer's state may change as it scores)
        evaluation=normalise({"cv": search.cv, "scoring": search.scoring}),
        settings=settings,
    )
    if state.on_duplicate == "ignore":
        return plan
    candidates = _candidates(search)
    found: list[str] = []
    for params in candidates:
        model, resolved = _candidate(search, params)
        message = _duplicate(plan.journal, _search_identity(plan, model, resolved), model)
        if message is not None:
            shown = ", ".join(f"{k}={v!r}" for k, v in sorted(params.items()))
            found.append(f"({shown}): {message}")
    if found:
        message = (
            f"{len(found)} of {len(candidates)} candidates of this {type(search).__name__} "
            "already ran:\n  " + "\n  ".join(found)
        )
        if state.on_duplicate == "raise":
            raise DuplicateRunError(
                message, hint="narrow the search, or autolog(on_duplicate='warn')"
            )
        warnings.warn(message, DuplicateRunWarning, stacklevel=5)
    return plan


def _search_identity(plan: _SearchPlan, model: str, params: dict[str, Any]) -> dict[str, Any]:
    identity = {
        "model": model,
        "params": params,
        "data": plan.data,
        "evaluation": plan.evaluation,
        "caller": plan.caller,
    }
    if plan.settings:
        identity["settings"] = plan.settings
    return identity


SEARCH_METRICS = ("mean_test_", "std_test_", "split", "mean_train_", "mean_fit_time")


def _record_search(state: _State, search: Any, plan: _SearchPlan) -> None:
    import math

    results = search.cv_results_
    runs = []
    for i, params in enumerate(results["params"]):
        model, resolved = _candidate(search, params)
        metrics: dict[str, float] = {}
        for key, values in results.items():
            if not key.startswith(SEARCH_METRICS) or ("_train_" in key and key.startswith("split")):
                continue
            try:
                value = float(values[i])
            except (TypeError, ValueError):
                continue
            if math.isfinite(value):
                metrics[key] = value
        runs.append(
            plan.journal.record(
                **_search_identity(plan, model, resolved), metrics=metrics, kind=KIND
            )
        )
    try:
        best = int(search.best_index_)  # a numpy integer
    except (AttributeError, TypeError, ValueError):
        return  # no refit: nothing predicts
    if 0 <= best < len(runs) and hasattr(search, "best_estimator_"):
        state.tracked = _Tracked(
            estimator=search, run=runs[best], journal=plan.journal, y_md5=plan.y_md5
        )


# -- cross_validate and cross_val_score: one run for the cross-validation ------------------


def _patch_validation(state: _State) -> None:
    """Wrap the functions that fit once a fold where scikit-learn and the calling script have
    them (``sklearn.model_selection`` binds them when it is imported, after this)."""
    validation = importlib.import_module(VALIDATION)
    owners = [validation, sys.modules.get("sklearn.model_selection"), sys.modules.get("__main__")]
    for name in (*CROSS_VALIDATIONS, *UNRECORDED_FOLDS):
        func = getattr(validation, name, None)
        if not inspect.isfunction(func) or getattr(func, _MARK, False):
            continue
        wrapped = _validation_wrapper(func)
        for owner in filter(None, owners):  # the names a script imported before autolog() too
            for key, value in list(vars(owner).items()):
                if value is func:
                    _set(state, owner, key, wrapped)


def _validation_wrapper(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        state = _current()
        if state is None or state.depth or state.busy:
            return func(*args, **kwargs)
        caller = sys._getframe(1)
        if caller.f_globals.get("__name__") == VALIDATION:
            return _unseen_fold(state, func, args, kwargs)
        timed = _timed_frame(caller)
        if timed is not None:
            return _timed(state, timed, func, args, kwargs)
        return _cross_validation(state, func, args, kwargs)

    setattr(wrapper, _MARK, True)
    return wrapper


def _cross_validation(state: _State, func: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """One outermost call of a function that fits once a fold. Its folds' fits are no runs
    (those in worker processes, with ``n_jobs``, never are): a cross-validation is recorded
    from what it returns, in this process."""
    state.tracked = None
    plan = None
    if func.__name__ not in CROSS_VALIDATIONS:
        warnings.warn(
            f"autolog: the fits of this {func.__name__} are not recorded "
            "(cross_validate and cross_val_score are)",
            AutologWarning,
            stacklevel=3,
        )
    else:
        try:
            plan = _prepare_cross_validation(state, func, args, kwargs)
        except DuplicateRunError:
            raise
        except Exception as exc:
            warnings.warn(
                f"autolog: this cross-validation is not recorded: {exc}",
                AutologWarning,
                stacklevel=3,
            )
    state.depth += 1
    try:
        result = func(*args, **kwargs)
    finally:
        state.depth -= 1
    if plan is not None:
        results = result if isinstance(result, dict) else {"test_score": result}
        try:
            _record_cross_validation(*plan, results)
        except Exception as exc:
            warnings.warn(
                f"autolog: this cross-validation is not recorded: {exc}",
                AutologWarning,
                stacklevel=3,
            )
    return result


def _unseen_fold(state: _State, func: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """A fold's fit (or ``cross_val_score``'s call of ``cross_validate``) in a cross-validation
    that autolog did not see, its function imported by name in a module before
    :func:`autolog` ran: no run of its own, and said once."""
    state.tracked = None
    if not state.unseen_told:
        state.unseen_told = True
        warnings.warn(
            "autolog: the fits of a cross-validation whose function was imported before "
            "autolog() ran are not recorded",
            AutologWarning,
            stacklevel=3,
        )
    state.depth += 1
    try:
        return func(*args, **kwargs)
    finally:
        state.depth -= 1


# -- %timeit: timed fits are no runs ---------------------------------------------------------


def _timed_frame(frame: types.FrameType | None) -> types.FrameType | None:
    """The frame of the code IPython's ``%timeit`` (or ``%%timeit``) times, when that code is
    on the stack from ``frame`` up: a fit there runs once a loop, dozens of times."""
    while frame is not None:
        if frame.f_code.co_filename == TIMEIT_CODE:
            return frame
        frame = frame.f_back
    return None


def _timed(
    state: _State,
    timed: types.FrameType,
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """A fit (or a cross-validation) that ``%timeit`` runs: no run, its loops being copies of
    one experiment that measure its speed. Said once a ``%timeit``: each compiles its timed
    code anew, so a code object not seen before is another timing."""
    state.tracked = None
    if state.timed is None or state.timed() is not timed.f_code:
        state.timed = weakref.ref(timed.f_code)
        warn_caller(
            "autolog: fits timed by %timeit are not recorded (run the fit in a cell of its own "
            "to record it)",
            AutologWarning,
            _cell_frame(timed),
        )
    state.depth += 1
    try:
        return func(*args, **kwargs)
    finally:
        state.depth -= 1


def _cell_frame(timed: types.FrameType) -> types.FrameType:
    """The notebook cell that ran ``%timeit``: the first frame above the timed code that runs
    in its namespace; the timed code itself when none does."""
    frame = timed.f_back
    while frame is not None:
        if frame.f_globals is timed.f_globals and frame.f_code.co_filename != TIMEIT_CODE:
            return frame
        frame = frame.f_back
    return timed


def warn_caller(
    message: str, category: type[Warning], frame: types.FrameType | None = None
) -> None:
    """Warn at ``frame`` (default: the innermost frame of the user's ``__main__``, a script or
    a notebook cell, else the caller's caller), every time: not once per line, as a plain
    ``warnings.warn`` would, since each call is about another fit."""
    if frame is None:
        frame = sys._getframe(1)
        while frame is not None and frame.f_globals.get("__name__") != "__main__":
            frame = frame.f_back
        if frame is None:
            warnings.warn(message, category, stacklevel=3)
            return
    warnings.warn_explicit(
        message,
        category,
        frame.f_code.co_filename,
        frame.f_lineno,
        module=frame.f_globals.get("__name__"),
        registry=None,  # a fresh one: shown each time, as filters allow
        module_globals=frame.f_globals,
    )


def _prepare_cross_validation(
    state: _State, func: Callable[..., Any], args: Any, kwargs: Any
) -> tuple[_SearchPlan, str, dict[str, Any]]:
    """The cross-validation's identity, as a search's candidate has it (the estimator's class
    and params, the data, ``cv`` and ``scoring``); a duplicate is told before a fold trains."""
    from gitlab_journal.data.values import Digest
    from gitlab_journal.journal.identity import normalise, public_path

    bound = inspect.signature(func).bind(*args, **kwargs)
    bound.apply_defaults()
    call = bound.arguments
    estimator = call["estimator"]
    data, y_md5 = _digests((call["X"], call.get("y")), {})
    if call.get("groups") is not None:  # they make the folds
        data["groups"] = Digest(_md5(call["groups"]))
    # the arguments routed to each fold's fit (`params`; `fit_params` in older versions)
    routed = {
        str(k): v
        for key in ("params", "fit_params")
        for k, v in dict(call.get(key) or {}).items()
        if v is not None
    }
    more, settings = _fit_arguments(routed)
    data.update(more)
    owners = (estimator, call.get("scoring"), call.get("cv"), *_callables(settings))
    plan = _SearchPlan(
        journal=_journal(state),
        data=data,
        caller=caller_code(owners),
        y_md5=y_md5,
        # as it is before the folds run (a scorer's state may change as it scores)
        evaluation=normalise({"cv": call.get("cv"), "scoring": call.get("scoring")}),
        settings=settings,
    )
    model, params = public_path(type(estimator)), dict(estimator.get_params(deep=True))
    message = None
    if state.on_duplicate != "ignore":
        message = _duplicate(plan.journal, _search_identity(plan, model, params), model)
    if message is not None:
        if state.on_duplicate == "raise":
            raise DuplicateRunError(
                message,
                hint="change a param, the data or the folds, or autolog(on_duplicate='warn')",
            )
        warnings.warn(message, DuplicateRunWarning, stacklevel=4)
    return plan, model, params


def _record_cross_validation(
    plan: _SearchPlan, model: str, params: dict[str, Any], results: dict[str, Any]
) -> None:
    """The run of a cross-validation, as the journal keeps one: each score ``cross_validate``
    returns (``test_score``, ``test_accuracy``, ``train_...``) as the mean over the folds and
    its ``_std``, the mean ``fit_time`` and ``score_time``, and each fold's in ``folds.json``."""
    import math

    import numpy as np

    from gitlab_journal.journal.format import FOLDS_FILE, scores_file

    metrics: dict[str, float] = {}
    folds: dict[str, list[float | None]] = {}
    for key, values in results.items():
        if not key.startswith(("test_", "train_")):
            continue
        scores = np.asarray(values, dtype=float)
        folds[key] = [float(v) if math.isfinite(v) else None for v in scores]
        if np.isfinite(scores).all():  # a fold that failed (error_score=nan) has no mean
            metrics[key] = float(scores.mean())
            metrics[f"{key}_std"] = float(scores.std())
    for key in ("fit_time", "score_time"):
        if key in results:
            metrics[key] = float(np.mean(results[key]))
    if "fit_time" in results:
        folds["fit_time"] = [float(v) for v in results["fit_time"]]
    files = {FOLDS_FILE: scores_file(folds)}
    held_out = [values for key, values in folds.items() if key.startswith("test_")]
    failed = bool(held_out) and all(v is None for values in held_out for v in values)
    error = None
    if failed:  # scikit-learn gave every fold its error_score (NaN): nothing was measured
        count = max(len(values) for values in held_out)
        error = (
            f"every fold failed: none of the {count} folds has a held-out score that is a "
            "number (scikit-learn's warnings say why; error_score='raise' stops at the first)"
        )
    plan.journal.record(
        **_search_identity(plan, model, params),
        metrics=metrics,
        files=files,
        kind=KIND,
        status="failed" if failed else "ok",
        error=error,
    )


# -- the calling code -----------------------------------------------------------------------


def caller_code(owners: Iterable[Any] = ()) -> dict[str, str]:
    """The code that called ``fit``, name -> content id: in a notebook, the code cells on the
    call stack (the cell running now, and any cell whose function is on the way to ``fit``)
    and those that define a class or function of ``owners`` (an estimator, its nested
    estimators and their functions, a scorer's function) made in the notebook, or one that
    code names (a helper a method calls, a function the cell calls; :class:`_MainCode`);
    else the ``__main__`` script. Empty for an interactive interpreter.

    What else the notebook ran reaches ``fit`` through the data and params, which count by
    value: so running a cell again, or after unrelated cells, is the same experiment, and
    "Restart & Run All" finds what the session ran before. The cells' text is kept by its id
    (:func:`notebook_text`), for the run to keep it as its ``notebook.py``."""
    import pygit2

    from gitlab_journal.code.state import NOTEBOOK_CELL

    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    cells = getattr(shell, "user_ns", {}).get("In") if shell is not None else None
    if isinstance(cells, list):
        texts = _notebook_cells(sys._getframe(1), owners, cells)
        if not texts and cells and isinstance(cells[-1], str):
            texts = {cells[-1]}  # called from no cell (a callback of the kernel's): this one
        text = "".join(
            NOTEBOOK_CELL + cell + ("" if cell.endswith("\n") else "\n")
            for cell in sorted(texts)
            if cell.strip()
        )
        blob = str(pygit2.hash(text.encode("utf-8")))
        _keep_cells(blob, text)
        return {"notebook": blob}
    main = sys.modules.get("__main__")
    file = getattr(main, "__file__", None)
    if not file:
        return {}
    try:
        return {"script": str(pygit2.hashfile(str(file)))}
    except (OSError, ValueError, pygit2.GitError):
        return {}


_kept_cells: dict[str, str] = {}  # blob id -> text, the last MAX_KEPT_CELLS made


def _keep_cells(blob: str, text: str) -> None:
    _kept_cells.pop(blob, None)
    _kept_cells[blob] = text
    while len(_kept_cells) > MAX_KEPT_CELLS:
        _kept_cells.pop(next(iter(_kept_cells)), None)


def notebook_text(blob: str) -> str | None:
    """The text of the notebook cells whose git blob id is ``blob``, when :func:`caller_code`
    made it in this process (and lately): what a run whose caller names them keeps as its
    ``notebook.py``. None for another id."""
    return _kept_cells.get(blob)


def _notebook_cells(frame: Any, owners: Iterable[Any], cells: Sequence[Any] = ()) -> set[str]:
    """The text of each notebook cell on the stack from ``frame`` up, and of each cell that
    defines a ``__main__`` class or function that code uses (:class:`_MainCode`): ``owners``
    and what they are made of, and what the notebook's code found names, transitively. IPython
    keeps a cell's text in :mod:`linecache` under the name its code was compiled with, without
    a file time; ``cells`` are the texts the kernel ran (``In``), where a class with no
    methods of its own is found."""
    import linecache

    found = _MainCode(cells)
    names: list[str] = []
    while frame is not None:
        names.append(frame.f_code.co_filename)
        if frame.f_globals.get("__name__") == "__main__":
            found.code(frame.f_code, frame.f_globals)
        frame = frame.f_back
    found.objects(owners)
    names.extend(found.files)
    texts = set(found.texts)
    for name in dict.fromkeys(names):
        entry = linecache.cache.get(name)
        if entry is not None and len(entry) == 4 and entry[1] is None:
            texts.add("".join(entry[2]))
    return texts


MAX_FOLLOWED = 512  # the notebook's objects one fit's code follows, at most
MAX_UNWRAP = 8  # decorators (and autolog's wrappers) looked through, at most


def _unwrapped(value: Any) -> Any:
    """``value`` without its decorators' wrappers (``__wrapped__``), autolog's included."""
    for _ in range(MAX_UNWRAP):
        inner = getattr(value, "__wrapped__", None)
        if inner is None:
            break
        value = inner
    return value


def _is_main(value: Any) -> bool:
    """Whether ``value`` is a function or class the notebook defined. (Not an object: a name
    the code assigns, ``model = Wide().fit(X, y)``, holds the one it made before.)"""
    if isinstance(value, type | types.FunctionType):
        return value.__module__ == "__main__"
    return False


class _MainCode:
    """The code of the ``__main__`` classes and functions (a notebook's) that a fit depends
    on: those of its owners (an estimator, its nested estimators and their functions, a
    scorer's function), and, from any code found, each function or class of the notebook
    its names name (a helper a method calls, a function a cell calls), transitively
    and bounded. ``files``: the code objects' file names (a cell's, in linecache); ``texts``:
    the cells of classes that hold no code of their own (``class Child(Base): n = 1``), the
    last cell the kernel ran that defines the class's name."""

    def __init__(self, cells: Sequence[Any]) -> None:
        self.cells = cells
        self.files: list[str] = []
        self.texts: set[str] = set()
        self.todo: list[Any] = []
        self.seen_code: set[int] = set()
        self.seen: set[int] = set()
        self.seen_classes: set[int] = set()
        self.budget = MAX_FOLLOWED

    def code(self, code: types.CodeType, namespace: dict[str, Any]) -> None:
        """``code``, the code nested in it, and what their global names name in ``namespace``
        that the notebook defined."""
        stack = [code]
        while stack:
            current = stack.pop()
            if id(current) in self.seen_code:
                continue
            self.seen_code.add(id(current))
            self.files.append(current.co_filename)
            for name in current.co_names:
                value = namespace.get(name)
                if value is not None and _is_main(value):
                    self.todo.append(value)
            stack.extend(c for c in current.co_consts if isinstance(c, types.CodeType))

    def objects(self, owners: Iterable[Any]) -> None:
        self.todo.extend(owners)
        while self.todo and self.budget > 0:
            obj = self.todo.pop()
            if obj is None or id(obj) in self.seen:
                continue
            self.seen.add(id(obj))
            self.budget -= 1
            self._object(obj)

    def _object(self, obj: Any) -> None:
        if isinstance(obj, list | tuple | set | frozenset):
            self.todo.extend(obj)
            return
        if isinstance(obj, dict):
            self.todo.extend(obj.values())
            return
        if isinstance(obj, functools.partial):
            self.todo.extend([obj.func, *obj.args, *obj.keywords.values()])
            return
        if isinstance(obj, types.MethodType):
            self.todo.extend([obj.__func__, obj.__self__])
            return
        function = _unwrapped(obj) if callable(obj) and not isinstance(obj, type) else obj
        if isinstance(function, types.FunctionType):
            if function.__module__ == "__main__":
                self.code(function.__code__, function.__globals__)
            return
        if isinstance(obj, type):
            self._classes(obj)
            return
        self._classes(type(obj))
        if type(obj).__module__.startswith("sklearn.metrics"):
            # a scorer: its score function and arguments (scorers of a multi-metric one)
            with contextlib.suppress(TypeError):
                self.todo.extend(vars(obj).values())
        get_params = getattr(obj, "get_params", None)
        if callable(get_params):
            try:
                self.todo.extend(get_params(deep=False).values())
            except Exception:  # an estimator whose params cannot be read: its own error later
                return

    def _classes(self, klass: type) -> None:
        """The notebook's classes ``klass`` is made of: their methods' code; for one that has
        none of its own, the cell that defines it."""
        for owner in klass.__mro__:
            if owner.__module__ != "__main__" or id(owner) in self.seen_classes:
                continue
            self.seen_classes.add(id(owner))
            own = False
            for member in list(vars(owner).values()):
                member = getattr(member, "__func__", member)  # staticmethod, classmethod
                member = getattr(member, "fget", member)  # property
                member = _unwrapped(member)  # the method itself, not autolog's wrapper of it
                if isinstance(member, types.FunctionType) and member.__module__ == "__main__":
                    code = member.__code__
                    own = own or code.co_qualname.startswith(owner.__qualname__ + ".")
                    self.code(code, member.__globals__)
                elif isinstance(member, type) and member.__module__ == "__main__":
                    self.todo.append(member)
            if not own:
                text = _class_cell(owner, self.cells)
                if text is not None:
                    self.texts.add(text)


def _class_cell(klass: type, cells: Sequence[Any]) -> str | None:
    """The text of the last cell of ``cells`` (the kernel's ``In``, in the order they ran)
    that defines ``klass``'s name at its top level, as linecache holds a cell's text; None
    when none does (or the class is not a top-level one)."""
    import re

    if klass.__qualname__ != klass.__name__:
        return None
    defines = re.compile(rf"^class\s+{re.escape(klass.__name__)}\b", re.MULTILINE)
    for cell in reversed(cells):
        if isinstance(cell, str) and defines.search(cell):
            return "".join(line + "\n" for line in cell.splitlines())
    return None


# -- Keras ----------------------------------------------------------------------------------


def _patch_keras(state: _State) -> None:
    import keras

    model = keras.Model
    fit = model.fit

    @functools.wraps(fit)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        current = _current()
        if current is None or current.depth or current.busy:
            return fit(self, *args, **kwargs)
        timed = _timed_frame(sys._getframe(1))
        if timed is not None:
            return _timed(current, timed, fit, (self, *args), kwargs)
        return _keras_fit(current, fit, self, list(args), dict(kwargs))

    setattr(wrapper, _MARK, True)
    _set(state, model, "fit", wrapper)


KERAS_FIT_ARGS = ("x", "y", "batch_size", "epochs", "verbose", "callbacks")
KERAS_PARAMS = ("batch_size", "validation_split", "shuffle", "class_weight", "initial_epoch")


def _keras_fit(
    state: _State, fit: Callable[..., Any], model: Any, args: list[Any], kwargs: dict[str, Any]
) -> Any:
    bound = dict(zip(KERAS_FIT_ARGS, args, strict=False))
    bound.update({k: v for k, v in kwargs.items() if k in KERAS_FIT_ARGS})
    callbacks = list(bound.get("callbacks") or [])
    from gitlab_journal.keras import JournalCallback

    if not any(isinstance(c, JournalCallback) for c in callbacks):
        try:
            callback = _keras_callback(state, bound, kwargs)
        except Exception as exc:
            warnings.warn(f"autolog: this fit is not recorded: {exc}", AutologWarning, stacklevel=3)
        else:
            callbacks.append(callback)
            if len(args) > 5:
                args[5] = callbacks
            else:
                kwargs["callbacks"] = callbacks
    state.depth += 1
    try:
        return fit(model, *args, **kwargs)
    finally:
        state.depth -= 1


def _keras_callback(state: _State, bound: dict[str, Any], kwargs: dict[str, Any]) -> Any:
    from gitlab_journal.data.values import Digest
    from gitlab_journal.keras import JournalCallback

    x, y = bound.get("x"), bound.get("y")
    data: dict[str, Any] = {}
    for name, value in (("x", x), ("y", y)):
        if value is None:
            continue
        if not (hasattr(value, "shape") and hasattr(value, "dtype")) and not isinstance(
            value, list | tuple
        ):
            raise JournalError(f"cannot hash {name} of type {type(value).__qualname__}")
        data[name] = Digest(_md5(value))
    params = {k: bound.get(k, kwargs.get(k)) for k in KERAS_PARAMS if k in {**bound, **kwargs}}
    caller = caller_code()

    class AutologCallback(JournalCallback):
        kind = KIND

        def _fit(self) -> Any:
            return replace(super()._fit(), caller=caller)

    return AutologCallback(
        params=params,
        data=data,
        journal=_journal(state),
        on_duplicate=state.on_duplicate,
    )
