"""`git journal run` of a 300-point grid of cheap models against GridSearchCV of the same grid.

A scratch repository under bench/out/ holds a spec of ``DummyClassifier`` on iris: 4 strategies
times 75 ``random_state`` values, 2-fold cross-validation, scored by accuracy. Each round runs,
as whole processes, ``git journal run -q`` on a journal reset to its first commit (so every
round trains and records the 300 points afresh, as a new grid does; the reset, one ``git
update-ref``, is in the time) and
a Python process that loads iris and runs ``GridSearchCV`` over the same 300 points with the
same folds and scorer. Printed: the median wall time of each, the ratio (target: at most 1.3x),
the time a point, and the loose objects and packs the journal holds after the rounds.

    python bench/bench_grid.py                 # 300 points, 3 rounds
    python bench/bench_grid.py --repeats 1     # a quick run
    python bench/bench_grid.py --states 2500 --repeats 1   # 10,000 points
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from pathlib import Path

from benchlib import compile_package, load_average, machine, table, timed_processes
from journal_factory import git

OUT = Path(__file__).resolve().parent / "out"
TARGET = 1.3
GIT_JOURNAL = [sys.executable, "-m", "gitlab_journal"]
STRATEGIES = ["most_frequent", "prior", "stratified", "uniform"]

SPEC = """\
data: sklearn:iris
model:
  estimator: sklearn.dummy.DummyClassifier
  params:
    strategy: {strategies}
    random_state: {states}
evaluation:
  cv: 2
  seed: 0
  scoring: [accuracy]
"""

BASELINE = """\
from sklearn.datasets import load_iris
from sklearn.dummy import DummyClassifier
from sklearn.model_selection import GridSearchCV, StratifiedKFold
X, y = load_iris(return_X_y=True)
grid = {{"strategy": {strategies}, "random_state": list(range({n}))}}
cv = StratifiedKFold(2, shuffle=True, random_state=0)
GridSearchCV(DummyClassifier(), grid, cv=cv, scoring="accuracy", refit=False).fit(X, y)
"""


def make_repo(path: Path, states: int) -> str:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    (path / "train.py").write_text("SEED = 0\n")
    (path / "journal.yaml").write_text(
        SPEC.format(strategies=STRATEGIES, states=list(range(states)))
    )
    (path / "baseline.py").write_text(BASELINE.format(strategies=STRATEGIES, n=states))
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "Start")
    if timed_processes({"init": [*GIT_JOURNAL, "init"]}, path, 0).codes["init"] != {0}:
        raise SystemExit("git journal init failed")
    return git(path, "rev-parse", "refs/heads/journal").strip()


def objects(path: Path) -> str:
    counts = dict(
        line.split(": ", 1)
        for line in git(path, "count-objects", "-v").splitlines()
        if ": " in line
    )
    return f"{counts.get('count', '?')} loose objects, {counts.get('packs', '?')} packs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, default=75, help="random_state values (x4 points)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds")
    args = parser.parse_args()
    compile_package()
    points = len(STRATEGIES) * args.states
    repo = OUT / "scratch-grid"
    start = make_repo(repo, args.states)
    reset = f"git update-ref refs/heads/journal {start} && rm -f .git/journal/index.sqlite"
    run_cmd = " ".join([*GIT_JOURNAL, "run", "-q"])
    commands = {
        "git journal run": ["sh", "-c", f"{reset} && exec {run_cmd}"],
        "GridSearchCV": [sys.executable, "baseline.py"],
    }
    try:
        timings = timed_processes(commands, repo, args.repeats)
        for name, codes in timings.codes.items():
            if codes != {0}:
                raise SystemExit(f"`{' '.join(commands[name])}` failed (exit {codes})")
        left = objects(repo)
    finally:
        shutil.rmtree(repo, ignore_errors=True)
    run, base = (statistics.median(timings.wall[name]) for name in commands)
    print(f"# git journal run vs GridSearchCV, {points} DummyClassifier points ({machine()})")
    print(f"iris, 2-fold CV, accuracy; {args.repeats} rounds after a warm-up; median wall time")
    rows = [
        [
            name,
            f"{statistics.median(t):.2f} s",
            f"{statistics.median(timings.cpu[name]):.2f} s",
            f"{statistics.median(t) / points * 1000:.1f} ms",
            ", ".join(f"{s:.2f}" for s in t),
        ]
        for name, t in timings.wall.items()
    ]
    print(table(["command", "wall", "CPU", "a point", "rounds (s)"], rows))
    ratio = run / base
    verdict = "meets" if ratio <= TARGET else "misses"
    print(f"ratio run / GridSearchCV: {ratio:.2f}x ({verdict} the {TARGET}x target)")
    print(f"the journal after {args.repeats + 1} runs: {left}")
    print(f"load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
