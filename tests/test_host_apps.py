"""The extension inside real host apps, beside the extensions most Flask sites use:
Flask-WTF's CSRFProtect, Flask-Login, Flask-Limiter, and werkzeug's ProxyFix."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask, render_template_string
from flask.testing import FlaskClient
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, login_required, login_user
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from flask_urgentaction import UrgentAction
from flask_urgentaction.campaigns import load_files
from flask_urgentaction.storage import get_session

from .conftest import SAMPLE, Mailbox, action_body, form_challenge, form_data, host_app, make_app
from .test_subscriptions import confirm_path

SLUG = "example-mine-strike"
ACTIONS_URL = f"/actions/api/campaigns/{SLUG}/actions"


def load_sample(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "campaign.toml"
    path.write_text(SAMPLE, encoding="utf-8")
    with app.app_context():
        load_files(get_session(), [path])


def embed_form(client: FlaskClient, email: str) -> dict[str, str]:
    html = client.get(f"/actions/{SLUG}/embed").get_data(as_text=True)
    token, answer = form_challenge(html)
    return {"name": "Cy", "email": email, "country": "BA", "lang": "en",
            "challenge_token": token, "challenge_answer": answer, "hp": ""}  # fmt: skip


# --- Flask-WTF's CSRFProtect -------------------------------------------------


@pytest.fixture(params=["CSRFProtect first", "UrgentAction first"])
def csrf_app(request: pytest.FixtureRequest, tmp_path: Path, mailbox: Mailbox) -> Flask:
    """A host app with ``CSRFProtect(app)``, set up before or after ours."""
    app = host_app(tmp_path, mailbox)
    if request.param == "CSRFProtect first":
        CSRFProtect(app)
        UrgentAction(app)
    else:
        UrgentAction(app)
        CSRFProtect(app)

    @app.get("/profile")
    def profile_form() -> str:
        return render_template_string("{{ csrf_token() }}")

    @app.post("/profile")
    def profile() -> str:
        return "saved"

    load_sample(app, tmp_path)
    return app


def test_every_post_of_ours_works_beside_csrfprotect(csrf_app: Flask, mailbox: Mailbox) -> None:
    client = csrf_app.test_client()
    # The app's very first request is a POST of ours: refused by our checks, not CSRF's.
    first = client.post(ACTIONS_URL, json={})
    assert first.status_code == 422, first.get_data(as_text=True)
    # The JSON API, with the opt-in that mails a confirm link.
    answer = client.post(ACTIONS_URL, json=action_body(client, opt_in=True))
    assert answer.status_code == 201, answer.get_json()
    # The page form and the iframe embed: the challenge is their CSRF token.
    page = client.post(f"/actions/{SLUG}", data=form_data(client, email="bo@example.org"))
    assert page.status_code == 303
    assert page.headers["Location"].startswith(f"/actions/{SLUG}/thanks")
    embedded = client.post(f"/actions/{SLUG}/embed", data=embed_form(client, "cy@example.org"))
    assert embedded.status_code == 303
    assert embedded.headers["Location"].startswith(f"/actions/{SLUG}/embed/thanks")

    # The confirm button, with the mailed link: the token in the URL is the proof.
    confirmed = client.post(confirm_path(mailbox))
    assert confirmed.status_code == 200
    assert "You will receive urgent action alerts" in confirmed.get_data(as_text=True)

    # The unsubscribe button, as a mail client's RFC 8058 one-click POST sends it.
    alert = csrf_app.test_cli_runner().invoke(args=["urgentaction", "alert", SLUG])
    assert alert.exit_code == 0, alert.output
    (mail,) = [m for m in mailbox.to("ana@example.org") if m["List-Unsubscribe"]]
    url = str(mail["List-Unsubscribe"]).strip("<>")
    left = client.post(
        url.removeprefix("http://actions.test"),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert left.status_code == 200
    assert "You are unsubscribed" in left.get_data(as_text=True)


def test_host_routes_stay_protected_by_csrfprotect(csrf_app: Flask) -> None:
    client = csrf_app.test_client()
    # Warm up: the late hook has run, so a missing exemption would show below.
    assert client.get(f"/actions/{SLUG}").status_code == 200
    refused = client.post("/profile", data={"name": "Ana"})
    assert refused.status_code == 400
    assert "CSRF" in refused.get_data(as_text=True)
    token = client.get("/profile").get_data(as_text=True)
    assert client.post("/profile", data={"csrf_token": token}).status_code == 200


# --- Flask-Login -------------------------------------------------------------

# The host's own take on our layout: its header says who is signed in.
LOGIN_BASE = """\
{% extends "urgentaction/standalone.html" %}
{% block header %}<p class="who">{% if current_user.is_authenticated -%}
Signed in as {{ current_user.id }}{% else %}Not signed in{% endif %}</p>{{ super() }}{% endblock %}
"""


class Member(UserMixin):  # type: ignore[misc]
    def __init__(self, user_id: str) -> None:
        self.id = user_id


@pytest.fixture
def login_app(tmp_path: Path, mailbox: Mailbox) -> Flask:
    site = tmp_path / "site"
    (site / "templates" / "urgentaction").mkdir(parents=True)
    (site / "templates" / "urgentaction" / "base.html").write_text(LOGIN_BASE, "utf-8")
    app = host_app(tmp_path, mailbox, root_path=site)
    login = LoginManager(app)
    login.login_view = "sign_in"

    @login.user_loader
    def load_user(user_id: str) -> Member | None:
        return Member(user_id) if user_id == "ana" else None

    @app.get("/members")
    @login_required
    def members() -> str:
        return "members only"

    @app.route("/sign-in", methods=["GET", "POST"])
    def sign_in() -> str:
        login_user(Member("ana"))
        return "signed in"

    UrgentAction(app)
    load_sample(app, tmp_path)
    return app


def test_flask_login_guards_host_pages_and_ours_stay_public(login_app: Flask) -> None:
    client = login_app.test_client()
    page = client.get(f"/actions/{SLUG}")
    assert page.status_code == 200
    assert '<p class="who">Not signed in</p>' in page.get_data(as_text=True)
    # A first visit gets no cookie: the embed must work with cookies blocked.
    assert "Set-Cookie" not in page.headers
    embedded = client.get(f"/actions/{SLUG}/embed")
    assert embedded.status_code == 200 and "Set-Cookie" not in embedded.headers
    assert client.get("/actions/").status_code == 200
    sent = client.post(f"/actions/{SLUG}", data=form_data(client))
    assert sent.status_code == 303
    answer = client.post(ACTIONS_URL, json=action_body(client, email="bo@example.org"))
    assert answer.status_code == 201

    guarded = client.get("/members")
    assert guarded.status_code == 302
    assert guarded.headers["Location"].startswith("/sign-in")
    assert client.post("/sign-in").status_code == 200
    assert client.get("/members").status_code == 200
    signed_in = client.get(f"/actions/{SLUG}").get_data(as_text=True)
    assert '<p class="who">Signed in as ana</p>' in signed_in


# --- Flask-Limiter -----------------------------------------------------------


def test_flask_limiter_limits_the_host_and_our_own_limit_still_answers(
    tmp_path: Path, mailbox: Mailbox
) -> None:
    app = make_app(tmp_path, mailbox, URGENTACTION_RATE_LIMIT="2 per minute")
    Limiter(get_remote_address, app=app, default_limits=["3 per minute"], storage_uri="memory://")

    @app.get("/news")
    def news() -> str:
        return "news"

    load_sample(app, tmp_path)
    client = app.test_client()
    assert [client.get("/news").status_code for _ in range(4)] == [200, 200, 200, 429]

    # Each route has its own count under the host's default limit.
    assert client.get("/actions/").status_code == 200
    sent = client.post(f"/actions/{SLUG}", data=form_data(client))  # a GET and a POST
    assert sent.status_code == 303
    answer = client.post(ACTIONS_URL, json=action_body(client, email="bo@example.org"))
    assert answer.status_code == 201, answer.get_json()
    # Our own limit on submissions (two a minute here) answers in its own words.
    again = client.post(ACTIONS_URL, json=action_body(client, email="cy@example.org"))
    assert again.status_code == 429
    assert "Too many messages" in again.get_json()["error"]
    assert int(again.headers["Retry-After"]) > 0


# --- werkzeug's ProxyFix -----------------------------------------------------

PUBLIC = "https://actions.example.org"


def through_proxy(client_address: str) -> dict[str, str]:
    """The headers a reverse proxy in front of the app adds."""
    return {
        "X-Forwarded-For": client_address,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "actions.example.org",
    }


@pytest.fixture
def proxied(tmp_path: Path, mailbox: Mailbox) -> FlaskClient:
    app = make_app(
        tmp_path, mailbox, SERVER_NAME="actions.example.org", URGENTACTION_RATE_LIMIT="1 per minute"
    )
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    load_sample(app, tmp_path)
    client = app.test_client()
    # Every request reaches the app from the proxy's own address.
    client.environ_base["REMOTE_ADDR"] = "10.0.0.2"
    return client


def test_behind_proxyfix_the_rate_limit_keys_on_the_forwarded_client_address(
    proxied: FlaskClient,
) -> None:
    def act(address: str, email: str) -> int:
        body = action_body(proxied, email=email)
        return proxied.post(ACTIONS_URL, json=body, headers=through_proxy(address)).status_code

    assert act("203.0.113.5", "ana@example.org") == 201
    assert act("203.0.113.5", "bo@example.org") == 429
    # Another supporter behind the same proxy has a limit of their own.
    assert act("198.51.100.7", "cy@example.org") == 201


def test_behind_proxyfix_links_and_the_origin_check_use_the_public_scheme_and_host(
    proxied: FlaskClient,
) -> None:
    data = proxied.get(f"/actions/api/campaigns/{SLUG}", headers=through_proxy("203.0.113.5"))
    assert data.get_json()["url"].startswith(f"{PUBLIC}/actions/{SLUG}")
    # A browser on our own page sends our public origin, which the app must
    # recognise as its own although it is served over plain HTTP behind the proxy.
    headers = through_proxy("203.0.113.9") | {"Origin": PUBLIC}
    sent = proxied.post(f"/actions/{SLUG}", data=form_data(proxied), headers=headers)
    assert sent.status_code == 303
    thanks = proxied.get(sent.headers["Location"], headers=through_proxy("203.0.113.9"))
    assert quote(f"{PUBLIC}/actions/{SLUG}") in thanks.get_data(as_text=True)  # share links
    # An origin that is not ours is still refused.
    headers = through_proxy("203.0.113.10") | {"Origin": "https://elsewhere.example"}
    refused = proxied.post(f"/actions/{SLUG}", data=form_data(proxied), headers=headers)
    assert refused.status_code == 403
    assert "cannot be sent from that website" in refused.get_data(as_text=True)


# --- The host's layout around our pages (docs/templates.md) ------------------

TEMPLATES_DOC = Path(__file__).resolve().parent.parent / "docs" / "templates.md"


def test_the_documented_layout_override_draws_our_pages_in_the_host_layout(
    tmp_path: Path, mailbox: Mailbox
) -> None:
    layout, override = re.findall(
        r"```html\+jinja\n(.*?)```", TEMPLATES_DOC.read_text(encoding="utf-8"), re.S
    )
    site = tmp_path / "site"
    (site / "templates" / "urgentaction").mkdir(parents=True)
    (site / "templates" / "layout.html").write_text(layout, "utf-8")
    (site / "templates" / "urgentaction" / "base.html").write_text(override, "utf-8")
    app = host_app(tmp_path, mailbox, root_path=site)
    UrgentAction(app)
    load_sample(app, tmp_path)
    client = app.test_client()

    html = client.get(f"/actions/{SLUG}?lang=de").get_data(as_text=True)
    title = "Stellt die entlassenen Gewerkschafter wieder ein"
    assert f"<title>{title} · Solidarity Network</title>" in html
    assert "... your navigation ..." in html
    assert html.count("<main") == 1
    assert "/actions/static/urgentaction.css" in html
    # Our skip link, in German, comes before the host's navigation and leads to our page.
    skip = html.index('<a class="ua-skip" href="#main">Zum Inhalt springen</a>')
    assert skip < html.index("<header>")
    assert '<div lang="de" dir="ltr">' in html and '<div id="main" class="ua-main">' in html
    assert 'hreflang="en"' in html  # the language picker
    assert "<h1" in html.split('id="main"')[1]  # the page itself, in our block
    # The iframe embed keeps our plain document.
    embed = client.get(f"/actions/{SLUG}/embed").get_data(as_text=True)
    assert "your navigation" not in embed and embed.startswith("<!doctype html>")
