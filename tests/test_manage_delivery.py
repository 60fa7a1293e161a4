"""The dashboard's delivery tab and outbox page, against a real SMTP server that
refuses one target, on SQLite and PostgreSQL: failures with the server's reply,
retry, held mail and why, the outbox's totals and the bounce list."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from flask_urgentaction import outbox
from flask_urgentaction.campaigns import load_files
from flask_urgentaction.models import AuditEntry, Bounce
from flask_urgentaction.storage import get_session, get_storage

from .conftest import ORGANISER, SAMPLE, action_body, csrf_token, make_app
from .test_bounces import rows
from .test_reports import CEO, MINISTER, NO_SUCH_USER, RefusingMailbox
from .test_reports import mailbox as mailbox  # the fixture: the minister's address refused

ACTIONS_URL = "/actions/api/campaigns/example-mine-strike/actions"
DELIVERY = "/actions/manage/campaigns/example-mine-strike/delivery"
RETRY = DELIVERY + "/retry"
OUTBOX = "/actions/manage/outbox"


@pytest.fixture
def app(
    tmp_path: Path, mailbox: RefusingMailbox, database_url: str, app_config: dict[str, Any]
) -> Iterator[Flask]:
    """On SQLite and on PostgreSQL."""
    app = make_app(tmp_path, mailbox, URGENTACTION_DATABASE_URL=database_url, **app_config)
    with app.app_context():
        yield app
        get_session().close()
    app.extensions["urgentaction"].storage.engine.dispose()


def take(client: FlaskClient, email: str = "ana@example.org") -> None:
    response = client.post(ACTIONS_URL, json=action_body(client, email=email))
    assert response.status_code == 201, response.get_json()


def figures(page: str, address: str) -> list[int]:
    """A target's row of the delivery table: sent, due, waiting for a retry, being
    sent, held, failed, bounced, in digests."""
    row = re.search(rf'<span class="ua-slug">{re.escape(address)}</span></th>(.*?)</tr>', page,
                    re.S)  # fmt: skip
    assert row, f"no row for {address}"
    return [int(n) for n in re.findall(r'<td class="ua-num">(\d+)</td>', row.group(1))]


def audit_entries(action: str) -> list[AuditEntry]:
    with get_storage().sessions() as session:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list(session.scalars(query))


def test_a_refused_message_is_shown_with_the_reply_retried_and_then_delivered(
    app: Flask, client: FlaskClient, campaign: Any, organiser: str, mailbox: RefusingMailbox
) -> None:
    take(client)  # inline: the CEO gets it, the ministry's server refuses it
    (failed,) = rows(MINISTER)
    assert failed.status == "failed"

    response = client.get(DELIVERY)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'aria-current="page">Delivery</a>' in page
    assert figures(page, CEO) == [1, 0, 0, 0, 0, 0, 0, 0]
    assert figures(page, MINISTER) == [0, 0, 0, 0, 0, 1, 0, 0]
    assert html.escape(NO_SUCH_USER) in page
    assert f'<input type="hidden" name="id" value="{failed.id}">' in page
    # Each button says which message it retries, to a screen reader too.
    assert (f'Retry<span class="ua-visually-hidden"> message {failed.id} to Ministry of '
            "Labour</span></button>") in page  # fmt: skip
    # Inline delivery: nothing sends a retried message by itself.
    assert "send-mail" in page

    token = csrf_token(client, DELIVERY)
    response = client.post(RETRY, data={"csrf_token": token, "scope": "message",
                                        "id": str(failed.id)})  # fmt: skip
    assert response.status_code == 303
    assert response.headers["Location"].endswith(DELIVERY)
    (retried,) = rows(MINISTER)
    assert (retried.status, retried.attempts) == ("queued", 0)
    (entry,) = audit_entries("outbox.retry")
    assert (entry.who, entry.campaign_slug, entry.detail) == (
        ORGANISER, "example-mine-strike", f"ids {failed.id}")  # fmt: skip
    page = client.get(DELIVERY).get_data(as_text=True)
    assert f"1 message queued again: {failed.id}." in page
    assert "“flask urgentaction send-mail”" in page
    assert figures(page, MINISTER)[:2] == [0, 1]  # due now

    del mailbox.refuse[MINISTER]
    report = outbox.drain()
    assert report.sent == [failed.id]
    (arrived,) = mailbox.to(MINISTER)
    assert arrived["Subject"] == "Reinstate the union leaders now"
    page = client.get(DELIVERY).get_data(as_text=True)
    assert figures(page, MINISTER) == [1, 0, 0, 0, 0, 0, 0, 0]
    assert html.escape(NO_SUCH_USER) not in page
    # The audit log names the retry.
    log = client.get("/actions/manage/audit").get_data(as_text=True)
    assert "retried mail" in log and f"ids {failed.id}" in log


def test_retry_without_the_csrf_token_is_refused_and_retries_nothing(
    client: FlaskClient, campaign: Any, organiser: str
) -> None:
    take(client)
    (failed,) = rows(MINISTER)
    response = client.post(RETRY, data={"scope": "message", "id": str(failed.id)})
    assert response.status_code == 400
    response = client.post(RETRY, data={"scope": "campaign"})
    assert response.status_code == 400
    assert [row.status for row in rows(MINISTER)] == ["failed"]
    assert audit_entries("outbox.retry") == []


def test_another_campaigns_message_is_not_retried_through_this_campaigns_page(
    app: Flask, client: FlaskClient, campaign: Any, organiser: str, tmp_path: Path
) -> None:
    other = tmp_path / "other.toml"
    other.write_text(SAMPLE.replace("example-mine-strike", "other-strike"), encoding="utf-8")
    load_files(get_session(), [other])
    take(client)
    (failed,) = rows(MINISTER)
    other_page = "/actions/manage/campaigns/other-strike/delivery"
    token = csrf_token(client, DELIVERY)  # the session's: the other page has no form
    response = client.post(other_page + "/retry", data={"csrf_token": token, "scope": "message",
                                                        "id": str(failed.id)})  # fmt: skip
    assert response.status_code == 404
    # Its "retry all" takes only its own mail: there is none.
    response = client.post(other_page + "/retry", data={"csrf_token": token, "scope": "campaign"})
    assert response.status_code == 303
    assert "There was no failed mail to retry." in client.get(other_page).get_data(as_text=True)
    assert [row.status for row in rows(MINISTER)] == ["failed"]
    assert audit_entries("outbox.retry") == []


@pytest.mark.parametrize("app_config", [{"URGENTACTION_DELIVERY": "worker"}])
def test_retry_all_for_a_target_and_for_the_campaign_and_what_cannot_be_retried(
    client: FlaskClient, campaign: Any, organiser: str, mailbox: RefusingMailbox
) -> None:
    take(client, "ana@example.org")
    take(client, "ben@example.org")
    mailbox.refuse[CEO] = "554 5.7.1 relay refused"
    outbox.drain()
    to_minister = [row.id for row in rows(MINISTER)]
    to_ceo = [row.id for row in rows(CEO)]
    assert {row.status for row in rows()} == {"failed"}
    page = client.get(DELIVERY).get_data(as_text=True)
    assert "the worker sends it within 5 s" in page
    assert ('Retry all failed for this target<span class="ua-visually-hidden"> '
            "(Ministry of Labour)</span>") in page  # fmt: skip

    token = csrf_token(client, DELIVERY)
    response = client.post(RETRY, data={"csrf_token": token, "scope": "target",
                                        "target": MINISTER})  # fmt: skip
    assert response.status_code == 303
    assert {row.status for row in rows(MINISTER)} == {"queued"}
    assert {row.status for row in rows(CEO)} == {"failed"}
    page = client.get(DELIVERY).get_data(as_text=True)
    assert "2 messages queued again: {}, {}.".format(*to_minister) in page
    assert "the worker sends it within 5 s" in page

    # One message by its id: already queued, it is refused, and says why.
    response = client.post(RETRY, data={"csrf_token": token, "scope": "message",
                                        "id": str(to_minister[0])})  # fmt: skip
    assert response.status_code == 303
    page = client.get(DELIVERY).get_data(as_text=True)
    assert f"Message {to_minister[0]} was not retried: it is queued, not failed." in page

    response = client.post(RETRY, data={"csrf_token": token, "scope": "campaign"})
    assert response.status_code == 303
    assert {row.status for row in rows()} == {"queued"}
    details = [entry.detail for entry in audit_entries("outbox.retry")]
    assert details == ["ids {} {}".format(*to_minister), "ids {} {}".format(*to_ceo)]


def delivery_rules(tmp_path: Path, rules: str) -> None:
    path = tmp_path / "paced.toml"
    path.write_text(SAMPLE + f"\n[delivery]\n{rules}\n", encoding="utf-8")
    load_files(get_session(), [path])


@pytest.mark.parametrize(
    ("rules", "words"),
    [
        ("cap = 1", "the target's cap is reached; raise it to send these"),
        ("per_target_per_hour = 1", "paced for the target's inbox; the next goes at its slot ("),
    ],
)
def test_held_mail_is_shown_with_the_reason_the_report_gives(
    app: Flask, client: FlaskClient, organiser: str, mailbox: RefusingMailbox, tmp_path: Path,
    rules: str, words: str,
) -> None:  # fmt: skip
    mailbox.refuse.clear()
    delivery_rules(tmp_path, rules)
    take(client, "ana@example.org")
    take(client, "ben@example.org")
    assert len(mailbox.to(CEO)) == 1
    page = html.unescape(client.get(DELIVERY).get_data(as_text=True))
    assert figures(page, CEO)[:5] == [1, 0, 0, 0, 1]  # one sent, one held
    assert f"1 held: {words}" in page
    # The very words of `flask urgentaction report`.
    report = app.test_cli_runner().invoke(args=["urgentaction", "report", "example-mine-strike"])
    held = re.findall(r"^    held: (.+)$", report.output, re.M)
    assert held and held[0].startswith(words)
    assert f"1 held: {held[0]}" in page


@pytest.mark.parametrize("app_config", [{"URGENTACTION_DELIVERY": "worker"}])
def test_the_outbox_page_totals_and_waiting_mail(
    client: FlaskClient, campaign: Any, organiser: str
) -> None:
    page = client.get(OUTBOX).get_data(as_text=True)
    assert "Nothing waiting: all mail is sent." in page
    assert "No message is due now." in page
    take(client)
    page = client.get(OUTBOX).get_data(as_text=True)
    # In the dashboard's navigation, as the current section.
    assert 'href="/actions/manage/outbox?lang=en" aria-current="page">Outbox</a>' in page
    assert '<th scope="row">queued</th><td class="ua-num">2</td>' in page
    assert '<th scope="row">All</th><td class="ua-num">2</td>' in page
    assert '<th scope="row">not tried yet</th>\n<td class="ua-num">2</td>' in page
    assert "has been due for" in page

    outbox.drain()
    page = client.get(OUTBOX).get_data(as_text=True)
    assert '<th scope="row">sent</th><td class="ua-num">1</td>' in page
    assert '<th scope="row">failed</th><td class="ua-num">1</td>' in page
    assert '<th scope="row">queued</th><td class="ua-num">0</td>' in page
    assert "Nothing waiting: all mail is sent." in page


def test_an_address_is_cleared_off_the_bounce_list(
    client: FlaskClient, campaign: Any, organiser: str
) -> None:
    session = get_session()
    session.add(Bounce(address=MINISTER, status="5.1.1", diagnostic="smtp; 550 no such user",
                       source="dsn", count=3))  # fmt: skip
    session.commit()
    page = client.get(OUTBOX).get_data(as_text=True)
    assert f'<th scope="row">{MINISTER}</th>' in page
    assert "smtp; 550 no such user" in page
    assert '<td class="ua-num">3</td>' in page
    assert f'Clear<span class="ua-visually-hidden"> {MINISTER}</span>' in page

    clear = "/actions/manage/outbox/bounces/clear"
    assert client.post(clear, data={"address": MINISTER}).status_code == 400
    assert get_session().scalar(select(Bounce.address).execution_options(
        populate_existing=True)) == MINISTER  # fmt: skip

    token = csrf_token(client, OUTBOX)
    response = client.post(clear, data={"csrf_token": token, "address": MINISTER})
    assert response.status_code == 303
    with get_storage().sessions() as fresh:
        assert fresh.scalars(select(Bounce)).all() == []
    (entry,) = audit_entries("bounce.clear")
    assert (entry.who, entry.detail) == (ORGANISER, MINISTER)
    page = client.get(OUTBOX).get_data(as_text=True)
    assert f"{MINISTER} is off the bounce list; mail to it is sent again." in page
    assert "No address has bounced." in page

    # Cleared twice: said so, and nothing recorded.
    client.post(clear, data={"csrf_token": token, "address": MINISTER})
    page = client.get(OUTBOX).get_data(as_text=True)
    assert f"{MINISTER} is not on the bounce list." in page
    assert len(audit_entries("bounce.clear")) == 1
