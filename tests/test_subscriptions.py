"""Opt-in by signed link: confirm, unsubscribe, and the consent record they leave."""

from __future__ import annotations

import html
import logging
import re
import threading
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select
from werkzeug.serving import make_server

from flask_urgentaction.campaigns import load_files
from flask_urgentaction.extension import RedactTokens
from flask_urgentaction.i18n import gettext, use_language
from flask_urgentaction.models import Consent, OutboxMessage, Subscriber
from flask_urgentaction.signals import optin_confirmed
from flask_urgentaction.storage import get_session, get_storage
from flask_urgentaction.tokens import Purpose, sign, verify

from .conftest import SAMPLE, Mailbox, action_body, api_challenge, form_data

ACTIONS_URL = "/actions/api/campaigns/example-mine-strike/actions"
CONFIRM_LINK = re.compile(r"http://actions\.test(/actions/confirm/[A-Za-z0-9_.\-]+)")
ANA = "ana@example.org"


def subscriber(email: str = ANA) -> Subscriber:
    # A fresh session: the request's session may hold stale copies.
    with get_storage().sessions() as session:
        found = session.scalar(select(Subscriber).where(Subscriber.email == email))
        assert found is not None
        return found


def consents(email: str = ANA) -> list[Consent]:
    with get_storage().sessions() as session:
        return list(
            session.scalars(
                select(Consent)
                .join(Subscriber)
                .where(Subscriber.email == email)
                .order_by(Consent.id)
            )
        )


def text_of(message: EmailMessage, subtype: str = "plain") -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def confirm_mails(mailbox: Mailbox, email: str = ANA) -> list[EmailMessage]:
    return [m for m in mailbox.to(email) if CONFIRM_LINK.search(text_of(m))]


def confirm_path(mailbox: Mailbox, email: str = ANA) -> str:
    """The path of the newest confirmation link mailed to ``email``."""
    found = CONFIRM_LINK.search(text_of(confirm_mails(mailbox, email)[-1]))
    assert found
    return found.group(1)


def opt_in(client: FlaskClient, email: str = ANA, **fields: Any) -> dict[str, Any]:
    body = action_body(client, email=email, opt_in=True, **fields)
    response = client.post(ACTIONS_URL, json=body)
    assert response.status_code == 201, response.get_json()
    answer: dict[str, Any] = response.get_json()
    return answer


def act_on_second(client: FlaskClient, **fields: Any) -> Any:
    """Take an action on the second campaign, with that campaign's challenge."""
    token, answer = api_challenge(client, "example-port-lockout")
    body = action_body(client, challenge_token=token, challenge_answer=answer, **fields)
    return client.post("/actions/api/campaigns/example-port-lockout/actions", json=body)


@pytest.fixture
def second_campaign(app: Flask, tmp_path: Path) -> Any:
    path = tmp_path / "second.toml"
    path.write_text(SAMPLE.replace("example-mine-strike", "example-port-lockout"), "utf-8")
    ((loaded, _created),) = load_files(get_session(), [path])
    return loaded


def test_ticking_the_box_mails_the_supporter_an_absolute_confirm_link(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    response = client.post("/actions/example-mine-strike", data=form_data(client, opt_in="y"))
    assert response.status_code == 303
    assert "optin=1" in response.headers["Location"]

    (message,) = confirm_mails(mailbox)
    assert [a.addr_spec for a in message["To"].addresses] == [ANA]
    assert message["From"].addresses[0].addr_spec == "actions@network.example"
    path = confirm_path(mailbox)
    assert f'href="http://actions.test{path}"' in text_of(message, "html")
    assert subscriber().status == "pending"
    (consent,) = consents()
    assert consent.confirmed_at is None
    # The link is for this consent of this subscriber.
    payload, _age = verify(Purpose.CONFIRM, path.rsplit("/", 1)[1], None)
    assert payload == {"s": subscriber().public_id, "c": consent.public_id}


def test_confirmation_mail_is_written_in_the_language_of_the_request(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    assert opt_in(client, lang="de", country="DE")["opt_in_pending"] is True

    (message,) = confirm_mails(mailbox)
    with use_language("de"):
        subject = gettext("Please confirm: urgent action alerts")
    assert str(message["Subject"]) == subject
    body = text_of(message)
    assert "Stellt die entlassenen Gewerkschafter wieder ein" in body
    assert "Reinstate the sacked union leaders" not in body
    assert '<html lang="de" dir="ltr">' in text_of(message, "html")
    assert subscriber().lang == "de"


def test_get_on_the_confirm_link_only_shows_a_button(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    opt_in(client)
    page = client.get(confirm_path(mailbox))
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert '<form method="post">' in text and '<button type="submit"' in text
    # Mail scanners fetch links: a GET must not confirm anything.
    assert subscriber().status == "pending"
    assert [c.confirmed_at for c in consents()] == [None]


def test_post_on_the_confirm_link_confirms_and_a_second_post_says_already_confirmed(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    opt_in(client)
    path = confirm_path(mailbox)
    received: list[dict[str, Any]] = []

    def on_confirmed(sender: Any, **kwargs: Any) -> None:
        received.append({"sender": sender, **kwargs})

    with optin_confirmed.connected_to(on_confirmed, app):
        before = datetime.now(UTC)
        first = client.post(path)
        after = datetime.now(UTC)
        second = client.post(path)

    assert first.status_code == 200
    assert "You will receive urgent action alerts" in first.get_data(as_text=True)
    confirmed = subscriber()
    assert confirmed.status == "confirmed"
    assert confirmed.confirmed_at is not None and before <= confirmed.confirmed_at <= after
    (consent,) = consents()
    assert consent.confirmed_at is not None and before <= consent.confirmed_at <= after
    assert second.status_code == 200
    assert "already confirmed" in second.get_data(as_text=True)
    assert subscriber().confirmed_at == confirmed.confirmed_at
    # The signal fires once, for the confirmation that changed something.
    assert len(received) == 1
    assert received[0]["sender"] is app
    assert received[0]["subscriber"].id == confirmed.id
    assert received[0]["subscriber"].email == ANA


def tampered(path: str) -> str:
    token = path.rsplit("/", 1)[1]
    payload, _dot, signature = token.rpartition(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return path.rsplit("/", 1)[0] + "/" + payload + "." + flipped


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_tampered_confirm_link_shows_an_error_and_changes_nothing(
    client: FlaskClient, campaign: Any, mailbox: Mailbox, method: str
) -> None:
    opt_in(client)
    for path in [tampered(confirm_path(mailbox)), "/actions/confirm/not-a-token"]:
        page = client.open(path, method=method)
        assert page.status_code == 400
        text = page.get_data(as_text=True)
        assert "This link is not valid" in text
        assert '<form method="post">' not in text
    assert subscriber().status == "pending"
    assert [c.confirmed_at for c in consents()] == [None]


def signed_days_ago(app: Flask, purpose: Purpose, payload: Any, days: float) -> str:
    """A token signed with the app's key as if mailed ``days`` ago."""

    class Earlier(TimestampSigner):
        def get_timestamp(self) -> int:
            return int((datetime.now(UTC) - timedelta(days=days)).timestamp())

    serializer = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=str(purpose), signer=Earlier)
    return str(serializer.dumps(payload))


def test_expired_confirm_link_shows_a_clear_error_and_changes_nothing(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    opt_in(client)
    payload, _age = verify(Purpose.CONFIRM, confirm_path(mailbox).rsplit("/", 1)[1], None)
    old = signed_days_ago(app, Purpose.CONFIRM, payload, days=8)

    for method in ("GET", "POST"):
        page = client.open(f"/actions/confirm/{old}", method=method)
        assert page.status_code == 410
        assert "This link has expired" in page.get_data(as_text=True)
    assert subscriber().status == "pending"
    assert [c.confirmed_at for c in consents()] == [None]

    # Within URGENTACTION_TOKEN_MAX_AGE (7 days by default) the same link works.
    recent = signed_days_ago(app, Purpose.CONFIRM, payload, days=6)
    assert client.post(f"/actions/confirm/{recent}").status_code == 200
    assert subscriber().status == "confirmed"


@pytest.mark.parametrize("app_config", [{"URGENTACTION_TOKEN_MAX_AGE": 60}])
def test_token_max_age_setting_shortens_the_life_of_confirm_links(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    opt_in(client)
    payload, _age = verify(Purpose.CONFIRM, confirm_path(mailbox).rsplit("/", 1)[1], None)
    two_minutes = signed_days_ago(app, Purpose.CONFIRM, payload, days=2 / (24 * 60))
    assert client.post(f"/actions/confirm/{two_minutes}").status_code == 410
    assert subscriber().status == "pending"
    assert client.post(confirm_path(mailbox)).status_code == 200
    assert subscriber().status == "confirmed"


def test_consent_keeps_the_exact_opt_in_text_shown_its_language_campaign_and_time(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    data = form_data(client, opt_in="y")
    page = client.get("/actions/example-mine-strike").get_data(as_text=True)
    label = re.search(r'<label for="opt_in">(.*?)</label>', page, re.S)
    assert label
    shown = html.unescape(label.group(1))
    assert "unsubscribe" in shown

    before = datetime.now(UTC)
    assert client.post("/actions/example-mine-strike", data=data).status_code == 303
    after = datetime.now(UTC)
    (consent,) = consents()
    assert consent.text == shown
    assert consent.lang == "en"
    assert consent.campaign_id == campaign.id
    assert before <= consent.given_at <= after
    assert consent.confirmed_at is None and consent.withdrawn_at is None


def test_consent_given_in_another_language_records_that_language(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    page = client.get("/actions/example-mine-strike?lang=de").get_data(as_text=True)
    label = re.search(r'<label for="opt_in">(.*?)</label>', page, re.S)
    assert label
    opt_in(client, lang="de")
    (consent,) = consents()
    assert consent.lang == "de"
    assert consent.text == html.unescape(label.group(1))


def confirmed_with_alert(app: Flask, client: FlaskClient, mailbox: Mailbox) -> str:
    """Opt in, confirm, and return the unsubscribe URL of the alert that follows."""
    opt_in(client)
    assert client.post(confirm_path(mailbox)).status_code == 200
    result = app.test_cli_runner().invoke(args=["urgentaction", "alert", "example-mine-strike"])
    assert result.exit_code == 0, result.output
    (alert,) = [m for m in mailbox.to(ANA) if m["List-Unsubscribe"]]
    header = str(alert["List-Unsubscribe"])
    assert header.startswith("<http://actions.test/actions/unsubscribe/") and header.endswith(">")
    return header[1:-1]


def test_unsubscribe_get_shows_a_button_and_one_click_post_withdraws_every_consent(
    app: Flask, client: FlaskClient, campaign: Any, second_campaign: Any, mailbox: Mailbox
) -> None:
    url = confirmed_with_alert(app, client, mailbox)
    path = url.removeprefix("http://actions.test")
    # A second consent, given on another campaign.
    assert act_on_second(client, opt_in=True).status_code == 201
    assert len(consents()) == 2

    page = client.get(path)
    assert page.status_code == 200
    assert '<form method="post">' in page.get_data(as_text=True)
    assert subscriber().status == "confirmed"

    # What RFC 8058 mail clients send on one click.
    before = datetime.now(UTC)
    done = client.post(
        path,
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert done.status_code == 200
    assert "You are unsubscribed" in done.get_data(as_text=True)
    gone = subscriber()
    assert gone.status == "unsubscribed"
    assert gone.unsubscribed_at is not None and gone.unsubscribed_at >= before
    assert [c.withdrawn_at is not None for c in consents()] == [True, True]

    again = client.post(path, data="List-Unsubscribe=One-Click",
                        content_type="application/x-www-form-urlencoded")  # fmt: skip
    assert again.status_code == 200
    assert "already unsubscribed" in again.get_data(as_text=True)


def test_old_confirm_link_cannot_subscribe_again_after_unsubscribing(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    url = confirmed_with_alert(app, client, mailbox)
    old_confirm = confirm_path(mailbox)
    assert client.post(url.removeprefix("http://actions.test")).status_code == 200
    assert subscriber().status == "unsubscribed"

    page = client.post(old_confirm)
    assert page.status_code == 410
    assert "This link has expired" in page.get_data(as_text=True)
    assert '<form method="post">' not in page.get_data(as_text=True)
    assert subscriber().status == "unsubscribed"
    assert all(c.withdrawn_at is not None for c in consents())

    # Nor do alerts reach them any more.
    before = len(mailbox.messages)
    result = app.test_cli_runner().invoke(args=["urgentaction", "alert", "example-mine-strike"])
    assert result.exit_code == 0
    assert len(mailbox.messages) == before


def test_unsubscribed_supporter_may_opt_in_again_with_a_new_link(
    app: Flask, client: FlaskClient, campaign: Any, second_campaign: Any, mailbox: Mailbox
) -> None:
    url = confirmed_with_alert(app, client, mailbox)
    old_confirm = confirm_path(mailbox)
    assert client.post(url.removeprefix("http://actions.test")).status_code == 200

    response = act_on_second(client, opt_in=True)
    assert response.get_json()["opt_in_pending"] is True
    assert subscriber().status == "pending"
    new_confirm = confirm_path(mailbox)
    assert new_confirm != old_confirm
    assert client.post(old_confirm).status_code == 410
    assert subscriber().status == "pending"
    assert client.post(new_confirm).status_code == 200
    assert subscriber().status == "confirmed"


def test_confirmed_subscriber_acting_again_gets_no_new_confirmation_mail(
    client: FlaskClient, campaign: Any, second_campaign: Any, mailbox: Mailbox
) -> None:
    opt_in(client)
    assert client.post(confirm_path(mailbox)).status_code == 200

    response = act_on_second(client, opt_in=True)
    assert response.status_code == 201
    assert response.get_json()["opt_in_pending"] is False
    assert len(confirm_mails(mailbox)) == 1
    with get_storage().sessions() as session:
        kinds = list(session.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)))
    # One message to each of the two targets per action, one confirmation in all.
    assert kinds == ["target", "target", "confirm", "target", "target"]
    assert subscriber().status == "confirmed"
    # The new consent is recorded, already confirmed.
    second = consents()[1]
    assert second.campaign_id == second_campaign.id
    assert second.confirmed_at is not None

    # The same address in other letters has acted on that campaign already.
    again = form_data(client, "example-port-lockout", email="ANA@example.org", opt_in="y")
    assert client.post("/actions/example-port-lockout", data=again).status_code == 409
    assert len(confirm_mails(mailbox)) == 1


def werkzeug_record(request_line: str) -> logging.LogRecord:
    """The record werkzeug's request handler logs for one request."""
    return logging.LogRecord(
        "werkzeug", logging.INFO, "serving.py", 0,
        '127.0.0.1 - - [01/Jan/2026 12:00:00] "%s" %s %s',
        (request_line, "200", "-"), None,
    )  # fmt: skip


def test_tokens_are_redacted_from_werkzeug_access_log_records(
    client: FlaskClient, campaign: Any, mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    opt_in(client)
    token = confirm_path(mailbox).rsplit("/", 1)[1]
    werkzeug_log = logging.getLogger("werkzeug")
    assert any(isinstance(f, RedactTokens) for f in werkzeug_log.filters)

    with caplog.at_level(logging.INFO, logger="werkzeug"):
        for line in [
            f"GET /actions/confirm/{token} HTTP/1.1",
            f"POST /actions/unsubscribe/{token}?x=1 HTTP/1.1",
            f"\x1b[1mPOST /app/actions/confirm/{token} HTTP/1.1\x1b[0m",
        ]:
            werkzeug_log.handle(werkzeug_record(line))
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 3
    assert all(token not in m for m in messages)
    assert '"GET /actions/confirm/[token] HTTP/1.1" 200 -' in messages[0]
    assert "/actions/unsubscribe/[token]?x=1" in messages[1]
    assert "/app/actions/confirm/[token] " in messages[2]


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    """The app behind werkzeug's own development server, in a thread."""
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=lambda: server.serve_forever(poll_interval=0.05), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()
    thread.join()
    server.server_close()


def test_werkzeug_server_access_log_shows_no_confirm_token(
    app: Flask,
    client: FlaskClient,
    campaign: Any,
    mailbox: Mailbox,
    served: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    opt_in(client)
    path = confirm_path(mailbox)
    token = path.rsplit("/", 1)[1]
    request = urllib.request.Request(served + path, headers={"Host": "actions.test"})
    with (
        caplog.at_level(logging.INFO, logger="werkzeug"),
        urllib.request.urlopen(request, timeout=5) as response,
    ):
        assert response.status == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any("/actions/confirm/[token]" in line for line in lines), lines
    assert all(token not in line for line in lines)
    assert subscriber().status == "pending"


def test_get_on_a_used_or_withdrawn_link_says_so_instead_of_showing_a_button(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    url = confirmed_with_alert(app, client, mailbox)
    old_confirm = confirm_path(mailbox)
    confirmed_page = client.get(old_confirm).get_data(as_text=True)
    assert "already confirmed" in confirmed_page
    assert '<form method="post">' not in confirmed_page

    unsubscribe_path = url.removeprefix("http://actions.test")
    assert client.post(unsubscribe_path).status_code == 200
    again = client.get(unsubscribe_path).get_data(as_text=True)
    assert "already unsubscribed" in again and '<form method="post">' not in again
    withdrawn = client.get(old_confirm)
    assert withdrawn.status_code == 410
    assert '<form method="post">' not in withdrawn.get_data(as_text=True)


# Links after `forget`: a link acts on the person it was mailed to, or on no one.

LEJLA = "lejla@example.org"


def forget(app: Flask, email: str) -> None:
    result = app.test_cli_runner().invoke(args=["urgentaction", "forget", email, "--yes"])
    assert result.exit_code == 0, result.output
    assert "Erased" in result.output


def refused(client: FlaskClient, path: str) -> None:
    """The link page answers "not valid" to a GET and to a POST, with no button."""
    for method in ("GET", "POST"):
        page = client.open(path, method=method)
        assert page.status_code == 400
        text = page.get_data(as_text=True)
        assert "This link is not valid" in text
        assert '<form method="post">' not in text


def test_old_links_of_a_forgotten_person_do_nothing_to_the_next_person_who_opts_in(
    app: Flask, client: FlaskClient, campaign: Any, second_campaign: Any, mailbox: Mailbox
) -> None:
    unsubscribe_url = confirmed_with_alert(app, client, mailbox)
    old_confirm = confirm_path(mailbox)
    old_unsubscribe = unsubscribe_url.removeprefix("http://actions.test")
    ana_ids = (subscriber().id, consents()[0].id)
    forget(app, ANA)

    # The next person to opt in: SQLite used to give her Ana's ids, and with them
    # Ana's links.
    assert opt_in(client, email=LEJLA)["opt_in_pending"] is True
    refused(client, old_confirm)
    assert subscriber(LEJLA).status == "pending"
    assert [c.confirmed_at for c in consents(LEJLA)] == [None]

    assert client.post(confirm_path(mailbox, LEJLA)).status_code == 200
    assert subscriber(LEJLA).status == "confirmed"
    refused(client, old_unsubscribe)
    assert subscriber(LEJLA).status == "confirmed"
    assert [c.withdrawn_at for c in consents(LEJLA)] == [None]
    # Nor are the row ids handed out twice.
    assert (subscriber(LEJLA).id, consents(LEJLA)[0].id) != ana_ids

    # Ana's address acting again is someone new: her old links do not revive.
    assert act_on_second(client, opt_in=True).status_code == 201
    refused(client, old_confirm)
    assert subscriber().status == "pending"


def test_links_mailed_with_row_ids_still_work_for_the_row_they_were_mailed_for(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    opt_in(client)
    ana, (consent,) = subscriber(), consents()
    # As links were signed before subscribers had public ids.
    confirm = sign(Purpose.CONFIRM, {"s": ana.id, "c": consent.id})
    leave = sign(Purpose.UNSUBSCRIBE, {"s": ana.id})

    assert client.post(f"/actions/confirm/{confirm}").status_code == 200
    assert subscriber().status == "confirmed"
    assert client.post(f"/actions/unsubscribe/{leave}").status_code == 200
    assert subscriber().status == "unsubscribed"


def test_links_mailed_with_row_ids_do_nothing_to_a_row_that_took_the_id_later(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    opt_in(client)
    ana, (consent,) = subscriber(), consents()
    # Mailed yesterday, as links were signed before subscribers had public ids.
    confirm = signed_days_ago(app, Purpose.CONFIRM, {"s": ana.id, "c": consent.id}, days=1)
    leave = signed_days_ago(app, Purpose.UNSUBSCRIBE, {"s": ana.id}, days=1)
    forget(app, ANA)
    # Before AUTOINCREMENT, SQLite gave the next rows the ids just freed.
    session = get_session()
    lejla = Subscriber(id=ana.id, email=LEJLA, email_key=LEJLA, lang="en", status="confirmed")
    session.add(Consent(id=consent.id, subscriber=lejla, text="alerts", lang="en"))
    session.commit()

    refused(client, f"/actions/confirm/{confirm}")
    refused(client, f"/actions/unsubscribe/{leave}")
    assert subscriber(LEJLA).status == "confirmed"
    assert [c.withdrawn_at for c in consents(LEJLA)] == [None]
