"""A fixed budget of 20 trials for an SVC on digits, after 30 recorded runs: the search
warm-started from the journal (`git journal run --search optuna`) against a cold Optuna study
and against random search, the best score of each averaged over 5 seeds, in the same run.

The 30 recorded runs are a coarse grid (C by gamma) recorded with `git journal run`. Every
method then gets the same 20 trials in the same space (C and gamma on log scales) and the same
protocol (3-fold cross-validated accuracy); only the warm-started search reads the journal. The
cold study and random search score points with scikit-learn directly (what the journal records
for a point is the same number: the script checks one).

Digits is subsampled (600 of its 1,797 images, stratified, by default) to keep the run short;
`--samples 1797` uses all of it.

    python bench/bench_search.py                    # 5 seeds, 20 trials, 600 images
    python bench/bench_search.py --seeds 2 --trials 10 --samples 300   # a quick run
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import optuna
from benchlib import machine, table
from journal_factory import git_env
from rich.console import Console
from sklearn.datasets import load_digits
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.svm import SVC

from gitlab_journal.journal.store import Store
from gitlab_journal.search.study import prepare, search
from gitlab_journal.spec.load import load_spec

C_RANGE = (1e-2, 1e3)
GAMMA_RANGE = (1e-6, 1.0)
GRID_C = [0.01, 0.1, 1.0, 10.0, 100.0]
GRID_GAMMA = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]  # 5 x 6 = 30 recorded runs
FOLDS = 3

SPEC = """\
data: data/digits.npz
model:
  estimator: sklearn.svm.SVC
  params:
    C: {params_c}
    gamma: {params_gamma}
evaluation:
  cv: {folds}
  scoring: [accuracy]
  seed: 0
"""


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=git_env(), check=True, capture_output=True)


def journal(cwd: Path, *args: str) -> None:
    command = ["git", "journal", *args]
    subprocess.run(command, cwd=cwd, env=git_env(), check=True, capture_output=True)


def make_base(root: Path, samples: int) -> tuple[Path, np.ndarray, np.ndarray]:
    """A repository with the digits subsample committed and the 30-run grid recorded."""
    X, y = load_digits(return_X_y=True)
    if samples < len(X):
        X, _, y, _ = train_test_split(X, y, train_size=samples, stratify=y, random_state=0)
    repo = root / "base"
    (repo / "data").mkdir(parents=True)
    np.savez(repo / "data" / "digits.npz", X=X, y=y)
    (repo / "train.py").write_text("# the project's code\n")
    (repo / "grid.yaml").write_text(
        SPEC.format(params_c=GRID_C, params_gamma=[float(g) for g in GRID_GAMMA], folds=FOLDS)
    )
    (repo / "search.yaml").write_text(
        SPEC.format(
            params_c=f"{{low: {C_RANGE[0]}, high: {C_RANGE[1]}, log: true}}",
            params_gamma=f"{{low: {GAMMA_RANGE[0]}, high: {GAMMA_RANGE[1]}, log: true}}",
            folds=FOLDS,
        )
    )
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "digits")
    journal(repo, "init")
    journal(repo, "run", "-q", "grid.yaml")
    return repo, X, y


def score(X: np.ndarray, y: np.ndarray, c: float, gamma: float) -> float:
    model = SVC(C=c, gamma=gamma)
    return float(cross_val_score(model, X, y, cv=FOLDS, scoring="accuracy").mean())


def plain_study(
    sampler: optuna.samplers.BaseSampler, X: np.ndarray, y: np.ndarray, trials: int
) -> list[float]:
    study = optuna.create_study(direction="maximize", sampler=sampler)

    def objective(trial: optuna.Trial) -> float:
        c = trial.suggest_float("C", *C_RANGE, log=True)
        gamma = trial.suggest_float("gamma", *GAMMA_RANGE, log=True)
        return score(X, y, c, gamma)

    study.optimize(objective, n_trials=trials)
    return [t.value for t in study.trials if t.value is not None]


def warm(base: Path, root: Path, seed: int, trials: int) -> list[float]:
    repo = root / f"warm-{seed}"
    shutil.copytree(base, repo)
    store = Store.discover(repo)
    setup = prepare(store, load_spec(repo / "search.yaml"))
    assert len(setup.blocks[0].known) == len(GRID_C) * len(GRID_GAMMA)
    console = Console(file=io.StringIO())
    (report,) = search(store, setup, trials=trials, seed=seed, console=console, quiet=True)
    scores = [t.score for t in report.trained if t.score is not None]
    recorded = [r.fingerprint for r in store.iter_runs()]
    assert len(recorded) == len(set(recorded)), "a recorded point was trained again"
    return scores


def timed(fn: Callable[[int], list[float]], seed: int) -> tuple[list[float], float]:
    started = time.perf_counter()
    out = fn(seed)
    return out, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--samples", type=int, default=600, help="digits images used (of 1797)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore")
    root = Path(tempfile.mkdtemp(prefix="bench-search-"))
    try:
        started = time.perf_counter()
        base, X, y = make_base(root, args.samples)
        grid_seconds = time.perf_counter() - started
        grid = list(Store.discover(base).iter_runs())
        grid_best = max(r.metrics["accuracy"] for r in grid)
        check = grid[0]
        again = score(X, y, check.params["C"], check.params["gamma"])
        assert abs(again - check.metrics["accuracy"]) < 1e-12, "another protocol than the runs'"
        methods: dict[str, Callable[[int], list[float]]] = {
            "warm-started (journal)": lambda s: warm(base, root, s, args.trials),
            "cold Optuna (TPE)": lambda s: plain_study(
                optuna.samplers.TPESampler(seed=s), X, y, args.trials
            ),
            "random search": lambda s: plain_study(
                optuna.samplers.RandomSampler(seed=s), X, y, args.trials
            ),
        }
        best: dict[str, list[float]] = {name: [] for name in methods}
        first5: dict[str, list[float]] = {name: [] for name in methods}
        seconds: dict[str, float] = dict.fromkeys(methods, 0.0)
        for seed in range(args.seeds):
            for name, fn in methods.items():
                scores, took = timed(fn, seed)
                best[name].append(max(scores))
                first5[name].append(max(scores[:5]))
                seconds[name] += took
        rows = []
        for name in methods:
            overall = [max(b, grid_best) for b in best[name]]
            rows.append(
                (
                    name,
                    f"{statistics.mean(best[name]):.4f} ± {statistics.pstdev(best[name]):.4f}",
                    f"{statistics.mean(first5[name]):.4f}",
                    f"{statistics.mean(overall):.4f}",
                    f"{seconds[name] / (args.seeds * args.trials) * 1000:.0f}",
                )
            )
        print(
            f"SVC on digits ({len(X)} of 1797 images, {FOLDS}-fold accuracy), "
            f"{len(grid)} recorded grid runs (best {grid_best:.4f}, {grid_seconds:.1f} s), "
            f"then {args.trials} trials per method, {args.seeds} seeds"
        )
        print(machine())
        print()
        print(
            table(
                (
                    "method",
                    f"best of the {args.trials} trials (mean ± sd)",
                    "best of the first 5",
                    "best incl. the 30 recorded",
                    "ms per trial",
                ),
                rows,
            )
        )
        names = list(methods)
        warm_mean = statistics.mean(best[names[0]])
        for other in names[1:]:
            gap = warm_mean - statistics.mean(best[other])
            wins = sum(w > o for w, o in zip(best[names[0]], best[other], strict=True))
            print(
                f"warm-started vs {other}: {gap:+.4f} accuracy on average, "
                f"better on {wins} of {args.seeds} seeds"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
