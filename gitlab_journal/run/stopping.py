"""Stop signals: Ctrl-C (SIGINT) and SIGTERM end a `git journal run` alike, never halfway
through writing the journal or a claim.

SIGTERM is what `timeout`, `docker stop`, systemd and a cancelled CI job send. For the whole
command, :func:`sigterm_interrupts` makes it raise ``KeyboardInterrupt`` as Ctrl-C does, so
both take the same way out: what trained is recorded, the claims are released, exit 130.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be, and that may be
inside a callback libgit2 makes into Python while a batch of runs is written (its objects are
kept in memory by a Python object database), where an exception turns into a ``SystemError``
of the writer. While the runner records a result, claims a point or writes its last batch,
:class:`Stops` holds a stop signal back and raises it as soon as that work is done.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """While the block runs, SIGTERM raises ``KeyboardInterrupt`` as SIGINT does. A handler
    installed over this one meanwhile (a command in training ends its process group first)
    puts it back; a SIGTERM the process was started ignoring, or that the program embedding
    this one handles, is left alone."""
    if not _main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


class Stops:
    """Holds back the ``KeyboardInterrupt`` of SIGINT and SIGTERM while the journal is written.

    :meth:`install` takes over each stop signal whose handler raises ``KeyboardInterrupt``
    (Python's own for SIGINT; :func:`sigterm_interrupts`'s for SIGTERM): outside
    :meth:`held`, the first stop raises at once, as before; inside, it is noted and raised when
    the outermost :meth:`held` block ends (unless an exception already leaves it). Once a stop
    was raised, later ones are only noted: `timeout` sends its signal twice (to the process,
    then to its group), and git forwards the one it gets, and the run is ending anyway.
    :meth:`last` holds stops for the writing at the end, then puts the previous handlers back.
    """

    def __init__(self) -> None:
        self.depth = 0
        self.pending = False  # a stop arrived while held and was not raised yet
        self.raised = False  # a stop raised KeyboardInterrupt
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        if not _main_thread():
            return  # only the main thread gets signals: nothing to hold
        for sig in STOP_SIGNALS:
            if signal.getsignal(sig) is signal.default_int_handler:
                self._previous[sig] = signal.signal(sig, self._stop)

    def restore(self) -> None:
        previous, self._previous = self._previous, {}
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        if self.depth or self.raised:
            self.pending = True
            return
        self.raised = True
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Run the block whole: a stop that arrives meanwhile is raised once it ends."""
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if self.pending and not self.depth:
            self.pending = False
            self.raised = True
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def last(self) -> Iterator[None]:
        """Run the block whole, then put the previous handlers back; a stop that arrived
        meanwhile stays :attr:`pending` for the caller to report."""
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
            self.restore()
