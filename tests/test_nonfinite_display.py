"""A param that is not a finite number (a spec's ``.inf``, ``-.inf``, ``.nan``; the Python API's
``float("inf")``) as the review commands print it: ``inf``, ``-inf``, ``nan`` in text, and in
JSON the form the journal records it in (``{"__float__": "inf"}``), never a bare ``Infinity`` or
``NaN`` that strict JSON readers refuse.

Each test records real runs in a real temporary repository and reads them back through the CLI.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import git
from helpers import Cli, git_env, journal_file, run_git

from gitlab_journal import Journal
from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.records import Run

METRICS_SCRIPT = """\
import json, os
with open(os.path.join(os.environ["JOURNAL_RUN_DIR"], "metrics.json"), "w") as out:
    json.dump({"accuracy": 0.5}, out)
"""
SPEC = "command: python a.py --clip {clip}\nparams:\n  clip: [.inf, -.inf, .nan, 0.5]\n"
TAGS = ("inf", "-inf", "nan")  # as text, and as the journal writes them: {"__float__": TAG}


def strict_json(text: str) -> Any:
    """``text`` read as strict JSON (as jq reads it): a bare NaN or Infinity fails the test."""

    def refuse(token: str) -> Any:
        raise AssertionError(f"not JSON: a bare {token} in the output")

    return json.loads(text, parse_constant=refuse)


def as_floats(obj: dict[str, Any]) -> Any:
    """The ``object_hook`` that reads the journal's form of a number back as a float."""
    if list(obj) == ["__float__"] and obj["__float__"] in TAGS:
        return float(obj["__float__"])
    return obj


def written(clip: str) -> Any:
    """A run's ``clip`` (by its text) as JSON output and the journal write it."""
    return {"__float__": clip} if clip in TAGS else float(clip)


def _text(value: Any) -> str:
    """A run's ``clip`` as the text output should print it."""
    if isinstance(value, dict):
        return str(value["__float__"])
    return str(value)


@pytest.fixture
def project(repo: Path, cli: Cli) -> dict[str, str]:
    """A command spec over ``clip: [.inf, -.inf, .nan, 0.5]``, committed and run: each run's id
    by its clip as text (``inf``, ``-inf``, ``nan``, ``0.5``)."""
    (repo / "a.py").write_text(METRICS_SCRIPT)
    (repo / "journal.yaml").write_text(SPEC)
    git(repo, "add", "a.py", "journal.yaml")
    git(repo, "commit", "-q", "-m", "Try clipping")
    assert cli("init")[0] == 0
    code, out, err = cli("run", "-q")
    assert code == 0, (out, err)
    code, out, err = cli("log", "--json")
    assert code == 0, err
    runs = strict_json(out)
    ids = {_text(run["params"]["clip"]): run["id"] for run in runs}
    assert sorted(ids) == sorted([*TAGS, "0.5"])
    return ids


def test_log_prints_inf_nan_as_numbers(project: dict[str, str], cli: Cli) -> None:
    code, out, err = cli("log")
    assert code == 0, err
    assert "__float__" not in out
    lines = out.splitlines()
    header = [name.strip() for name in lines[0].split("┃")]
    column = header.index("clip")
    cells = {}
    for line in lines[2:]:
        row = [cell.strip() for cell in line.split("│")]
        if len(row) == len(header):
            cells[row[0]] = row[column]
    assert cells == {run_id: clip for clip, run_id in project.items()}


def test_show_prints_inf_nan_as_numbers(project: dict[str, str], cli: Cli) -> None:
    for clip in TAGS:
        code, out, err = cli("show", project[clip])
        assert code == 0, err
        assert "__float__" not in out
        params = out.split("\nparams\n", 1)[1].split("\n\n", 1)[0]
        assert re.search(rf"^  clip +{re.escape(clip)} *$", params, re.M), params
        # The grid point is the resolved param: no second section to say the same.
        assert "grid point" not in out


def test_log_and_show_json_write_the_journal_form(project: dict[str, str], cli: Cli) -> None:
    code, out, err = cli("log", "--json")
    assert code == 0, err
    runs = strict_json(out)
    for run in runs:
        # the grid point as the params: the same value in the same form, not null
        assert run["point"]["clip"] == run["params"]["clip"]
        shown = cli("show", run["id"], "--json")
        assert shown[0] == 0, shown[2]
        assert strict_json(shown[1]) == run
    for clip in TAGS:
        (run,) = [r for r in runs if r["id"] == project[clip]]
        assert run["params"]["clip"] == {"__float__": clip}
    decoded = {r["id"]: r["point"]["clip"] for r in json.loads(out, object_hook=as_floats)}
    assert decoded[project["inf"]] == math.inf and decoded[project["-inf"]] == -math.inf
    assert math.isnan(decoded[project["nan"]]) and decoded[project["0.5"]] == 0.5


def test_export_writes_numbers_pandas_reads(project: dict[str, str], cli: Cli) -> None:
    code, out, err = cli("export", "--csv")
    assert code == 0, err
    assert "__float__" not in out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {row["id"]: row["params.clip"] for row in rows} == {
        run_id: clip for clip, run_id in project.items()
    }
    frame = pd.read_csv(io.StringIO(out)).set_index("id")
    assert frame["params.clip"].dtype == "float64"
    assert frame.loc[project["inf"], "params.clip"] == math.inf
    assert frame.loc[project["-inf"], "params.clip"] == -math.inf
    assert math.isnan(frame.loc[project["nan"], "params.clip"])

    code, out, err = cli("export", "--json")
    assert code == 0, err
    records = {record["id"]: record for record in strict_json(out)}
    for clip in TAGS:
        assert records[project[clip]]["params.clip"] == {"__float__": clip}


def test_check_json_is_strict_and_names_params_as_the_journal(
    project: dict[str, str], cli: Cli
) -> None:
    code, out, err = cli("check", "--json")
    assert code == 1, err  # every point already ran
    found = strict_json(out)
    code, logged, err = cli("log", "--json")
    assert code == 0, err
    recorded = {run["fingerprint"]: run["params"] for run in strict_json(logged)}
    # each point's params as `log --json` gives the run of that point
    assert {p["fingerprint"]: p["params"] for p in found["points"]} == recorded
    assert sorted(json.dumps(p["params"]) for p in found["points"]) == sorted(
        json.dumps({"clip": {"__float__": clip} if clip in TAGS else 0.5}) for clip in project
    )


def test_check_staged_json_is_strict(project: dict[str, str], repo: Path, cli: Cli) -> None:
    (repo / "journal.yaml").write_text("command: python a.py --clip {clip}\nparams:\n  clip: 1\n")
    git(repo, "commit", "-q", "-am", "No clipping")
    (repo / "journal.yaml").write_text(SPEC)  # back to what ran an earlier commit
    git(repo, "add", "journal.yaml")

    code, out, err = cli("check", "--staged", "--json")

    assert code == 0, err
    found = strict_json(out)
    clips = sorted(json.dumps(d["params"]["clip"]) for d in found["duplicates"])
    assert clips == sorted([json.dumps({"__float__": clip}) for clip in TAGS] + ["0.5"])
    earlier = {r["id"] for d in found["duplicates"] for r in d["earlier"]}
    assert earlier == set(project.values())


def test_diff_and_compare_print_inf_nan_as_numbers(project: dict[str, str], cli: Cli) -> None:
    code, out, err = cli("diff", project["inf"], project["0.5"])
    assert code == 0, err
    assert "__float__" not in out
    assert re.search(r"^  clip +inf +→ +0\.5 *$", out, re.M), out
    code, out, err = cli("diff", project["-inf"], project["nan"], "--json")
    assert code == 0, err
    changes = strict_json(out)
    assert changes["params"] == {"clip": [{"__float__": "-inf"}, {"__float__": "nan"}]}

    ids = [project[clip] for clip in (*TAGS, "0.5")]
    code, out, err = cli("compare", *ids)
    assert code == 0, err
    assert "__float__" not in out
    (line,) = [line for line in out.splitlines() if re.search(r"\bclip\b", line)]
    assert [cell.strip() for cell in line.split("│")[2:-1]] == [*TAGS, "0.5"]
    code, out, err = cli("compare", *ids, "--json")
    assert code == 0, err
    (row,) = [row for row in strict_json(out)["rows"] if row["key"] == "clip"]
    assert row["values"] == [*({"__float__": clip} for clip in TAGS), 0.5]


def test_an_api_param_holding_inf_prints_it(repo: Path, cli: Cli) -> None:
    journal = Journal(".")
    params = {"clip": math.inf, "bounds": [0.0, -math.inf], "scale": {"max": math.nan}}
    with journal.run(model="models.Net", params=params) as run:
        run.log_metrics({"accuracy": 0.5})
    code, out, err = cli("log", "--json")
    assert code == 0, err
    (record,) = strict_json(out)
    assert record["params"] == {
        "bounds": [0, {"__float__": "-inf"}],
        "clip": {"__float__": "inf"},
        "scale": {"max": {"__float__": "nan"}},
    }
    assert json.loads(out, object_hook=as_floats)[0]["point"]["clip"] == math.inf

    code, out, err = cli("show", record["id"])
    assert code == 0, err
    assert "__float__" not in out and "null" not in out.split("\nparams\n", 1)[1]
    assert re.search(r"^  bounds +\[0, -inf\] *$", out, re.M), out
    assert re.search(r"^  clip +inf *$", out, re.M), out
    assert re.search(r'^  scale +\{"max": nan\} *$', out, re.M), out
    subject = git(repo, "log", "-1", "--format=%s", "journal")
    assert "clip=inf" in subject and "__float__" not in subject, subject


SEARCH_SPEC = """\
command: python a.py --lr {lr} --clip {clip} --scale {scale}
params:
  lr: {low: 0.001, high: 1.0, log: true}
  clip: [.inf, -.inf, 0.5]
  scale: .nan
"""


def test_suggest_json_is_strict_and_writes_params_as_the_journal(repo: Path, cli: Cli) -> None:
    (repo / "a.py").write_text(METRICS_SCRIPT)
    (repo / "search.yaml").write_text(SEARCH_SPEC)
    git(repo, "add", "a.py", "search.yaml")
    git(repo, "commit", "-q", "-m", "Search clipping")
    assert cli("init")[0] == 0

    code, out, err = cli("suggest", "6", "search.yaml", "--json", "--search-seed", "1")

    assert code == 0, err
    found = strict_json(out)
    assert len(found) == 6
    forms = [{"__float__": "inf"}, {"__float__": "-inf"}, 0.5]
    for item in found:
        # the fixed .nan and the chosen clip in the whole point, the clip alone as searched
        assert item["params"]["scale"] == {"__float__": "nan"}
        assert item["params"]["clip"] == item["searched"]["clip"] in forms
        assert sorted(item["searched"]) == ["clip", "lr"]
    assert any(item["searched"]["clip"] != 0.5 for item in found)


def test_insights_json_is_strict_and_writes_params_as_the_journal(
    project: dict[str, str], cli: Cli
) -> None:
    code, out, err = cli("insights", "--json")
    assert code == 0, err
    (group,) = strict_json(out)
    best = group["best"]  # of four equal scores, any
    (clip,) = [clip for clip, run_id in project.items() if run_id == best["run"]]
    assert best["params"] == {"clip": written(clip)}
    code, out, err = cli("insights")
    assert code == 0, err
    assert "__float__" not in out and "-inf" in out, out


def test_run_json_writes_the_points_inf_as_its_params(
    project: dict[str, str], repo: Path, cli: Cli
) -> None:
    for clip, run_id in project.items():
        doc = strict_json(journal_file(repo, run_id, "run.json").decode())  # as jq would read it
        assert doc["point"] == doc["params"] == {"clip": written(clip)}
    code, out, err = cli("verify")
    assert code == 0, (out, err)


INF_SPEC = "command: python a.py --clip {clip}\nparams:\n  clip: .inf\n"
_run_document = fmt.run_document


def _before(run: Run) -> dict[str, Any]:
    """run.json as gitlab-journal wrote it before: the point's floats as they are, so a bare
    ``Infinity`` in the file."""
    return {**_run_document(run), "point": dict(run.point)}


def test_a_run_json_of_before_with_a_bare_infinity_reads_and_grows(
    repo: Path, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record written before, whose point holds a bare Infinity, still reads and shows as
    before; a note rewrites it strict, and the server's pre-receive hook takes both pushes."""
    bare = tmp_path / "server.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    hook = [sys.executable, "-m", "gitlab_journal", "hooks", "install", "--hook", "pre-receive"]
    done = subprocess.run(hook, cwd=bare, env=git_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    git(repo, "remote", "add", "origin", str(bare))
    (repo / "a.py").write_text(METRICS_SCRIPT)
    (repo / "journal.yaml").write_text(INF_SPEC)
    git(repo, "add", "a.py", "journal.yaml")
    git(repo, "commit", "-q", "-m", "Clip at inf")
    assert cli("init")[0] == 0
    with monkeypatch.context() as patched:
        patched.setattr(fmt, "run_document", _before)
        code, out, err = cli("run", "-q")
    assert code == 0, (out, err)
    (record,) = strict_json(cli("log", "--json")[1])
    run_id = record["id"]
    old = journal_file(repo, run_id, "run.json")
    assert b'"clip": Infinity' in old  # as written before
    assert record["point"] == record["params"] == {"clip": {"__float__": "inf"}}
    files = {name: journal_file(repo, run_id, name) for name in fmt.REQUIRED_FILES}
    assert fmt.decode_run(files, where=run_id).point == {"clip": math.inf}
    code, out, err = cli("show", run_id)
    assert code == 0, err
    assert re.search(r"^  clip +inf *$", out, re.M) and "__float__" not in out, out
    run_git(repo, "push", "-q", "origin", "journal")

    assert cli("note", run_id, "-m", "Clipping at inf clips nothing")[0] == 0

    doc = strict_json(journal_file(repo, run_id, "run.json").decode())
    assert doc["point"] == {"clip": {"__float__": "inf"}}
    assert doc["notes"]["inference"] == "Clipping at inf clips nothing"
    after = {**files, "run.json": journal_file(repo, run_id, "run.json")}
    fmt.check_grown(files, after, where=run_id)  # only the notes changed
    run_git(repo, "push", "-q", "origin", "journal")  # the hook checks the same
    code, out, err = cli("verify")
    assert code == 0, (out, err)
    code, out, err = cli("show", run_id)
    assert code == 0, err
    assert re.search(r"^  clip +inf *$", out, re.M) and "__float__" not in out, out


def test_a_second_run_of_the_grid_shows_the_recorded_points_inf_as_a_number(
    repo: Path, cli: Cli, project: dict[str, str]
) -> None:
    """The grid's best runs, read back from their run.json, name each point as the spec did."""
    (repo / "journal.yaml").write_text(SPEC.replace("0.5]", "0.5, 0.25]"))  # one point more
    code, out, err = cli("run")
    assert code == 0, err
    assert "clip=inf" in out and "clip=-inf" in out
    assert "__float__" not in out


def test_metrics_json_writes_a_metric_that_is_not_finite_as_null(
    repo: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An autologged fit or ``Journal.record`` may hold a NaN metric (a diverged loss): the
    journal's metrics.json stays strict JSON, null where the value was not a number; an earlier
    record's bare NaN still reads, and its run can still be noted."""
    journal = Journal(".")
    run = journal.record(model="my.Net", params={"lr": 1.0}, metrics={"acc": 0.5, "loss": math.nan})
    doc = strict_json(journal_file(repo, run.id, "metrics.json").decode())
    assert doc == {"acc": 0.5, "loss": None}

    # A record written the old way (a bare NaN), noted by this version: still one record.
    old = journal.record(model="my.Net", params={"lr": 2.0}, metrics={"acc": 0.4})
    with monkeypatch.context() as patched:
        patched.setattr(fmt, "metrics_document", lambda metrics: {**metrics, "loss": math.nan})
        older = journal.record(model="my.Net", params={"lr": 3.0}, metrics={"acc": 0.3})
    assert b"NaN" in journal_file(repo, older.id, "metrics.json")
    assert old.id != older.id
    code, _, err = cli("note", older.id, "-m", "diverged at step 3")
    assert code == 0, err
    assert strict_json(journal_file(repo, older.id, "metrics.json").decode())["loss"] is None
    code, out, err = cli("verify")
    assert code == 0, (out, err)
