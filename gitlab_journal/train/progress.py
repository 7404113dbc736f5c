"""Progress inside one point (the folds of a cross-validation, a Keras fit's epochs), for the
terminal's progress bar and the point's claim (which `git journal ui` shows).

A back end says what it is doing with :func:`say`; the runner, when it trains in this process,
listens with :func:`listening`. Nobody listening (a worker process, a test) costs one attribute
read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
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
    """The folds of a cross-validation, each said as scikit-learn takes it to fit (it fits
    them one by one as the split yields them)."""

    def __init__(self, splits: Sequence[tuple[Any, Any]]):
        self.splits = splits

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return len(self.splits)

    def split(self, X: Any = None, y: Any = None, groups: Any = None) -> Iterator[Any]:
        total = len(self.splits)
        for number, fold in enumerate(self.splits, start=1):
            say(f"fold {number}/{total}")
            yield fold
