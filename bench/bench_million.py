"""A million runs: the journal's format 2 against format 1, and what each command costs there.

1. **migrate**: a copy of the format 1 journal of ``--runs`` runs (``journal_factory.py
   --format 1``), then `git journal migrate -q` as a whole process, beside what any migration must
   at least do: walk every fingerprint's folder of the tree with bare pygit2, in-process.
2. **record**: ``Store.record`` of ``--records`` new runs into the format 1 copy and into the
   migrated (format 2) one, each interleaved with ``bare_record`` (bench_record.py: the same
   objects written with bare pygit2), the median of each and the ratio.
3. On the migrated journal: the **cold start** (the index deleted, then `git journal log -n 20`,
   wall, CPU and max RSS) beside reading every run.json with pygit2; then **check** and the sorted
   **log** as whole processes, median of ``--repeats``, interleaved with
   ``python -c "import pygit2"``.

    python bench/bench_million.py                       # 1,000,000 runs (builds it: ~40 min)
    python bench/bench_million.py --runs 20000 --records 20 --repeats 3   # a quick run
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import journal_factory as jf
import pygit2
from bench_log import fingerprint_folders, read_all, remove_index
from bench_record import bare_record
from benchlib import (
    compile_package,
    load_average,
    machine,
    median_ms,
    peak_process,
    ratio,
    table,
    timed_processes,
)

from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.store import Store

PYGIT2 = 'python -c "import pygit2"'
CHECK = "git journal check"
SORTED = "git journal log --sort metrics.accuracy -n 10"


def walk_fingerprints(path: Path) -> tuple[float, int]:
    """Seconds to list every fingerprint's folder (name and id) with bare pygit2, and how many."""
    t = time.perf_counter()
    repo = pygit2.Repository(str(path))
    tip = repo.references["refs/heads/journal"].peel(pygit2.Commit)
    count = sum(1 for _ in fingerprint_folders(repo, tip.tree))
    return time.perf_counter() - t, count


def records(path: Path, count: int, salt: str) -> tuple[list[float], list[float]]:
    """Seconds per ``Store.record`` and per ``bare_record``, interleaved, after 5 warm-ups."""
    repo = pygit2.Repository(str(path))
    store = Store(repo)
    version = int(store.require().tree[fmt.FORMAT_FILE].data)
    fresh = [g.run for g in jf.generate_runs(2 * (count + 5), seed=99, salt=salt)]
    ours: list[float] = []
    bare: list[float] = []
    for i in range(count + 5):
        mine, theirs = fresh[2 * i], fresh[2 * i + 1]
        encoded = fmt.encode_run(theirs)
        where = fmt.run_dir(theirs.fingerprint, theirs.id, version=version)
        message = fmt.commit_message(theirs)
        order = [0, 1] if i % 2 == 0 else [1, 0]
        for which in order:
            t = time.perf_counter()
            if which == 0:
                store.record(mine)
            else:
                bare_record(repo, store.ref_name, encoded, where, message)
            seconds = time.perf_counter() - t
            if i >= 5:
                (ours if which == 0 else bare).append(seconds)
    assert store.find(fresh[-2].fingerprint), "a recorded run was not found again"
    return ours, bare


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1_000_000, help="journal size")
    parser.add_argument("--records", type=int, default=40, help="records timed in each format")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each command")
    args = parser.parse_args()
    n = args.runs
    source = jf.build_journal(n, version=1)
    compile_package()
    print(f"# bench_million: {machine()}, {n:,} runs: {source}")

    v1 = jf.copy_journal(source, jf.OUT / f"scratch-million-{n}-f1")
    v2 = jf.copy_journal(source, jf.OUT / f"scratch-million-{n}-f2")
    walk_s, experiments = walk_fingerprints(v2)
    wall, cpu, code, migrate_rss = peak_process(["git", "journal", "migrate", "-q"], v2)
    assert code == 0, "git journal migrate failed"
    assert int(Store.discover(v2).require().tree[fmt.FORMAT_FILE].data) == 2
    rows = [
        [
            f"`git journal migrate`, {experiments:,} experiments",
            f"{wall:.1f} s (CPU {cpu:.1f} s, max RSS {migrate_rss:.0f} MiB)",
            f"{walk_s:.1f} s listing every fingerprint folder",
            ratio(wall, walk_s),
        ]
    ]
    recorded = {}
    for name, path in (("format 1", v1), ("format 2", v2)):
        ours, bare = records(path, args.records, f"million-{name}:")
        recorded[name] = (median_ms(ours), median_ms(bare))
        rows.append(
            [
                f"record 1 run, {name}",
                f"{median_ms(ours):.2f} ms (p90 {sorted(ours)[int(0.9 * len(ours))] * 1000:.2f})",
                f"{median_ms(bare):.2f} ms bare pygit2",
                ratio(median_ms(ours), median_ms(bare)),
            ]
        )

    remove_index(v2)
    read_s, read_count = read_all(v2, ("run.json",), parse=False)
    cold_wall, cold_cpu, code, rss = peak_process(["git", "journal", "log", "-n", "20"], v2)
    assert code == 0, "git journal log failed"
    rows.append(
        [
            "cold start: first `git journal log -n 20`, format 2",
            f"{cold_wall:.1f} s (CPU {cold_cpu:.1f} s, max RSS {rss:.0f} MiB)",
            f"{read_s:.1f} s reading {read_count:,} run.json",
            ratio(cold_wall, read_s),
        ]
    )
    py = sys.executable
    timed = timed_processes(
        {
            CHECK: ["git", "journal", "check"],
            SORTED: ["git", "journal", "log", "--sort", "metrics.accuracy", "-n", "10"],
            PYGIT2: [py, "-c", "import pygit2"],
        },
        v2,
        args.repeats,
    )
    base = median_ms(timed.wall[PYGIT2])
    for name in (CHECK, SORTED):
        med = median_ms(timed.wall[name])
        rows.append(
            [f"`{name}`, format 2", f"{med:.0f} ms", f"{base:.0f} ms {PYGIT2}", ratio(med, base)]
        )
    print(table(["operation", "ours", "baseline, same run", "ratio"], rows))
    codes = {name: sorted(seen) for name, seen in timed.codes.items()}
    print(f"exit codes: {codes} (check: 1, all ran)")
    print(f"load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
