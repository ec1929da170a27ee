"""The review workspace over HTTP (the real app, in process) against SQLite and a real PostgreSQL server:
logins and lockout, every route for every role with and without a CSRF token, optimistic conflicts, each
role's decisions, untrusted text, the audit chain, and loading next month's run without losing decisions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select, text

from workspace import PASSWORD, csv_rows, open_workspace

pytestmark = pytest.mark.slow


@pytest.fixture()
def ws(db_url: str, scored_run: dict):
    workspace = open_workspace(db_url, scored_run)
    yield workspace
    workspace.db.dispose()


# ---- accounts ----------------------------------------------------------------------------------------------------


def test_login_lockout_logout_and_cookie_flags(ws) -> None:
    client = ws.client()
    assert client.get("/gaps").headers["location"] == "/login?next=/gaps"
    wrong = client.login("rita", "not-the-password")
    assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
    ok = client.login("rita")
    assert ok.status_code == 303 and ok.headers["location"] == "/gaps"
    cookie = ok.headers["set-cookie"]
    assert "occ_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert client.get("/gaps").status_code == 200
    assert client.post("/logout").status_code == 303
    assert client.get("/gaps").status_code == 303  # the session is gone on the server, not just the cookie
    attacker = ws.client()
    for _ in range(ws.settings.review.max_failed_logins):
        attacker.login("sam", "guessing-wrong-1")
    locked = ws.client().login("sam")  # the right password during the lockout still fails
    assert locked.status_code == 401
    from review.schema import AuditEntry

    with ws.db.transaction() as session:
        actions = [a for (a,) in session.execute(select(AuditEntry.action).order_by(AuditEntry.id))]
    assert actions.count("login.failed") >= 6 and "login" in actions and "logout" in actions


def test_login_needs_its_own_csrf_and_next_cannot_leave_the_site(ws) -> None:
    client = ws.client()
    refused = client.http.post("/login", data={"username": "rita", "password": PASSWORD, "csrf_token": "forged"})
    assert refused.status_code == 403
    page = client.get("/login?next=//evil.example/x")
    assert 'name="next" value="/"' in page.text


# ---- authorization matrix ------------------------------------------------------------------------------------------

ROLES = (None, "reviewer", "safety", "annotator", "admin")


def routes(ws) -> list[tuple[str, str, set[str], dict]]:
    """(method, path, roles allowed, form) for every route of the app: the table the test walks."""
    gap, post = ws.ids["gap"], ws.ids["ae_post"]
    return [
        ("GET", "/gaps", {"reviewer", "admin"}, {}),
        ("GET", f"/gaps/{gap}", {"reviewer", "admin"}, {}),
        ("POST", f"/gaps/{gap}/status", {"reviewer", "admin"}, {"status": "confirmed", "version": "0"}),
        ("POST", f"/gaps/{gap}/backlog", {"reviewer", "admin"},
         {"study_type": "Phase IV", "priority": "high", "owner": "o", "rationale": "r", "version": "999"}),
        ("POST", f"/gaps/{gap}/comments", {"reviewer", "admin"}, {"text": "checked"}),
        ("GET", f"/posts/{post}/labels?gap_id={gap}", {"reviewer", "admin"}, {}),
        ("POST", f"/posts/{post}/labels", {"reviewer", "admin"}, {"version": "0", "gap_id": str(gap)}),
        ("GET", "/backlog", {"reviewer", "admin"}, {}),
        ("GET", "/backlog/export.csv", {"reviewer", "admin"}, {}),
        ("GET", "/backlog/export.json", {"reviewer", "admin"}, {}),
        ("POST", "/backlog/1", {"reviewer", "admin"}, {"version": "0", "status": "approved"}),
        ("GET", "/accounts", {"reviewer", "admin"}, {}),
        ("POST", "/accounts/links/1", {"reviewer", "admin"}, {"decision": "confirm", "version": "0"}),
        ("GET", "/safety", {"safety", "admin"}, {}),
        ("GET", "/safety/export.csv", {"safety", "admin"}, {}),
        ("POST", f"/safety/{post}", {"safety", "admin"}, {"decision": "needs follow-up", "version": "0"}),
        ("GET", "/annotate", {"annotator", "admin"}, {}),
        ("POST", f"/annotate/{post}", {"annotator", "admin"}, {"action": "skip"}),
        ("GET", "/admin/users", {"admin"}, {}),
        ("POST", "/admin/users", {"admin"}, {"name": "newbie", "role": "annotator", "password": "x"}),
        ("POST", "/admin/users/rob/disable", {"admin"}, {}),
        ("GET", "/admin/audit", {"admin"}, {}),
        ("POST", "/logout", {"reviewer", "safety", "annotator", "admin"}, {}),
    ]


def test_every_route_for_every_role_with_and_without_csrf(ws) -> None:
    table = routes(ws)
    exempt = {"/login", "/", "/healthz", "/static"}
    for route in ws.app.routes:
        if getattr(route, "path", None) in exempt or not getattr(route, "methods", None):
            continue
        for method in route.methods - {"HEAD"}:
            assert any(m == method and route.path_regex.match(p.split("?")[0]) for m, p, _, _ in table), \
                f"{method} {route.path} is missing from the authorization table"
    failures = []
    for role in ROLES:
        for with_csrf in (True, False):
            client = ws.client(role) if role else ws.client()
            for method, path, allowed, form in table:
                if method == "GET":
                    response = client.get(path)
                else:
                    response = client.post(path, form, csrf=with_csrf)
                status = response.status_code
                if role is None:
                    expected_ok = status == 303 and "/login" in response.headers.get("location", "") if method == "GET" \
                        else status == 401
                elif role not in allowed:
                    expected_ok = status == 403
                elif method == "POST" and not with_csrf:
                    expected_ok = status == 403
                else:
                    expected_ok = status not in (401, 403) and status < 500
                if not expected_ok:
                    failures.append(f"{role or 'nobody'} {'with' if with_csrf else 'without'} csrf: {method} {path} -> {status}")
                if path == "/logout" and status == 303:
                    client = ws.client(role)  # logged out: log in again for the rest of the table
    assert not failures, "\n".join(failures)


# ---- reviewers -----------------------------------------------------------------------------------------------------


def test_gap_decisions_backlog_comments_and_conflicts(ws) -> None:
    gap = ws.ids["gap"]
    rita, rob = ws.client("reviewer"), ws.client(name="rob")
    board = rita.get("/gaps")
    assert board.status_code == 200 and f'/gaps/{gap}' in board.text
    assert rita.post(f"/gaps/{gap}/status", {"status": "confirmed", "version": "0"}).status_code == 303
    stale = rob.post(f"/gaps/{gap}/status", {"status": "dismissed", "reason": "other", "detail": "n/a", "version": "0"})
    assert stale.status_code == 409 and "rita changed this gap" in stale.text
    no_reason = rob.post(f"/gaps/{gap}/status", {"status": "dismissed", "reason": "", "version": "1"})
    assert no_reason.status_code == 422
    backlog = rob.post(f"/gaps/{gap}/backlog", {"study_type": "RWE study", "priority": "high", "owner": "Dr. Owner",
                                               "due_date": "2027-03-31", "rationale": "Registry study", "version": "1"})
    assert backlog.status_code == 303
    page = rob.get(f"/gaps/{gap}")
    assert "on backlog" in page.text and "rob" in page.text
    assert rob.post(f"/gaps/{gap}/comments", {"text": "Discussed at the MSL meeting"}).status_code == 303
    assert "Discussed at the MSL meeting" in rob.get(f"/gaps/{gap}").text
    exported = csv_rows(rob.get("/backlog/export.csv").text)
    assert len(exported) == 1 and exported[0]["study_type"] == "RWE study" and exported[0]["posts"]
    item = exported[0]["id"]
    assert rob.post(f"/backlog/{item}", {"version": "0", "status": "approved"}).status_code == 303
    assert rita.post(f"/backlog/{item}", {"version": "0", "status": "declined"}).status_code == 409
    as_json = rob.get("/backlog/export.json").json()
    assert as_json[0]["status"] == "approved" and as_json[0]["example_post_ids"]


def test_gap_posts_are_paginated_on_the_server(ws) -> None:
    rita = ws.client("reviewer")
    page = rita.get(f"/gaps/{ws.ids['gap']}")
    total = int(re.search(r"Posts behind this gap \((\d+)\)", page.text).group(1))
    assert page.text.count('class="post"') == min(total, ws.settings.review.page_size)
    if total > ws.settings.review.page_size:
        partial = rita.get(f"/gaps/{ws.ids['gap']}?page=2", headers={"HX-Request": "true"})
        assert partial.status_code == 200 and "<html" not in partial.text and "page 2 of" in partial.text


def test_label_corrections_and_their_conflict(ws) -> None:
    from review.gaps import corrections_for

    from sqlalchemy import select

    from review.schema import Post

    rita, rob = ws.client("reviewer"), ws.client(name="rob")
    post, gap = ws.ids["ae_post"], ws.ids["gap"]
    with ws.db.transaction() as session:  # a correction must differ from what the model said, or it is no correction
        said = session.execute(select(Post.predictions).where(Post.post_id == post)).scalars().first()
    sentiment = next(label for label in ("negative", "neutral", "positive")
                     if [label] != said["sentiment"]["labels"])
    aspects = next(pair for pair in (["efficacy", "comparison"], ["access_cost"])
                   if sorted(pair) != sorted(said["perception"]["labels"]))
    other = next(label for label in ("positive", "neutral", "negative") if label != sentiment)
    form = {"version": "0", "gap_id": str(gap), "present:sentiment": "on", "task:sentiment": sentiment,
            "present:perception": "on", "task:perception": aspects}
    assert rita.post(f"/posts/{post}/labels", form).status_code == 303
    assert rob.post(f"/posts/{post}/labels", {**form, "task:sentiment": other}).status_code == 409
    with ws.db.transaction() as session:
        current = corrections_for(session, post)
    assert current["sentiment"].labels == [sentiment] and current["perception"].labels == aspects
    bad = rita.post(f"/posts/{post}/labels", {"version": str(current["perception"].id), "gap_id": str(gap),
                                              "present:sentiment": "on", "task:sentiment": "ecstatic"})
    assert bad.status_code == 422 and "ecstatic" in bad.text


# ---- safety --------------------------------------------------------------------------------------------------------


def test_adverse_event_queue_decisions_and_export(ws) -> None:
    sam = ws.client("safety")
    queue = sam.get("/safety")
    waiting = int(re.search(r"(\d+) post\(s\) waiting", queue.text).group(1))
    assert waiting > 0 and "waited" in queue.text
    post = ws.ids["ae_post"]
    partial = sam.post(f"/safety/{post}", {"decision": "valid case", "identifiable_patient": "on", "version": "0"})
    assert partial.status_code == 422 and "all four criteria" in partial.text
    full = {c: "on" for c in ("identifiable_patient", "identifiable_reporter", "suspect_product", "adverse_event")}
    assert sam.post(f"/safety/{post}", {**full, "decision": "valid case", "note": "=HYPERLINK(\"x\")", "version": "0"}).status_code == 303
    assert sam.post(f"/safety/{post}", {**full, "decision": "not an adverse event", "version": "0"}).status_code == 409
    after = int(re.search(r"(\d+) post\(s\) waiting", sam.get("/safety").text).group(1))
    assert after == waiting - 1  # decided posts leave the queue; undecided ones never do
    rows = csv_rows(sam.get("/safety/export.csv").text)
    assert [r["post_id"] for r in rows] == [post] and rows[0]["note"].startswith("'=")  # spreadsheet-safe


def test_untrusted_post_text_renders_as_text(ws) -> None:
    page = ws.client("safety").get("/safety?decided=0").text
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in page
    assert "<script>window.__xss" not in page and "onerror=\"window" not in page
    policy = ws.client("safety").get("/safety").headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy


# ---- annotators ----------------------------------------------------------------------------------------------------


def test_annotation_queue_is_blind_double_and_never_serves_the_test_split(ws) -> None:
    from review.schema import Annotation, Post

    with ws.db.transaction() as session:
        frozen = {p for (p,) in session.execute(select(Post.post_id).where(Post.in_test_split.is_(True)))}
        session.execute(text("UPDATE posts SET needs_annotators = 2 WHERE queue_rank = 1"))
        first = session.execute(select(Post.post_id).where(Post.queue_rank == 1)).scalar_one()
    ann1, ann2 = ws.client("annotator"), ws.client(name="ann2")
    page1 = ann1.get("/annotate")
    served1 = re.search(r'action="/annotate/([^"]+)"', page1.text).group(1)
    assert served1 == first  # most informative first
    assert ann1.get("/annotate").text.count(served1) >= 1  # reloading keeps the same post (held for ann1)
    page2 = ann2.get("/annotate")
    assert re.search(r'action="/annotate/([^"]+)"', page2.text).group(1) == first  # double-annotated: both get it
    labels = {"task:sentiment": "neutral", "task:adverse_event": "no", "task:perception": ["efficacy"]}
    assert ann1.post(f"/annotate/{first}", labels).status_code == 303
    assert " checked" not in ann2.get("/annotate").text  # blind: nothing pre-filled from ann1 or the model
    assert ann2.post(f"/annotate/{first}", {**labels, "task:sentiment": "positive"}).status_code == 303
    missing = ann1.post(f"/annotate/{first}", labels)
    assert missing.status_code == 409  # already labeled by ann1
    not_served = ann2.post("/annotate/some-other-post", labels)
    assert not_served.status_code == 404
    served = set()
    for _ in range(6):
        page = ann1.get("/annotate")
        post = re.search(r'action="/annotate/([^"]+)"', page.text).group(1)
        served.add(post)
        assert ann1.post(f"/annotate/{post}", {"action": "skip"}).status_code == 303
    assert not served & frozen
    with ws.db.transaction() as session:
        rows = session.execute(select(Annotation.annotator, Annotation.task, Annotation.labels)
                               .where(Annotation.post_id == first)).all()
    assert {(a, t) for a, t, _ in rows} >= {("ann1", "sentiment"), ("ann2", "sentiment")}


# ---- audit ---------------------------------------------------------------------------------------------------------


def test_audit_chain_detects_an_edited_and_a_deleted_row(ws, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from occ import app
    from review.audit import verify

    rita = ws.client("reviewer")
    rita.post(f"/gaps/{ws.ids['gap']}/comments", {"text": "one"})
    rita.post(f"/gaps/{ws.ids['gap']}/comments", {"text": "two"})
    assert verify(ws.db.engine).ok
    url = str(ws.db.engine.url.render_as_string(hide_password=False))
    url = url.replace("postgresql+psycopg://", "postgresql://")
    assert CliRunner().invoke(app, ["review", "verify-audit", "--db", url]).exit_code == 0
    with ws.db.engine.begin() as connection:  # the workspace itself cannot change audit rows ...
        with pytest.raises(Exception, match="append-only"):
            connection.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE id = 3"))
    _drop_guard(ws)  # ... someone with direct database access can: the chain must show it
    with ws.db.engine.begin() as connection:
        connection.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE id = 3"))
    edited = verify(ws.db.engine)
    assert not edited.ok and edited.first_broken == 3 and "edited" in edited.problem
    done = CliRunner().invoke(app, ["review", "verify-audit", "--db", url])
    assert done.exit_code == 1 and "BROKEN at row 3" in done.output
    with ws.db.engine.begin() as connection:
        connection.execute(text("UPDATE audit_log SET actor = (SELECT actor FROM audit_log WHERE id = 2) WHERE id = 3"))
    fresh = verify(ws.db.engine)
    with ws.db.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE id = 5"))
    deleted = verify(ws.db.engine)
    assert not deleted.ok and deleted.first_broken == 5 and "deleted" in deleted.problem
    with ws.db.engine.begin() as connection:
        last = connection.execute(text("SELECT max(id) FROM audit_log")).scalar_one()
        connection.execute(text(f"DELETE FROM audit_log WHERE id >= {last - 1}"))
    tail = verify(ws.db.engine)
    assert not tail.ok and "deleted" in tail.problem
    del fresh


def _drop_guard(ws) -> None:
    with ws.db.engine.begin() as connection:
        if ws.db.backend == "sqlite":
            connection.execute(text("DROP TRIGGER audit_log_no_update"))
            connection.execute(text("DROP TRIGGER audit_log_no_delete"))
        else:
            connection.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))


def test_the_admin_sees_the_audit_log_and_manages_users(ws) -> None:
    ada = ws.client("admin")
    page = ada.get("/admin/audit")
    assert page.status_code == 200 and "audit log intact" in page.text and "run.load" in page.text
    assert ada.post("/admin/users", {"name": "newbie", "role": "annotator", "password": "long-enough-pw"}).status_code == 303
    weak = ada.post("/admin/users", {"name": "weak", "role": "annotator", "password": "short"})
    assert weak.status_code == 422 and "at least 10" in weak.text
    assert ada.post("/admin/users/newbie/disable").status_code == 303
    assert ws.client().login("newbie", "long-enough-pw").status_code == 401


# ---- runs ------------------------------------------------------------------------------------------------------------


def test_loading_next_months_run_keeps_every_decision(ws, tmp_path: Path) -> None:
    import shutil

    from review.loader import load_run
    from review.schema import GapDecision, Run

    rita = ws.client("reviewer")
    assert rita.post(f"/gaps/{ws.ids['gap']}/status", {"status": "confirmed", "version": "0"}).status_code == 303
    copy = tmp_path / "next_month"
    shutil.copytree(ws.scored["scored"], copy)
    manifest = copy / "_manifest.json"
    manifest.write_text(manifest.read_text().replace('"complete": true', '"complete": true, "note": "next month"'))
    again = load_run(ws.db, ws.scored["scored"], ws.scored["report"], ws.settings, "tests")
    assert again.already_loaded
    loaded = load_run(ws.db, copy, ws.scored["report"], ws.settings, "tests")
    assert not loaded.already_loaded
    with ws.db.transaction() as session:
        runs = session.execute(select(Run)).scalars().all()
        decision = session.execute(select(GapDecision)).scalars().one()
    assert len(runs) == 2 and decision.status == "confirmed" and decision.updated_by == "rita"
    board = rita.get("/gaps").text
    assert "confirmed" in board  # the new run's board shows the earlier decision
