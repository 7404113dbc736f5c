"""Review: compare, report (Markdown, HTML in headless Chromium), export into pandas, the
OpenMetrics file, the leaderboard on the journal branch, and the CI templates."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import git
from helpers import Cli, make_run
from ruamel.yaml import YAML

from gitlab_journal.journal import leaderboard
from gitlab_journal.journal.index import open_index
from gitlab_journal.journal.store import Store

GRID = """\
name: iris-lr
data: sklearn:iris
model:
  estimator: sklearn.linear_model.LogisticRegression
  params:
    C: [-1.0, 0.01, 1.0, 100.0]
    max_iter: 300
evaluation: {cv: 3, seed: 0, scoring: [accuracy, f1_macro]}
"""
ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def journal(repo: Path, cli: Cli) -> Path:
    """Four iris points recorded (C=-1 fails: a failed run), the spec committed."""
    (repo / "journal.yaml").write_text(GRID)
    git(repo, "add", "journal.yaml")
    git(repo, "commit", "-q", "-m", "grid")
    assert cli("init")[0] == 0
    assert cli("run", "-q")[0] == 1  # one point failed
    return repo


def runs(cli: Cli) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(cli("log", "--json")[1])
    return found


def by_c(cli: Cli) -> dict[float, dict[str, Any]]:
    return {r["params"]["C"]: r for r in runs(cli)}


def test_report_markdown_has_leaderboard_effects_plots_and_failures(
    journal: Path, cli: Cli
) -> None:
    found = by_c(cli)
    ok = [r for r in found.values() if r["status"] == "ok"]
    ranked = sorted(ok, key=lambda r: (-r["metrics"]["accuracy"], r["created"], r["id"]))

    code, _, err = cli("report", "--md", "out/report.md")

    assert code == 0, err
    text = (journal / "out" / "report.md").read_text()
    assert "## iris-lr: accuracy (higher is better)" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`" in line]
    assert [row.split("`")[1] for row in rows[:3]] == [r["id"] for r in ranked]
    assert "**What moved accuracy**" in text and "| C |" in text
    images = [line for line in text.splitlines() if line.startswith("![")]
    assert images, text
    for line in images:
        target = journal / "out" / line.rsplit("(", 1)[1].rstrip(")")
        assert target.read_bytes().startswith(PNG)
    assert "## Runs that did not finish ok" in text and found[-1.0]["id"] in text
    assert "1 not ok" in text
    # On the terminal: the same content, no files.
    code, out, _ = cli("report")
    assert code == 0 and "iris-lr" in out and ranked[0]["id"] in out


def test_report_since_a_journal_revision_and_since_a_code_branch(journal: Path, cli: Cli) -> None:
    before = git(journal, "rev-parse", "journal").strip()
    ok = [r for r in runs(cli) if r["status"] == "ok"]
    best_before = min(ok, key=lambda r: (-r["metrics"]["accuracy"], r["created"], r["id"]))
    git(journal, "checkout", "-q", "-b", "feature")
    (journal / "journal.yaml").write_text(GRID.replace("[-1.0, 0.01, 1.0, 100.0]", "0.3"))
    git(journal, "commit", "-q", "-am", "try C=0.3")
    assert cli("run", "-q")[0] == 0
    (new,) = [r for r in runs(cli) if r["params"]["C"] == 0.3]

    for since in (before, "main"):
        code, out, err = cli("report", "--since", since, "--md", "-")
        assert code == 0, err
        assert new["id"] in out and best_before["id"] in out  # the new run, and the best before
        assert "best new run is" in out
        others = [r["id"] for r in runs(cli) if r["id"] not in (new["id"], best_before["id"])]
        assert not any(i in out for i in others)
    assert (
        "The 1 run added to the journal since" in cli("report", "--since", before, "--md", "-")[1]
    )
    code, _, err = cli("report", "--since", "no-such-rev")
    assert code == 2 and "unknown revision" in err


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Debian's chromium is needed for this test (.ci/run installs it)"
    return found


def test_html_report_draws_tables_and_plots_in_headless_chromium(
    journal: Path, cli: Cli, tmp_path: Path
) -> None:
    from PIL import Image

    from gitlab_journal.review.report_plots import MEAN_COLOR, POINT_COLOR
    from gitlab_journal.review.report_render import HEADER_COLOR

    page = tmp_path / "report.html"
    assert cli("report", "--html", str(page))[0] == 0
    html = page.read_text()
    assert "<link" not in html and 'src="http' not in html  # self-contained
    assert html.count('src="data:image/png;base64,') >= 1
    shot = tmp_path / "shot.png"
    done = subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--hide-scrollbars",
            "--window-size=1200,1600",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shot.is_file(), done.stderr
    image = Image.open(shot).convert("RGB")
    width, height = image.size
    pixels = np.frombuffer(image.tobytes(), dtype=np.uint8).reshape(height, width, 3).astype(int)

    def count(hex_color: str, tolerance: int = 12) -> int:
        want = np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)])
        return int((np.abs(pixels - want) <= tolerance).all(axis=2).sum())

    assert count(HEADER_COLOR, 2) > 2000  # table header cells are painted
    assert count(MEAN_COLOR, 40) > 300  # the mean lines of the plots are drawn
    assert count(POINT_COLOR, 40) > 30  # and the runs' points
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50 and (width, height) == (1200, 1600)


def test_learning_curves_come_from_run_history(repo: Path, cli: Cli) -> None:
    store = Store.discover(repo)
    store.init()
    for i, lr in enumerate((0.1, 0.01)):
        history = {
            "loss": [1.0 / (e + 1 + i) for e in range(5)],
            "val_loss": [1.2, 1.0, 0.9, 0.85, 0.8],
        }
        run = make_run(f"keras00{i}", {"lr": lr}, metrics={"val_accuracy": 0.8 + i / 10})
        store.record(run, {"history.json": json.dumps(history).encode()})
    with open_index(store) as index:
        from gitlab_journal.review.report import build_report

        report = build_report(index)
    (family,) = report.families
    names = [plot.name for plot in family.plots]
    assert any(name.endswith("learning-curves") for name in names), names
    assert all(plot.png.startswith(PNG) for plot in family.plots)


def test_export_round_trips_into_pandas(journal: Path, cli: Cli, tmp_path: Path) -> None:
    import pandas as pd

    expected = {r["id"]: r for r in runs(cli)}
    assert cli("export", "--csv", "-o", str(tmp_path / "runs.csv"))[0] == 0
    frame = pd.read_csv(tmp_path / "runs.csv")
    out = cli("export", "--json")[1]
    as_json = pd.read_json(__import__("io").StringIO(out), orient="records")

    for table in (frame, as_json):
        assert sorted(table["id"]) == sorted(expected)
        assert {"params.C", "params.max_iter", "metrics.accuracy", "data.sklearn:iris"} <= set(
            table
        )
        for _, row in table.iterrows():
            run = expected[row["id"]]
            assert row["params.C"] == run["params"]["C"]
            assert row["status"] == run["status"]
            assert row["data.sklearn:iris"] == run["data"]["sklearn:iris"]
            if run["status"] == "ok":
                assert row["metrics.accuracy"] == pytest.approx(
                    run["metrics"]["accuracy"], abs=1e-15
                )
            else:
                assert pd.isna(row["metrics.accuracy"])
    assert frame["code.dirty"].dtype == bool
    filtered = cli("export", "--csv", "--where", "params.C > 1")[1]
    assert len(filtered.strip().splitlines()) == 2  # header + C=100


def test_openmetrics_file_parses_and_holds_the_best_per_family(journal: Path, cli: Cli) -> None:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    best = max(r["metrics"]["accuracy"] for r in runs(cli) if r["status"] == "ok")
    code, out, _ = cli("export", "--openmetrics")

    assert code == 0 and out.endswith("# EOF\n")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(out)
        for s in family.samples
    }
    assert samples[("journal_best_accuracy", (("family", "iris-lr"),))] == best
    assert ("journal_best_f1_macro", (("family", "iris-lr"),)) not in samples  # headline only
    assert samples[("journal_runs", (("status", "ok"),))] == 3
    assert samples[("journal_runs", (("status", "failed"),))] == 1
    assert all(" " not in line.split(" ")[0] for line in out.splitlines())


def test_compare_shows_only_what_varies(journal: Path, cli: Cli) -> None:
    ids = [r["id"] for r in runs(cli) if r["status"] == "ok"]

    code, out, _ = cli("compare", *ids, "--json")
    rows = {(r["group"], r["key"]): r["values"] for r in json.loads(out)["rows"]}

    assert code == 0
    assert ("params", "C") in rows and ("params", "max_iter") not in rows
    assert ("metrics", "accuracy") in rows and ("data", "sklearn:iris") not in rows
    everything = json.loads(cli("compare", *ids, "--all", "--json")[1])["rows"]
    assert ("params", "max_iter") in {(r["group"], r["key"]) for r in everything}
    code, out, _ = cli("compare", "--where", "params.C >= 1")
    assert code == 0 and "C" in out and len([i for i in ids if i in out]) == 2
    assert cli("compare")[0] == 2


def test_the_journal_readme_carries_a_bounded_leaderboard(repo: Path) -> None:
    store = Store.discover(repo)
    store.init()
    scores = [0.5 + i / 100 for i in range(leaderboard.TOP_K + 5)]
    for i, score in enumerate(scores):
        store.record(make_run(f"lb{i:04d}", {"C": float(i)}, metrics={"accuracy": score}))
    store.record(make_run("lbfailed", {"C": -1.0}, metrics={}, status="failed"))
    repeat = make_run("lbrepeat", {"C": 0.0}, metrics={"accuracy": 0.1})  # a worse repeat
    store.record(repeat)
    store.record(make_run("lbbelow1", {"C": 99.0}, metrics={"accuracy": 0.2}))  # below the top

    doc = json.loads(git(repo, "show", "journal:leaderboard.json"))
    readme = git(repo, "show", "journal:README.md")
    # Each of the rising scores entered the board; the failed run, the worse repeat and the run
    # below the top left both files as they were.
    for name in ("leaderboard.json", "README.md"):
        trailer = "--format=run %(trailers:key=Journal-Run,valueonly,separator=)"
        changes = git(repo, "log", trailer, "journal", "--", name).split("\n")
        entered = [f"run lb{i:04d}" for i in reversed(range(len(scores)))]
        assert [c for c in changes if c.strip()] == entered + ["run "] * (name == "README.md")

    (family,) = doc["families"]
    top = [row["id"] for row in family["top"]]
    assert top == [f"lb{i:04d}" for i in reversed(range(len(scores)))][: leaderboard.TOP_K]
    assert "## Leaderboard" in readme and readme.index(top[0]) < readme.index(top[1])
    assert "lbrepeat" not in readme and "lbfailed" not in readme
    # Families are bounded too: the least recently active ones leave first.
    doc = leaderboard.empty()
    for i in range(leaderboard.MAX_FAMILIES + 3):
        leaderboard.add(doc, make_run(f"fam{i:04d}", {"C": 1.0}, name=f"family-{i:03d}", second=i))
    assert len(doc["families"]) == leaderboard.MAX_FAMILIES
    assert "family-000" not in {f["family"] for f in doc["families"]}


def test_leaderboards_of_two_journals_merge() -> None:
    a, b = leaderboard.empty(), leaderboard.empty()
    leaderboard.add(a, make_run("ours0001", {"C": 1.0}, metrics={"accuracy": 0.8}))
    leaderboard.add(b, make_run("their001", {"C": 2.0}, metrics={"accuracy": 0.9}))
    merged = leaderboard.merge(a, b)
    (family,) = merged["families"]
    assert [r["id"] for r in family["top"]] == ["their001", "ours0001"]


def test_ci_templates_run_push_and_publish_metrics() -> None:
    yaml = YAML(typ="safe")
    gitlab = yaml.load((ROOT / "templates" / "gitlab-ci.yml").read_text())
    job = gitlab["journal"]
    script = "\n".join(gitlab[job["extends"]]["before_script"] + job["script"])
    assert "git journal run" in script and "export --openmetrics" in script
    assert "JOURNAL_PUSH_TOKEN" in script and "journal sync origin" in script
    # Git is configured for the job only, never in the repository's config (tests/
    # test_ci_template.py runs the template and compares .git/config).
    assert "git config" not in script and "set-url" not in script
    assert job["artifacts"]["reports"]["metrics"] == "metrics.txt"
    assert "metrics.txt" in job["artifacts"]["paths"]
    assert gitlab["pages"]["script"][0] == "git journal site public"
    assert gitlab["pages"]["pages"] == {"path_prefix": "$PAGES_PREFIX"}
    assert "journal-site/" in job["artifacts"]["paths"]
    assert any("merge_request_event" in str(rule) for rule in job["rules"])
    github = yaml.load((ROOT / "templates" / "github-actions.yml").read_text())
    steps = "\n".join(str(step.get("run", "")) for step in github["jobs"]["journal"]["steps"])
    assert "git journal run" in steps and "git push" in steps
