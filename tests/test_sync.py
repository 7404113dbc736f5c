"""Many clones: `git journal sync` and `git journal run --claim` against real bare repositories
served by a real `git daemon` on 127.0.0.1 (git's own network protocol)."""

from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import GIT_ENV, IRIS_SPEC, git, make_repo
from helpers import Cli, fsck

from gitlab_journal.api import Journal
from gitlab_journal.journal.store import Store
from gitlab_journal.remote.claims import CLAIMS_PREFIX, Claims
from gitlab_journal.run.claims_local import this_machine
from gitlab_journal.run.plan import make_plan
from gitlab_journal.spec.load import load_spec

pytestmark = pytest.mark.slow  # see the README: `pytest -m "not slow"` skips these locally


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A bare repository served read-write by `git daemon` on 127.0.0.1: (its path, its URL)."""
    base = tmp_path / "server"
    base.mkdir()
    bare = base / "shared.git"
    git(base, "init", "-q", "--bare", "-b", "main", str(bare))
    port = free_port()
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--listen=127.0.0.1",
            f"--port={port}",
            f"--base-path={base}",
            "--export-all",
            "--enable=receive-pack",
            "--informative-errors",
            str(base),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or daemon.poll() is not None:
                    raise
                time.sleep(0.05)
        yield bare, f"git://127.0.0.1:{port}/shared.git"
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


def clone(tmp_path: Path, name: str, url: str) -> Path:
    """A project repository with ``url`` as its origin."""
    path = make_repo(tmp_path / name)
    git(path, "remote", "add", "origin", url)
    return path


def record(path: Path, *, tag: float, score: float) -> str:
    """Record one run through the Python API; returns its id."""
    run = Journal(path).record(model="demo.Model", params={"tag": tag}, metrics={"accuracy": score})
    return run.id


def runs_of(repo: Path) -> dict[str, str]:
    """run id -> fingerprint, read back by plain git from the journal's tree."""
    out = git(repo, "ls-tree", "-r", "--name-only", "journal")
    found: dict[str, str] = {}
    for line in out.splitlines():
        parts = line.split("/")
        if parts[0] == "runs" and len(parts) == 6 and parts[5] == "run.json":  # format 2
            found[parts[4]] = "".join(parts[1:4])
    return found


def sync(cli: Cli, path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    monkeypatch.chdir(path)
    code, out, err = cli("sync", *args)
    assert code == 0, err
    return out


@pytest.mark.parametrize("first", ["a", "b"])
def test_two_clones_sync_in_both_orders_and_end_with_identical_journals(
    tmp_path: Path, served: tuple[Path, str], cli: Cli, monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    bare, url = served
    a, b = clone(tmp_path, "a", url), clone(tmp_path, "b", url)
    # Each clone starts its own journal: two unrelated histories.
    only_a = record(a, tag=1, score=0.81)
    both_a = record(a, tag=2, score=0.82)
    only_b = record(b, tag=3, score=0.73)
    both_b = record(b, tag=2, score=0.72)  # the same experiment as both_a: a repeat
    order = [a, b, a] if first == "a" else [b, a, b]

    outputs = [sync(cli, path, monkeypatch) for path in order]

    assert "had no journal yet" in outputs[0] and "Pushed" in outputs[0]
    assert "Merged 2 run(s)" in outputs[1] and "merge commit" in outputs[1]
    assert "Merged 2 run(s)" in outputs[2] and "fast-forward" in outputs[2]
    tips = {git(p, "rev-parse", "journal").strip() for p in (a, b)}
    tips.add(git(bare, "rev-parse", "journal").strip())
    assert len(tips) == 1  # identical journals, here and on the remote
    runs = runs_of(a)
    assert set(runs) == {only_a, both_a, only_b, both_b}
    assert runs[both_a] == runs[both_b]  # one experiment, two repeats side by side
    # The merge commit has both histories as parents and a readable tree.
    parents = git(a, "log", "--merges", "--format=%p", "journal").split()
    assert len(parents) == 2
    assert git(a, "show", "journal:FORMAT").strip() == "2"
    # The root leaderboard (and the README rendered from it) holds both sides' runs.
    (family,) = json.loads(git(a, "show", "journal:leaderboard.json"))["families"]
    assert [row["id"] for row in family["top"]] == [both_a, only_a, only_b]  # best per point
    readme = git(a, "show", "journal:README.md")
    assert readme.startswith("# ") and all(r in readme for r in (both_a, only_a, only_b))
    for path in (a, b, bare):
        fsck(path)
    # A run present on both sides is kept once: sync again after one more run.
    later = record(b, tag=4, score=0.9)
    sync(cli, b, monkeypatch)
    out = sync(cli, a, monkeypatch)
    assert "Merged 1 run(s)" in out
    assert out.count("Pushed") == 0
    assert sorted(runs_of(a)) == sorted([only_a, both_a, only_b, both_b, later])
    assert sorted(runs_of(a).values()).count(runs[both_a]) == 2
    monkeypatch.chdir(a)
    code, out, _ = cli("log", "--json")
    assert code == 0 and len(json.loads(out)) == 5
    out = sync(cli, a, monkeypatch)
    assert "Nothing new" in out and "up to date" in out
    # Both sides record again: a three-way merge, the best runs of both on the leaderboard.
    record(a, tag=5, score=0.6)
    record(b, tag=6, score=0.95)
    sync(cli, b, monkeypatch)
    assert "merge commit" in sync(cli, a, monkeypatch)
    (family,) = json.loads(git(a, "show", "journal:leaderboard.json"))["families"]
    assert [row["score"] for row in family["top"]][:2] == [0.95, 0.9]
    assert len(runs_of(a)) == 7
    fsck(a)


def test_notes_added_on_both_sides_are_both_kept(
    tmp_path: Path, served: tuple[Path, str], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url = served
    a, b = clone(tmp_path, "a", url), clone(tmp_path, "b", url)
    run_id = record(a, tag=1, score=0.8)
    sync(cli, a, monkeypatch)
    sync(cli, b, monkeypatch)
    monkeypatch.chdir(a)
    assert cli("note", run_id, "-m", "Seen from A.")[0] == 0
    monkeypatch.chdir(b)
    assert cli("note", run_id, "-m", "Seen from B.")[0] == 0

    out = sync(cli, b, monkeypatch)  # nothing new from A yet
    out = sync(cli, a, monkeypatch)

    assert "both sides changed" in out
    monkeypatch.chdir(a)
    code, shown, _ = cli("show", run_id, "--json")
    assert code == 0
    inference = json.loads(shown)["notes"]["inference"]
    assert "Seen from A." in inference and "Seen from B." in inference
    fsck(a)


def _strict(text: str) -> Any:
    """``text`` parsed as strict JSON: a bare NaN or Infinity fails the test."""

    def refuse(token: str) -> Any:
        raise AssertionError(f"not strict JSON: {token} in {text!r}")

    return json.loads(text, parse_constant=refuse)


def _run_json_path(repo: Path, run_id: str) -> str:
    listing = git(repo, "ls-tree", "-r", "--name-only", "journal").split()
    (path,) = [p for p in listing if p.endswith(f"/{run_id}/run.json")]
    return path


def _rewrite_as_before(
    repo: Path, run_id: str, change: Callable[[dict[str, Any]], None], summary: str
) -> None:
    """Change one run's run.json on the journal branch as versions before strict run.json wrote
    it (``json.dumps`` with NaN allowed: a bare ``NaN``, ``Infinity``), in a commit of its own
    made with git's plumbing: a blob, a tree from a scratch index, a commit with the run's
    trailers, the branch moved only from the tip it was built on."""
    path = _run_json_path(repo, run_id)
    doc = json.loads(git(repo, "show", f"journal:{path}"))
    change(doc)
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    assert "NaN" in text or "Infinity" in text
    env = {**os.environ, **GIT_ENV, "GIT_INDEX_FILE": str(repo / ".git" / "scratch-index")}

    def plumbing(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            ["git", *args], cwd=repo, env=env, input=stdin, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    tip = plumbing("rev-parse", "journal")
    blob = plumbing("hash-object", "-w", "--stdin", stdin=text)
    plumbing("read-tree", "journal")
    plumbing("update-index", "--cacheinfo", f"100644,{blob},{path}")
    tree = plumbing("write-tree")
    fingerprint = "".join(path.split("/")[1:4])
    message = f"{summary}\n\nJournal-Fingerprint: {fingerprint}\nJournal-Run: {run_id}\n"
    commit = plumbing("commit-tree", tree, "-p", tip, stdin=message)
    plumbing("update-ref", "refs/heads/journal", commit, tip)
    (repo / ".git" / "scratch-index").unlink()


@pytest.mark.parametrize("merging", ["a", "b"])
def test_runs_both_sides_changed_merge_as_strict_json(
    tmp_path: Path,
    served: tuple[Path, str],
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    merging: str,
) -> None:
    """Runs recorded by an earlier version (a bare ``NaN`` in a reproduction's differences;
    one with a bare ``Infinity`` in its point too) are noted on both clones, one of them still
    writing as before: each merged run.json is strict JSON, as run.json is written now, with
    both notes and the reproduction once."""
    _, url = served
    a, b = clone(tmp_path, "a", url), clone(tmp_path, "b", url)
    journal = Journal(a)
    runs = {
        clip: journal.record(model="demo.Model", params={"clip": clip}, metrics={"accuracy": 0.8})
        for clip in (1.0, math.inf)
    }
    reproduced = {
        "checked": "2026-12-07T10:00:00Z",
        "result": "differs",
        "differences": {"accuracy": [0.8, math.nan]},
        "causes": ["nothing recorded differs"],
    }
    for clip, run in runs.items():

        def as_before(doc: dict[str, Any], clip: float = clip) -> None:
            doc["point"] = {"clip": clip}
            doc["reproductions"] = [reproduced]

        _rewrite_as_before(a, run.id, as_before, f"Reproduce run {run.id}: differs")
    sync(cli, a, monkeypatch)
    sync(cli, b, monkeypatch)
    for run in runs.values():
        monkeypatch.chdir(a)
        assert cli("note", run.id, "-m", "Seen from A.")[0] == 0  # written as run.json is now

        def note_b(doc: dict[str, Any]) -> None:
            doc["notes"]["inference"] = "Seen from B."

        _rewrite_as_before(b, run.id, note_b, f"Note run {run.id}")
    first, then = (b, a) if merging == "a" else (a, b)
    sync(cli, first, monkeypatch)

    out = sync(cli, then, monkeypatch)

    assert "both sides changed" in out
    sync(cli, first, monkeypatch)
    for clip, run in runs.items():
        path = _run_json_path(then, run.id)
        texts = {git(repo, "show", f"journal:{path}") for repo in (a, b)}
        assert len(texts) == 1  # both clones hold the merge
        doc = _strict(texts.pop())
        assert doc["point"] == {"clip": clip if math.isfinite(clip) else {"__float__": "inf"}}
        assert doc["reproductions"] == [
            {**reproduced, "differences": {"accuracy": [0.8, {"__float__": "nan"}]}}
        ]
        assert "Seen from A." in doc["notes"]["inference"]
        assert "Seen from B." in doc["notes"]["inference"]
    for repo in (a, b):
        fsck(repo)
        monkeypatch.chdir(repo)
        code, shown, err = cli("verify")
        assert code == 0, shown + err


def test_a_push_that_loses_the_race_fetches_merges_and_retries(
    tmp_path: Path, served: tuple[Path, str], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare, url = served
    a, b, c = (clone(tmp_path, name, url) for name in "abc")
    run_a = record(a, tag=1, score=0.8)
    sync(cli, a, monkeypatch)
    sync(cli, c, monkeypatch)
    run_c = record(c, tag=3, score=0.7)
    # C's journal waits on the server under a side ref; the server's pre-receive hook moves the
    # journal there while B's push is in flight, once: B's push loses that race.
    git(c, "push", "-q", url, "journal:refs/pending/journal")
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\n"
        "if git rev-parse -q --verify refs/pending/journal >/dev/null; then\n"
        "  env -u GIT_QUARANTINE_PATH git update-ref refs/heads/journal refs/pending/journal\n"
        "  env -u GIT_QUARANTINE_PATH git update-ref -d refs/pending/journal\n"
        "fi\n"
        "cat >/dev/null\n"
    )
    hook.chmod(0o755)
    run_b = record(b, tag=2, score=0.9)

    out = sync(cli, b, monkeypatch)

    assert "after 2 attempts" in out
    assert "Merged 2 run(s)" in out  # A's run at the first attempt, C's at the second
    assert set(runs_of(bare)) == {run_a, run_b, run_c}
    assert git(bare, "rev-parse", "journal") == git(b, "rev-parse", "journal")
    fsck(bare)
    fsck(b)


def test_a_refused_push_is_an_error_and_never_forced(
    tmp_path: Path, served: tuple[Path, str], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare, url = served
    a = clone(tmp_path, "a", url)
    record(a, tag=1, score=0.8)
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'journal pushes are closed today' >&2\nexit 1\n")
    hook.chmod(0o755)
    monkeypatch.chdir(a)

    code, _, err = cli("sync")

    assert code == 1
    assert "refused the journal" in err and "closed today" in err
    assert git(bare, "for-each-ref", "refs/heads/journal") == ""


def test_concurrent_syncs_from_three_clones_lose_no_run(
    tmp_path: Path, served: tuple[Path, str]
) -> None:
    bare, url = served
    clones = [clone(tmp_path, f"c{i}", url) for i in range(3)]
    expected = {record(path, tag=i, score=0.5 + i / 10) for i, path in enumerate(clones)}
    env = {**os.environ, **GIT_ENV}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gitlab_journal", "sync"],
            cwd=path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in clones
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    # One more round so every clone has everything.
    for path in clones:
        subprocess.run(
            [sys.executable, "-m", "gitlab_journal", "sync"], cwd=path, env=env, check=True
        )
    assert set(runs_of(bare)) == expected
    tips = {git(path, "rev-parse", "journal").strip() for path in clones}
    assert tips == {git(bare, "rev-parse", "journal").strip()}
    fsck(bare)


# --- claims -------------------------------------------------------------------------------------


SLOW_IRIS = IRIS_SPEC.replace("C: [0.1, 1.0, 10.0]", "C: [0.01, 0.03, 0.1, 0.3, 1.0, 3.0]")


def project(tmp_path: Path, name: str, url: str) -> Path:
    path = clone(tmp_path, name, url)
    (path / "journal.yaml").write_text(SLOW_IRIS)
    git(path, "add", "journal.yaml")
    git(path, "commit", "-q", "-m", "Add the spec")
    return path


def test_two_runners_claiming_on_one_remote_train_each_point_once(
    tmp_path: Path, served: tuple[Path, str]
) -> None:
    bare, url = served
    a, b = project(tmp_path, "a", url), project(tmp_path, "b", url)
    env = {**os.environ, **GIT_ENV}
    subprocess.run([sys.executable, "-m", "gitlab_journal", "init"], cwd=a, env=env, check=True)
    subprocess.run([sys.executable, "-m", "gitlab_journal", "sync"], cwd=a, env=env, check=True)
    subprocess.run([sys.executable, "-m", "gitlab_journal", "sync"], cwd=b, env=env, check=True)

    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gitlab_journal", "run", "-q", "--claim", "origin"],
            cwd=path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in (a, b)
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        outputs.append(out)

    trained = [int(re.search(r"Recorded (\d+) run", out).group(1)) for out in outputs]  # type: ignore[union-attr]
    assert sum(trained) == 6  # no point trained twice, none left out
    remote_runs = runs_of(bare)
    assert len(remote_runs) == 6
    assert len(set(remote_runs.values())) == 6
    assert git(bare, "for-each-ref", CLAIMS_PREFIX) == ""  # every claim released
    for path in (a, b):
        subprocess.run(
            [sys.executable, "-m", "gitlab_journal", "sync"], cwd=path, env=env, check=True
        )
        assert runs_of(path) == remote_runs
        fsck(path)
    fsck(bare)


def _claim(
    repo: Path, url: str, fingerprint: str, when: str, said: str = "Claim-Host: elsewhere"
) -> None:
    """Push a claim as another machine would, made at ``when`` (a git date), its message
    saying ``said`` of its owner."""
    env = {**os.environ, **GIT_ENV, "GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": when}
    tree = subprocess.run(
        ["git", "mktree"], cwd=repo, input="", capture_output=True, text=True, check=True, env=env
    ).stdout.strip()
    commit = subprocess.run(
        ["git", "commit-tree", tree, "-m", f"Claim\n\n{said}"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout.strip()
    git(repo, "push", "-q", url, f"{commit}:{CLAIMS_PREFIX}{fingerprint}")


def test_a_stale_claim_is_taken_over_and_a_live_one_is_respected(
    tmp_path: Path, served: tuple[Path, str], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare, url = served
    a = project(tmp_path, "a", url)
    monkeypatch.chdir(a)
    assert cli("init")[0] == 0
    store = Store.discover(a)
    plan = make_plan(store, load_spec(a / "journal.yaml"))
    stale, live = plan.points[0].fingerprint, plan.points[1].fingerprint
    _claim(a, url, stale, "2001-01-01T00:00:00Z")
    _claim(a, url, live, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    code, out, err = cli("run", "-q", "--claim", "origin", "--claim-timeout", "3600")

    assert code == 0, err
    assert "Took over a stale claim on " + stale[:12] in out
    assert "1 point(s) left to other runners: claimed by elsewhere" in out
    recorded = set(runs_of(bare).values())
    assert len(recorded) == 5 and stale in recorded and live not in recorded
    claims = git(bare, "for-each-ref", "--format=%(refname)", CLAIMS_PREFIX).split()
    assert claims == [CLAIMS_PREFIX + live]  # only the other machine's claim is left


def test_a_dead_process_id_under_this_host_name_is_ours_only_from_this_machine(
    tmp_path: Path, served: tuple[Path, str], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two machines with one host name (cloned, or containers): a claim of the other one
    names a process id that does not run here, and must not be taken over for that."""
    bare, url = served
    a = project(tmp_path, "a", url)
    monkeypatch.chdir(a)
    assert cli("init")[0] == 0
    store = Store.discover(a)
    plan = make_plan(store, load_spec(a / "journal.yaml"))
    elsewhere, here = plan.points[0].fingerprint, plan.points[1].fingerprint
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    owner = f"Claim-Host: {socket.gethostname()}\nClaim-Process: {dead.pid}\n"
    machine = this_machine()
    _claim(a, url, elsewhere, now, owner + "Claim-Machine: " + "f" * 32 + "\nClaim-Boot: x/pid:[1]")
    _claim(
        a, url, here, now, owner + f"Claim-Machine: {machine.machine}\nClaim-Boot: {machine.boot}"
    )

    code, out, err = cli("run", "-q", "--claim", "origin", "--claim-timeout", "3600")

    assert code == 0, err
    assert "Took over a stale claim on " + here[:12] in out, out
    assert f"1 point(s) left to other runners: claimed by {socket.gethostname()}" in out, out
    recorded = set(runs_of(bare).values())
    assert here in recorded and elsewhere not in recorded
    claims = git(bare, "for-each-ref", "--format=%(refname)", CLAIMS_PREFIX).split()
    assert claims == [CLAIMS_PREFIX + elsewhere]


def test_a_claim_pushed_names_this_machine(
    tmp_path: Path, served: tuple[Path, str], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare, url = served
    a = project(tmp_path, "a", url)
    monkeypatch.chdir(a)
    assert cli("init")[0] == 0
    claims = Claims(Store.discover(a))
    assert claims.acquire("cd" * 20) is None
    holder = claims.holder("cd" * 20)
    assert holder is not None and holder.pid == os.getpid()
    assert (holder.machine, holder.boot) == (this_machine().machine, this_machine().boot)
    assert not holder.gone()
    claims.finish()
    assert git(bare, "for-each-ref", CLAIMS_PREFIX) == ""


def test_the_servers_pre_receive_hook_accepts_merges_and_claims(
    tmp_path: Path, served: tuple[Path, str], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare, url = served
    env = {**os.environ, **GIT_ENV}
    subprocess.run(
        [sys.executable, "-m", "gitlab_journal", "hooks", "install", "--hook", "pre-receive"],
        cwd=bare,
        env=env,
        check=True,
        capture_output=True,
    )
    a = project(tmp_path, "a", url)
    b = clone(tmp_path, "b", url)
    record(b, tag=1, score=0.5)
    sync(cli, b, monkeypatch)
    monkeypatch.chdir(a)
    assert cli("init")[0] == 0

    code, out, err = cli("run", "-q", "--claim", "origin", "--set", "model.params.C=[0.5, 5.0]")

    assert code == 0, err
    assert "Recorded 2 run(s)" in out
    assert len(runs_of(bare)) == 3  # b's run and a's two, through a merge the hook accepted
    assert git(bare, "for-each-ref", CLAIMS_PREFIX) == ""
    fsck(bare)


# -- a run both clones changed: reruns, note edits, code.committed ----------------------------

DEMO_SCRIPT = """\
import argparse, json, os

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float)
parser.parse_args()
loss = float(os.environ.get("DEMO_LOSS", "0.5"))  # what this machine's run scores
with open(os.path.join(os.environ["JOURNAL_RUN_DIR"], "metrics.json"), "w") as out:
    json.dump({"loss": loss}, out)
"""

DEMO_SPEC = """\
name: demo
command: python train.py --lr {lr}
params:
  lr: [0.1]
code: ["*.py"]
"""


def hooked_remote(bare: Path) -> None:
    """The server's real pre-receive hook in ``bare``."""
    subprocess.run(
        [sys.executable, "-m", "gitlab_journal", "hooks", "install", "--hook", "pre-receive"],
        cwd=bare,
        env={**os.environ, **GIT_ENV},
        check=True,
        capture_output=True,
    )


def shared_project(tmp_path: Path, url: str) -> tuple[Path, Path]:
    """Two clones of one project: ``x`` commits the training command's spec and script and
    pushes them, ``y`` is a `git clone` of that."""
    x = clone(tmp_path, "x", url)
    (x / "train.py").write_text(DEMO_SCRIPT)
    (x / "journal.yaml").write_text(DEMO_SPEC)
    git(x, "add", "-A")
    git(x, "commit", "-q", "-m", "Add the training command")
    git(x, "push", "-q", "origin", "main")
    git(tmp_path, "clone", "-q", url, "y")
    y = tmp_path / "y"
    git(y, "config", "user.name", "Ada Lovelace")
    git(y, "config", "user.email", "ada@example.com")
    return x, y


def journal_json(cli: Cli, path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.chdir(path)
    code, out, err = cli(*args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_the_latest_rerun_after_a_sync_is_the_newest_checked(
    tmp_path: Path, served: tuple[Path, str], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clone y reruns a run and reproduces it; later clone x reruns it and does not: after both
    sync, both mark the run irreproducible, whatever the reruns' ids."""
    bare, url = served
    hooked_remote(bare)
    x, y = shared_project(tmp_path, url)
    monkeypatch.chdir(x)
    assert cli("init")[0] == 0
    assert cli("run", "-q")[0] == 0
    (run_id,) = runs_of(x)
    sync(cli, x, monkeypatch)
    sync(cli, y, monkeypatch)

    # y's rerun gets the id that sorts last, so an order by text would make it the latest.
    monkeypatch.setattr("gitlab_journal.train.command_backend.new_run_id", lambda: "f" * 12)
    monkeypatch.setattr("gitlab_journal.reproduce.verdict.now_iso", lambda: "2026-03-02T01:40:05Z")
    monkeypatch.chdir(y)
    code, out, err = cli("rerun", run_id)
    assert code == 0 and "identical" in out, out + err
    sync(cli, y, monkeypatch)

    monkeypatch.setattr("gitlab_journal.train.command_backend.new_run_id", lambda: "0" * 12)
    monkeypatch.setattr("gitlab_journal.reproduce.verdict.now_iso", lambda: "2026-03-02T01:40:07Z")
    monkeypatch.setenv("DEMO_LOSS", "0.7")
    monkeypatch.chdir(x)
    code, out, err = cli("rerun", run_id)
    assert code == 1 and "differs" in out, out + err
    assert "both sides changed" in sync(cli, x, monkeypatch)
    sync(cli, y, monkeypatch)

    for repo in (x, y):
        monkeypatch.chdir(repo)
        code, text, _ = cli("show", run_id)
        assert code == 0 and "irreproducible" in text and "✓ reproduced" not in text
        failing = journal_json(cli, repo, monkeypatch, "log", "--status", "irreproducible")
        assert [row["id"] for row in failing] == [run_id]
        assert journal_json(cli, repo, monkeypatch, "log", "--status", "reproduced") == []
        shown = journal_json(cli, repo, monkeypatch, "show", run_id)
        assert [r["checked"][-9:] for r in shown["reproductions"]] == ["01:40:05Z", "01:40:07Z"]
        assert [r["result"] for r in shown["reproductions"]] == ["identical", "differs"]
        fsck(repo)


def test_a_note_edited_on_one_side_survives_a_note_added_on_the_other(
    tmp_path: Path, served: tuple[Path, str], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """p rewrites a note both clones hold while q adds another: the merge against their merge
    base keeps p's new text and q's new note, in both clones."""
    bare, url = served
    hooked_remote(bare)
    p, q = clone(tmp_path, "p", url), clone(tmp_path, "q", url)
    run_id = record(p, tag=1, score=0.8)
    monkeypatch.chdir(p)
    assert cli("note", run_id, "-m", "draft: overfits on fold 2")[0] == 0
    sync(cli, p, monkeypatch)
    sync(cli, q, monkeypatch)
    monkeypatch.chdir(p)
    assert cli("note", run_id, "-m", "overfits")[0] == 0
    monkeypatch.chdir(q)
    assert cli("note", run_id, "--key", "next", "-m", "try fewer features")[0] == 0
    sync(cli, q, monkeypatch)

    out = sync(cli, p, monkeypatch)
    sync(cli, q, monkeypatch)

    assert "both sides changed" in out
    for repo in (p, q):
        notes = journal_json(cli, repo, monkeypatch, "show", run_id)["notes"]
        assert notes["inference"] == "overfits"
        assert notes["next"] == "try fewer features"
        fsck(repo)
    assert git(p, "rev-parse", "journal") == git(bare, "rev-parse", "journal")


def test_two_clones_noting_one_run_committed_as_two_commits_still_sync(
    tmp_path: Path, served: tuple[Path, str], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """x runs with an uncommitted change and syncs; y takes the journal, makes the same change
    and commits it, and syncs; x commits it too. Each post-commit hook notes the run as
    committed in its own commit: x's sync keeps the one the remote has and says so."""
    bare, url = served
    hooked_remote(bare)
    x, y = shared_project(tmp_path, url)
    for repo in (x, y):
        subprocess.run(
            [sys.executable, "-m", "gitlab_journal", "hooks", "install", "--hook", "post-commit"],
            cwd=repo,
            env={**os.environ, **GIT_ENV},
            check=True,
            capture_output=True,
        )
    tuned = DEMO_SCRIPT + "# tuned\n"
    monkeypatch.chdir(x)
    assert cli("init")[0] == 0
    (x / "train.py").write_text(tuned)
    assert cli("run", "-q")[0] == 0
    (run_id,) = runs_of(x)
    sync(cli, x, monkeypatch)
    sync(cli, y, monkeypatch)

    (y / "train.py").write_text(tuned)
    git(y, "commit", "-q", "-am", "Tune the script (y)")
    sync(cli, y, monkeypatch)
    (x / "train.py").write_text(tuned)
    git(x, "commit", "-q", "-am", "Tune the script (x)")
    in_y, in_x = (git(repo, "rev-parse", "HEAD").strip() for repo in (y, x))
    assert in_x != in_y

    def committed(repo: Path) -> str:
        return str(journal_json(cli, repo, monkeypatch, "show", run_id)["code"]["committed"])

    assert (committed(x), committed(y)) == (in_x, in_y)

    out = sync(cli, x, monkeypatch)

    said = " ".join(out.split())  # as the terminal wraps it
    assert f"kept {in_y}" in said and f"dropped {in_x}" in said, out
    sync(cli, y, monkeypatch)
    assert committed(x) == committed(y) == in_y  # the one the remote had first
    assert git(x, "rev-parse", "journal") == git(bare, "rev-parse", "journal")
    assert "Nothing new" in sync(cli, x, monkeypatch)
    for repo in (x, y):
        monkeypatch.chdir(repo)
        code, shown, err = cli("verify")
        assert code == 0, shown + err
        fsck(repo)
