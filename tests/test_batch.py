"""Runs recorded in batches: objects in memory until the batch is written as one pack, the branch
moved once, a lost race built again on the new tip; read back with plain git."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pygit2
import pytest
from conftest import git
from helpers import Cli, fsck, make_run

from gitlab_journal.errors import CheckFailed
from gitlab_journal.journal import batch as batch_module
from gitlab_journal.journal.batch import Batch, Timer, batch_commits
from gitlab_journal.journal.packwrite import pack_bytes
from gitlab_journal.journal.records import Run
from gitlab_journal.journal.store import Store, run_dir_in


def runs(count: int, first: int = 0) -> list[Run]:
    return [
        make_run(f"{i:012x}", {"C": float(i), "max_iter": 100}, second=i % 60)
        for i in range(first, first + count)
    ]


def packs(repo: Path) -> set[str]:
    return {path.name for path in (repo / ".git/objects/pack").glob("pack-*.pack")}


def object_files(repo: Path) -> list[Path]:
    """Loose object files, and the fan-out folders any loose object ever needed."""
    return [path for path in (repo / ".git/objects").iterdir() if len(path.name) == 2]


def packed(repo: Path) -> Store:
    """The repository's objects in one pack, no loose object and no fan-out folder left."""
    git(repo, "repack", "-adq")
    git(repo, "prune-packed")
    for folder in object_files(repo):
        folder.rmdir()  # empty after prune-packed
    return Store.discover(repo)


def trailer_runs(repo: Path) -> list[str]:
    out = git(repo, "log", "--format=%(trailers:key=Journal-Run,valueonly)", "journal")
    return [line for line in out.split() if line]


def test_nothing_reaches_the_disk_before_the_flush(repo: Path) -> None:
    Store.discover(repo).init()
    store = packed(repo)
    tip = git(repo, "rev-parse", "journal").strip()
    before = packs(repo)
    batch = Batch(store, pack_min_runs=4)

    for run in runs(5):
        batch.add(run)

    assert git(repo, "rev-parse", "journal").strip() == tip
    assert packs(repo) == before and object_files(repo) == []
    assert batch.tip is not None
    pending = str(batch.tip.id)
    assert subprocess.run(["git", "cat-file", "-e", pending], cwd=repo).returncode != 0

    recorded = batch.flush()

    assert [run.id for run in recorded] == [run.id for run in runs(5)]
    assert git(repo, "rev-parse", "journal").strip() == recorded[-1].commit == pending
    assert len(packs(repo)) == len(before) + 1
    assert object_files(repo) == []  # not one loose object, nor a folder for one
    assert trailer_runs(repo) == [run.id for run in reversed(recorded)]
    assert git(repo, "rev-list", "--count", "--merges", "journal").strip() == "0"
    fsck(repo)
    new = (packs(repo) - before).pop()
    verified = subprocess.run(
        ["git", "verify-pack", "-v", f".git/objects/pack/{new[:-5]}.idx"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.rstrip().endswith(": ok")
    # Each commit holds its run, as Store.record writes it: the same reader reads them back.
    for run in recorded:
        assert [r.id for r in store.find(run.fingerprint)] == [run.id]


def test_a_batch_that_lost_the_race_is_built_again_on_the_new_tip(repo: Path) -> None:
    Store.discover(repo).init()
    store = packed(repo)
    batch = Batch(store, pack_min_runs=4)
    for run in runs(6):
        batch.add(run)
    other = Store.discover(repo).record(make_run("f" * 12, {"C": 99.0, "max_iter": 100}))

    recorded = batch.flush()

    history = trailer_runs(repo)
    assert history == [run.id for run in reversed(recorded)] + ["f" * 12]
    assert git(repo, "rev-parse", f"{recorded[0].commit}^").strip() == other.commit
    assert git(repo, "rev-parse", "journal").strip() == recorded[-1].commit
    fsck(repo)
    assert len(list(store.iter_runs())) == 7


def test_a_run_the_journal_or_the_batch_holds_is_refused_and_the_batch_goes_on(
    repo: Path,
) -> None:
    store = Store.discover(repo)
    store.init()
    first, second, third = runs(3)
    store.record(first)
    batch = Batch(store)
    batch.add(second)

    with pytest.raises(CheckFailed, match="already recorded"):
        batch.add(first)
    with pytest.raises(CheckFailed, match="already recorded"):
        batch.add(second)
    batch.add(third)

    assert [run.id for run in batch.flush()] == [second.id, third.id]
    assert trailer_runs(repo) == [third.id, second.id, first.id]
    fsck(repo)


def test_a_small_batch_is_written_as_loose_objects_to_pack_later(repo: Path) -> None:
    Store.discover(repo).init()
    store = packed(repo)
    before = packs(repo)
    batch = Batch(store, pack_min_runs=16)
    for run in runs(2):
        batch.add(run)

    recorded = batch.flush()

    assert packs(repo) == before  # no pack for two runs: `git gc --auto` counts packs
    assert batch.loose == [run.commit for run in recorded]
    assert git(repo, "rev-parse", "journal").strip() == recorded[-1].commit
    fsck(repo)


def test_a_batch_is_due_after_its_count_its_time_or_a_slow_point(repo: Path) -> None:
    store = Store.discover(repo)
    store.init()
    by_count = Batch(store, max_runs=3, max_seconds=3600)
    for run in runs(2):
        by_count.add(run)
    assert not by_count.due()
    by_count.add(runs(1, first=2)[0])
    assert by_count.due()
    by_count.flush()
    assert not by_count.due()  # nothing pending
    by_time = Batch(store, max_runs=1000, max_seconds=0.0)
    by_time.add(runs(1, first=3)[0])
    assert by_time.due()
    by_time.flush()
    # After a slow point the batch is written at once: the next point may be slow too, and
    # what waits in a batch is not recorded yet.
    by_pace = Batch(store, max_runs=1000, max_seconds=3600, slow_point=0.05)
    by_pace.add(runs(1, first=4)[0], seconds=0.01)
    assert not by_pace.due()
    by_pace.add(runs(1, first=5)[0], seconds=0.2)
    assert by_pace.due()


def test_the_pack_format_is_gits_own(tmp_path: Path) -> None:
    """A pack written here is read by git: objects of every size (the size header's 4, 11 and
    18 bits) and of each kind come back byte for byte."""
    repo = pygit2.init_repository(str(tmp_path / "r"))
    blobs = [b"", b"x" * 15, b"y" * 16, b"z" * 2047, bytes(range(256)) * 1024]
    objects = {pygit2.hash(blob).raw: (3, blob) for blob in blobs}
    body, index = pack_bytes(objects)
    name = f"pack-{body[-20:].hex()}"
    pack_dir = Path(repo.path) / "objects" / "pack"
    (pack_dir / f"{name}.pack").write_bytes(body)
    (pack_dir / f"{name}.idx").write_bytes(index)

    verified = subprocess.run(
        ["git", "verify-pack", "-v", str(pack_dir / f"{name}.idx")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr
    for blob in blobs:
        oid = pygit2.hash(blob)
        shown = subprocess.run(
            ["git", "cat-file", "blob", str(oid)], cwd=tmp_path / "r", capture_output=True
        )
        assert shown.stdout == blob


GRID = """\
data: sklearn:iris
model:
  estimator: sklearn.dummy.DummyClassifier
  params:
    strategy: [prior, stratified, uniform, most_frequent]
    random_state: [0, 1, 2, 3, 4, 5, 6, 7]
evaluation:
  cv: 2
  seed: 0
"""


@pytest.fixture
def one_batch_grid(repo: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The 32-point grid committed, the journal started, every object packed: the packs.

    Every point counts as cheap and the grid makes one batch, however loaded the machine (a
    point of 50 ms or more, or 2 s of results, is recorded at once, and a batch of a few runs
    is written loose, to be packed at the end)."""
    monkeypatch.setattr(batch_module, "SLOW_POINT", 60.0)
    monkeypatch.setattr(batch_module, "MAX_SECONDS", 60.0)
    (repo / "journal.yaml").write_text(GRID)
    git(repo, "add", "journal.yaml")
    git(repo, "commit", "-q", "-m", "Add the grid")
    assert cli("init")[0] == 0
    packed(repo)
    return packs(repo)


def test_a_grid_of_cheap_points_never_writes_a_file_per_object(
    repo: Path, cli: Cli, one_batch_grid: set[str]
) -> None:
    before = one_batch_grid

    code, out, err = cli("run", "-q")

    assert code == 0, err
    assert "Recorded 32 run(s)" in out
    assert object_files(repo) == []  # no loose object was written, not even for a moment
    assert len(packs(repo)) >= len(before) + 1
    assert git(repo, "rev-list", "--count", "journal").strip() == "33"
    assert len(set(trailer_runs(repo))) == 32
    fsck(repo)
    code, out, err = cli("log", "--json")
    assert code == 0, err
    assert out.count('"fingerprint"') == 32
    assert cli("check")[0] == 1  # every point ran


def test_the_reflog_entry_of_a_batch_names_every_run_it_recorded(repo: Path) -> None:
    """`rerun` trusts a code.patch of a run this clone recorded: its reflog must say so for
    every run of a batch, not only the last."""
    store = Store.discover(repo)
    store.init()
    batch = Batch(store)
    for run in runs(4):
        batch.add(run)
    recorded = batch.flush()
    entry = next(iter(store.repo.lookup_reference(store.ref_name).log()))

    assert entry.message == "journal: batch: 4 runs"
    found = [str(commit.id) for commit in batch_commits(store.repo, entry)]
    assert found == [run.commit for run in reversed(recorded)]
    assert (
        batch_commits(store.repo, list(store.repo.lookup_reference(store.ref_name).log())[-1]) == []
    )


def test_a_grid_in_a_linked_worktree_packs_into_the_shared_objects(
    repo: Path, cli: Cli, one_batch_grid: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A linked worktree's git dir (`.git/worktrees/NAME`) holds no objects: the batch's pack
    goes where the repository's objects are."""
    before = one_batch_grid
    other = repo.parent / "other"
    git(repo, "worktree", "add", "-q", str(other), "-b", "other")
    monkeypatch.chdir(other)

    code, out, err = cli("run", "-q")

    assert code == 0, err
    assert "Recorded 32 run(s)" in out
    assert len(packs(repo)) == len(before) + 1
    assert object_files(repo) == []
    assert git(repo, "rev-list", "--count", "journal").strip() == "33"
    fsck(repo)


def test_a_batch_is_due_once_its_objects_fill_its_memory(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.discover(repo)
    store.init()
    batch = Batch(store, max_runs=1000, max_seconds=3600, slow_point=3600)
    monkeypatch.setattr(batch_module, "MAX_BYTES", 200_000)
    batch.add(runs(1)[0], {"big.bin": b"\0" * 150_000})
    assert not batch.due()
    batch.add(runs(1, first=1)[0], {"big.bin": b"\1" * 150_000})
    assert batch.due()
    batch.flush()
    assert batch.memory.size == 0 and not batch.memory.objects


GATED_MODELS = """\
import os
import time

from sklearn.dummy import DummyClassifier


class Gated(DummyClassifier):
    \"\"\"A dummy whose fit with constant=1 waits for the file `go`: the next point, slow.\"\"\"

    def __init__(self, strategy="constant", constant=0):
        super().__init__(strategy=strategy, constant=constant)

    def fit(self, X, y, sample_weight=None):
        while self.constant == 1 and not os.path.exists("go"):
            time.sleep(0.02)
        return super().fit(X, y, sample_weight)
"""
GATED_GRID = """\
data: sklearn:iris
model:
  estimator: models.Gated
  params:
    constant: [0, 1]
evaluation:
  cv: 2
  seed: 0
"""
GATED_SCRIPT = """\
import json, os, sys, time

n = int(sys.argv[1])
while n == 2 and not os.path.exists("go"):  # the second point waits for the test
    time.sleep(0.02)
json.dump({"n": n}, open(os.path.join(os.environ["JOURNAL_RUN_DIR"], "metrics.json"), "w"))
"""
GATED_COMMAND = "command: python train.py {n}\nparams: {n: [1, 2]}\n"


def recorded_while_the_next_point_waits(repo: Path, cli: Cli, *options: str) -> None:
    """Run the grid (its second point waits for `go`, written once the first point's run is in
    the journal, or after 30 s) and check the first point's run came first."""
    seen: list[float] = []
    start = time.monotonic()

    def watch() -> None:
        while time.monotonic() - start < 30:
            if trailer_runs(repo):
                seen.append(time.monotonic() - start)
                break
            time.sleep(0.05)
        (repo / "go").write_text("")

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        code, out, err = cli("run", "-q", *options)
    finally:
        watcher.join()
    assert code == 0, err
    assert "Recorded 2 run(s)" in out
    assert len(trailer_runs(repo)) == 2
    fsck(repo)
    assert seen, "the first point's run was not recorded while the next point trained"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["estimator", "estimator in 2 workers", "command"])
def test_a_cheap_run_is_recorded_while_the_next_point_trains_for_long(
    repo: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A cheap point's result waits in the batch at most MAX_SECONDS, whatever the next point
    does: a next point that trains for an hour (or hangs) neither hides it from `git log` nor
    loses it to a kill -9. Every point counts as cheap here, however loaded the machine."""
    monkeypatch.setattr(batch_module, "SLOW_POINT", 3600.0)
    monkeypatch.setattr(batch_module, "MAX_SECONDS", 0.5)
    if kind.startswith("estimator"):
        (repo / "models.py").write_text(GATED_MODELS)
        (repo / "journal.yaml").write_text(GATED_GRID)
    else:
        (repo / "train.py").write_text(GATED_SCRIPT)
        (repo / "journal.yaml").write_text(GATED_COMMAND)
    (repo / ".gitignore").write_text("go\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add a grid whose second point waits")
    assert cli("init")[0] == 0

    recorded_while_the_next_point_waits(repo, cli, *(["--jobs", "2"] if "workers" in kind else []))


def test_the_timer_writes_a_batch_once_its_first_run_has_waited(repo: Path) -> None:
    store = Store.discover(repo)
    store.init()
    batch = Batch(store, max_seconds=0.3)
    settled: list[list[str]] = []
    with Timer(batch, lambda recorded: settled.append([run.id for run in recorded])):
        with batch.lock:
            for run in runs(3):
                batch.add(run)
        time.sleep(0.1)
        with batch.lock:
            assert trailer_runs(repo) == [] and settled == []  # not waited long enough yet
        deadline = time.monotonic() + 30
        while not settled and time.monotonic() < deadline:
            time.sleep(0.02)

    assert settled == [[run.id for run in runs(3)]]
    assert trailer_runs(repo) == [run.id for run in reversed(runs(3))]
    assert batch.pending == []
    fsck(repo)


def test_what_stops_the_timer_waits_for_the_caller_to_raise(repo: Path) -> None:
    """A settle that fails in the timer's thread (a remote that refuses the push) is raised in
    the caller's, once; the runs the timer wrote are in the journal."""
    store = Store.discover(repo)
    store.init()
    batch = Batch(store, max_seconds=0.05)

    def settle(recorded: list[Run]) -> None:
        raise CheckFailed(f"the remote refused {len(recorded)} run(s)")

    timer = Timer(batch, settle)
    with timer:
        with batch.lock:
            batch.add(runs(1)[0])
        timer.thread.join(timeout=30)  # the error stopped it
        assert not timer.thread.is_alive()
        with batch.lock, pytest.raises(CheckFailed, match="refused 1 run"):
            timer.raise_error()
        timer.raise_error()  # once only

    assert trailer_runs(repo) == [runs(1)[0].id]


def test_a_batch_beside_many_packs_and_loose_objects_reads_them_and_writes_whole(
    repo: Path,
) -> None:
    """A batch's writer never looks through the packs before a write (libgit2 did, for every
    object, and read the pack folder again after each miss), so a file the repository holds
    already, loose or packed, goes into the batch's pack again: git reads such a repository
    as any other, and `git gc` keeps one copy."""
    store = Store.discover(repo)
    store.init()
    first, second, third, fourth = runs(4)
    store.record(first)  # loose objects: its metrics.json is the others' too
    for i in range(12):  # and twelve more packs to look through
        extra = repo / ".git" / f"extra-{i}"
        extra.write_text(f"pack {i}\n")
        blob = git(repo, "hash-object", "-w", str(extra)).strip()
        git(repo, "update-ref", f"refs/extra/{i}", blob)
        git(repo, "repack", "-q")
    store = Store.discover(repo)
    assert len(packs(repo)) >= 12
    tip = store.require().tree
    metrics = tip[f"{run_dir_in(tip, first.fingerprint, first.id)}/metrics.json"]

    batch = Batch(store, pack_min_runs=2)
    for run in (second, third, fourth):
        batch.add(run)
    recorded = batch.flush()

    assert trailer_runs(repo) == [fourth.id, third.id, second.id, first.id]
    fsck(repo)
    new = max((repo / ".git/objects/pack").glob("pack-*.idx"), key=lambda p: p.stat().st_mtime)
    listed = git(repo, "verify-pack", "-v", str(new))
    assert str(metrics.id) in listed  # written again beside its loose copy
    for run in recorded:
        assert [r.id for r in store.find(run.fingerprint)] == [run.id]
    git(repo, "gc", "-q", "--prune=now")
    fsck(repo)
    assert len(list(Store.discover(repo).iter_runs())) == 4
