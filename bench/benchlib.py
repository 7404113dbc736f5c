"""Small helpers the bench scripts share: timing a process, medians, a plain-text table."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from journal_factory import git_env


def median_ms(samples: Sequence[float]) -> float:
    return statistics.median(samples) * 1000


def time_process(cmd: Sequence[str], cwd: Path) -> tuple[float, int]:
    """Wall time of one whole process (start to exit), its output discarded; and its exit code."""
    env = git_env()
    started = time.perf_counter()
    done = subprocess.run(
        list(cmd), cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - started, done.returncode


def time_processes(
    commands: dict[str, Sequence[str]], cwd: Path, repeats: int, warmups: int = 1
) -> tuple[dict[str, list[float]], dict[str, set[int]]]:
    """Each command ``warmups`` times untimed, then ``repeats`` rounds, interleaved (the order
    rotates each round) so that drift on the machine hits every command alike."""
    names = list(commands)
    codes: dict[str, set[int]] = {name: set() for name in names}
    for _ in range(warmups):
        for name in names:
            codes[name].add(time_process(commands[name], cwd)[1])
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeats):
        k = round_ % len(names)
        for name in names[k:] + names[:k]:
            seconds, rc = time_process(commands[name], cwd)
            times[name].append(seconds)
            codes[name].add(rc)
    return times, codes


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
    return f"{os.cpu_count()} cores, {os.uname().sysname} {os.uname().release}"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def ratio(ours: float, base: float) -> str:
    return f"{ours / base:.2f}x" if base > 0 else "n/a"
