"""Who may call what: the session cookie, role checks on the server for every route, CSRF tokens, headers.

Hiding a button is not access control: every route declares its roles through `Guard` and the request is
refused (403) before the handler runs when the caller's role is not among them; nobody logged in is sent to
the login page. Every state-changing request must carry the session's CSRF token (form field or
`X-CSRF-Token` header); the login form, which has no session yet, uses a double-submit cookie instead.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from fastapi import Request
from starlette.responses import Response

from review.accounts import Identity, extend_session, identify

SESSION_COOKIE = "occ_session"
LOGIN_CSRF_COOKIE = "occ_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
                           "object-src 'none'")


class LoginRequired(Exception):
    """Nobody is logged in: GETs are redirected to the login page, other methods get 401."""


class Forbidden(Exception):
    """Logged in, but this role may not do this (or the CSRF token is missing or wrong)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def current_identity(request: Request) -> Identity | None:
    cached = getattr(request.state, "identity", "unset")
    if cached != "unset":
        return cached
    app = request.app
    token = request.cookies.get(SESSION_COOKIE)
    with app.state.db.reading() as session:
        found, extend = identify(session, token, app.state.settings.review)
    if extend:  # sliding expiry, written at most every few minutes so most requests take no write lock
        with app.state.db.transaction() as session:
            extend_session(session, token, app.state.settings.review)
    request.state.identity = found
    return found


class Guard:
    """A FastAPI dependency: the caller must be logged in with one of `roles` (admin may do everything)."""

    def __init__(self, *roles: str) -> None:
        self.roles = roles

    async def __call__(self, request: Request) -> Identity:
        identity = current_identity(request)
        if identity is None:
            raise LoginRequired()
        if self.roles and not identity.may(*self.roles):
            raise Forbidden(f"your role ({identity.role}) may not open this page")
        if request.method not in ("GET", "HEAD"):
            await check_csrf(request, identity.csrf_token)
        return identity


async def check_csrf(request: Request, expected: str) -> None:
    supplied = request.headers.get(CSRF_HEADER)
    if supplied is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        supplied = value if isinstance(value, str) else None
    if not supplied or not hmac.compare_digest(supplied, expected):
        raise Forbidden("the form's security token is missing or out of date; reload the page and try again")


def new_login_csrf() -> str:
    return secrets.token_urlsafe(32)


def set_security_headers(response: Response) -> None:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")


def cookie_options(secure: bool) -> dict[str, Any]:
    return {"httponly": True, "samesite": "lax", "secure": secure, "path": "/"}
