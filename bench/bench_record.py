"""Recording one run with ``Store.record`` on a large journal, against bare pygit2.

For each journal size (10,000 and 100,000 runs by default) this copies the cached bench journal
(pack files hard-linked), then records ``--records`` new runs through ``Store.record`` and as many
through the same write done with bare pygit2 (the same 3 blobs, the same nested trees built with
TreeBuilder on the same tip tree, ``create_commit``, the ref update), interleaved so both see the
same journal. Both append to the journal, so each measurement is one real record. When the
package keeps a leaderboard at the journal's root, a third series does the bare write plus the
leaderboard update ``Store.record`` makes, to show what that update costs.

Then it shows that the repository stays packed: it records runs until the loose objects pass
git's `gc --auto` threshold, calls the runner's ``pack_if_needed`` (`git gc --auto`) and counts
the loose objects again.

    python bench/bench_record.py                      # 10,000 and 100,000 runs, 50 records each
    python bench/bench_record.py --runs 2000 --records 20 --no-gc   # a quick run
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import journal_factory as jf
import pygit2
from benchlib import load_average, machine, median_ms, ratio, table

from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.records import Run
from gitlab_journal.journal.store import Store
from gitlab_journal.run.maintenance import pack_if_needed

TARGET_RATIO = 1.5
_TREE = pygit2.enums.FileMode.TREE
_BLOB = pygit2.enums.FileMode.BLOB


def bare_record(
    repo: pygit2.Repository,
    ref_name: str,
    files: dict[str, bytes],
    path: str,
    message: str,
    root_files: Callable[[pygit2.Tree], dict[str, bytes]] | None = None,
) -> pygit2.Oid:
    """The baseline: the same objects and ref update as ``Store.record``, nothing else.

    ``root_files``: files to add at the root, computed from the tip tree (the leaderboard),
    inserted with the same root TreeBuilder."""
    ref = repo.lookup_reference(ref_name)
    tip = repo[ref.target]
    parts = path.split("/")  # runs, fp[:2], fp[2:], run id
    leaf = repo.TreeBuilder()
    for name, data in files.items():
        leaf.insert(name, repo.create_blob(data), _BLOB)
    oid = leaf.write()
    bases: list[pygit2.Tree | None] = [tip.tree]
    for part in parts[:-1]:
        parent = bases[-1]
        child = None
        if parent is not None:
            try:
                child = parent[part]
            except KeyError:
                child = None
        bases.append(child)
    for level in range(len(parts) - 1, -1, -1):
        base = bases[level]
        builder = repo.TreeBuilder(base) if base is not None else repo.TreeBuilder()
        builder.insert(parts[level], oid, _TREE)
        if level == 0 and root_files is not None:
            for name, data in root_files(tip.tree).items():
                builder.insert(name, repo.create_blob(data), _BLOB)
        oid = builder.write()
    sig = pygit2.Signature(jf.GIT_ENV["GIT_COMMITTER_NAME"], jf.GIT_ENV["GIT_COMMITTER_EMAIL"])
    commit = repo.create_commit(None, sig, sig, message, oid, [tip.id])
    ref.set_target(commit)
    return commit


@dataclass
class SizeResult:
    n: int
    ours: list[float]  # seconds per Store.record
    bare: list[float]  # seconds per bare_record
    bare_board: list[float] | None  # bare_record with the leaderboard update (if any)
    encode_ms: float  # encode_run + commit_message
    require_ms: float  # store.require(): the tip and its FORMAT check
    signature_ms: float  # store.signature(): the committer from git config
    leaderboard_ms: float | None  # leaderboard.updated_files on the tip's leaderboard.json
    work: Path
    store: Store
    loose_as_built: int


def p90_ms(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=10)[-1] * 1000 if len(samples) > 2 else max(samples)


def per_call_ms(fn: Callable[[], object], times: int = 200) -> float:
    t = time.perf_counter()
    for _ in range(times):
        fn()
    return (time.perf_counter() - t) / times * 1000


def leaderboard_ms(store: Store, run: Run) -> float | None:
    """What rewriting the root leaderboard costs a record (None: this package has none)."""
    try:
        board: Any = importlib.import_module("gitlab_journal.journal.leaderboard")
    except ImportError:
        return None
    try:
        blob = store.require().tree[board.LEADERBOARD_FILE].data
    except KeyError:
        blob = None
    return per_call_ms(lambda: board.updated_files(blob, run), times=50)


def board_files(run: Run) -> Callable[[pygit2.Tree], dict[str, bytes]] | None:
    """The leaderboard update ``Store.record`` makes, done the bare way (None: no leaderboard)."""
    try:
        board: Any = importlib.import_module("gitlab_journal.journal.leaderboard")
    except ImportError:
        return None

    def files(tree: pygit2.Tree) -> dict[str, bytes]:
        try:
            blob = tree[board.LEADERBOARD_FILE].data
        except KeyError:
            blob = None
        return dict(board.updated_files(blob, run) or {})

    return files


def bench_size(n: int, records: int, warmups: int) -> SizeResult:
    source = jf.build_journal(n)
    work = jf.copy_journal(source, jf.OUT / f"scratch-record-{n}")
    repo = pygit2.Repository(str(work))
    store = Store(repo)
    # Fresh experiments (salted data hashes): none is in the journal yet.
    fresh = [g.run for g in jf.generate_runs(3 * (records + warmups), seed=99, salt=f"rec{n}:")]
    encoded = [
        (fmt.encode_run(r), jf.run_dir(r.fingerprint, r.id), fmt.commit_message(r)) for r in fresh
    ]
    with_board = board_files(fresh[0]) is not None

    def do_ours(i: int) -> float:
        t = time.perf_counter()
        store.record(fresh[i])
        return time.perf_counter() - t

    def do_bare(i: int) -> float:
        files, path, message = encoded[i]
        t = time.perf_counter()
        bare_record(repo, store.ref_name, files, path, message)
        return time.perf_counter() - t

    def do_bare_board(i: int) -> float:
        files, path, message = encoded[i]
        t = time.perf_counter()
        bare_record(repo, store.ref_name, files, path, message, board_files(fresh[i]))
        return time.perf_counter() - t

    kinds = {"ours": do_ours, "bare": do_bare}
    if with_board:
        kinds["bare+board"] = do_bare_board
    names = list(kinds)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for i in range(records + warmups):
        # Rotate which goes first, so none always follows another; each records its own run.
        k = i % len(names)
        for j, name in enumerate(names[k:] + names[:k]):
            seconds = kinds[name](3 * i + j)
            if i >= warmups:
                samples[name].append(seconds)
    ours, bare = samples["ours"], samples["bare"]

    found = store.find(fresh[0].fingerprint)
    assert found and found[0].id == fresh[0].id, "a recorded run was not found again"
    return SizeResult(
        n=n,
        ours=ours,
        bare=bare,
        bare_board=samples.get("bare+board"),
        encode_ms=per_call_ms(lambda: (fmt.encode_run(fresh[0]), fmt.commit_message(fresh[0]))),
        require_ms=per_call_ms(store.require),
        signature_ms=per_call_ms(store.signature),
        leaderboard_ms=leaderboard_ms(store, fresh[0]),
        work=work,
        store=store,
        loose_as_built=jf.load_meta(source)["objects_packed"]["count"],
    )


@dataclass
class GcResult:
    threshold: int
    recorded: int
    record_s: float
    before: dict[str, int]
    after: dict[str, int]
    call_s: float
    done_s: float


def gc_demo(work: Path, store: Store, limit_s: float = 300.0) -> GcResult:
    """Record until `git gc --auto` has work, run the runner's packing, wait for it to end."""
    threshold = int(jf.git(work, "config", "--default", "6700", "gc.auto").strip())
    loose = jf.count_objects(work)["count"]
    t = time.perf_counter()
    recorded = 0
    # About 9 new objects a run: 3 blobs, 5 trees, 1 commit.
    for gen in jf.generate_runs(max(1, (threshold - loose) // 8 + 100), seed=98, salt="gc:"):
        store.record(gen.run)
        recorded += 1
    record_s = time.perf_counter() - t
    before = jf.count_objects(work)
    t = time.perf_counter()
    pack_if_needed(store)  # `git gc --auto --quiet`: detaches into the background by default
    call_s = time.perf_counter() - t
    gc_pid = work / ".git" / "gc.pid"
    while time.perf_counter() - t < limit_s:
        if not gc_pid.exists() and jf.count_objects(work)["count"] < before["count"]:
            break
        time.sleep(0.05)
    done_s = time.perf_counter() - t
    return GcResult(threshold, recorded, record_s, before, jf.count_objects(work), call_s, done_s)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, action="append", help="journal size (repeatable)")
    parser.add_argument("--records", type=int, default=50, help="timed records of each kind")
    parser.add_argument("--warmups", type=int, default=5, help="untimed records first")
    parser.add_argument("--no-gc", action="store_true", help="skip the packing demonstration")
    args = parser.parse_args()
    sizes = args.runs or [10_000, 100_000]
    print(
        f"# bench_record: {machine()}, "
        f"pygit2 {pygit2.__version__} (libgit2 {pygit2.LIBGIT2_VERSION})"
    )
    results = []
    for n in sizes:
        print(f"... {n} runs: recording {args.records} + {args.records} runs", file=sys.stderr)
        results.append(bench_size(n, args.records, args.warmups))
    rows = []
    for r in results:
        ours, bare = median_ms(r.ours), median_ms(r.bare)
        rows.append(
            [
                f"record 1 run, {r.n:,} runs in journal",
                f"{ours:.2f} ms (p90 {p90_ms(r.ours):.2f})",
                f"{bare:.2f} ms (p90 {p90_ms(r.bare):.2f})",
                ratio(ours, bare),
                "yes" if ours <= TARGET_RATIO * bare else "NO",
            ]
        )
    for r in results:
        if r.bare_board:
            board = median_ms(r.bare_board)
            rows.append(
                [
                    f"  (with the leaderboard update, {r.n:,})",
                    "",
                    f"{board:.2f} ms (p90 {p90_ms(r.bare_board):.2f})",
                    ratio(median_ms(r.ours), board),
                    "",
                ]
            )
    print(f"\nMedian of {args.records} records each (after {args.warmups} warm-ups), interleaved:")
    print(
        table(["operation", "Store.record", "bare pygit2", "ratio", f"<= {TARGET_RATIO}x?"], rows)
    )
    print("Steps Store.record adds to the baseline's work (each timed alone, in-process):")
    for r in results:
        print(
            f"  {r.n:,} runs: encode_run + commit_message {r.encode_ms:.2f} ms, "
            f"store.require() {r.require_ms:.2f} ms, store.signature() {r.signature_ms:.2f} ms"
            + (
                ""
                if r.leaderboard_ms is None
                else f", leaderboard.updated_files {r.leaderboard_ms:.2f} ms"
            )
        )
    print("\nLoose objects (git count-objects -v):")
    for r in results:
        print(f"  bench journal of {r.n:,} runs as built: {r.loose_as_built} loose objects")
    if not args.no_gc:
        for r in results:
            g = gc_demo(r.work, r.store)
            print(
                f"  {r.n:,}: after {g.recorded} more records ({g.record_s:.1f} s): "
                f"{g.before['count']} loose, {g.before['packs']} packs (gc.auto = {g.threshold}); "
                f"pack_if_needed returned in {g.call_s * 1000:.0f} ms; the background gc ended "
                f"after {g.done_s:.1f} s: {g.after['count']} loose, {g.after['packs']} packs"
            )
    print(f"load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
