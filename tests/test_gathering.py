"""Campaigns without targets that publish messages: their form gathers supporters'
own messages of solidarity, mailed to no one and published once approved."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from flask_urgentaction.models import Action, MessageStatus, OutboxMessage
from flask_urgentaction.storage import get_session, get_storage

from .conftest import SAMPLE, Mailbox, api_challenge, form_challenge
from .test_api import load_campaign
from .test_pages import Page

SLUG = "port-voices"
# No targets, messages published, and no message of the campaign's own.
GATHERING = """\
slug = "port-voices"
status = "live"
partner = "Example Dockers"

[messages]
publish = true

[translations.en]
title = "Voices for the port workers"
summary = "Write to the sacked dockers: they read every message."
"""
# The same with a message to start from.
PREFILLED = GATHERING + 'message = "We stand with you until you are back at work."\n'
# No targets and no published messages: it only shows its declaration.
SHOWING = """\
slug = "port-voices"
status = "live"

[translations.en]
title = "Voices for the port workers"

[[declarations]]
id = "itf"
organisation = "Example Transport Federation"

[declarations.translations.en]
title = "We stand with the dockers"
body = "Our affiliates back the strike."
"""
THANKS = "Your message is published on the campaign page once the organisers approve it."
NOTICE = "Your message will be published on the campaign page with your name, union and country"
OWN = "From the Rotterdam dockers: we are with you, every shift."


@pytest.fixture
def gathering(app: Flask, tmp_path: Path) -> Any:
    return load_campaign(tmp_path, GATHERING)


def run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["urgentaction", *args])


def page_form(client: FlaskClient, path: str, **fields: str) -> dict[str, str]:
    """The form's fields as a supporter fills them, with the page's own challenge."""
    token, answer = form_challenge(client.get(path).get_data(as_text=True))
    data = {"name": "Ana Kovač", "email": "ana@example.org", "union": "SSM", "country": "BA",
            "message": OWN, "lang": "en", "challenge_token": token,
            "challenge_answer": answer, "hp": ""}  # fmt: skip
    return data | fields


def api_body(client: FlaskClient, **fields: Any) -> dict[str, Any]:
    """A JSON action with a fresh challenge of this campaign; ``fields`` override."""
    token, answer = api_challenge(client, SLUG)
    body = {"name": "Ana Kovač", "email": "ana@example.org", "union": "SSM", "country": "BA",
            "lang": "en", "challenge_token": token, "challenge_answer": answer,
            "hp": ""}  # fmt: skip
    return body | fields


def textarea(page: str) -> str:
    """The message box's text as the browser shows it."""
    found = re.search(r'<textarea[^>]*name="message"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, "no message box"
    return html.unescape(found.group(1)).strip()


def actions() -> list[Action]:
    with get_storage().sessions() as session:
        return list(session.scalars(select(Action).order_by(Action.id)))


def outbox_kinds() -> list[str]:
    with get_storage().sessions() as session:
        return list(session.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)))


def test_page_and_embed_offer_the_form_saying_the_message_is_published(
    client: FlaskClient, gathering: Any
) -> None:
    for path in (f"/actions/{SLUG}?lang=en", f"/actions/{SLUG}/embed?lang=en"):
        response = client.get(path)
        assert response.status_code == 200
        text = response.get_data(as_text=True)
        page = Page(text)
        assert len(page.all("form")) == 1
        names = {attributes.get("name") for _tag, attributes in page.controls()}
        assert {"name", "email", "union", "message", "challenge_answer", "opt_in"} <= names
        # Nothing is mailed: no subject, no line above the message, no box to tick
        # for publishing (sending is the request, said before the button).
        assert not {"subject", "personal", "publish"} & names
        assert textarea(text) == ""
        notice = re.search(r'<p class="ua-notice" id="ua-publication">(.*?)</p>', text)
        assert notice and NOTICE in notice.group(1) and "never shown" in notice.group(1)
        button = page.one("button", type="submit")
        assert button["aria-describedby"] == "ua-publication"
        assert text.index(NOTICE) < text.index("Send the message")
        assert "0 messages of solidarity" in text
        assert "sends no message to anyone" not in text
    text = client.get(f"/actions/{SLUG}?lang=en").get_data(as_text=True)
    assert '<h2 id="ua-form-title">Show your solidarity</h2>' in text


def test_a_page_form_post_stores_a_request_to_publish_and_mails_only_the_opt_in(
    app: Flask, client: FlaskClient, gathering: Any, mailbox: Mailbox
) -> None:
    data = page_form(client, f"/actions/{SLUG}", opt_in="y", subject="Ignored", personal="No")
    response = client.post(f"/actions/{SLUG}", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    thanks = client.get(response.headers["Location"]).get_data(as_text=True)
    assert THANKS in thanks and "targets" not in thanks
    assert "1 message of solidarity" in thanks
    assert "check your inbox" in thanks

    (action,) = actions()
    assert action.publish_requested is True
    assert action.message_status == MessageStatus.PENDING and action.public_id
    assert action.message == OWN and action.personal == ""
    # Nothing is mailed under a subject: the campaign's title keeps exports coherent.
    assert action.subject == "Voices for the port workers"
    # No target, so no mail to one: only the opt-in's confirmation.
    assert outbox_kinds() == ["confirm"]
    assert [rcpt for rcpt, _message in mailbox.received] == [["ana@example.org"]]

    # Shown once an organiser approves it, with name, union and country.
    assert OWN not in client.get(f"/actions/{SLUG}/messages").get_data(as_text=True)
    result = run(app, "messages", SLUG, "--approve", str(action.id))
    assert result.exit_code == 0, result.output
    shown = client.get(f"/actions/{SLUG}/messages?lang=en").get_data(as_text=True)
    assert OWN in shown and "Ana Kovač" in shown and "SSM" in shown
    assert "Bosnia" in shown and "ana@example.org" not in shown


def test_without_a_campaign_message_the_supporters_own_is_required(
    client: FlaskClient, gathering: Any, mailbox: Mailbox
) -> None:
    response = client.post(f"/actions/{SLUG}", data=page_form(client, f"/actions/{SLUG}",
                                                              message="  "))  # fmt: skip
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert Page(text).one("textarea", name="message")["aria-invalid"] == "true"
    assert '<p class="ua-error" id="message-error">This field is required.</p>' in text
    body = api_body(client)
    answered = client.post(f"/actions/api/campaigns/{SLUG}/actions", json=body)
    assert answered.status_code == 422
    assert answered.get_json()["errors"] == {"message": ["This field is required."]}
    assert actions() == [] and mailbox.messages == []


def test_a_campaign_message_prefills_the_form_and_is_the_default(
    client: FlaskClient, app: Flask, tmp_path: Path
) -> None:
    load_campaign(tmp_path, PREFILLED)
    text = client.get(f"/actions/{SLUG}?lang=en").get_data(as_text=True)
    assert textarea(text) == "We stand with you until you are back at work."
    body = api_body(client)
    assert client.post(f"/actions/api/campaigns/{SLUG}/actions", json=body).status_code == 201
    (action,) = actions()
    assert action.message == "We stand with you until you are back at work."
    assert action.publish_requested is True


def test_the_campaign_json_tells_the_widget_and_the_api_takes_the_message(
    client: FlaskClient, gathering: Any, mailbox: Mailbox
) -> None:
    data = client.get(f"/actions/api/campaigns/{SLUG}?lang=en").get_json()
    assert data["targets"] == []
    assert (data["form"], data["publish"], data["gathers_messages"]) == (True, True, True)
    assert data["labels"]["thanks_text"] == THANKS
    assert data["publication_text"].startswith(NOTICE)
    assert data["count_text"] == "0 messages of solidarity"
    assert data["message"] == "" and data["message_note"] == ""
    # "publish": false changes nothing: submitting here is the request to publish.
    body = api_body(client, message=OWN, publish=False, personal="Not shown", subject="No")
    response = client.post(f"/actions/api/campaigns/{SLUG}/actions", json=body)
    assert response.status_code == 201
    assert response.get_json() == {"status": "ok", "count": 1,
                                   "count_text": "1 message of solidarity",
                                   "opt_in_pending": False}  # fmt: skip
    (action,) = actions()
    assert action.publish_requested is True and action.personal == ""
    assert outbox_kinds() == [] and mailbox.messages == []
    again = client.post(f"/actions/api/campaigns/{SLUG}/actions", json=body)
    assert again.status_code == 409 and len(actions()) == 1
    assert action.subject == "Voices for the port workers"
    listed = client.get("/actions/api/campaigns").get_json()["campaigns"]
    assert [c["count_text"] for c in listed] == ["1 message of solidarity"]


def test_the_embed_post_thanks_honestly(client: FlaskClient, gathering: Any) -> None:
    path = f"/actions/{SLUG}/embed"
    response = client.post(path, data=page_form(client, path))
    assert response.status_code == 303
    thanks = client.get(response.headers["Location"]).get_data(as_text=True)
    assert THANKS in thanks and "on its way to the targets" not in thanks
    assert "1 message of solidarity" in thanks
    assert actions()[0].publish_requested is True and outbox_kinds() == []


def test_a_campaign_with_targets_keeps_its_words(client: FlaskClient, app: Flask,
                                                 tmp_path: Path) -> None:  # fmt: skip
    load_campaign(tmp_path, SAMPLE + "\n[messages]\npublish = true\n")
    data = client.get("/actions/api/campaigns/example-mine-strike?lang=en").get_json()
    assert data["gathers_messages"] is False and data["publish"] is True
    assert data["publication_text"] == ""
    assert data["labels"]["thanks_text"] == "Your message is on its way to the targets."
    assert data["count_text"] == "0 messages sent"
    text = client.get("/actions/example-mine-strike?lang=en").get_data(as_text=True)
    assert "ua-publication" not in text and 'name="publish"' in text


def test_without_publish_a_campaign_without_targets_still_takes_no_action(
    client: FlaskClient, app: Flask, tmp_path: Path, mailbox: Mailbox
) -> None:
    load_campaign(tmp_path, SHOWING)
    data = client.get(f"/actions/api/campaigns/{SLUG}?lang=en").get_json()
    assert (data["form"], data["gathers_messages"], data["publish"]) == (False, False, False)
    assert Page(client.get(f"/actions/{SLUG}").get_data(as_text=True)).all("form") == []
    body = api_body(client, message=OWN)
    assert client.post(f"/actions/api/campaigns/{SLUG}/actions", json=body).status_code == 404
    assert client.post(f"/actions/{SLUG}", data={"name": "Ana"}).status_code == 404
    assert client.post(f"/actions/{SLUG}/embed", data={"name": "Ana"}).status_code == 404
    assert get_session().scalars(select(Action)).all() == [] and mailbox.messages == []
