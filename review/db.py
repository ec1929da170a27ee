"""Opening the workspace database (SQLite file or PostgreSQL server) and bringing its schema up to date.

SQLite is the embedded default; a `postgresql://` URL makes the workspace a team server. Schema changes are
Alembic migrations (`review/migrations/`), applied when the workspace starts or a command opens the database,
so an older database is upgraded in place and keeps every decision.

SQLite under a multi-threaded server: WAL journal (readers never wait for the writer), a busy timeout, and
every transaction opened with `BEGIN IMMEDIATE` so two writers queue instead of failing when one tries to
upgrade a read lock (SQLAlchemy's documented recipe for pysqlite). Foreign keys are switched on.
The audit log refuses UPDATE and DELETE by trigger on both backends (`review.audit`).
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from common.errors import OccError

logger = logging.getLogger(__name__)

READONLY = "occ_readonly"
"""Execution option marking a read-only transaction (plain BEGIN on SQLite, READ ONLY on PostgreSQL)."""

DB_FILE = "review.db"
"""The embedded default lives beside the scored run: `<parent of --scored>/review.db`."""


class DatabaseError(OccError, RuntimeError):
    """The workspace database cannot be opened or upgraded; the message names it and the fix."""


def default_url(scored_dir: Path) -> str:
    return f"sqlite:///{(Path(scored_dir).resolve().parent / DB_FILE)}"


def resolve_url(db: str | None, scored_dir: Path | None) -> str:
    """`--db` if given, else the SQLite file beside `--scored`; one of the two is needed."""
    if db:
        return db if "://" in db else f"sqlite:///{Path(db).resolve()}"
    if scored_dir is not None:
        return default_url(scored_dir)
    raise DatabaseError("say which workspace database to use: --db URL (sqlite:///path/review.db or "
                        "postgresql://user@host/db), or --scored DIR for the SQLite file beside that scored run")


def make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(f"--db {url!r} is not a database URL ({exc}); use sqlite:///path or postgresql://...") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, pool_size=20,
                               max_overflow=20)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None  # let the "begin" event below open transactions
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection):  # type: ignore[no-untyped-def]
            # readers take no write lock (WAL lets them read while one writer writes); writers queue at BEGIN
            readonly = connection.get_execution_options().get(READONLY, False)
            connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_size=20, max_overflow=20, pool_pre_ping=True)
    raise DatabaseError(f"--db {url!r}: only SQLite and PostgreSQL databases are supported")


def upgrade(engine: Engine) -> None:
    """Apply every Alembic migration not yet applied (a new database gets the whole schema)."""
    alembic_logger = logging.getLogger("alembic")
    level = alembic_logger.level
    alembic_logger.setLevel(logging.WARNING)  # its per-plugin INFO lines say nothing to a user
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except Exception as exc:  # noqa: BLE001 - a driver's connection errors come as many types
        if "connect" in str(exc).lower() or "unable to open" in str(exc).lower():
            raise DatabaseError(f"cannot open the workspace database {engine.url.render_as_string(hide_password=True)}: "
                                f"{exc}") from exc
        raise
    finally:
        alembic_logger.setLevel(level)


class Database:
    """An engine with its schema up to date and a session factory; one per process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        upgrade(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        reader = self.engine.execution_options(**{READONLY: True})
        if self.engine.url.get_backend_name() == "postgresql":
            reader = reader.execution_options(postgresql_readonly=True)
        self.readers = sessionmaker(reader, expire_on_commit=False)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed when the block ends, rolled back on any exception."""
        with self.sessions() as session, session.begin():
            yield session

    @contextlib.contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only transaction: it never waits for a writer's lock, and writing in it is an error."""
        with self.readers() as session, session.begin():
            yield session

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    @property
    def backend(self) -> str:
        return self.engine.url.get_backend_name()

    def dispose(self) -> None:
        self.engine.dispose()
