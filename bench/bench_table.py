"""Loading a large CSV table for a run against `pandas.read_csv` alone, in the same run.

Writes a table of ``--rows`` rows (default 1,000,000) and 20 columns (16 floats, 2 string
columns, a small integer column and a 0/1 label) under bench/out/, then times, alternating,
``--repeats`` times:

- `pandas.read_csv` of the file, alone;
- what `git journal run` does with that table once per run, whatever the grid's size: hash it
  (no cache: every byte read) while a thread reads it, check the spec's columns against its
  header, make the model's DataFrame and target (loaded for validation, then taken again by
  the table checks and by training: the loads after the first must find it kept), and run the
  table's pre-flight checks (JP008-JP012).

The page cache is warm for both. Printed: the median of each and two ratios of medians over
read_csv: loading and hashing (the target: at most 1.3x), and all of it with the checks. Also
the CPU time of `read_csv` and of the md5 alone, and the floor they set on this machine: no
run can load and hash faster than both their CPU seconds spread over its cores (pandas' reader
keeps two threads busy).

Then the same as whole processes, interleaved, ``--repeats`` times each: ``python -c "import
pandas; pandas.read_csv(...)"`` against a process that loads and hashes the table as a run's
does (its reading thread imports pandas while the main thread hashes). The file is deleted
afterwards.

    python bench/bench_table.py                  # 1,000,000 rows, 15 rounds
    python bench/bench_table.py --rows 200000 --repeats 5   # a quick run
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchlib import load_average, machine, table, timed_processes

from gitlab_journal.data.hashing import data_hashes, file_md5
from gitlab_journal.data.header import read_header
from gitlab_journal.data.loaders import forget_tables, load_data, preload_table
from gitlab_journal.spec.model import DataSpec
from gitlab_journal.train.preflight import table_checks

OUT = Path(__file__).resolve().parent / "out"
TARGET = 1.3


def write_table(path: Path, rows: int) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    columns = {f"x{i}": rng.normal(size=rows).round(4) for i in range(16)}
    columns["port"] = rng.choice(["S", "C", "Q"], rows)
    columns["deck"] = rng.choice(["A", "B", "C", "D", "E"], rows)
    columns["k"] = rng.integers(0, 10, rows)
    columns["label"] = rng.integers(0, 2, rows)
    pd.DataFrame(columns).to_csv(path, index=False)


def time_read_csv(root: Path, data: DataSpec) -> tuple[float, float]:
    """Wall and CPU seconds (all threads) of `pandas.read_csv` of the table."""
    import pandas as pd

    started, cpu = time.perf_counter(), time.process_time()
    pd.read_csv(root / str(data.path))
    return time.perf_counter() - started, time.process_time() - cpu


def time_md5(root: Path, data: DataSpec) -> tuple[float, float]:
    """Wall and CPU seconds of the table's md5 alone (no cache)."""
    started, cpu = time.perf_counter(), time.process_time()
    file_md5(root / str(data.path))
    return time.perf_counter() - started, time.process_time() - cpu


def time_ours(root: Path, data: DataSpec) -> tuple[float, float]:
    """Seconds to load and hash the table, and to do that and check it."""
    forget_tables()  # nothing kept from the last round
    started = time.perf_counter()
    reading = preload_table(root, data)  # as the plan of a run does: read while hashing
    data_hashes(root, data, None)
    if reading is not None:
        reading.join()
    read_header(root, str(data.path), data.table)
    X, y = load_data(root, data)  # validation's load, then the table checks' and training's
    for _ in range(2):
        again = load_data(root, data)
        assert again[0] is X, "the table was read again"
    loaded = time.perf_counter() - started
    table_checks(X, y)
    return loaded, time.perf_counter() - started


# A run's table work as a process of its own, from its first import: the table read in a
# thread (which imports pandas) while the main thread hashes it, then the header and the load.
OURS_PROCESS = """
from pathlib import Path
from gitlab_journal.data.hashing import data_hashes
from gitlab_journal.data.header import read_header
from gitlab_journal.data.loaders import load_data, preload_table
from gitlab_journal.spec.model import DataSpec
root, data = Path("."), DataSpec(source="table", path="table.csv", target="label")
reading = preload_table(root, data)
data_hashes(root, data, None)
if reading is not None:
    reading.join()
read_header(root, "table.csv", data.table)
load_data(root, data)
"""


def time_whole_processes(work: Path, repeats: int) -> tuple[float, float]:
    """Median wall seconds of `read_csv` in a process of its own, and of a run's table work."""
    timings = timed_processes(
        {
            "read_csv": [sys.executable, "-c", "import pandas; pandas.read_csv('table.csv')"],
            "ours": [sys.executable, "-c", OURS_PROCESS],
        },
        work,
        repeats,
    )
    for name, codes in timings.codes.items():
        if codes != {0}:
            raise SystemExit(f"the {name} process failed: exit codes {sorted(codes)}")
    return statistics.median(timings.wall["read_csv"]), statistics.median(timings.wall["ours"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-table-", dir=OUT))
    try:
        write_table(work / "table.csv", args.rows)
        data = DataSpec(source="table", path="table.csv", target="label")
        size = (work / "table.csv").stat().st_size
        time_read_csv(work, data)  # warm the page cache
        read_cpu: list[float] = []
        md5_wall: list[float] = []
        md5_cpu: list[float] = []
        times: dict[str, list[float]] = {
            "pandas.read_csv": [],
            "gitlab-journal: load and hash": [],
            "gitlab-journal: load, hash and check": [],
        }
        for round_ in range(args.repeats):
            for timing_ours in (False, True) if round_ % 2 == 0 else (True, False):
                if timing_ours:
                    loaded, checked = time_ours(work, data)
                    times["gitlab-journal: load and hash"].append(loaded)
                    times["gitlab-journal: load, hash and check"].append(checked)
                else:
                    wall, cpu = time_read_csv(work, data)
                    times["pandas.read_csv"].append(wall)
                    read_cpu.append(cpu)
            wall, cpu = time_md5(work, data)
            md5_wall.append(wall)
            md5_cpu.append(cpu)
        base = statistics.median(times["pandas.read_csv"])
        ours = statistics.median(times["gitlab-journal: load and hash"])
        checked = statistics.median(times["gitlab-journal: load, hash and check"])
        print(machine())
        print(f"load average {load_average()}")
        print(f"table: {args.rows:,} rows, 20 columns, {size / 1e6:.0f} MB")
        print(
            table(
                ["", "median s", "best s"],
                [
                    [name, f"{statistics.median(values):.2f}", f"{min(values):.2f}"]
                    for name, values in times.items()
                ],
            )
        )
        ratio = ours / base
        verdict = "meets" if ratio <= TARGET else "misses"
        print(f"load and hash: ratio of medians {ratio:.2f}x ({verdict} the target of {TARGET}x)")
        print(f"load, hash and check: ratio of medians {checked / base:.2f}x")
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        reading, hashing = statistics.median(read_cpu), statistics.median(md5_cpu)
        floor = max(base, statistics.median(md5_wall), (reading + hashing) / cores)
        print(
            f"CPU: read_csv {reading:.2f} s in {base:.2f} s of wall time, the md5 alone "
            f"{hashing:.2f} s; on {cores} core(s) loading and hashing cannot take less than "
            f"{floor:.2f} s: {floor / base:.2f}x"
        )
        alone, whole = time_whole_processes(work, args.repeats)
        print(
            f"whole processes: read_csv {alone:.2f} s (with pandas' import), loading and "
            f"hashing as a run does {whole:.2f} s: {whole / alone:.2f}x"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
