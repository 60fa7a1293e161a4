"""The dashboard's Alert tab: a dry run with the CLI's figures, a test to the
organiser through a real SMTP server, a Send only after a dry run of the same
choices, sent once however often it is pressed, and its progress."""

from __future__ import annotations

import html
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from flask_urgentaction.models import AuditEntry, OutboxMessage, Subscriber
from flask_urgentaction.storage import get_session, get_storage

from .conftest import ORGANISER, Mailbox, action_body, csrf_token

SLUG = "example-mine-strike"
PAGE = f"/actions/manage/campaigns/{SLUG}/alert"
SUBSCRIBERS = (("ana@example.org", "en"), ("ben@example.net", "en-GB"),
               ("hans@example.de", "de"), ("ivo@example.hr", "hr"))  # fmt: skip
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def subscribe(*people: tuple[str, str]) -> None:
    session = get_session()
    session.add_all(
        Subscriber(email=email, email_key=email.casefold(), name=email.split("@")[0], lang=lang,
                   status="confirmed", confirmed_at=datetime.now(UTC))
        for email, lang in people
    )  # fmt: skip
    session.commit()


def alert_rows() -> int:
    with get_storage().sessions() as session:
        query = select(func.count()).where(
            OutboxMessage.kind == "alert", OutboxMessage.dedupe_key.is_not(None)
        )
        return int(session.scalar(query) or 0)


def audit_entries(action: str) -> list[AuditEntry]:
    with get_storage().sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def alerted(mailbox: Mailbox) -> Counter[str]:
    return Counter(
        address for rcpt, message in mailbox.received if message["List-Unsubscribe"]
        for address in rcpt
    )  # fmt: skip


def post(client: FlaskClient, token: str, do: str, **fields: Any) -> Any:
    data: dict[str, Any] = {"csrf_token": token, "do": do, "lang": ["en", "de"]} | fields
    return client.post(PAGE, data=data)


def send_form(page: str) -> dict[str, Any]:
    """The fields of the dry run's Send form, as a browser would post them."""
    form = page.split('value="send"', 1)[0].rsplit("<form", 1)[1]
    data: dict[str, Any] = {}
    for name, value in HIDDEN.findall(form):
        value = html.unescape(value)
        if name == "lang":
            data.setdefault("lang", []).append(value)
        else:
            data[name] = value
    data["do"] = "send"
    return data


def test_dry_run_shows_the_clis_figures_and_sends_nothing(
    app: Flask, client: FlaskClient, campaign: Any, organiser: str
) -> None:
    subscribe(*SUBSCRIBERS)
    response = client.post("/actions/api/campaigns/example-mine-strike/actions",
                           json=action_body(client, email="Ben@Example.net"))  # fmt: skip
    assert response.status_code == 201
    cli = app.test_cli_runner().invoke(
        args=["urgentaction", "alert", SLUG, "--dry-run", "--skip-acted", "--lang", "en"]
    )
    # dry run: would queue 2 alerts (en 2); skipped 2 (1 not in --lang, 1 acted on ...)
    line = cli.output.splitlines()[0]
    assert line.startswith("dry run: would queue"), cli.output
    per_lang = dict(re.findall(r"\b(en|de) (\d+)\b", line.split(";")[0]))
    other = re.search(r"(\d+) not in --lang", line)
    acted = re.search(r"(\d+) acted on this campaign", line)
    assert per_lang == {"en": "2"} and other and acted

    token = csrf_token(client, PAGE)
    response = post(client, token, "dry-run", lang=["en"], skip_acted="1")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<td class="ua-num" data-lang="en">2</td>' in page
    assert '<td class="ua-num" data-lang="de">0</td>' in page
    assert (f"their alert would be in a language not chosen</th>"
            f'<td class="ua-num">{other.group(1)}</td>') in page  # fmt: skip
    assert (f"they acted on this campaign already</th>"
            f'<td class="ua-num">{acted.group(1)}</td>') in page  # fmt: skip
    assert "Send the alert to 2 subscribers" in page
    assert '<span class="ua-status ua-status-live">live</span>' in page
    assert alert_rows() == 0
    assert audit_entries("alert.send") == []


def test_a_test_alert_goes_to_the_organiser_only(
    client: FlaskClient, campaign: Any, organiser: str, mailbox: Mailbox
) -> None:
    subscribe(*SUBSCRIBERS)
    page = client.get(PAGE).get_data(as_text=True)
    # Prefilled with the organiser's name, since it is an address.
    assert f'name="test_to" type="email" autocomplete="email" value="{ORGANISER}"' in page
    token = csrf_token(client, PAGE)
    response = post(client, token, "test", test_to=ORGANISER, test_lang="de",
                    **{"intro-de": "Tag 12 des Streiks."})  # fmt: skip
    assert response.status_code == 200, response.get_data(as_text=True)
    page = response.get_data(as_text=True)
    assert f"went to {ORGANISER}" in page
    # The intro typed is still there to send.
    assert "Tag 12 des Streiks.</textarea>" in page

    assert [rcpt for rcpt, _m in mailbox.received] == [[ORGANISER]]
    message = mailbox.messages[0]
    assert message["Subject"].startswith("[TEST] ")
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and "Tag 12 des Streiks." in body.get_content()  # type: ignore[attr-defined]
    assert alert_rows() == 0
    (entry,) = audit_entries("alert.test")
    assert entry.detail == f"de to {ORGANISER}"


def test_send_needs_a_dry_run_of_the_same_choices(
    client: FlaskClient, campaign: Any, organiser: str, mailbox: Mailbox
) -> None:
    subscribe(*SUBSCRIBERS)
    token = csrf_token(client, PAGE)
    response = post(client, token, "send")
    assert response.status_code == 400
    assert "Run a dry run of these choices first" in response.get_data(as_text=True)

    dry = post(client, token, "dry-run").get_data(as_text=True)
    fields = send_form(dry)
    # The dry run counted everyone; a Send that skips those who acted is another send.
    changed = fields | {"csrf_token": token, "skip_acted": "1"}
    assert client.post(PAGE, data=changed).status_code == 400
    forged = fields | {"csrf_token": token, "token": fields["token"][:-2] + "xx"}
    assert client.post(PAGE, data=forged).status_code == 400
    assert alert_rows() == 0
    assert alerted(mailbox) == Counter()


def test_send_queues_once_and_the_alert_arrives(
    client: FlaskClient, campaign: Any, organiser: str, mailbox: Mailbox
) -> None:
    subscribe(*SUBSCRIBERS)
    token = csrf_token(client, PAGE)
    dry = post(client, token, "dry-run", **{"intro-en": "Day 12 of the strike."})
    fields = send_form(dry.get_data(as_text=True)) | {"csrf_token": token}
    response = client.post(PAGE, data=fields)
    assert response.status_code == 303
    assert response.headers["Location"].startswith(PAGE)

    # Inline delivery: sent within the request, one to each subscriber.
    assert alerted(mailbox) == Counter(dict.fromkeys((e for e, _l in SUBSCRIBERS), 1))
    english = mailbox.to("ana@example.org")[0].get_body(preferencelist=("plain",))
    assert english is not None and "Day 12 of the strike." in english.get_content()  # type: ignore[attr-defined]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Queued 4 alerts; skipped 0." in page
    assert '<tr><th scope="row">sent</th><td class="ua-num">4</td></tr>' in page

    # Pressed again: no one gets it twice.
    again = client.post(PAGE, data=fields)
    assert again.status_code == 303
    assert alert_rows() == 4
    assert sum(alerted(mailbox).values()) == 4
    first, second = audit_entries("alert.send")
    assert first.detail.startswith("languages en, de; queued 4 (en 3, de 1); skipped 0")
    assert second.detail.startswith("languages en, de; queued 0 (none); skipped 4")
    assert not any("@" in entry.detail for entry in (first, second))


def test_a_draft_is_tried_but_not_sent(
    client: FlaskClient, campaign: Any, organiser: str, mailbox: Mailbox
) -> None:
    subscribe(*SUBSCRIBERS)
    token = csrf_token(client, PAGE)
    session = get_session()
    campaign.status = "draft"
    session.commit()
    dry = post(client, token, "dry-run")
    page = dry.get_data(as_text=True)
    assert dry.status_code == 200 and 'value="send"' not in page
    assert "sent once it is live" in page
    assert alert_rows() == 0


def test_a_post_without_the_csrf_token_is_refused(
    client: FlaskClient, campaign: Any, organiser: str, mailbox: Mailbox
) -> None:
    subscribe(*SUBSCRIBERS)
    response = client.post(PAGE, data={"do": "test", "test_to": ORGANISER, "test_lang": "en"})
    assert response.status_code == 400
    assert mailbox.received == []
    assert audit_entries("alert.test") == []
