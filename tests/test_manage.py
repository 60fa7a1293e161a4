"""The organisers' dashboard: off until the host says who organises, the host's
check deciding each request, the campaign list, CSRF and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask, redirect
from flask.testing import FlaskClient
from sqlalchemy import select

from flask_urgentaction.manage import audit
from flask_urgentaction.models import AuditEntry
from flask_urgentaction.storage import get_session

from .conftest import ORGANISER, action_body

HOME = "/actions/manage/"


def test_off_until_the_host_registers_a_check(client: FlaskClient, campaign: Any) -> None:
    assert client.get(HOME).status_code == 404
    assert client.get("/actions/manage/audit").status_code == 404


def test_refused_when_the_check_says_no(app: Flask, client: FlaskClient, campaign: Any) -> None:
    app.extensions["urgentaction"].extension.organiser_check(lambda: False)
    response = client.get(HOME)
    assert response.status_code == 403
    assert "You are not allowed to manage campaigns." in response.get_data(as_text=True)
    # A refused organiser reaches no campaign page either.
    assert client.get("/actions/manage/campaigns/example-mine-strike").status_code == 403


def test_the_hosts_login_redirect_is_passed_on(app: Flask, client: FlaskClient) -> None:
    app.extensions["urgentaction"].extension.organiser_check(lambda: redirect("/login?next=x"))
    response = client.get(HOME)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login?next=x")


def test_campaign_list(client: FlaskClient, campaign: Any, organiser: str) -> None:
    response = client.get(HOME)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Reinstate the sacked union leaders" in page
    assert 'href="/actions/manage/campaigns/example-mine-strike' in page
    assert ">live<" in page
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]

    body = action_body(client)
    assert client.post("/actions/api/campaigns/example-mine-strike/actions",
                       json=body).status_code == 201  # fmt: skip
    page = client.get(HOME).get_data(as_text=True)
    # The count and the time of the last action, in UTC.
    row = page.split("example-mine-strike</span>", 1)[1].split("</tr>", 1)[0]
    assert '<td class="ua-num">1</td>' in row
    assert "UTC</time>" in row


def test_the_organisers_language(client: FlaskClient, campaign: Any, organiser: str) -> None:
    page = client.get(HOME, headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert '<html lang="de"' in page


def test_audit_log_records_who_and_what(app: Flask, client: FlaskClient, organiser: str) -> None:
    with app.test_request_context(HOME):
        app.preprocess_request()  # the check names the organiser
        session = get_session()
        audit.record(session, "campaign.status", "example-mine-strike", "live → closed")
        session.commit()
    entry = get_session().scalar(select(AuditEntry))
    assert entry is not None
    assert (entry.who, entry.action, entry.campaign_slug) == (
        ORGANISER, "campaign.status", "example-mine-strike")  # fmt: skip
    assert (datetime.now(UTC) - entry.at).total_seconds() < 60

    page = client.get("/actions/manage/audit").get_data(as_text=True)
    assert ORGANISER in page
    assert "changed the campaign&#39;s status" in page
    assert "live → closed" in page
    only = client.get("/actions/manage/audit?campaign=another").get_data(as_text=True)
    assert "live → closed" not in only


def test_unknown_campaign_is_404(client: FlaskClient, organiser: str) -> None:
    assert client.get("/actions/manage/campaigns/no-such").status_code == 404
