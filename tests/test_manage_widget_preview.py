"""The widget preview: a dashboard page showing the embed widget of any campaign,
and the short-lived token with which the JSON API then shows a campaign that is
not public, while its actions stay refused."""

from __future__ import annotations

import html
import importlib
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from flask_urgentaction.campaigns import load_files
from flask_urgentaction.models import Action
from flask_urgentaction.openapi import openapi_document
from flask_urgentaction.storage import get_session
from flask_urgentaction.tokens import PREVIEW_MAX_AGE, Purpose, sign

from .conftest import SAMPLE, action_body

SLUG = "example-mine-strike"
PAGE = f"/actions/manage/campaigns/{SLUG}/preview/widget"
API = f"/actions/api/campaigns/{SLUG}"
TITLES = {
    "en": "Reinstate the sacked union leaders",
    "de": "Stellt die entlassenen Gewerkschafter wieder ein",
}
HOST = re.compile(
    r'<div class="ua-widget-preview" data-urgentaction="([^"]+)" data-lang="([^"]+)"'
    r' data-preview="([^"]+)"></div>'
)


def preview_token(client: FlaskClient, page: str = PAGE, lang: str = "en") -> str:
    """The token the preview page puts on the widget's element."""
    response = client.get(f"{page}?lang={lang}")
    assert response.status_code == 200, response.status_code
    found = HOST.search(response.get_data(as_text=True))
    assert found, "no widget element on the preview page"
    return html.unescape(found.group(3))


def set_status(campaign: Any, status: str) -> None:
    campaign.status = status
    get_session().commit()


def action_count() -> int:
    return int(get_session().scalar(select(func.count()).select_from(Action)) or 0)


@pytest.mark.parametrize("code", ["en", "de"])
def test_the_preview_page_shows_a_drafts_widget_in_each_language(
    client: FlaskClient, campaign: Any, organiser: str, code: str
) -> None:
    set_status(campaign, "draft")
    response = client.get(f"{PAGE}?lang={code}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    found = HOST.search(page)
    assert found and found.group(1, 2) == (SLUG, code)
    # The script partner websites load, from the same address.
    assert '<script src="/actions/widget.js" async></script>' in page
    if code == "en":  # The banner is in the page's language.
        assert "Preview: nothing can be sent." in page
    assert 'class="ua-notice ua-preview-banner" role="note"' in page
    # The language switch: a link per language, the one shown marked current.
    for other in ("en", "de"):
        link = f'href="{PAGE}?lang={other}" hreflang="{other}"'
        assert link in page
    assert re.search(rf'hreflang="{code}" lang="{code}" aria-current="true"', page)
    assert response.headers["Cache-Control"] == "no-store"

    token = html.unescape(found.group(3))
    answer = client.get(f"{API}?lang={code}&preview={token}")
    assert answer.status_code == 200
    body = answer.get_json()
    assert (body["title"], body["lang"], body["status"]) == (TITLES[code], code, "draft")
    assert body["preview"] is True
    assert body["preview_text"]
    # No challenge is issued: the spam check's line, with nothing to send it with.
    assert body["challenge"]["token"] == ""
    assert re.search(r"\d{4}", body["challenge"]["question"])
    assert answer.headers["Cache-Control"] == "no-store"
    # Every key of the preview answer is documented, and the other way round.
    documented = openapi_document("http://x")["components"]["schemas"]["Campaign"]["properties"]
    assert set(body) == set(documented)
    # Without the token the draft is not there.
    assert client.get(f"{API}?lang={code}").status_code == 404


def test_a_scheduled_campaign_is_previewed_too(
    client: FlaskClient, campaign: Any, organiser: str
) -> None:
    campaign.opens_at = datetime(2999, 1, 1, tzinfo=UTC)
    get_session().commit()
    assert client.get(API).status_code == 404
    body = client.get(f"{API}?preview={preview_token(client)}").get_json()
    assert (body["status"], body["preview"]) == ("scheduled", True)


def test_an_expired_token_gets_the_usual_404(
    app: Flask, client: FlaskClient, campaign: Any, organiser: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_status(campaign, "draft")
    # Signed just over an hour ago.
    signed_at = time.time() - PREVIEW_MAX_AGE - 2
    with app.test_request_context(), monkeypatch.context() as patched:
        patched.setattr(time, "time", lambda: signed_at)
        old = sign(Purpose.PREVIEW, SLUG)
    answer = client.get(f"{API}?preview={old}")
    assert answer.status_code == 404
    assert "preview" not in answer.get_json()
    # The same token a moment younger than the limit still works.
    # (views/__init__.py exports the blueprint under the module's name.)
    api = importlib.import_module("flask_urgentaction.views.api")
    monkeypatch.setattr(api, "PREVIEW_MAX_AGE", PREVIEW_MAX_AGE + 60)
    assert client.get(f"{API}?preview={old}").get_json()["preview"] is True


def test_a_token_for_another_campaign_or_purpose_gets_the_usual_404(
    app: Flask, client: FlaskClient, campaign: Any, organiser: str, tmp_path: Path
) -> None:
    other = tmp_path / "other.toml"
    other.write_text(SAMPLE.replace(SLUG, "other-strike"), encoding="utf-8")
    load_files(get_session(), [other])
    set_status(campaign, "draft")
    elsewhere = preview_token(client, "/actions/manage/campaigns/other-strike/preview/widget")
    assert client.get(f"/actions/api/campaigns/other-strike?preview={elsewhere}").status_code == 200
    with app.test_request_context():
        # A genuine token of ours, signed for another purpose with the slug in it.
        confirm = sign(Purpose.CONFIRM, SLUG)
    for token in (elsewhere, confirm, "not-a-token", preview_token(client)[:-2] + "xx"):
        answer = client.get(f"{API}?preview={token}")
        assert answer.status_code == 404, token
        assert answer.get_json() == {"error": "There is no such campaign, or it is not public yet."}


def test_a_public_campaign_is_unaffected(
    client: FlaskClient, campaign: Any, organiser: str
) -> None:
    for query in ("", "?preview=not-a-token"):
        answer = client.get(API + query)
        assert answer.status_code == 200
        body = answer.get_json()
        assert "preview" not in body and "preview_text" not in body
        assert body["challenge"]["token"]
        assert answer.headers["Cache-Control"] == "no-store"
    # Its preview, from the dashboard, is a preview all the same.
    previewed = client.get(f"{API}?preview={preview_token(client)}").get_json()
    assert (previewed["status"], previewed["preview"]) == ("live", True)
    assert previewed["challenge"]["token"] == ""


def test_actions_to_a_draft_stay_refused_whatever_token_is_sent(
    client: FlaskClient, campaign: Any, organiser: str
) -> None:
    body = action_body(client)  # A real challenge, taken while the campaign was live.
    set_status(campaign, "draft")
    token = preview_token(client)
    for url, extra in ((f"{API}/actions", {}), (f"{API}/actions?preview={token}", {}),
                       (f"{API}/actions?preview={token}", {"preview": token})):  # fmt: skip
        answer = client.post(url, json={**body, **extra})
        assert answer.status_code == 404, url
    assert action_count() == 0


def test_only_organisers_get_the_preview_page(
    app: Flask, client: FlaskClient, campaign: Any
) -> None:
    assert client.get(PAGE).status_code == 404  # The dashboard is off.
    app.extensions["urgentaction"].extension.organiser_check(lambda: False)
    response = client.get(PAGE)
    assert response.status_code == 403
    assert "data-preview" not in response.get_data(as_text=True)


def test_the_edit_page_and_the_page_preview_link_to_it(
    client: FlaskClient, campaign: Any, organiser: str
) -> None:
    set_status(campaign, "draft")
    edit = client.get(f"/actions/manage/campaigns/{SLUG}/edit").get_data(as_text=True)
    assert f'href="{PAGE}?lang=en">Preview the widget</a>' in edit
    assert "once it is open" not in edit
    preview = client.get(f"/actions/manage/campaigns/{SLUG}/preview?lang=de")
    assert f'href="{PAGE}?lang=de">' in preview.get_data(as_text=True)
