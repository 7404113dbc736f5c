"""Data hashing throughput against `md5sum` on one large file, in the same run.

Writes a file of ``--size-mb`` (default 1024) random-looking bytes under bench/out/, then hashes
it ``--repeats`` times with `md5sum` and with gitlab-journal's DVC-compatible hash
(:func:`gitlab_journal.data.hashing.file_md5`, no cache: every byte read), alternating, the page
cache warm for both. Printed: the best and median throughput of each and the ratio of medians,
ours / md5sum (target: at least 0.9x). Also printed: a second `hash_input` of the file through the
stat cache, which reads nothing. The file is deleted afterwards.

    python bench/bench_hash.py                 # 1 GB, 3 rounds
    python bench/bench_hash.py --size-mb 256   # a quick run
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchlib import load_average, machine, table

from gitlab_journal.data.hashing import HashCache, file_md5, hash_input

OUT = Path(__file__).resolve().parent / "out"
TARGET = 0.9
BLOCK = 8 * 1024 * 1024


def write_file(path: Path, size_mb: int) -> None:
    """``size_mb`` MiB: a random block repeated with a counter, so no two blocks are equal."""
    seed = os.urandom(BLOCK)
    with open(path, "wb") as fh:
        remaining = size_mb * 1024 * 1024
        i = 0
        while remaining > 0:
            block = i.to_bytes(8, "little") + seed[8:]
            fh.write(block[:remaining])
            remaining -= len(block)
            i += 1


def time_md5sum(path: Path) -> tuple[float, str]:
    started = time.perf_counter()
    out = subprocess.run(["md5sum", str(path)], capture_output=True, text=True, check=True)
    return time.perf_counter() - started, out.stdout.split()[0]


def time_ours(path: Path) -> tuple[float, str]:
    started = time.perf_counter()
    md5 = file_md5(path)
    return time.perf_counter() - started, md5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-hash-", dir=OUT))
    path = work / "data.bin"
    try:
        write_file(path, args.size_mb)
        size = path.stat().st_size
        time_md5sum(path)  # warm the page cache
        times: dict[str, list[float]] = {"md5sum": [], "gitlab-journal": []}
        digests: set[str] = set()
        for round_ in range(args.repeats):
            order = [time_md5sum, time_ours] if round_ % 2 == 0 else [time_ours, time_md5sum]
            for timer in order:
                seconds, md5 = timer(path)
                digests.add(md5)
                name = "md5sum" if timer is time_md5sum else "gitlab-journal"
                times[name].append(seconds)
        if len(digests) != 1:
            raise SystemExit(f"the two hashes differ: {sorted(digests)}")
        cache = HashCache(work / "md5-cache.json")
        hash_input(work, path.name, cache)  # fills the stat cache
        started = time.perf_counter()
        hash_input(work, path.name, cache)
        cached = time.perf_counter() - started
    finally:
        for child in work.iterdir():
            child.unlink()
        work.rmdir()
    mb = size / 1e6
    print(f"# md5 of a {size / 2**20:.0f} MiB file ({machine()})")
    rows = [
        [
            name,
            f"{mb / min(t):.0f} MB/s",
            f"{mb / statistics.median(t):.0f} MB/s",
            ", ".join(f"{s:.2f}" for s in t),
        ]
        for name, t in times.items()
    ]
    print(table(["hasher", "best", "median", "rounds (s)"], rows))
    ratio = statistics.median(times["md5sum"]) / statistics.median(times["gitlab-journal"])
    verdict = "meets" if ratio >= TARGET else "misses"
    print(f"throughput gitlab-journal / md5sum: {ratio:.2f}x ({verdict} the {TARGET}x target)")
    print(f"again through the stat cache (nothing read): {cached * 1000:.2f} ms")
    print(f"load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
