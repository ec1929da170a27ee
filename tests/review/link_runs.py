"""A small scored run folder with the author pass's tables, written here with the real schemas
(`labeling.authors.resolve`), and a workspace loaded from it: what the Accounts page tests share."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from workspace import ACCOUNTS, PASSWORD, Workspace

THRESHOLD = 0.9
XSS_REASON = "same name key only <script>window.__xss = 1</script>"

# (author_a, author_b, confidence, reason, linked, decision); at threshold 0.9 the page order is the list order
LINKS = [
    ("linkedin:jsmith", "x:jsmith", 0.97, "same handle jsmith; same type, specialty", True, None),     # |d| 0.07
    ("doximity:drlee", "x:drlee", 0.75, "same handle drlee only", False, None),                         # 0.15
    ("linkedin:amy", "x:amy_md", 0.6, XSS_REASON, False, None),                                          # 0.30
    ("reddit:pharmaco", "x:pharmaco", 0.4, "same handle pharmaco but specialties differ", False, None),  # 0.50
    ("doximity:kim", "x:kim", 0.99, "bio links x:kim", True, "confirm"),                                # decided
    ("linkedin:zed", "x:zed", None, "reviewer", False, "split"),                                        # reviewer
]

AUTHORS = {
    "linkedin:jsmith": ("physician", "cardiology", ["linkedin"]), "x:jsmith": ("physician", "cardiology", ["x"]),
    "doximity:drlee": ("physician", "oncology", ["doximity"]), "x:drlee": ("unknown", None, ["x"]),
    "linkedin:amy": ("other_clinician", None, ["linkedin"]), "x:amy_md": ("other_clinician", None, ["x"]),
    "reddit:pharmaco": ("patient_caregiver", None, ["reddit"]), "x:pharmaco": ("industry", None, ["x"]),
    "doximity:kim": ("physician", "endocrinology", ["doximity"]), "x:kim": ("physician", "endocrinology", ["x"]),
    "linkedin:zed": ("media_org", None, ["linkedin"]), "x:zed": ("media_org", None, ["x"]),
}

TAXONOMY = {"version": "links-test-1", "tasks": [
    {"name": "sentiment", "kind": "single", "description": "Tone.", "labels": [
        {"name": "negative", "description": "Bad."}, {"name": "positive", "description": "Good."}]}]}


def build_run(folder: Path, with_links: bool = True, note: str = "") -> Path:
    """A complete scored run (manifest, one part) and, with `with_links`, `authors.parquet` and
    `author_links.parquet` as the author pass writes them."""
    (folder / "scores").mkdir(parents=True, exist_ok=True)
    authors = sorted(AUTHORS)
    posts = pa.table({"post_id": [f"p{i}" for i in range(len(authors))],
                      "text": [f"post by {a}" for a in authors], "author_id": authors,
                      "platform": [a.split(":")[0] for a in authors],
                      "created_at": pa.array([1_780_000_000_000_000 + i for i in range(len(authors))],
                                             pa.timestamp("us", tz="UTC"))})
    pq.write_table(posts, folder / "scores" / "part-000000.parquet")
    manifest = {"complete": True, "taxonomy": TAXONOMY, "thresholds": {}, "model": {"uri": "models:/links-test/1"},
                "note": note}
    (folder / "_manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    if with_links:
        write_author_tables(folder)
    return folder


def write_author_tables(folder: Path) -> None:
    from labeling.authors.resolve import AUTHORS_FILE, AUTHORS_SCHEMA, LINKS_FILE, LINKS_SCHEMA

    rows = [{"author_id": a, "person_id": f"p_{a.split(':')[1]}", "author_type": kind, "type_confidence": 0.8,
             "type_evidence": "test", "specialty": specialty, "specialty_confidence": 0.7 if specialty else None,
             "specialty_evidence": "test" if specialty else None,
             "is_clinician": kind in ("physician", "other_clinician"),
             "platforms": platforms, "posts": 1} for a, (kind, specialty, platforms) in sorted(AUTHORS.items())]
    pq.write_table(pa.Table.from_pylist(rows, schema=AUTHORS_SCHEMA), folder / AUTHORS_FILE)
    links = [{"author_a": a, "author_b": b, "confidence": c, "reason": r, "linked": linked, "decision": d}
             for a, b, c, r, linked, d in LINKS]
    pq.write_table(pa.Table.from_pylist(links, schema=LINKS_SCHEMA), folder / LINKS_FILE)


def link_settings(decisions: Path | None) -> Any:
    from helpers import settings

    return settings(authors={"link_threshold": THRESHOLD, "link_decisions": str(decisions) if decisions else None})


def open_link_workspace(db_url: str, run: Path, decisions: Path | None) -> Workspace:
    """The run loaded into a new database, one account per role plus a second reviewer (rob), and the app."""
    from review.accounts import add_user
    from review.db import Database
    from review.loader import load_run
    from review.web.app import create_app

    chosen = link_settings(decisions)
    db = Database(db_url)
    result = load_run(db, run, None, chosen, "tests", run / "no-frozen-ids.txt")
    with db.transaction() as session:
        for role, name in ACCOUNTS.items():
            add_user(session, name, role, PASSWORD, "tests")
        add_user(session, "rob", "reviewer", PASSWORD, "tests")
    return Workspace(db, create_app(db, chosen), chosen, {"scored": run}, {"load": result})


def db_cli_url(db: Any) -> str:
    """The database URL as `occ ... --db` takes it."""
    return db.engine.url.render_as_string(hide_password=False).replace("postgresql+psycopg://", "postgresql://")
