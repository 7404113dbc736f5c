"""Recording one run with ``Store.record`` on a large journal, against bare pygit2.

For each journal size (10,000 and 100,000 runs by default) this copies the cached bench journal
(pack files hard-linked), then records ``--records`` new runs through ``Store.record`` and as many
through the same write done with bare pygit2 (the same 3 blobs, the same nested trees built with
TreeBuilder on the same tip tree, ``create_commit``, the ref update), interleaved so both see the
same journal. Both append to the journal, so each measurement is one real record.

Then it shows that the repository stays packed: it records runs until the loose objects pass
git's `gc --auto` threshold, calls the runner's ``pack_if_needed`` (`git gc --auto`) and counts
the loose objects again.

    python bench/bench_record.py                      # 10,000 and 100,000 runs, 50 records each
    python bench/bench_record.py --runs 2000 --records 20 --no-gc   # a quick run
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import pygit2

import journal_factory as jf
from benchlib import machine, median_ms, ratio, table
from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.store import Store
from gitlab_journal.run.maintenance import pack_if_needed

TARGET_RATIO = 2.0
_TREE = pygit2.enums.FileMode.TREE
_BLOB = pygit2.enums.FileMode.BLOB


def bare_record(
    repo: pygit2.Repository, ref_name: str, files: dict[str, bytes], path: str, message: str
) -> pygit2.Oid:
    """The baseline: the same objects and ref update as ``Store.record``, nothing else."""
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
        oid = builder.write()
    sig = pygit2.Signature(jf.GIT_ENV["GIT_COMMITTER_NAME"], jf.GIT_ENV["GIT_COMMITTER_EMAIL"])
    commit = repo.create_commit(None, sig, sig, message, oid, [tip.id])
    ref.set_target(commit)
    return commit


def bench_size(n: int, records: int, warmups: int) -> dict[str, object]:
    source = jf.build_journal(n)
    work = jf.copy_journal(source, jf.OUT / f"scratch-record-{n}")
    repo = pygit2.Repository(str(work))
    store = Store(repo)
    # Fresh experiments (salted data hashes): none is in the journal yet.
    fresh = [g.run for g in jf.generate_runs(2 * (records + warmups), seed=99, salt=f"rec{n}:")]
    encoded = [(fmt.encode_run(r), fmt.run_dir(r.fingerprint, r.id), fmt.commit_message(r)) for r in fresh]

    ours: list[float] = []
    bare: list[float] = []
    for i in range(records + warmups):
        run_a, run_b = fresh[2 * i], fresh[2 * i + 1]
        files_b, path_b, message_b = encoded[2 * i + 1]

        def do_ours(run=run_a) -> float:
            t = time.perf_counter()
            store.record(run)
            return time.perf_counter() - t

        def do_bare(files=files_b, path=path_b, message=message_b) -> float:
            t = time.perf_counter()
            bare_record(repo, store.ref_name, files, path, message)
            return time.perf_counter() - t

        first, second = (do_ours, do_bare) if i % 2 == 0 else (do_bare, do_ours)
        a, b = first(), second()
        if i < warmups:
            continue
        t_ours, t_bare = (a, b) if i % 2 == 0 else (b, a)
        ours.append(t_ours)
        bare.append(t_bare)

    # What the Python side adds before any git object is written.
    t = time.perf_counter()
    for r in fresh:
        fmt.encode_run(r)
        fmt.commit_message(r)
    encode = (time.perf_counter() - t) / len(fresh)

    found = store.find(fresh[0].fingerprint)
    assert found and found[0].id == fresh[0].id, "a recorded run was not found again"
    return {
        "n": n,
        "ours": median_ms(ours),
        "bare": median_ms(bare),
        "ours_p90": statistics.quantiles(ours, n=10)[-1] * 1000 if len(ours) > 2 else 0,
        "bare_p90": statistics.quantiles(bare, n=10)[-1] * 1000 if len(bare) > 2 else 0,
        "encode": encode * 1000,
        "work": work,
        "store": store,
        "loose_before": jf.load_meta(source)["objects_packed"]["count"],
    }


def gc_demo(work: Path, store: Store, limit_s: float = 300.0) -> dict[str, object]:
    """Record until `git gc --auto` has work, run the runner's packing, wait for it to end."""
    threshold = int(jf.git(work, "config", "--default", "6700", "gc.auto").strip())
    loose = jf.count_objects(work)["count"]
    extra = jf.generate_runs(max(1, (threshold - loose) // 8 + 100), seed=98, salt="gc:")
    t = time.perf_counter()
    recorded = 0
    for gen in extra:
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
    after = jf.count_objects(work)
    return {
        "threshold": threshold,
        "recorded": recorded,
        "record_s": record_s,
        "before": before,
        "after": after,
        "call_s": call_s,
        "done_s": done_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, action="append", help="journal size (repeatable)")
    parser.add_argument("--records", type=int, default=50, help="timed records of each kind")
    parser.add_argument("--warmups", type=int, default=5, help="untimed records first")
    parser.add_argument("--no-gc", action="store_true", help="skip the packing demonstration")
    args = parser.parse_args()
    sizes = args.runs or [10_000, 100_000]
    print(f"# bench_record: {machine()}, pygit2 {pygit2.__version__} (libgit2 {pygit2.LIBGIT2_VERSION})")
    results = []
    for n in sizes:
        print(f"... {n} runs: recording {args.records} + {args.records} runs", file=sys.stderr)
        results.append(bench_size(n, args.records, args.warmups))
    rows = []
    for r in results:
        rows.append(
            [
                f"record 1 run, {r['n']:,} runs in journal",
                f"{r['ours']:.2f} ms (p90 {r['ours_p90']:.2f})",
                f"{r['bare']:.2f} ms (p90 {r['bare_p90']:.2f})",
                ratio(r["ours"], r["bare"]),  # type: ignore[arg-type]
                "yes" if r["ours"] <= TARGET_RATIO * r["bare"] else "NO",  # type: ignore[operator]
            ]
        )
    print(f"\nMedian of {args.records} records each (after {args.warmups} warm-ups), interleaved:")
    print(table(["operation", "Store.record", "bare pygit2", "ratio", f"<= {TARGET_RATIO}x?"], rows))
    for r in results:
        print(f"  of which encode_run + commit_message (Python): {r['encode']:.2f} ms at {r['n']:,}")
    print("\nLoose objects (git count-objects -v):")
    for r in results:
        print(f"  bench journal {r['n']:,} as built: {r['loose_before']} loose objects")
    if args.no_gc:
        return
    for r in results:
        g = gc_demo(r["work"], r["store"])  # type: ignore[arg-type]
        b, a = g["before"], g["after"]
        print(
            f"  {r['n']:,}: after {g['recorded']} more records ({g['record_s']:.1f} s): "
            f"{b['count']} loose, {b['packs']} packs (gc.auto = {g['threshold']}); "  # type: ignore[index]
            f"pack_if_needed returned in {g['call_s'] * 1000:.0f} ms, the background gc ended "
            f"after {g['done_s']:.1f} s: {a['count']} loose, {a['packs']} packs"  # type: ignore[index]
        )


if __name__ == "__main__":
    main()
