"""Small helpers the bench scripts share: timing a process, medians, a plain-text table."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from journal_factory import git_env


def compile_package() -> None:
    """Byte-compile gitlab_journal (as pip does on install), so no timed process compiles it."""
    import compileall

    import gitlab_journal

    compileall.compile_dir(Path(gitlab_journal.__file__).parent, quiet=1)


def median_ms(samples: Sequence[float]) -> float:
    return statistics.median(samples) * 1000


def run_process(cmd: Sequence[str], cwd: Path) -> tuple[float, float, int]:
    """One whole process, its output discarded: (wall seconds, CPU seconds, exit code).

    CPU time (user + system, the process and the children it waited for) moves far less than
    wall time when other work loads the machine."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        list(cmd), cwd=cwd, env=git_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, proc.returncode


# Started by peak_process: a small interpreter that starts the command and reports, as JSON, what
# wait4 says of it (the command and the children it waited for).
_LAUNCHER = """
import json, os, subprocess, sys, time
t = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(json.dumps([time.perf_counter() - t, usage.ru_utime + usage.ru_stime,
                  os.waitstatus_to_exitcode(status), usage.ru_maxrss]))
"""


def peak_process(cmd: Sequence[str], cwd: Path) -> tuple[float, float, int, float]:
    """One whole process: (wall s, CPU s, exit code, max RSS in MiB of it and the children it
    waited for). Started from a fresh small interpreter, not from this one: a child's maximum
    RSS counts the pages it shares with its parent between fork and exec, so a command forked
    straight from a bench that has read a large journal would report the bench's own size."""
    done = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *cmd],
        cwd=cwd,
        env=git_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    wall, cpu, code, rss_kib = json.loads(done.stdout)
    return float(wall), float(cpu), int(code), rss_kib / 1024


def time_process(cmd: Sequence[str], cwd: Path) -> tuple[float, int]:
    """Wall time of one whole process (start to exit), its output discarded; and its exit code."""
    wall, _, code = run_process(cmd, cwd)
    return wall, code


@dataclass
class Timings:
    """Per command: wall and CPU seconds of each timed run, and the exit codes seen."""

    wall: dict[str, list[float]]
    cpu: dict[str, list[float]]
    codes: dict[str, set[int]]


def timed_processes(
    commands: dict[str, Sequence[str]], cwd: Path, repeats: int, warmups: int = 1
) -> Timings:
    """Each command ``warmups`` times untimed, then ``repeats`` rounds, interleaved (the order
    rotates each round) so that drift on the machine hits every command alike."""
    names = list(commands)
    out = Timings({n: [] for n in names}, {n: [] for n in names}, {n: set() for n in names})
    for _ in range(warmups):
        for name in names:
            out.codes[name].add(run_process(commands[name], cwd)[2])
    for round_ in range(repeats):
        k = round_ % len(names)
        for name in names[k:] + names[:k]:
            wall, cpu, code = run_process(commands[name], cwd)
            out.wall[name].append(wall)
            out.cpu[name].append(cpu)
            out.codes[name].add(code)
    return out


def time_processes(
    commands: dict[str, Sequence[str]], cwd: Path, repeats: int, warmups: int = 1
) -> tuple[dict[str, list[float]], dict[str, set[int]]]:
    """Like :func:`timed_processes`: the wall times (seconds) and the exit codes seen."""
    out = timed_processes(commands, cwd, repeats, warmups)
    return out.wall, out.codes


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (readable as plain text too)."""
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    out = [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(row) for row in cells[1:]]
    return "\n".join(out)


def machine() -> str:
    """The machine, its load (other work skews timings) and the package commit measured."""
    root = Path(__file__).resolve().parent.parent
    head = subprocess.run(
        ["git", "-C", str(root), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores, load average {load}, gitlab-journal at {head or '?'}"


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def ratio(ours: float, base: float) -> str:
    return f"{ours / base:.2f}x" if base > 0 else "n/a"


def profile_cli(
    cwd: Path, argv: list[str], limit: int = 20, between: Callable[[], object] | None = None
) -> str:
    """cProfile of `git journal ARGV` in this process, after one warm call (imports done by
    this process are excluded); ``between`` runs after the warm call (e.g. drop a cache)."""
    import cProfile
    import io
    import os
    import pstats
    import sys

    from gitlab_journal.cli import main

    old = Path.cwd()
    os.chdir(cwd)
    saved = sys.stdout
    try:
        sys.stdout = io.StringIO()
        main(argv)  # the same first-call costs a fresh process pays once
        if between is not None:
            between()
        profiler = cProfile.Profile()
        profiler.enable()
        main(argv)
        profiler.disable()
    finally:
        sys.stdout = saved
        os.chdir(old)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(limit)
    return text.getvalue()
