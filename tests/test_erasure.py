"""Forgetting a person: the count stays; the person goes, from every table and the file."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, inspect, select, text

from flask_urgentaction.campaigns import load_files
from flask_urgentaction.models import Action, OutboxMessage, OutboxStatus, Subscriber
from flask_urgentaction.storage import get_session, get_storage
from flask_urgentaction.tokens import Purpose, sign

from .conftest import SAMPLE, Mailbox, action_body, api_challenge, migrate

MINE, PORT = "example-mine-strike", "example-port-lockout"
ANA, LEJLA = "ana@example.org", "lejla@example.org"
NAME = "Ana Kovač"
UNION = "Sindikat rudara Kreka"
MESSAGE = "Greetings from the Tuzla night shift, crew 7Q2."
PERSONAL = "My father dug coal in shaft 4B for thirty years."
# Ana as the database could hold her: JSON columns escape what is not ASCII.
TRACES = [ANA, NAME, "Ana Kova\\u010d", UNION, MESSAGE, PERSONAL]


def run(app: Flask, *args: str) -> Result:
    result = app.test_cli_runner().invoke(args=["urgentaction", *args])
    assert result.exit_code == 0, result.output
    return result


def act(client: FlaskClient, slug: str = MINE, **fields: Any) -> Any:
    token, answer = api_challenge(client, slug)
    body = action_body(client, challenge_token=token, challenge_answer=answer, **fields)
    return client.post(f"/actions/api/campaigns/{slug}/actions", json=body)


def ana_acts(client: FlaskClient, slug: str = MINE, **fields: Any) -> None:
    response = act(
        client, slug, name=NAME, email=ANA, union=UNION, message=MESSAGE, personal=PERSONAL,
        country="BA", partner="union-site", **fields,
    )  # fmt: skip
    assert response.status_code == 201, response.get_json()


def lejla_acts(client: FlaskClient, slug: str = MINE, **fields: Any) -> None:
    response = act(client, slug, name="Lejla", email=LEJLA, union="", country="DE", **fields)
    assert response.status_code == 201, response.get_json()


def public_count(client: FlaskClient, slug: str = MINE) -> tuple[int, int]:
    data = client.get(f"/actions/api/campaigns/{slug}").get_json()
    return data["count"], data["goal"]


def stored_action(email_key: str | None = None, action_id: int | None = None) -> Action:
    with get_storage().sessions() as session:
        query = select(Action)
        query = (
            query.where(Action.id == action_id)
            if action_id is not None
            else query.where(Action.email_key == email_key)
        )
        found = session.scalar(query)
        assert found is not None
        return found


@pytest.fixture
def second_campaign(app: Flask, tmp_path: Path) -> Any:
    path = tmp_path / "second.toml"
    path.write_text(SAMPLE.replace(MINE, PORT), "utf-8")
    ((loaded, _created),) = load_files(get_session(), [path])
    return loaded


def test_forget_keeps_the_count_the_goal_and_what_the_figures_need(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    ana_acts(client, opt_in=True)
    lejla_acts(client)
    before = stored_action(ANA)
    assert public_count(client) == (2, 5000)

    result = run(app, "forget", ANA, "--yes")
    assert "Erased 1 actions, a subscription." in result.output

    assert public_count(client) == (2, 5000)
    assert run(app, "campaigns", "list").output.split("\t")[2] == "2"
    after = stored_action(action_id=before.id)
    assert after.erased_at is not None and after.erased_at >= before.created_at
    erased = (after.name, after.email, after.email_key, after.union, after.subject,
              after.message, after.personal, after.opt_in)  # fmt: skip
    assert erased == ("", "", None, "", "", "", "", False)
    kept = (after.campaign_id, after.created_at, after.country, after.lang, after.partner_tag,
            after.source_origin)  # fmt: skip
    assert kept == (before.campaign_id, before.created_at, "BA", "en", "union-site",
                    before.source_origin)  # fmt: skip

    # The address may act again: a new action, which counts once more, and once only.
    ana_acts(client)
    assert public_count(client) == (3, 5000)
    again = act(client, email=ANA)
    assert again.status_code == 409
    assert again.get_json()["count"] == 3


def traces_in_tables(database: Path) -> list[tuple[str, str]]:
    """(table, trace) for every text column value of every table that holds one of
    Ana's traces, read with SQLite itself (JSON as stored, not decoded)."""
    found = []
    with sqlite3.connect(database) as connection:
        tables = [row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]  # fmt: skip
        for table in tables:
            for row in connection.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", "replace")
                    if not isinstance(value, str):
                        continue
                    found += [(table, t) for t in TRACES if t.casefold() in value.casefold()]
    connection.close()
    return found


def traces_in_files(database: Path) -> list[tuple[str, str]]:
    """(file, trace) for the database file and its -wal and -shm files, byte by byte."""
    found = []
    for path in sorted(database.parent.glob(database.name + "*")):
        data = path.read_bytes().lower()
        found += [(path.name, t) for t in TRACES if t.lower().encode() in data]
    return found


def test_forget_leaves_no_trace_in_any_table_nor_in_the_database_file(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox, tmp_path: Path
) -> None:
    ana_acts(client, opt_in=True)
    lejla_acts(client, opt_in=True)
    body = mailbox.to(ANA)[-1].get_body(("plain",))
    assert body is not None
    text_body = str(body.get_content())  # type: ignore[attr-defined]
    link = re.search(r"http://actions\.test(/actions/confirm/\S+)", text_body)
    assert link and client.post(link.group(1)).status_code == 200
    assert "queued 1 alerts" in run(app, "alert", MINE).output
    database = tmp_path / "instance" / "urgentaction.sqlite3"
    engine = get_storage().engine
    # The checks can fail: Ana is in the tables and on disk.
    assert {table for table, _t in traces_in_tables(database)} >= {
        "ua_actions", "ua_subscribers", "ua_outbox",
    }  # fmt: skip
    assert traces_in_files(database)

    result = run(app, "forget", ANA, "--yes")
    assert "write-ahead log is in use" not in result.output

    # Read while the app's connections stay open, as in a running site: closing
    # the last one would checkpoint the log anyway.
    get_session().close()
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
        assert traces_in_tables(database) == []
        assert traces_in_files(database) == []
    # Lejla is all there.
    assert run(app, "export", MINE).output.count(LEJLA) == 1


def test_forget_says_when_a_reader_keeps_the_log_and_a_rerun_empties_it(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox, tmp_path: Path
) -> None:
    ana_acts(client)
    database = tmp_path / "instance" / "urgentaction.sqlite3"
    wal = database.with_name(database.name + "-wal")
    # Another process in the middle of a read, e.g. a worker.
    reader = sqlite3.connect(database, isolation_level=None)
    try:
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM ua_actions").fetchone() == (1,)
        busy = run(app, "forget", ANA, "--yes")
        assert "write-ahead log is in use" in busy.output
        assert ANA.encode() in wal.read_bytes()
        reader.execute("COMMIT")
    finally:
        reader.close()

    again = run(app, "forget", ANA, "--yes")
    assert "Nothing is stored about" in again.output
    assert "write-ahead log is in use" not in again.output
    assert wal.stat().st_size == 0


@pytest.mark.parametrize("app_config", [{"URGENTACTION_DELIVERY": "worker"}])
def test_forget_drops_mail_not_yet_sent_and_strips_mail_that_was(
    app: Flask, client: FlaskClient, campaign: Any, second_campaign: Any, mailbox: Mailbox
) -> None:
    ana_acts(client)
    assert "sent 2," in run(app, "send-mail").output
    ana_acts(client, PORT)
    lejla_acts(client, PORT)
    with get_storage().sessions() as session:
        sent = {
            row.id: row
            for row in session.scalars(
                select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.SENT)
            )
        }
    assert len(sent) == 2

    run(app, "forget", ANA, "--yes")

    with get_storage().sessions() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    kept = [row for row in rows if row.id in sent]
    # The record of what reached the targets stays, without her content.
    assert len(kept) == 2
    for row in kept:
        original = sent[row.id]
        assert (row.status, row.kind, row.action_id, row.target_id, row.recipient) == (
            OutboxStatus.SENT, "target", original.action_id, original.target_id,
            original.recipient,
        )  # fmt: skip
        assert (row.sent_at, row.attempts) == (original.sent_at, original.attempts)
        assert row.sender == ["", "actions@network.example"]
        assert (row.reply_to, row.subject, row.text_body, row.html_body) == (None, "", "", None)
        assert row.last_reply == "250"
        # The targets keep the delivered copy under the old Message-ID.
        assert row.message_id != original.message_id
        assert row.message_id.endswith("@network.example>")
    # Her mail to the second campaign's targets had not gone out: it does not now.
    others = [row for row in rows if row.id not in sent]
    assert [row.reply_to for row in others] == [["Lejla", LEJLA]] * 2
    assert public_count(client, PORT)[0] == 2

    before = len(mailbox.messages)
    assert "sent 2," in run(app, "send-mail").output
    new = mailbox.messages[before:]
    assert [m["Reply-To"].addresses[0].addr_spec for m in new] == [LEJLA, LEJLA]


def test_export_after_forget_leaves_the_erased_action_out(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    ana_acts(client)
    lejla_acts(client)
    run(app, "forget", ANA, "--yes")

    rows = list(csv.reader(io.StringIO(run(app, "export", MINE).output)))
    assert [row[2] for row in rows[1:]] == [LEJLA]
    assert "Ana" not in run(app, "export", MINE).output
    assert public_count(client)[0] == 2


# The migration to public ids (0004)


SNAPSHOT = {
    "ua_actions": "id, campaign_id, created_at",
    "ua_subscribers": "id, email_key, status, created_at",
    "ua_consents": "id, subscriber_id, campaign_id, given_at, confirmed_at",
    "ua_outbox": "id, kind, action_id, subscriber_id, target_id, status, message_id",
}


def snapshot(engine: Engine) -> dict[str, list[Any]]:
    with engine.connect() as connection:
        return {
            table: list(connection.execute(text(f"SELECT {columns} FROM {table} ORDER BY id")))
            for table, columns in SNAPSHOT.items()
        }


def no_orphans(engine: Engine) -> bool:
    with engine.connect() as connection:
        return connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []


def test_migration_to_public_ids_keeps_every_row_and_the_links_mailed_before(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    engine = get_storage().engine
    ana_acts(client, opt_in=True)
    lejla_acts(client, opt_in=True)
    assert act(client, email="uma@example.org").status_code == 201
    run(app, "forget", "uma@example.org", "--yes")  # an erased action, too
    migrate(engine, "0003")
    columns = {c["name"] for c in inspect(engine).get_columns("ua_subscribers")}
    assert "public_id" not in columns
    before = snapshot(engine)
    assert [len(rows) for rows in before.values()] == [3, 2, 2, 8]
    with engine.connect() as connection:
        ana_id, consent_id = connection.execute(text(
            "SELECT s.id, c.id FROM ua_subscribers s JOIN ua_consents c ON c.subscriber_id = s.id"
            " WHERE s.email_key = :key"), {"key": ANA}).one()  # fmt: skip
    # A link as mailed before the upgrade, naming rows by id.
    old_link = sign(Purpose.CONFIRM, {"s": ana_id, "c": consent_id})

    migrate(engine, "head")

    # Rebuilding a table on SQLite drops it, which cascades: nothing may be lost.
    assert snapshot(engine) == before
    assert no_orphans(engine)
    with engine.connect() as connection:
        public_ids = [
            *connection.execute(text("SELECT public_id FROM ua_subscribers")).scalars(),
            *connection.execute(text("SELECT public_id FROM ua_consents")).scalars(),
        ]
        schema = dict(connection.execute(text("SELECT name, sql FROM sqlite_master")).all())
    assert len(set(public_ids)) == 4
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", p) for p in public_ids)
    for table in ("ua_actions", "ua_subscribers", "ua_consents"):
        assert "AUTOINCREMENT" in schema[table]

    assert client.post(f"/actions/confirm/{old_link}").status_code == 200
    with get_storage().sessions() as session:
        ana = session.scalar(select(Subscriber).where(Subscriber.email_key == ANA))
        assert ana is not None and ana.status == "confirmed"

    # The newest subscriber forgotten, the next one gets a new id, not hers.
    last = max(row[0] for row in before["ua_subscribers"])
    run(app, "forget", LEJLA, "--yes")
    assert act(client, email="hana@example.org", opt_in=True).status_code == 201
    with get_storage().sessions() as session:
        new = session.scalar(
            select(Subscriber.id).where(Subscriber.email_key == "hana@example.org")
        )
    assert new is not None and new > last
