"""Build large bench journals fast, in exactly the on-disk format gitlab-journal writes.

Recording 100,000 runs one by one through ``Store.record`` takes far too long for a benchmark,
so this module streams them into ``git fast-import`` instead. Every run's files are produced by
the package's own code (``format.encode_run``, ``format.run_dir``, ``format.commit_message``, and
the root leaderboard through ``journal.leaderboard``, see ``RootFiles``), so the trees and
messages are the ones ``Store.record`` would write; ``self_test()``, run before every build,
proves it by writing the same runs both ways and comparing trees and messages. fast-import
writes a packfile, so the journal has no loose objects.

A built journal is a non-bare repository: branch ``main`` holds the iris spec ``journal.yaml``;
the orphan branch ``journal`` holds the ``Store.init`` commit, then N generated runs (one commit
each), then the spec's 3 points recorded by the real ``git journal run``. It is cached under
``bench/out/`` keyed by size, seed, format version and factory version, so the bench scripts
share it; a ``.json`` beside it holds the build's figures.

    python bench/journal_factory.py --runs 10000 --runs 100000 [--fsck] [--force]
    python bench/journal_factory.py --self-test
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import inspect
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pygit2

from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.identity import fingerprint
from gitlab_journal.journal.records import CodeState, Run
from gitlab_journal.journal.store import Store
from gitlab_journal.spec.model import ModelSpec
from gitlab_journal.train.sklearn_backend import resolve

FACTORY_VERSION = 3
BENCH_DIR = Path(__file__).resolve().parent
OUT = BENCH_DIR / "out"
VENV_BIN = Path(sys.executable).parent

SPEC_TEXT = """\
data: sklearn:iris
model:
  estimator: sklearn.linear_model.LogisticRegression
  params:
    C: [0.1, 1.0, 10.0]
    max_iter: 500
evaluation:
  cv: 5
  scoring: [accuracy, f1_macro]
  seed: 0
"""

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Bench Writer",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench Writer",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}
SIGNATURE = f"{GIT_ENV['GIT_COMMITTER_NAME']} <{GIT_ENV['GIT_COMMITTER_EMAIL']}>"

MODEL = "sklearn.linear_model.LogisticRegression"
C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
MAX_ITER_GRID = (100, 200, 500, 1000, 2000)
DATASETS = (
    "data/churn.csv",
    "data/fraud.parquet",
    "data/reviews",
    "data/sensors.npy",
    "sklearn:breast_cancer",
    "sklearn:digits",
    "sklearn:wine",
)
HOSTS = ("lab-01", "lab-02", "gpu-03", "ci-runner-7", "laptop")
BRANCHES = ("main", "main", "main", "feature/scaling", "feature/features-v2", "exp/regularise")
FAMILIES = (None, None, "baseline", "regularisation", "max-iter sweep")
START_EPOCH = 1_700_000_000  # runs are ~5 minutes apart from here on


def git_env() -> dict[str, str]:
    """The environment for the git program and `git journal`: fixed identity, venv on PATH."""
    env = {**os.environ, **GIT_ENV}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    # As installed, a package has its .pyc files; without them every process compiles the
    # package's modules again (30-40 ms for `log`), which no user pays.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def git(cwd: Path, *args: str, stdin: bytes | None = None) -> str:
    out = subprocess.run(
        ["git", *args], cwd=cwd, input=stdin, capture_output=True, env=git_env(), check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {out.stderr.decode()}")
    return out.stdout.decode()


def count_objects(path: Path) -> dict[str, int]:
    """`git count-objects -v` as numbers (count = loose objects)."""
    found: dict[str, int] = {}
    for line in git(path, "count-objects", "-v").splitlines():
        key, _, value = line.partition(":")
        found[key.strip()] = int(value.strip())
    return found


def log(message: str, quiet: bool = False) -> None:
    if not quiet:
        print(f"[factory] {message}", file=sys.stderr, flush=True)


# -- generating runs ------------------------------------------------------------------------


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


class _Models:
    """Resolved LogisticRegression identities per (C, max_iter, seed), as the runner makes them."""

    def __init__(self) -> None:
        self.spec = ModelSpec(kind="sklearn", estimator=MODEL)
        self.cache: dict[tuple[float, int, int], Any] = {}

    def get(self, c: float, max_iter: int, seed: int) -> Any:
        key = (c, max_iter, seed)
        if key not in self.cache:
            self.cache[key] = resolve(self.spec, {"C": c, "max_iter": max_iter}, seed)
        return self.cache[key]


@dataclass
class Generated:
    run: Run
    files: dict[str, bytes]  # run.json, metrics.json, identity.json, folds.json
    epoch: int


def generate_runs(n: int, seed: int = 0, salt: str = "") -> Iterator[Generated]:
    """``n`` realistic runs: grid sweeps over C and max_iter on several data sets and code
    versions, about 2% repeats of an experiment (``--force``), 1% failed runs, and warnings.

    ``salt`` changes every data hash: runs of experiments that no journal built here holds."""
    rng = random.Random(seed)
    models = _Models()
    seen: set[str] = set()
    data_version = {name: 0 for name in DATASETS}
    code_version = {"train.py": 0, "features.py": 0}
    base_score = {name: rng.uniform(0.7, 0.97) for name in DATASETS}
    produced = 0
    epoch = START_EPOCH
    sweep = 0
    while produced < n:
        sweep += 1
        dataset = rng.choice(DATASETS)
        if rng.random() < 0.3:
            data_version[dataset] += 1
        for name in code_version:
            if rng.random() < 0.4:
                code_version[name] += 1
        data_text = f"{salt}{dataset}:{data_version[dataset]}"
        data = {dataset: hashlib.md5(data_text.encode()).hexdigest()}
        if not dataset.startswith("sklearn:") and "." not in dataset.rsplit("/", 1)[-1]:
            data[dataset] += ".dir"
        code_files = {
            name: hashlib.sha1(f"{name}:{version}".encode()).hexdigest()
            for name, version in code_version.items()
        }
        ev_seed = rng.choice((0, 0, 0, 1, 42))
        evaluation = {
            "cv": {"folds": 5, "shuffle": rng.random() < 0.3},
            "scoring": ["accuracy", "f1_macro"],
            "seed": ev_seed,
        }
        code = CodeState(
            commit=_hex(rng, 40),
            branch=rng.choice(BRANCHES),
            dirty=rng.random() < 0.2,
            files=code_files,
        )
        environment = {
            "host": rng.choice(HOSTS),
            "packages": {
                "gitlab-journal": "0.1.0",
                "numpy": "2.4.6",
                "scikit-learn": "1.9.1",
                "scipy": "1.17.1",
            },
            "platform": "Linux-6.18.44-x86_64-with-glibc2.36",
            "python": "3.11.7",
        }
        family = rng.choice(FAMILIES)
        notes = {"hypothesis": f"Sweep {sweep}: does C matter on {dataset}?"} if family else {}
        grid = [(c, m) for c in C_GRID for m in MAX_ITER_GRID]
        for c, max_iter in rng.sample(grid, rng.randint(10, len(grid))):
            if produced >= n:
                break
            resolved = models.get(c, max_iter, ev_seed)
            identity = {
                "model": resolved.identity,
                "data": data,
                "evaluation": evaluation,
                "code": {"files": code_files},
            }
            fp = fingerprint(identity)
            repeats = 2 if rng.random() < 0.02 else 1
            if fp in seen:
                continue
            seen.add(fp)
            for _ in range(repeats):
                if produced >= n:
                    break
                epoch += rng.randint(30, 600)
                yield _make_run(
                    rng,
                    fp=fp,
                    identity=identity,
                    resolved=resolved,
                    point={"C": c, "max_iter": max_iter},
                    data=data,
                    evaluation=evaluation,
                    code=code,
                    environment=environment,
                    notes=notes,
                    family=family,
                    score=base_score[dataset] - 0.02 * abs(math.log10(c)) - (max_iter < 200) * 0.01,
                    epoch=epoch,
                )
                produced += 1


def _make_run(
    rng: random.Random,
    *,
    fp: str,
    identity: dict[str, Any],
    resolved: Any,
    point: dict[str, Any],
    data: dict[str, str],
    evaluation: dict[str, Any],
    code: CodeState,
    environment: dict[str, Any],
    notes: dict[str, str],
    family: str | None,
    score: float,
    epoch: int,
) -> Generated:
    failed = rng.random() < 0.01
    folds: dict[str, list[float]] = {}
    metrics: dict[str, float] = {}
    warnings: tuple[str, ...] = ()
    error = None
    if failed:
        error = (
            "Traceback (most recent call last):\n"
            '  File "train.py", line 42, in fit\n'
            "ValueError: Input X contains NaN."
        )
    else:
        for scorer in ("accuracy", "f1_macro"):
            values = [min(1.0, max(0.0, rng.gauss(score, 0.03))) for _ in range(5)]
            folds[scorer] = values
            mean = sum(values) / 5
            metrics[scorer] = mean
            metrics[f"{scorer}_std"] = math.sqrt(sum((v - mean) ** 2 for v in values) / 5)
        folds["fit_time"] = [rng.uniform(0.01, 0.8) for _ in range(5)]
        metrics["fit_time"] = sum(folds["fit_time"]) / 5
        metrics["score_time"] = rng.uniform(0.001, 0.02)
        if point["max_iter"] <= 200 and rng.random() < 0.5:
            warnings = (
                f"ConvergenceWarning: lbfgs failed to converge after {point['max_iter']} "
                "iteration(s) (status=1)",
            )
    run = Run(
        id=_hex(rng, 12),
        fingerprint=fp,
        identity=identity,
        model=resolved.model,
        kind="sklearn",
        params=resolved.params,
        point=point,
        data=data,
        evaluation=evaluation,
        code=code,
        metrics=metrics,
        status="failed" if failed else "ok",
        created=datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        environment=environment,
        notes=notes,
        error=error,
        name=family,
        warnings=warnings,
    )
    files = fmt.encode_run(run)
    if folds:  # the runner adds folds.json beside the records (an extra file of Store.record)
        files = {"folds.json": (json.dumps(folds, indent=2) + "\n").encode(), **files}
    return Generated(run, files, epoch)


# -- writing them with git fast-import ------------------------------------------------------


class RootFiles:
    """The root files a record rewrites beside the run (``leaderboard.json`` and the README
    built from it), computed by the package's own ``leaderboard`` module when it has one.

    ``Store.record`` rewrites them when a run enters the board. With the package's
    ``leaderboard.files_after`` (which changes the parsed document only when it returns files)
    the factory keeps the document in memory and writes the files in the commits where they
    change, exactly as ``Store.record`` does, at the cost of those changes only. Packages from
    before it rewrote them in every record, at about 6 ms a run (10 minutes more for 100,000
    runs); for those, by default, the board is kept in memory with ``leaderboard.add`` and
    written once, in the last commit: the tip tree is byte-identical to what ``Store.record``
    would write (the self-test checks it), only the earlier commits lack the leaderboard's
    changes. ``every_commit`` True or False chooses either way for any package."""

    def __init__(
        self,
        repo: pygit2.Repository,
        parent: str,
        every_commit: bool | None = None,
        version: int = fmt.FORMAT_VERSION,
    ):
        self.changed = False
        self.version = version
        try:
            self.board: Any = importlib.import_module("gitlab_journal.journal.leaderboard")
        except ImportError:
            self.board = None
            self.every_commit = False
            return
        self.incremental = hasattr(self.board, "files_after")
        self.every_commit = self.incremental if every_commit is None else every_commit
        tree = repo[parent].peel(pygit2.Tree)
        try:
            self.blob: bytes | None = tree[self.board.LEADERBOARD_FILE].data
        except KeyError:
            self.blob = None
        self.doc = self.board.load(self.blob)

    def after(self, run: Run) -> dict[str, bytes]:
        """The root files to write in the commit of ``run``."""
        if self.board is None:
            return {}
        if not self.every_commit:
            self.changed |= bool(self.board.add(self.doc, run))
            return {}
        if self.incremental:
            return dict(self.board.files_after(self.doc, run, self.version) or {})
        files = self.board.updated_files(self.blob, run)
        if files is None:
            return {}
        self.blob = files[self.board.LEADERBOARD_FILE]
        return dict(files)

    def last(self) -> dict[str, bytes]:
        """The root files to write in the last commit (when not written in every commit)."""
        if self.board is None or self.every_commit or not self.changed:
            return {}
        return {
            self.board.LEADERBOARD_FILE: self.board.dump(self.doc),
            fmt.README_FILE: (
                self.board.readme(self.doc, self.version)
                if self.incremental
                else self.board.readme(self.doc)
            ).encode(),
        }


def run_dir(fingerprint: str, run_id: str, version: int = fmt.FORMAT_VERSION) -> str:
    """``format.run_dir`` in a journal of format ``version`` (packages from before the journal's
    format 2 have one layout and take no version)."""
    if "version" in inspect.signature(fmt.run_dir).parameters:
        return fmt.run_dir(fingerprint, run_id, version=version)
    return fmt.run_dir(fingerprint, run_id)  # type: ignore[call-arg]


def _file(path: str, data: bytes) -> bytes:
    return b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data)


def fast_import(
    path: Path,
    runs: Iterator[Generated],
    parent: str,
    quiet: bool = False,
    leaderboard_every_commit: bool | None = None,
    version: int = fmt.FORMAT_VERSION,
) -> str:
    """Append one commit per run to refs/heads/journal, starting from ``parent``.

    Returns the fingerprints written, one per line."""
    ref = f"refs/heads/{Store.discover(path).branch}"
    proc = subprocess.Popen(
        ["git", "fast-import", "--quiet", "--done", "--force"],
        cwd=path,
        stdin=subprocess.PIPE,
        env=git_env(),
    )
    assert proc.stdin is not None
    fps: list[str] = []
    out: list[bytes] = []
    started = time.perf_counter()
    root_files = RootFiles(pygit2.Repository(str(path)), parent, leaderboard_every_commit, version)
    commit: list[bytes] = []  # the commit being written; ended when the next one starts
    for count, gen in enumerate(runs, 1):
        if commit:
            out += [*commit, b"\n"]
        message = fmt.commit_message(gen.run).encode()
        commit = [
            b"commit %s\ncommitter %s %d +0000\ndata %d\n%s\n"
            % (ref.encode(), SIGNATURE.encode(), gen.epoch, len(message), message)
        ]
        if count == 1:
            commit.append(b"from %s\n" % parent.encode())
        where = run_dir(gen.run.fingerprint, gen.run.id, version)
        commit += [_file(f"{where}/{name}", data) for name, data in gen.files.items()]
        commit += [_file(name, data) for name, data in root_files.after(gen.run).items()]
        fps.append(gen.run.fingerprint)
        if len(out) > 2000:
            proc.stdin.write(b"".join(out))
            out.clear()
        if count % 10000 == 0:
            log(f"{count} runs streamed ({time.perf_counter() - started:.0f} s)", quiet)
    if commit:
        commit += [_file(name, data) for name, data in root_files.last().items()]
        out += [*commit, b"\n"]
    out.append(b"done\n")
    proc.stdin.write(b"".join(out))
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError("git fast-import failed")
    return "\n".join(fps) + "\n"


# -- the cached journals --------------------------------------------------------------------


def journal_path(n: int, seed: int = 0, version: int = fmt.FORMAT_VERSION) -> Path:
    """Keyed by size, seed, the journal format version and this generator's version."""
    return OUT / f"journal-{n}-seed{seed}-f{version}-v{FACTORY_VERSION}"


def meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def load_meta(path: Path) -> dict[str, Any]:
    return json.loads(meta_path(path).read_text())


def build_journal(
    n: int,
    seed: int = 0,
    *,
    fsck: bool | None = None,
    force: bool = False,
    quiet: bool = False,
    version: int = fmt.FORMAT_VERSION,
) -> Path:
    """The cached journal of ``n`` generated runs (plus the 3 iris runs), built if missing, in
    the journal format ``version``.

    ``fsck``: run `git fsck --strict` after building (default: only up to 20,000 runs)."""
    path = journal_path(n, seed, version)
    if not force and meta_path(path).exists() and path.is_dir():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    if fsck is None:
        fsck = n <= 20_000
    tmp = path.with_name(path.name + ".building")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(path, ignore_errors=True)
    meta_path(path).unlink(missing_ok=True)
    self_test(quiet=quiet, version=version)  # the package's format may have moved meanwhile
    tmp.mkdir(parents=True)
    meta: dict[str, Any] = {
        "runs_generated": n,
        "seed": seed,
        "format_version": version,
        "factory_version": FACTORY_VERSION,
        "package_commit": git(BENCH_DIR, "describe", "--always", "--dirty").strip(),
    }
    t0 = time.perf_counter()

    git(tmp, "init", "-q", "-b", "main")
    git(tmp, "config", "user.name", GIT_ENV["GIT_AUTHOR_NAME"])
    git(tmp, "config", "user.email", GIT_ENV["GIT_AUTHOR_EMAIL"])
    (tmp / "journal.yaml").write_text(SPEC_TEXT)
    git(tmp, "add", "journal.yaml")
    git(tmp, "commit", "-q", "-m", "Add the iris spec")
    store = Store.discover(tmp)
    store.init(**({} if version == fmt.FORMAT_VERSION else {"version": version}))
    parent = str(store.tip())

    log(f"generating and fast-importing {n} runs into {tmp.name}", quiet)
    t1 = time.perf_counter()
    fps = fast_import(tmp, generate_runs(n, seed), parent, quiet, version=version)
    meta["fast_import_s"] = round(time.perf_counter() - t1, 1)
    (tmp / ".git" / "bench-fingerprints.txt").write_text(fps)
    meta["distinct_fingerprints"] = len(set(fps.split()))

    log("recording the iris spec's 3 points with the real `git journal run`", quiet)
    t1 = time.perf_counter()
    out = subprocess.run(
        ["git", "journal", "run", "-q"], cwd=tmp, env=git_env(), capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(f"git journal run failed:\n{out.stdout}\n{out.stderr}")
    meta["journal_run_s"] = round(time.perf_counter() - t1, 1)

    meta["objects_after_journal_run"] = count_objects(tmp)
    # The runner ran `git gc --auto` (a no-op below git's threshold); pack the few loose
    # objects left (Store.init, the spec commit, the 3 real runs) so the bench repo is packed.
    git(tmp, "repack", "-d", "-q")
    # What repack leaves loose is unreachable (objects a record wrote but no commit uses);
    # this private repository can drop them now instead of in two weeks.
    meta["unreachable_loose_after_repack"] = count_objects(tmp)["count"]
    git(tmp, "prune", "--expire=now")
    meta["objects_packed"] = count_objects(tmp)

    if fsck:
        log("git fsck --strict", quiet)
        t1 = time.perf_counter()
        git(tmp, "fsck", "--strict", "--no-progress", "--no-dangling")
        meta["fsck_s"] = round(time.perf_counter() - t1, 1)
    meta["fsck"] = bool(fsck)
    meta["verified_finds"] = verify(tmp, fps.split(), seed)
    meta["journal_commits"] = int(git(tmp, "rev-list", "--count", "journal").strip())
    meta["build_s"] = round(time.perf_counter() - t0, 1)
    tmp.rename(path)
    meta_path(path).write_text(json.dumps(meta, indent=2) + "\n")
    log(f"built {path.name} in {meta['build_s']} s: {json.dumps(meta)}", quiet)
    return path


def verify(path: Path, fps: list[str], seed: int = 0, samples: int = 20) -> int:
    """``Store.find`` answers for random generated fingerprints, and the iris spec all ran."""
    store = Store.discover(path)
    rng = random.Random(seed + 1)
    tree = store.require().tree
    for fp in rng.sample(fps, min(samples, len(fps))):
        runs = store.find(fp, tree)
        if not runs or any(r.fingerprint != fp for r in runs):
            raise RuntimeError(f"{path.name}: Store.find({fp[:12]}) found {runs!r}")
    check = subprocess.run(
        ["git", "journal", "check", "--json"], cwd=path, env=git_env(), capture_output=True
    )
    if check.returncode != 1 or not json.loads(check.stdout)["all_ran"]:
        raise RuntimeError(f"{path.name}: `git journal check` did not answer 'all ran'")
    return min(samples, len(fps))


def copy_journal(src: Path, dst: Path) -> Path:
    """A private copy to write into; pack files (immutable) are hard-linked, not copied."""
    shutil.rmtree(dst, ignore_errors=True)

    def copy(a: str, b: str) -> None:
        if "/objects/pack/" in a and a.endswith((".pack", ".idx", ".rev")):
            os.link(a, b)
        else:
            shutil.copy2(a, b)

    shutil.copytree(src, dst, copy_function=copy, symlinks=True)
    return dst


def fingerprints(path: Path) -> list[str]:
    return (path / ".git" / "bench-fingerprints.txt").read_text().split()


# -- proving the format: fast-import and Store.record write the same trees -------------------


def self_test(n: int = 300, quiet: bool = False, version: int = fmt.FORMAT_VERSION) -> None:
    """Write the same ``n`` runs with ``Store.record`` and with fast-import. With the
    leaderboard in every commit, every commit's tree must be identical; by default (leaderboard
    written in the last commit), the tip tree; and every commit message, both ways."""
    runs = list(generate_runs(n, seed=7))

    def build(path: Path, how: str) -> tuple[list[str], str]:
        path.mkdir()
        git(path, "init", "-q", "-b", "main")
        store = Store(pygit2.Repository(str(path)))
        store.init(**({} if version == fmt.FORMAT_VERSION else {"version": version}))
        if how == "record":
            for gen in runs:
                store.record(gen.run, {k: v for k, v in gen.files.items() if k == "folds.json"})
        else:
            every = how == "fast-import, leaderboard in every commit"
            fast_import(
                path,
                iter(runs),
                str(store.tip()),
                True,
                leaderboard_every_commit=every,
                version=version,
            )
        git(path, "fsck", "--strict", "--no-progress")
        trees = git(path, "log", "--format=%T", "journal").split()
        return trees, git(path, "log", "--format=%B%x00", "journal")

    with tempfile.TemporaryDirectory(prefix="journal-factory-") as tmpdir:
        want_trees, want_messages = build(Path(tmpdir) / "a", "record")
        for i, how in enumerate(("fast-import, leaderboard in every commit", "fast-import")):
            trees, messages = build(Path(tmpdir) / f"b{i}", how)
            compared = trees if i == 0 else trees[:1]
            if compared != (want_trees if i == 0 else want_trees[:1]):
                raise AssertionError(f"{how}: trees differ from Store.record's")
            if messages != want_messages:
                raise AssertionError(f"{how}: commit messages differ from Store.record's")
    log(f"self-test ok: {n} runs; Store.record and fast-import: tree {want_trees[0][:12]}", quiet)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, action="append", help="journal size (repeatable)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fsck", action="store_true", help="git fsck --strict at any size")
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    parser.add_argument("--self-test", action="store_true", help="prove the format, then exit")
    parser.add_argument(
        "--format",
        type=int,
        default=fmt.FORMAT_VERSION,
        help=f"the journal's format version (default {fmt.FORMAT_VERSION})",
    )
    args = parser.parse_args()
    if args.self_test:
        self_test(version=args.format)
        return
    for n in args.runs or [10_000, 100_000]:
        path = build_journal(
            n, args.seed, fsck=True if args.fsck else None, force=args.force, version=args.format
        )
        print(f"{path}: {json.dumps(load_meta(path))}")


if __name__ == "__main__":
    main()
