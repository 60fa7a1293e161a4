"""The demo a newcomer runs: its campaigns load, an action reaches its mail catcher,
and the mailbox page shows the targets' mail and the confirmation link."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from aiosmtpd.controller import Controller
from flask import Flask

from .conftest import form_challenge, free_port

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo"


def load_module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Flask]:
    catcher = load_module("demo_mailcatcher", DEMO / "mailcatcher.py")
    maildir = tmp_path / "mailbox"
    maildir.mkdir()
    port = free_port()
    controller = Controller(catcher.MaildirHandler(maildir), hostname="127.0.0.1", port=port)
    controller.start()
    app_module = load_module("demo_app", DEMO / "app.py")
    app: Flask = app_module.create_app({
        "INSTANCE_PATH": tmp_path / "instance",
        "MAIL_PORT": port,
        "DEMO_MAILBOX_DIR": str(maildir),
        "URGENTACTION_MIN_FILL_SECONDS": 0,
    })  # fmt: skip
    try:
        yield app
    finally:
        controller.stop()


def test_demo_campaigns_load_and_an_action_shows_up_in_the_mailbox(demo: Flask) -> None:
    runner = demo.test_cli_runner()
    files = sorted(str(p) for p in (DEMO / "campaigns").glob("*.toml"))
    loaded = runner.invoke(args=["urgentaction", "campaigns", "load", *files])
    assert loaded.exit_code == 0, loaded.output
    assert "created kestrel-hill-miners" in loaded.output

    client = demo.test_client()
    home = client.get("/").get_data(as_text=True)
    # The home page says how to start afresh and where the pages' layout comes from.
    assert "RESET=1 scripts/demo.sh" in home
    assert "examples/demo/templates/urgentaction/base.html" in home
    listing = client.get("/actions/").get_data(as_text=True)
    assert "/actions/kestrel-hill-miners" in listing

    page = client.get("/actions/kestrel-hill-miners").get_data(as_text=True)
    # The campaign pages are drawn in the demo's layout, through its override of
    # urgentaction/base.html, and keep the extension's stylesheet and skip link.
    for html in (listing, page):
        assert '<nav aria-label="Main">' in html
        assert 'href="/mailbox/">Mailbox</a>' in html
        assert "/actions/static/urgentaction.css" in html
        assert 'class="ua-skip" href="#main"' in html and 'id="main"' in html
    assert '<div lang="en" dir="ltr">' in page
    # The iframe embed lives on partner sites: no demo navigation there.
    embed = client.get("/actions/kestrel-hill-miners/embed").get_data(as_text=True)
    assert "Send the message" in embed
    assert '<nav aria-label="Main">' not in embed
    token, answer = form_challenge(page)
    response = client.post("/actions/kestrel-hill-miners", data={
        "name": "Ana Kovač", "email": "ana@example.org", "country": "BA", "lang": "en",
        "subject": "Reinstate them", "message": "Reinstate the miners.", "opt_in": "y",
        "challenge_token": token, "challenge_answer": answer, "hp": "",
    })  # fmt: skip
    assert response.status_code == 303

    mailbox = client.get("/mailbox/").get_data(as_text=True)
    assert "Reinstate them" in mailbox
    names = re.findall(r'href="/mailbox/([^"/]+\.eml)"', mailbox)
    assert len(names) == 3  # one to each of the two targets, and the confirmation
    shown = "".join(client.get(f"/mailbox/{name}").get_data(as_text=True) for name in names)
    assert "Reinstate the miners." in shown
    assert "/actions/confirm/" in shown  # the link a newcomer clicks through
    assert client.get("/mailbox/..%2Fapp.py").status_code == 404


def test_demo_seeds_published_messages_once_and_its_home_page_shows_both_widgets(
    demo: Flask,
) -> None:
    runner = demo.test_cli_runner()
    files = sorted(str(p) for p in (DEMO / "campaigns").glob("*.toml"))
    assert runner.invoke(args=["urgentaction", "campaigns", "load", *files]).exit_code == 0
    seeded = runner.invoke(args=["demo", "seed-messages"])
    assert seeded.exit_code == 0, seeded.output
    assert "3 solidarity messages published" in seeded.output
    again = runner.invoke(args=["demo", "seed-messages"])
    assert again.exit_code == 0 and "already seeded" in again.output

    client = demo.test_client()
    body = client.get("/actions/api/campaigns/ironbridge-dockworkers/messages?lang=bs").get_json()
    assert body["total"] == 3
    assert sorted(m["lang"] for m in body["messages"]) == ["ar", "bs", "en"]
    assert {m["dir"] for m in body["messages"]} == {"ltr", "rtl"}
    campaign = client.get("/actions/api/campaigns/ironbridge-dockworkers").get_json()
    assert campaign["languages"] == ["en", "bs", "ar"] and campaign["publish"] is True

    home = client.get("/").get_data(as_text=True)
    assert '<div data-urgentaction-list data-lang="en">' in home
    assert '<div data-urgentaction-messages="ironbridge-dockworkers" data-lang="en">' in home
    assert re.search(r'<script src="http://[^"/]+/actions/widget\.js" async></script>', home)


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def test_demo_organiser_login_opens_the_dashboard(demo: Flask) -> None:
    client = demo.test_client()
    # Not signed in: the dashboard sends the organiser to the demo's own login.
    first = client.get("/actions/manage/")
    assert first.status_code == 302
    assert first.headers["Location"].startswith("/login?next=/actions/manage/")

    page = client.get(first.headers["Location"]).get_data(as_text=True)
    token = CSRF.search(page)
    assert token is not None
    fields = {"csrf_token": token.group(1), "name": "Ana"}
    wrong = client.post("/login?next=/actions/manage/", data={**fields, "password": "nope"})
    assert wrong.status_code == 200
    assert "Wrong password" in wrong.get_data(as_text=True)
    assert client.get("/actions/manage/").status_code == 302

    # Without the CSRF token the login is refused, whatever the password.
    assert client.post("/login", data={"name": "Ana", "password": "demo"}).status_code == 400

    # Signing in never sends the organiser off to another site.
    signed = client.post("/login?next=//evil.example/", data={**fields, "password": "demo"})
    assert signed.status_code == 303
    assert signed.headers["Location"] == "/actions/manage/"
    dashboard = client.get("/actions/manage/")
    assert dashboard.status_code == 200
    assert "Campaigns" in dashboard.get_data(as_text=True)

    token = CSRF.search(client.get("/login").get_data(as_text=True))
    assert token is not None
    client.post("/logout", data={"csrf_token": token.group(1)})
    assert client.get("/actions/manage/").status_code == 302
