"""The browser view in Debian's headless Chromium (through Playwright, no browser download):
`git journal site DIR` served by a plain static server, and `git journal ui` live.

Screenshots go to $WEB_ARTIFACTS (default: <tmp>/gitlab-journal-web); WEB_DOC_IMAGES=1 takes
the README's again into docs/images/."""

from __future__ import annotations

import functools
import http.server
import json
import math
import os
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import git
from helpers import LOGREG, Cli, make_run
from playwright.sync_api import expect

from gitlab_journal.journal import format as fmt
from gitlab_journal.journal.identity import normalise
from gitlab_journal.journal.index import open_index
from gitlab_journal.journal.records import Run
from gitlab_journal.journal.store import Store
from gitlab_journal.web.server import TOKEN_HEADER, UiServer, make_server

pytestmark = pytest.mark.slow  # see the README: `pytest -m "not slow"` skips these locally

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"
XSS_NAME = "<img src=x onerror=window.__pwned=1>"
XSS_KEY = "<b onmouseover=window.__pwned=2>key</b>"
# A screenshot of every test's page at its end (CI keeps them as artifacts); with
# WEB_DOC_IMAGES=1, the README's screenshots in docs/images/ are taken again too.
ARTIFACTS = Path(
    os.environ.get("WEB_ARTIFACTS") or Path(tempfile.gettempdir()) / "gitlab-journal-web"
)
DOC_IMAGES = ROOT / "docs" / "images"
SVC = "sklearn.svm.SVC"


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Debian's chromium is needed for this test (.ci/run installs it)"
    return found


def _history(start: float, rate: float, epochs: int = 6) -> bytes:
    loss = [round(start * (rate**epoch), 4) for epoch in range(epochs)]
    doc = {"epochs": epochs, "history": {"loss": loss, "val_loss": [v * 1.1 for v in loss]}}
    return (json.dumps(doc) + "\n").encode()


def _curve_png(history: bytes) -> bytes:
    from gitlab_journal.train.curve import learning_curve

    return learning_curve(json.loads(history)["history"], title="iris-svc")


def record_runs(store: Store) -> list[str]:
    """Six runs of two families (two with learning curves, one failed), newest last."""
    ids = []
    points = [
        ("run00001", {"C": 0.1, "kernel": "rbf"}, 0.81, "iris-svc"),
        ("run00002", {"C": 1.0, "kernel": "rbf"}, 0.95, "iris-svc"),
        ("run00003", {"C": 10.0, "kernel": "linear"}, 0.91, "iris-svc"),
        ("run00004", {"C": 100.0, "kernel": "linear"}, 0.88, "iris-svc"),
        ("run00005", {"C": 0.5, "kernel": "poly"}, 0.7, "wine-svc"),
    ]
    for second, (run_id, params, accuracy, name) in enumerate(points):
        files = {"history.json": _history(1.0 + second / 10, 0.7)} if second < 2 else None
        if second == 0:
            assert files is not None
            files["curve.png"] = _curve_png(files["history.json"])
        if second == 4:  # files a page must not serve: they would run as pages of the app
            files = {
                "evil.html": b"<script>window.__pwned = 3</script>",
                "evil.svg": b"<svg xmlns='http://www.w3.org/2000/svg'><script>1</script></svg>",
            }
        run = make_run(
            run_id,
            params,
            metrics={"accuracy": accuracy, "accuracy_std": 0.01, "fit_time": 0.1 * second},
            second=second,
            name=name,
        )
        store.record(run, files)
        ids.append(run_id)
    failed = make_run(
        "run00006",
        {"C": 1000.0, "kernel": "rbf"},
        metrics={},
        second=6,
        status="failed",
        name="iris-svc",
        error="ValueError: the optimiser exploded",
    )
    store.record(failed)
    ids.append("run00006")
    return ids


@pytest.fixture
def journal(repo: Path) -> Store:
    store = Store.discover(repo)
    store.init()
    record_runs(store)
    return store


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path=_chromium(),
            headless=True,
            args=["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"],
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

    def on_dialog(dialog: Any) -> None:
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    opened.on("dialog", on_dialog)
    opened.problems = problems
    yield opened
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    opened.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert not problems, problems


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve_directory(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """A plain static server, as GitLab Pages is one."""
    handler = functools.partial(_Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


@pytest.fixture
def site(journal: Store, cli: Cli, tmp_path: Path) -> Iterator[str]:
    target = tmp_path / "public"
    code, out, err = cli("site", str(target))
    assert code == 0, err
    assert "6 run(s)" in out
    server, url = serve_directory(target)
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture
def ui(journal: Store) -> Iterator[UiServer]:
    server = make_server(Path(journal.workdir or "."), port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def open_app(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")


def table_ids(page: Any) -> list[str]:
    ids: list[str] = page.locator("#runs tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.id)"
    )
    return ids


def sort_by(page: Any, key: str, ascending: bool) -> None:
    header = page.locator(f"#runs th[data-key='{key}']")
    want = "ascending" if ascending else "descending"
    for _ in range(2):
        if header.get_attribute("aria-sort") == want:
            return
        header.click()
    assert header.get_attribute("aria-sort") == want


def select_runs(page: Any, *ids: str) -> None:
    for run_id in ids:
        page.locator(f"#runs tr[data-id='{run_id}'] input[type=checkbox]").check()
    page.wait_for_selector(f"body[data-selected='{','.join(ids)}']")


def shot(page: Any, name: str) -> None:
    """One view: for the README (docs/images/) with WEB_DOC_IMAGES=1, else among the artifacts."""
    folder = DOC_IMAGES if os.environ.get("WEB_DOC_IMAGES") == "1" else ARTIFACTS
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name), full_page=False)


# -- site ----------------------------------------------------------------------------------


def test_site_writes_pages_a_manifest_and_details(journal: Store, cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "public"
    assert cli("site", str(target))[0] == 0
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["count"] == 6 and manifest["pages"] == ["runs-0000.json"]
    assert manifest["columns"]["params"] == ["C", "kernel"]
    assert "accuracy" in manifest["columns"]["metrics"]
    runs = json.loads((target / "runs-0000.json").read_text())
    assert [r["id"] for r in runs] == [f"run0000{n}" for n in range(6, 0, -1)]  # newest first
    assert manifest["details"] == "pages"
    details = json.loads((target / "details-0000.json").read_text())
    assert sorted(details) == sorted(r["id"] for r in runs)
    detail = details["run00001"]
    assert detail["history"]["loss"][0] == 1.0
    assert detail["notes"] == {"hypothesis": "More C, less regularisation"}
    assert "history.json" in detail["files"] and "run.json" in detail["files"]
    assert details["run00006"]["error"] == "ValueError: the optimiser exploded"
    # the runs' images are copied (text files are listed, shown by `ui`); HTML and SVG,
    # which would run as pages of the site, never are
    assert detail["served"] == ["curve.png"]
    assert (target / "runs" / "run00001" / "curve.png").read_bytes().startswith(PNG)
    evil = details["run00005"]
    assert "evil.html" in evil["files"] and evil["served"] == []
    assert not (target / "runs" / "run00005").exists()
    for name in ("index.html", "app.js", "app.css", "vendor/plotly.min.js"):
        assert (target / name).is_file()
    html = (target / "index.html").read_text()
    assert "http://" not in html and "https://" not in html  # nothing from a CDN
    # Written again over an older site: the old pages go.
    (target / "runs-0007.json").write_text("[]")
    assert cli("site", str(target))[0] == 0
    assert not (target / "runs-0007.json").exists()


def test_site_table_shows_the_runs_and_the_filter_narrows_it(site: str, page: Any) -> None:
    open_app(page, site)
    assert table_ids(page) == [f"run0000{n}" for n in range(6, 0, -1)]
    assert page.locator("#count").text_content() == "6 runs"
    page.fill("#filter", "params.C >= 1 and (params.kernel == linear or status == failed)")
    page.wait_for_function("document.querySelectorAll('#runs tbody tr').length === 3")
    assert sorted(table_ids(page)) == ["run00003", "run00004", "run00006"]
    assert page.locator("#count").text_content() == "3 of 6 runs"
    page.fill("#filter", "params.C > 1e6")
    expect(page.locator("#table-empty")).to_have_text("No runs match.")
    assert table_ids(page) == []
    page.fill("#filter", "not params.kernel in [rbf, linear]")
    page.wait_for_function("document.querySelectorAll('#runs tbody tr').length === 1")
    assert table_ids(page) == ["run00005"]
    page.fill("#filter", "params.C >>> 1")  # malformed: said so, the last filter stays
    page.wait_for_function("document.getElementById('filter-error').textContent !== ''")
    assert "malformed" in page.locator("#filter-error").text_content()
    assert table_ids(page) == ["run00005"]
    page.fill("#filter", "model == logisticregression and name ~ wine")
    page.wait_for_function("document.getElementById('filter-error').textContent === ''")
    assert table_ids(page) == ["run00005"]


def test_site_sorts_by_any_column(site: str, page: Any) -> None:
    open_app(page, site)
    sort_by(page, "metrics.accuracy", ascending=False)
    # best first, the failed run (no accuracy) last
    assert table_ids(page) == [
        "run00002",
        "run00003",
        "run00004",
        "run00001",
        "run00005",
        "run00006",
    ]
    sort_by(page, "metrics.accuracy", ascending=True)
    assert table_ids(page)[:2] == ["run00005", "run00001"] and table_ids(page)[-1] == "run00006"
    # a column chosen from the metrics appears, and sorts like the others
    page.click("#columns summary")
    page.locator("#column-list label", has_text="metrics.fit_time").locator("input").check()
    page.click("#columns summary")  # closed again
    sort_by(page, "metrics.fit_time", ascending=False)
    assert table_ids(page)[:2] == ["run00005", "run00004"]
    sort_by(page, "params.kernel", ascending=True)
    assert [
        page.locator(f"#runs tr[data-id='{i}'] td.params").nth(1).text_content()
        for i in table_ids(page)
    ] == ["linear", "linear", "poly", "rbf", "rbf", "rbf"]


def test_site_two_selected_runs_show_overlaid_curves_and_their_diff(site: str, page: Any) -> None:
    open_app(page, site)
    shot(page, "web-table.png")
    select_runs(page, "run00001", "run00002")
    page.wait_for_function("document.getElementById('curves').dataset.traces === '2'")
    curves = page.evaluate(
        "() => document.getElementById('curves').data.map(t => [t.name, t.y.length])"
    )
    assert curves == [["run00001 (iris-svc)", 6], ["run00002 (iris-svc)", 6]]
    expect(page.locator("#curves .scatterlayer .trace")).to_have_count(2)  # drawn, not just data
    expect(page.locator("#curves .legendtext")).to_have_text(
        ["run00001 (iris-svc)", "run00002 (iris-svc)"]
    )
    differs = page.locator("#diff tr.differs").evaluate_all("rows => rows.map(r => r.dataset.key)")
    assert "params.C" in differs and "metrics.accuracy" in differs
    assert "params.kernel" not in differs  # both rbf
    row = page.locator("#diff tr[data-key='params.C'] td")
    assert row.all_text_contents() == ["0.1", "1"]
    image = page.locator(".run-detail[data-id='run00001'] .images img")
    expect(image).to_have_count(1)
    image.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => { const i = document.querySelector(\".run-detail[data-id='run00001'] .images img\");"
        " return i.complete && i.naturalWidth > 100 }"
    )
    links = page.locator(".run-detail[data-id='run00001'] .files a").all_text_contents()
    assert links == ["curve.png"]  # a site copies images; `ui` serves the text files too
    notes = page.locator(".run-detail[data-id='run00001'] .notes dd").all_text_contents()
    assert notes == ["More C, less regularisation"]
    page.locator("#selected").scroll_into_view_if_needed()
    shot(page, "web-selected.png")


def test_site_parallel_coordinates_brushing_filters_the_table(site: str, page: Any) -> None:
    open_app(page, site)
    page.wait_for_function("document.getElementById('parcoords').data !== undefined")
    labels = page.evaluate(
        "() => document.getElementById('parcoords').data[0].dimensions.map(d => d.label)"
    )
    assert labels == ["C (log)", "kernel", "accuracy"]  # C spans four decades
    expect(page.locator("#parcoords .axis-title")).to_have_text(labels)
    # the scatter: accuracy against C, one trace per family, one point per run with both
    expect(page.locator("#scatter .legendtext")).to_have_text(["iris-svc", "wine-svc"])
    expect(page.locator("#scatter .scatterlayer .point")).to_have_count(5)
    # Drag on the accuracy axis (0.7 at the bottom, 0.95 at the top) from just below 0.91 up
    # past the top: 0.95 and 0.91 stay, 0.88 and below go.
    axis = page.locator("#parcoords .axis-brush").nth(2).bounding_box()
    assert axis is not None
    x = axis["x"] + axis["width"] / 2
    page.mouse.move(x, axis["y"] + axis["height"] * 0.23)
    page.mouse.down()
    page.mouse.move(x, axis["y"] + 2, steps=10)
    page.mouse.up()
    brushed = page.evaluate(
        "() => document.getElementById('parcoords').data[0].dimensions[2].constraintrange"
    )
    low = brushed[0][0] if isinstance(brushed[0], list) else brushed[0]
    assert 0.88 < low < 0.91
    page.wait_for_function("document.querySelectorAll('#runs tbody tr').length === 2")
    assert sorted(table_ids(page)) == ["run00002", "run00003"]
    page.locator("#charts").scroll_into_view_if_needed()
    shot(page, "web-charts.png")
    page.click("#clear-brush")
    page.wait_for_function("document.querySelectorAll('#runs tbody tr').length === 6")


def test_site_in_several_pages_loads_every_page_and_its_details(
    journal: Store, cli: Cli, tmp_path: Path, page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitlab_journal.web import data

    monkeypatch.setattr(data, "PAGE_SIZE", 2)
    target = tmp_path / "public"
    assert cli("site", str(target))[0] == 0
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["pages"] == ["runs-0000.json", "runs-0001.json", "runs-0002.json"]
    assert sorted(json.loads((target / "details-0002.json").read_text())) == [
        "run00001",
        "run00002",
    ]
    server, url = serve_directory(target)
    try:
        open_app(page, url)
        page.wait_for_selector("body[data-loaded='1']")
        expect(page.locator("#count")).to_have_text("6 runs")
        assert table_ids(page) == [f"run0000{n}" for n in range(6, 0, -1)]
        select_runs(page, "run00001", "run00006")  # details from the last and the first page
        expect(page.locator("#curves .scatterlayer .trace")).to_have_count(1)
        expect(page.locator(".run-detail[data-id='run00006'] pre.error")).to_have_text(
            "ValueError: the optimiser exploded"
        )
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_parallel_coordinates_draw_a_spread_of_a_large_journal(
    repo: Path, cli: Cli, tmp_path: Path, page: Any
) -> None:
    store = Store.discover(repo)
    store.init()
    count = 2050  # past the 2,000 lines the chart draws
    for i in range(count):
        accuracy = 0.5 + (i * 7919 % count) / (2 * count)  # every value once, out of order
        store.record(
            make_run(f"big{i:05d}", {"C": float(i % 17) + 1}, metrics={"accuracy": accuracy})
        )
    target = tmp_path / "public"
    assert cli("site", str(target))[0] == 0
    server, url = serve_directory(target)
    try:
        open_app(page, url)
        page.wait_for_selector("body[data-loaded='1']")
        page.wait_for_function("document.getElementById('parcoords').data !== undefined")
        expect(page.locator("#pc-note")).to_contain_text("2,000 of 2,050 runs drawn")
        drawn = page.evaluate("() => document.getElementById('parcoords').data[0].line.color")
        assert len(drawn) == 2000
        assert min(drawn) == 0.5 and max(drawn) == 0.5 + (count - 1) / (2 * count)  # both ends
        # a filter down to the limit draws every run again, and says nothing
        page.fill("#filter", "params.C <= 16")
        page.wait_for_function(
            "document.getElementById('parcoords').data[0].line.color.length === 1930"
        )
        expect(page.locator("#pc-note")).to_be_hidden()
    finally:
        server.shutdown()
        server.server_close()


def test_untrusted_names_and_keys_show_as_text_and_run_no_script(
    journal: Store, cli: Cli, tmp_path: Path, page: Any
) -> None:
    run = make_run(
        "run00099",
        {XSS_KEY: 1.0, "C": 2.0, "kernel": XSS_NAME},
        metrics={"accuracy": 0.5},
        second=30,
        name=XSS_NAME,
        notes={XSS_KEY: XSS_NAME},
    )
    journal.record(run, {"history.json": _history(1.0, 0.5)})
    target = tmp_path / "public"
    assert cli("site", str(target))[0] == 0
    server, url = serve_directory(target)
    try:
        open_app(page, url)
        cell = page.locator("#runs tr[data-id='run00099'] td.name")
        assert cell.text_content() == XSS_NAME
        assert page.locator("#runs img, #diff img, #details img, #runs b").count() == 0
        select_runs(page, "run00099", "run00001")
        page.wait_for_function("document.getElementById('curves').dataset.traces === '2'")
        assert page.locator(f"#diff tr[data-key='params.{XSS_KEY}'] th").text_content() == (
            f"params.{XSS_KEY}"
        )
        detail = page.locator(".run-detail[data-id='run00099'] .notes")
        assert detail.locator("dt").first.text_content() == XSS_KEY
        assert XSS_NAME in detail.locator("dd").all_text_contents()
        # The charts show the name as text too (Plotly reads a little HTML in labels).
        expect(page.locator("#parcoords .tick text", has_text=XSS_NAME)).to_have_count(1)
        assert page.locator("#charts svg image, #charts svg a").count() == 0
        page.locator("#runs tr[data-id='run00005'] input[type=checkbox]").check()
        page.wait_for_selector("body[data-selected='run00099,run00001,run00005']")
        files = page.locator(".run-detail[data-id='run00005'] .files li")
        expect(files.filter(has_text="evil.html")).to_have_count(1)
        links = page.locator(".run-detail[data-id='run00005'] .files a").all_text_contents()
        assert links == []  # a site links images only, and never HTML or SVG
        assert page.evaluate("() => window.__pwned === undefined")
        expect(page.locator("#scatter .legendtext").first).to_be_visible()
        assert XSS_NAME in page.locator("#scatter .legendtext").all_text_contents()
    finally:
        server.shutdown()
        server.server_close()


def test_selected_table_runs_show_how_each_table_was_read(
    journal: Store, cli: Cli, tmp_path: Path, page: Any
) -> None:
    """The side-by-side view has the table options of the identity (which the index does not
    keep): the run's details carry them, and a hostile option is text."""
    data = {"data/passengers.csv": "2" * 32}
    plain = {"dtypes": {"sex": "category"}}
    dropped = {"dtypes": {"sex": "category"}, "drop": ["fare", XSS_NAME], XSS_KEY: XSS_NAME}
    journal.record(make_run("table001", data=data, table=plain, second=40))
    journal.record(make_run("table002", data=data, table=dropped, second=41))
    target = tmp_path / "public"
    assert cli("site", str(target))[0] == 0
    details = json.loads((target / "details-0000.json").read_text())
    assert details["table001"]["table"] == {"dtypes.sex": "category"}
    assert details["table002"]["table"]["drop"] == json.dumps(["fare", XSS_NAME])
    assert details["run00001"]["table"] == {}  # its data is no table: identity.json not read
    server, url = serve_directory(target)
    try:
        open_app(page, url)
        select_runs(page, "table001", "table002")
        differs = page.locator("#diff tr.differs").evaluate_all(
            "rows => rows.map(r => r.dataset.key)"
        )
        assert "table.drop" in differs and f"table.{XSS_KEY}" in differs
        assert "table.dtypes.sex" not in differs  # the same in both
        row = page.locator("#diff tr[data-key='table.drop'] td")
        assert row.all_text_contents() == ["", json.dumps(["fare", XSS_NAME])]
        assert page.locator(f"#diff tr[data-key='table.{XSS_KEY}'] td").nth(1).text_content() == (
            XSS_NAME
        )
        same = page.locator("#diff tr[data-key='table.dtypes.sex'] td").all_text_contents()
        assert same == ["category", "category"]
        assert page.locator("#diff img, #diff b").count() == 0
        assert page.evaluate("() => window.__pwned === undefined")
    finally:
        server.shutdown()
        server.server_close()


def test_a_param_that_is_not_finite_shows_as_a_number(
    journal: Store, cli: Cli, repo: Path, tmp_path: Path, page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spec's ``.inf`` is recorded as ``{"__float__": "inf"}``: the page shows ``inf``,
    ``-inf`` and ``nan`` (also in a list) in the table and side by side, as `show` prints them;
    a run.json written before, with a bare NaN in its point, gives the same."""
    clips = {"clip0001": math.inf, "clip0002": -math.inf, "clip0003": math.nan}
    now = fmt.run_document

    def before(run: Run) -> dict[str, Any]:  # run.json as written before: the point's floats
        return {**now(run), "point": dict(run.point)}

    for second, (run_id, clip) in enumerate(clips.items(), start=50):
        point = {"C": 1.0, "clip": clip, "bounds": [0, clip]}  # as the spec wrote it
        run = make_run(run_id, normalise(point), point=point, second=second)
        with monkeypatch.context() as patched:
            if run_id == "clip0003":
                patched.setattr(fmt, "run_document", before)
            journal.record(run)
    folder = fmt.run_dir(run.fingerprint, run.id, version=fmt.FORMAT_VERSION)
    old = git(repo, "show", f"journal:{folder}/run.json")
    assert '"clip": NaN' in old
    target = tmp_path / "public"
    assert cli("site", str(target))[0] == 0
    details = json.loads((target / "details-0000.json").read_text())
    assert [details[run_id]["point"]["clip"] for run_id in clips] == [
        {"__float__": "inf"},
        {"__float__": "-inf"},
        {"__float__": "nan"},  # not null
    ]
    server, url = serve_directory(target)
    try:
        open_app(page, url)
        keys = page.locator("#runs thead th").evaluate_all("hs => hs.map(h => h.dataset.key)")
        at = {key: keys.index(f"params.{key}") for key in ("clip", "bounds")}
        shown = {}
        for run_id in clips:
            cells = page.locator(f"#runs tr[data-id='{run_id}'] td").all_text_contents()
            shown[run_id] = (cells[at["clip"]], cells[at["bounds"]])
        assert shown == {
            "clip0001": ("inf", "[0,inf]"),
            "clip0002": ("-inf", "[0,-inf]"),
            "clip0003": ("nan", "[0,nan]"),
        }
        select_runs(page, "clip0001", "clip0002")
        row = page.locator("#diff tr[data-key='params.clip'] td")
        assert row.all_text_contents() == ["inf", "-inf"]
        row = page.locator("#diff tr[data-key='params.bounds'] td")
        assert row.all_text_contents() == ["[0,inf]", "[0,-inf]"]
        assert "__float__" not in page.locator("#runs").text_content()
        assert "__float__" not in page.locator("#diff").text_content()
    finally:
        server.shutdown()
        server.server_close()


# -- ui ------------------------------------------------------------------------------------


def test_ui_serves_the_app_and_a_note_added_in_the_page_is_on_the_journal_branch(
    ui: UiServer, journal: Store, page: Any
) -> None:
    open_app(page, ui.url())
    assert table_ids(page) == [f"run0000{n}" for n in range(6, 0, -1)]
    page.fill("#filter", "metrics.accuracy > 0.9")
    page.wait_for_function("document.querySelectorAll('#runs tbody tr').length === 2")
    select_runs(page, "run00002")
    # `ui` links a run's text files too (a site copies images only)
    expect(page.locator(".run-detail[data-id='run00002'] .files a")).to_have_text(
        ["history.json", "identity.json", "metrics.json", "run.json"]
    )
    form = page.locator(".run-detail[data-id='run00002'] .note-form")
    form.locator(".note-text").fill("C=1 is enough; rbf wins.")
    form.locator("button").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll(\".run-detail[data-id='run00002'] .notes dd\")]"
        ".some(d => d.textContent === 'C=1 is enough; rbf wins.')"
    )
    shot(page, "web-ui-note.png")
    repo = Path(journal.workdir or ".")
    log = git(repo, "log", "-1", "--format=%s%n%b", "journal")
    assert log.startswith("Note inference on run run00002")
    shown = git(repo, "show", "journal:" + _run_json_path(journal, "run00002"))
    assert json.loads(shown)["notes"]["inference"] == "C=1 is enough; rbf wins."


def _run_json_path(store: Store, run_id: str) -> str:
    from gitlab_journal.journal import format as fmt

    with open_index(store, warn=False) as index:
        row = index.get(run_id)
        assert row is not None
        return f"{fmt.run_dir(row.fingerprint, row.id, version=fmt.FORMAT_VERSION)}/run.json"


def _post(url: str, body: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_ui_refuses_a_note_without_the_token_or_from_another_origin(
    ui: UiServer, journal: Store
) -> None:
    before = journal.tip()
    url = ui.url(with_token=False) + "api/note"
    body = {"run": "run00002", "key": "inference", "text": "forged"}
    json_type = {"Content-Type": "application/json"}
    assert _post(url, body, json_type)[0] == 403
    assert _post(url, body, {**json_type, TOKEN_HEADER: "0" * 32})[0] == 403
    other = {**json_type, TOKEN_HEADER: ui.token, "Origin": "http://evil.example"}
    assert _post(url, body, other)[0] == 403
    cross = {**json_type, TOKEN_HEADER: ui.token, "Sec-Fetch-Site": "cross-site"}
    assert _post(url, body, cross)[0] == 403
    rebound = {**json_type, TOKEN_HEADER: ui.token, "Host": f"evil.example:{ui.port}"}
    assert _post(url, body, rebound)[0] == 403
    assert _post(url, body, {"Content-Type": "text/plain", TOKEN_HEADER: ui.token})[0] == 415
    base = ui.url(with_token=False)
    with urllib.request.urlopen(base + "runs/run00001/curve.png", timeout=10) as response:
        assert response.headers["Content-Type"] == "image/png"
        assert response.read().startswith(PNG)
    for missing in ["runs/run00005/evil.html", "runs/run00005/evil.svg", "runs/run00001/../x"]:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(base + missing, timeout=10)
        assert refused.value.code == 404, missing
    assert journal.tip() == before  # nothing written
    code, text = _post(url, body, {**json_type, TOKEN_HEADER: ui.token})
    assert code == 200, text
    assert journal.tip() != before


def test_ui_shows_a_run_recorded_while_the_page_is_open(
    ui: UiServer, journal: Store, page: Any
) -> None:
    open_app(page, ui.url())
    first_tip = page.evaluate("() => document.body.dataset.tip")
    page.evaluate("() => { window.__sameDocument = true; }")
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    writer = Store.discover(Path(journal.workdir or "."))
    new = make_run(
        "run00007", {"C": 3.0, "kernel": "rbf", "gamma": 0.5}, metrics={"accuracy": 0.97}, second=40
    )
    writer.record(replace(new, name="iris-svc"))
    page.wait_for_selector("#runs tr[data-id='run00007']")
    assert page.evaluate("() => window.__sameDocument === true")  # no reload
    assert page.evaluate("() => document.body.dataset.tip") != first_tip
    assert page.locator("#count").text_content() == "7 runs"
    # only what changed came over: no page of runs, no manifest
    assert [url for url in fetched if "/runs-" in url or url.endswith("manifest.json")] == []
    assert any("/api/changes?since=" in url for url in fetched)
    assert "gamma" in page.evaluate("() => journal.columns().params")  # a new param's column

    # a run changed elsewhere (a later metric) changes in place
    second = journal.read(*_where(journal, "run00002"))
    writer.update_run(replace(second, metrics={**second.metrics, "accuracy": 0.5}), "Rescore\n")
    expect(page.locator("#runs tr[data-id='run00002'] td.metrics").first).to_have_text("0.5")
    assert page.locator("#count").text_content() == "7 runs"
    assert [url for url in fetched if "/runs-" in url or url.endswith("manifest.json")] == []


def _where(store: Store, run_id: str) -> tuple[str, str]:
    (found,) = [p for p in store.run_paths(store.require().tree) if p.run_id == run_id]
    return found.fingerprint, found.run_id


def test_changes_name_the_runs_added_changed_and_gone(
    journal: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitlab_journal.web import data

    before = str(journal.tip())
    added = journal.record(make_run("run00008", {"C": 7.0, "kernel": "rbf"}, second=50))
    first = journal.read(*_where(journal, "run00001"))
    journal.update_run(replace(first, notes={"inference": "too weak"}), "Note\n")
    with open_index(journal, warn=False) as index:
        found = data.changes(index, before)
        assert found is not None
        assert sorted(run["id"] for run in found["runs"]) == ["run00001", added.id]
        assert found["removed"] == [] and found["tip"] == str(journal.tip())
        assert found["columns"]["params"] == ["C", "kernel"]
        assert data.changes(index, str(journal.tip()))["runs"] == []  # type: ignore[index]
        # what the page sends is only looked up
        for since in ("", "HEAD", "not a tip", "0" * 40, before[:12], "../" + before):
            assert data.changes(index, since) is None, since
        monkeypatch.setattr(data, "MAX_CHANGES", 1)
        assert data.changes(index, before) is None  # too much changed: load everything


def test_ui_shows_points_local_runs_have_claimed(ui: UiServer, journal: Store, page: Any) -> None:
    from gitlab_journal.run.claims_local import LocalClaims

    claims = LocalClaims(journal)
    fingerprint = "ab" * 32
    assert claims.acquire(fingerprint) is None
    try:
        open_app(page, ui.url())
        page.wait_for_function(
            "document.getElementById('running').textContent.includes('1 point running')"
        )
        assert "abababab" in page.locator("#running").text_content()
        started = claims.holder(fingerprint)
        claims.progress(fingerprint, "fold 2/5")
        page.wait_for_function(
            "document.getElementById('running').textContent.includes('fold 2/5')"
        )
        after = claims.holder(fingerprint)
        assert started is not None and after is not None
        assert (after.token, after.started) == (started.token, started.started)  # still ours
    finally:
        claims.finish()
    # a claim taken over by another process is not ours to write any more
    other = LocalClaims(journal)
    assert other.acquire(fingerprint) is None
    try:
        claims.held[fingerprint] = "stale-token"
        claims.progress(fingerprint, "fold 9/9")
        path = journal.git_dir / "journal" / "claims" / fingerprint
        assert "fold 9/9" not in path.read_text()
    finally:
        other.finish()


# -- the filter language: the page's and the index's agree ----------------------------------

WHERE_CASES = [
    "params.C > 1",
    "params.C == 1",
    "params.C = 1.0",
    "params.C != 1",
    "params.C >= 0.5 and params.C <= 10",
    "params.kernel == rbf",
    "params.kernel ~ RB",
    "params.kernel ~ 'r*f'",
    "params.kernel > m",
    "params.kernel in [rbf, poly]",
    "params.kernel not in [rbf]",
    "params.fit == true",
    "params.fit == 1",
    "params.fit != false",
    "params.opt == null",
    "params.opt != null",
    "params.tag == 1",
    "params.tag == '1'",
    "params.tag > 0",
    "params.layers ~ 64",
    "params.missing == null",
    "not params.C > 1",
    "params.C > 1 or params.kernel == linear",
    "not (params.C > 1 or params.kernel == linear) and status == ok",
    "model == LogisticRegression",
    "model == logisticregression",
    "model != SVC",
    "model == sklearn.svm.SVC",
    "status == failed",
    "not status == failed",
    "name ~ iris",
    "name == null",
    "metrics.accuracy >= 0.9 and (params.C < 10 or params.kernel == 'linear')",
    "metrics.accuracy > 0.8",
    "created > '2024-05-01T10:00:02Z'",
    "code.dirty == false",
    "data.train ~ 111",
    "kind == sklearn",
    "reproduction == null",
    "id ~ 'run0001[1-3]'",
    "id ~ 'run0001?'",
    "fingerprint != null and commit != null",
]


def test_the_page_filters_exactly_as_log_where_does(
    journal: Store, cli: Cli, tmp_path: Path, page: Any
) -> None:
    varied = [
        ("run00011", {"C": 1, "kernel": "rbf", "fit": True, "opt": None, "tag": "1"}, LOGREG),
        ("run00012", {"C": 2.5, "kernel": "poly", "fit": False, "tag": 1, "layers": [64, 32]}, SVC),
        ("run00013", {"C": 1.0, "kernel": "linear", "opt": "adam", "tag": "x"}, SVC),
    ]
    for second, (run_id, params, model) in enumerate(varied, start=10):
        run = make_run(run_id, params, metrics={"accuracy": 0.5 + second / 100}, second=second)
        journal.record(replace(run, model=model, name=None))
    target = tmp_path / "public"
    assert cli("site", str(target))[0] == 0
    server, url = serve_directory(target)
    try:
        open_app(page, url)
        with open_index(journal, warn=False) as index:
            for expression in WHERE_CASES:
                expected = sorted(row.id for row in index.query([expression]))
                found = page.evaluate(
                    "e => journal.runs().filter(journal.where(e)).map(r => r.id).sort()",
                    expression,
                )
                assert found == expected, expression
    finally:
        server.shutdown()
        server.server_close()


def test_the_page_rejects_what_log_where_rejects(
    journal: Store, cli: Cli, site: str, page: Any
) -> None:
    open_app(page, site)
    for expression in ["params.C >", "bogus.C > 1", "params.C > 1 and", "(params.C > 1", "x == 1"]:
        code, _, _ = cli("log", "--where", expression)
        assert code == 2, expression
        error = page.evaluate(
            "e => { try { journal.where(e); return null } catch (x) { return x.message } }",
            expression,
        )
        assert error, expression


# -- the commands as users start them -------------------------------------------------------


def test_ui_command_prints_a_tokened_address_and_serves_until_interrupted(
    journal: Store,
) -> None:
    import signal
    import subprocess
    import sys

    repo = Path(journal.workdir or ".")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "gitlab_journal", "ui", "--port", "0", "--no-browser"]
    proc = subprocess.Popen(command, cwd=repo, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("Serving the journal at http://127.0.0.1:"), first
        address = first.rsplit(" ", 1)[1].strip()
        base, token = address.split("#token=")
        with urllib.request.urlopen(base + "manifest.json", timeout=10) as response:
            assert json.loads(response.read())["count"] == 6
        with urllib.request.urlopen(base, timeout=10) as response:
            assert "Content-Security-Policy" in response.headers
            assert b'src="app.js"' in response.read()
        with urllib.request.urlopen(base + "vendor/plotly.min.js", timeout=10) as response:
            assert b"plotly.js v2.35.2" in response.read(200)
        body = {"run": "run00003", "key": "inference", "text": "linear is enough"}
        headers = {"Content-Type": "application/json", TOKEN_HEADER: token}
        code, text = _post(base + "api/note", body, headers)
        assert code == 200, text
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 130
    assert "linear is enough" in git(repo, "log", "-1", "--format=%b", "journal")


def test_ui_command_fails_clearly_without_a_journal_or_on_a_busy_port(
    repo: Path, cli: Cli, tmp_path: Path
) -> None:
    import socket

    code, _, err = cli("ui", "--no-browser", "--port", "0")
    assert code == 2 and "error:" in err
    Store.discover(repo).init()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        code, _, err = cli("ui", "--no-browser", "--port", str(busy.getsockname()[1]))
    assert code == 2 and "cannot listen on 127.0.0.1" in err
    code, _, err = cli("site", str(tmp_path / "empty-site"))
    assert code == 0
    assert json.loads((tmp_path / "empty-site" / "manifest.json").read_text())["count"] == 0
