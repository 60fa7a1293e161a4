"""The dashboard's Messages tab: approving, rejecting and correcting published
messages as the public pages then show them, writing and translating
declarations, and moderating their co-signatures; every change audited."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from flask_urgentaction.models import (
    Action,
    AuditEntry,
    Cosignature,
    Declaration,
    MessageStatus,
)
from flask_urgentaction.storage import get_session, get_storage

from .conftest import SAMPLE, csrf_token
from .test_api import load_campaign
from .test_messages import MESSAGES, PUBLISH, SLUG, act, stored

PAGE = f"/actions/manage/campaigns/{SLUG}/messages"
NEW_DECLARATION = f"/actions/manage/campaigns/{SLUG}/declarations/new"
PHONE = "Call me on +387 61 123 456."


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"URGENTACTION_DELIVERY": "worker"}


@pytest.fixture
def publishing(app: Flask, tmp_path: Path) -> Any:
    return load_campaign(tmp_path, SAMPLE + PUBLISH)


def audit_entries(action: str) -> list[str]:
    with get_storage().sessions() as session:
        query = select(AuditEntry.detail).where(AuditEntry.action == action)
        return list(session.scalars(query))


def status_of(action_id: int) -> MessageStatus | None:
    with get_storage().sessions() as session:
        row = session.get(Action, action_id)
        assert row is not None
        return row.message_status


def public(client: FlaskClient, url: str = MESSAGES) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def test_approve_and_reject_show_and_hide_the_message(
    client: FlaskClient, publishing: Any, organiser: str
) -> None:
    ana = act(client, "ana@example.org", message="Solidarity from the miners of Tuzla.")
    lejla = act(client, "lejla@example.org", message="Greetings from Sarajevo.")
    approve_ids = [ana, lejla]
    page = client.get(PAGE).get_data(as_text=True)
    assert "Solidarity from the miners of Tuzla." in page
    button = f'name="approve" value="{ana}">Approve<span class="ua-visually-hidden"> '
    assert button + "the message from Ana</span>" in page
    token = csrf_token(client, PAGE)
    assert "Tuzla" not in public(client)

    response = client.post(PAGE, data={"csrf_token": token, "approve": approve_ids})
    assert response.status_code == 303
    assert "Approved 2 and rejected 0 messages." in client.get(PAGE).get_data(as_text=True)
    assert "Solidarity from the miners of Tuzla." in public(client)
    assert audit_entries("message.approve") == [f"ids {ana}, {lejla}"]

    response = client.post(PAGE, data={"csrf_token": token, "reject": ana})
    assert response.status_code == 303
    shown = public(client)
    assert "Tuzla" not in shown and "Greetings from Sarajevo." in shown
    assert audit_entries("message.reject") == [f"ids {ana}"]
    # The filters: the rejected one under "rejected" only.
    rejected = client.get(PAGE + "?show=rejected").get_data(as_text=True)
    assert "Tuzla" in rejected and "Sarajevo" not in rejected


def test_a_bad_id_changes_nothing(client: FlaskClient, publishing: Any, organiser: str) -> None:
    ana = act(client, "ana@example.org")
    token = csrf_token(client, PAGE)
    response = client.post(PAGE, data={"csrf_token": token, "approve": [ana, 999999]})
    assert response.status_code == 422
    assert "Nothing was changed: 999999: no such message" in response.get_data(as_text=True)
    assert status_of(ana) is MessageStatus.PENDING
    assert audit_entries("message.approve") == []
    assert client.post(PAGE, data={"csrf_token": token, "approve": "x"}).status_code == 400
    assert status_of(ana) is MessageStatus.PENDING


def test_a_correction_is_shown_and_audited_and_the_text_sent_stays(
    app: Flask, client: FlaskClient, publishing: Any, organiser: str
) -> None:
    ana = act(client, "ana@example.org", message=f"Solidarity from Tuzla. {PHONE}")
    edit = f"{PAGE}/{ana}/edit"
    token = csrf_token(client, edit)
    client.post(PAGE, data={"csrf_token": token, "approve": ana})
    assert PHONE in public(client)

    too_long = client.post(edit, data={"csrf_token": token, "message": "x" * 5001})
    assert too_long.status_code == 422
    response = client.post(edit, data={"csrf_token": token, "personal": "",
                                       "message": "Solidarity from Tuzla."})  # fmt: skip
    assert response.status_code == 303
    shown = public(client)
    assert "Solidarity from Tuzla." in shown and PHONE not in shown
    assert audit_entries("message.edit") == [f"id {ana}"]
    # The text as sent: in the row, and in the export.
    assert PHONE in stored("ana@example.org").message
    export = app.test_cli_runner().invoke(args=["urgentaction", "export", SLUG])
    assert PHONE in export.output
    page = client.get(PAGE).get_data(as_text=True)
    assert "Corrected by an organiser" in page


def test_publication_off_is_said(client: FlaskClient, campaign: Any, organiser: str) -> None:
    page = client.get(PAGE).get_data(as_text=True)
    assert "Publication of messages is off for this campaign" in page
    assert "[messages] publish = true" in page
    assert '<span class="ua-status ua-status-live">live</span>' in page


def declaration_form(token: str, **fields: str) -> dict[str, str]:
    return {
        "csrf_token": token, "id": "itf", "organisation": "Transport Workers' Federation",
        "country": "GB", "published": "2026-03-01",
        "title-en": "Dockers stand with the miners", "teaser-en": "We stand with them.",
        "body-en": "The **dockers** of every port stand with the miners.",
        "title-de": "Die Hafenarbeiter stehen zu den Bergleuten",
        "body-de": "Die Hafenarbeiter aller Häfen stehen zu den Bergleuten.",
    } | fields  # fmt: skip


def only_declaration() -> Declaration:
    with get_storage().sessions() as session:
        (row,) = session.scalars(select(Declaration))
        return row


def test_a_new_declaration_in_two_languages_is_published(
    client: FlaskClient, campaign: Any, organiser: str
) -> None:
    token = csrf_token(client, NEW_DECLARATION)
    response = client.post(NEW_DECLARATION, data=declaration_form(token))
    assert response.status_code == 303, response.get_data(as_text=True)
    row = only_declaration()
    assert list(row.texts) == ["en", "de"] and row.country == "GB"
    assert row.published is not None and row.published.isoformat() == "2026-03-01T00:00:00+00:00"
    assert audit_entries("declaration.edit") == ["new itf: languages en, de"]

    assert "Dockers stand with the miners" in public(client, f"/actions/{SLUG}?lang=en")
    assert "Die Hafenarbeiter stehen zu den Bergleuten" in public(
        client, f"/actions/{SLUG}?lang=de"
    )
    own = public(client, f"/actions/{SLUG}/declarations/{row.public_id}?lang=en")
    assert "<strong>dockers</strong>" in own

    # Translated again: the German title changes, the day stays.
    edit = f"/actions/manage/campaigns/{SLUG}/declarations/itf/edit"
    page = client.get(edit).get_data(as_text=True)
    assert 'value="Die Hafenarbeiter stehen zu den Bergleuten"' in page
    assert 'name="id"' not in page
    fields = declaration_form(token, **{"title-de": "Solidarität der Hafenarbeiter"})
    assert client.post(edit, data=fields).status_code == 303
    assert "Solidarität der Hafenarbeiter" in public(client, f"/actions/{SLUG}?lang=de")
    assert only_declaration().public_id == row.public_id
    assert audit_entries("declaration.edit")[-1] == "itf: languages en, de"


def test_a_declaration_is_checked_as_the_file_is(
    client: FlaskClient, campaign: Any, organiser: str
) -> None:
    token = csrf_token(client, NEW_DECLARATION)
    response = client.post(NEW_DECLARATION, data=declaration_form(token, **{"title-en": ""}))
    assert response.status_code == 422
    page = html.unescape(response.get_data(as_text=True))
    assert "Not saved: translations.en.title: required" in page
    # What was typed is kept.
    assert "The **dockers** of every port stand with the miners.</textarea>" in page
    response = client.post(NEW_DECLARATION, data=declaration_form(token, country="XX"))
    assert "'XX' is not an ISO 3166-1 alpha-2 country code" in html.unescape(
        response.get_data(as_text=True)
    )
    with get_storage().sessions() as session:
        assert list(session.scalars(select(Declaration))) == []
    assert audit_entries("declaration.edit") == []


def test_co_signatures_are_approved_in_the_dashboard(
    client: FlaskClient, campaign: Any, organiser: str
) -> None:
    token = csrf_token(client, NEW_DECLARATION)
    assert client.post(NEW_DECLARATION, data=declaration_form(token)).status_code == 303
    row = only_declaration()
    session = get_session()
    signature = Cosignature(declaration_id=row.id, campaign_id=campaign.id, name="Emina Hodžić",
                            email="emina@example.org", email_key="emina@example.org",
                            union="SSM", country="BA", lang="en")  # fmt: skip
    session.add(signature)
    session.commit()
    own = f"/actions/{SLUG}/declarations/{row.public_id}"
    assert "Emina" not in public(client, own)
    page = client.get(PAGE).get_data(as_text=True)
    button = f'name="approve" value="{signature.id}">Approve<span class="ua-visually-hidden"> '
    assert button + "the co-signature of Emina Hodžić</span>" in page
    signatures = f"/actions/manage/campaigns/{SLUG}/signatures"
    response = client.post(signatures, data={"csrf_token": token, "approve": signature.id})
    assert response.status_code == 303
    assert "Emina Hodžić" in public(client, own)
    assert audit_entries("signature.approve") == [f"ids {signature.id}"]
    bad = client.post(signatures, data={"csrf_token": token, "reject": [signature.id, 424242]})
    assert bad.status_code == 422
    assert "Emina Hodžić" in public(client, own)
    assert audit_entries("signature.reject") == []


def test_posts_without_the_csrf_token_are_refused(
    client: FlaskClient, publishing: Any, organiser: str
) -> None:
    ana = act(client, "ana@example.org")
    assert client.post(PAGE, data={"approve": ana}).status_code == 400
    assert status_of(ana) is MessageStatus.PENDING
    edit = f"{PAGE}/{ana}/edit"
    assert client.post(edit, data={"message": "changed"}).status_code == 400
    assert stored("ana@example.org").published_message is None
    assert client.post(NEW_DECLARATION, data=declaration_form("")).status_code == 400
    with get_storage().sessions() as session:
        assert list(session.scalars(select(Declaration))) == []
    assert audit_entries("message.approve") == audit_entries("declaration.edit") == []
