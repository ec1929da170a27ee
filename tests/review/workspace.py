"""A loaded workspace for tests: the database, the app, one account per role, and a logged-in client helper."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Iterator

from sqlalchemy import select
from starlette.testclient import TestClient

PASSWORD = "correct-horse-battery"
ACCOUNTS = {"reviewer": "rita", "safety": "sam", "annotator": "ann1", "admin": "ada"}


@dataclass
class Workspace:
    db: Any
    app: Any
    settings: Any
    scored: dict
    ids: dict[str, Any] = field(default_factory=dict)

    def client(self, role: str | None = None, name: str | None = None) -> "Client":
        client = Client(TestClient(self.app, follow_redirects=False))
        if role is not None or name is not None:
            client.login(name or ACCOUNTS[role])
        return client


class Client:
    """A browser-like client: keeps cookies, knows its CSRF token after login."""

    def __init__(self, http: TestClient) -> None:
        self.http = http
        self.csrf: str | None = None

    def login(self, name: str, password: str = PASSWORD) -> Any:
        page = self.http.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        response = self.http.post("/login", data={"username": name, "password": password, "next": "/",
                                                  "csrf_token": token})
        if response.status_code == 303:
            home = self.http.get(response.headers["location"])
            found = re.search(r'data-csrf="([^"]+)"', home.text)
            self.csrf = found.group(1) if found else None
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.http.get(path, **kwargs)

    def post(self, path: str, data: dict | None = None, csrf: bool = True, **kwargs: Any) -> Any:
        body = dict(data or {})
        if csrf and self.csrf:
            body["csrf_token"] = self.csrf
        return self.http.post(path, data=body, **kwargs)


def open_workspace(db_url: str, scored: dict, settings: Any = None) -> Workspace:
    from helpers import settings as test_settings
    from review.accounts import add_user
    from review.db import Database
    from review.loader import load_run
    from review.schema import Gap, Post, Run
    from review.web.app import create_app

    settings = settings or test_settings()
    db = Database(db_url)
    load_run(db, scored["scored"], scored["report"], settings, "tests", scored["frozen"])
    with db.transaction() as session:
        for role, name in ACCOUNTS.items():
            add_user(session, name, role, PASSWORD, "tests")
        add_user(session, "ann2", "annotator", PASSWORD, "tests")
        add_user(session, "rob", "reviewer", PASSWORD, "tests")
        run = session.execute(select(Run)).scalars().first()
        gap = session.execute(select(Gap).where(Gap.rank == 1, Gap.period == run.rank_period)).scalars().one()
        ae = session.execute(select(Post).where(Post.ae_flagged.is_(True)).order_by(Post.id)).scalars().first()
        xss = session.execute(select(Post).where(Post.post_id == "xss-1")).scalar_one_or_none()
        if xss is not None:  # the tests' own run has one: make sure the untrusted text is first in the AE queue
            from datetime import datetime, timezone

            xss.ae_flagged = True
            xss.created_at = datetime(2025, 1, 1, tzinfo=timezone.utc)
    workspace = Workspace(db, create_app(db, settings), settings, scored,
                          {"gap": gap.id, "gap_key": (gap.product, gap.topic), "ae_post": ae.post_id})
    return workspace


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(ws: Any) -> Iterator[str]:
    """The workspace's app under a real uvicorn on 127.0.0.1 (a free port), for the browser; yields the base URL."""
    import threading
    import time

    import uvicorn

    instance = uvicorn.Server(uvicorn.Config(ws.app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not instance.started and time.time() < deadline:
        time.sleep(0.05)
    assert instance.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{instance.config.port}"
    finally:
        instance.should_exit = True
        thread.join(timeout=10)
        ws.db.dispose()


def csv_rows(text: str) -> list[dict[str, str]]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(text)))


def tmp_file(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
