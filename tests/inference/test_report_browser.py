"""The report opened in headless Chromium (Debian's package, driven by Playwright's Python API).

It must open offline as one file: no console error, no request leaving file://, no script from the data running,
a gap table with rows, and every plot drawn (plotly puts an `svg.main-svg` into each plot div). A screenshot is
kept in the test's tmp dir and in test-artifacts/report.png for people to look at.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from inference.insights.report import build_report
from test_report import config, known_rows, write_scored

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def chromium_or_fail() -> str:
    """Debian's chromium; missing it is a failure with the fix, never a skip (the check would silently vanish)."""
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("the browser test needs Debian's chromium on PATH: run `bash scripts/system_deps.sh` "
                    "(or `apt-get update && apt-get install -y chromium` as root); `make test` does it for you")
    return path


@pytest.mark.slow
def test_report_renders_offline_in_chromium(tmp_path: Path) -> None:
    executable = chromium_or_fail()
    from playwright.sync_api import sync_playwright

    build_report(write_scored(tmp_path / "scored", known_rows()), tmp_path / "report", config())
    report = tmp_path / "report" / "report.html"
    errors: list[str] = []
    outside: list[str] = []
    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

            def route(r) -> None:  # noqa: ANN001 - playwright's Route
                if r.request.url.startswith("file://"):
                    r.continue_()
                else:
                    outside.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.goto(report.as_uri(), wait_until="load")
            plot_ids = page.eval_on_selector_all("div.plot", "els => els.map(e => e.id)")
            assert len(plot_ids) == 5, plot_ids  # gap trends, sentiment, perception, network, platforms
            page.wait_for_function("ids => ids.every(id => document.getElementById(id).querySelector('svg.main-svg'))",
                                   arg=plot_ids, timeout=20_000)
            assert page.locator("#gap-table tbody tr.gap-row").count() >= 2
            assert page.locator("#gap-table tbody tr.gap-row").first.locator("td").nth(1).inner_text() == "Alpha"
            assert page.locator("#leader-table tbody tr").count() >= 1
            # the post text with markup is shown as text, not run
            assert "<script>alert('x')</script>" in page.locator("details.examples").first.inner_text()
            # names from the data are literal in plots too (plotly.js would render <b> as bold, <a> as a link)
            legend = " ".join(page.locator("#fig-gap-trends .legendtext").all_text_contents())
            assert '")<b> · dosing' in legend, legend
            assert page.locator("#fig-gap-trends .legendtext a").count() == 0
            # the sentiment dropdown switches products
            page.locator("#fig-sentiment .updatemenu-header-group").click()
            page.locator("#fig-sentiment .updatemenu-item-text", has_text="Beta").click()
            page.wait_for_function("() => document.querySelector('#fig-sentiment .gtitle').textContent.includes('Beta')",
                                   timeout=5_000)
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            artifacts = ROOT / "test-artifacts"
            artifacts.mkdir(exist_ok=True)
            shutil.copyfile(tmp_path / "report.png", artifacts / "report.png")
        finally:
            browser.close()
    assert errors == [], errors
    assert outside == [], f"the report tried to fetch {outside}"
    assert dialogs == [], f"a script from the data ran: {dialogs}"
    assert (tmp_path / "report.png").stat().st_size > 10_000
