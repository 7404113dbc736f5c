"""The GitLab CI template (templates/gitlab-ci.yml) run by the real `gitlab-ci-local` with the
shell executor, in a project whose `origin` is a bare repository: the merge-request job trains
only the points the journal lacks, pushes the journal to origin, leaves its artifacts, and
never writes the project's .git/config; the `pages` job writes the site."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "templates" / "gitlab-ci.yml"
# The newest release that runs on Node 20 (later ones need Node 22); .ci/run pins the same.
GITLAB_CI_LOCAL = "gitlab-ci-local@4.72.0"

pytestmark = pytest.mark.slow

SPEC = """\
name: iris-ci
data: sklearn:iris
model:
  estimator: sklearn.linear_model.LogisticRegression
  params:
    C: {grid}
    max_iter: 200
evaluation:
  cv: 3
  scoring: [accuracy]
  seed: 0
"""


@pytest.fixture(scope="session")
def gitlab_ci_local(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The `gitlab-ci-local` program: the one on PATH, else the pinned release installed with
    npm into a temporary prefix. Never a skip: a missing tool fails the test, saying why."""
    if shutil.which("rsync") is None:
        pytest.fail("gitlab-ci-local's shell executor needs rsync: apt-get install rsync")
    found = shutil.which("gitlab-ci-local")
    if found is not None:
        return found
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail(
            "gitlab-ci-local is not on PATH and npm is missing to install it: install Node 20+"
            f" and `npm install -g {GITLAB_CI_LOCAL}` (.ci/run does)"
        )
    prefix = tmp_path_factory.mktemp("gitlab-ci-local")
    out = subprocess.run(
        [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", GITLAB_CI_LOCAL],
        capture_output=True,
        text=True,
        check=False,
    )
    program = prefix / "node_modules" / ".bin" / "gitlab-ci-local"
    if out.returncode != 0 or not program.exists():
        pytest.fail(
            f"gitlab-ci-local is not on PATH and `npm install {GITLAB_CI_LOCAL}` failed:\n"
            + out.stderr[-2000:]
        )
    return str(program)


def ci_env(tmp_path: Path) -> dict[str, str]:
    """A runner's environment: `git journal` of this checkout on PATH, and no git identity
    (the job has to bring its own, as on a fresh CI machine)."""
    home = tmp_path / "runner-home"
    home.mkdir()
    empty = home / "gitconfig"
    empty.write_text("")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_"))
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_GLOBAL=str(empty),
        GIT_CONFIG_NOSYSTEM="1",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(ROOT),
        GCL_IGNORE_PREDEFINED_VARS="CI_PIPELINE_SOURCE",
    )
    return env


def run_job(program: str, project: Path, env: dict[str, str], job: str, *variables: str) -> str:
    # `git journal` of this checkout is already on PATH: the install step only checks it.
    install = "JOURNAL_INSTALL=git journal --version"
    args = [program, "--force-shell-executor", "--variable", install]
    for variable in variables:
        args += ["--variable", variable]
    out = subprocess.run(
        [*args, job], cwd=project, env=env, capture_output=True, text=True, check=False
    )
    log = out.stdout + out.stderr
    assert out.returncode == 0 and f"PASS  {job}" in log, log
    return log


def merge_request_job(program: str, project: Path, env: dict[str, str], origin: Path) -> str:
    return run_job(
        program,
        project,
        env,
        "journal",
        "CI_PIPELINE_SOURCE=merge_request_event",
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME=main",
        f"JOURNAL_PUSH_URL={origin}",
    )


def journal_in(origin: Path) -> list[str]:
    """The subjects of the journal's commits in the bare repository, oldest first."""
    out = git(origin, "log", "--reverse", "--format=%an|%s", "journal")
    return out.splitlines()


def test_gitlab_ci_template_on_a_real_runner(gitlab_ci_local: str, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    project = tmp_path / "project"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    shutil.copy(TEMPLATE, project / ".gitlab-ci.yml")
    (project / ".gitignore").write_text(".gitlab-ci-local/\n")
    git(project, "add", ".")
    git(project, "commit", "-q", "-m", "Run the experiments in CI")
    git(project, "remote", "add", "origin", str(origin))
    git(project, "push", "-q", "origin", "main")
    # The merge request's branch adds the experiment.
    git(project, "switch", "-q", "-c", "regularisation")
    (project / "journal.yaml").write_text(SPEC.format(grid="[0.1, 1.0]"))
    git(project, "add", "journal.yaml")
    git(project, "commit", "-q", "-m", "Try two regularisation strengths")
    config = (project / ".git" / "config").read_bytes()
    env = ci_env(tmp_path)

    # The first merge-request pipeline trains both points and pushes them.
    log = merge_request_job(gitlab_ci_local, project, env, origin)
    assert "Recorded 2 run(s), skipped 0 already run" in log
    runs = [line for line in journal_in(origin) if "accuracy=" in line]
    assert len(runs) == 2
    # No identity was configured on this machine: the job's own, from the environment.
    assert all(line.startswith("gitlab-journal CI|") for line in journal_in(origin))
    metrics = (project / "metrics.txt").read_text()
    assert metrics.rstrip().endswith("# EOF") and "iris" in metrics
    report = (project / "journal-report.md").read_text()
    assert "iris-ci" in report and "The 2 runs" in report, report
    assert "<html" in (project / "journal-report.html").read_text().lower()
    # the merge request's journal, as the browser view, among the artifacts
    site = json.loads((project / "journal-site" / "manifest.json").read_text())
    assert site["count"] == 2 and (project / "journal-site" / "index.html").exists()
    assert (project / ".git" / "config").read_bytes() == config

    # A fresh clone, as on the next pipeline, with one more point: only that one trains.
    git(project, "branch", "-q", "-D", "journal")
    (project / "journal.yaml").write_text(SPEC.format(grid="[0.1, 1.0, 10.0]"))
    git(project, "commit", "-q", "-am", "Try a weaker regularisation too")
    log = merge_request_job(gitlab_ci_local, project, env, origin)
    assert "Recorded 1 run(s), skipped 2 already run" in log
    assert len([line for line in journal_in(origin) if "accuracy=" in line]) == 3

    # Nothing new: nothing trains, and origin's journal does not move.
    before = git(origin, "rev-parse", "journal")
    log = merge_request_job(gitlab_ci_local, project, env, origin)
    assert "Nothing to run" in log and "Recorded" not in log
    assert git(origin, "rev-parse", "journal") == before

    # With parallel Pages deployments on, the merge request's pipeline publishes its journal
    # beside the default branch's, under mr-<iid>/.
    log = run_job(
        gitlab_ci_local,
        project,
        env,
        "pages",
        "CI_PIPELINE_SOURCE=merge_request_event",
        "CI_MERGE_REQUEST_IID=7",
        "JOURNAL_MR_PAGES=true",
    )
    assert "(Pages prefix mr-7)" in log, log
    assert json.loads((project / "public" / "manifest.json").read_text())["count"] == 3
    shutil.rmtree(project / "public")

    # The merge request is merged: the pages job of the default branch's pipeline writes the
    # browser view of the journal.
    git(project, "switch", "-q", "main")
    git(project, "merge", "-q", "--ff-only", "regularisation")
    log = run_job(gitlab_ci_local, project, env, "pages", "CI_DEFAULT_BRANCH=main")
    assert "Pages prefix" not in log  # the site of the default branch has no prefix
    index = project / "public" / "index.html"
    manifest = json.loads((project / "public" / "manifest.json").read_text())
    assert index.exists() and manifest["count"] == 3 and manifest["families"] == ["iris-ci"]
    assert (project / ".git" / "config").read_bytes() == config


def test_gitlab_ci_template_without_a_push_token_says_what_to_set(
    gitlab_ci_local: str, tmp_path: Path
) -> None:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    project = tmp_path / "project"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    shutil.copy(TEMPLATE, project / ".gitlab-ci.yml")
    (project / "journal.yaml").write_text(SPEC.format(grid="[1.0]"))
    git(project, "add", ".")
    git(project, "commit", "-q", "-m", "Run the experiments in CI")
    git(project, "remote", "add", "origin", str(origin))
    git(project, "push", "-q", "origin", "main")
    args = [gitlab_ci_local, "--force-shell-executor", "--variable"]
    out = subprocess.run(
        [
            *args,
            "JOURNAL_INSTALL=git journal --version",
            "--variable",
            "CI_PIPELINE_SOURCE=merge_request_event",
            "--variable",
            "CI_MERGE_REQUEST_TARGET_BRANCH_NAME=main",
            "journal",
        ],
        cwd=project,
        env=ci_env(tmp_path),
        capture_output=True,
        text=True,
        check=False,
    )
    log = out.stdout + out.stderr
    assert out.returncode != 0 and "FAIL  journal" in log, log
    assert "set JOURNAL_PUSH_TOKEN" in log and "Recorded" not in log
    assert git(origin, "branch", "--list", "journal") == ""
