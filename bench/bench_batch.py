"""Building a batch of records beside many packs, against the same beside one pack.

A long `git journal run` of cheap points writes a pack every few seconds, and a repository
holds up to 50 packs before `git gc --auto` merges them. This copies the 2,000-run bench
journal twice, gives one copy ``--packs`` packs in all (small packs of one object each, as
`git repack` of new refs writes them) and leaves the other with its one pack, then builds and
flushes ``--runs`` records (fresh experiments from the factory) through ``Batch`` in each,
``--repeats`` times, alternating. Printed: the median time a record of each, and their ratio.

    python bench/bench_batch.py                 # 50 packs, 1,000 records, 3 rounds
    python bench/bench_batch.py --packs 30 --runs 500
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

import journal_factory as jf
import pygit2
from benchlib import load_average, machine, table

from gitlab_journal.journal.batch import Batch
from gitlab_journal.journal.store import Store


def add_packs(path: Path, packs: int) -> None:
    """Small packs until the repository holds ``packs``: one object each, reachable."""
    for i in range(packs - pack_count(path)):
        blob = jf.git(path, "hash-object", "-w", "--stdin", stdin=f"bench pack {i}\n".encode())
        jf.git(path, "update-ref", f"refs/bench-packs/{i}", blob.strip())
        jf.git(path, "repack", "-q")


def pack_count(path: Path) -> int:
    return len(list((path / ".git" / "objects" / "pack").glob("*.pack")))


def build(path: Path, runs: list[jf.Generated]) -> float:
    """Seconds a record: ``runs`` added to one batch and written, from a fresh Store."""
    store = Store(pygit2.Repository(str(path)))
    started = time.perf_counter()
    batch = Batch(store)
    for generated in runs:
        batch.add(generated.run, generated.files)
    recorded = batch.flush()
    seconds = time.perf_counter() - started
    assert len(recorded) == len(runs)
    return seconds / len(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packs", type=int, default=50)
    parser.add_argument("--runs", type=int, default=1000, help="records in each batch")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    source = jf.build_journal(2000)
    one = jf.copy_journal(source, jf.OUT / "scratch-batch-one")
    many = jf.copy_journal(source, jf.OUT / "scratch-batch-many")
    try:
        jf.git(one, "repack", "-a", "-d", "-q")
        jf.git(many, "repack", "-a", "-d", "-q")
        add_packs(many, args.packs)
        counts = {"one": pack_count(one), "many": pack_count(many)}
        times: dict[str, list[float]] = {"one": [], "many": []}
        fresh = jf.generate_runs(2 * args.repeats * args.runs, seed=7, salt="batch:")
        for round_ in range(args.repeats):
            order = ("one", "many") if round_ % 2 == 0 else ("many", "one")
            for name in order:
                runs = [next(fresh) for _ in range(args.runs)]
                times[name].append(build(one if name == "one" else many, runs))
        print(f"# bench_batch: {machine()}")
        print(f"{args.runs:,} records a batch, {args.repeats} rounds, median ms a record")
        base = statistics.median(times["one"])
        rows = [
            [f"beside {counts[name]} pack(s)", f"{statistics.median(t) * 1000:.3f}"]
            for name, t in times.items()
        ]
        print(table(["batch", "ms a record"], rows))
        print(f"ratio: {statistics.median(times['many']) / base:.2f}x")
        print(f"load average at the end: {load_average()}")
    finally:
        shutil.rmtree(one, ignore_errors=True)
        shutil.rmtree(many, ignore_errors=True)


if __name__ == "__main__":
    main()
