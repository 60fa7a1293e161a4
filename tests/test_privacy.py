"""Supporters' rights: an access request (``person``), retention (``purge``), a person
listed in a digest forgotten, no trace left in the database file, and the site's
default privacy link."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from flask_urgentaction import outbox, pacing
from flask_urgentaction.actions import opt_in_text
from flask_urgentaction.campaigns import load_files
from flask_urgentaction.models import (
    Action,
    Bounce,
    Consent,
    OutboxMessage,
    OutboxStatus,
    Subscriber,
)
from flask_urgentaction.storage import get_session, get_storage

from .conftest import SAMPLE, Mailbox, make_app
from .test_erasure import (
    ANA,
    LEJLA,
    MESSAGE,
    MINE,
    NAME,
    PERSONAL,
    UNION,
    act,
    ana_acts,
    lejla_acts,
    public_count,
    run,
    traces_in_files,
    traces_in_tables,
)
from .test_pacing import CEO, MINISTER, Clock, load, with_delivery

LEJLA_MESSAGE = "Solidarity from the Zenica steelworks, furnace line 9K."
UMA = "uma@example.org"
ERASED = "A supporter whose details were erased at their request"


def lejla_writes(client: FlaskClient, **fields: Any) -> None:
    lejla_acts(client, message=LEJLA_MESSAGE, personal="Lejla's own line 5R.", **fields)


def person(app: Flask, email: str) -> dict[str, Any]:
    result = run(app, "person", email)
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def confirm_link(mailbox: Mailbox, address: str) -> str:
    body = mailbox.to(address)[-1].get_body(("plain",))
    assert body is not None
    text = str(body.get_content())  # type: ignore[attr-defined]
    start = text.index("http://actions.test") + len("http://actions.test")
    return text[start:].split()[0]


def backdate(days: float, email: str) -> None:
    """Make what is stored about ``email`` (actions, their mail, a subscription)
    ``days`` old, as if it were stored then and its mail sent then."""
    when = datetime.now(UTC) - timedelta(days=days)
    with get_storage().sessions() as session:
        ids = list(session.scalars(select(Action.id).where(Action.email_key == email)))
        subscriber = session.scalar(select(Subscriber.id).where(Subscriber.email_key == email))
        session.execute(update(Action).where(Action.id.in_(ids)).values(created_at=when))
        mail = OutboxMessage.action_id.in_(ids)
        if subscriber is not None:
            mail = mail | (OutboxMessage.subscriber_id == subscriber)
            session.execute(
                update(Subscriber).where(Subscriber.id == subscriber).values(created_at=when)
            )
            session.execute(
                update(Consent).where(Consent.subscriber_id == subscriber).values(given_at=when)
            )
        session.execute(update(OutboxMessage).where(mail).values(created_at=when))
        session.execute(
            update(OutboxMessage)
            .where(mail, OutboxMessage.sent_at.is_not(None))
            .values(sent_at=when)
        )
        session.commit()


def rows_of(email: str) -> list[OutboxMessage]:
    with get_storage().sessions() as session:
        ids = select(Action.id).where(Action.email_key == email)
        return list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.action_id.in_(ids))
                .order_by(OutboxMessage.id)
            )
        )


def delivery_figures(app: Flask, slug: str = MINE) -> dict[str, Any]:
    """The report's figures: the count, messages per target and status, actions per
    partner and origin (a failure's words are content; its reply code stays)."""
    report = json.loads(run(app, "report", slug, "--json").output)
    figures = {key: report[key] for key in ("actions", "partners", "origins")}
    figures["targets"] = [
        {key: value for key, value in target.items() if isinstance(value, int | str)}
        for target in report["targets"]
    ]
    return figures


# An access request


def test_person_prints_everything_about_one_address_and_nothing_about_anyone_else(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    ana_acts(client, opt_in=True)
    lejla_writes(client, opt_in=True)
    assert client.post(confirm_link(mailbox, ANA)).status_code == 200
    with get_storage().sessions() as session:
        session.add(Bounce(address=ANA, status="5.1.1", diagnostic="550 mailbox full"))
        session.add(Bounce(address=LEJLA, status="5.1.1", diagnostic="550 Lejla gone"))
        session.commit()

    result = run(app, "person", "  Ana@Example.ORG ")
    data = json.loads(result.stdout)

    (action,) = data["actions"]
    assert action["campaign"] == MINE
    assert (action["name"], action["email"], action["union"], action["country"]) == (
        NAME, ANA, UNION, "BA",
    )  # fmt: skip
    assert (action["message"], action["personal"], action["opt_in"]) == (MESSAGE, PERSONAL, True)
    assert action["partner_tag"] == "union-site" and action["created_at"].endswith("+00:00")
    kinds = sorted((m["kind"], m["recipient"]) for m in data["mail"])
    assert kinds == [("confirm", ANA), ("target", CEO), ("target", MINISTER)]
    for mail in data["mail"]:
        assert mail["status"] == "sent" and mail["sent_at"]
        if mail["kind"] == "target":
            assert mail["reply_to"] == [NAME, ANA]
            assert MESSAGE in mail["text_body"] and mail["action_id"] == action["id"]
    subscriber = data["subscriber"]
    assert (subscriber["email"], subscriber["status"]) == (ANA, "confirmed")
    (consent,) = subscriber["consents"]
    assert consent["text"] == opt_in_text() and consent["campaign"] == MINE
    assert consent["confirmed_at"] is not None
    assert data["bounce"]["diagnostic"] == "550 mailbox full"
    assert data["digests"] == [] and data["target_of"] == []
    # Nothing of Lejla's, anywhere.
    for trace in ("Lejla", LEJLA, LEJLA_MESSAGE, "Zenica", "own line 5R", '"DE"'):
        assert trace not in result.stdout

    nobody = app.test_cli_runner().invoke(args=["urgentaction", "person", UMA])
    assert nobody.exit_code == 0
    assert json.loads(nobody.stdout)["actions"] == []
    assert f"Nothing is stored about {UMA}." in nobody.stderr


# A person listed in a digest


@pytest.mark.parametrize("app_config", [{"URGENTACTION_DELIVERY": "worker"}])
def test_forgetting_a_supporter_rewrites_a_waiting_digest_and_strips_a_sent_one(
    app: Flask, client: FlaskClient, mailbox: Mailbox, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    load(tmp_path, with_delivery('mode = "digest"'))
    now = Clock(monkeypatch, datetime(2026, 6, 1, 9, tzinfo=UTC))
    ana_acts(client)
    lejla_writes(client)
    outbox.drain()  # the first digest collects for an hour
    now.advance(hours=1)
    pacing.release(get_session())  # the digests are written, not sent yet
    with get_storage().sessions() as session:
        digests = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "digest").order_by(OutboxMessage.id)
        ).all()
    assert [(d.recipient, d.status) for d in digests] == [
        (CEO, OutboxStatus.QUEUED), (MINISTER, OutboxStatus.QUEUED),
    ]  # fmt: skip
    assert all(NAME in d.text_body and "Lejla" in d.text_body for d in digests)

    # Ana asks what is stored: the digests that list her, but not what they say of Lejla.
    listed = run(app, "person", ANA).stdout
    data = json.loads(listed)
    assert [(d["id"], d["status"]) for d in data["digests"]] == [(d.id, "queued") for d in digests]
    assert all(d["carried_actions"] == [data["actions"][0]["id"]] for d in data["digests"])
    assert "Lejla" not in listed and LEJLA_MESSAGE not in listed
    database = tmp_path / "instance" / "urgentaction.sqlite3"
    assert traces_in_files(database)

    run(app, "forget", ANA, "--yes")

    with get_storage().sessions() as session:
        rewritten = [session.get(OutboxMessage, d.id) for d in digests]
    for digest in rewritten:
        assert digest is not None and digest.status == OutboxStatus.QUEUED
        assert ERASED in digest.text_body and ERASED in (digest.html_body or "")
        assert "(2 supporters)" in digest.subject and LEJLA_MESSAGE in digest.text_body
        assert NAME not in digest.text_body and NAME not in (digest.html_body or "")
    get_session().close()
    assert traces_in_tables(database) == []
    assert traces_in_files(database) == []

    outbox.drain()
    (sent,) = mailbox.to(CEO)
    body = str(sent.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    assert ERASED in body and "Lejla" in body and "Ana" not in body
    figures = delivery_figures(app)
    assert [(t["sent"], t["digested"]) for t in figures["targets"]] == [(1, 2), (1, 2)]
    assert public_count(client)[0] == 2

    # Lejla forgotten after the digests went: their stored bodies go, the record stays.
    run(app, "forget", LEJLA, "--yes")
    with get_storage().sessions() as session:
        for digest in digests:
            kept = session.get(OutboxMessage, digest.id)
            assert kept is not None and kept.status == OutboxStatus.SENT
            assert (kept.text_body, kept.html_body, kept.recipient) == ("", None, digest.recipient)
            assert kept.sent_at is not None and kept.last_reply == "250"
    assert delivery_figures(app) == figures
    get_session().close()
    assert b"Zenica" not in database.read_bytes()


def test_forget_drops_the_persons_address_from_the_bounce_list(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    ana_acts(client)
    with get_storage().sessions() as session:
        session.add_all([Bounce(address=ANA, status="5.1.1"), Bounce(address=CEO, status="5.1.1")])
        session.commit()
    assert "a bounce-list entry" in run(app, "forget", ANA.upper(), "--yes").output
    with get_storage().sessions() as session:
        assert list(session.scalars(select(Bounce.address))) == [CEO]


# Retention


@pytest.mark.parametrize("app_config", [{"URGENTACTION_DELIVERY": "worker"}])
def test_purge_erases_old_actions_and_old_mail_content_and_keeps_the_figures(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    ana_acts(client, opt_in=True)  # 800 days ago, never confirmed
    lejla_writes(client, opt_in=True)  # 40 days ago, confirmed
    assert act(client, name="Uma", email=UMA, message="Uma today.").status_code == 201
    run(app, "send-mail")
    assert client.post(confirm_link(mailbox, LEJLA)).status_code == 200
    backdate(800, ANA)
    backdate(40, LEJLA)
    figures = delivery_figures(app)
    assert [t["sent"] for t in figures["targets"]] == [3, 3]

    dry = run(app, "purge", "--dry-run").output
    # Ana's action; her two target messages and confirmation, Lejla's three; her subscription.
    assert dry.startswith("purge --dry-run: would erase 1 actions from before ")
    assert "the content of 6 mail from" in dry and "1 lapsed subscriptions" in dry
    assert len(dry.strip().splitlines()) == 1
    assert person(app, ANA)["actions"][0]["message"] == MESSAGE
    assert all(row.text_body for row in rows_of(LEJLA))

    done = run(app, "purge").output
    assert done.replace("purge: erased", "") == dry.replace("purge --dry-run: would erase", "")

    assert person(app, ANA) | {"generated_at": ""} == {
        "email": ANA, "generated_at": "", "actions": [], "mail": [], "digests": [],
        "subscriber": None, "bounce": None, "target_of": [], "cosignatures": [],
    }  # fmt: skip
    assert public_count(client) == (3, 5000)
    assert delivery_figures(app) == figures
    # Lejla's action stays (40 days); her mail keeps its delivery record only.
    lejla = person(app, LEJLA)
    assert lejla["actions"][0]["message"] == LEJLA_MESSAGE
    assert lejla["subscriber"]["status"] == "confirmed"
    targets = [m for m in lejla["mail"] if m["kind"] == "target"]
    assert [(m["status"], m["recipient"]) for m in targets] == [("sent", CEO), ("sent", MINISTER)]
    for mail in targets:
        assert (mail["text_body"], mail["reply_to"], mail["subject"]) == ("", None, "")
        assert mail["last_reply"] == "250" and mail["sent_at"] is not None
    # Uma's from today is untouched.
    assert all(UMA in str(row.reply_to) and row.text_body for row in rows_of(UMA))

    again = run(app, "purge").output
    assert "erased 0 actions" in again and "the content of 0 mail" in again
    assert "0 lapsed subscriptions" in again


def test_purge_keeps_failed_mail_as_a_record_that_cannot_be_retried(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    mailbox.reply = "550 5.7.1 Refused by policy"
    ana_acts(client)
    mailbox.reply = None
    failed = rows_of(ANA)
    assert [row.status for row in failed] == [OutboxStatus.FAILED] * 2
    backdate(800, ANA)
    figures = delivery_figures(app)
    assert [t["failed"] for t in figures["targets"]] == [1, 1]

    assert "erased 1 actions" in run(app, "purge").output

    assert delivery_figures(app) == figures
    with get_storage().sessions() as session:
        for row in failed:
            kept = session.get(OutboxMessage, row.id)
            assert kept is not None and kept.status == OutboxStatus.FAILED
            assert (kept.text_body, kept.reply_to, kept.last_reply) == ("", None, "550 5.7.1")
    report = json.loads(run(app, "report", MINE, "--json").output)
    assert report["targets"][0]["last_failure"]["reply"] == "550 5.7.1"
    retried = app.test_cli_runner().invoke(
        args=["urgentaction", "outbox", "--retry", str(failed[0].id)]
    )
    assert retried.exit_code != 0 and "nothing left to send" in retried.output
    assert mailbox.messages == []


def test_purge_leaves_no_trace_of_an_old_action_in_the_database_file(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox, tmp_path: Path
) -> None:
    ana_acts(client, opt_in=True)
    lejla_writes(client)
    backdate(731, ANA)
    database = tmp_path / "instance" / "urgentaction.sqlite3"
    get_session().close()
    assert {table for table, _t in traces_in_tables(database)} >= {
        "ua_actions", "ua_subscribers", "ua_outbox",
    }  # fmt: skip
    assert traces_in_files(database)

    output = run(app, "purge").output
    assert "erased 1 actions" in output and "write-ahead log is in use" not in output

    get_session().close()
    assert traces_in_tables(database) == []
    assert traces_in_files(database) == []
    assert LEJLA_MESSAGE.encode() in database.read_bytes()
    assert public_count(client)[0] == 2


@pytest.mark.parametrize("app_config", [{"URGENTACTION_RETENTION_DAYS": 30}])
def test_retention_days_come_from_the_configuration(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    ana_acts(client)
    backdate(31, ANA)
    assert "would erase 1 actions" in run(app, "purge", "--dry-run").output
    app.config["URGENTACTION_RETENTION_DAYS"] = 32
    assert "would erase 0 actions" in run(app, "purge", "--dry-run").output


@pytest.mark.parametrize("app_config", [{"URGENTACTION_DELIVERY": "worker"}])
def test_the_worker_purges_once_a_day_when_asked(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    ana_acts(client)
    backdate(800, ANA)
    plain = run(app, "worker", "--once").output
    assert "purge" not in plain and person(app, ANA)["actions"]
    output = run(app, "worker", "--once", "--purge-daily").output
    assert "purge: erased 1 actions" in output
    assert person(app, ANA)["actions"] == []


# On PostgreSQL too


@pytest.fixture
def shared_app(shared_app: Flask, tmp_path: Path) -> Flask:
    """The shared app, with the sample campaign."""
    path = tmp_path / "campaign.toml"
    path.write_text(SAMPLE, encoding="utf-8")
    load_files(get_session(), [path])
    return shared_app


def test_person_and_purge_on_each_database(shared_app: Flask, mailbox: Mailbox) -> None:
    client = shared_app.test_client()
    ana_acts(client, opt_in=True)
    lejla_writes(client)
    data = person(shared_app, ANA.upper())
    assert [a["union"] for a in data["actions"]] == [UNION]
    assert data["subscriber"]["consents"][0]["text"] == opt_in_text()
    assert "Lejla" not in json.dumps(data, ensure_ascii=False)
    backdate(800, ANA)
    figures = delivery_figures(shared_app)

    assert "would erase 1 actions" in run(shared_app, "purge", "--dry-run").output
    assert person(shared_app, ANA)["actions"]
    assert "erased 1 actions" in run(shared_app, "purge").output

    assert person(shared_app, ANA)["actions"] == []
    assert person(shared_app, LEJLA)["actions"][0]["message"] == LEJLA_MESSAGE
    assert delivery_figures(shared_app) == figures
    assert public_count(client) == (2, 5000)


# The site's default privacy link


PRIVACY = "https://network.example/privacy"
OWN_POLICY = 'privacy_url = "https://example.org/privacy"\n'


@pytest.mark.parametrize("app_config", [{"URGENTACTION_PRIVACY_URL": PRIVACY}])
def test_a_campaign_without_a_privacy_link_shows_the_sites(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    path = tmp_path / "own.toml"
    path.write_text(SAMPLE, encoding="utf-8")
    none = tmp_path / "none.toml"
    none.write_text(
        SAMPLE.replace(MINE, "no-policy").replace(OWN_POLICY, ""),
        encoding="utf-8",
    )
    load_files(get_session(), [path, none])

    for url in ("/actions/no-policy", "/actions/no-policy/embed"):
        assert f'href="{PRIVACY}"' in client.get(url).get_data(as_text=True)
    assert client.get("/actions/api/campaigns/no-policy").get_json()["privacy_url"] == PRIVACY
    # A campaign's own link wins.
    own = client.get(f"/actions/{MINE}").get_data(as_text=True)
    assert 'href="https://example.org/privacy"' in own and PRIVACY not in own
    api = client.get(f"/actions/api/campaigns/{MINE}").get_json()
    assert api["privacy_url"] == "https://example.org/privacy"


def test_without_any_privacy_link_none_is_shown_and_a_relative_one_is_refused(
    app: Flask, client: FlaskClient, tmp_path: Path, mailbox: Mailbox
) -> None:
    none = tmp_path / "none.toml"
    none.write_text(SAMPLE.replace(OWN_POLICY, ""), "utf-8")
    load_files(get_session(), [none])
    assert "ua-privacy" not in client.get(f"/actions/{MINE}").get_data(as_text=True)
    assert client.get(f"/actions/api/campaigns/{MINE}").get_json()["privacy_url"] == ""
    with pytest.raises(RuntimeError, match="URGENTACTION_PRIVACY_URL"):
        make_app(tmp_path / "other", mailbox, URGENTACTION_PRIVACY_URL="/privacy")
