"""`git journal run --jobs 2` against `--jobs 1` on a grid of CPU-bound fits.

A scratch repository under bench/out/ holds a spec of random forests on the digits data set
(by default 8 points of 130 trees and 3-fold cross-validation, about one second each: the grid
issue 17 names; each forest fitted in one thread: CPU-bound). Each round runs the whole
`git journal run -q --force` process once with ``--jobs 1`` and once with ``--jobs 2`` (the order
alternates between rounds); ``--force`` records every point again, so both train the same grid.
Timed: wall time of the whole process, start-up, data loading and recording included. Printed:
the median of each and the speed-up, ``jobs 1 / jobs 2`` (target: at least 1.8x on 2 cores).

What two processes give on this machine, in the same rounds: the same forests fitted by plain
scikit-learn (`cross_val_score`, no journal), all points in one process against half of them in
each of two processes started at once. Two vCPUs that share a physical core, or a busy host,
give less than 2x to any two processes; ``--jobs 2`` is shown as a share of that speed-up (each
plain process imports scikit-learn itself, where ``--jobs 2`` imports it once, so the share can
pass 100% by the import's time).

    python bench/bench_jobs.py                 # 8 points, 3 rounds
    python bench/bench_jobs.py --points 16 --trees 60 --folds 5   # the grid measured before
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchlib import compile_package, load_average, machine, table, time_process
from journal_factory import git

OUT = Path(__file__).resolve().parent / "out"
TARGET = 1.8  # issue 17: 8 points of one-second fits on 2 cores
GIT_JOURNAL = [sys.executable, "-m", "gitlab_journal"]

SPEC = """\
data: sklearn:digits
model:
  estimator: sklearn.ensemble.RandomForestClassifier
  params:
    n_estimators: {trees}
    max_features: {features}
    min_samples_leaf: [1, 2]
evaluation:
  cv: {folds}
  seed: 0
"""


# The grid's forests fitted without the journal: the points ``share::shares`` of the grid.
PLAIN = """
import json, sys
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import cross_val_score
trees, folds, features, share, shares = json.loads(sys.argv[1])
X, y = load_digits(return_X_y=True)
points = [(f, leaf) for f in features for leaf in (1, 2)]
for f, leaf in points[share::shares]:
    model = RandomForestClassifier(
        n_estimators=trees, max_features=f, min_samples_leaf=leaf, random_state=0, n_jobs=1
    )
    cross_val_score(model, X, y, cv=folds)
"""


def features_of(points: int) -> list[float]:
    return [round(0.05 * (i + 1), 2) for i in range(max(1, points // 2))]


def plain_fits(points: int, trees: int, folds: int, processes: int) -> float:
    """Wall seconds of the grid's fits without the journal, shared by ``processes`` processes
    started at once (until the last one ends)."""
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                PLAIN,
                json.dumps([trees, folds, features_of(points), share, processes]),
            ]
        )
        for share in range(processes)
    ]
    codes = [proc.wait() for proc in procs]
    if any(codes):
        raise SystemExit(f"the plain fits failed (exit {codes})")
    return time.perf_counter() - started


def make_repo(path: Path, points: int, *, trees: int = 60, folds: int = 5) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    (path / "train.py").write_text("SEED = 0\n")
    features = features_of(points)
    (path / "journal.yaml").write_text(SPEC.format(features=features, trees=trees, folds=folds))
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "Start")
    _, code = time_process([*GIT_JOURNAL, "init"], path)
    if code != 0:
        raise SystemExit("git journal init failed")
    # Fill the resolve cache and the hash cache, so both timed commands start warm.
    _, code = time_process([*GIT_JOURNAL, "run", "-q", "--dry-run"], path)
    if code != 0:
        raise SystemExit("git journal run --dry-run failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=8, help="grid points (even)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds")
    parser.add_argument("--trees", type=int, default=130, help="trees a forest (a point)")
    parser.add_argument("--folds", type=int, default=3, help="cross-validation folds")
    args = parser.parse_args()
    compile_package()
    repo = OUT / "scratch-jobs"
    make_repo(repo, args.points, trees=args.trees, folds=args.folds)
    commands = {
        "jobs 1": [*GIT_JOURNAL, "run", "-q", "--force", "--jobs", "1"],
        "jobs 2": [*GIT_JOURNAL, "run", "-q", "--force", "--jobs", "2"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    plain: dict[int, list[float]] = {1: [], 2: []}
    try:
        for round_ in range(args.repeats):
            order = list(commands) if round_ % 2 == 0 else list(reversed(commands))
            for name in order:
                seconds, code = time_process(commands[name], repo)
                if code != 0:
                    raise SystemExit(f"`{' '.join(commands[name])}` failed (exit {code})")
                times[name].append(seconds)
            for processes in (1, 2) if round_ % 2 == 0 else (2, 1):
                plain[processes].append(plain_fits(args.points, args.trees, args.folds, processes))
    finally:
        shutil.rmtree(repo, ignore_errors=True)
    one, two = (statistics.median(times[name]) for name in commands)
    print(f"# git journal run --jobs 2 vs --jobs 1 ({machine()})")
    print(
        f"{args.points} random forests of {args.trees} trees on digits, {args.folds}-fold CV "
        f"each; {args.repeats} rounds; median wall time; a point took "
        f"{statistics.median(times['jobs 1']) / args.points:.2f} s with --jobs 1, start-up "
        "included"
    )
    rows = [
        [name, f"{statistics.median(t):.2f} s", ", ".join(f"{s:.2f}" for s in t)]
        for name, t in times.items()
    ]
    rows += [
        [
            f"the same fits without the journal, {n} process{'es' if n > 1 else ''}",
            f"{statistics.median(t):.2f} s",
            ", ".join(f"{s:.2f}" for s in t),
        ]
        for n, t in plain.items()
    ]
    print(table(["command", "median", "rounds (s)"], rows))
    speedup = one / two
    plain_speedup = statistics.median(plain[1]) / statistics.median(plain[2])
    verdict = "meets" if speedup >= TARGET else "misses"
    print(
        f"speed-up jobs 1 / jobs 2: {speedup:.2f}x ({verdict} the {TARGET}x target on "
        f"{os.cpu_count()} cores)"
    )
    print(
        f"what two processes give plain scikit-learn here, the same fits in 1 process / in 2: "
        f"{plain_speedup:.2f}x; --jobs 2 gets {speedup / plain_speedup:.0%} of it"
    )
    print(f"load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
