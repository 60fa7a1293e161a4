"""The database engine per app, sessions, and bringing the schema up to date."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from typing import Any, cast

from flask import Flask, current_app, g
from sqlalchemy import Engine, Table, create_engine, event, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapper, Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.dml import ReturningInsert

from .models import raise_versions

MIGRATIONS_DIR = os.path.join(os.path.dirname(__file__), "migrations")
VERSION_TABLE = "ua_alembic_version"

_upgrade_lock = threading.Lock()


class Storage:
    """One engine and session factory for one app."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        event.listen(self.sessions, "before_flush", raise_versions)
        self.ready = False

    def ensure_schema(self) -> None:
        """Create or migrate the schema once per process, on first use."""
        if self.ready:
            return
        with _upgrade_lock:
            if not self.ready:
                upgrade(self.engine)
                self.ready = True


def make_engine(url: str) -> Engine:
    options: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        options = {"connect_args": {"timeout": 30}}
    engine = create_engine(url, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # Cascades need foreign keys on; WAL lets pages read while the sender writes.
    cursor.execute("PRAGMA foreign_keys=ON")
    _use_wal(cursor)
    # In WAL, NORMAL syncs the log at checkpoints, not at every commit: a commit
    # is safe from a crash of the process, and the last ones before a power loss
    # may be lost (docs/performance.md). The busy timeout is connect_args' timeout.
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Deleted and overwritten content is zeroed in the file, so an erased address
    # cannot be read back from free pages (some builds have it on, not all; the
    # cost is a little extra writing on deletes, which are rare here).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _use_wal(cursor: Any) -> None:
    """Switch the file to WAL; once per file, a no-op after that.

    Processes opening a fresh file at the same moment (gunicorn's workers) can
    find it locked while one of them switches, and SQLite says so at once
    instead of waiting out the busy timeout.
    """
    for _ in range(100):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            time.sleep(0.05)
    cursor.execute("PRAGMA journal_mode=WAL")


def checkpoint(engine: Engine, wait_seconds: float = 2.0) -> bool:
    """On SQLite, move the write-ahead log into the database file and empty it, so
    pages from before an erasure are gone from disk too. False when another
    connection's read kept the log from being emptied for ``wait_seconds``."""
    if engine.dialect.name != "sqlite":
        return True
    with engine.connect() as connection:
        usual = connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one()
        # Not the connection's long wait for writers: a reader may take minutes.
        connection.exec_driver_sql(f"PRAGMA busy_timeout={int(wait_seconds * 1000)}")
        try:
            busy, _log_pages, _moved = connection.exec_driver_sql(
                "PRAGMA wal_checkpoint(TRUNCATE)"
            ).one()
        finally:
            connection.exec_driver_sql(f"PRAGMA busy_timeout={int(usual)}")
    return not busy


def default_url(app: Flask) -> str:
    os.makedirs(app.instance_path, exist_ok=True)
    return "sqlite:///" + os.path.join(app.instance_path, "urgentaction.sqlite3")


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", MIGRATIONS_DIR)
    config.set_main_option("version_table", VERSION_TABLE)
    return config


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        row = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).first()
        return str(row[0]) if row else None


def head_revision(engine: Engine) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the migrations up to ``revision`` (alembic is imported only when needed)."""
    if revision == "head" and current_revision(engine) == head_revision(engine):
        return
    from alembic import command

    config = alembic_config(engine)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Several nodes may start at once; one migrates, the others wait.
            connection.execute(text("SELECT pg_advisory_xact_lock(727274)"))
        elif connection.dialect.name == "sqlite":
            # The same for several worker processes on one file: the write lock
            # first, then the migrations in its transaction.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def get_storage() -> Storage:
    state = current_app.extensions["urgentaction"]
    storage: Storage = state.storage
    storage.ensure_schema()
    return storage


def get_session() -> Session:
    """The session for this app context, closed when the context ends."""
    session: Session | None = g.get("_urgentaction_session")
    if session is None:
        session = get_storage().sessions()
        g._urgentaction_session = session
    return session


def close_session(_exc: BaseException | None = None) -> None:
    session: Session | None = g.pop("_urgentaction_session", None)
    if session is not None:
        session.close()


def insert_new(
    session: Session, table: Table, key: str, rows: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Insert ``rows`` into ``table``; the rows inserted. A row whose unique ``key`` is
    taken, by an earlier transaction or one running now, is skipped, not an error."""
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        column = table.c[key]
        statement = insert(table).on_conflict_do_nothing(index_elements=[column])
        taken = set(session.scalars(statement.returning(column), rows))
        return [row for row in rows if row[key] in taken]
    # Another database: a row at a time, each in a savepoint that a taken key undoes.
    inserted = []
    for row in rows:
        try:
            with session.begin_nested():
                session.execute(table.insert(), row)
        except IntegrityError:
            continue
        inserted.append(row)
    return inserted


def insert_objects(session: Session, objects: Sequence[Any]) -> None:
    """INSERT new mapped objects of one class with one core statement; set their keys.

    Cheaper than the ORM's unit of work on a hot path: the objects never join the
    session (no identity map, no flush); they carry the values they were given and
    their keys. Columns left unset get their column defaults, as at a flush.
    """
    if not objects:
        return
    statement, columns, key = _insert_of(type(objects[0]))
    params = [{columns[name]: value for name, value in vars(obj).items() if name in columns}
              for obj in objects]  # fmt: skip
    keys = session.connection().execute(statement, params).scalars().all()
    for obj, new_key in zip(objects, keys, strict=True):
        set_committed_value(obj, key, new_key)


_Insert = tuple[ReturningInsert[Any], dict[str, str], str]
_inserts: dict[type, _Insert] = {}


def _insert_of(cls: type) -> _Insert:
    """A mapped class's INSERT ... RETURNING its key, its attributes' column names,
    and the key's attribute: built once per class."""
    found = _inserts.get(cls)
    if found is not None:
        return found
    mapper: Mapper[Any] = inspect(cls)
    table = cast("Table", mapper.local_table)
    (key,) = mapper.primary_key
    statement = table.insert().returning(key, sort_by_parameter_order=True)
    columns = {prop.key: prop.columns[0].key for prop in mapper.column_attrs}
    found = _inserts[cls] = (statement, columns, mapper.get_property_by_column(key).key)
    return found
