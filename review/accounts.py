"""Accounts, roles, logins and sessions (OWASP ASVS V2/V3): argon2id hashes, lockout after repeated failures,
random session tokens stored only as hashes, one CSRF token per session.

Every change here is audited: user added, disabled, password set, login, failed login, lockout, logout.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session as DbSession

from common.errors import OccError
from common.settings import ReviewSettings
from review.audit import record, utcnow
from review.schema import ROLES, Session, User

HASHER = PasswordHasher()  # argon2id with the library's current defaults (RFC 9106 second recommendation)
MIN_PASSWORD = 10
_DUMMY_HASH = HASHER.hash("not-a-real-password")
"""Verified against when the user does not exist, so a login takes as long whether the name exists or not."""


class AccountError(OccError, ValueError):
    """An account operation is not possible; the message says why."""


@dataclass(frozen=True)
class Identity:
    """Who is calling: what every request handler receives."""

    user_id: int
    name: str
    role: str
    csrf_token: str

    def may(self, *roles: str) -> bool:
        return self.role == "admin" or self.role in roles


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"passwords need at least {MIN_PASSWORD} characters")


def add_user(session: DbSession, name: str, role: str, password: str, actor: str) -> User:
    name = name.strip()
    if not name or len(name) > 80 or any(c.isspace() for c in name):
        raise AccountError("user names are 1-80 characters without spaces")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    check_password(password)
    if session.execute(select(User).where(User.name == name)).scalar_one_or_none() is not None:
        raise AccountError(f"user {name!r} already exists")
    user = User(name=name, role=role, password_hash=HASHER.hash(password), active=True, failed_logins=0,
                created_at=utcnow())
    session.add(user)
    session.flush()
    record(session, actor, "user.add", "user", name, None, {"role": role, "active": True})
    return user


def set_password(session: DbSession, name: str, password: str, actor: str) -> None:
    user = _user(session, name)
    check_password(password)
    user.password_hash = HASHER.hash(password)
    user.failed_logins, user.locked_until = 0, None
    session.execute(delete(Session).where(Session.user_id == user.id))  # every old login ends
    record(session, actor, "user.set_password", "user", name, None, {"password": "changed"})


def disable_user(session: DbSession, name: str, actor: str) -> None:
    user = _user(session, name)
    if not user.active:
        raise AccountError(f"user {name!r} is already disabled")
    user.active = False
    session.execute(delete(Session).where(Session.user_id == user.id))
    record(session, actor, "user.disable", "user", name, {"active": True}, {"active": False})


def list_users(session: DbSession) -> list[User]:
    return list(session.execute(select(User).order_by(User.name)).scalars())


def _user(session: DbSession, name: str) -> User:
    user = session.execute(select(User).where(User.name == name)).scalar_one_or_none()
    if user is None:
        raise AccountError(f"no user {name!r}; `occ users list` shows who exists")
    return user


def login(session: DbSession, name: str, password: str, settings: ReviewSettings) -> tuple[str, Identity] | None:
    """A new session token and identity, or None (failed login, audited; lockout after repeated failures)."""
    user = session.execute(select(User).where(User.name == name)).scalar_one_or_none()
    now = utcnow()
    if user is None:
        try:
            HASHER.verify(_DUMMY_HASH, password)
        except VerificationError:
            pass
        record(session, name[:80] or "?", "login.failed", "user", name[:80], None, {"reason": "unknown user"})
        return None
    locked_until = _aware(user.locked_until)
    if not user.active or (locked_until is not None and locked_until > now):
        record(session, user.name, "login.failed", "user", user.name, None,
               {"reason": "disabled" if not user.active else "locked"})
        return None
    try:
        HASHER.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        user.failed_logins += 1
        after = {"reason": "wrong password", "failed_logins": user.failed_logins}
        if user.failed_logins >= settings.max_failed_logins:
            user.locked_until = now + timedelta(minutes=settings.lockout_minutes)
            user.failed_logins = 0
            after["locked_until"] = user.locked_until.isoformat()
        record(session, user.name, "login.failed", "user", user.name, None, after)
        return None
    if HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = HASHER.hash(password)
    user.failed_logins, user.locked_until = 0, None
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.execute(delete(Session).where(Session.expires_at < now))  # expired logins of anyone: gone
    session.add(Session(token_hash=token_hash(token), user_id=user.id, csrf_token=csrf, created_at=now,
                        expires_at=now + timedelta(hours=settings.session_hours)))
    record(session, user.name, "login", "user", user.name)
    return token, Identity(user.id, user.name, user.role, csrf)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def identify(session: DbSession, token: str | None, settings: ReviewSettings) -> tuple[Identity | None, bool]:
    """The identity behind a session cookie (None if not logged in or expired), and whether the session's
    expiry should be pushed back now (sliding expiry, at most every few minutes). Reads only."""
    if not token:
        return None, False
    found = session.execute(select(Session, User).join(User, User.id == Session.user_id)
                            .where(Session.token_hash == token_hash(token))).first()
    if found is None:
        return None, False
    login_session, user = found
    now = utcnow()
    expires = _aware(login_session.expires_at)
    if expires <= now or not user.active:
        return None, False
    extend = (expires - now) < timedelta(hours=settings.session_hours) - timedelta(minutes=5)
    return Identity(user.id, user.name, user.role, login_session.csrf_token), extend


def extend_session(session: DbSession, token: str | None, settings: ReviewSettings) -> None:
    if token:
        found = session.get(Session, token_hash(token))
        if found is not None:
            found.expires_at = utcnow() + timedelta(hours=settings.session_hours)


def logout(session: DbSession, token: str | None, identity: Identity) -> None:
    if token:
        session.execute(delete(Session).where(Session.token_hash == token_hash(token)))
    record(session, identity.name, "logout", "user", identity.name)
