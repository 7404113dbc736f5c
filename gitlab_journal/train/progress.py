"""Progress inside one point (the folds of a cross-validation, a Keras fit's epochs), for the
terminal's progress bar and the point's claim (which `git journal ui` shows).

A back end says what it is doing with :func:`say`; the runner, when it trains in this process,
listens with :func:`listening`. Nobody listening (a worker process, a test) costs one attribute
read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

_listener: Callable[[str], None] | None = None


def say(text: str) -> None:
    """Tell the listener, if any, what the point in training is doing now."""
    if _listener is not None:
        _listener(text)


def is_listening() -> bool:
    return _listener is not None


@contextlib.contextmanager
def listening(listener: Callable[[str], None]) -> Iterator[None]:
    """Route :func:`say` to ``listener`` while the block runs."""
    global _listener
    before, _listener = _listener, listener
    try:
        yield
    finally:
        _listener = before


class Folds:
    """A cross-validation splitter that says each fold as scikit-learn takes it (scikit-learn
    fits folds one by one as the split yields them, so the folds are exactly the splitter's)."""

    def __init__(self, splitter: Any):
        self.splitter = splitter

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return int(self.splitter.get_n_splits(X, y, groups))

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Iterator[Any]:
        total = self.get_n_splits(X, y, groups)
        for number, fold in enumerate(self.splitter.split(X, y, groups), start=1):
            say(f"fold {number}/{total}")
            yield fold
