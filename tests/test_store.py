"""The store: orphan branch, one commit per run, sharded paths, CAS, format version."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import helpers
import pygit2
import pytest
from conftest import git

from gitlab_journal.errors import JournalError
from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.records import Run
from gitlab_journal.journal.store import Store


def make_run(run_id: str = "0123456789ab", c: float = 1.0) -> Run:
    """A run of the made-up model ``demo.M`` with one param."""
    return helpers.make_run(
        run_id,
        {"c": c},
        model="demo.M",
        metrics={"score": 0.5, "score_std": 0.1},
        notes={"hypothesis": "c matters"},
    )


def test_init_creates_an_orphan_branch_once(repo: Path) -> None:
    store = Store.discover(repo)
    assert store.init() is True
    assert store.init() is False
    assert git(repo, "ls-tree", "--name-only", "journal").split() == ["FORMAT", "README.md"]
    assert git(repo, "show", "journal:FORMAT").strip() == str(fmt.FORMAT_VERSION)
    assert git(repo, "rev-list", "--count", "journal").strip() == "1"
    assert git(repo, "symbolic-ref", "HEAD").strip() == "refs/heads/main"


def test_a_run_is_one_commit_under_its_fingerprint(repo: Path) -> None:
    store = Store.discover(repo)
    store.init()
    run = store.record(make_run())
    fp = run.fingerprint
    path = f"runs/{fp[:2]}/{fp[2:4]}/{fp[4:]}/{run.id}"  # format 2: two levels of shards
    assert git(repo, "ls-tree", "--name-only", f"journal:{path}").split() == [
        "identity.json",
        "metrics.json",
        "run.json",
    ]
    record = json.loads(git(repo, "show", f"journal:{path}/run.json"))
    assert list(record)[:5] == ["format", "id", "fingerprint", "created", "status"]
    assert git(repo, "rev-parse", "journal").strip() == run.commit
    message = git(repo, "log", "-1", "--format=%B", "journal")
    assert message.startswith("M(c=1): score=0.5\n")
    assert "Hypothesis: c matters" in message
    trailers = git(repo, "log", "-1", "--format=%(trailers:only,unfold)", "journal")
    assert f"Journal-Fingerprint: {run.fingerprint}" in trailers
    assert f"Journal-Run: {run.id}" in trailers
    assert "Status: ok" in trailers
    assert store.has(run.fingerprint)
    assert [r.id for r in store.find(run.fingerprint)] == [run.id]
    assert not store.has(make_run(c=2.0).fingerprint)


def test_repeats_share_a_fingerprint_directory(repo: Path) -> None:
    store = Store.discover(repo)
    store.init()
    store.record(make_run("aaaaaaaaaaaa"))
    store.record(make_run("bbbbbbbbbbbb"))
    assert [r.id for r in store.find(make_run().fingerprint)] == ["aaaaaaaaaaaa", "bbbbbbbbbbbb"]
    with pytest.raises(JournalError, match="already recorded"):
        store.record(make_run("aaaaaaaaaaaa"))


def test_a_stale_writer_rebuilds_on_the_new_tip(repo: Path) -> None:
    store = Store.discover(repo)
    store.init()
    stale_ref = pygit2.Repository(str(repo)).lookup_reference("refs/heads/journal")
    store.record(make_run("aaaaaaaaaaaa"))
    # The ref object read before the write no longer matches: libgit2 refuses the swap.
    with pytest.raises(pygit2.GitError):
        stale_ref.set_target(stale_ref.target)
    second = Store.discover(repo).record(make_run("bbbbbbbbbbbb", c=3.0))
    assert git(repo, "rev-list", "--count", "journal").strip() == "3"
    assert git(repo, "rev-parse", "journal^").strip() != second.commit


def test_an_identity_that_does_not_match_its_fingerprint_is_refused(repo: Path) -> None:
    store = Store.discover(repo)
    store.init()
    bad = Run(**{**make_run().__dict__, "fingerprint": "0" * 64})
    with pytest.raises(JournalError, match="does not match"):
        store.record(bad)
    assert git(repo, "rev-list", "--count", "journal").strip() == "1"


def test_a_newer_format_is_an_error_not_a_guess(repo: Path) -> None:
    store = Store.discover(repo)
    store.init()
    tree = store.repo.TreeBuilder(store.require().tree)
    tree.insert("FORMAT", store.repo.create_blob(b"99\n"), pygit2.enums.FileMode.BLOB)
    sig = store.signature()
    commit = store.repo.create_commit(
        "refs/heads/journal", sig, sig, "future", tree.write(), [store.require().id]
    )
    assert commit
    with pytest.raises(JournalError, match="format version 99"):
        store.require()


def test_update_run_adds_a_commit_and_keeps_history(repo: Path) -> None:
    store = Store.discover(repo)
    store.init()
    run = store.record(make_run())
    store.update_run(run, "Add a file\n", files={"extra.txt": b"more\n"})
    assert git(repo, "rev-parse", "journal^").strip() == run.commit
    assert store.files(run)["extra.txt"] == b"more\n"
    assert subprocess.run(["git", "fsck", "--strict"], cwd=repo, check=False).returncode == 0


def test_validate_files_checks_the_path(repo: Path) -> None:
    run = make_run()
    files = fmt.encode_run(run)
    assert fmt.validate_files(files, fingerprint=run.fingerprint, run_id=run.id, where="x").id
    with pytest.raises(JournalError, match="does not hash"):
        fmt.validate_files(files, fingerprint="1" * 64, run_id=run.id, where="x")
    with pytest.raises(JournalError, match=r"missing metrics\.json"):
        fmt.validate_files(
            {k: v for k, v in files.items() if k != "metrics.json"},
            fingerprint=run.fingerprint,
            run_id=run.id,
            where="x",
        )


def test_a_merge_keeps_a_note_from_one_side_and_the_committed_sha_from_the_other(
    repo: Path,
) -> None:
    store = Store.discover(repo)
    store.init()
    run = store.record(make_run())
    path = fmt.run_dir(run.fingerprint, run.id, version=fmt.FORMAT_VERSION)
    git(repo, "branch", "other", "journal")
    other = Store(store.repo, "other")
    other.update_run(replace(run, code=replace(run.code, committed="c" * 40)), "commit\n")
    store.update_run(
        replace(run, notes={**run.notes, "inference": "C matters a little."}), "note\n"
    )

    merged = store.merge(str(other.tip()))

    assert merged.kind == "merge"
    record = json.loads(git(repo, "show", f"journal:{path}/run.json"))
    assert record["notes"]["inference"] == "C matters a little."
    assert record["notes"]["hypothesis"] == "c matters"
    assert record["code"]["committed"] == "c" * 40
    assert subprocess.run(["git", "fsck", "--strict"], cwd=repo, check=False).returncode == 0


def test_the_latest_rerun_is_the_newest_checked_in_the_merge_the_index_and_the_record(
    repo: Path,
) -> None:
    from gitlab_journal.journal.index import open_index
    from gitlab_journal.journal.records import IRREPRODUCIBLE, REPRODUCED, reproduction_status

    store = Store.discover(repo)
    store.init()
    run = store.record(make_run())
    git(repo, "branch", "other", "journal")
    later = {"by": "0" * 12, "checked": "2026-03-02T01:40:07Z", "result": "differs"}
    earlier = {"by": "f" * 12, "checked": "2026-03-02T01:40:05Z", "result": "identical"}
    Store(store.repo, "other").update_run(replace(run, reproductions=(earlier,)), "rerun\n")
    store.update_run(replace(run, reproductions=(later,)), "rerun\n")

    store.merge(str(Store(store.repo, "other").tip()))

    path = fmt.run_dir(run.fingerprint, run.id, version=fmt.FORMAT_VERSION)
    record = json.loads(git(repo, "show", f"journal:{path}/run.json"))
    assert record["reproductions"] == [earlier, later]  # oldest first, whatever the ids
    assert store.read(run.fingerprint, run.id).reproduction == IRREPRODUCIBLE
    with open_index(store) as index:
        assert index.resolve(run.id).reproduction == IRREPRODUCIBLE
    # Two reruns of one second: the later in the list.
    same = {**earlier, "checked": later["checked"]}
    assert reproduction_status([later, same]) == REPRODUCED
    assert reproduction_status([same, later]) == IRREPRODUCIBLE
    assert reproduction_status([later, {"result": "identical"}]) == IRREPRODUCIBLE


@pytest.mark.parametrize(
    ("mine", "theirs", "base", "expected"),
    [
        ({"n": "new"}, {"n": "old", "m": "added"}, {"n": "old"}, {"n": "new", "m": "added"}),
        ({"n": "old"}, {"n": "new"}, {"n": "old"}, {"n": "new"}),
        ({"n": "a"}, {"n": "b"}, {"n": "old"}, {"n": "a\n\nb"}),
        ({"n": "overfits"}, {"n": "draft: overfits"}, None, {"n": "draft: overfits"}),
        ({}, {"n": "old"}, {"n": "old"}, {}),  # removed on one side, left on the other
        ({}, {"n": "old"}, None, {"n": "old"}),
    ],
)
def test_notes_merge_against_the_merge_base(
    mine: dict[str, str],
    theirs: dict[str, str],
    base: dict[str, str] | None,
    expected: dict[str, str],
) -> None:
    from gitlab_journal.journal.merge import merge_run_json

    def doc(notes: dict[str, str]) -> bytes:
        return json.dumps({"id": "0123456789ab", "notes": notes}).encode()

    merged = merge_run_json(doc(mine), doc(theirs), None if base is None else doc(base))

    assert merged is not None and json.loads(merged.data)["notes"] == expected


def test_updating_a_run_moves_it_on_the_leaderboard(repo: Path) -> None:
    from dataclasses import replace

    store = Store.discover(repo)
    store.init()
    first = store.record(helpers.make_run("run000000001", {"C": 1.0}, second=1))
    second = store.record(
        helpers.make_run("run000000002", {"C": 2.0}, second=2, metrics={"accuracy": 0.8})
    )

    def board() -> list[tuple[str, float]]:
        doc = json.loads(git(repo, "show", "journal:leaderboard.json"))
        [family] = doc["families"]
        assert "runs" not in family
        return [(row["id"], row["score"]) for row in family["top"]]

    assert board() == [(first.id, 0.9), (second.id, 0.8)]
    store.update_run(replace(second, metrics={"accuracy": 0.95}), "Rescore run 2")
    assert board() == [(second.id, 0.95), (first.id, 0.9)]
    assert git(repo, "show", "journal:README.md").index(second.id) < git(
        repo, "show", "journal:README.md"
    ).index(first.id)
    store.update_run(replace(first, status="failed", error="it broke"), "Fail run 1")
    assert board() == [(second.id, 0.95)]
    note = store.update_run(replace(first, status="failed", error="it broke"), "Same again")
    assert git(repo, "diff", "--name-only", f"{note}~1", note) == ""  # nothing to change
    helpers.fsck(repo)


def test_each_writer_ranks_on_the_leaderboard_the_tip_holds(repo: Path) -> None:
    """A store keeps the leaderboard it parsed while the blob stays the same; a record another
    writer made in between is on the board it writes."""
    ours, theirs = Store.discover(repo), Store.discover(repo)
    ours.init()
    scores = {"run000000001": 0.5, "run000000002": 0.7, "run000000003": 0.6, "run000000004": 0.1}
    writers = [ours, theirs, ours, ours]
    for (run_id, score), writer in zip(scores.items(), writers, strict=True):
        writer.record(helpers.make_run(run_id, {"C": score}, metrics={"accuracy": score}))
    [family] = json.loads(git(repo, "show", "journal:leaderboard.json"))["families"]
    ranked = sorted(scores, key=scores.__getitem__, reverse=True)
    assert [row["id"] for row in family["top"]] == ranked
    assert all(run_id in git(repo, "show", "journal:README.md") for run_id in ranked)


def _nested(depth: int) -> object:
    value: object = 1.0
    for _ in range(depth):
        value = {"k": value}
    return value


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"notes": {"hypothesis": "clear \x1b[2J the screen"}}, "holds a control character"),
        ({"environment": {"": "empty key"}}, "must not be empty"),
        ({"environment": {"deep": _nested(40)}}, "nests deeper than"),
        ({"warnings": ("x" * 200_000,)}, "characters long"),
    ],
    ids=["control character", "empty key", "too deep", "too long"],
)
def test_record_refuses_to_write_what_a_reader_would_refuse(
    repo: Path, change: dict[str, Any], problem: str
) -> None:
    store = Store.discover(repo)
    store.init()
    tip = git(repo, "rev-parse", "journal").strip()
    run = replace(helpers.make_run("badrec01"), **change)

    with pytest.raises(JournalError, match="not a valid record") as raised:
        store.record(run)

    assert problem in raised.value.message
    assert git(repo, "rev-parse", "journal").strip() == tip
