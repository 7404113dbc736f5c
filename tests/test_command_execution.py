"""How a training command runs and what its run keeps: metrics that belong to the point that
wrote them, points that ran at once, values logged through ``current_run()``, stop signals
while the command is being ended, the output's tail, and the messages of a command that cannot
run or wrote no metrics.

Real scripts run in real temporary repositories, through `git journal run` (in this process, or
as a real process where signals are sent to it). Scripts and tests wait for each other through
files the scripts write.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import git
from helpers import Cli

WAIT = 30.0  # seconds at most for a file a script writes
# The console script itself, not a shell shim in front of it: signals reach the Python program.
_PROGRAM = Path(sys.executable).with_name("git-journal")
PROGRAM = str(_PROGRAM) if _PROGRAM.exists() else "git-journal"


def _runs(repo: Path) -> list[dict[str, Any]]:
    """Every run on the journal branch: its run.json, with its metrics.json as ``metrics``
    and the names of its other files as ``files``."""
    listing = git(repo, "ls-tree", "-r", "--name-only", "journal").split()
    out = []
    for path in listing:
        if not path.endswith("/run.json"):
            continue
        folder = path.rsplit("/", 1)[0]
        run = json.loads(git(repo, "show", f"journal:{path}"))
        run["metrics"] = json.loads(git(repo, "show", f"journal:{folder}/metrics.json"))
        run["files"] = sorted(p[len(folder) + 1 :] for p in listing if p.startswith(folder + "/"))
        run["folder"] = folder
        out.append(run)
    return out


def _by_point(repo: Path, key: str) -> dict[Any, dict[str, Any]]:
    return {run["point"][key]: run for run in _runs(repo)}


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + WAIT
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} never appeared")
        time.sleep(0.02)


def _setup(repo: Path, cli: Cli, scripts: dict[str, str]) -> None:
    for name, text in scripts.items():
        (repo / name).write_text(text)
    (repo / ".gitignore").write_text("metrics.json\ndvclive/\nsignals/\n")
    (repo / "signals").mkdir()
    code, out, err = cli("init")
    assert code == 0, (out, err)


def _start(repo: Path, *args: str) -> subprocess.Popen[str]:
    """`git journal ARGS...` as a real process of its own."""
    return subprocess.Popen(
        [PROGRAM, *args],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# --- 1. metrics written by an earlier command are not this one's --------------------------------

ROOT_SOMETIMES = """\
import json, sys
lr = float(sys.argv[1])
if lr > 1:
    sys.exit(0)  # this point writes no metrics
json.dump({"acc": 0.9}, open("metrics.json", "w"))
"""


def test_a_point_that_writes_no_metrics_does_not_get_the_previous_points(
    repo: Path, cli: Cli
) -> None:
    spec = "command: python train.py {lr}\nparams:\n  lr: [0.1, 10]\n"
    _setup(repo, cli, {"train.py": ROOT_SOMETIMES, "journal.yaml": spec})
    code, out, err = cli("run", "-q")
    assert code == 1, (out, err)
    runs = _by_point(repo, "lr")
    assert runs[0.1]["status"] == "ok" and runs[0.1]["metrics"] == {"acc": 0.9}
    assert runs[10]["status"] == "failed" and runs[10]["metrics"] == {}
    assert "wrote no metrics.json" in runs[10]["error"]


ROOT_THEN_WAIT = """\
import json, os, sys, time
x = int(sys.argv[1])
if x == 1:
    json.dump({"acc": 0.1}, open("metrics.json", "w"))
    sys.exit(0)
open("signals/started", "w").close()
time.sleep(60)
"""


def test_an_interrupted_point_does_not_get_the_previous_points_metrics(
    repo: Path, cli: Cli
) -> None:
    spec = "command: python train.py {x}\nparams:\n  x: [1, 2]\n"
    _setup(repo, cli, {"train.py": ROOT_THEN_WAIT, "journal.yaml": spec})
    proc = _start(repo, "run", "-q")
    _wait_for(repo / "signals" / "started")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    runs = _by_point(repo, "x")
    assert runs[1]["metrics"] == {"acc": 0.1}
    assert runs[2]["status"] == "interrupted" and runs[2]["metrics"] == {}


DVCLIVE_SOMETIMES = """\
import json, os, sys
x = int(sys.argv[1])
plots = os.path.join("dvclive", "plots", "metrics")
if x == 1:
    os.makedirs(plots, exist_ok=True)
    with open(os.path.join(plots, "loss.tsv"), "w") as out:
        out.write("step\\tloss\\n0\\t1.0\\n1\\t0.5\\n")
if x in (1, 2):
    json.dump({"acc": x / 10, "step": 1}, open("dvclive/metrics.json", "w"))
"""


def test_dvclive_files_left_by_an_earlier_point_are_not_this_ones(repo: Path, cli: Cli) -> None:
    spec = "command: python train.py {x}\nparams:\n  x: [1, 2, 3]\nmetrics: {dvclive: dvclive}\n"
    _setup(repo, cli, {"train.py": DVCLIVE_SOMETIMES, "journal.yaml": spec})
    (repo / "dvclive").mkdir()
    code, out, err = cli("run", "-q")
    assert code == 1, (out, err)
    runs = _by_point(repo, "x")
    assert runs[1]["status"] == "ok" and "history.json" in runs[1]["files"]
    # the second point wrote metrics.json but no history: the first point's is not its
    assert runs[2]["status"] == "ok" and runs[2]["metrics"]["acc"] == 0.2
    assert "history.json" not in runs[2]["files"]
    assert runs[3]["status"] == "failed" and runs[3]["metrics"] == {}
    assert "wrote no dvclive/metrics.json" in runs[3]["error"]
    assert "history.json" not in runs[3]["files"]


# --- 2. points that run at once and share a metrics file ----------------------------------------

AT_ONCE = """\
import json, os, sys, time
OWN_FOLDER = {own}
x = sys.argv[1]
other = "b" if x == "a" else "a"
deadline = time.time() + 60  # a test that failed leaves nothing running for long
open(f"signals/started-{x}", "w").close()
while not os.path.exists(f"signals/started-{other}") and time.time() < deadline:  # both run
    time.sleep(0.02)
if x == "b":
    while not os.path.exists("signals/wrote-a") and time.time() < deadline:
        time.sleep(0.02)
metrics = {"acc": 0.1 if x == "a" else 0.9}
if OWN_FOLDER:
    json.dump(metrics, open(os.path.join(os.environ["JOURNAL_RUN_DIR"], "metrics.json"), "w"))
else:
    json.dump(metrics, open("metrics.json", "w"))
open(f"signals/wrote-{x}", "w").close()
"""


HALF_WRITTEN = """\
import json, os, sys, time
x = sys.argv[1]
deadline = time.time() + 60
if x == "a":  # ends while b is in the middle of writing the shared metrics.json
    open("signals/started-a", "w").close()
    while not os.path.exists("signals/partial-b") and time.time() < deadline:
        time.sleep(0.02)
else:  # writes once a runs: a file there before a started would not be a's at all
    while not os.path.exists("signals/started-a") and time.time() < deadline:
        time.sleep(0.02)
    with open("metrics.json", "w") as handle:
        handle.write('{"acc": ')
        handle.flush()
        open("signals/partial-b", "w").close()
        time.sleep(3)  # a ends and its metrics are read meanwhile
        handle.write("0.9}")
"""


def test_a_shared_metrics_json_half_written_by_another_point_is_the_overlap_error(
    repo: Path, cli: Cli
) -> None:
    """A point that ends while another writes the root metrics.json reads it half written:
    the error is that they ran at once, not that the JSON is broken."""
    _failed_for_running_at_once(repo, cli, HALF_WRITTEN)


def _failed_for_running_at_once(repo: Path, cli: Cli, script: str) -> dict[str, dict[str, Any]]:
    """Points ``a`` and ``b`` of ``script`` run with ``--jobs 2``: each must fail, saying the
    metrics came from the shared root metrics.json while the other ran; the runs by point."""
    spec = "command: python train.py {x}\nparams:\n  x: [a, b]\n"
    _setup(repo, cli, {"train.py": script, "journal.yaml": spec})
    code, out, err = cli("run", "-q", "--jobs", "2")
    assert code == 1, (out, err)
    runs = _by_point(repo, "x")
    for run in runs.values():
        assert run["status"] == "failed", run
        error = str(run["error"])
        assert "ran at the same time" in error and "metrics.json" in error, error
        assert "$JOURNAL_RUN_DIR/metrics.json" in error, error
    return runs


def test_points_run_at_once_sharing_the_root_metrics_json_fail(repo: Path, cli: Cli) -> None:
    runs = _failed_for_running_at_once(repo, cli, AT_ONCE.replace("{own}", "False"))
    assert runs["a"]["id"] in runs["b"]["error"] or runs["b"]["id"] in runs["a"]["error"]
    assert not any((repo / ".git" / "journal" / "running").iterdir())


def test_points_run_at_once_with_their_own_folders_are_fine(repo: Path, cli: Cli) -> None:
    spec = "command: python train.py {x}\nparams:\n  x: [a, b]\n"
    _setup(repo, cli, {"train.py": AT_ONCE.replace("{own}", "True"), "journal.yaml": spec})
    code, out, err = cli("run", "-q", "--jobs", "2")
    assert code == 0, (out, err)
    runs = _by_point(repo, "x")
    assert runs["a"]["metrics"] == {"acc": 0.1} and runs["b"]["metrics"] == {"acc": 0.9}


FIRST_WAITS = """\
import json, os, sys, time
x = sys.argv[1]
deadline = time.time() + 60  # a test that failed leaves nothing running for long
if x == "a":
    open("signals/started-a", "w").close()
    while not os.path.exists("signals/go-a") and time.time() < deadline:
        time.sleep(0.02)
json.dump({"acc": 0.1 if x == "a" else 0.9}, open("metrics.json", "w"))
"""


def test_two_journal_processes_sharing_the_root_metrics_json_fail(repo: Path, cli: Cli) -> None:
    _setup(repo, cli, {"train.py": FIRST_WAITS})
    first = _start(repo, "run", "-q", "--", "python", "train.py", "a")
    try:
        _wait_for(repo / "signals" / "started-a")
        # the second ends while the first still runs
        code, out, err = cli("run", "-q", "--", "python", "train.py", "b")
        assert code == 1, (out, err)
    finally:
        # the first ends after the second has ended (and always ends)
        (repo / "signals" / "go-a").write_text("")
        out, err = first.communicate(timeout=60)
    assert first.returncode == 1, (out, err)
    runs = _runs(repo)
    assert len(runs) == 2
    for run in runs:
        assert run["status"] == "failed" and "ran at the same time" in run["error"], run


HANGS = """\
import os, time
open("signals/pid.tmp", "w").write(str(os.getpid()))
os.rename("signals/pid.tmp", "signals/started")
time.sleep(60)
"""


def test_a_run_killed_outright_does_not_make_later_runs_fail(repo: Path, cli: Cli) -> None:
    _setup(
        repo,
        cli,
        {
            "hang.py": HANGS,
            "train.py": "import json\njson.dump({'a': 1}, open('metrics.json', 'w'))\n",
        },
    )
    running = repo / ".git" / "journal" / "running"
    proc = _start(repo, "run", "-q", "--", "python", "hang.py")
    try:
        _wait_for(repo / "signals" / "started")
        assert [p for p in running.iterdir() if not p.name.startswith(".")]
    finally:
        proc.kill()  # kill -9: its registration stays behind
        proc.communicate(timeout=30)
        if (repo / "signals" / "started").exists():  # the command, in its own process group
            pid = int((repo / "signals" / "started").read_text())
            os.killpg(os.getpgid(pid), signal.SIGKILL)
    code, out, err = cli("run", "-q", "--", "python", "train.py")
    assert code == 0, (out, err)
    (run,) = [r for r in _runs(repo) if r["status"] == "ok"]
    assert run["metrics"] == {"a": 1}
    assert not list(running.iterdir())  # the leftover is gone


def test_a_repository_with_no_journal_folder_yet_runs_commands(repo: Path, cli: Cli) -> None:
    script = "import json\njson.dump({'a': 1}, open('metrics.json', 'w'))\n"
    _setup(repo, cli, {"train.py": script})
    shutil.rmtree(repo / ".git" / "journal", ignore_errors=True)
    code, out, err = cli("run", "-q", "--", "python", "train.py")
    assert code == 0, (out, err)
    assert _runs(repo)[0]["metrics"] == {"a": 1}


# --- 3. what current_run().log_metric takes --------------------------------------------------

DIVERGES = """\
from gitlab_journal import current_run
run = current_run()
for step, loss in enumerate([0.9, 0.5, float("nan")]):
    run.log_metric("loss", loss, step=step)
run.log_metric("acc", 0.7)
"""


def test_a_nan_logged_through_current_run_fails_the_run(repo: Path, cli: Cli) -> None:
    _setup(repo, cli, {"train.py": DIVERGES})
    code, out, err = cli("run", "-q", "--", "python", "train.py")
    assert code == 1, (out, err)
    (run,) = _runs(repo)
    assert run["status"] == "failed"
    assert "loss: not a finite number (nan)" in run["error"] and "step 2" in run["error"]
    assert "loss" not in run["metrics"]


ONLY_NAN = """\
from gitlab_journal import current_run
current_run().log_metric("loss", float("inf"))
"""


def test_an_infinite_value_alone_is_named_not_a_missing_file(repo: Path, cli: Cli) -> None:
    _setup(repo, cli, {"train.py": ONLY_NAN})
    assert cli("run", "-q", "--", "python", "train.py")[0] == 1
    (run,) = _runs(repo)
    assert run["status"] == "failed" and "loss: not a finite number (inf)" in run["error"]


BAD_VALUES = """\
import numpy as np
from gitlab_journal import current_run
run = current_run()
with open("signals/errors.txt", "w") as out:
    for value in ["0.9", True, None, [0.5], np.bool_(True)]:
        try:
            run.log_metric("acc", value)
        except (TypeError, ValueError) as exc:
            out.write(f"{type(exc).__name__} {isinstance(exc, TypeError)}: {exc}\\n")
        else:
            out.write(f"accepted {value!r}\\n")
run.log_metric("f32", np.float32(0.5))
run.log_metric("i64", np.int64(3), step=np.int64(0))
run.log_metric("plain", 2)
"""


def test_log_metric_takes_numbers_only(repo: Path, cli: Cli) -> None:
    _setup(repo, cli, {"train.py": BAD_VALUES})
    code, out, err = cli("run", "-q", "--", "python", "train.py")
    assert code == 0, (out, err)
    lines = (repo / "signals" / "errors.txt").read_text().splitlines()
    assert len(lines) == 5 and not any(line.startswith("accepted") for line in lines), lines
    for line, shown in zip(lines, ["'0.9'", "True", "None", "[0.5]", "True"], strict=True):
        assert " True: " in line and "'acc'" in line and shown in line, line
    (run,) = _runs(repo)
    assert run["status"] == "ok"
    assert run["metrics"] == {"f32": 0.5, "i64": 3.0, "plain": 2.0}


# --- 4. stop signals while the command is being ended -----------------------------------------

TRAPS_TERM = """\
import os, signal, sys, time

def ending(signum, frame):
    open("signals/got-term", "w").close()  # saving a checkpoint, say
    while not os.path.exists("signals/release") and time.time() < deadline:
        time.sleep(0.02)
    sys.exit(0)

deadline = time.time() + 60
signal.signal(signal.SIGTERM, ending)
open("signals/started", "w").close()
while time.time() < deadline:
    time.sleep(0.05)
"""


@pytest.mark.parametrize(
    ("first", "second", "at_once"),
    [
        (signal.SIGTERM, signal.SIGTERM, False),  # a scheduler's second TERM in the grace
        (signal.SIGTERM, signal.SIGTERM, True),  # GNU timeout: to the process, then its group
        (signal.SIGINT, signal.SIGINT, False),  # Ctrl-C twice
        (signal.SIGTERM, signal.SIGINT, False),
    ],
)
def test_a_second_stop_signal_while_the_command_ends_still_records_it(
    repo: Path, cli: Cli, first: signal.Signals, second: signal.Signals, at_once: bool
) -> None:
    _setup(repo, cli, {"train.py": TRAPS_TERM})
    proc = _start(repo, "run", "-q", "--", "python", "train.py")
    try:
        _wait_for(repo / "signals" / "started")
        proc.send_signal(first)
        if not at_once:
            _wait_for(repo / "signals" / "got-term")  # the command is being ended
        proc.send_signal(second)
        _wait_for(repo / "signals" / "got-term")
    finally:
        (repo / "signals" / "release").write_text("")
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err, err
    (run,) = _runs(repo)
    assert run["status"] == "interrupted"


# --- 5. the output's tail --------------------------------------------------------------------

PROGRESS_BAR = """\
import json, sys
for i in range(1, 50001):
    sys.stderr.write(f"\\r{i:>6}/50000 [{'#' * (i * 20 // 50000):<20}]")
sys.stderr.write("\\n")
print("x" * 1_000_000)
print("done")
json.dump({"acc": 1}, open("metrics.json", "w"))
"""


def test_the_output_log_keeps_a_progress_bars_last_state_and_caps_long_lines(
    repo: Path, cli: Cli
) -> None:
    _setup(repo, cli, {"train.py": PROGRESS_BAR})
    code, out, err = cli("run", "-q", "--", "python", "train.py")
    assert code == 0, err[-2000:]
    assert err.count("\r") >= 50000  # the terminal saw every state as it came
    assert out.count("x") >= 1_000_000
    (run,) = _runs(repo)
    log = git(repo, "show", f"journal:{run['folder']}/output.log")
    assert len(log) < 5000, len(log)
    lines = log.splitlines()
    assert lines[0] == " 50000/50000 [" + "#" * 20 + "]"
    assert lines[1].startswith("x" * 2000) and "998,000 characters cut" in lines[1]
    assert lines[2] == "done"


# --- 6. messages -----------------------------------------------------------------------------


@pytest.mark.parametrize("place", ["root", "run folder"])
def test_an_empty_metrics_json_is_said_to_hold_no_metrics(repo: Path, cli: Cli, place: str) -> None:
    folder = "'.'" if place == "root" else "os.environ['JOURNAL_RUN_DIR']"
    script = f"import os\nopen(os.path.join({folder}, 'metrics.json'), 'w').write('{{}}')\n"
    _setup(repo, cli, {"train.py": script})
    assert cli("run", "-q", "--", "python", "train.py")[0] == 1
    (run,) = _runs(repo)
    assert "metrics.json holds no metrics" in run["error"], run["error"]
    assert "wrote no" not in run["error"]


def test_a_script_that_is_not_executable_is_named_so(repo: Path, cli: Cli) -> None:
    _setup(repo, cli, {"run.sh": "#!/bin/sh\necho hi\n"})
    code, _, err = cli("run", "-q", "--", "./run.sh")
    assert code == 2
    assert "./run.sh: not executable" in err and "chmod +x ./run.sh" in err, err
    assert "command not found" not in err


def test_a_file_in_the_root_named_without_a_path_gets_a_hint(repo: Path, cli: Cli) -> None:
    _setup(repo, cli, {"run.sh": "#!/bin/sh\necho hi\n"})
    (repo / "run.sh").chmod(0o755)
    code, _, err = cli("run", "-q", "--", "run.sh")
    assert code == 2
    assert "run.sh: command not found" in err and "./run.sh" in err, err
