"""The Accounts page over HTTP (the real app, in process) on SQLite and on a real PostgreSQL server: a run's
account links loaded from real Parquet files, uncertain links first, confirm / split as audited, versioned
transactions that also reach the decisions CSV the next run reads, conflicts, roles, and the export command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from link_runs import LINKS, XSS_REASON, build_run, db_cli_url, open_link_workspace, write_author_tables

pytestmark = pytest.mark.slow

HX = {"HX-Request": "true"}


@pytest.fixture()
def ws(db_url: str, tmp_path: Path):
    workspace = open_link_workspace(db_url, build_run(tmp_path / "run"), tmp_path / "decisions" / "links.csv")
    yield workspace
    workspace.db.dispose()


def _link_ids(ws) -> dict[tuple[str, str], int]:
    from review.schema import AuthorLink

    with ws.db.reading() as session:
        return {(k.author_a, k.author_b): k.id for k in session.execute(select(AuthorLink)).scalars()}


def _page_order(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr class="link-row[^"]*" id="link-(\d+)"', html)]


def test_links_load_with_both_accounts_and_list_uncertain_first(ws) -> None:
    assert ws.ids["load"].links == len(LINKS)
    ids = _link_ids(ws)
    page = ws.client("reviewer").get("/accounts")
    assert page.status_code == 200 and 'href="/accounts"' in page.text  # in the reviewer's menu
    assert _page_order(page.text) == [ids[(a, b)] for a, b, *_ in LINKS]  # undecided nearest 0.9, then decided
    assert re.search(r"<strong>4</strong> of 6 link\(s\) wait", page.text)
    row = page.text[page.text.index('id="link-%d"' % ids[("doximity:drlee", "x:drlee")]):]
    row = row[:row.index("</tr>")]
    assert "doximity:drlee" in row and "x:drlee" in row and "oncology" in row and "type unknown" in row
    assert "same handle drlee only" in row and "0.75" in row and "doximity" in row
    assert "&lt;script&gt;window.__xss" in page.text and XSS_REASON not in page.text  # reasons render as text
    assert "earlier decision (decisions file)" in page.text and "split: two people" in page.text
    assert "links.csv" in page.text  # says where decisions go


def test_confirm_split_conflict_audit_and_the_decisions_csv(ws, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from labeling.authors.linking import read_link_decisions
    from occ import app
    from review.audit import verify
    from review.schema import AccountLinkDecision, AuditEntry

    ids = _link_ids(ws)
    first, second = ids[("linkedin:jsmith", "x:jsmith")], ids[("doximity:drlee", "x:drlee")]
    rita, rob = ws.client("reviewer"), ws.client(name="rob")

    confirmed = rita.post(f"/accounts/links/{first}", {"decision": "confirm", "version": "0"}, headers=HX)
    assert confirmed.status_code == 200 and confirmed.text.lstrip().startswith("<tr")  # htmx: just the row
    assert "confirmed: one person" in confirmed.text and "by rita" in confirmed.text and "saved" in confirmed.text
    assert 'name="version" value="1"' in confirmed.text
    split = rita.post(f"/accounts/links/{second}", {"decision": "split", "version": "0"})  # a plain form post
    assert split.status_code == 303 and split.headers["location"] == "/accounts?saved=1"

    stale = rob.post(f"/accounts/links/{first}", {"decision": "split", "version": "0"})
    assert stale.status_code == 409 and "rita decided this link (confirm)" in stale.text
    stale_hx = rob.post(f"/accounts/links/{first}", {"decision": "split", "version": "0"}, headers=HX)
    assert stale_hx.status_code == 409 and stale_hx.text.lstrip().startswith("<tr")
    assert "rita decided this link" in stale_hx.text and "confirmed: one person" in stale_hx.text  # theirs, shown
    invalid = rob.post(f"/accounts/links/{first}", {"decision": "merge", "version": "1"}, headers=HX)
    assert invalid.status_code == 422 and "confirm, split" in invalid.text

    with ws.db.reading() as session:
        stored = {(d.author_a, d.author_b): d for d in session.execute(select(AccountLinkDecision)).scalars()}
        actions = [a for (a,) in session.execute(select(AuditEntry.action).order_by(AuditEntry.id))]
    assert {k: (d.decision, d.decided_by, d.version) for k, d in stored.items()} == {
        ("linkedin:jsmith", "x:jsmith"): ("confirm", "rita", 1), ("doximity:drlee", "x:drlee"): ("split", "rita", 1)}
    assert all(d.decided_at is not None for d in stored.values())
    assert actions.count("link.decide") == 2 and "run.load" in actions
    assert verify(ws.db.engine).ok

    csv_path = Path(ws.settings.authors.link_decisions)
    written = read_link_decisions(csv_path)
    assert [(d.author_a, d.author_b, d.decision, d.reviewer) for d in written] == [
        ("linkedin:jsmith", "x:jsmith", "confirm", "rita"), ("doximity:drlee", "x:drlee", "split", "rita")]

    # a reviewer who saw version 1 may change it: a new decision, never an overwrite of an unseen one
    assert rob.post(f"/accounts/links/{first}", {"decision": "split", "version": "1"}).status_code == 303
    assert [d.decision for d in read_link_decisions(csv_path)] == ["confirm", "split", "split"]  # last one wins
    page = rita.get("/accounts").text
    assert _page_order(page)[:2] == [ids[("linkedin:amy", "x:amy_md")], ids[("reddit:pharmaco", "x:pharmaco")]]
    assert "by rob" in page

    runner, url = CliRunner(), db_cli_url(ws.db)
    again = runner.invoke(app, ["review", "export-links", "--db", url, "--out", str(csv_path)])
    assert again.exit_code == 0 and "0 link decision(s) written" in again.output, again.output
    fresh = tmp_path / "exported.csv"
    exported = runner.invoke(app, ["review", "export-links", "--db", url, "--out", str(fresh)])
    assert exported.exit_code == 0 and "2 link decision(s) written" in exported.output, exported.output
    assert {(d.author_a, d.author_b, d.decision, d.reviewer) for d in read_link_decisions(fresh)} == {
        ("linkedin:jsmith", "x:jsmith", "split", "rob"), ("doximity:drlee", "x:drlee", "split", "rita")}


def test_reviewers_deciding_one_link_at_once_never_overwrite_each_other(ws) -> None:
    """Six reviewers press a button on the same link at the same moment, twice: each time exactly one decision is
    saved (the others get 409), and the decisions file holds exactly the saved ones."""
    import threading

    from labeling.authors.linking import read_link_decisions
    from review.accounts import add_user
    from review.schema import AccountLinkDecision
    from workspace import PASSWORD

    names = [f"rev{i}" for i in range(6)]
    with ws.db.transaction() as session:
        for name in names:
            add_user(session, name, "reviewer", PASSWORD, "tests")
    clients = [ws.client(name=name) for name in names]
    link = _link_ids(ws)[("reddit:pharmaco", "x:pharmaco")]
    for version in (0, 1):
        barrier, answers = threading.Barrier(len(clients)), []

        def press(client, decision: str) -> None:
            barrier.wait()
            answers.append(client.post(f"/accounts/links/{link}", {"decision": decision, "version": str(version)},
                                       headers=HX).status_code)

        threads = [threading.Thread(target=press, args=(c, ("confirm", "split")[i % 2])) for i, c in enumerate(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(answers) == [200] + [409] * (len(clients) - 1), answers
    with ws.db.reading() as session:
        stored = session.execute(select(AccountLinkDecision)).scalars().one()
    assert stored.version == 2
    on_file = read_link_decisions(Path(ws.settings.authors.link_decisions))
    assert len(on_file) == 2 and (on_file[-1].decision, on_file[-1].reviewer) == (stored.decision, stored.decided_by)


def test_only_the_roles_that_decide_gaps_decide_links(ws) -> None:
    link = _link_ids(ws)[("linkedin:jsmith", "x:jsmith")]
    form = {"decision": "confirm", "version": "0"}
    for role in ("annotator", "safety"):
        client = ws.client(role)
        assert client.get("/accounts").status_code == 403
        assert client.post(f"/accounts/links/{link}", form).status_code == 403
        assert 'href="/accounts"' not in client.get("/").text
    nobody = ws.client()
    assert nobody.get("/accounts").headers["location"] == "/login?next=/accounts"
    assert nobody.post(f"/accounts/links/{link}", form).status_code == 401
    assert ws.client("reviewer").post(f"/accounts/links/{link}", form, csrf=False).status_code == 403
    assert ws.client("admin").get("/accounts").status_code == 200
    from review.schema import AccountLinkDecision

    with ws.db.reading() as session:
        assert session.execute(select(AccountLinkDecision)).first() is None  # nothing got through
    assert ws.client("reviewer").post("/accounts/links/99999", form).status_code == 404


def test_no_decisions_file_keeps_decisions_in_the_database(db_url: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from labeling.authors.linking import read_link_decisions
    from occ import app

    ws = open_link_workspace(db_url, build_run(tmp_path / "run"), None)
    try:
        rita = ws.client("reviewer")
        assert "occ review export-links --out FILE" in rita.get("/accounts").text
        link = _link_ids(ws)[("linkedin:amy", "x:amy_md")]
        assert rita.post(f"/accounts/links/{link}", {"decision": "split", "version": "0"}).status_code == 303
        assert not list(tmp_path.rglob("*.csv"))
        out = tmp_path / "link_decisions.csv"
        done = CliRunner().invoke(app, ["review", "export-links", "--db", db_cli_url(ws.db), "--out", str(out)])
        assert done.exit_code == 0, done.output
        [decision] = read_link_decisions(out)
        assert (decision.author_a, decision.author_b, decision.decision, decision.reviewer) == \
            ("linkedin:amy", "x:amy_md", "split", "rita")
    finally:
        ws.db.dispose()


# ---- SQLite only: what does not depend on the backend ------------------------------------------------------------


def test_occ_serve_takes_the_decisions_file_from_its_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from labeling.authors.linking import read_link_decisions
    from occ import app
    from review.accounts import add_user
    from workspace import PASSWORD, Workspace

    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda application, **options: served.update(app=application))
    run, target = build_run(tmp_path / "run"), tmp_path / "chosen" / "decisions.csv"
    url = f"sqlite:///{tmp_path / 'review.db'}"
    done = CliRunner().invoke(app, ["serve", "--scored", str(run), "--db", url, "--link-decisions", str(target)])
    assert done.exit_code == 0, done.output
    assert f"{len(LINKS)} account links" in done.output and f"account-link decisions go to {target}" in done.output
    application = served["app"]
    assert application.state.settings.authors.link_decisions == str(target)
    with application.state.db.transaction() as session:
        add_user(session, "rita", "reviewer", PASSWORD, "tests")
    ws = Workspace(application.state.db, application, application.state.settings, {})
    try:
        link = _link_ids(ws)[("doximity:drlee", "x:drlee")]
        assert ws.client(name="rita").post(f"/accounts/links/{link}", {"decision": "confirm", "version": "0"},
                                           headers=HX).status_code == 200
        assert [(d.author_a, d.decision) for d in read_link_decisions(target)] == [("doximity:drlee", "confirm")]
    finally:
        ws.db.dispose()



def test_a_run_without_links_says_so_and_gets_them_when_loaded_again(tmp_path: Path) -> None:
    from review.loader import load_run
    from review.schema import AuditEntry

    run = build_run(tmp_path / "run", with_links=False)
    ws = open_link_workspace(f"sqlite:///{tmp_path / 'review.db'}", run, None)
    try:
        assert ws.ids["load"].links == 0
        page = ws.client("reviewer").get("/accounts")
        assert page.status_code == 200 and "has no author links" in page.text
        write_author_tables(run)  # `occ authors resolve` ran on the folder afterwards
        again = load_run(ws.db, run, None, ws.settings, "tests", run / "none.txt")
        assert again.already_loaded and again.links == len(LINKS)
        assert load_run(ws.db, run, None, ws.settings, "tests", run / "none.txt").links == 0  # only once
        assert len(_page_order(ws.client("reviewer").get("/accounts").text)) == len(LINKS)
        with ws.db.reading() as session:
            assert session.execute(select(AuditEntry).where(AuditEntry.action == "run.load_links")).scalar_one()
    finally:
        ws.db.dispose()


def test_an_unwritable_decisions_file_saves_nothing(tmp_path: Path) -> None:
    from review.audit import verify
    from review.schema import AccountLinkDecision, AuditEntry

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the decisions folder should be", encoding="utf-8")
    ws = open_link_workspace(f"sqlite:///{tmp_path / 'review.db'}", build_run(tmp_path / "run"), blocker / "links.csv")
    try:
        link = _link_ids(ws)[("linkedin:jsmith", "x:jsmith")]
        answer = ws.client("reviewer").post(f"/accounts/links/{link}", {"decision": "confirm", "version": "0"},
                                            headers=HX)
        assert answer.status_code == 503 and "cannot be written" in answer.text and "nothing was saved" in answer.text
        with ws.db.reading() as session:
            assert session.execute(select(AccountLinkDecision)).first() is None
            assert session.execute(select(AuditEntry).where(AuditEntry.action == "link.decide")).first() is None
        assert verify(ws.db.engine).ok
    finally:
        ws.db.dispose()


def test_a_malformed_links_file_is_a_load_error_naming_it(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from review.db import Database
    from review.loader import LoadError, load_run
    from link_runs import link_settings

    run = build_run(tmp_path / "run")
    pq.write_table(pa.table({"a": ["x:1"], "b": ["y:1"]}), run / "author_links.parquet")
    db = Database(f"sqlite:///{tmp_path / 'review.db'}")
    try:
        with pytest.raises(LoadError, match="author_links.parquet lacks the column"):
            load_run(db, run, None, link_settings(None), "tests", run / "none.txt")
    finally:
        db.dispose()


def test_the_migration_creates_what_the_models_describe(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from review.db import Database
    from review.schema import Base

    db = Database(f"sqlite:///{tmp_path / 'review.db'}")
    try:
        with db.engine.connect() as connection:
            diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        db.dispose()
    ours = [d for d in diffs if any(name in repr(d) for name in ("author_links", "link_decisions"))]
    assert ours == []
