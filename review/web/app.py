"""The review workspace as a FastAPI application: Jinja2 pages (autoescaped), htmx served from the package.

Routes are thin: a `Guard` decides who may call each one, a service module (`review.gaps`, `review.safety`,
`review.annotation`, `review.account_links`, `review.accounts`) does the work inside one database transaction,
and a page renders the result. A conflicting or invalid change renders the page again with the reason (409 / 422); nothing that
was acknowledged is lost, because the transaction commits before the response is sent.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from common.errors import OccError
from common.settings import Settings
from review import account_links, annotation, gaps, safety
from review.accounts import Identity, add_user, disable_user, list_users, login, logout
from review.audit import verify
from review.db import Database
from review.gaps import Conflict, Invalid, NotFound
from review.schema import (AE_CRITERIA, AE_DECISIONS, BACKLOG_STATUSES, DISMISS_REASONS, GAP_STATUSES, PRIORITIES,
                           ROLES, STUDY_TYPES, AuditEntry, Post, Run)
from review.web.security import (CSRF_FIELD, LOGIN_CSRF_COOKIE, SESSION_COOKIE, Forbidden, Guard, LoginRequired,
                                 cookie_options, current_identity, new_login_csrf, set_security_headers)

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
HOME = {"reviewer": "/gaps", "safety": "/safety", "annotator": "/annotate", "admin": "/gaps"}
REVIEWER = Guard("reviewer")
SAFETY = Guard("safety")
ANNOTATOR = Guard("annotator")
ADMIN = Guard("admin")
ANYONE = Guard()


def create_app(db: Database, settings: Settings) -> FastAPI:
    app = FastAPI(title="occ-insights review workspace", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.db = db
    app.state.settings = settings
    # autoescape for every template, whatever its file name (select_autoescape would skip `.j2`): post text is
    # untrusted input, and a post containing a script tag must render as text
    templates = Jinja2Templates(env=Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=True))
    templates.env.globals.update(csrf_field=CSRF_FIELD, roles=ROLES)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        identity = current_identity(request)
        return templates.TemplateResponse(request, name, {"me": identity, "home": HOME.get(identity.role) if identity else None,
                                                          **context}, status_code=status)

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        set_security_headers(response)
        return response

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, _: LoginRequired) -> Response:
        if request.method in ("GET", "HEAD"):
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        return HTMLResponse("Log in first.", status_code=401)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return page(request, "error.html.j2", 403, title="Not allowed", message=exc.message)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return page(request, "error.html.j2", 404, title="Not found", message=str(exc))

    # ---- accounts -------------------------------------------------------------------------------------------

    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/") -> Response:
        token = new_login_csrf()
        response = page(request, "login.html.j2", login_csrf=token, next=_safe_next(next))
        response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, **cookie_options(settings.review.secure_cookies))
        return response

    @app.post("/login")
    def login_submit(request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("/"),
                     csrf_token: str = Form("")) -> Response:
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
        if not cookie or not secrets.compare_digest(cookie, csrf_token):
            raise Forbidden("the login form expired; reload the page and try again")
        with db.transaction() as session:
            result = login(session, username.strip(), password, settings.review)
        if result is None:
            token = new_login_csrf()
            response = page(request, "login.html.j2", 401, login_csrf=token, next=_safe_next(next),
                            error="Wrong user name or password, or the account is locked or disabled.")
            response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, **cookie_options(settings.review.secure_cookies))
            return response
        token, identity = result
        target = _safe_next(next)
        response = RedirectResponse(target if target != "/" else HOME[identity.role], status_code=303)
        response.set_cookie(SESSION_COOKIE, token, max_age=int(settings.review.session_hours * 3600),
                            **cookie_options(settings.review.secure_cookies))
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
        return response

    @app.post("/logout")
    def logout_submit(request: Request, me: Identity = Depends(ANYONE)) -> Response:
        with db.transaction() as session:
            logout(session, request.cookies.get(SESSION_COOKIE), me)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.get("/")
    def index(request: Request) -> Response:
        identity = current_identity(request)
        return RedirectResponse(HOME[identity.role] if identity else "/login", status_code=303)

    # ---- gap board and detail (reviewers) ----------------------------------------------------------------------

    @app.get("/gaps", response_class=HTMLResponse)
    def gap_board(request: Request, product: str = "", topic: str = "", status: str = "",
                  me: Identity = Depends(REVIEWER)) -> Response:
        with db.reading() as session:
            run, rows = gaps.board(session, product or None, topic or None, status or None)
            products, topics = gaps.board_filters(session, run)
        return page(request, "gaps.html.j2", run=run, rows=rows, products=products, topics=topics,
                    chosen={"product": product, "topic": topic, "status": status}, statuses=GAP_STATUSES)

    def _gap_context(session: Any, gap_id: int, page_number: int) -> dict[str, Any]:
        found = gaps.gap(session, gap_id)
        posts, total = gaps.gap_posts(session, found, page_number, settings.review.page_size)
        decision = gaps.decision_for(session, found.product, found.topic)
        run = session.get(Run, found.run_id)
        corrections, versions = gaps.corrections_for_posts(session, [p.post_id for p in posts])
        pages = max(1, -(-total // settings.review.page_size))
        return {"gap": found, "posts": posts, "total": total, "page": page_number, "pages": pages,
                "decision": decision, "version": decision.version if decision else 0,
                "comments": gaps.comments(session, found.product, found.topic), "taxonomy": run.taxonomy,
                "corrections": corrections, "correction_versions": versions, "reasons": DISMISS_REASONS,
                "study_types": STUDY_TYPES, "priorities": PRIORITIES}

    @app.get("/gaps/{gap_id}", response_class=HTMLResponse)
    def gap_detail(request: Request, gap_id: int, page: int = 1, me: Identity = Depends(REVIEWER)) -> Response:
        with db.reading() as session:
            context = _gap_context(session, gap_id, max(1, page))
        template = "gap_posts.html.j2" if request.headers.get("hx-request") else "gap.html.j2"
        return page_(request, template, context)

    def page_(request: Request, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        return page(request, template, status, **context)

    def _gap_action(request: Request, gap_id: int, work: Any) -> Response:
        try:
            with db.transaction() as session:
                found = gaps.gap(session, gap_id)
                work(session, found)
        except (Conflict, Invalid) as exc:
            with db.reading() as session:
                context = _gap_context(session, gap_id, 1)
            return page_(request, "gap.html.j2", {**context, "error": str(exc)}, 409 if isinstance(exc, Conflict) else 422)
        return RedirectResponse(f"/gaps/{gap_id}?saved=1", status_code=303)

    @app.post("/gaps/{gap_id}/status")
    def gap_status(request: Request, gap_id: int, status: str = Form(...), version: int = Form(...),
                   reason: str = Form(""), detail: str = Form(""), me: Identity = Depends(REVIEWER)) -> Response:
        return _gap_action(request, gap_id, lambda s, g: gaps.set_status(s, me.name, g.product, g.topic, status, version,
                                                                        reason or None, detail))

    @app.post("/gaps/{gap_id}/backlog")
    def gap_backlog(request: Request, gap_id: int, study_type: str = Form(...), priority: str = Form(...),
                    owner: str = Form(""), due_date: str = Form(""), rationale: str = Form(""), version: int = Form(...),
                    me: Identity = Depends(REVIEWER)) -> Response:
        return _gap_action(request, gap_id, lambda s, g: gaps.add_to_backlog(s, me.name, g, study_type, priority, owner,
                                                                            due_date or None, rationale, version))

    @app.post("/gaps/{gap_id}/comments")
    def gap_comment(request: Request, gap_id: int, text: str = Form(""), me: Identity = Depends(REVIEWER)) -> Response:
        return _gap_action(request, gap_id, lambda s, g: gaps.add_comment(s, me.name, g.product, g.topic, text))

    @app.get("/posts/{post_id}/labels", response_class=HTMLResponse)
    def post_labels_form(request: Request, post_id: str, gap_id: int = 0, me: Identity = Depends(REVIEWER)) -> Response:
        """The correction form of one post, loaded when a reviewer opens "Labels are wrong" (keeps pages light)."""
        with db.reading() as session:
            post = session.execute(select(Post).where(Post.post_id == post_id).order_by(Post.id.desc()).limit(1)).scalar_one_or_none()
            if post is None:
                raise NotFound(f"no post {post_id!r}")
            taxonomy = session.get(Run, post.run_id).taxonomy
            corrections, versions = gaps.corrections_for_posts(session, [post_id])
        return page(request, "correction_form.html.j2", post=post, taxonomy=taxonomy, gap_id=gap_id,
                    corrections=corrections[post_id], version=versions[post_id])

    @app.post("/posts/{post_id}/labels")
    async def post_labels(request: Request, post_id: str, me: Identity = Depends(REVIEWER)) -> Response:
        form = await request.form()
        gap_id = int(str(form.get("gap_id") or 0))
        version = int(str(form.get("version") or 0))
        with db.reading() as session:
            post = session.execute(select(Post).where(Post.post_id == post_id).order_by(Post.id.desc()).limit(1)).scalar_one_or_none()
            if post is None:
                raise NotFound(f"no post {post_id!r}")
            taxonomy = session.get(Run, post.run_id).taxonomy
        chosen = {t["name"]: [str(v) for v in form.getlist(f"task:{t['name']}")] for t in taxonomy["tasks"]
                  if f"present:{t['name']}" in form}
        try:
            with db.transaction() as session:
                gaps.correct_labels(session, me.name, post_id, taxonomy, chosen, version)
        except (Conflict, Invalid) as exc:
            if gap_id:
                with db.reading() as session:
                    context = _gap_context(session, gap_id, 1)
                return page_(request, "gap.html.j2", {**context, "error": str(exc)}, 409 if isinstance(exc, Conflict) else 422)
            return page(request, "error.html.j2", 409, title="Not saved", message=str(exc))
        target = f"/gaps/{gap_id}?saved=1" if gap_id else "/gaps"
        return RedirectResponse(target, status_code=303)

    # ---- evidence backlog ----------------------------------------------------------------------------------------

    @app.get("/backlog", response_class=HTMLResponse)
    def backlog_page(request: Request, status: str = "", product: str = "", me: Identity = Depends(REVIEWER)) -> Response:
        with db.reading() as session:
            items = gaps.backlog(session, status or None, product or None)
        return page(request, "backlog.html.j2", items=items, statuses=BACKLOG_STATUSES, priorities=PRIORITIES,
                    chosen={"status": status, "product": product})

    @app.get("/backlog/export.{fmt}")
    def backlog_export(fmt: str, status: str = "", me: Identity = Depends(REVIEWER)) -> Response:
        if fmt not in ("csv", "json"):
            raise NotFound("export as .csv or .json")
        with db.reading() as session:
            body, media = gaps.backlog_export(gaps.backlog(session, status or None), fmt)
        return Response(body, media_type=media,
                        headers={"Content-Disposition": f'attachment; filename="evidence_backlog.{fmt}"'})

    @app.post("/backlog/{item_id}")
    def backlog_update(request: Request, item_id: int, version: int = Form(...), status: str = Form(""),
                       priority: str = Form(""), owner: str = Form(""), due_date: str = Form(""),
                       me: Identity = Depends(REVIEWER)) -> Response:
        try:
            with db.transaction() as session:
                gaps.update_backlog(session, me.name, item_id, version, status=status or None, priority=priority or None,
                                    owner=owner or None, due_date=due_date or None)
        except (Conflict, Invalid) as exc:
            with db.reading() as session:
                items = gaps.backlog(session)
            return page(request, "backlog.html.j2", 409 if isinstance(exc, Conflict) else 422, items=items,
                        statuses=BACKLOG_STATUSES, priorities=PRIORITIES, chosen={}, error=str(exc))
        return RedirectResponse("/backlog?saved=1", status_code=303)

    # ---- account links (reviewers: the people who decide gaps) ---------------------------------------------------

    decisions_file = Path(settings.authors.link_decisions) if settings.authors.link_decisions else None

    def _accounts_context(session: Any, page_number: int) -> dict[str, Any]:
        return {"listing": account_links.links_page(session, settings.authors.link_threshold, page_number),
                "threshold": settings.authors.link_threshold, "decisions_file": decisions_file}

    @app.get("/accounts", response_class=HTMLResponse)
    def accounts_page(request: Request, page_number: int = 1, me: Identity = Depends(REVIEWER)) -> Response:
        with db.reading() as session:
            context = _accounts_context(session, page_number)
        return page_(request, "accounts.html.j2", context)

    @app.post("/accounts/links/{link_id}")
    def account_link_decide(request: Request, link_id: int, decision: str = Form(""), version: int = Form(...),
                            me: Identity = Depends(REVIEWER)) -> Response:
        """Confirm or split one link. From htmx the answer is the link's row (its new state, or the state that
        won and why not saved: 409 conflict, 422 invalid, 503 decisions file); from a plain form, a redirect."""
        error: OccError | None = None
        try:
            with db.transaction() as session:
                account_links.decide(session, me.name, link_id, decision, version, decisions_file)
        except IntegrityError:  # PostgreSQL: two first decisions on one pair at once; the other one won
            error = Conflict("another reviewer decided this link at the same moment; nothing was overwritten: "
                             "their decision is shown now, decide again if you disagree")
        except (Conflict, Invalid, account_links.DecisionsFileError) as exc:
            error = exc
        status = (200 if error is None else 409 if isinstance(error, Conflict)
                  else 422 if isinstance(error, Invalid) else 503)
        if request.headers.get("hx-request"):
            with db.reading() as session:
                row = account_links.link_row(session, link_id)
            return page(request, "account_link_row.html.j2", status, row=row, row_error=str(error) if error else None,
                        row_saved=error is None)
        if error is None:
            return RedirectResponse("/accounts?saved=1", status_code=303)
        with db.reading() as session:
            context = _accounts_context(session, 1)
        return page_(request, "accounts.html.j2", {**context, "error": str(error)}, status)

    # ---- adverse-event queue (safety) -------------------------------------------------------------------------

    @app.get("/safety", response_class=HTMLResponse)
    def safety_queue(request: Request, decided: int = 0, page_number: int = 1, me: Identity = Depends(SAFETY)) -> Response:
        size = 100
        page_number = max(1, page_number)
        with db.reading() as session:
            items, total = safety.queue(session, bool(decided), limit=size, offset=(page_number - 1) * size)
            undecided = safety.queue(session, False, limit=1)[1] if decided else total
        return page(request, "safety.html.j2", items=items, total=total, undecided=undecided, decided=bool(decided),
                    criteria=AE_CRITERIA, decisions=AE_DECISIONS, page=page_number, pages=max(1, -(-total // size)))

    @app.post("/safety/{post_id}")
    async def safety_decide(request: Request, post_id: str, me: Identity = Depends(SAFETY)) -> Response:
        form = await request.form()
        criteria = {c: form.get(c) == "on" for c in AE_CRITERIA}
        try:
            with db.transaction() as session:
                safety.decide(session, me.name, post_id, criteria, str(form.get("decision") or ""),
                              str(form.get("note") or ""), int(str(form.get("version") or 0)))
        except (Conflict, Invalid) as exc:
            with db.reading() as session:
                items, total = safety.queue(session, False, limit=100)
            return page(request, "safety.html.j2", 409 if isinstance(exc, Conflict) else 422, items=items, total=total,
                        undecided=total, decided=False, criteria=AE_CRITERIA, decisions=AE_DECISIONS, error=str(exc),
                        page=1, pages=max(1, -(-total // 100)))
        return RedirectResponse("/safety?saved=1", status_code=303)

    @app.get("/safety/export.csv")
    def safety_export(me: Identity = Depends(SAFETY)) -> Response:
        with db.reading() as session:
            body = safety.export_valid_cases(session)
        return Response(body, media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="valid_cases.csv"'})

    # ---- annotation queue (annotators) ------------------------------------------------------------------------

    @app.get("/annotate", response_class=HTMLResponse)
    def annotate(request: Request, me: Identity = Depends(ANNOTATOR)) -> Response:
        with db.transaction() as session:
            post = annotation.next_post(session, me.name, settings.review)
            taxonomy = session.get(Run, post.run_id).taxonomy if post is not None else None
            done = annotation.progress(session, me.name)
        return page(request, "annotate.html.j2", post=post, taxonomy=taxonomy, progress=done,
                    suggestions=settings.review.show_model_suggestions)

    @app.post("/annotate/{post_id}")
    async def annotate_submit(request: Request, post_id: str, me: Identity = Depends(ANNOTATOR)) -> Response:
        form = await request.form()
        with db.reading() as session:
            post = session.execute(select(Post).where(Post.post_id == post_id).order_by(Post.id.desc()).limit(1)).scalar_one_or_none()
            if post is None:
                raise NotFound(f"no post {post_id!r}")
            taxonomy = session.get(Run, post.run_id).taxonomy
        chosen = {t["name"]: [str(v) for v in form.getlist(f"task:{t['name']}")] for t in taxonomy["tasks"]}
        try:
            with db.transaction() as session:
                if form.get("action") == "skip":
                    annotation.skip(session, me.name, post_id)
                else:
                    annotation.submit(session, me.name, post_id, chosen, taxonomy)
        except (Conflict, Invalid) as exc:
            with db.reading() as session:
                done = annotation.progress(session, me.name)
            return page(request, "annotate.html.j2", 409 if isinstance(exc, Conflict) else 422, post=post,
                        taxonomy=taxonomy, progress=done, suggestions=settings.review.show_model_suggestions,
                        error=str(exc))
        return RedirectResponse("/annotate", status_code=303)

    # ---- administration -------------------------------------------------------------------------------------

    @app.get("/admin/users", response_class=HTMLResponse)
    def users_page(request: Request, me: Identity = Depends(ADMIN)) -> Response:
        with db.reading() as session:
            users = list_users(session)
        return page(request, "users.html.j2", users=users)

    @app.post("/admin/users")
    def users_add(request: Request, name: str = Form(""), role: str = Form(""), password: str = Form(""),
                  me: Identity = Depends(ADMIN)) -> Response:
        try:
            with db.transaction() as session:
                add_user(session, name, role, password, me.name)
        except OccError as exc:
            with db.reading() as session:
                users = list_users(session)
            return page(request, "users.html.j2", 422, users=users, error=str(exc))
        return RedirectResponse("/admin/users?saved=1", status_code=303)

    @app.post("/admin/users/{name}/disable")
    def users_disable(request: Request, name: str, me: Identity = Depends(ADMIN)) -> Response:
        try:
            with db.transaction() as session:
                disable_user(session, name, me.name)
        except OccError as exc:
            with db.reading() as session:
                users = list_users(session)
            return page(request, "users.html.j2", 422, users=users, error=str(exc))
        return RedirectResponse("/admin/users?saved=1", status_code=303)

    @app.get("/admin/audit", response_class=HTMLResponse)
    def audit_page(request: Request, page_number: int = 1, me: Identity = Depends(ADMIN)) -> Response:
        size = 100
        with db.reading() as session:
            total = session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
            entries = session.execute(select(AuditEntry).order_by(AuditEntry.id.desc())
                                      .offset((max(1, page_number) - 1) * size).limit(size)).scalars().all()
        check = verify(db.engine)
        return page(request, "audit.html.j2", entries=entries, total=total, page=max(1, page_number),
                    pages=max(1, -(-total // size)), check=check)

    @app.get("/healthz")
    def health() -> dict[str, str]:
        db.ping()
        return {"status": "ok"}

    return app


def _safe_next(target: str) -> str:
    """Only same-site paths: a login link must not bounce anyone to another site."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
