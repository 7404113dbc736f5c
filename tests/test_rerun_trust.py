"""Running code from another clone's record is said out loud: `rerun` of a run whose code.patch
came from elsewhere refuses without a terminal unless `--trust`, and runs nothing before."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import git, make_repo

SCRIPT = """\
import json, os
json.dump({"score": 1.0}, open(os.path.join(os.environ["JOURNAL_RUN_DIR"], "metrics.json"), "w"))
"""
EVIL = """\
import json, os
open({canary!r}, "w").write("x")
json.dump({{"score": 1.0}}, open(os.path.join(os.environ["JOURNAL_RUN_DIR"], "metrics.json"), "w"))
"""


def _journal(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git-journal", *args], cwd=repo, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )


def test_a_foreign_patch_is_refused_without_trust_and_run_with_it(tmp_path: Path) -> None:
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    ours = make_repo(tmp_path / "ours")
    (ours / "train.py").write_text(SCRIPT)
    (ours / "journal.yaml").write_text("command: python train.py\n")
    git(ours, "add", "-A")
    git(ours, "commit", "-q", "-m", "Add the script")
    git(ours, "remote", "add", "origin", str(bare))
    git(ours, "push", "-q", "origin", "main")
    assert _journal(ours, "init").returncode == 0
    git(ours, "push", "-q", "origin", "journal")

    theirs = tmp_path / "theirs"
    git(tmp_path, "clone", "-q", str(bare), str(theirs))
    git(theirs, "config", "user.name", "Mallory")
    git(theirs, "config", "user.email", "m@example.com")
    canary = tmp_path / "PWNED"
    # uncommitted: it travels as the run's code.patch
    (theirs / "train.py").write_text(EVIL.format(canary=str(canary)))
    done = _journal(theirs, "run")
    assert done.returncode == 0, done.stderr
    canary.unlink()
    done = _journal(theirs, "sync")
    assert done.returncode == 0, done.stderr

    git(ours, "fetch", "-q", "origin")
    assert _journal(ours, "sync", "--no-push").returncode == 0
    listing = git(ours, "ls-tree", "-r", "--name-only", "journal").split()
    (run_json,) = [p for p in listing if p.endswith("/run.json")]
    run_id = json.loads(git(ours, "show", f"journal:{run_json}"))["id"]
    tip = git(ours, "rev-parse", "journal").strip()

    refused = _journal(ours, "rerun", run_id)
    assert refused.returncode == 2, refused.stderr
    assert f"run {run_id}'s code.patch came from another clone" in refused.stderr
    assert "--trust" in refused.stderr
    assert not canary.exists()  # nothing ran
    assert git(ours, "rev-parse", "journal").strip() == tip  # nothing recorded

    trusted = _journal(ours, "rerun", run_id, "--trust")
    assert trusted.returncode == 0, trusted.stderr
    assert canary.exists()  # it ran: the user said so
    assert git(ours, "rev-parse", "journal").strip() != tip
