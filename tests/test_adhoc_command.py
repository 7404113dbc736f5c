"""`git journal run -- COMMAND ARGS...`: the command runs exactly as typed, its ``--key value``
arguments are the run's params, and the same experiment is found whichever option form it is
typed in.

Each test runs a real script in a real temporary repository; the script writes the words it
received to ``argv.log``, which the test reads back.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import git
from helpers import Cli, logged, make_run

from gitlab_journal.journal.identity import fingerprint
from gitlab_journal.journal.store import Store
from gitlab_journal.run.plan import make_plan
from gitlab_journal.spec.command import command_template
from gitlab_journal.spec.load import load_spec

ARGV_SCRIPT = """\
import json, os, sys
with open(LOG, "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
with open(os.path.join(os.environ["JOURNAL_RUN_DIR"], "metrics.json"), "w") as out:
    json.dump({"accuracy": 0.5}, out)
"""


def _project(repo: Path, cli: Cli) -> None:
    log = json.dumps(str(repo / "argv.log"))  # the worktree of a rerun writes here too
    (repo / "a.py").write_text(ARGV_SCRIPT.replace("LOG", log, 1))
    (repo / ".gitignore").write_text("argv.log\n")
    assert cli("init")[0] == 0


def _received(repo: Path) -> list[list[str]]:
    """The arguments of each call of the script, in order."""
    path = repo / "argv.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _run(cli: Cli, *words: str) -> tuple[int, str, str]:
    return cli("run", "-q", "--", "python", "a.py", *words)


def _params(cli: Cli) -> list[dict[str, Any]]:
    """The params of each run, as `git journal log --json` gives them (runs made in the same
    second come in no set order)."""
    return [run["params"] for run in logged(cli)]


def _tree_files(repo: Path, name: str) -> list[str]:
    """The text of every file called ``name`` on the journal branch."""
    paths = git(repo, "ls-tree", "-r", "--name-only", "journal").split()
    return [git(repo, "show", f"journal:{p}") for p in paths if p.split("/")[-1] == name]


# --- the words typed reach the script unchanged -----------------------------------------------


def test_the_script_receives_exactly_the_words_typed(repo: Path, cli: Cli) -> None:
    _project(repo, cli)
    words = [
        "--version", "1.10", "--ckpt", "0001", "--n", "1e3", "--lr", "0.1", "--depth", "3",
        "--shift", "-2", "--scale", "10.5", "--plus", "+3", "--steps", "1_000", "--tag=v2",
    ]  # fmt: skip
    code, out, err = _run(cli, *words)
    assert code == 0, (out, err)
    assert _received(repo) == [words]
    assert _params(cli) == [
        {
            "version": "1.10",
            "ckpt": "0001",
            "n": "1e3",
            "lr": 0.1,
            "depth": 3,
            "shift": -2,
            "scale": 10.5,
            "plus": "+3",
            "steps": "1_000",
            "tag": "v2",
        }
    ]


def test_a_value_typed_unlike_its_number_is_another_experiment(repo: Path, cli: Cli) -> None:
    _project(repo, cli)
    assert _run(cli, "--ckpt", "0001")[0] == 0
    code, out, _ = _run(cli, "--ckpt", "1")
    assert code == 0 and "Recorded 1 run(s)" in out
    code, out, _ = _run(cli, "--ckpt", "0001")
    assert code == 0 and "Already run" in out
    assert _received(repo) == [["--ckpt", "0001"], ["--ckpt", "1"]]
    assert sorted(_params(cli), key=str) == [{"ckpt": "0001"}, {"ckpt": 1}]


def test_the_run_is_rerun_with_the_words_typed(repo: Path, cli: Cli) -> None:
    _project(repo, cli)
    git(repo, "add", "a.py", ".gitignore")
    git(repo, "commit", "-q", "-m", "Add the script")
    words = ["--version", "1.10", "--n", "1e3", "--flag", "yes"]
    assert _run(cli, *words)[0] == 0
    run_id = logged(cli)[0]["id"]
    code, out, err = cli("rerun", run_id, "--no-record", "-q")
    assert code == 0, (out, err)
    assert "another experiment" not in out
    assert _received(repo) == [words, words]


# --- a repeated option --------------------------------------------------------------------------


def test_a_repeated_option_records_its_last_value(repo: Path, cli: Cli) -> None:
    _project(repo, cli)
    code, out, err = _run(cli, "--lr", "1", "--lr", "2")
    assert code == 0, (out, err)
    assert _received(repo) == [["--lr", "1", "--lr", "2"]]
    assert _params(cli) == [{"lr": 2}]
    code, out, err = _run(cli, "--lr=3", "--depth", "4", "--lr", "5")
    assert code == 0, (out, err)
    assert _received(repo)[-1] == ["--lr=3", "--depth", "4", "--lr", "5"]
    assert {"lr": 5, "depth": 4} in _params(cli)
    # another first value is another command: the last value alone is not the experiment
    code, out, _ = _run(cli, "--lr", "9", "--lr", "2")
    assert code == 0 and "Recorded 1 run(s)" in out


# --- non-finite params --------------------------------------------------------------------------


def test_an_inf_or_nan_param_is_recorded(repo: Path, cli: Cli) -> None:
    _project(repo, cli)
    code, out, err = _run(cli, "--max-grad", "inf", "--eps", "nan", "--low", "-inf")
    assert code == 0, (out, err)
    assert _received(repo) == [["--max-grad", "inf", "--eps", "nan", "--low", "-inf"]]
    assert _params(cli) == [{"max-grad": "inf", "eps": "nan", "low": "-inf"}]
    assert "max-grad=inf" in _tree_files(repo, "README.md")[0]


def test_a_spec_param_of_inf_or_nan_is_recorded(repo: Path, cli: Cli) -> None:
    _project(repo, cli)
    (repo / "journal.yaml").write_text(
        "command: python a.py --clip {clip} --eps {eps}\nparams:\n  clip: [.inf, -.inf]\n"
        "  eps: .nan\n"
    )
    assert cli("check")[0] == 0
    code, out, err = cli("run", "-q")
    assert code == 0, (out, err)
    assert sorted(_received(repo)) == [
        ["--clip", "-inf", "--eps", "nan"],
        ["--clip", "inf", "--eps", "nan"],
    ]
    runs = logged(cli)
    assert len(runs) == 2 and {run["status"] for run in runs} == {"ok"}
    (board,) = _tree_files(repo, "leaderboard.json")
    rows = json.loads(board)["families"][0]["top"]
    assert sorted(json.dumps(row["point"], sort_keys=True) for row in rows) == [
        '{"clip": {"__float__": "-inf"}, "eps": {"__float__": "nan"}}',
        '{"clip": {"__float__": "inf"}, "eps": {"__float__": "nan"}}',
    ]
    readme = _tree_files(repo, "README.md")[0]
    assert "clip=inf, eps=nan" in readme and "clip=-inf, eps=nan" in readme
    code, out, _ = cli("run", "-q")  # found again: nan is one value in the identity
    assert code == 0 and "Nothing to run" in out


def test_a_model_param_of_inf_is_recorded(repo: Path, cli: Cli) -> None:
    assert cli("init")[0] == 0
    (repo / "journal.yaml").write_text(
        "data: sklearn:iris\nmodel:\n  estimator: sklearn.neighbors.KNeighborsClassifier\n"
        "  params:\n    p: .inf\nevaluation:\n  cv: 3\n  seed: 0\n"
    )
    assert cli("check")[0] == 0
    code, out, err = cli("run", "-q")
    assert code == 0, (out, err)
    (run,) = logged(cli)
    assert run["status"] == "ok"
    assert "p=inf" in _tree_files(repo, "README.md")[0]


def test_an_api_run_with_an_infinite_param_is_recorded(repo: Path, cli: Cli) -> None:
    from gitlab_journal import Journal

    journal = Journal(".")
    for value in (math.inf, math.nan):
        with journal.run(model="models.Net", params={"clip": value}) as run:
            run.log_metrics({"accuracy": 0.5})
    assert len(logged(cli)) == 2
    (board,) = _tree_files(repo, "leaderboard.json")
    points = [row["point"] for row in json.loads(board)["families"][0]["top"]]
    assert {json.dumps(p, sort_keys=True) for p in points} == {
        '{"clip": {"__float__": "inf"}}',
        '{"clip": {"__float__": "nan"}}',
    }


# --- `--key value` and `--key=value` ------------------------------------------------------------


def test_both_option_forms_are_one_experiment(repo: Path, cli: Cli) -> None:
    _project(repo, cli)
    assert _run(cli, "--C", "0.5")[0] == 0
    code, out, _ = _run(cli, "--C=0.5")
    assert code == 0 and "Already run" in out
    assert _run(cli, "--C=0.7", "--depth=3")[0] == 0
    code, out, _ = _run(cli, "--C", "0.7", "--depth", "3")
    assert code == 0 and "Already run" in out
    # a forced repeat runs the words typed, and is a repeat of the same experiment
    code, out, err = cli("run", "-q", "--force", "--", "python", "a.py", "--C=0.5")
    assert code == 0, (out, err)
    assert _received(repo) == [["--C", "0.5"], ["--C=0.7", "--depth=3"], ["--C=0.5"]]
    fingerprints = [run["fingerprint"] for run in logged(cli)]
    assert len(fingerprints) == 3 and len(set(fingerprints)) == 2


def test_a_run_recorded_with_the_space_form_keeps_its_identity(repo: Path, cli: Cli) -> None:
    """The identity of `--key value` is written as before, so journals recorded before still
    hold the same experiment: `--key=value` finds them."""
    _project(repo, cli)
    assert _run(cli, "--C", "0.5")[0] == 0
    (identity,) = _tree_files(repo, "identity.json")
    model = json.loads(identity)["model"]
    assert model == {"kind": "command", "command": "python a.py --C {C}", "params": {"C": 0.5}}
    assert logged(cli)[0]["fingerprint"] == fingerprint(json.loads(identity))
    code, out, _ = _run(cli, "--C=0.5")
    assert code == 0 and "Already run" in out


def test_a_spec_in_either_form_is_the_adhoc_experiment(repo: Path, cli: Cli) -> None:
    _project(repo, cli)
    (repo / "journal.yaml").write_text("command: python a.py --C={C}\nparams:\n  C: 0.5\n")
    assert cli("run", "-q")[0] == 0
    assert _received(repo) == [["--C=0.5"]]
    code, out, _ = _run(cli, "--C", "0.5")
    assert code == 0 and "Already run" in out


def test_the_identity_spells_a_joined_option_as_two_words() -> None:
    template = "python a.py --C={C} --n={{n}} '--q={q}' --lr {lr} x--y={y}"
    assert (
        command_template(template) == "python a.py --C {C} --n={{n}} '--q={q}' --lr {lr} x--y={y}"
    )


def test_a_run_recorded_with_the_equals_form_as_written_is_still_found(
    repo: Path, cli: Cli
) -> None:
    """Journals written before both spellings were one experiment hold a `--C={C}` run under
    the fingerprint of its template as written: planning finds it there too."""
    _project(repo, cli)
    (repo / "journal.yaml").write_text("command: python a.py --C={C}\nparams:\n  C: 0.5\n")
    store = Store.discover(repo)
    planned = make_plan(store, load_spec(repo / "journal.yaml", ())).points[0]
    assert planned.identity["model"]["command"] == "python a.py --C {C}"
    legacy = {
        **planned.identity,
        "model": {**planned.identity["model"], "command": "python a.py --C={C}"},
    }
    made = make_run("a1b2c3d4e5f6", {"C": 0.5}, model="command.a")
    store.record(replace(made, identity=legacy, fingerprint=fingerprint(legacy)))
    code, out, _ = cli("check")
    assert code == 1 and "a1b2c3d4e5f6" in out
    code, out, _ = _run(cli, "--C=0.5")
    assert code == 0 and "Already run: a1b2c3d4e5f6" in out
    assert _received(repo) == []  # nothing trained


def test_a_run_recorded_before_with_the_equals_form_can_be_noted(repo: Path, cli: Cli) -> None:
    """A record whose identity holds `--C={C}`, as journals written before hold it, is read,
    noted and verified as it was written."""
    _project(repo, cli)
    model = {"kind": "command", "command": "python a.py --C={C}", "params": {"C": 0.5}}
    made = make_run("a1b2c3d4e5f6", {"C": 0.5}, model="command.a")
    identity = {**made.identity, "model": model}
    store = Store.discover(repo)
    store.record(replace(made, identity=identity, fingerprint=fingerprint(identity)))
    code, out, err = cli("note", "a1b2c3d4e5f6", "-m", "kept as written")
    assert code == 0, (out, err)
    code, out, err = cli("verify")
    assert code == 0, (out, err)


SCORED_SCRIPT = """\
import json, os
score = float(os.environ.get("SCORE", "0.5"))
with open(os.path.join(os.environ["JOURNAL_RUN_DIR"], "metrics.json"), "w") as out:
    json.dump({"accuracy": score}, out)
"""


def _written_before(repo: Path, run: dict[str, Any]) -> dict[str, Any]:
    """Record ``run`` again as journals written before both option spellings were one hold it:
    its identity with the template as written (``--C={C}``), under that identity's fingerprint.
    The journal branch is moved back over the run's commit (real `git update-ref`), then the
    record is written by the store with every file the run kept. Returns its run.json as git
    reads it back, with its folder (``folder``)."""
    store = Store.discover(repo)
    recorded = store.read(str(run["fingerprint"]), str(run["id"]))
    records = ("run.json", "metrics.json", "identity.json")  # the store writes these
    kept = {name: data for name, data in store.files(recorded).items() if name not in records}
    model = recorded.identity["model"]
    legacy = {**recorded.identity, "model": {**model, "command": "python a.py --C={C}"}}
    tip = git(repo, "rev-parse", "journal").strip()
    git(repo, "update-ref", "refs/heads/journal", f"{tip}^", tip)
    old = replace(recorded, identity=legacy, fingerprint=fingerprint(legacy), commit=None)
    Store.discover(repo).record(old, kept)
    (shown,) = _logged_by_git(repo)
    assert shown["id"] == run["id"] and shown["fingerprint"] == fingerprint(legacy)
    return shown


def _logged_by_git(repo: Path) -> list[dict[str, Any]]:
    """Every run.json of the journal branch, read by git, with its folder as ``folder``."""
    out = []
    for path in git(repo, "ls-tree", "-r", "--name-only", "journal").split():
        if path.endswith("/run.json"):
            doc = json.loads(git(repo, "show", f"journal:{path}"))
            doc["folder"] = path.rsplit("/", 1)[0]
            out.append(doc)
    return out


def test_a_run_recorded_before_with_the_equals_form_reruns_as_a_repeat(
    repo: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rerun` of a `--C={C}` run recorded before both spellings were one: the plan finds the
    record under the fingerprint of the template as written, so the reproduction is the same
    experiment, a repeat in the record's folder, noted on it; its causes do not blame the
    spelling."""
    (repo / "a.py").write_text(SCORED_SCRIPT)
    (repo / "journal.yaml").write_text("command: python a.py --C={C}\nparams:\n  C: 0.5\n")
    git(repo, "add", "a.py", "journal.yaml")
    git(repo, "commit", "-q", "-m", "Add the script")
    assert cli("init")[0] == 0
    assert cli("run", "-q")[0] == 0
    original = _written_before(repo, logged(cli)[0])
    identity_path = f"journal:{original['folder']}/identity.json"
    assert '"command":"python a.py --C={C}"' in git(repo, "show", identity_path)
    git(repo, "fsck", "--strict")
    assert cli("verify")[0] == 0

    code, out, err = cli("rerun", str(original["id"]), "-q")

    assert code == 0, out + err
    assert "identical" in out and "another experiment" not in out
    assert f"as a repeat of {original['id']}" in out
    runs = {run["id"]: run for run in _logged_by_git(repo)}
    (new,) = [run for run in runs.values() if run.get("reproduces") == original["id"]]
    assert new["fingerprint"] == original["fingerprint"]  # beside the record, in its folder
    assert new["folder"].rsplit("/", 1)[0] == original["folder"].rsplit("/", 1)[0]
    assert git(repo, "show", f"journal:{new['folder']}/identity.json") == git(
        repo, "show", identity_path
    )
    (noted,) = runs[str(original["id"])]["reproductions"]
    assert noted["result"] == "identical" and noted["by"] == new["id"]
    code, out, _ = cli("show", str(original["id"]))
    assert code == 0 and "✓ reproduced" in out

    # A reproduction that differs names causes, none of them the template's spelling.
    monkeypatch.setenv("SCORE", "0.25")
    code, out, err = cli("rerun", str(original["id"]), "-q")
    assert code == 1, out + err
    assert "differs" in out and "another experiment" not in out
    assert "resolves to other parameters" not in out and "identity changed" not in out
    noted = _logged_by_git(repo)
    reproductions = next(r for r in noted if r["id"] == original["id"])["reproductions"]
    assert [entry["result"] for entry in reproductions] == ["identical", "differs"]
    assert len({r["fingerprint"] for r in noted}) == 1
    git(repo, "fsck", "--strict")
    code, out, err = cli("verify")
    assert code == 0, out + err
    code, out, _ = cli("check")
    assert code == 1 and str(original["id"]) in out  # nothing to run: the point is done


# --- messages name the command, not a spec file --------------------------------------------------


def test_messages_name_the_command(repo: Path, cli: Cli) -> None:
    _project(repo, cli)
    code, _, err = cli("run", "--", "pythn", "a.py")
    assert code == 2
    assert "error: the command: pythn: command not found" in err
    code, _, err = cli("run", "--metrics", "dvclive", "--", "python", "a.py")
    assert code == 2
    assert "error: the command: --metrics: expected a relative .json file name" in err
    code, _, err = cli("run", "--data", "../outside.csv", "--", "python", "a.py")
    assert code == 2 and "error: the command: --data: '../outside.csv' escapes" in err
    assert _run(cli, "--C", "1")[0] == 0
    code, out, _ = _run(cli, "--C", "1")
    assert code == 0
    assert "Nothing to run: the command was already run" in out
    code, out, _ = cli("run", "--dry-run", "--", "python", "a.py", "--C", "2")
    assert code == 0 and "Dry run of the command" in out
    for text in (err, out):
        assert "journal-command.yaml" not in text and "the command:1" not in text
    assert _received(repo) == [["--C", "1"]]


# --- a command typed in a folder of the repository ----------------------------------------------

TRAIN_HERE = """\
import json, os
rows = open(os.environ.get("DATA", "../data/x.csv")).read().splitlines()
json.dump({"rows": len(rows), "cwd": 1.0}, open("metrics.json", "w"))
"""


def test_a_command_typed_in_a_folder_runs_there(
    repo: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "src").mkdir()
    (repo / "data").mkdir()
    (repo / "data" / "x.csv").write_text("a,b\n1,2\n")
    (repo / "src" / "train.py").write_text(TRAIN_HERE)
    assert cli("init")[0] == 0
    monkeypatch.chdir(repo / "src")
    code, out, err = cli("run", "-q", "--data", "../data/x.csv", "--", "python", "train.py")
    assert code == 0, out + err
    (run,) = logged(cli)
    assert run["status"] == "ok" and run["metrics"]["rows"] == 2
    assert list(run["data"]) == ["data/x.csv"]  # the path typed there, from the root
    assert not (repo / "metrics.json").exists()  # written where the command ran
    code, out, _ = cli("run", "-q", "--data", "../data/x.csv", "--", "python", "train.py")
    assert code == 0 and "Already run" in out
    # The same words typed at the root run another command (train.py is not there).
    monkeypatch.chdir(repo)
    code, _, err = cli("run", "-q", "--", "python", "src/train.py")
    assert code == 1  # its relative data path does not resolve from the root: a failed run
    git(repo, "fsck", "--strict")


def test_a_spec_names_the_folder_its_command_runs_in(repo: Path, cli: Cli) -> None:
    (repo / "src").mkdir()
    (repo / "data").mkdir()
    (repo / "data" / "x.csv").write_text("a,b\n1,2\n3,4\n")
    (repo / "src" / "train.py").write_text(TRAIN_HERE)
    assert cli("init")[0] == 0
    (repo / "journal.yaml").write_text(
        "command: python train.py\ndirectory: src\ndata: [data/x.csv]\n"
    )
    code, out, err = cli("run", "-q")
    assert code == 0, out + err
    (run,) = logged(cli)
    assert run["metrics"]["rows"] == 3
    (repo / "journal.yaml").write_text("command: python train.py\ndirectory: nowhere\n")
    code, _, err = cli("check")
    assert code == 2 and "journal.yaml:2" in err and "no such folder" in err
