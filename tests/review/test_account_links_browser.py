"""A reviewer confirms an account link on the Accounts page in a real headless Chromium against the real server
(uvicorn on 127.0.0.1), on SQLite and on PostgreSQL: the row updates in place (htmx, no page load), the decision
is in the database and in the decisions CSV, nothing from the data runs as script, and screenshots are kept in
test-artifacts/workspace/ beside the other workspace pages'."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import select

from link_runs import build_run, open_link_workspace
from test_workspace_browser import Session, browser  # noqa: F401 - `browser` is the shared Chromium fixture
from workspace import ACCOUNTS, serving

pytestmark = pytest.mark.slow


@pytest.fixture()
def link_server(db_url: str, tmp_path: Path) -> Iterator[tuple[str, object]]:
    ws = open_link_workspace(db_url, build_run(tmp_path / "run"), tmp_path / "link_decisions.csv")
    with serving(ws) as base:
        yield base, ws


def test_a_reviewer_confirms_the_most_uncertain_link_in_chromium(link_server, browser, db_url: str) -> None:  # noqa: F811
    from labeling.authors.linking import read_link_decisions
    from review.schema import AccountLinkDecision, AuthorLink

    base, ws = link_server
    backend = "postgresql" if db_url.startswith("postgresql") else "sqlite"
    reviewer = Session(browser, base, backend)
    reviewer.login(ACCOUNTS["reviewer"])
    page = reviewer.page
    with page.expect_navigation():
        page.click("header.top nav a[href='/accounts']")
    rows = page.locator("tr.link-row")
    assert rows.count() == 6
    first = rows.first
    row_id = first.get_attribute("id")
    assert "undecided" in first.locator(".link-decision .status").inner_text()
    reviewer.shot("accounts")
    colleague = Session(browser, base, backend)  # rob opens the same page before rita decides
    colleague.login("rob")
    colleague.page.goto(f"{base}/accounts")

    url_before = page.url
    first.locator("button.confirm-link").click()  # htmx: the row is replaced in place, no navigation
    updated = page.locator(f"#{row_id}")
    updated.locator(".saved-note").wait_for()
    assert page.url == url_before
    assert updated.locator(".link-decision .status").inner_text() == "confirmed: one person"
    assert "by rita" in updated.locator(".decided-by").inner_text()
    assert updated.locator("input[name=version]").get_attribute("value") == "1"
    assert page.locator("tr.link-row").count() == 6
    reviewer.shot("accounts-after-confirm")
    reviewer.check()

    # rob's page is stale: his Split is refused (409) and his row shows rita's decision and why, in place
    stale = colleague.page.locator(f"#{row_id}")
    stale.locator("button.split-link").click()
    stale.locator(".link-decision .error").wait_for()
    assert "rita decided this link (confirm)" in stale.locator(".link-decision .error").inner_text()
    assert stale.locator(".link-decision .status").inner_text() == "confirmed: one person"
    colleague.shot("accounts-conflict")
    assert all("409" in e for e in colleague.errors), colleague.errors  # only the browser's note of the 409
    colleague.errors.clear()
    colleague.check()

    with ws.db.reading() as session:
        link = session.get(AuthorLink, int(row_id.split("-")[1]))
        decision = session.execute(select(AccountLinkDecision)).scalars().one()
    assert (decision.author_a, decision.author_b, decision.decision, decision.decided_by) == \
        (link.author_a, link.author_b, "confirm", "rita")
    assert (link.author_a, link.author_b) == ("linkedin:jsmith", "x:jsmith")  # the one nearest the threshold
    [on_file] = read_link_decisions(Path(ws.settings.authors.link_decisions))
    assert (on_file.author_a, on_file.author_b, on_file.decision, on_file.reviewer) == \
        ("linkedin:jsmith", "x:jsmith", "confirm", "rita")
