"""Links in mail come from SERVER_NAME or a trusted host, never from any Host header."""

from __future__ import annotations

import logging
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from flask_urgentaction import links
from flask_urgentaction.models import Action, OutboxMessage, Subscriber
from flask_urgentaction.storage import get_session, get_storage

from .conftest import Mailbox, action_body, form_data, make_app

SLUG = "example-mine-strike"
PAGE = f"/actions/{SLUG}"
API = f"/actions/api/campaigns/{SLUG}"
ACTIONS = f"{API}/actions"
ANA = "ana@example.org"
TARGETS = ["ceo@mining.example", "minister@labour.example"]
SITE = "actions.example.org"
EVIL = "evil.example"
CONFIRM_LINK = re.compile(r"\S+/actions/confirm/[A-Za-z0-9_.\-]+")

# The four ways an app can be set up, as config on top of tests/conftest.py's.
PINNED = {"SERVER_NAME": SITE, "PREFERRED_URL_SCHEME": "https"}
TRUSTED = {"SERVER_NAME": None, "TRUSTED_HOSTS": [SITE]}
DEBUG = {"SERVER_NAME": None, "DEBUG": True}
NEITHER: dict[str, Any] = {"SERVER_NAME": None}


class SiteClient(FlaskClient):
    """A test client whose requests go to http://actions.example.org unless told otherwise.

    Flask's own client would send ``Host: localhost`` without SERVER_NAME, a host
    TRUSTED_HOSTS refuses.
    """

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        kwargs.setdefault("base_url", f"http://{SITE}")
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    app.test_client_class = SiteClient
    return app.test_client()


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def mailed_confirm_link(mailbox: Mailbox) -> str:
    (message,) = mailbox.to(ANA)
    found = CONFIRM_LINK.findall(text_of(message))
    assert found, text_of(message)
    assert len(set(found)) == 1
    return str(found[0])


def post_action(client: FlaskClient, host: str = SITE, **fields: Any) -> TestResponse:
    body = action_body(client, opt_in=True, **fields)
    return client.post(ACTIONS, json=body, headers={"Host": host})


def stored(model: Any) -> int:
    with get_storage().sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def outbox_kinds() -> list[str]:
    with get_storage().sessions() as session:
        return list(session.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)))


def link_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.ERROR and "SERVER_NAME" in r.message]


# --- SERVER_NAME -----------------------------------------------------------------


@pytest.mark.parametrize("app_config", [PINNED])
def test_with_server_name_a_forged_host_gets_a_confirm_link_to_server_name(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    # Plain http and a forged host: neither may reach the link.
    response = post_action(client, EVIL, name="Ana")
    assert response.status_code == 201
    assert response.get_json()["opt_in_pending"] is True

    link = mailed_confirm_link(mailbox)
    assert link.startswith(f"https://{SITE}/actions/confirm/")
    assert all(EVIL not in m.as_string() for m in mailbox.messages)
    # The link works where it points.
    path = link.removeprefix(f"https://{SITE}")
    assert client.post(path, base_url=f"https://{SITE}").status_code == 200
    with get_storage().sessions() as session:
        assert session.scalar(select(Subscriber.status)) == "confirmed"


@pytest.mark.parametrize("app_config", [{**PINNED, "APPLICATION_ROOT": "/site"}])
def test_mail_url_uses_server_name_root_and_scheme_whatever_the_request(app: Flask) -> None:
    with app.test_request_context("/actions/", base_url=f"http://{EVIL}"):
        assert links.available()
        url = links.mail_url("urgentaction.confirm", token="abc")
    assert url == f"https://{SITE}/site/actions/confirm/abc"
    # Outside a request, the same.
    assert links.mail_url("urgentaction.confirm", token="abc") == url


# --- TRUSTED_HOSTS -------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [TRUSTED])
def test_with_trusted_hosts_another_host_gets_400_and_nothing_is_stored(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    response = post_action(client, EVIL)
    assert response.status_code == 400
    page = client.post(PAGE, data=form_data(client, opt_in="y"), headers={"Host": EVIL})
    assert page.status_code == 400
    assert stored(Action) == 0 and stored(Subscriber) == 0
    assert outbox_kinds() == []
    assert mailbox.messages == []


@pytest.mark.parametrize("app_config", [TRUSTED])
def test_with_trusted_hosts_a_trusted_host_builds_the_link(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    assert client.get(API).get_json()["opt_in"] is True
    assert 'name="opt_in"' in client.get(PAGE).get_data(as_text=True)
    response = post_action(client)
    assert response.status_code == 201
    assert response.get_json()["opt_in_pending"] is True
    assert mailed_confirm_link(mailbox).startswith(f"http://{SITE}/actions/confirm/")


# --- debug mode ------------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [DEBUG])
def test_debug_mode_builds_links_from_the_request(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    response = post_action(client, "localhost:5000")
    assert response.status_code == 201
    assert response.get_json()["opt_in_pending"] is True
    assert mailed_confirm_link(mailbox).startswith("http://localhost:5000/actions/confirm/")


# --- neither ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "warned"),
    [(NEITHER, True), (PINNED, False), (TRUSTED, False), (DEBUG, False)],
)
def test_init_app_warns_when_links_cannot_be_built_naming_both_settings(
    tmp_path: Path,
    mailbox: Mailbox,
    caplog: pytest.LogCaptureFixture,
    config: dict[str, Any],
    warned: bool,
) -> None:
    with caplog.at_level(logging.WARNING):
        make_app(tmp_path, mailbox, **config)
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and "SERVER_NAME" in r.message
    ]
    if not warned:
        assert warnings == []
        return
    (record,) = warnings
    assert "SERVER_NAME='actions.example.org'" in record.message
    assert "TRUSTED_HOSTS=['actions.example.org']" in record.message
    assert "opt-in" in record.message


@pytest.mark.parametrize("app_config", [NEITHER])
def test_without_a_trusted_host_the_page_embed_and_json_offer_no_opt_in(
    client: FlaskClient, campaign: Any
) -> None:
    page = client.get(PAGE)
    embed = client.get(f"{PAGE}/embed")
    for response in (page, embed):
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert 'name="challenge_answer"' in html  # the form is there ...
        assert 'name="opt_in"' not in html  # ... without the box
        assert "Send me future urgent action alerts" not in html
    assert client.get(API).get_json()["opt_in"] is False


@pytest.mark.parametrize("app_config", [PINNED])
def test_with_a_trusted_host_the_page_embed_and_json_offer_the_opt_in(
    client: FlaskClient, campaign: Any
) -> None:
    for path in (PAGE, f"{PAGE}/embed"):
        assert 'name="opt_in"' in client.get(path).get_data(as_text=True)
    assert client.get(API).get_json()["opt_in"] is True


@pytest.mark.parametrize("app_config", [NEITHER])
def test_without_a_trusted_host_an_opt_in_is_refused_and_logged_the_action_still_counts(
    client: FlaskClient, campaign: Any, mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = post_action(client, EVIL)
        page = client.post(
            PAGE, data=form_data(client, email="bo@example.org", opt_in="y"),
            headers={"Host": EVIL},
        )  # fmt: skip

    assert response.status_code == 201
    assert response.get_json()["opt_in_pending"] is False
    assert page.status_code == 303
    assert "optin=0" in page.headers["Location"]
    # Each target got both actions; nobody got a confirmation.
    assert {address for rcpt, _message in mailbox.received for address in rcpt} == set(TARGETS)
    assert [len(mailbox.to(target)) for target in TARGETS] == [2, 2]
    assert mailbox.to(ANA) == [] and mailbox.to("bo@example.org") == []
    assert all(EVIL not in m.as_string() for m in mailbox.messages)
    assert set(outbox_kinds()) == {"target"}
    assert stored(Subscriber) == 0
    with get_storage().sessions() as session:
        assert list(session.scalars(select(Action.opt_in))) == [False, False]
    assert len(link_errors(caplog)) == 2


@pytest.mark.parametrize("app_config", [NEITHER])
def test_mail_url_refuses_an_untrusted_request_host(app: Flask) -> None:
    with app.test_request_context("/actions/", base_url=f"http://{EVIL}"):
        assert not links.available()
        with pytest.raises(links.LinksUnavailable, match="TRUSTED_HOSTS"):
            links.mail_url("urgentaction.confirm", token="abc")


# --- the CLI -----------------------------------------------------------------------------


def alert(app: Flask) -> Result:
    return app.test_cli_runner().invoke(args=["urgentaction", "alert", SLUG])


@pytest.mark.parametrize("app_config", [NEITHER, TRUSTED, DEBUG])
@pytest.mark.parametrize("subscribers", [0, 1])
def test_alert_without_server_name_fails_with_a_clear_message(
    app: Flask, campaign: Any, mailbox: Mailbox, subscribers: int
) -> None:
    if subscribers:
        session = get_session()
        session.add(Subscriber(email=ANA, email_key=ANA, name="Ana", lang="en",
                               status="confirmed"))  # fmt: skip
        session.commit()
    result = alert(app)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert "Error: " in result.output
    assert "SERVER_NAME='actions.example.org'" in result.output
    assert outbox_kinds() == []
    assert mailbox.messages == []
    with pytest.raises(links.LinksUnavailable, match="outside a request"):
        links.mail_url("urgentaction.index")
