"""The journal's overhead on a Keras run: `git journal run` of a 5-epoch MLP on digits against
the same training in a bare script, each a whole process (TensorFlow's import counted on both
sides), interleaved round by round.

The journal side is the worst case, a point never seen: its resolve cache is removed before
each run, so it also builds the model once to fingerprint it, and it writes the history, the
learning-curve plot and the model summary into the journal. The bare side imports Keras, loads
digits, splits it the same way, builds, compiles, fits and evaluates the same model.

    python bench/bench_keras.py               # 5 rounds after 1 warm-up
    python bench/bench_keras.py --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from benchlib import compile_package, machine, median_ms, ratio, table, time_processes
from journal_factory import git

TARGET_RATIO = 1.2

MODELS_PY = """\
import keras


def build_mlp(units, dropout):
    return keras.Sequential(
        [
            keras.layers.Dense(units, activation="relu"),
            keras.layers.Dropout(dropout),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
"""

SPEC = """\
data: sklearn:digits
model:
  keras: models:build_mlp
  params: {units: 64, dropout: 0.1}
  compile:
    optimizer: {class: adam, learning_rate: 0.01}
    loss: sparse_categorical_crossentropy
    metrics: [accuracy]
  fit: {epochs: 5, batch_size: 64, validation_split: 0.2}
evaluation:
  split: {test_size: 0.2}
  seed: 0
"""

BARE_PY = """\
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from models import build_mlp

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.2, random_state=0, stratify=y
)
keras.utils.set_random_seed(0)
model = build_mlp(units=64, dropout=0.1)
model.compile(
    optimizer=keras.optimizers.Adam(learning_rate=0.01),
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
model.fit(X_train, y_train, epochs=5, batch_size=64, validation_split=0.2, verbose=0)
print(model.evaluate(X_test, y_test, verbose=0, return_dict=True))
"""


def make_project(folder: Path) -> Path:
    root = folder / "project"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "models.py").write_text(MODELS_PY)
    (root / "journal.yaml").write_text(SPEC)
    (root / "bare.py").write_text(BARE_PY)
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "A Keras experiment")
    git(root, "journal", "init")
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    compile_package()
    with tempfile.TemporaryDirectory(prefix="bench-keras-") as tmp:
        root = make_project(Path(tmp))
        cache = root / ".git" / "journal" / "resolved.json"
        journal_cmd = [
            "bash",
            "-c",
            f"rm -f '{cache}' && git journal run -q --force",
        ]
        bare_cmd = [sys.executable, "bare.py"]
        times, codes = time_processes(
            {"git journal run": journal_cmd, "bare script": bare_cmd}, root, args.repeats
        )
        recorded = git(root, "rev-list", "--count", "journal").strip()
    if codes["git journal run"] != {0} or codes["bare script"] != {0}:
        print(f"a command failed: exit codes {codes}", file=sys.stderr)
        return 1
    ours = statistics.median(times["git journal run"])
    base = statistics.median(times["bare script"])
    print(f"Keras run overhead, {args.repeats} rounds ({machine()}); journal commits: {recorded}")
    print(
        table(
            ["command", "median", "min", "max"],
            [
                [
                    name,
                    f"{median_ms(t):.0f} ms",
                    f"{min(t) * 1000:.0f} ms",
                    f"{max(t) * 1000:.0f} ms",
                ]
                for name, t in times.items()
            ],
        )
    )
    print(f"ratio: {ratio(ours, base)} (target at most {TARGET_RATIO}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
