"""The PostgreSQL path: migrations, a whole action, and several senders on one outbox."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import event, func, inspect, select, text

from flask_urgentaction import outbox
from flask_urgentaction.models import Base, OutboxMessage, Subscriber
from flask_urgentaction.storage import (
    VERSION_TABLE,
    Storage,
    get_session,
    get_storage,
    head_revision,
)

from .conftest import Mailbox, form_data, make_app, migrate

pytestmark = pytest.mark.postgresql


@pytest.fixture
def database_url(postgres_url: str) -> Iterator[str]:
    """A database of its own for one test, dropped afterwards."""
    name = f"ua_test_{uuid.uuid4().hex[:12]}"
    server = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield postgres_url.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def pg_app(tmp_path: Path, mailbox: Mailbox, database_url: str) -> Iterator[Flask]:
    app = make_app(tmp_path, mailbox, URGENTACTION_DATABASE_URL=database_url)
    with app.app_context():
        yield app
    app.extensions["urgentaction"].storage.engine.dispose()


def cli(app: Flask, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=["urgentaction", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_whole_path_on_postgresql_from_an_empty_database_to_mail(
    pg_app: Flask, mailbox: Mailbox, campaign_file: Path
) -> None:
    engine = pg_app.extensions["urgentaction"].storage.engine
    assert engine.dialect.name == "postgresql"
    assert inspect(engine).get_table_names() == []

    # First use migrates the schema.
    assert "created example-mine-strike" in cli(pg_app, "campaigns", "load", str(campaign_file))
    with engine.connect() as connection:
        version = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    assert version == head_revision(engine)

    client = pg_app.test_client()
    page = client.post("/actions/example-mine-strike", data=form_data(client, opt_in="y"))
    assert page.status_code == 303
    target = [m for rcpt, m in mailbox.received if "ceo@mining.example" in rcpt]
    assert len(target) == 1
    assert target[0]["Reply-To"].addresses[0].addr_spec == "ana@example.org"

    (confirmation,) = mailbox.to("ana@example.org")
    part = confirmation.get_body(preferencelist=("plain",))
    assert part is not None
    link = re.search(r"http://actions\.test(/actions/confirm/\S+)", str(part.get_content()))  # type: ignore[attr-defined]
    assert link
    assert client.post(link.group(1)).status_code == 200
    assert "queued 1 alerts" in cli(pg_app, "alert", "example-mine-strike")
    assert len(mailbox.to("ana@example.org")) == 2

    with pg_app.extensions["urgentaction"].storage.sessions() as session:
        statuses = session.scalars(select(OutboxMessage.status)).all()
        subscriber = session.scalars(select(Subscriber)).one()
    # One message to each of the two targets, the confirmation, the alert.
    assert statuses == ["sent"] * 4
    assert subscriber.status == "confirmed"
    assert subscriber.confirmed_at is not None and subscriber.confirmed_at.tzinfo is not None
    assert "example-mine-strike\tlive\t1\t" in cli(pg_app, "campaigns", "list")


def queue_rows(count: int) -> list[OutboxMessage]:
    session = get_session()
    rows = [
        OutboxMessage(
            kind="target",
            message_id=make_msgid(domain="network.example"),
            sender=["Example Network", "actions@network.example"],
            recipient_name="Example Mining Company",
            recipient="ceo@mining.example",
            subject=f"Message {number}",
            text_body=f"Message {number}",
            headers={},
        )
        for number in range(count)
    ]
    session.add_all(rows)
    session.commit()
    return rows


def test_two_workers_draining_one_outbox_send_each_row_exactly_once(
    pg_app: Flask, mailbox: Mailbox
) -> None:
    rows = queue_rows(50)
    engine = get_storage().engine
    # Force the worst interleaving once: both workers look for due rows at the
    # same time, and "b" only claims after "a" has.
    b_picked, a_claimed = threading.Event(), threading.Event()
    local = threading.local()

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        role = getattr(local, "role", None)
        if role and not local.waited and statement.lstrip().startswith("UPDATE ua_outbox"):
            local.waited = True
            if role == "a":
                assert b_picked.wait(10)
            else:
                b_picked.set()
                assert a_claimed.wait(10)

    def after(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        role = getattr(local, "role", None)
        if role and statement.lstrip().startswith("UPDATE ua_outbox"):
            first_claims.setdefault(role, cursor.rowcount)
        if role == "a" and "ua_outbox.claimed_by =" in statement:
            a_claimed.set()

    sent: dict[str, list[int]] = {}
    first_claims: dict[str, int] = {}
    errors: list[BaseException] = []

    def worker(role: str) -> None:
        local.role, local.waited = role, False
        try:
            with pg_app.app_context():
                mine: list[int] = []
                for _ in range(100):
                    report = outbox.deliver(limit=5)
                    mine += report.sent
                    left = get_session().scalar(
                        select(func.count()).where(OutboxMessage.status != "sent")
                    )
                    if not left:
                        break
                sent[role] = mine
        except BaseException as exc:
            errors.append(exc)

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        threads = [threading.Thread(target=worker, args=(role,)) for role in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    assert errors == []

    # FOR UPDATE SKIP LOCKED: "b" looked while "a" held its rows, so it took five
    # others instead of the same five (which its compare-and-set would then miss).
    assert first_claims == {"a": 5, "b": 5}
    assert len(mailbox.messages) == 50
    message_ids = [str(m["Message-ID"]) for m in mailbox.messages]
    assert len(set(message_ids)) == 50
    assert set(message_ids) == {row.message_id for row in rows}
    assert sorted(sent["a"] + sent["b"]) == sorted(row.id for row in rows)
    with pg_app.extensions["urgentaction"].storage.sessions() as session:
        assert set(session.scalars(select(OutboxMessage.status))) == {"sent"}
        assert set(session.scalars(select(OutboxMessage.attempts))) == {1}


def test_alembic_schema_matches_the_models_on_postgresql(pg_app: Flask) -> None:
    engine = get_storage().engine
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
    tables = set(inspect(engine).get_table_names())
    assert tables == set(Base.metadata.tables) | {VERSION_TABLE}


def test_nodes_starting_together_migrate_once(database_url: str) -> None:
    storages = [Storage(database_url) for _ in range(3)]
    errors: list[BaseException] = []

    def start(storage: Storage) -> None:
        try:
            storage.ensure_schema()
        except BaseException as exc:
            errors.append(exc)

    try:
        threads = [threading.Thread(target=start, args=(s,)) for s in storages]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        with storages[0].engine.connect() as connection:
            versions = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
        assert [v[0] for v in versions] == [head_revision(storages[0].engine)]
    finally:
        for storage in storages:
            storage.engine.dispose()


def table_counts(engine: Any) -> dict[str, int]:
    tables = ("ua_actions", "ua_subscribers", "ua_consents", "ua_outbox")
    with engine.connect() as connection:
        return {
            t: connection.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables
        }


def test_forget_and_the_public_id_migration_on_postgresql(
    pg_app: Flask, mailbox: Mailbox, campaign_file: Path
) -> None:
    engine = get_storage().engine
    cli(pg_app, "campaigns", "load", str(campaign_file))
    client = pg_app.test_client()
    for email in ("ana@example.org", "lejla@example.org"):
        data = form_data(client, email=email, opt_in="y")
        assert client.post("/actions/example-mine-strike", data=data).status_code == 303
    assert "Erased 1 actions, a subscription." in cli(pg_app, "forget", "ana@example.org", "--yes")
    assert cli(pg_app, "campaigns", "list").split("\t")[2] == "2"
    # Lejla's two target mails and confirmation, Ana's two target mails (sent, stripped).
    before = table_counts(engine)
    assert before == {"ua_actions": 2, "ua_subscribers": 1, "ua_consents": 1, "ua_outbox": 5}

    migrate(engine, "0003")
    assert table_counts(engine) == before
    with engine.connect() as connection:
        keys = connection.execute(text("SELECT email_key FROM ua_actions ORDER BY id")).scalars()
        assert [re.sub(r"\d+", "N", k) for k in keys] == ["erased:N", "lejla@example.org"]
    migrate(engine, "head")
    assert table_counts(engine) == before
    with engine.connect() as connection:
        public_ids = connection.execute(text("SELECT public_id FROM ua_subscribers")).scalars()
        assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", p) for p in public_ids)
