"""The pre-commit hook's check, `git journal check --staged`, on a 100-point grid staged in a
repository whose journal holds 100,000 runs (target: under 300 ms).

Setup, untimed: a private copy of the cached 100,000-run journal (journal_factory.py); the
100-point grid (20 values of C x 5 of max_iter, 3-fold iris) is committed and run for real by
`git journal run`, then the spec moves on to other values in a second commit, and `git journal
log` builds the derived index (as any first `log` does; the hook only brings it up to date, and
without one it looks each point up in the journal's trees instead). Timed, as whole
processes (wall time, output discarded, median of ``--repeats`` warm runs after one warm-up,
interleaved):

- ``alert``: the grid staged again: all 100 points match runs from an earlier commit, so the
  check prints them (exit 0 in warn mode);
- ``silent``: a staged grid of 100 points never run (resolved params cached by the warm-up);
- baselines: ``git journal check`` of the committed spec, ``python -c "import pygit2"``,
  ``python -c pass``.

It also checks that the staged check imported neither scikit-learn nor TensorFlow.

    python bench/bench_hook.py                  # 100,000 runs, 10 repeats
    python bench/bench_hook.py --runs 2000 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import journal_factory as jf
from benchlib import machine, median_ms, ratio, table, time_processes

TARGET_MS = 300.0
C_VALUES = [round(0.05 * (i + 1), 2) for i in range(20)]
GRID = """\
data: sklearn:iris
model:
  estimator: sklearn.linear_model.LogisticRegression
  params:
    C: {c}
    max_iter: {m}
evaluation: {{cv: 3, seed: 0}}
"""
RUN_GRID = GRID.format(c=C_VALUES, m=[150, 200, 250, 300, 350])
OTHER_GRID = GRID.format(c=[10.0], m=[100])
NEW_GRID = GRID.format(c=[round(c + 100, 2) for c in C_VALUES], m=[150, 200, 250, 300, 350])
PROBE = (
    "import sys\nfrom gitlab_journal.cli import main\nrc = main(['check', '--staged', '--json'])\n"
    "print(sorted(m for m in ('sklearn', 'tensorflow', 'keras') if m in sys.modules))\n"
)


def prepare(runs: int) -> Path:
    src = jf.build_journal(runs)
    path = jf.copy_journal(src, jf.OUT / f"scratch-hook-{runs}")
    (path / "journal.yaml").write_text(RUN_GRID)
    jf.git(path, "commit", "-q", "-am", "A 100-point grid")
    jf.log(f"training the 100-point grid in {path.name} (real `git journal run`)")
    done = subprocess.run(
        ["git", "journal", "run", "-q"], cwd=path, env=jf.git_env(), capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"git journal run failed:\n{done.stdout}\n{done.stderr}")
    (path / "journal.yaml").write_text(OTHER_GRID)
    jf.git(path, "commit", "-q", "-am", "Move on to C=10")
    # Any `log` or `show` builds the derived index once; the hook brings it up to date.
    jf.git(path, "journal", "log", "-n", "1")
    return path


def stage(path: Path, text: str) -> None:
    (path / "journal.yaml").write_text(text)
    jf.git(path, "add", "journal.yaml")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100_000, help="journal size")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs of each command")
    args = parser.parse_args()
    path = prepare(args.runs)
    py = sys.executable
    hook = ["git", "journal", "check", "--staged"]
    baselines = {
        "git journal check": ["git", "journal", "check", "--set", "model.params.C=[10.0]"],
        'python -c "import pygit2"': [py, "-c", "import pygit2"],
        "python -c pass": [py, "-c", "pass"],
    }

    stage(path, RUN_GRID)
    found = json.loads(
        subprocess.run(
            [*hook, "--json"], cwd=path, env=jf.git_env(), capture_output=True, text=True
        ).stdout
    )
    alerts = len(found["duplicates"])
    times_alert, codes_alert = time_processes({"alert": hook, **baselines}, path, args.repeats)
    imported_alert = (
        subprocess.run(
            [py, "-c", PROBE], cwd=path, env=jf.git_env(), capture_output=True, text=True
        )
        .stdout.strip()
        .splitlines()[-1]
    )

    stage(path, NEW_GRID)
    times_silent, codes_silent = time_processes({"silent": hook}, path, args.repeats)
    imported_silent = (
        subprocess.run(
            [py, "-c", PROBE], cwd=path, env=jf.git_env(), capture_output=True, text=True
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    jf.git(path, "checkout", "-q", "journal.yaml")
    jf.git(path, "reset", "-q")

    med = {name: median_ms(t) for name, t in {**times_alert, **times_silent}.items()}
    best = {name: min(t) * 1000 for name, t in {**times_alert, **times_silent}.items()}
    pygit2_ms = med['python -c "import pygit2"']
    print(f"# bench_hook: {machine()}, journal of {args.runs:,} runs + 100 grid runs: {path}")
    print(f"Median of {args.repeats} warm runs each (after 1 warm-up), interleaved; wall time.")
    rows = []
    for name, what in (
        ("alert", f"100 staged points, {alerts} ran from an earlier commit"),
        ("silent", "100 staged points never run"),
    ):
        rows.append(
            [
                f"check --staged: {what}",
                f"{med[name]:.1f} ms (min {best[name]:.1f})",
                f"{pygit2_ms:.1f} ms",
                ratio(med[name], pygit2_ms),
                "yes" if med[name] < TARGET_MS else "NO",
            ]
        )
    print(
        table(
            [
                "operation",
                "ours",
                'baseline (python -c "import pygit2")',
                "ratio",
                f"< {TARGET_MS:.0f} ms?",
            ],
            rows,
        )
    )
    print("\nEvery command, median (min) in ms, exit codes:")
    for name, codes in {**codes_alert, **codes_silent}.items():
        print(f"  {name:28s} {med[name]:7.1f} ({best[name]:6.1f})  exit {sorted(codes)}")
    print(
        f"\nHeavy modules imported by check --staged: alert {imported_alert}, "
        f"silent {imported_silent} (want [] for both)"
    )
    if alerts != 100:
        print(f"  WARNING: expected 100 duplicates, found {alerts}")


if __name__ == "__main__":
    main()
