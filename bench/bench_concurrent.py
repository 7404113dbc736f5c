"""Three `git journal run` processes on one 24-point grid against one `run --jobs 2`.

The local claims (`.git/journal/claims/`) split the grid between processes started at once, and
the training slots (`.git/journal/slots/`) keep them to the machine's cores, so three processes
on two cores should finish no later than `--jobs 2` alone, and train every point exactly once.
Each round starts from an empty journal (a fresh scratch repository), so every point trains.
Timed: wall time until the last process ends. Printed: the medians, their ratio, and how many
runs each point got (must be 1).

    python bench/bench_concurrent.py                # 24 points, 3 rounds
    python bench/bench_concurrent.py --points 8 --repeats 1   # a quick run
"""

from __future__ import annotations

import argparse
import collections
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_jobs import make_repo
from benchlib import compile_package, load_average, machine, table
from journal_factory import git

OUT = Path(__file__).resolve().parent / "out"
GIT_JOURNAL = [sys.executable, "-m", "gitlab_journal"]


def _together(commands: list[list[str]], cwd: Path) -> float:
    """Start every command at once; the seconds until the last one ends."""
    start = time.perf_counter()
    procs = [
        subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for cmd in commands
    ]
    for proc, cmd in zip(procs, commands, strict=True):
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"`{' '.join(cmd)}` failed (exit {proc.returncode}): {err[-500:]!r}")
    return time.perf_counter() - start


def _runs_per_point(repo: Path) -> collections.Counter[str]:
    listing = git(repo, "ls-tree", "-r", "--name-only", "journal").split()
    return collections.Counter(
        p.split("/")[1] + p.split("/")[2] for p in listing if p.endswith("/run.json")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=24, help="grid points (even)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds")
    args = parser.parse_args()
    compile_package()
    repo = OUT / "scratch-concurrent"
    run = [*GIT_JOURNAL, "run", "-q"]
    shapes = {"3 processes": [run, run, run], "--jobs 2": [[*run, "--jobs", "2"]]}
    times: dict[str, list[float]] = {name: [] for name in shapes}
    twice = 0
    try:
        for round_ in range(args.repeats):
            order = list(shapes) if round_ % 2 == 0 else list(reversed(shapes))
            for name in order:
                make_repo(repo, args.points)
                times[name].append(_together(shapes[name], repo))
                counts = _runs_per_point(repo)
                if len(counts) != args.points:
                    raise SystemExit(f"{name}: {len(counts)} of {args.points} points recorded")
                twice += sum(1 for n in counts.values() if n > 1)
    finally:
        shutil.rmtree(repo, ignore_errors=True)
    print(f"# three concurrent `git journal run` vs `run --jobs 2` ({machine()})")
    print(f"{args.points} random forests on digits; {args.repeats} rounds; median wall time")
    rows = [
        [name, f"{statistics.median(t):.2f} s", ", ".join(f"{s:.2f}" for s in t)]
        for name, t in times.items()
    ]
    print(table(["shape", "median", "rounds (s)"], rows))
    three, jobs = (statistics.median(times[name]) for name in shapes)
    print(f"3 processes / --jobs 2: {three / jobs:.2f}x (target: at most 1.0x)")
    print(f"points trained more than once: {twice} (must be 0)")
    print(f"load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
