"""init, new, note, and Ctrl-C in the middle of a grid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pygit2
import pytest
from conftest import IRIS_SPEC, git
from helpers import Cli, interrupted_when

from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.store import Store


def test_new_writes_a_template_and_refuses_to_overwrite(repo: Path, cli: Cli) -> None:
    code, out, _ = cli("new", "--list")
    assert code == 0
    assert {"sklearn-classifier", "sklearn-regressor", "sklearn-pipeline"} <= {
        line.split()[0] for line in out.splitlines()
    }
    assert cli("new")[0] == 0
    assert "sklearn.linear_model.LogisticRegression" in (repo / "journal.yaml").read_text()
    code, _, err = cli("new")
    assert code == 2 and "already exists" in err
    code, _, err = cli("new", "--template", "nope", "-o", "other.yaml")
    assert code == 2 and "unknown template" in err and not (repo / "other.yaml").exists()
    assert cli("new", "--template", "sklearn-regressor", "-o", "reg.yaml")[0] == 0
    assert cli("init")[0] == 0
    code, out, _ = cli("run", "reg.yaml", "--dry-run")
    assert code == 0 and "to run" in out


def test_note_adds_an_inference_as_a_new_commit(repo: Path, cli: Cli) -> None:
    (repo / "journal.yaml").write_text(IRIS_SPEC.replace("[0.1, 1.0, 10.0]", "1.0"))
    cli("init")
    cli("run", "-q")
    run_id = json.loads(cli("log", "--json")[1])[0]["id"]
    recorded_at = git(repo, "rev-parse", "journal").strip()

    code, out, _ = cli("note", run_id[:6], "-m", "C=1 is enough for iris.")

    assert code == 0, out
    assert git(repo, "rev-parse", "journal^").strip() == recorded_at
    shown = json.loads(cli("show", run_id, "--json")[1])
    assert shown["notes"]["inference"] == "C=1 is enough for iris."
    assert shown["notes"]["hypothesis"] == "Stronger regularisation underfits iris."
    assert shown["commit"] == recorded_at  # still the commit that recorded the run
    assert cli("note", "zzzz", "-m", "x")[0] == 2


SLOW_SPEC = """\
data: sklearn:digits
model:
  estimator: sklearn.ensemble.RandomForestClassifier
  params:
    n_estimators: [20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31]
evaluation: {cv: 3, seed: 0}
"""


@pytest.mark.slow
def test_ctrl_c_mid_grid_leaves_complete_runs_and_the_next_run_goes_on(repo: Path) -> None:
    (repo / "journal.yaml").write_text(SLOW_SPEC)
    Store.discover(repo).init()
    code, _, err = interrupted_when(
        repo, ["run", "-q"], lambda: int(git(repo, "rev-list", "--count", "journal")) >= 3
    )  # init + 2 runs
    assert code == 130, err
    assert "Traceback" not in err

    store = Store.discover(repo)
    recorded = list(store.run_paths())
    assert 2 <= len(recorded) < 12
    for fingerprint, run_id, tree_id in recorded:
        tree = store.repo[tree_id]
        assert isinstance(tree, pygit2.Tree)
        files = {}
        for entry in tree:
            blob = store.repo[entry.id]
            assert isinstance(blob, pygit2.Blob) and entry.name is not None
            files[entry.name] = blob.data
        fmt.validate_files(files, fingerprint=fingerprint, run_id=run_id, where=run_id)
    assert subprocess.run(["git", "fsck", "--strict"], cwd=repo, check=False).returncode == 0

    done = subprocess.run(
        [sys.executable, "-m", "gitlab_journal", "run", "-q"],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"skipped {len(recorded)} already run" in done.stdout
    assert len(list(Store.discover(repo).run_paths())) == 12


def test_the_program_leaves_its_objects_to_the_process_exit_and_its_output_whole(
    repo: Path, cli: Cli
) -> None:
    """`git-journal` (``cli.entry``) freezes the collector when the command is done, so the
    interpreter's last collection skips every object; what the command printed is all there,
    through a pipe, and the exit code is the command's."""
    assert cli("init")[0] == 0
    script = (
        "import gc, sys\n"
        "from gitlab_journal.cli import entry\n"
        "sys.argv = ['git-journal', 'log']\n"
        "code = entry()\n"
        "print('frozen', gc.get_freeze_count() > 0, file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "frozen True" in done.stderr
    assert (
        done.stdout
        == subprocess.run(
            [sys.executable, "-m", "gitlab_journal", "log"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert done.stdout.strip()  # `log` of an empty journal still says so


@pytest.mark.parametrize("command", [["show"], ["compare"], ["log"]])
def test_a_closed_pipe_drops_the_output_and_keeps_the_exit_code(
    repo: Path, cli: Cli, command: list[str]
) -> None:
    """`git journal show RUN | head -1`: the reader is gone before the output is written; the
    command still ends with 0 (not rich's 1, which breaks `set -o pipefail` scripts), quietly."""
    (repo / "journal.yaml").write_text(IRIS_SPEC)
    assert cli("init")[0] == 0
    assert cli("run", "-q")[0] == 0
    code, out, err = cli("log", "--json")
    assert code == 0, err
    ids = [run["id"] for run in json.loads(out)]
    args = {"show": ["show", ids[0]], "compare": ["compare", *ids[:2]], "log": ["log"]}[command[0]]
    read, write = os.pipe()
    os.close(read)  # the reader stopped before anything was written
    try:
        done = subprocess.run(
            [sys.executable, "-m", "gitlab_journal", *args],
            cwd=repo,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    finally:
        os.close(write)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
