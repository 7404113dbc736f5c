"""The command back end: a training command (``python train.py --lr {lr}``) as an experiment.

Each point's params are substituted into the command (shell-quoted), and the command runs in
the repository root, in its own process group, with ``JOURNAL_RUN_DIR`` (an empty folder whose
files become the run's files), ``JOURNAL_PARAMS`` (a JSON file of the point's params),
``JOURNAL_RUN_ID`` and ``JOURNAL_LOG`` (where ``current_run().log_metric`` writes) in its
environment. Its output streams to the terminal and the last lines are kept with the run.
Metrics come from ``metrics.json`` (in the run folder, or written to the repository root while
the command ran), from DVCLive's output folder, and from ``current_run().log_metric``.

The repository root and the DVCLive folder are shared by every command of the repository: a
file there counts as the command's only if it appeared or changed while the command ran, and
commands that run at once note themselves in ``<git dir>/journal/running/`` so that a point
whose metrics came from a shared file another point could have written fails rather than
records the other's metrics.

This module reads and writes no git object, and imports neither scikit-learn nor TensorFlow.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import json
import math
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

from gitlab_journal.errors import JournalError, describe_exit
from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.identity import finite_json, normalise
from gitlab_journal.journal.records import new_run_id
from gitlab_journal.spec.command import (
    DEFAULT_METRICS,
    command_template,
    placeholders,
    substitute,
)
from gitlab_journal.spec.model import EvaluationSpec, ModelSpec
from gitlab_journal.train.backend import Resolved, Result, TrainOptions

OUTPUT_LINES = 200
ERROR_LINES = 20
LINE_CHARS = 2000  # the most of one output line kept; the rest is counted, not kept
CHUNK = 64 * 1024  # bytes read from the command's output at a time
RUNNING_DIR = "running"  # under <git dir>/journal: the commands running now, one file each
OWN_FOLDER_HINT = "write $JOURNAL_RUN_DIR/metrics.json instead (each point's own folder)"
MAX_RUN_BYTES = 20 * 1024 * 1024  # what a run's folder may keep in the journal
KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL for the command's process group
# Files the journal writes itself: a command's file of the same name goes under outputs/.
RESERVED = frozenset(
    {
        *fmt.REQUIRED_FILES,
        fmt.SPEC_FILE,
        fmt.PATCH_FILE,
        fmt.HISTORY_FILE,
        fmt.FOLDS_FILE,
        fmt.DVC_RECORD_FILE,
        fmt.OUTPUT_FILE,
        fmt.CURVE_FILE,
        fmt.NOTEBOOK_FILE,
    }
)
OUTPUTS = "outputs"  # where a command's file of a reserved name is kept
# The command's files kept under a name the journal gives meaning to: classes.json (the
# per-class figures `show` prints) and its JSON records under outputs/. Each is kept as strict
# JSON, as the journal writes its own, or not kept (:func:`_strict_json`).
JSON_NAMES = frozenset(
    {fmt.CLASSES_FILE, *(f"{OUTPUTS}/{name}" for name in RESERVED if name.endswith(".json"))}
)


def model_name(template: str) -> str:
    """What a command run shows as its model: the script it runs (``train`` for ``python
    train.py``), else the program."""
    try:
        words = shlex.split(template)
    except ValueError:
        words = template.split()
    words = [w for w in words if "=" not in w.split("/")[0] or w.startswith("-")]
    for word in words[1:]:
        if not word.startswith("-") and "." in Path(word).name and "{" not in word:
            return "command." + Path(word).stem
    return "command." + (Path(words[0]).name if words else "command")


def resolve(
    model: ModelSpec, params: Mapping[str, Any], seed: int | None, *, root: Path | None = None
) -> Resolved:
    shown = {key: normalise(value) for key, value in sorted(params.items())}
    identity: dict[str, Any] = {
        "kind": "command",
        "command": command_template(model.estimator),
        "params": shown,
    }
    directory = model.fixed.get("directory")
    if directory:  # the repository root, the default, is left out
        identity["directory"] = directory
    return Resolved(model=model_name(model.estimator), identity=identity, params=shown)


def command_folder(model: ModelSpec, root: Path) -> Path:
    """Where the command runs: its ``directory``, else the repository root. Its metrics file
    and DVCLive folder are read from there."""
    return root / str(model.fixed.get("directory") or "")


def validate(
    model: ModelSpec,
    params: Mapping[str, Any],
    X: Any,
    y: Any,
    evaluation: EvaluationSpec,
    *,
    where: Any,
    root: Path | None = None,
    first: bool = True,
) -> None:
    """Refuse a command whose program does not exist, before anything runs; warn of a param
    the command line never uses (the command may read it from ``$JOURNAL_PARAMS``)."""
    if not first:
        return
    try:
        words = shlex.split(substitute(model.estimator, params))
    except ValueError as exc:
        raise JournalError(f"{where('command')}: cannot split the command: {exc}") from exc
    program = next((w for w in words if not _is_assignment(w)), None)
    if program is None:
        raise JournalError(f"{where('command')}: the command runs nothing")
    missing = _missing(program, command_folder(model, root or Path.cwd()))
    if missing is not None:
        problem, hint = missing
        raise JournalError(f"{where('command')}: {program}: {problem}", hint=hint)
    unused = sorted(set(params) - set(placeholders(model.estimator)))
    if unused:
        print(
            f"warning: {where('params')}: {', '.join(unused)} not in the command; "
            "the command reads it from $JOURNAL_PARAMS",
            file=sys.stderr,
        )


def _is_assignment(word: str) -> bool:
    name, eq, _ = word.partition("=")
    return bool(eq) and name.isidentifier()


def _missing(program: str, root: Path | None) -> tuple[str, str] | None:
    """Why ``program`` cannot run, and a hint; None when it can."""
    where = root or Path.cwd()
    if "/" in program:
        path = Path(program) if Path(program).is_absolute() else where / program
        if path.is_dir():
            return "a folder, not a program", "name the script or program inside it"
        if not path.is_file():
            return "command not found", "the command runs in the repository root"
        if not os.access(path, os.X_OK):
            return "not executable", f"make it executable: chmod +x {shlex.quote(program)}"
        return None
    builtins = {"cd", "exec", "export", "set", "true", "false", "test", "[", "echo", "exit"}
    if program in builtins or shutil.which(program) is not None:
        return None
    hint = "the command runs in the repository root, with the PATH of this shell"
    if (where / program).is_file():
        hint = f"to run the file {program} of the repository root, write ./{program}"
    return "command not found", hint


def train(
    model: ModelSpec,
    params: Mapping[str, Any],
    X: Any,
    y: Any,
    evaluation: EvaluationSpec,
    *,
    options: TrainOptions | None = None,
) -> Result:
    """Run the point's command and collect its run: metrics, files, the output's tail."""
    options = options or TrainOptions()
    root = command_folder(model, options.root or Path.cwd())
    run_id = new_run_id()
    wanted: Mapping[str, str] = model.fixed.get("metrics") or {}
    with tempfile.TemporaryDirectory(prefix="journal-command-") as scratch:
        run_dir = Path(scratch) / "run"
        run_dir.mkdir()
        params_file = Path(scratch) / "params.json"
        params_file.write_text(json.dumps(dict(params), indent=2, default=str) + "\n")
        log_file = Path(scratch) / "log.jsonl"
        env = {
            **os.environ,
            "JOURNAL_RUN_DIR": str(run_dir),
            "JOURNAL_PARAMS": str(params_file),
            "JOURNAL_RUN_ID": run_id,
            "JOURNAL_LOG": str(log_file),
            "PYTHONUNBUFFERED": "1",
        }
        timeout = model.fixed.get("timeout")
        registration = _Registration.enter(root, run_id, _shared_key(wanted, root))
        overlapped: list[str] = []
        try:
            before = _Before.take(root, wanted)  # what the shared files are before it starts
            began = time.monotonic()  # how long it ran, whatever the clock does meanwhile
            ran = _run(substitute(model.estimator, params), root, env, timeout)
            seconds = time.monotonic() - began
        finally:
            if registration is not None:
                overlapped = registration.leave()
        return _result(model, ran, run_dir, log_file, root, before, seconds, run_id, overlapped)


class _Ran:
    """How the command ended, and the tail of what it printed."""

    def __init__(self) -> None:
        self.code: int | None = None
        self.timed_out = False
        self.interrupted = False
        self.output: collections.deque[str] = collections.deque(maxlen=OUTPUT_LINES)
        self.errors: collections.deque[str] = collections.deque(maxlen=ERROR_LINES)
        self.lock = threading.Lock()


class _Stop(BaseException):
    """SIGTERM while the command runs (a worker being shut down): end it like Ctrl-C."""


def _run(command: str, root: Path, env: Mapping[str, str], timeout: float | None) -> _Ran:
    ran = _Ran()
    proc = subprocess.Popen(
        ["/bin/sh", "-c", command],
        cwd=root,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, ended as one
    )
    assert proc.stdout is not None and proc.stderr is not None
    pumps = [
        threading.Thread(target=_pump, args=(proc.stdout, sys.stdout, ran, False), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, sys.stderr, ran, True), daemon=True),
    ]
    for pump in pumps:
        pump.start()
    with _StopSignals() as stops:
        try:
            ran.code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            ran.timed_out = True
            stops.hold()  # a stop signal now must not cut the ending short
            ran.code = _end(proc)
            ran.interrupted = stops.stopped
        except (KeyboardInterrupt, _Stop):
            stops.stopped = True
            stops.hold()
            ran.interrupted = True
            ran.code = _end(proc)
    for pump in pumps:
        pump.join(timeout=KILL_GRACE)
    return ran


def _pump(source: IO[bytes], sink: IO[str], ran: _Ran, errors: bool) -> None:
    """Copy the command's output to ``sink`` as it comes, a chunk at a time, and keep its last
    lines in ``ran``."""

    def keep(line: str) -> None:
        with ran.lock:
            ran.output.append(line)
            if errors:
                ran.errors.append(line)

    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    lines = _Lines(keep)
    while True:
        raw = os.read(source.fileno(), CHUNK)
        text = decoder.decode(raw, final=not raw)
        if text:
            try:
                sink.write(text)
                sink.flush()
            except (OSError, ValueError):
                pass
            lines.feed(text)
        if not raw:
            break
    lines.close()
    source.close()


_LINE_ENDS = re.compile(r"(\r\n|\r|\n)")


class _Lines:
    """The lines of one output stream, as they are kept: a ``\\r`` starts its line over, as
    on a terminal, so a progress bar keeps only its last state; of a line longer than
    :data:`LINE_CHARS`, the start is kept and the rest counted. Never more than one line of
    :data:`LINE_CHARS` is held."""

    def __init__(self, keep: Callable[[str], None]) -> None:
        self.keep = keep
        self.pieces: list[str] = []
        self.size = 0  # characters held in pieces
        self.cut = 0  # characters of the line beyond LINE_CHARS, not held
        self.last: str | None = None  # the line's state before a \r: kept if the line ends now

    def feed(self, text: str) -> None:
        for piece in _LINE_ENDS.split(text):
            if piece == "\n" or piece == "\r\n":
                line = self._take()
                self.keep(line if line or self.last is None else self.last)
                self.last = None
            elif piece == "\r":
                line = self._take()
                if line:
                    self.last = line
            elif piece:
                held = piece[: LINE_CHARS - self.size]
                if held:
                    self.pieces.append(held)
                    self.size += len(held)
                self.cut += len(piece) - len(held)

    def close(self) -> None:
        line = self._take()
        if line or self.last is not None:
            self.keep(line or self.last or "")

    def _take(self) -> str:
        line = "".join(self.pieces)
        if self.cut:
            line += f" [… {self.cut:,} characters cut]"
        self.pieces, self.size, self.cut = [], 0, 0
        return line


def _end(proc: subprocess.Popen[bytes]) -> int | None:
    """End the command's whole process group: SIGTERM, then SIGKILL after a grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            return proc.wait(timeout=KILL_GRACE)
        except subprocess.TimeoutExpired:
            continue
    return proc.wait()


class _StopSignals:
    """While the command runs, SIGTERM (a worker being shut down, a scheduler ending a job) and
    Ctrl-C's SIGINT stop it. From the first stop on, and while a command past its timeout is
    being ended, further SIGTERM and SIGINT are held: they cannot cut short the ending of the
    command's process group, nor the recording of the run that follows (``timeout -s TERM``,
    say, sends two). A process that was stopped keeps holding them: it records the run
    ``interrupted`` and exits (130). Signals are only handled in the main thread."""

    def __init__(self) -> None:
        self.stopped = False
        self.installed = threading.current_thread() is threading.main_thread()
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _StopSignals:
        if self.installed:
            self.previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
            signal.signal(signal.SIGTERM, self._stop)
            if self.previous[signal.SIGINT] is signal.default_int_handler:
                signal.signal(signal.SIGINT, self._stop)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.installed and not self.stopped:
            for sig, handler in self.previous.items():
                signal.signal(sig, handler)

    def hold(self) -> None:
        """From now on, a stop signal only notes that a stop was asked for."""
        if self.installed:
            signal.signal(signal.SIGTERM, self._held)
            signal.signal(signal.SIGINT, self._held)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopped = True
        self.hold()  # before anything else: a second signal may be pending already
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise _Stop

    def _held(self, signum: int, frame: FrameType | None) -> None:
        self.stopped = True


# --- the shared files: before, and who else ran meanwhile -------------------------------------

_FileState = tuple[int, int, int, int]  # mtime_ns, size, inode, ctime_ns


def _file_state(path: Path) -> _FileState | None:
    try:
        found = path.stat()
    except OSError:
        return None
    if not stat.S_ISREG(found.st_mode):
        return None
    return (found.st_mtime_ns, found.st_size, found.st_ino, found.st_ctime_ns)


@dataclass(frozen=True)
class _Before:
    """The files of the repository root and the DVCLive folder the command may write, as they
    were just before it started: one counts as the command's only if it appeared or changed."""

    states: Mapping[Path, _FileState | None] = field(default_factory=dict)

    @classmethod
    def take(cls, root: Path, wanted: Mapping[str, str]) -> _Before:
        if "dvclive" in wanted:
            folder = root / wanted["dvclive"]
            paths = [folder / "metrics.json", *_tsv_files(folder)]
        else:
            paths = [root / wanted.get("file", DEFAULT_METRICS)]
        return cls({path: _file_state(path) for path in paths})

    def written(self, path: Path) -> bool:
        """``path`` is a file the command wrote: it appeared, or changed, while it ran."""
        now = _file_state(path)
        return now is not None and now != self.states.get(path)


def _tsv_files(folder: Path) -> list[Path]:
    plots = folder / "plots" / "metrics"
    return sorted(plots.rglob("*.tsv")) if plots.is_dir() else []


def _shared_key(wanted: Mapping[str, str], folder: Path) -> str:
    """What the command's metrics may be read from in a place all commands share (in
    ``folder``, where the command runs)."""
    if "dvclive" in wanted:
        return "dvclive:" + (folder / wanted["dvclive"]).as_posix()
    return "file:" + (folder / wanted.get("file", DEFAULT_METRICS)).as_posix()


@dataclass
class _Registration:
    """This command's note in ``<git dir>/journal/running/<run id>``, there while it runs.

    The note's first line says which shared file the command's metrics may come from, and the
    process that runs it; the process holds the note locked (``flock``), so a note whose
    process ended without taking it back (killed outright) is seen as such, ignored and
    removed. A command that ends adds its run id to the notes still there for the same shared
    file: those commands ran at once with it. It then reads the ids added to its own note, and
    takes the note back. Of two commands that overlap in time, each learns of the other: the
    one that ends last sees the other's id in its note, or the other's note still there.
    """

    folder: Path
    run_id: str
    shares: str
    fd: int

    @classmethod
    def enter(cls, root: Path, run_id: str, shares: str) -> _Registration | None:
        folder = _running_folder(root)
        if folder is None:
            return None
        partial = folder / f".{run_id}.{os.getpid()}"  # never read by the others
        try:
            fd = os.open(partial, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
        except OSError:
            return None
        try:
            locked = _lock(fd)
            header = {"pid": os.getpid(), "shares": shares, "locked": locked}
            os.write(fd, (json.dumps(header) + "\n").encode())
            os.rename(partial, folder / run_id)  # in place at once, already locked
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                partial.unlink()
            return None
        return cls(folder, run_id, shares, fd)

    def leave(self) -> list[str]:
        """Take the note back: the run ids of the commands sharing its file that ran meanwhile."""
        try:
            others = [run_id for run_id, shares in _running(self.folder) if shares == self.shares]
            others = [run_id for run_id in others if run_id != self.run_id]
            for run_id in others:
                _add_line(self.folder / run_id, self.run_id)
            with contextlib.suppress(OSError):
                lines = (self.folder / self.run_id).read_text(encoding="utf-8").splitlines()
                others += [line.strip() for line in lines[1:] if line.strip()]
            return sorted(set(others) - {self.run_id})
        finally:
            with contextlib.suppress(OSError):
                (self.folder / self.run_id).unlink()
            os.close(self.fd)


def _running_folder(root: Path) -> Path | None:
    """``<git dir>/journal/running`` of the repository ``root`` is in (a linked worktree has a
    git dir, and a root, of its own), made if need be; None outside a repository."""
    try:
        import pygit2

        found = pygit2.discover_repository(str(root))
    except Exception:  # not a repository: nothing to share the root with
        return None
    if found is None:
        return None
    folder = Path(found) / "journal" / RUNNING_DIR
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder


def _running(folder: Path) -> list[tuple[str, str]]:
    """The notes of the commands running now: (run id, shared file). A note whose process is
    gone is removed."""
    out = []
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    for name in names:
        path = folder / name
        if name.startswith("."):  # a note being made, or one whose process died making it
            maker = name.rpartition(".")[2]
            if maker.isdigit() and not _pid_alive(int(maker)):
                with contextlib.suppress(OSError):
                    path.unlink()
            continue
        try:
            with path.open("rb") as note:
                header = json.loads(note.readline())
                pid, shares, locked = int(header["pid"]), str(header["shares"]), header["locked"]
                alive = _held_by_other(note.fileno()) if locked else _pid_alive(pid)
                if not alive:
                    path.unlink()
        except FileNotFoundError:
            continue  # taken back meanwhile
        except (OSError, ValueError, KeyError, TypeError):
            continue  # unreadable: not a note this version writes
        if alive:
            out.append((name, shares))
    return out


def _lock(fd: int) -> bool:
    """Lock the new note ``fd`` (``flock``): False where the file system has no locks."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _held_by_other(fd: int) -> bool:
    """Whether the note open as ``fd`` is still locked by the process running its command
    (another thread's of this process included). Where it is not, the lock taken here is
    dropped when the caller closes the file."""
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except (ImportError, OSError):  # pragma: no cover - no locks here: say it runs
        return True
    return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def _add_line(path: Path, text: str) -> None:
    """Append a line to the note at ``path``, unless it was taken back (never made again)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except OSError:
        return
    try:
        os.write(fd, (text + "\n").encode())
    except OSError:
        pass
    finally:
        os.close(fd)


# --- the run ------------------------------------------------------------------------------------


@dataclass
class _Read:
    """Where the command's metrics were read from: the file's name as shown, and whether it sat
    in a place every command of the repository shares."""

    shown: str | None = None
    shared: bool = False
    in_run_dir: str | None = None  # its name in the run folder (not kept as a run file)


def _result(
    model: ModelSpec,
    ran: _Ran,
    run_dir: Path,
    log_file: Path,
    root: Path,
    before: _Before,
    seconds: float,
    run_id: str,
    overlapped: list[str],
) -> Result:
    with ran.lock:  # a process the command left behind may still print
        output = "\n".join(ran.output) + "\n" if ran.output else ""
        errors = list(ran.errors)
    wanted: Mapping[str, str] = model.fixed.get("metrics") or {}
    warnings: list[str] = []
    metrics: dict[str, float] = {}
    history: dict[str, list[float]] = {}
    steps: dict[str, list[int | None]] = {}
    problem: str | None = None
    # Where the metrics are is known before they are read: a shared file that another point
    # is writing at that moment reads as broken JSON, and the overlap is the error to report.
    read, path = _metrics_place(wanted, run_dir, root, before)
    try:
        if path is not None and read.shown is not None:
            _flat_metrics(_load_json(path, read.shown), "", metrics, path)
        _read_dvclive_history(wanted, root, before, history, steps)
    except JournalError as exc:
        problem = exc.message
    if overlapped and (read.shared or (read.shown is None and "dvclive" in wanted and history)):
        problem = _overlap_error(wanted, overlapped)
        metrics.clear()  # they may be another point's
        history.clear()
        steps.clear()
    logged_problem = _read_log(log_file, metrics, history, steps)
    problem = problem or logged_problem
    files, too_big, file_warnings = _files(run_dir, read.in_run_dir)
    warnings += file_warnings
    if output:
        files[fmt.OUTPUT_FILE] = output.encode()
    if history:
        files[fmt.HISTORY_FILE] = _history_file(history, steps)
        curve = _curve(history, model_name(model.estimator))
        if curve is not None:
            files[fmt.CURVE_FILE] = curve
    status = "ok"
    error: str | None = None
    if ran.interrupted:
        status, error = "interrupted", "interrupted (Ctrl-C): the command's process group ended"
    elif ran.timed_out:
        timeout = float(model.fixed.get("timeout") or 0)
        status, error = "failed", f"the command ran past its timeout of {timeout:g} s"
        warnings.append(f"timeout: stopped after {timeout:g} s")
    elif ran.code != 0:
        status = "failed"
        error = f"the command ended: {describe_exit(ran.code)}"
        if errors:
            error += ":\n" + "\n".join(errors)
    elif problem is not None:
        status, error = "failed", problem
    elif not metrics:
        status = "failed"
        if read.shown is not None:
            error = (
                f"{read.shown} holds no metrics: expected an object of metric names to "
                'numbers, like {"accuracy": 0.9}'
            )
        elif "dvclive" in wanted:
            error = f"the command wrote no {wanted['dvclive']}/metrics.json (DVCLive's output)"
        else:
            name = wanted.get("file", DEFAULT_METRICS)
            error = f"the command wrote no {name} (in $JOURNAL_RUN_DIR or the repository root)"
    if too_big is not None and status == "ok":
        status, error = "failed", too_big
        files = {k: v for k, v in files.items() if k == fmt.OUTPUT_FILE}
    elif too_big is not None:
        files = {k: v for k, v in files.items() if k == fmt.OUTPUT_FILE}
    return Result(
        status=status,
        metrics=metrics,
        files=files,
        error=error,
        warnings=tuple(warnings),
        seconds=seconds,
        run_id=run_id,
    )


def _overlap_error(wanted: Mapping[str, str], overlapped: list[str]) -> str:
    runs = ", ".join(overlapped)
    if "dvclive" in wanted:
        place = f"DVCLive's folder {wanted['dvclive']}/"
    else:
        place = f"{wanted.get('file', DEFAULT_METRICS)} in the repository root"
    return (
        f"the metrics came from {place}, and another command of this repository ran at the "
        f"same time (run {runs}): points that run at once share that file, so the metrics may "
        f"be the other point's; {OWN_FOLDER_HINT}"
    )


def _metrics_place(
    wanted: Mapping[str, str], run_dir: Path, root: Path, before: _Before
) -> tuple[_Read, Path | None]:
    """Where the command's JSON file of metrics is (None: it wrote none) and how it is named."""
    if "dvclive" in wanted:
        path = root / wanted["dvclive"] / "metrics.json"
        if not before.written(path):
            return _Read(), None
        return _Read(f"{wanted['dvclive']}/metrics.json", shared=True), path
    name = wanted.get("file", DEFAULT_METRICS)
    inside = run_dir / name
    if inside.is_file():
        return _Read(name, in_run_dir=name), inside
    beside = root / name
    if not before.written(beside):
        return _Read(), None
    return _Read(name, shared=True), beside


def _load_json(path: Path, shown: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JournalError(f"{shown}: not valid JSON: {exc}") from exc


def _flat_metrics(value: Any, prefix: str, out: dict[str, float], path: Path) -> None:
    if not isinstance(value, Mapping):
        raise JournalError(
            f"{path.name}: expected an object of metric names to numbers, "
            f"got {type(value).__name__}"
        )
    for key, inner in value.items():
        name = f"{prefix}{key}"
        if isinstance(inner, Mapping):
            _flat_metrics(inner, f"{name}.", out, path)
            continue
        if isinstance(inner, bool) or not isinstance(inner, int | float):
            raise JournalError(f"{path.name}: {name}: not a number ({inner!r})")
        if not math.isfinite(float(inner)):
            raise JournalError(f"{path.name}: {name}: not a finite number ({inner!r})")
        out[name] = float(inner)


def _read_log(
    log_file: Path,
    metrics: dict[str, float],
    history: dict[str, list[float]],
    steps: dict[str, list[int | None]],
) -> str | None:
    """What ``current_run().log_metric`` wrote: the last value of each name is its metric, a
    name logged more than once (or with a step) has a history. Why the run fails, if it logged
    a value that is not a finite number (the first such value, with its step)."""
    if not log_file.is_file():
        return None
    logged: dict[str, list[tuple[float, int | None]]] = {}
    problem: str | None = None
    for line in log_file.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
            name, value, step = str(entry["name"]), entry["value"], entry.get("step")
            if value is None:  # not finite: written as null, and named
                value = float(str(entry.get("nonfinite", "nan")))
            elif isinstance(value, bool) or not isinstance(value, int | float):
                continue
            value = float(value)
        except (ValueError, KeyError, TypeError, AttributeError):
            continue  # a line cut short by a kill
        step = step if isinstance(step, int) and not isinstance(step, bool) else None
        if not math.isfinite(value) and problem is None:
            at = f" at step {step}" if step is not None else ""
            problem = f"log_metric: {name}: not a finite number ({value!r}){at}"
        logged.setdefault(name, []).append((value, step))
    for name, values in logged.items():
        if all(math.isfinite(v) for v, _ in values):
            metrics[name] = values[-1][0]
        else:
            metrics.pop(name, None)  # a diverged metric has no last value to show
        if len(values) > 1 or values[0][1] is not None:
            history[name] = [v for v, _ in values]
            steps[name] = [s for _, s in values]
    return problem


def _read_dvclive_history(
    wanted: Mapping[str, str],
    root: Path,
    before: _Before,
    history: dict[str, list[float]],
    steps: dict[str, list[int | None]],
) -> None:
    """DVCLive's per-step metrics (``plots/metrics/**/*.tsv``) written while the command ran,
    as the run's history."""
    if "dvclive" not in wanted:
        return
    folder = root / wanted["dvclive"] / "plots" / "metrics"
    for path in _tsv_files(root / wanted["dvclive"]):
        if not before.written(path):
            continue
        name = path.relative_to(folder).with_suffix("").as_posix().replace("/", ".")
        values: list[float] = []
        at: list[int | None] = []
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        if not lines:
            continue
        header = lines[0].split("\t")
        column = len(header) - 1
        step_column = header.index("step") if "step" in header else None
        for line in lines[1:]:
            cells = line.split("\t")
            try:
                values.append(float(cells[column]))
                at.append(int(cells[step_column]) if step_column is not None else None)
            except (ValueError, IndexError):
                continue
        if values:
            history[name] = values
            steps[name] = at


def _files(
    run_dir: Path, metrics_name: str | None
) -> tuple[dict[str, bytes], str | None, list[str]]:
    """The run folder's files by their path in the run's directory (a name the journal uses
    itself goes under ``outputs/``; one of :data:`JSON_NAMES` as strict JSON, or not at all),
    why they cannot be kept when they are too big, and the run's warnings about them."""
    files: dict[str, bytes] = {}
    warnings: list[str] = []
    total = 0
    too_big = (
        f"the run folder holds more than {MAX_RUN_BYTES // (1024 * 1024)} MB, the most a run "
        "keeps in the journal; keep large outputs (models, data) in DVC or elsewhere and write "
        "their path or hash instead"
    )
    for path in sorted(_walk(run_dir)):
        relative = path.relative_to(run_dir).as_posix()
        if relative == metrics_name:
            continue
        total += path.stat().st_size
        if total > MAX_RUN_BYTES:
            return {}, too_big, []
        top = relative.split("/", 1)[0]
        name = f"{OUTPUTS}/{relative}" if top in RESERVED else relative
        data = path.read_bytes()
        if name not in JSON_NAMES:
            files[name] = data
            continue
        strict, warning = _strict_json(name, data)
        if warning is not None:
            warnings.append(warning)
        total += len(strict or b"") - len(data)  # what is kept counts, written again or not
        if total > MAX_RUN_BYTES:
            return {}, too_big, []
        if strict is not None:
            files[name] = strict
    return files, None, warnings


def _strict_json(name: str, data: bytes) -> tuple[bytes | None, str | None]:
    """The command's file ``name`` (one of :data:`JSON_NAMES`) as the journal keeps such a
    file: strict JSON in UTF-8. One that is so already is kept byte for byte; one that holds a
    number that is not finite (the bare ``NaN`` or ``Infinity`` Python's json writes, or a
    number past a float's range) or is in another encoding is written again as the journal
    writes its scores (:func:`~gitlab_journal.journal.format.scores_file`): such a number as
    null, a label of classes.json as ``{"__float__": "nan"}``; one that is not JSON is not
    kept. The run's warning, if any, comes second."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, (
            f"{name}: not JSON ({problem}): not kept; the journal keeps a file of this name as JSON"
        )
    finite, utf8 = _all_finite(doc), _utf8(data)
    if finite and utf8:
        return data, None
    try:
        strict = fmt.scores_file(_finite_labels(doc) if name == fmt.CLASSES_FILE else doc)
    except (ValueError, RecursionError) as exc:  # nested past what can be written again
        return None, f"{name}: cannot be written as strict JSON ({exc}): not kept"
    how = [] if utf8 else ["in UTF-8"]
    if not finite:
        labels = ""
        if name == fmt.CLASSES_FILE and not _all_finite(_labels(doc)):
            labels = ', a label as {"__float__": "nan"}'
        how.append(f"a number that is not finite (NaN, Infinity) as null{labels}")
    return (
        strict,
        f"{name}: written as strict JSON, as the journal writes its own: {'; '.join(how)}",
    )


def _utf8(data: bytes) -> bool:
    """Whether ``data`` is UTF-8 text without a byte order mark (as the journal writes JSON)."""
    if data.startswith(codecs.BOM_UTF8):
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _all_finite(doc: Any) -> bool:
    """Whether every number of the parsed JSON ``doc`` is finite (walked without recursion:
    the parser took any depth the interpreter allows)."""
    pending = [doc]
    while pending:
        value = pending.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return True


def _labels(doc: Any) -> list[Any]:
    """The labels a classes.json document names (its ``labels`` and each class's ``label``)."""
    if not isinstance(doc, dict):
        return []
    found = list(doc["labels"]) if isinstance(doc.get("labels"), list) else []
    if isinstance(doc.get("classes"), list):
        found += [e["label"] for e in doc["classes"] if isinstance(e, dict) and "label" in e]
    return found


def _finite_labels(doc: Any) -> Any:
    """A classes.json document with its labels as the journal writes them: a label that is not
    a finite number as ``{"__float__": "nan"}`` (:func:`finite_json`), not null, so it stays a
    label of its own; the figures are left for :func:`~.format.scores_file` (null)."""
    if not isinstance(doc, dict):
        return doc
    out = dict(doc)
    if isinstance(out.get("labels"), list):
        out["labels"] = [finite_json(label) for label in out["labels"]]
    if isinstance(out.get("classes"), list):
        out["classes"] = [
            {**entry, "label": finite_json(entry["label"])}
            if isinstance(entry, dict) and "label" in entry
            else entry
            for entry in out["classes"]
        ]
    return out


def _walk(folder: Path) -> Iterator[Path]:
    """Regular files under ``folder``; symbolic links are not followed (nor kept)."""
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not Path(dirpath, d).is_symlink()]
        for name in filenames:
            path = Path(dirpath, name)
            if path.is_file() and not path.is_symlink():
                yield path


def _history_file(
    history: Mapping[str, list[float]], steps: Mapping[str, list[int | None]]
) -> bytes:
    record = {
        "epochs": max(len(values) for values in history.values()),
        "history": {k: [v if math.isfinite(v) else None for v in vs] for k, vs in history.items()},
        "steps": {k: list(v) for k, v in steps.items()},
    }
    return (json.dumps(record, indent=2, allow_nan=False) + "\n").encode()


def _curve(history: Mapping[str, list[float]], title: str) -> bytes | None:
    if not any(len(values) > 1 for values in history.values()):
        return None
    from gitlab_journal.train.curve import learning_curve

    return learning_curve({k: list(v) for k, v in history.items()}, title=title)
