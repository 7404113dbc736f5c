"""Keras runs end to end: real TensorFlow training of small MLPs on digits, real git."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import git
from helpers import Cli

from gitlab_journal.errors import JournalError
from gitlab_journal.journal import format as fmt

pytestmark = pytest.mark.slow  # see the README: `pytest -m "not slow"` skips these locally

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

# The spec, verbatim.
KERAS_SPEC = """\
data: sklearn:digits
model:
  keras: models:build_mlp
  params:
    units: [32, 64]
    dropout: 0.1
  compile:
    optimizer: {class: adam, learning_rate: [0.001, 0.01]}
    loss: sparse_categorical_crossentropy
    metrics: [accuracy]
  fit:
    epochs: 5
    batch_size: 64
    validation_split: 0.2
evaluation:
  split: {test_size: 0.2}
  seed: 0
"""

SMALL_SPEC = """\
data: sklearn:digits
model:
  keras: models:build_mlp
  params: {units: 16, dropout: 0.0}
  compile:
    optimizer: {class: adam, learning_rate: 0.01}
    loss: sparse_categorical_crossentropy
    metrics: [accuracy]
  fit: {epochs: 2, batch_size: 128, validation_split: 0.2}
evaluation:
  split: {test_size: 0.2}
  seed: 0
"""


@pytest.fixture(autouse=True)
def forget_user_models() -> object:
    """Each test's repository has its own models.py: leave none imported for the next."""
    yield
    sys.modules.pop("models", None)


def keras_repo(repo: Path, spec: str) -> Path:
    (repo / "models.py").write_text(MODELS_PY)
    (repo / "journal.yaml").write_text(spec)
    git(repo, "add", "models.py", "journal.yaml")
    git(repo, "commit", "-q", "-m", "Add a Keras experiment")
    return repo


def runs(cli: object, *args: str) -> list[dict[str, Any]]:
    code, out, err = cli("log", "--json", *args)  # type: ignore[operator]
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def run_file(repo: Path, run: dict[str, Any], name: str) -> bytes:
    fp = str(run["fingerprint"])
    path = f"{fmt.run_dir(fp, run['id'], version=fmt.FORMAT_VERSION)}/{name}"
    out = subprocess.run(
        ["git", "show", f"journal:{path}"], cwd=repo, capture_output=True, check=True
    )
    return out.stdout


def test_a_grid_of_four_mlps_records_history_and_plots_and_reruns_nothing(
    repo: Path, cli: Cli
) -> None:
    keras_repo(repo, KERAS_SPEC)
    assert cli("init")[0] == 0

    code, _, err = cli("run", "-q")

    assert code == 0, err
    recorded = runs(cli)
    assert len(recorded) == 4
    assert len({r["fingerprint"] for r in recorded}) == 4
    points = sorted(
        (r["point"]["units"], r["point"]["compile.optimizer.learning_rate"]) for r in recorded
    )
    assert points == [(32, 0.001), (32, 0.01), (64, 0.001), (64, 0.01)]
    for run in recorded:
        assert run["status"] == "ok"
        assert run["kind"] == "keras"
        assert run["model"] == "models.build_mlp"
        metrics = run["metrics"]
        assert isinstance(metrics, dict)
        assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["loss"] > 0
        assert 0.0 <= metrics["val_accuracy"] <= 1.0
        assert metrics["epochs"] == 5 and 1 <= metrics["best_epoch"] <= 5
        units = run["point"]["units"]
        assert metrics["param_count"] == 64 * units + units + units * 10 + 10
        history = json.loads(run_file(repo, run, "history.json"))
        assert set(history["history"]) == {"accuracy", "loss", "val_accuracy", "val_loss"}
        assert all(len(v) == 5 for v in history["history"].values())
        assert len(history["epoch_seconds"]) == 5
        assert history["history"]["val_accuracy"][-1] == pytest.approx(metrics["val_accuracy"])
        assert history["stopped"] is None
        assert run_file(repo, run, "curve.png").startswith(b"\x89PNG\r\n\x1a\n")
        assert "Total params" in run_file(repo, run, "summary.txt").decode()
        identity = json.loads(run_file(repo, run, "identity.json"))["model"]
        assert identity["architecture"]["name"] == "model"
        assert identity["compile"]["optimizer"]["config"]["beta_1"] == 0.9  # a default
        assert identity["fit"]["fail_fast"]["stall"]["monitor"] == "val_loss"
    # The better learning rate wins on this budget, and training is reproducible per seed.
    best = max(recorded, key=lambda r: r["metrics"]["accuracy"])
    assert best["metrics"]["accuracy"] > 0.85

    code, out, _ = cli("run")
    assert code == 0 and "Nothing to run" in out
    assert len(runs(cli)) == 4
    assert cli("check")[0] == 1


def test_a_huge_learning_rate_diverges_within_the_first_epoch(repo: Path, cli: Cli) -> None:
    keras_repo(repo, KERAS_SPEC)
    cli("init")

    code, _, err = cli(
        "run",
        "-q",
        "--set",
        "model.compile.optimizer.learning_rate=10000.0",
        "--set",
        "model.params.units=32",
    )

    assert code == 0, err
    (run,) = runs(cli, "--status", "diverged")
    metrics = run["metrics"]
    assert isinstance(metrics, dict)
    assert metrics["epochs"] == 1  # stopped inside the first epoch, not after five
    assert "accuracy" not in metrics  # a diverged model is not scored
    history = json.loads(run_file(repo, run, "history.json"))
    assert history["stopped"]["status"] == "diverged"
    assert "loss" in history["stopped"]["reason"]
    assert any(str(w).startswith("diverged: ") for w in run["warnings"])
    assert run_file(repo, run, "curve.png").startswith(b"\x89PNG")
    # The same setting is a duplicate: check names the diverged run and its date.
    code, out, _ = cli(
        "check",
        "--set",
        "model.compile.optimizer.learning_rate=10000.0",
        "--set",
        "model.params.units=32",
    )
    assert code == 1
    assert "diverged" in out and str(run["id"]) in out


def test_stalled_training_stops_keeps_its_history_and_saves_the_model(repo: Path, cli: Cli) -> None:
    spec = SMALL_SPEC.replace(
        "fit: {epochs: 2, batch_size: 128, validation_split: 0.2}",
        "fit:\n    epochs: 8\n    batch_size: 128\n    validation_split: 0.2\n"
        "    save_model: true\n    fail_fast: {stall: {patience: 2}}\n"
        "    callbacks: [terminate_on_nan, {class: ReduceLROnPlateau, patience: 5}]",
    ).replace("{class: adam, learning_rate: 0.01}", "{class: sgd, learning_rate: 0.0}")
    keras_repo(repo, spec)
    cli("init")

    code, _, err = cli("run", "-q")

    assert code == 0, err
    (run,) = runs(cli)
    assert run["status"] == "stalled"
    metrics = run["metrics"]
    assert isinstance(metrics, dict)
    assert metrics["epochs"] == 3  # epoch 1 sets the best, 2 and 3 do not improve on it
    assert "accuracy" in metrics  # a stalled model is still scored
    history = json.loads(run_file(repo, run, "history.json"))
    assert len(history["history"]["loss"]) == 3
    assert "not improved" in history["stopped"]["reason"]
    identity = json.loads(run_file(repo, run, "identity.json"))["model"]
    assert identity["fit"]["callbacks"][0] == "terminate_on_nan"

    import keras

    saved = repo.parent / "saved.keras"
    saved.write_bytes(run_file(repo, run, "model.keras"))
    restored = keras.models.load_model(saved)
    assert restored.count_params() == metrics["param_count"]


def test_identity_normalises_layer_names_and_sees_a_changed_width(repo: Path) -> None:
    from gitlab_journal.spec.load import load_spec
    from gitlab_journal.train import keras_backend

    keras_repo(repo, SMALL_SPEC)
    (model,) = load_spec(repo / "journal.yaml").models
    params = {"units": 16, "dropout": 0.0}
    first = keras_backend.resolve(model, params, 0, root=repo)
    again = keras_backend.resolve(model, params, 0, root=repo)  # Keras numbers these layers anew
    wider = keras_backend.resolve(model, {**params, "units": 17}, 0, root=repo)
    reseeded = keras_backend.resolve(model, params, 1, root=repo)

    assert first.identity == again.identity
    assert first.identity["architecture"] != wider.identity["architecture"]
    assert first.identity != reseeded.identity
    layers = first.identity["architecture"]["layers"]
    assert [layer["config"]["name"] for layer in layers] == ["layer_0", "layer_1", "layer_2"]


def test_a_changed_builder_is_a_new_experiment(repo: Path, cli: Cli) -> None:
    keras_repo(repo, SMALL_SPEC)
    cli("init")
    assert cli("run", "-q")[0] == 0
    (repo / "models.py").write_text(MODELS_PY.replace('activation="relu"', 'activation="elu"'))

    code, out, _ = cli("check")

    assert code == 0 and "1 of 1 points are new" in out
    assert cli("run", "-q")[0] == 0
    activations = set()
    for run in runs(cli):
        identity = json.loads(run_file(repo, run, "identity.json"))["model"]
        activations.add(identity["architecture"]["layers"][0]["config"]["activation"])
    assert activations == {"relu", "elu"}


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def _user_fit(journal: Any, *, epochs: int = 2, extra: tuple[Any, ...] = (), **kwargs: Any) -> Any:
    import keras

    from gitlab_journal.keras import JournalCallback

    X, y = _digits()
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.layers.Dense(16, activation="relu"), keras.layers.Dense(10, activation="softmax")]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callback = JournalCallback(
        params={"units": 16, "seed": 0}, data={"train": (X, y)}, journal=journal, **kwargs
    )
    model.fit(
        X,
        y,
        epochs=epochs,
        batch_size=256,
        validation_split=0.2,
        verbose=0,
        callbacks=[callback, *extra],
    )
    return callback


class _Epochs:
    """Counts the epochs a fit began (a Keras callback, built lazily)."""

    def __new__(cls) -> Any:
        import keras

        class Counter(keras.callbacks.Callback):  # type: ignore[misc]
            def __init__(self) -> None:
                super().__init__()
                self.begun = 0

            def on_epoch_begin(self, epoch: int, logs: object = None) -> None:
                self.begun += 1

        return Counter()


def test_journal_callback_records_one_run_and_catches_a_repeat(repo: Path, cli: Cli) -> None:
    from gitlab_journal import Journal
    from gitlab_journal.keras import DuplicateRunWarning

    journal = Journal(repo)
    first = _user_fit(journal)

    (run,) = runs(cli)
    assert run["id"] == first.run.id
    assert run["status"] == "ok" and run["kind"] == "keras"
    assert run["params"] == {"seed": 0, "units": 16}
    assert run["metrics"]["epochs"] == 2
    assert len(json.loads(run_file(repo, run, "history.json"))["history"]["val_loss"]) == 2
    assert run_file(repo, run, "curve.png").startswith(b"\x89PNG")

    counter = _Epochs()
    with pytest.raises(JournalError, match=f"already ran: run {run['id']}, ok on"):
        _user_fit(journal, extra=(counter,))
    assert counter.begun == 0  # caught before the first epoch
    assert len(runs(cli)) == 1

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        repeat = _user_fit(journal, on_duplicate="warn")
    assert any(w.category is DuplicateRunWarning for w in seen)
    assert repeat.run.fingerprint == run["fingerprint"]
    assert len(runs(cli)) == 2

    _user_fit(journal, epochs=3)  # more epochs: another experiment
    assert len(runs(cli)) == 3


def test_an_interrupted_fit_is_recorded_with_the_epochs_it_reached(repo: Path, cli: Cli) -> None:
    import keras

    from gitlab_journal import Journal

    class CtrlC(keras.callbacks.Callback):  # type: ignore[misc]
        def on_epoch_end(self, epoch: int, logs: object = None) -> None:
            if epoch == 1:
                os.kill(os.getpid(), signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        _user_fit(Journal(repo), epochs=20, extra=(CtrlC(),))

    assert signal.getsignal(signal.SIGINT) is before
    (run,) = runs(cli, "--status", "interrupted")
    assert run["metrics"]["epochs"] == 2
    assert json.loads(run_file(repo, run, "history.json"))["stopped"]["status"] == "interrupted"
    # An interrupted run does not block the fit that finishes.
    done = _user_fit(Journal(repo), epochs=20 - 17)
    assert done.run.status == "ok"


def test_log_show_and_check_never_import_tensorflow_or_sklearn(repo: Path, cli: Cli) -> None:
    keras_repo(repo, SMALL_SPEC)
    cli("init")
    assert cli("run", "-q")[0] == 0
    (run,) = runs(cli)
    script = (
        "import sys\n"
        "import gitlab_journal\n"
        "from gitlab_journal.cli import main\n"
        f"codes = [main(['log']), main(['show', '{run['id']}']), main(['check'])]\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras', 'sklearn', 'matplotlib')\n"
        "               if m in sys.modules)\n"
        "print('RESULT', codes, heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, check=False
    )
    result = [line for line in out.stdout.splitlines() if line.startswith("RESULT")]
    assert result == ["RESULT [0, 0, 1] []"], out.stdout + out.stderr


def test_keras_spec_errors_are_one_line_and_train_nothing(repo: Path, cli: Cli) -> None:
    keras_repo(repo, SMALL_SPEC.replace("split: {test_size: 0.2}", "cv: 5"))
    cli("init")
    code, _, err = cli("run")
    assert code == 2 and "evaluation.cv: Keras models are scored on a hold-out split" in err
    assert "Traceback" not in err

    (repo / "journal.yaml").write_text(SMALL_SPEC.replace("epochs: 2", "epoch: 2"))
    code, _, err = cli("run")
    assert code == 2 and "did you mean 'epochs'" in err

    (repo / "journal.yaml").write_text(SMALL_SPEC.replace("models:build_mlp", "models:nope"))
    code, _, err = cli("run")
    assert code == 2 and "models:nope" in err
    assert runs(cli) == []


def test_the_keras_mlp_template_runs_with_the_builder_its_comments_hold(
    repo: Path, cli: Cli
) -> None:
    cli("init")
    assert cli("new", "--template", "keras-mlp")[0] == 0
    template = (repo / "journal.yaml").read_text()
    builder = [line[4:] for line in template.splitlines() if line.startswith("#   ")]
    (repo / "models.py").write_text("\n".join(builder) + "\n")
    git(repo, "add", "models.py", "journal.yaml")

    code, _, err = cli("run", "-q", "--set", "model.fit.epochs=2", "--set", "model.params.units=16")

    assert code == 0, err
    recorded = runs(cli)
    assert len(recorded) == 2  # the two learning rates
    assert {r["status"] for r in recorded} == {"ok"}
    assert all("findings" not in r for r in recorded)  # Rescaling first: no scale warning


def test_validation_data_from_a_file_is_used_and_part_of_identity(repo: Path, cli: Cli) -> None:
    X, y = _digits()
    np.savez(repo / "val.npz", X=X[:200] * 16.0, y=y[:200])
    spec = SMALL_SPEC.replace(
        "validation_split: 0.2}", "validation_data: val.npz, fail_fast: false}"
    )
    keras_repo(repo, spec)
    cli("init")

    assert cli("run", "-q")[0] == 0
    (run,) = runs(cli)
    identity = json.loads(run_file(repo, run, "identity.json"))["model"]
    assert identity["fit"]["validation_data"]["path"] == "val.npz"
    assert identity["fit"]["fail_fast"] == {"diverge": False, "stall": False}
    assert "val_loss" in run["metrics"]

    np.savez(repo / "val.npz", X=X[:100] * 16.0, y=y[:100])
    code, out, _ = cli("check")
    assert code == 0 and "1 of 1 points are new" in out


def test_a_keras_spec_without_a_split_is_held_out_at_a_fifth(repo: Path) -> None:
    from gitlab_journal.spec.load import load_spec

    keras_repo(repo, SMALL_SPEC.replace("  split: {test_size: 0.2}\n", ""))
    evaluation = load_spec(repo / "journal.yaml").evaluation
    assert (evaluation.cv, evaluation.test_size, evaluation.seed) == (None, 0.2, 0)
