"""The command back end: a training command (``python train.py --lr {lr}``) as an experiment.

Each point's params are substituted into the command (shell-quoted), and the command runs in
the repository root, in its own process group, with ``JOURNAL_RUN_DIR`` (an empty folder whose
files become the run's files), ``JOURNAL_PARAMS`` (a JSON file of the point's params),
``JOURNAL_RUN_ID`` and ``JOURNAL_LOG`` (where ``current_run().log_metric`` writes) in its
environment. Its output streams to the terminal and the last lines are kept with the run.
Metrics come from ``metrics.json`` (in the run folder, or written to the repository root while
the command ran), from DVCLive's output folder, and from ``current_run().log_metric``.

This module never touches git, and imports neither scikit-learn nor TensorFlow.
"""

from __future__ import annotations

import collections
import json
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import IO, Any

from gitlab_journal.errors import JournalError, describe_exit
from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.identity import normalise
from gitlab_journal.journal.records import new_run_id
from gitlab_journal.spec.command import placeholders, substitute
from gitlab_journal.spec.model import EvaluationSpec, ModelSpec
from gitlab_journal.train.backend import Resolved, Result, TrainOptions

OUTPUT_LINES = 200
ERROR_LINES = 20
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
    }
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
    identity = {"kind": "command", "command": model.estimator, "params": shown}
    return Resolved(model=model_name(model.estimator), identity=identity, params=shown)


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
    if not _exists(program, root):
        raise JournalError(
            f"{where('command')}: {program}: command not found",
            hint="the command runs in the repository root, with the PATH of this shell",
        )
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


def _exists(program: str, root: Path | None) -> bool:
    if "/" in program:
        path = Path(program) if Path(program).is_absolute() else (root or Path.cwd()) / program
        return path.is_file() and os.access(path, os.X_OK)
    builtins = {"cd", "exec", "export", "set", "true", "false", "test", "[", "echo", "exit"}
    return program in builtins or shutil.which(program) is not None


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
    root = options.root or Path.cwd()
    run_id = new_run_id()
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
        start = time.time()  # files the command writes are newer than this
        began = time.monotonic()  # how long it ran, whatever the clock does meanwhile
        ran = _run(substitute(model.estimator, params), root, env, timeout)
        seconds = time.monotonic() - began
        return _result(model, ran, run_dir, log_file, root, start, seconds, run_id)


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
    with _sigterm_stops():
        try:
            ran.code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            ran.timed_out = True
            ran.code = _end(proc)
        except (KeyboardInterrupt, _Stop):
            ran.interrupted = True
            ran.code = _end(proc)
    for pump in pumps:
        pump.join(timeout=KILL_GRACE)
    return ran


def _pump(source: IO[bytes], sink: IO[str], ran: _Ran, errors: bool) -> None:
    for raw in iter(source.readline, b""):
        line = raw.decode("utf-8", errors="replace")
        try:
            sink.write(line)
            sink.flush()
        except (OSError, ValueError):
            pass
        with ran.lock:
            ran.output.append(line.rstrip("\n"))
            if errors:
                ran.errors.append(line.rstrip("\n"))
    source.close()


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


class _sigterm_stops:
    def __enter__(self) -> None:
        self.previous: Any = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, _raise_stop)

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


# --- the run ------------------------------------------------------------------------------------


def _result(
    model: ModelSpec,
    ran: _Ran,
    run_dir: Path,
    log_file: Path,
    root: Path,
    start: float,
    seconds: float,
    run_id: str,
) -> Result:
    output = "\n".join(ran.output) + "\n" if ran.output else ""
    warnings: list[str] = []
    metrics: dict[str, float] = {}
    history: dict[str, list[float]] = {}
    steps: dict[str, list[int | None]] = {}
    problem: str | None = None
    source: str | None = None
    try:
        source = _read_metrics(model.fixed.get("metrics") or {}, run_dir, root, start, metrics)
        _read_log(log_file, metrics, history, steps)
        _read_dvclive_history(model.fixed.get("metrics") or {}, root, start, history, steps)
    except JournalError as exc:
        problem = exc.message
    files, too_big = _files(run_dir, source)
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
        if ran.errors:
            error += ":\n" + "\n".join(ran.errors)
    elif problem is not None:
        status, error = "failed", problem
    elif not metrics:
        status = "failed"
        wanted = model.fixed.get("metrics") or {}
        if "dvclive" in wanted:
            error = f"the command wrote no {wanted['dvclive']}/metrics.json (DVCLive's output)"
        else:
            name = wanted.get("file", "metrics.json")
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


def _read_metrics(
    wanted: Mapping[str, str], run_dir: Path, root: Path, start: float, out: dict[str, float]
) -> str | None:
    """Metrics from the command's JSON file into ``out``; the run-folder name of the file when
    it sat in the run folder (it is then not kept as one of the run's files)."""
    if "dvclive" in wanted:
        path = root / wanted["dvclive"] / "metrics.json"
        if _fresh(path, start):
            _flat_metrics(_load_json(path, f"{wanted['dvclive']}/metrics.json"), "", out, path)
        return None
    name = wanted.get("file", "metrics.json")
    inside = run_dir / name
    if inside.is_file():
        _flat_metrics(_load_json(inside, name), "", out, inside)
        return name
    beside = root / name
    if _fresh(beside, start):
        _flat_metrics(_load_json(beside, name), "", out, beside)
    return None


def _fresh(path: Path, start: float) -> bool:
    """``path`` exists and was written while the command ran (not left by an earlier one)."""
    try:
        return path.is_file() and path.stat().st_mtime >= start - 1.0
    except OSError:
        return False


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
) -> None:
    """What ``current_run().log_metric`` wrote: the last value of each name is its metric, a
    name logged more than once (or with a step) has a history."""
    if not log_file.is_file():
        return
    logged: dict[str, list[tuple[float, int | None]]] = {}
    for line in log_file.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
            name, value, step = str(entry["name"]), float(entry["value"]), entry.get("step")
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by a kill
        logged.setdefault(name, []).append((value, step if isinstance(step, int) else None))
    for name, values in logged.items():
        if math.isfinite(values[-1][0]):
            metrics[name] = values[-1][0]
        if len(values) > 1 or values[0][1] is not None:
            history[name] = [v for v, _ in values]
            steps[name] = [s for _, s in values]


def _read_dvclive_history(
    wanted: Mapping[str, str],
    root: Path,
    start: float,
    history: dict[str, list[float]],
    steps: dict[str, list[int | None]],
) -> None:
    """DVCLive's per-step metrics (``plots/metrics/**/*.tsv``) as the run's history."""
    if "dvclive" not in wanted:
        return
    folder = root / wanted["dvclive"] / "plots" / "metrics"
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*.tsv")):
        if not _fresh(path, start):
            continue
        name = path.relative_to(folder).with_suffix("").as_posix().replace("/", ".")
        values: list[float] = []
        at: list[int | None] = []
        lines = path.read_text(encoding="utf-8").splitlines()
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


def _files(run_dir: Path, metrics_name: str | None) -> tuple[dict[str, bytes], str | None]:
    """The run folder's files by their path in the run's directory (a name the journal uses
    itself goes under ``outputs/``), and why they cannot be kept when they are too big."""
    files: dict[str, bytes] = {}
    total = 0
    for path in sorted(_walk(run_dir)):
        relative = path.relative_to(run_dir).as_posix()
        if relative == metrics_name:
            continue
        total += path.stat().st_size
        if total > MAX_RUN_BYTES:
            return {}, (
                f"the run folder holds more than {MAX_RUN_BYTES // (1024 * 1024)} MB, the most a "
                "run keeps in the journal; keep large outputs (models, data) in DVC or "
                "elsewhere and write their path or hash instead"
            )
        top = relative.split("/", 1)[0]
        files[f"outputs/{relative}" if top in RESERVED else relative] = path.read_bytes()
    return files, None


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
