"""The journal index at scale: cold build, catch-up, size and queries, each beside its baseline.

Cold: the index file is deleted, then `git journal log -n 20` (a whole process, as the first
command in a fresh clone) rebuilds it from the tip tree. Baseline, in the same run: reading every
run.json with bare pygit2 (bench_log.read_all). Also its peak memory (max RSS of the process and
of the readers it forks).

Catch-up: the index is built at the commit ``--new`` runs before the tip, then synced to the tip,
as after a `sync` or `fetch` that brought those runs. Baseline: reading those runs' run.json with
pygit2 (their folders known).

Size: index.sqlite beside the journal's pack files.

Queries, in-process on the warm index (median of ``--repeats``): sort and filter on a metric and
on a param, beside the plain `log -n 20` query (newest first).

    python bench/bench_index.py                     # 100,000 runs
    python bench/bench_index.py --runs 10000 --new 1000
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

import journal_factory as jf
import pygit2
from bench_log import read_all, remove_index
from benchlib import compile_package, load_average, machine, peak_process, ratio, table

QUERIES = (
    ("log -n 20 (newest first)", (), None, 20),
    ("sort metrics.accuracy -n 10", (), "metrics.accuracy", 10),
    ("sort params.C -n 10", (), "params.C", 10),
    ("sort params.max_iter -n 10, ascending", (), "params.max_iter+", 10),
    ("where metrics.accuracy > 0.9 -n 20", ("metrics.accuracy > 0.9",), None, 20),
    ("where params.C >= 100 -n 20", ("params.C >= 100",), None, 20),
    (
        "where params.max_iter == 100, sort metrics.f1_macro",
        ("params.max_iter == 100",),
        "metrics.f1_macro",
        10,
    ),
    (
        "where not params.solver == lbfgs -n 20 (no match)",
        ("not params.solver == lbfgs",),
        None,
        20,
    ),
    (
        "where params.C == 1000 and params.max_iter == 100 -n 20",
        ("params.C == 1000 and params.max_iter == 100",),
        None,
        20,
    ),
    (
        "where params.C == 1000 and status == failed",
        ("params.C == 1000 and status == failed",),
        None,
        20,
    ),
)


def pack_mb(path: Path) -> float:
    packs = (path / ".git" / "objects" / "pack").glob("*.pack")
    return sum(p.stat().st_size for p in packs) / 1e6


def index_mb(path: Path) -> float:
    files = (path / ".git" / "journal").glob("index.sqlite*")
    return sum(p.stat().st_size for p in files) / 1e6


def cold_build(path: Path) -> tuple[float, float, int, float]:
    """(wall s, CPU s, exit code, max RSS MiB) of a first `git journal log -n 20`."""
    remove_index(path)
    return peak_process(["git", "journal", "log", "-n", "20"], path)


def catch_up(path: Path, new: int) -> tuple[float, float, int]:
    """(catch-up s, baseline s, runs read): the index built ``new`` commits back, then synced."""
    from gitlab_journal.journal.changes import run_changes
    from gitlab_journal.journal.index import Index
    from gitlab_journal.journal.store import Store

    repo = pygit2.Repository(str(path))
    branch = Store(repo).branch
    tip = repo.references[f"refs/heads/{branch}"].peel(pygit2.Commit)
    old = tip
    for _ in range(new):
        old = old.parents[0]
    ref = "refs/heads/bench-catch-up"
    repo.references.create(ref, old.id, force=True)
    try:
        remove_index(path)
        with Index.open(Store.discover(path, "bench-catch-up")) as index:
            index.sync()
        repo.references[ref].set_target(tip.id)
        changed = [c for c in run_changes(repo, old.tree, tip.tree) if c.tree_id is not None]
        t = time.perf_counter()
        with Index.open(Store.discover(path, "bench-catch-up")) as index:
            index.sync()
        ours = time.perf_counter() - t
        t = time.perf_counter()
        fresh = pygit2.Repository(str(path))
        for change in changed:
            assert change.tree_id is not None
            run_tree = fresh[change.tree_id]
            assert isinstance(run_tree, pygit2.Tree)
            blob = fresh[run_tree["run.json"].id]
            assert isinstance(blob, pygit2.Blob)
            _ = blob.data
        base = time.perf_counter() - t
    finally:
        repo.references.delete(ref)
        remove_index(path)
    return ours, base, len(changed)


def query_times(path: Path, repeats: int) -> list[tuple[str, float, int]]:
    from gitlab_journal.journal.index import open_index
    from gitlab_journal.journal.store import Store

    out = []
    with open_index(Store.discover(path), warn=False) as index:
        for label, where, sort, limit in QUERIES:
            ascending = bool(sort and sort.endswith("+"))
            key = sort.rstrip("+") if sort else None
            samples = []
            rows = []
            for _ in range(repeats):
                t = time.perf_counter()
                rows = index.query(list(where), sort=key, ascending=ascending, limit=limit)
                samples.append(time.perf_counter() - t)
            out.append((label, statistics.median(samples) * 1000, len(rows)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100_000, help="journal size")
    parser.add_argument("--new", type=int, default=10_000, help="runs the catch-up reads")
    parser.add_argument("--repeats", type=int, default=9, help="timed runs of each query")
    parser.add_argument("--cold-runs", type=int, default=1, help="timed cold builds (best)")
    args = parser.parse_args()
    path = jf.build_journal(args.runs)
    compile_package()
    total = args.runs + 3
    print(f"# bench_index: {machine()}, journal of {args.runs:,} runs + 3 iris runs: {path}")

    gc.collect()
    colds = [cold_build(path) for _ in range(args.cold_runs)]
    base_read = min(read_all(path, ("run.json",), parse=False)[0] for _ in range(2))
    wall, cpu, code, rss = min(colds)
    if code != 0:
        print(f"  WARNING: cold `git journal log` exited {code}")
    size = index_mb(path)
    pack = pack_mb(path)
    queries = query_times(path, args.repeats)
    ours_up, base_up, read_up = catch_up(path, min(args.new, args.runs))
    cold_build(path)  # leave a current index behind for the other benches

    rows = [
        [
            "cold index build (first `git journal log -n 20`)",
            f"{wall:.2f} s",
            f"{base_read:.2f} s (read {total:,} run.json, pygit2)",
            ratio(wall, base_read),
        ],
        [
            f"catch-up of {read_up:,} new runs (sync)",
            f"{ours_up:.2f} s",
            f"{base_up:.2f} s (read their run.json, pygit2)",
            ratio(ours_up, base_up),
        ],
        [
            "index.sqlite",
            f"{size:.1f} MB",
            f"{pack:.1f} MB (the journal's pack files)",
            ratio(size, pack),
        ],
    ]
    print(table(["operation", "ours", "baseline", "ratio"], rows))
    print(f"\ncold build: CPU {cpu:.1f} s (the process and its readers), max RSS {rss:.0f} MiB")
    base_ms = queries[0][1]
    print(f"\nIn-process queries on the warm index, median of {args.repeats}:")
    print(
        table(
            ["query", "ms", "rows", "vs log -n 20"],
            [[label, f"{ms:.2f}", n, ratio(ms, base_ms)] for label, ms, n in queries],
        )
    )
    slow = [label for label, ms, _ in queries if ms > 20]
    print(f"\nqueries over 20 ms: {', '.join(slow) or 'none'}")
    print(f"load average at the end: {load_average()}; {os.cpu_count()} cores")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
