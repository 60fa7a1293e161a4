"""Submissions that race: double clicks and one email on two campaigns at once.

Each test serves the app with werkzeug's threaded server on loopback and sends
the racing requests from real threads, each on a connection of its own, released
together by a barrier; SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.serving import make_server

from flask_urgentaction.campaigns import load_files
from flask_urgentaction.models import Action, OutboxMessage, Subscriber
from flask_urgentaction.storage import get_session

from .conftest import SAMPLE, Mailbox, action_body, form_data, make_app

SLUG = "example-mine-strike"
OTHER = "second-campaign"
TARGETS = 2  # in SAMPLE
PAIRS = 10
HOST = "actions.test"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@pytest.fixture
def race_app(tmp_path: Path, mailbox: Mailbox, database_url: str) -> Iterator[Flask]:
    # Mail waits for a worker: the races are about what is stored, once.
    app = make_app(tmp_path, mailbox, URGENTACTION_DATABASE_URL=database_url,
                   URGENTACTION_DELIVERY="worker")  # fmt: skip
    other = tmp_path / "other.toml"
    other.write_text(SAMPLE.replace(f'slug = "{SLUG}"', f'slug = "{OTHER}"'), encoding="utf-8")
    with app.app_context():
        (tmp_path / "campaign.toml").write_text(SAMPLE, encoding="utf-8")
        load_files(get_session(), [tmp_path / "campaign.toml", other])
        get_session().close()
        yield app
    app.extensions["urgentaction"].storage.engine.dispose()


@contextmanager
def served(app: Flask) -> Iterator[int]:
    """The app on a free loopback port, one thread per request."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def call(port: int, path: str, body: bytes, content_type: str) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Host": HOST, "Content-Type": content_type, "Connection": "close"}
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return Answer(response.status, dict(response.headers), response.read())
    finally:
        connection.close()


def at_once(calls: list[Callable[[], Answer]]) -> list[Answer]:
    """Run the calls in threads of their own, released together."""
    start = threading.Barrier(len(calls))

    def run(send: Callable[[], Answer]) -> Answer:
        start.wait(30)
        return send()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def post_json(port: int, slug: str, body: dict[str, Any]) -> Callable[[], Answer]:
    data = json.dumps(body).encode()
    path = f"/actions/api/campaigns/{slug}/actions"
    return lambda: call(port, path, data, "application/json")


def post_form(port: int, path: str, fields: dict[str, Any]) -> Callable[[], Answer]:
    data = urlencode(fields).encode()
    return lambda: call(port, path, data, "application/x-www-form-urlencoded")


def stored(app: Flask) -> tuple[Counter[tuple[int, str]], int, int]:
    """Actions per (campaign, email), outbox rows for targets, subscribers."""
    session = get_session()
    session.expire_all()
    actions = Counter(
        tuple(row) for row in session.execute(select(Action.campaign_id, Action.email_key))
    )
    target_rows = session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "target")
    )
    subscribers = session.scalar(select(func.count()).select_from(Subscriber))
    session.close()
    return actions, int(target_rows or 0), int(subscribers or 0)


def test_double_clicks_on_the_api_get_one_201_and_one_409(race_app: Flask) -> None:
    client = race_app.test_client()
    bodies = [action_body(client, email=f"pair{n}@example.org") for n in range(PAIRS)]
    statuses: list[tuple[int, int]] = []
    with served(race_app) as port:
        for body in bodies:
            first, second = at_once([post_json(port, SLUG, body), post_json(port, SLUG, body)])
            statuses.append(tuple(sorted((first.status, second.status))))  # type: ignore[arg-type]
            duplicate = first if first.status == 409 else second
            if duplicate.status == 409:
                answer = duplicate.json()
                assert answer["error"] == "You have already sent this message. Thank you!"
                assert answer["count"] >= 1
    assert Counter(statuses) == {(201, 409): PAIRS}
    actions, target_rows, _subscribers = stored(race_app)
    assert sorted(actions.values()) == [1] * PAIRS
    assert target_rows == PAIRS * TARGETS


@pytest.mark.parametrize(
    ("path", "thanks"),
    [(f"/actions/{SLUG}", f"/actions/{SLUG}/thanks"),
     (f"/actions/{SLUG}/embed", f"/actions/{SLUG}/embed/thanks")],
    ids=["page", "embed"],
)  # fmt: skip
def test_double_clicks_on_the_form_both_end_on_the_thanks_page(
    race_app: Flask, path: str, thanks: str
) -> None:
    client = race_app.test_client()
    forms = [form_data(client, email=f"click{n}@example.org") for n in range(PAIRS)]
    answers: list[Answer] = []
    with served(race_app) as port:
        for fields in forms:
            answers += at_once([post_form(port, path, fields), post_form(port, path, fields)])
    assert Counter(a.status for a in answers) == {303: 2 * PAIRS}
    assert {urlsplit(a.headers["Location"]).path for a in answers} == {thanks}
    actions, target_rows, _subscribers = stored(race_app)
    assert sorted(actions.values()) == [1] * PAIRS
    assert target_rows == PAIRS * TARGETS


@pytest.mark.postgresql
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_one_email_opting_in_on_two_campaigns_at_once_keeps_both(race_app: Flask) -> None:
    client = race_app.test_client()
    sends = []
    with served(race_app) as port:
        for n in range(20):
            email = f"both{n}@example.org"
            for slug in (SLUG, OTHER):
                token_body = action_body(client, email=email, opt_in=True)
                if slug == OTHER:
                    fresh = client.get(f"/actions/api/campaigns/{OTHER}").get_json()["challenge"]
                    number = "".join(c for c in fresh["question"] if c.isdigit())
                    token_body |= {"challenge_token": fresh["token"], "challenge_answer": number}
                sends.append(post_json(port, slug, token_body))
        answers = at_once(sends)
    assert Counter(a.status for a in answers) == {201: 40}, [
        (a.status, a.body[:300]) for a in answers if a.status != 201
    ]
    actions, target_rows, subscribers = stored(race_app)
    assert len(actions) == 40 and set(actions.values()) == {1}
    assert target_rows == 40 * TARGETS
    assert subscribers == 20
