"""Each role does its job in a real headless Chromium against the real server (uvicorn on 127.0.0.1), on SQLite and
on PostgreSQL: no console error, no request leaving the site, no script from post text running, and a screenshot
of each page kept in test-artifacts/workspace/ for people to look at."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import select

from review.schema import Post
from workspace import ACCOUNTS, PASSWORD, csv_rows, open_workspace, serving

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "workspace"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = pytest.mark.slow


def chromium_or_fail() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("the browser tests need Debian's chromium on PATH: run `bash scripts/system_deps.sh` "
                    "(`make test` does it)")
    return path


@pytest.fixture()
def server(db_url: str, scored_run: dict) -> Iterator[tuple[str, object]]:
    ws = open_workspace(db_url, scored_run)
    with serving(ws) as base:
        yield base, ws


@pytest.fixture()
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=chromium_or_fail(), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


class Session:
    """One user's browser tab, failing the test on any console error or off-site request."""

    def __init__(self, browser: object, base: str, backend: str) -> None:
        self.base, self.backend = base, backend
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.route("**/*", self._route)

    def _route(self, route: object) -> None:
        if route.request.url.startswith(self.base):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def login(self, name: str) -> None:
        self.page.goto(f"{self.base}/login")
        self.page.fill("input[name=username]", name)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state("load")

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{self.backend}-{name}.png"), full_page=True)

    def check(self) -> None:
        assert self.errors == [], self.errors
        assert self.outside == [], self.outside
        assert self.dialogs == [], f"a script from the data ran: {self.dialogs}"
        assert self.page.evaluate("() => window.__xss === undefined")


def test_each_role_does_its_job_in_chromium(server, browser, db_url: str) -> None:
    base, ws = server
    backend = "postgresql" if db_url.startswith("postgresql") else "sqlite"

    # annotator: five posts labeled with the keyboard only
    annotator = Session(browser, base, backend)
    annotator.login(ACCOUNTS["annotator"])
    assert annotator.page.url.endswith("/annotate")
    annotator.shot("annotate")
    labeled = []
    for _ in range(5):
        post_id = re.search(r"/annotate/([^\"]+)", annotator.page.get_attribute("#annotation-form", "action")).group(1)
        labeled.append(post_id)
        page = annotator.page
        page.locator("#post-text").click()  # focus the page, not a field
        page.keyboard.press("2")           # sentiment: neutral (then the focus moves on to the next task)
        page.keyboard.press("1")           # perception: efficacy (multi: toggled, focus stays)
        page.keyboard.press("ArrowDown")   # evidence need: none
        page.keyboard.press("ArrowDown")   # adverse event
        page.keyboard.press("1")           # "no"
        with page.expect_navigation():
            page.keyboard.press("Enter")
    annotator.page.keyboard.press("s")     # S skips the sixth
    annotator.page.wait_for_load_state("load")
    annotator.shot("annotate-after-five")
    annotator.check()
    from review.schema import Annotation

    with ws.db.transaction() as session:
        rows = session.execute(select(Annotation).where(Annotation.annotator == ACCOUNTS["annotator"])).scalars().all()
    by_post = {}
    for row in rows:
        by_post.setdefault(row.post_id, {})[row.task] = row.labels
    assert set(by_post) == set(labeled)
    assert all(v["sentiment"] == ["neutral"] and v["perception"] == ["efficacy"] and v["adverse_event"] == ["no"]
               and v["evidence_need"] == [] for v in by_post.values())

    # reviewer: the board with the keyboard, confirm a gap, put one on the backlog, correct a post's labels
    reviewer = Session(browser, base, backend)
    reviewer.login(ACCOUNTS["reviewer"])
    page = reviewer.page
    assert page.locator("tr.gap-row").count() >= 2
    reviewer.shot("gap-board")
    page.keyboard.press("j")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert re.search(r"/gaps/\d+$", page.url)
    reviewer.shot("gap-detail")
    with page.expect_navigation():
        page.click("#confirm-gap")
    assert page.locator("#gap-status").inner_text() == "confirmed"
    page.goto(f"{base}/gaps")
    page.keyboard.press("j")
    page.keyboard.press("j")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.click("#backlog-details summary")
    page.select_option("#backlog-form select[name=study_type]", "Phase IV")
    page.fill("#backlog-form input[name=owner]", "Medical director")
    page.fill("#backlog-form textarea[name=rationale]", "Long-term data requested by many clinicians")
    with page.expect_navigation():
        page.click("#add-backlog")
    assert page.locator("#gap-status").inner_text() == "on backlog"
    first_post = page.locator("article.post").first
    post_code = first_post.locator("header code").inner_text()
    with ws.db.transaction() as session:  # correct to a label the model did not give, or nothing is corrected
        said = session.execute(select(Post.predictions).where(Post.post_id == post_code)).scalars().first()
    corrected = next(label for label in ("negative", "neutral", "positive") if [label] != said["sentiment"]["labels"])
    first_post.locator("details.correct summary").click()
    first_post.locator("input[name='present:sentiment']").check()
    first_post.locator(f"input[name='task:sentiment'][value='{corrected}']").check()
    with page.expect_navigation():
        first_post.locator("form.correction-form button").click()
    assert f"{corrected} (corrected)" in page.locator("article.post").first.inner_text()
    reviewer.shot("gap-after-correction")
    page.goto(f"{base}/backlog")
    assert "Long-term data requested" in page.content()
    reviewer.shot("backlog")
    with page.expect_download() as download:
        page.click("#export-csv")
    exported = csv_rows(Path(download.value.path()).read_text(encoding="utf-8"))
    assert len(exported) == 1 and exported[0]["study_type"] == "Phase IV"
    reviewer.check()

    # safety: decide an adverse event, export the valid cases
    officer = Session(browser, base, backend)
    officer.login(ACCOUNTS["safety"])
    page = officer.page
    officer.shot("safety-queue")
    assert "&lt;script&gt;" not in page.locator("#ae-1 .text").inner_text()  # shown as the literal text
    form = page.locator("#ae-2 form.ae-form")
    decided_post = page.locator("#ae-2 header code").inner_text()
    for criterion in ("identifiable_patient", "identifiable_reporter", "suspect_product", "adverse_event"):
        form.locator(f"input[name={criterion}]").check()
    form.locator("select[name=decision]").select_option("valid case")
    with page.expect_navigation():
        form.locator("button").click()
    assert decided_post not in page.content()  # decided: off the queue
    with page.expect_download() as download:
        page.click("#export-valid")
    cases = csv_rows(Path(download.value.path()).read_text(encoding="utf-8"))
    assert [c["post_id"] for c in cases] == [decided_post]
    officer.check()

    # admin: users and the audit log
    admin = Session(browser, base, backend)
    admin.login(ACCOUNTS["admin"])
    page = admin.page
    page.goto(f"{base}/admin/audit")
    assert "audit log intact" in page.locator("#audit-check").inner_text()
    assert "post.correct_labels" in page.content() and post_code in page.content()
    admin.shot("audit-log")
    page.goto(f"{base}/admin/users")
    admin.shot("users")
    admin.check()

    # an annotator may not open the reviewer's pages (the server refuses, whatever the menu shows)
    response = annotator.page.goto(f"{base}/gaps")
    assert response.status == 403
    annotator.shot("annotator-refused")

    # the decisions go back to training: export (corrections outrank votes), retrain, and the lineage names the export
    _export_and_retrain(ws, post_code, corrected, tmp_dir=ws.scored["home"] / f"roundtrip-{backend}")


def _export_and_retrain(ws, corrected_post: str, corrected: str, tmp_dir: Path) -> None:
    import os

    import mlflow
    import pandas as pd
    from typer.testing import CliRunner

    from occ import app
    from review import annotation

    tmp_dir.mkdir(parents=True, exist_ok=True)
    for name in ("ann2", ACCOUNTS["annotator"]):  # enough labeled posts to train on: annotators follow the model
        for _ in range(120):
            with ws.db.transaction() as session:
                post = annotation.next_post(session, name, ws.settings.review)
                if post is None:
                    break
                chosen = {task: p["labels"] for task, p in post.predictions.items()}
                taxonomy = {"tasks": [{"name": t, "kind": "multi" if t in ("perception", "evidence_need") else "single",
                                       "labels": list(p["scores"])} for t, p in post.predictions.items()]}
                annotation.submit(session, name, post.post_id, chosen, taxonomy)
    url = ws.db.engine.url.render_as_string(hide_password=False).replace("postgresql+psycopg://", "postgresql://")
    labels = tmp_dir / "reviewed_labels.csv"
    runner = CliRunner()
    exported = runner.invoke(app, ["review", "export", "--db", url, "--out", str(labels)])
    assert exported.exit_code == 0, exported.output
    export_id = re.search(r"export (review-\S+):", exported.output).group(1)
    table = pd.read_csv(labels, keep_default_na=False)
    assert table.loc[table["post_id"] == corrected_post, "sentiment"].tolist() == [corrected]  # the correction won
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = ws.scored["tracking"]
    mlflow.set_tracking_uri(ws.scored["tracking"])
    try:
        trained = runner.invoke(app, ["train", "--model", "baseline", "--labels", str(labels), "--registered-model", "review-roundtrip",
                                      "--json"])
        assert trained.exit_code == 0, trained.output
        version = re.search(r'"version": "(\d+)"', trained.output).group(1)
        tags = mlflow.MlflowClient().get_model_version("review-roundtrip", version).tags
    finally:
        if old is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old
    assert tags["occ.labels.export_id"] == export_id and tags["occ.labels"] == "reviewed_labels.csv"
    (ARTIFACTS / f"roundtrip-{tmp_dir.name}.txt").write_text(
        f"export {export_id} -> registered model review-roundtrip version {version}\n", encoding="utf-8")
