"""Downloads in the dashboard: every export of exports.py, byte for byte what the
CLI writes for the same filter, streamed as attachments with their media types."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from flask_urgentaction import clock
from flask_urgentaction.campaigns import load_files
from flask_urgentaction.storage import get_session

from . import test_exports
from .conftest import SAMPLE

MINE = "example-mine-strike"
EXPORTS = f"/actions/manage/campaigns/{MINE}/exports"
ACTIONS = f"{EXPORTS}/actions"
REPORT = f"{EXPORTS}/report.json"
SUBSCRIBERS = "/actions/manage/subscribers/export"
UNION = test_exports.UNION

# The same actions and subscribers as the CLI's export tests.
supporters = test_exports.supporters
subscribers = test_exports.subscribers


def cli(app: Flask, *args: str) -> bytes:
    result = app.test_cli_runner().invoke(args=["urgentaction", *args])
    assert result.exit_code == 0, result.output
    return result.stdout_bytes


def today() -> str:
    return clock.now().date().isoformat()


@pytest.mark.parametrize(
    ("query", "args"),
    [
        ("", []),
        ("?format=csv&partner=:union-site", ["--partner", "union-site"]),
        ("?format=jsonl", ["--format", "jsonl"]),
        ("?format=jsonl&origin=:" + UNION, ["--format", "jsonl", "--origin", UNION]),
        ("?format=osdi", ["--format", "osdi"]),
        ("?format=osdi&partner=:&origin=:", ["--format", "osdi", "--partner", "", "--origin", ""]),
        ("?format=csv&since=2000-01-01&partner=", ["--since", "2000-01-01"]),
    ],
)
def test_action_downloads_are_the_clis_bytes(
    app: Flask, client: FlaskClient, supporters: None, organiser: str, query: str, args: list[str]
) -> None:
    response = client.get(ACTIONS + query)
    assert response.status_code == 200
    assert response.is_streamed
    assert response.get_data() == cli(app, "export", MINE, *args)
    assert response.headers["Cache-Control"] == "no-store"


def test_media_types_and_file_names(client: FlaskClient, supporters: None, organiser: str) -> None:
    expected = {
        "csv": ("text/csv; charset=utf-8", f"{MINE}-actions-{today()}.csv"),
        "jsonl": ("application/jsonl", f"{MINE}-actions-{today()}.jsonl"),
        "osdi": ("application/hal+json", f"{MINE}-actions-{today()}.osdi.json"),
    }
    for fmt, (media_type, name) in expected.items():
        response = client.get(f"{ACTIONS}?format={fmt}")
        assert response.headers["Content-Type"] == media_type
        assert response.headers["Content-Disposition"] == f'attachment; filename="{name}"'
        assert response.get_data()  # read to its end, so the stream closes
    assert client.get(f"{ACTIONS}?format=xlsx").status_code == 404


def test_filters_choose_the_actions(client: FlaskClient, supporters: None, organiser: str) -> None:
    def emails(query: str) -> list[str]:
        lines = client.get(f"{ACTIONS}?format=jsonl&{query}").get_data(as_text=True).splitlines()
        return [json.loads(line)["email"] for line in lines]

    everyone = ["ana@example.org", "lejla@example.org", "kim@example.kr", "hans@example.de"]
    assert emails("") == everyone
    assert emails("partner=") == everyone  # "any"
    assert emails("partner=:union-site") == everyone[:2]
    assert emails("partner=:") == ["hans@example.de"]  # none
    assert emails("origin=:https://port.example") == ["kim@example.kr"]
    assert emails("since=2999-01-01") == []
    assert client.get(f"{ACTIONS}?since=yesterday").status_code == 404


def test_the_exports_tab_offers_the_filters(
    client: FlaskClient, supporters: None, organiser: str
) -> None:
    response = client.get(EXPORTS)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert f'href="{EXPORTS}?lang=en" aria-current="page">Exports</a>' in text
    assert f'<form method="get" action="{ACTIONS}">' in text
    assert '<option value=":union-site">union-site (2)</option>' in text
    assert '<option value=":">No partner tag (1)</option>' in text
    assert '<option value=":https://port.example">https://port.example (1)</option>' in text
    assert '<input type="date" id="export-since" name="since"' in text
    assert f'href="{REPORT}" download>' in text
    # The filter chosen stays chosen when the page is opened with it.
    again = client.get(EXPORTS + "?partner=:union-site").get_data(as_text=True)
    assert '<option value=":union-site" selected>' in again


def test_report_download_is_the_clis_report(
    app: Flask, client: FlaskClient, supporters: None, organiser: str
) -> None:
    for query, args in (("", []), ("?partner=:union-site", ["--partner", "union-site"])):
        response = client.get(REPORT + query)
        assert response.headers["Content-Type"] == "application/json"
        name = f"{MINE}-report-{today()}.json"
        assert response.headers["Content-Disposition"] == f'attachment; filename="{name}"'
        downloaded = json.loads(response.get_data())
        printed = json.loads(cli(app, "report", MINE, "--json", *args))
        # The same but for the moment each was made.
        assert downloaded.pop("generated_at") <= printed.pop("generated_at")
        assert downloaded == printed
        assert response.get_data().endswith(b"}\n")
    assert json.loads(client.get(REPORT + "?partner=:union-site").get_data())["actions"] == 2


def test_subscriber_downloads_are_the_clis_bytes(
    app: Flask, client: FlaskClient, subscribers: None, organiser: str
) -> None:
    for query, args in (
        ("", []),
        ("?format=jsonl", ["--format", "jsonl"]),
        ("?format=csv&include_unsubscribed=1", ["--include-unsubscribed"]),
        ("?format=jsonl&include_unsubscribed=1", ["--format", "jsonl", "--include-unsubscribed"]),
    ):
        response = client.get(SUBSCRIBERS + "/download" + query)
        assert response.status_code == 200
        assert response.get_data() == cli(app, "subscribers", "export", *args)
    assert b"lejla@example.org" not in client.get(SUBSCRIBERS + "/download").get_data()
    assert (
        b"lejla@example.org"
        in client.get(SUBSCRIBERS + "/download?include_unsubscribed=1").get_data()
    )
    response = client.get(SUBSCRIBERS + "/download?format=jsonl")
    assert response.get_data()  # read to its end, so the stream closes
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="subscribers-{today()}.jsonl"'
    )
    assert client.get(SUBSCRIBERS + "/download?format=osdi").status_code == 404


def test_the_subscribers_section(client: FlaskClient, organiser: str) -> None:
    text = client.get("/actions/manage/").get_data(as_text=True)
    assert f'<a href="{SUBSCRIBERS}?lang=en">Subscribers</a>' in text
    page = client.get(SUBSCRIBERS).get_data(as_text=True)
    assert f'<a href="{SUBSCRIBERS}?lang=en" aria-current="page">Subscribers</a>' in page
    assert '<input type="checkbox" id="include-unsubscribed" name="include_unsubscribed"' in page


def test_another_campaigns_actions_stay_out(
    app: Flask, client: FlaskClient, supporters: None, organiser: str, tmp_path: Path
) -> None:
    other = tmp_path / "port.toml"
    other.write_text(SAMPLE.replace(MINE, "example-port"), encoding="utf-8")
    load_files(get_session(), [other])
    port = "/actions/manage/campaigns/example-port/exports"
    response = client.get(port + "/actions?format=jsonl")
    assert response.get_data() == b"" == cli(app, "export", "example-port", "--format", "jsonl")
    for url in (EXPORTS, ACTIONS, REPORT):
        assert client.get(url.replace(MINE, "no-such")).status_code == 404


def test_downloads_are_for_organisers_only(app: Flask, client: FlaskClient, campaign: Any) -> None:
    for url in (ACTIONS, REPORT, SUBSCRIBERS + "/download"):
        assert client.get(url).status_code == 404  # the dashboard is off
    app.extensions["urgentaction"].extension.organiser_check(lambda: False)
    for url in (ACTIONS, REPORT, SUBSCRIBERS + "/download"):
        assert client.get(url).status_code == 403
