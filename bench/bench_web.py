"""The browser view on a large journal: `git journal site` (whole process), then in headless
Chromium (Playwright, Debian's chromium) the first screen of the site and of `git journal ui`,
how long a filter takes to answer, and how soon a run recorded meanwhile reaches an open `ui`
page (its poll is every 2 s). Targets: site under 30 s, first screen under 2 s after the page
load, a filter under 0.5 s, at 100,000 runs.

    python bench/bench_web.py [--runs 100000]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import journal_factory as jf
from benchlib import compile_package, run_process

FILTERS = ("params.C > 1", "metrics.accuracy >= 0.9 and not status == failed", "name ~ iris")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def page_figures(browser: Any, url: str) -> dict[str, float]:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=120_000)
    loaded = time.perf_counter() - started
    figures = {
        "first screen (navigation start to the table), s": float(
            page.evaluate("() => Number(document.body.dataset.firstScreenMs)") / 1000
        ),
        "goto to ready (wall), s": loaded,
    }
    page.wait_for_selector("body[data-loaded='1']", timeout=300_000)
    figures["every page loaded (wall), s"] = time.perf_counter() - started
    figures["runs"] = float(page.evaluate("() => journal.runs().length"))
    for expression in FILTERS:
        ms = page.evaluate(
            """e => { const input = document.getElementById('filter'); const t = performance.now();
            input.value = e; input.dispatchEvent(new Event('input'));
            return performance.now() - t }""",
            expression,
        )
        figures[f"filter {expression!r}, s"] = ms / 1000
    page.close()
    return figures


def live_figure(browser: Any, url: str, repo: Path) -> float:
    """Seconds from a run being recorded (by another writer) to the open ui page holding it."""
    from gitlab_journal.journal.store import Store

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.wait_for_selector("body[data-loaded='1']", timeout=300_000)
    idle = "() => new Promise(done => requestIdleCallback(() => done(true), {timeout: 120000}))"
    page.evaluate(idle)  # the charts of every page drawn
    made = next(jf.generate_runs(1, seed=1, salt="live"))
    started = time.perf_counter()
    run = Store.discover(repo).record(made.run, made.files)
    page.wait_for_function(
        "id => journal.runs().some(r => r.id === id)", arg=run.id, polling=50, timeout=120_000
    )
    seconds = time.perf_counter() - started
    page.evaluate(idle)
    print(f"ui: ... and its charts drawn again after (s): {time.perf_counter() - started:.3f}")
    page.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100_000)
    args = parser.parse_args()
    compile_package()
    path = jf.build_journal(args.runs)
    out = Path(tempfile.mkdtemp(prefix="bench-web-"))
    try:
        site = out / "public"
        # the index is built (or caught up) first: `log` warms it, as any earlier command would
        run_process([sys.executable, "-m", "gitlab_journal", "log", "-n", "1"], path)
        wall, cpu, code = run_process(
            [sys.executable, "-m", "gitlab_journal", "site", str(site)], path
        )
        assert code == 0, code
        print(f"site, {args.runs} runs: {wall:.1f} s wall, {cpu:.1f} s CPU (target < 30 s)")
        size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
        print(f"site size: {size / 1e6:.1f} MB in {sum(1 for _ in site.rglob('*'))} entries")

        from playwright.sync_api import sync_playwright

        from gitlab_journal.web.server import make_server

        handler = functools.partial(_Quiet, directory=str(site))
        static = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=static.serve_forever, daemon=True).start()
        started = time.perf_counter()
        live = jf.copy_journal(path, out / "live")  # the ui's journal takes a new run
        ui = make_server(live, port=0)
        print(f"ui start (first snapshot): {time.perf_counter() - started:.1f} s")
        threading.Thread(target=ui.serve_forever, daemon=True).start()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                args=["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"],
            )
            for label, url in (
                ("site", f"http://127.0.0.1:{static.server_address[1]}/"),
                ("ui", ui.url()),
            ):
                for name, value in page_figures(browser, url).items():
                    print(f"{label}: {name}: {value:.3f}")
            seconds = live_figure(browser, ui.url(), live)
            print(f"ui: a run recorded meanwhile, on the open page after (s): {seconds:.3f}")
            browser.close()
        static.shutdown()
        ui.shutdown()
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
