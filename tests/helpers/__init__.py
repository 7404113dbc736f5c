"""What many test modules share: the `cli` fixture's type, runs made up for the journal, and
read-backs with real git (fsck, a byte-for-byte snapshot of a work tree)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from gitlab_journal.journal.identity import fingerprint
from gitlab_journal.journal.records import CodeState, Run
from gitlab_journal.journal.store import Store

CliResult = tuple[int, str, str]
Cli = Callable[..., CliResult]  # the `cli` fixture: `git journal ARGS...` in this process
LOGREG = "sklearn.linear_model.LogisticRegression"


GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada Lovelace",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada Lovelace",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
}


def git(cwd: Path, *args: str, check: bool = True) -> str:
    """Run the real git program and return its stdout."""
    out = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
        check=False,
    )
    if check and out.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {out.stderr}")
    return out.stdout


_MODULES_SCRIPT = """\
import json, sys
from gitlab_journal.cli import main
for argv in json.loads(sys.argv[1]):
    assert main(argv) == 0, argv
print("MODULES", json.dumps(sorted(sys.modules)))
"""


def commands_modules(cwd: Path, *argvs: Sequence[str]) -> tuple[set[str], str]:
    """Run each ``git journal`` argv in one fresh interpreter (each must exit 0): the modules it
    then holds, and what the commands printed."""
    done = subprocess.run(
        [sys.executable, "-c", _MODULES_SCRIPT, json.dumps([list(a) for a in argvs])],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    printed, _, modules = done.stdout.rpartition("MODULES ")
    return set(json.loads(modules)), printed


_WITHOUT_SCRIPT = """\
import importlib.machinery, json, sys
missing = set(json.loads(sys.argv[1]))


class NotInstalled:
    \"\"\"The path finder, blind to the missing packages: as where they are not installed,
    importing one raises ModuleNotFoundError and importlib.util.find_spec gives None.\"\"\"

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in missing:
            return None
        return importlib.machinery.PathFinder.find_spec(name, path, target)

    def invalidate_caches(self):
        importlib.machinery.PathFinder.invalidate_caches()

    def find_distributions(self, *args, **kwargs):
        return importlib.machinery.PathFinder.find_distributions(*args, **kwargs)


sys.meta_path = [
    NotInstalled() if finder is importlib.machinery.PathFinder else finder
    for finder in sys.meta_path
]
from gitlab_journal.cli import main
sys.exit(main(json.loads(sys.argv[2])))
"""


def command_without(cwd: Path, missing: Iterable[str], *args: str) -> CliResult:
    """`git journal ARGS...` in a fresh interpreter in which the top-level modules ``missing``
    cannot be imported, as where their packages are not installed: (exit code, stdout,
    stderr)."""
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_SCRIPT, json.dumps(sorted(missing)), json.dumps(args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


@functools.cache
def modules_of_import(module: str) -> frozenset[str]:
    """The modules a fresh interpreter holds after ``import module`` alone: what a command
    cannot avoid once it needs ``module`` (pygit2 1.21 brings tempfile and random, say)."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return frozenset(json.loads(done.stdout))


def logged(cli: Cli) -> list[dict[str, Any]]:
    """Every run of the journal as `git journal log --json` prints them, newest first."""
    code, out, err = cli("log", "--json")
    assert code == 0, err
    runs = json.loads(out)
    assert isinstance(runs, list)
    return runs


def planned(cli: Cli, *args: str) -> list[str]:
    """The fingerprints `git journal check` plans for the spec (``args``: more options)."""
    code, out, err = cli("check", "--json", *args)
    assert code in (0, 1), err
    return [p["fingerprint"] for p in json.loads(out)["points"]]


def git_env() -> dict[str, str]:
    """The environment of a real `git` that runs our hooks: the test's author and committer,
    and this Python's scripts (git-journal) first on PATH."""
    scripts = str(Path(sys.executable).parent)
    return {**os.environ, **GIT_ENV, "PATH": scripts + os.pathsep + os.environ.get("PATH", "")}


def run_git(cwd: Path, *args: str, stdin: bytes | None = None) -> str:
    """Real `git ARGS...` (bytes in, text out), failing the test if it fails."""
    done = subprocess.run(["git", *args], cwd=cwd, env=git_env(), input=stdin, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode().strip()


def pushed_clones(tmp_path: Path, bare: Path) -> tuple[Path, Path]:
    """Clone A, whose journal of two runs is pushed to ``bare``, and clone B, which fetched it."""
    a = make_repo(tmp_path / "a")
    git(a, "remote", "add", "origin", str(bare))
    store = Store.discover(a)
    store.init()
    store.record(make_run("good0001", {"C": 1.0}))
    store.record(make_run("good0002", {"C": 2.0}, second=1))
    run_git(a, "push", "-q", "origin", "journal")
    b = make_repo(tmp_path / "b")
    git(b, "remote", "add", "origin", str(bare))
    run_git(b, "fetch", "-q", "origin", "journal:journal")
    return a, b


def journal_file(repo: Path, run_id: str, name: str) -> bytes:
    """The file ``name`` of run ``run_id`` as the journal branch holds it (read with git)."""
    paths = git(repo, "ls-tree", "-r", "--name-only", "journal").split()
    (path,) = [p for p in paths if p.endswith(f"/{run_id}/{name}")]
    return subprocess.run(
        ["git", "show", f"journal:{path}"], cwd=repo, capture_output=True, check=True
    ).stdout


def install_pre_receive(bare: Path) -> None:
    """The package's pre-receive hook installed in the bare repository ``bare``, through the
    CLI as a server's admin installs it (with this interpreter's scripts on PATH)."""
    scripts = str(Path(sys.executable).parent)
    env = {**os.environ, **GIT_ENV, "PATH": scripts + os.pathsep + os.environ.get("PATH", "")}
    done = subprocess.run(
        [sys.executable, "-m", "gitlab_journal", "hooks", "install", "--hook", "pre-receive"],
        cwd=bare,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def hooked_server(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(a bare server with the real pre-receive hook, clone A with two runs pushed, clone B)."""
    bare = tmp_path / "server.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    install_pre_receive(bare)
    a, b = pushed_clones(tmp_path, bare)
    return bare, a, b


def dvc_table(rows: int, offset: int = 0) -> str:
    """A small CSV of two features and a label, another one for each ``offset``."""
    lines = ["a,b,label"]
    for i in range(rows):
        a = ((i + offset) * 37 % 101) / 10
        b = ((i + offset) * 53 % 97) / 10
        lines.append(f"{a},{b},{int(a > b)}")
    return "\n".join(lines) + "\n"


def dvc(repo: Path, *args: str) -> str:
    """Run the real DVC (no analytics, no update check: no network)."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "DVC_TEST": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "dvc", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, f"dvc {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def make_repo(path: Path) -> Path:
    """A git repository at ``path`` with one commit (train.py, README.md)."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Ada Lovelace")
    git(path, "config", "user.email", "ada@example.com")
    (path / "train.py").write_text("SEED = 0\n")
    (path / "README.md").write_text("# project\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "Start the project")
    return path


def make_run(
    run_id: str = "0123456789ab",
    params: dict[str, Any] | None = None,
    *,
    model: str = LOGREG,
    metrics: dict[str, Any] | None = None,
    status: str = "ok",
    second: int = 0,
    data: dict[str, str] | None = None,
    evaluation: dict[str, Any] | None = None,
    files: dict[str, str] | None = None,
    table: dict[str, Any] | None = None,
    **fields: Any,
) -> Run:
    """A made-up run whose fingerprint is the sha256 of its identity, as the runner's are;
    ``second`` sets its creation time (2024-05-01T10:00:SS), ``table`` the identity's table
    options, ``fields`` any other field."""
    params = {"C": 1.0, "max_iter": 100} if params is None else params
    data = {"train": "1" * 32} if data is None else data
    evaluation = {"cv": 5, "seed": 0} if evaluation is None else evaluation
    files = {"train.py": "a" * 40} if files is None else files
    identity = {
        "model": {"estimator": model, "params": params},
        "data": data,
        "evaluation": evaluation,
        "code": {"files": files},
    }
    if table is not None:
        identity["table"] = table
    run = Run(
        id=run_id,
        fingerprint=fingerprint(identity),
        identity=identity,
        model=model,
        params=params,
        point=params,
        data=data,
        evaluation=evaluation,
        code=CodeState(commit="c" * 40, branch="main", dirty=False, files=files),
        metrics={"accuracy": 0.9, "accuracy_std": 0.01, "fit_time": 0.5}
        if metrics is None
        else metrics,
        status=status,
        created=f"2024-05-01T10:00:{second:02d}Z",
        environment={"python": "3.11.9", "packages": {"scikit-learn": "1.5.0"}},
        notes={"hypothesis": "More C, less regularisation"},
    )
    return replace(run, **fields) if fields else run


def fsck(repo: Path) -> None:
    """`git fsck --strict` finds nothing wrong."""
    done = subprocess.run(["git", "fsck", "--strict"], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "error" not in done.stderr.lower() and "missing" not in done.stdout.lower()


def snapshot(repo: Path) -> dict[str, str]:
    """HEAD, the index file, the refs but the journal, the worktrees, and every file of the work
    tree (ignored and untracked ones included), hashed byte for byte."""
    state = {
        "HEAD": git(repo, "rev-parse", "HEAD").strip(),
        "symbolic HEAD": git(repo, "symbolic-ref", "-q", "HEAD", check=False).strip(),
        "index": hashlib.sha256((repo / ".git" / "index").read_bytes()).hexdigest(),
        "status": git(repo, "status", "--porcelain=v1", "--untracked-files=all", "--ignored"),
        "refs": "\n".join(
            line
            for line in git(repo, "for-each-ref", "--format=%(refname) %(objectname)").splitlines()
            if not line.startswith("refs/heads/journal ")
        ),
        "worktrees": git(repo, "worktree", "list", "--porcelain"),
        "stash": git(repo, "stash", "list"),
    }
    for path in sorted(repo.rglob("*")):
        rel = path.relative_to(repo)
        if rel.parts[0] == ".git" or not path.is_file():
            continue
        state[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def interrupted_when(
    repo: Path, args: Sequence[str], ready: Callable[[], bool], *, timeout: float = 120
) -> tuple[int, str, str]:
    """``python -m gitlab_journal ARGS`` in ``repo``, sent Ctrl-C (SIGINT) as soon as ``ready()``
    holds: its exit code, stdout and stderr."""
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "gitlab_journal", *args],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not ready():
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err
