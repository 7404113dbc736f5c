"""`git journal check` as a whole process on a 100,000-run journal, against bare Python.

The journal (cached, see journal_factory.py) holds the iris spec's 3 points, recorded by the real
`git journal run`, so `check` answers "all ran" (exit 1) after fingerprinting the spec and looking
each point up. Timed: wall time of the whole process, output discarded, median of ``--repeats``
warm runs after one warm-up run of each command (it fills the page cache and check's own caches,
`.git/journal/resolved.json` and `md5-cache.json`). Baselines, timed in the same rounds:
``python -c "import pygit2"`` and ``python -c pass``. ``git-journal check`` (without the `git`
front end) is shown too, to separate what `git` itself adds.

    python bench/bench_check.py                   # 100,000 runs, 10 repeats
    python bench/bench_check.py --runs 2000 --repeats 5   # a quick run
    python bench/bench_check.py --profile         # also -X importtime and cProfile tops
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import journal_factory as jf
from benchlib import (
    compile_package,
    load_average,
    machine,
    median_ms,
    profile_cli,
    ratio,
    table,
    timed_processes,
)

TARGET_MS = 150.0
PYGIT2 = 'python -c "import pygit2"'
LADDER = {
    "pygit2 + rich.console, rich.table": "import pygit2, rich.console, rich.table",
    "pygit2 + importlib.metadata": "import pygit2, importlib.metadata",
    "pygit2 + rich + importlib.metadata": (
        "import pygit2, rich.console, rich.table, importlib.metadata"
    ),
    "import cli + commands.check": "import gitlab_journal.cli, gitlab_journal.commands.check",
}
CHECK = "git journal check"
PASS = "python -c pass"


def importtime_top(cwd: Path, limit: int = 15) -> str:
    """`python -X importtime -m gitlab_journal check`: the costliest imports (cumulative)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gitlab_journal", "check"],
        cwd=cwd,
        env=jf.git_env(),
        capture_output=True,
        text=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if m:
            rows.append((int(m.group(2)), int(m.group(1)), len(m.group(3)), m.group(4)))
    total = sum(r[0] for r in rows if r[2] == 1)
    top = sorted(rows, reverse=True)[:limit]
    out = [f"imports: {total / 1000:.1f} ms in all (top-level cumulative sum)"]
    out += [
        f"  {cum / 1000:7.1f} ms cumulative {self_ / 1000:6.1f} ms self  {name}"
        for cum, self_, _, name in top
    ]
    return "\n".join(out)


def profile_top(cwd: Path, limit: int = 20) -> str:
    """cProfile of check in-process (imports already done by this process excluded)."""
    return profile_cli(cwd, ["check"], limit)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100_000, help="journal size")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs of each command")
    parser.add_argument("--profile", action="store_true", help="print where the time goes")
    args = parser.parse_args()
    path = jf.build_journal(args.runs)
    compile_package()
    py = sys.executable
    commands = {
        CHECK: ["git", "journal", "check"],
        "git-journal check": [str(jf.VENV_BIN / "git-journal"), "check"],
        PYGIT2: [py, "-c", "import pygit2"],
        PASS: [py, "-c", "pass"],
    }
    if args.profile:  # a ladder of imports, to split check's time into its parts
        for name, code in LADDER.items():
            commands[name] = [py, "-c", code]
    timed = timed_processes(commands, path, args.repeats, warmups=1)
    med = {name: median_ms(t) for name, t in timed.wall.items()}
    best = {name: min(t) * 1000 for name, t in timed.wall.items()}
    cpu = {name: median_ms(t) for name, t in timed.cpu.items()}
    check = med[CHECK]
    print(f"# bench_check: {machine()}, journal of {args.runs:,} runs + 3 iris runs: {path}")
    print(f"Median of {args.repeats} warm runs each (after 1 warm-up), interleaved.")
    rows = [
        [
            f"{CHECK} (all ran), wall",
            f"{check:.1f} ms (min {best[CHECK]:.1f})",
            f"{med[PYGIT2]:.1f} ms (min {best[PYGIT2]:.1f})",
            ratio(check, med[PYGIT2]),
            "yes" if check < TARGET_MS else "NO",
        ],
        [
            f"{CHECK} (all ran), CPU",
            f"{cpu[CHECK]:.1f} ms",
            f"{cpu[PYGIT2]:.1f} ms",
            ratio(cpu[CHECK], cpu[PYGIT2]),
            "yes" if cpu[CHECK] < TARGET_MS else "NO",
        ],
        [
            f"{CHECK} (all ran), wall",
            "",
            f"{med[PASS]:.1f} ms ({PASS})",
            ratio(check, med[PASS]),
            "",
        ],
    ]
    headers = ["operation", "ours", f"baseline ({PYGIT2})", "ratio", f"< {TARGET_MS:.0f} ms?"]
    print(table(headers, rows))
    print("\nEvery command: wall median (min), CPU median, in ms; exit codes:")
    for name in commands:
        print(
            f"  {name:36s} {med[name]:7.1f} ({best[name]:6.1f})  CPU {cpu[name]:6.1f}  "
            f"exit {sorted(timed.codes[name])}"
        )
    if timed.codes[CHECK] != {1}:
        print(f"  WARNING: `{CHECK}` should exit 1 (all ran) here")
    if args.profile or check >= TARGET_MS:
        print("\nWhere the time goes:")
        print(importtime_top(path))
        print(profile_top(path))
    print(f"load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
