"""Code identity takes untracked files too: real repositories, real `git add`, `git commit` and
`git stash`, real scikit-learn fits on tiny data."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pygit2
from conftest import git
from helpers import Cli

from gitlab_journal.api import Journal
from gitlab_journal.code.state import MAX_CODE_FILES, code_files, notebook_code

SPEC = """\
data: {path: data.csv, target: label}
model:
  estimator: sklearn.tree.DecisionTreeClassifier
  params: {max_depth: [1, 2]}
evaluation: {cv: 2, seed: 0}
code: [CODE]
"""
ROWS = "a,b,label\n" + "".join(f"{i % 7},{(i * 3) % 5},{i % 2}\n" for i in range(24))


def project(repo: Path, code: str = '"*.py"') -> None:
    """A spec on a tiny CSV, committed with the data; `git journal init`."""
    (repo / "data.csv").write_text(ROWS)
    (repo / "journal.yaml").write_text(SPEC.replace("CODE", code))
    git(repo, "add", "data.csv", "journal.yaml")
    git(repo, "commit", "-q", "-m", "Add the experiment")


def runs(cli: Cli) -> list[dict[str, Any]]:
    code, out, _ = cli("log", "--json")
    assert code == 0
    found = json.loads(out)
    assert isinstance(found, list)
    return found


def blob_id(repo: Path, path: str) -> str:
    return git(repo, "hash-object", path).strip()


def text_id(repo: Path, text: str) -> str:
    """The git blob id of ``text``, as `git hash-object --stdin` gives it."""
    out = subprocess.run(
        ["git", "hash-object", "--stdin"], cwd=repo, input=text, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_an_untracked_loader_edit_is_new_and_git_add_of_it_trains_nothing(
    repo: Path, cli: Cli
) -> None:
    project(repo)
    (repo / "prep.py").write_text("def load():\n    return 1\n")  # never added
    assert cli("init")[0] == 0
    assert cli("run", "-q")[0] == 0
    assert len(runs(cli)) == 2
    code, out, _ = cli("check")
    assert code == 1 and "already run" in out

    (repo / "prep.py").write_text("def load():\n    return 2\n")
    code, out, _ = cli("check")
    assert code == 0 and "2 of 2 points are new" in out, out
    code, out, _ = cli("run", "-q")
    assert code == 0, out
    recorded = runs(cli)
    assert len(recorded) == 4
    assert {r["code"]["files"]["prep.py"] for r in recorded} == {
        text_id(repo, "def load():\n    return 1\n"),
        blob_id(repo, "prep.py"),
    }

    git(repo, "add", "prep.py")
    code, out, _ = cli("run", "-q")
    assert code == 0 and "Nothing to run" in out, out
    git(repo, "commit", "-q", "-m", "Add the loader")
    code, out, _ = cli("run", "-q")
    assert code == 0 and "Nothing to run" in out, out
    assert len(runs(cli)) == 4


def test_stash_and_pop_of_unchanged_code_change_no_fingerprint(repo: Path, cli: Cli) -> None:
    project(repo)
    (repo / "train.py").write_text("SEED = 5  # uncommitted\n")
    (repo / "helper.py").write_text("K = 3\n")
    cli("init")
    assert cli("run", "-q")[0] == 0

    git(repo, "stash", "push", "-q", "--include-untracked")
    assert not (repo / "helper.py").exists()
    code, out, _ = cli("check")
    assert code == 0 and "2 of 2 points are new" in out, "the stashed code is another state"
    git(repo, "stash", "pop", "-q")
    code, out, _ = cli("run", "-q")
    assert code == 0 and "Nothing to run" in out, out


def test_virtual_environments_build_output_and_ignored_files_are_not_code(repo: Path) -> None:
    (repo / ".gitignore").write_text("ignored/\n")
    own = ["src/helper.py", "src/deep/more.py", "tool.py"]
    skipped = [
        ".venv/lib/python3.12/site-packages/pkg/mod.py",
        "venv/bin/activate_this.py",
        "node_modules/x/setup.py",
        "src/__pycache__/helper.py",
        "build/lib/pkg/mod.py",
        "dist/pkg/mod.py",
        "env/lib/site.py",  # a virtual environment by another name
        "vendor/lib/code.py",  # a nested repository
        "ignored/gen.py",
        "src/gen_a.py",  # ignored by src/.gitignore
    ]
    for path in own + skipped:
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(f"# {path}\n")
    (repo / "env" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    git(repo / "vendor", "init", "-q")
    (repo / "src" / ".gitignore").write_text("gen_*.py\n")

    files = code_files(pygit2.Repository(str(repo)), ["*.py"])

    assert sorted(files) == sorted([*own, "train.py"])
    assert all(files[p] == blob_id(repo, p) for p in files)
    # git agrees on what it ignores; the rest of what it lists is what we skip on purpose.
    listed = git(repo, "ls-files", "--others", "--exclude-standard").split()
    assert "ignored/gen.py" not in listed and "src/gen_a.py" not in listed
    assert "build/lib/pkg/mod.py" in listed


def test_more_code_files_than_the_limit_is_an_error_naming_the_glob(repo: Path, cli: Cli) -> None:
    project(repo)
    cli("init")
    (repo / "generated").mkdir()
    for i in range(MAX_CODE_FILES + 1):
        (repo / "generated" / f"m{i}.py").write_text("")
    code, _, err = cli("check")
    assert code == 2
    assert f"more than {MAX_CODE_FILES} files match '*.py'" in err
    assert "narrower `code:`" in err


NOTEBOOK = {
    "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Notes\n"]},
        {
            "cell_type": "code",
            "execution_count": 1,
            "metadata": {},
            "outputs": [{"output_type": "stream", "name": "stdout", "text": ["1\n"]}],
            "source": ["import prep\n", "print(prep.load())"],
        },
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": []},
    ],
    "metadata": {"kernelspec": {"name": "python3"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}


def write_notebook(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=1) + "\n")


def test_a_notebook_counts_by_its_code_cells_only(repo: Path, cli: Cli) -> None:
    project(repo, code='"*.py", "*.ipynb"')
    write_notebook(repo / "explore.ipynb", NOTEBOOK)
    cli("init")
    assert cli("run", "-q")[0] == 0
    text = "# %%\nimport prep\nprint(prep.load())\n"
    assert notebook_code((repo / "explore.ipynb").read_bytes()) == text
    recorded = runs(cli)[0]["code"]["files"]["explore.ipynb"]
    assert recorded == text_id(repo, text)

    rerun = json.loads(json.dumps(NOTEBOOK))
    rerun["cells"][1]["execution_count"] = 7
    rerun["cells"][1]["outputs"][0]["text"] = ["2\n"]
    rerun["cells"][0]["source"] = ["# Other notes\n"]
    rerun["metadata"]["widgets"] = {"state": {}}
    write_notebook(repo / "explore.ipynb", rerun)
    git(repo, "add", "explore.ipynb")
    code, out, _ = cli("check")
    assert code == 1 and "already run" in out, "outputs and counts are not code"

    rerun["cells"][1]["source"] = ["import prep\n", "print(prep.load() + 1)"]
    write_notebook(repo / "explore.ipynb", rerun)
    code, out, _ = cli("check")
    assert code == 0 and "2 of 2 points are new" in out, "a code cell changed"
    staged = code_files(pygit2.Repository(str(repo)), ["*.ipynb"], staged=True)
    assert staged["explore.ipynb"] == recorded, "the index holds the earlier code cells"


def test_a_committed_notebook_run_again_leaves_runs_clean_and_its_outputs_out_of_the_patch(
    repo: Path, cli: Cli
) -> None:
    """A tracked notebook executed again changes only its outputs: the run's code is HEAD's
    (not dirty, no code.patch), and when a code cell did change the patch holds the notebook's
    code without its outputs, not megabytes of results per run."""
    project(repo)
    (repo / "prep.py").write_text("def load():\n    return 1\n")
    write_notebook(repo / "explore.ipynb", NOTEBOOK)
    git(repo, "add", "prep.py", "explore.ipynb")
    git(repo, "commit", "-q", "-m", "Add a notebook")
    assert cli("init")[0] == 0

    executed = json.loads(json.dumps(NOTEBOOK))
    big = ["x" * 999 + "\n"] * 1000  # a megabyte of output
    executed["cells"][1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": big}]
    executed["cells"][1]["execution_count"] = 12
    write_notebook(repo / "explore.ipynb", executed)
    assert cli("run", "-q", "--set", "model.params.max_depth=1")[0] == 0
    (clean,) = runs(cli)
    assert clean["code"]["dirty"] is False, clean["code"]
    paths = git(repo, "ls-tree", "-r", "--name-only", "journal").split()
    assert not [path for path in paths if path.endswith("/code.patch")]

    executed["cells"][1]["source"] = ["import prep\n", "print(prep.load() * 2)"]
    write_notebook(repo / "explore.ipynb", executed)
    assert cli("run", "-q", "--set", "model.params.max_depth=2")[0] == 0
    (dirty,) = [run for run in runs(cli) if run["params"]["max_depth"] == 2]
    assert dirty["code"]["dirty"] is True
    (patch_path,) = [
        p
        for p in git(repo, "ls-tree", "-r", "--name-only", "journal").split()
        if p.endswith("/code.patch")
    ]
    patch = git(repo, "show", f"journal:{patch_path}")
    assert "prep.load() * 2" in patch and "x" * 999 not in patch, len(patch)
    assert len(patch) < 10_000


def test_staged_code_is_the_index_for_tracked_files_and_the_work_tree_for_untracked(
    repo: Path,
) -> None:
    (repo / "prep.py").write_text("V = 1\n")
    git(repo, "add", "prep.py")
    (repo / "prep.py").write_text("V = 2  # not staged\n")
    (repo / "helper.py").write_text("H = 1\n")  # untracked

    files = code_files(pygit2.Repository(str(repo)), ["*.py"], staged=True)

    assert files["prep.py"] == git(repo, "rev-parse", ":prep.py").strip()
    assert files["helper.py"] == blob_id(repo, "helper.py")
    assert files["train.py"] == git(repo, "rev-parse", ":train.py").strip()


def check_staged(repo: Path, cli: Cli) -> tuple[int, str]:
    code, out, err = cli("check", "--staged")
    return code, out + err


def test_the_hook_stays_quiet_on_edit_run_add_commit(repo: Path, cli: Cli) -> None:
    project(repo)
    cli("init")
    (repo / "prep.py").write_text("def load():\n    return 1\n")
    assert cli("run", "-q")[0] == 0  # the loader is untracked while it runs

    git(repo, "add", "prep.py")
    assert cli("check")[0] == 1, "the same experiments: adding the loader changed nothing"
    assert check_staged(repo, cli) == (0, "")
    code, out, _ = cli("check", "--staged", "--json")
    assert code == 0 and len(json.loads(out)["current"]) == 2, "the runs are this commit's"
    git(repo, "commit", "-q", "-m", "Add the loader")


def test_the_hook_stays_quiet_when_a_commit_adds_a_file_runs_already_read(
    repo: Path, cli: Cli
) -> None:
    project(repo)
    cli("init")
    (repo / "prep.py").write_text("def load():\n    return 1\n")
    assert cli("run", "-q")[0] == 0  # clean tracked files, an untracked loader
    (repo / "README.md").write_text("# project\n\nMore words.\n")
    git(repo, "commit", "-q", "-am", "Say more")

    git(repo, "add", "prep.py")
    assert cli("check")[0] == 1, "the same experiments: adding the loader changed nothing"
    assert check_staged(repo, cli) == (0, "")


def test_runs_whose_code_was_all_tracked_keep_their_fingerprints(repo: Path) -> None:
    # The fingerprint below was computed by the code that counted tracked files only.
    (repo / "pkg").mkdir()
    (repo / "pkg" / "prep.py").write_text("def load():\n    return 1\n")
    (repo / "data.csv").write_text("a,b\n1,2\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add a loader and data")
    (repo / "train.py").write_text("SEED = 3\n")  # a tracked, uncommitted change

    run = Journal(repo).record(
        model="my.Model",
        params={"C": 1.0},
        metrics={"acc": 0.5},
        data={"train": "data.csv"},
        evaluation={"cv": 3},
    )

    assert dict(run.code.files) == {
        "pkg/prep.py": "c72e43df3fc7ecb196a511f5cec82be4a7967ef5",
        "train.py": "9a0b8ef050910372c6da57260c16c77135645749",
    }
    assert run.fingerprint == "ea080a7c5a9cf79c6e6d8d0be0225b55cefc4ce57e609cb41789bfac97060e07"
