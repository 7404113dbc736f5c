"""Any training command as an experiment: a `command:` spec and `git journal run -- COMMAND`.

Real scripts run in real temporary repositories: a numpy-only script, an XGBoost script and a
script instrumented with the real DVCLive package; scripts that fail, hang and are interrupted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import git
from helpers import Cli

NUMPY_SCRIPT = """\
import argparse, json, os
import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float)
parser.add_argument("--depth", type=int)
args = parser.parse_args()
with open("calls.log", "a") as calls:
    calls.write(f"{args.lr} {args.depth}\\n")
rng = np.random.default_rng(0)
X = np.loadtxt("data/train.csv", delimiter=",")
weights = rng.normal(size=X.shape[1]) * args.lr
loss = float(np.mean((X @ weights) ** 2)) / args.depth
print(f"lr={args.lr} depth={args.depth} loss={loss:.4f}")
run_dir = os.environ["JOURNAL_RUN_DIR"]
with open(os.path.join(run_dir, "metrics.json"), "w") as out:
    json.dump({"loss": loss, "train": {"rows": len(X)}}, out)
with open(os.path.join(run_dir, "weights.txt"), "w") as out:
    out.write(" ".join(f"{w:.6f}" for w in weights) + "\\n")
"""

SPEC = """\
name: boosted-trees
command: python train.py --lr {lr} --depth {depth}
params:
  lr: [0.05, 0.1]
  depth: [3, 6]
data: [data/train.csv]
code: ["*.py"]
"""


def _project(repo: Path, script: str = NUMPY_SCRIPT, spec: str = SPEC) -> None:
    (repo / "train.py").write_text(script)
    (repo / "data").mkdir(exist_ok=True)
    (repo / "data" / "train.csv").write_text("1,2\n3,4\n5,6\n")
    (repo / "journal.yaml").write_text(spec)
    (repo / ".gitignore").write_text("calls.log\n")


def _runs(repo: Path) -> list[dict[str, Any]]:
    """Every run.json on the journal branch, with its metrics.json as ``metrics``."""
    listing = git(repo, "ls-tree", "-r", "--name-only", "journal").split()
    out = []
    for path in listing:
        if path.endswith("/run.json"):
            run = json.loads(git(repo, "show", f"journal:{path}"))
            metrics = path.rsplit("/", 1)[0] + "/metrics.json"
            run["metrics"] = json.loads(git(repo, "show", f"journal:{metrics}"))
            out.append(run)
    return out


def _calls(repo: Path) -> list[str]:
    path = repo / "calls.log"
    return path.read_text().splitlines() if path.exists() else []


def _journal_tip(repo: Path) -> str:
    return git(repo, "rev-parse", "--verify", "-q", "journal", check=False).strip()


def test_a_command_spec_runs_each_point_once(repo: Path, cli: Cli) -> None:
    _project(repo)
    cli("init")
    code, out, err = cli("run")
    assert code == 0, (out, err)
    runs = _runs(repo)
    assert len(runs) == 4
    assert sorted(_calls(repo)) == ["0.05 3", "0.05 6", "0.1 3", "0.1 6"]
    run = next(r for r in runs if r["point"] == {"lr": 0.1, "depth": 3})
    assert run["kind"] == "command" and run["status"] == "ok"
    assert run["model"] == "command.train" and run["name"] == "boosted-trees"
    assert set(run["metrics"]) == {"loss", "train.rows"}
    assert list(run["data"]) == ["data/train.csv"]
    folder = next(
        p.rsplit("/", 1)[0]
        for p in git(repo, "ls-tree", "-r", "--name-only", "journal").split()
        if p.endswith(f"{run['id']}/run.json")
    )
    assert git(repo, "show", f"journal:{folder}/weights.txt").strip()
    assert "lr=0.1 depth=3" in git(repo, "show", f"journal:{folder}/output.log")
    assert "metrics.json" not in git(repo, "show", f"journal:{folder}/output.log")
    git(repo, "fsck", "--strict")
    assert cli("verify")[0] == 0

    # everything ran: skipped before the command starts
    code, out, _ = cli("run")
    assert code == 0 and "already run" in out
    assert len(_calls(repo)) == 4
    assert cli("check")[0] == 1

    # the script is code: an edit (untracked, never committed) is a new experiment
    (repo / "train.py").write_text(NUMPY_SCRIPT + "# tuned\n")
    code, out, err = cli("run")
    assert code == 0, (out, err)
    assert len(_calls(repo)) == 8
    # and so is the data
    (repo / "data" / "train.csv").write_text("1,2\n3,4\n")
    assert cli("check")[0] == 0


def test_an_adhoc_command_is_one_run_skipped_when_repeated(repo: Path, cli: Cli) -> None:
    _project(repo)
    cli("init")
    argv = ("run", "--data", "data/train.csv", "--", "python", "train.py", "--lr", "0.1")
    code, out, err = cli(*argv, "--depth=3")
    assert code == 0, (out, err)
    (run,) = _runs(repo)
    assert run["point"] == {"lr": 0.1, "depth": 3}
    assert list(run["data"]) == ["data/train.csv"]
    code, out, _ = cli(*argv, "--depth=3")
    assert code == 0
    assert f"Already run: {run['id']}" in out and "loss" in out
    assert len(_calls(repo)) == 1  # not started again
    code, _, _ = cli("run", "--force", *argv[1:], "--depth=3")
    assert code == 0
    assert len(_calls(repo)) == 2 and len(_runs(repo)) == 2
    # other values of the same option are another point of the same experiment
    code, _, _ = cli(*argv, "--depth=6")
    assert code == 0 and len(_runs(repo)) == 3


def test_the_run_is_rerun_from_its_record(repo: Path, cli: Cli) -> None:
    _project(repo, spec=SPEC.replace("[0.05, 0.1]", "0.1").replace("[3, 6]", "3"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Add the training script")
    cli("init")
    assert cli("run")[0] == 0
    (run,) = _runs(repo)
    code, out, err = cli("rerun", str(run["id"]))
    assert code == 0, (out, err)
    assert "identical" in out
    runs = _runs(repo)  # the reproduction ran in a worktree of the run's commit
    assert len(runs) == 2 and {r.get("reproduces") for r in runs} == {None, run["id"]}


def _failed_run(
    repo: Path, cli: Cli, script: str, spec: str = "command: python train.py\n"
) -> dict[str, Any]:
    """The one run of a command spec whose command fails; ``run`` exits 1."""
    _project(repo, script=script, spec=spec)
    cli("init")
    code, out, err = cli("run")
    assert code == 1, (out, err)
    (run,) = _runs(repo)
    assert run["status"] == "failed"
    return run


FAILING = """\
import sys
print("loading", flush=True)
print("something went wrong in epoch 3", file=sys.stderr)
sys.exit(3)
"""


def test_a_failing_command_is_a_failed_run_with_its_stderr(repo: Path, cli: Cli) -> None:
    run = _failed_run(repo, cli, FAILING)
    assert "exit code 3" in str(run["error"]) and "epoch 3" in str(run["error"])


def test_a_command_killed_by_a_signal_is_a_failed_run_naming_it(repo: Path, cli: Cli) -> None:
    script = (
        "import os, signal\nprint('training', flush=True)\nos.kill(os.getpid(), signal.SIGKILL)\n"
    )
    run = _failed_run(repo, cli, script)
    # killed directly, or through the shell that ran it (which then reports 128 + 9)
    assert str(run["error"]).splitlines()[0].rstrip(":") in {
        "the command ended: killed by SIGKILL",
        "the command ended: exit code 137 (SIGKILL, as a shell reports it)",
    }, run["error"]


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        ("not json", "metrics.json: not valid JSON"),
        ('{"accuracy": "high"}', "metrics.json: accuracy: not a number ('high')"),
        ("[1, 2]", "expected an object of metric names to numbers"),
        (None, "the command wrote no metrics.json"),
    ],
)
def test_bad_metrics_make_a_failed_run_naming_the_problem(
    repo: Path, cli: Cli, metrics: str | None, expected: str
) -> None:
    write = (
        f"open(os.path.join(os.environ['JOURNAL_RUN_DIR'], 'metrics.json'), 'w')"
        f".write({metrics!r})\n"
        if metrics is not None
        else ""
    )
    run = _failed_run(repo, cli, "import os\n" + write)
    assert expected in str(run["error"])


def test_metrics_json_written_to_the_repository_root_counts(repo: Path, cli: Cli) -> None:
    script = "import json\njson.dump({'r2': 0.5}, open('metrics.json', 'w'))\n"
    _project(repo, script=script, spec="command: python train.py\n")
    cli("init")
    assert cli("run")[0] == 0
    assert _runs(repo)[0]["metrics"] == {"r2": 0.5}


def test_a_run_folder_past_the_limit_is_refused(repo: Path, cli: Cli) -> None:
    script = (
        "import json, os\nd = os.environ['JOURNAL_RUN_DIR']\n"
        "json.dump({'a': 1}, open(os.path.join(d, 'metrics.json'), 'w'))\n"
        "open(os.path.join(d, 'model.bin'), 'wb').write(b'0' * (21 * 1024 * 1024))\n"
    )
    run = _failed_run(repo, cli, script)
    assert "more than 20 MB" in str(run["error"])


def test_a_command_past_its_timeout_is_failed_and_ended(repo: Path, cli: Cli) -> None:
    script = (
        "import os, subprocess, time\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        "open('child.pid', 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    run = _failed_run(repo, cli, script, spec="command: python train.py\ntimeout: 2\n")
    assert "timeout of 2 s" in str(run["error"])
    assert any("timeout" in w for w in run["warnings"])
    _assert_gone(int((repo / "child.pid").read_text()))


def _assert_gone(pid: int) -> None:
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        # a zombie of an ended group is gone too, once reaped by init
        stat = Path(f"/proc/{pid}/stat")
        if stat.exists() and stat.read_text().split()[2] == "Z":
            return
        time.sleep(0.1)
    raise AssertionError(f"process {pid} still runs")


def _run_until_started(repo: Path) -> subprocess.Popen[str]:
    """`git journal init` and a `git journal run` process, once its first command has printed
    `started`."""
    subprocess.run(["git-journal", "init"], cwd=repo, check=True, capture_output=True)
    proc = subprocess.Popen(
        ["git-journal", "run"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # the first point's command has started
        if "started" in line:
            break
    return proc


def test_ctrl_c_ends_the_command_and_records_it_interrupted(repo: Path) -> None:
    script = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        "open('child.pid', 'w').write(str(child.pid))\n"
        "print('started', flush=True)\n"
        "time.sleep(60)\n"
    )
    _project(repo, script=script, spec="command: python train.py\nparams: {x: [1, 2]}\n")
    proc = _run_until_started(repo)
    assert proc.stdout is not None
    for _ in range(100):
        if (repo / "child.pid").exists() and (repo / "child.pid").read_text():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    rest = proc.stdout.read()
    assert proc.wait(timeout=60) == 130, rest
    runs = _runs(repo)
    assert [r["status"] for r in runs] == ["interrupted"]  # the second point never started
    _assert_gone(int((repo / "child.pid").read_text()))
    git(repo, "fsck", "--strict")


def test_the_next_run_trains_an_interrupted_point_again(repo: Path, cli: Cli) -> None:
    # The command waits until released (a file that is no code dependency); the first run is
    # stopped with Ctrl-C while it waits, and records the point `interrupted`.
    script = (
        "import json, os, sys, time\n"
        "print('started', flush=True)\n"
        "while not os.path.exists('release'):\n"
        "    time.sleep(0.05)\n"
        "json.dump({'acc': 0.5}, open(os.path.join(os.environ['JOURNAL_RUN_DIR'], "
        "'metrics.json'), 'w'))\n"
    )
    _project(repo, script=script, spec="command: python train.py --x {x}\nparams: {x: [1, 2]}\n")
    (repo / ".gitignore").write_text("release\n")
    proc = _run_until_started(repo)
    assert proc.stdout is not None
    proc.send_signal(signal.SIGINT)
    proc.stdout.read()
    assert proc.wait(timeout=60) == 130
    assert [r["status"] for r in _runs(repo)] == ["interrupted"]

    # A stopped run is no result: check counts both points as to train, the dry run says
    # which is a retry, and the next run trains both without --retry.
    code, out, _ = cli("check")
    assert code == 0 and "2 of 2 points are new and would be trained" in out
    code, out, _ = cli("run", "--dry-run")
    assert code == 0 and "retry (interrupted)" in out and "2 to run, 0 to skip" in out
    (repo / "release").write_text("")
    code, out, err = cli("run", "-q")
    assert code == 0, out + err
    statuses = sorted((r["point"]["x"], r["status"]) for r in _runs(repo))
    assert statuses == [(1, "interrupted"), (1, "ok"), (2, "ok")]
    code, out, _ = cli("run")
    assert code == 0 and "Nothing to run" in out
    git(repo, "fsck", "--strict")


def test_input_errors_are_exit_2_before_anything_runs(repo: Path, cli: Cli) -> None:
    _project(repo, spec="command: python train.py --lr {lr} --depth {depth}\nparams: {lr: 0.1}\n")
    cli("init")
    tip = _journal_tip(repo)
    code, _, err = cli("run")
    assert code == 2
    assert "journal.yaml:1: command: {depth} is not among the params" in err
    (repo / "journal.yaml").write_text("command: no-such-program-xyz --fast\n")
    code, _, err = cli("run")
    assert code == 2 and "no-such-program-xyz: command not found" in err
    code, _, err = cli("check")
    assert code == 2
    assert _journal_tip(repo) == tip and not _calls(repo)


def test_a_param_the_command_never_uses_is_a_warning(repo: Path, cli: Cli) -> None:
    script = (
        "import json, os\nfrom gitlab_journal import current_run\nrun = current_run()\n"
        "run.log_metric('seen', run.params['units'])\n"
    )
    _project(repo, script=script, spec="command: python train.py\nparams: {units: [8]}\n")
    cli("init")
    code, out, err = cli("run")
    assert code == 0, (out, err)
    assert "units not in the command" in err
    assert _runs(repo)[0]["metrics"] == {"seen": 8.0}


LOGGING = """\
from gitlab_journal import current_run

run = current_run()
for step in range(4):
    run.log_metric("loss", 1.0 / (step + 1), step=step)
run.log_metric("accuracy", 0.75)
open("plot.txt", "w").write("a plot")
run.log_file("plot.txt")
"""


def test_current_run_logs_metrics_history_and_files(repo: Path, cli: Cli) -> None:
    _project(repo, script=LOGGING, spec="command: python train.py\n")
    cli("init")
    assert cli("run")[0] == 0
    (run,) = _runs(repo)
    assert run["metrics"] == {"loss": 0.25, "accuracy": 0.75}
    paths = git(repo, "ls-tree", "-r", "--name-only", "journal").split()
    history = next(p for p in paths if p.endswith("history.json"))
    record = json.loads(git(repo, "show", f"journal:{history}"))
    assert record["history"]["loss"] == [1.0, 0.5, 1.0 / 3, 0.25]
    assert record["steps"]["loss"] == [0, 1, 2, 3]
    assert any(p.endswith("/plot.txt") for p in paths)
    assert any(p.endswith("/curve.png") for p in paths)


JOURNAL_NAMED = """\
import json, os

def write(name, text):
    with open(os.path.join(os.environ["JOURNAL_RUN_DIR"], name), "w", encoding="utf-8") as out:
        out.write(text)

nan, inf = float("nan"), float("inf")
write("metrics.json", json.dumps({"loss": 0.5}))
write("classes.json", json.dumps({
    "labels": ["cat", nan],
    "classes": [
        {"label": "cat", "precision": nan, "recall": 1.0, "f1": inf, "support": 3},
        {"label": nan, "precision": 0.5, "recall": 0.0, "f1": 0.0, "support": 1},
    ],
}))
write("folds.json", json.dumps({"loss": [0.5, nan, -inf]}))
write("history.json", '{"loss": [1e400, 0.5]}')
write("run.json", json.dumps({"mine": True}, indent=4))
write("dvc.json", "NaN, then nothing")
write("scores.json", json.dumps({"loss": nan}))
"""


def _strict(text: str) -> Any:
    """``text`` parsed as strict JSON: a bare NaN or Infinity fails the test."""

    def refuse(token: str) -> Any:
        raise AssertionError(f"not strict JSON: {token} in {text!r}")

    return json.loads(text, parse_constant=refuse)


def test_json_files_a_command_writes_under_the_journals_names_are_strict(
    repo: Path, cli: Cli
) -> None:
    """A file the command writes under a name the journal gives meaning to (classes.json, or
    folds.json kept under outputs/) is kept as strict JSON, a number that is not finite as
    null (a label as {"__float__": "nan"}), and the run's warnings say so; one that is not
    JSON is not kept, and the warnings say why. Files of other names are the command's own,
    kept as written. The run itself is recorded ok."""
    _project(repo, script=JOURNAL_NAMED, spec="command: python train.py\n")
    cli("init")
    code, out, err = cli("run", "-q")
    assert code == 0, (out, err)
    paths = git(repo, "ls-tree", "-r", "--name-only", "journal").split()
    (record,) = [p for p in paths if p.endswith("/run.json") and "/outputs/" not in p]
    folder = record.rsplit("/", 1)[0]

    def kept(name: str) -> str:
        return git(repo, "show", f"journal:{folder}/{name}")

    run = _strict(kept("run.json"))
    assert run["status"] == "ok" and _strict(kept("metrics.json")) == {"loss": 0.5}

    nan = {"__float__": "nan"}
    assert _strict(kept("classes.json")) == {
        "labels": ["cat", nan],
        "classes": [
            {"label": "cat", "precision": None, "recall": 1.0, "f1": None, "support": 3},
            {"label": nan, "precision": 0.5, "recall": 0.0, "f1": 0.0, "support": 1},
        ],
    }
    assert _strict(kept("outputs/folds.json")) == {"loss": [0.5, None, None]}
    assert _strict(kept("outputs/history.json")) == {"loss": [None, 0.5]}
    assert kept("outputs/run.json") == json.dumps({"mine": True}, indent=4)  # strict: as written
    assert not any(p.endswith("dvc.json") for p in paths)
    assert kept("scores.json") == '{"loss": NaN}'  # the command's own file
    warnings = "\n".join(run["warnings"])
    for name in ("classes.json", "outputs/folds.json", "outputs/history.json"):
        assert f"{name}: written as strict JSON" in warnings
    assert "outputs/dvc.json: not JSON" in warnings and "not kept" in warnings
    assert "outputs/run.json" not in warnings  # strict JSON already: nothing to say
    code, shown, _ = cli("show", str(run["id"]))
    assert code == 0 and "precision" in shown and "nan" in shown
    git(repo, "fsck", "--strict")
    code, out, err = cli("verify")
    assert code == 0, (out, err)


GROWING = """\
import json
import os

folder = os.environ["JOURNAL_RUN_DIR"]
with open(os.path.join(folder, "metrics.json"), "w") as out:
    json.dump({"loss": 0.5}, out)
with open(os.path.join(folder, "classes.json"), "w") as out:  # compact; NaN figures only
    json.dump({"labels": ["a"], "classes": [
        {"label": "a", "precision": float("nan"), "recall": 1.0, "f1": 1.0, "support": 1}
    ] * {copies}}, out, separators=(",", ":"))
"""


def test_a_file_written_again_as_strict_json_counts_at_its_new_size(
    repo: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run folder's size limit holds for what the journal keeps: a compact file written
    again indented (to be strict JSON) is counted at the size it takes then. Its warning
    speaks of a label only when a label was not a finite number."""
    from gitlab_journal.train import command_backend

    monkeypatch.setattr(command_backend, "MAX_RUN_BYTES", 6000)
    _project(repo, script=GROWING.replace("{copies}", "60"), spec="command: python train.py\n")
    cli("init")
    code, out, err = cli("run", "-q")
    assert code == 1, (out, err)  # 3,868 bytes as written, 6,949 indented
    (run,) = _strict(cli("log", "--json")[1])
    assert run["status"] == "failed" and "more than 0 MB" in run["error"], run

    (repo / "train.py").write_text(GROWING.replace("{copies}", "4"))
    code, out, err = cli("run", "-q", "--force")
    assert code == 0, (out, err)
    (kept,) = [r for r in _strict(cli("log", "--json")[1]) if r["status"] == "ok"]
    shown = _strict(cli("show", str(kept["id"]), "--json")[1])
    (warning,) = [w for w in shown["warnings"] if w.startswith("classes.json")]
    assert "as null" in warning and "label" not in warning, warning


def test_current_run_outside_a_command_is_a_clear_error() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "from gitlab_journal import current_run; current_run()"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("JOURNAL_")},
    )
    assert out.returncode != 0
    assert "not inside a command started by `git journal run`" in out.stderr


DVCLIVE_SCRIPT = """\
from dvclive import Live

with Live(save_dvc_exp=False) as live:
    live.log_param("lr", 0.1)
    for epoch in range(3):
        live.log_metric("train/loss", 1.0 / (epoch + 1))
        live.next_step()
    live.summary["accuracy"] = 0.9
"""


def test_a_dvclive_script_records_unchanged(repo: Path, cli: Cli) -> None:
    _project(
        repo, script=DVCLIVE_SCRIPT, spec="command: python train.py\nmetrics: {dvclive: dvclive}\n"
    )
    (repo / ".gitignore").write_text("dvclive/\n")
    cli("init")
    code, out, err = cli("run")
    assert code == 0, (out, err)
    (run,) = _runs(repo)
    assert run["status"] == "ok", run["error"]
    assert run["metrics"]["accuracy"] == 0.9
    paths = git(repo, "ls-tree", "-r", "--name-only", "journal").split()
    history = next(p for p in paths if p.endswith("history.json"))
    record = json.loads(git(repo, "show", f"journal:{history}"))
    assert record["history"]["train.loss"] == [1.0, 0.5, 1.0 / 3]


XGBOOST_SCRIPT = """\
import argparse, json, os
import numpy as np
import xgboost as xgb
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

parser = argparse.ArgumentParser()
parser.add_argument("--depth", type=int)
args = parser.parse_args()
X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
model = xgb.XGBClassifier(n_estimators=20, max_depth=args.depth, n_jobs=1)
model.fit(X_train, y_train)
accuracy = float(np.mean(model.predict(X_test) == y_test))
with open(os.path.join(os.environ["JOURNAL_RUN_DIR"], "metrics.json"), "w") as out:
    json.dump({"accuracy": accuracy}, out)
"""


def test_an_xgboost_script_runs_as_a_grid_in_two_workers(repo: Path, cli: Cli) -> None:
    _project(
        repo,
        script=XGBOOST_SCRIPT,
        spec="command: python train.py --depth {depth}\nparams: {depth: [2, 4]}\n",
    )
    cli("init")
    code, out, err = cli("run", "--jobs", "2")
    assert code == 0, (out, err)
    runs = _runs(repo)
    assert sorted(r["point"]["depth"] for r in runs) == [2, 4]
    assert all(0.8 < r["metrics"]["accuracy"] <= 1.0 for r in runs)


GATED = """\
import argparse, json, os, time

parser = argparse.ArgumentParser()
parser.add_argument("--n", type=int)
n = parser.parse_args().n
while n == 2 and not os.path.exists("go"):  # the second point waits for the test
    time.sleep(0.05)
json.dump({"n": n}, open(os.path.join(os.environ["JOURNAL_RUN_DIR"], "metrics.json"), "w"))
"""


def test_piped_output_has_a_line_per_point_as_it_finishes(repo: Path) -> None:
    _project(repo, script=GATED, spec="command: python train.py --n {n}\nparams: {n: [1, 2]}\n")
    (repo / ".gitignore").write_text("go\n")
    subprocess.run(["git-journal", "init"], cwd=repo, check=True, capture_output=True)
    proc = subprocess.Popen(
        ["git-journal", "run"], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    # the first point's line arrived while the second point is still waiting: the grid is on
    assert "[1/2]" in first and " ok " in first, first
    assert proc.poll() is None
    (repo / "go").write_text("")
    rest = proc.stdout.read()
    assert proc.wait(timeout=60) == 0
    assert "[2/2]" in rest


FLAKY = """\
import argparse, json, os, sys

parser = argparse.ArgumentParser()
parser.add_argument("--n", type=int)
n = parser.parse_args().n
if n == 2 and not os.path.exists("fixed"):
    sys.exit("point 2 is broken")
json.dump({"n": n}, open(os.path.join(os.environ["JOURNAL_RUN_DIR"], "metrics.json"), "w"))
"""


def test_retry_and_checkout_work_on_command_runs(repo: Path, cli: Cli) -> None:
    _project(repo, script=FLAKY, spec="command: python train.py --n {n}\nparams: {n: [1, 2]}\n")
    (repo / ".gitignore").write_text("fixed\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Add the script")
    cli("init")
    assert cli("run", "-q")[0] == 1
    assert sorted(str(r["status"]) for r in _runs(repo)) == ["failed", "ok"]
    (repo / "fixed").write_text("")
    code, out, err = cli("run", "-q", "--retry", "failed")
    assert code == 0, (out, err)
    runs = _runs(repo)
    assert len(runs) == 3  # only the failed point trained again
    retried = [r for r in runs if r["point"] == {"n": 2}]
    assert sorted(str(r["status"]) for r in retried) == ["failed", "ok"]

    ok = next(r for r in runs if r["point"] == {"n": 1})
    target = repo.parent / "continued"
    code, out, err = cli("checkout", str(ok["id"]), str(target))
    assert code == 0, (out, err)
    assert (target / "train.py").read_text() == FLAKY
    assert "--n {n}" in (target / "journal.yaml").read_text()
    assert "n: 1" in (target / "journal.yaml").read_text()
