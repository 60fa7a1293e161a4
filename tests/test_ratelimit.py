"""The submission rate limit (ratelimit.py) and its 429 answers.

The default store is the extension's database: counts hold across app objects,
engines and processes on one database, including under gunicorn's workers.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, func, select, update

from flask_urgentaction import UrgentAction
from flask_urgentaction.campaigns import load_files
from flask_urgentaction.models import Action, Campaign, RateLimitWindow
from flask_urgentaction.ratelimit import RateLimiter
from flask_urgentaction.storage import get_session, get_storage

from .conftest import Mailbox, action_body, form_data, host_app, make_app
from .servers import call, gunicorn
from .test_api import ACTIONS, URL, action_count, translated

LIMIT = 2


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"URGENTACTION_RATE_LIMIT": f"{LIMIT} per minute"}


def from_address(address: str) -> dict[str, Any]:
    return {"environ_base": {"REMOTE_ADDR": address}}


def test_submissions_over_the_limit_are_429_with_retry_after(
    client: FlaskClient, campaign: Campaign, mailbox: Mailbox
) -> None:
    for n in range(LIMIT):
        sent = action_body(client, email=f"person{n}@example.org")
        assert client.post(ACTIONS, json=sent).status_code == 201
    response = client.post(ACTIONS, json=action_body(client, email="late@example.org"))
    assert response.status_code == 429
    assert response.get_json() == {
        "error": "Too many messages from your connection. Please try again in a minute."
    }
    assert response.headers["Cache-Control"] == "no-store"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert action_count() == LIMIT
    assert len(mailbox.to("ceo@mining.example")) == LIMIT


def test_429_text_is_in_the_request_language(client: FlaskClient, campaign: Campaign) -> None:
    for _ in range(LIMIT):
        client.post(ACTIONS, json={})
    response = client.post(ACTIONS, json=action_body(client, lang="de"))
    assert response.status_code == 429
    english = "Too many messages from your connection. Please try again in a minute."
    assert response.get_json()["error"] == translated("de", english)


def test_429_is_readable_by_an_allowed_origin(client: FlaskClient, campaign: Campaign) -> None:
    origin = {"Origin": "https://union.example"}
    for _ in range(LIMIT):
        client.post(ACTIONS, json={}, headers=origin)
    response = client.post(ACTIONS, json=action_body(client), headers=origin)
    assert response.status_code == 429
    assert response.headers["Access-Control-Allow-Origin"] == "https://union.example"


def test_invalid_submissions_count_too(client: FlaskClient, campaign: Campaign) -> None:
    # Otherwise the spam check could be guessed at any speed.
    assert client.post(ACTIONS, data="[]", content_type="application/json").status_code == 400
    assert client.post(ACTIONS, json=action_body(client, challenge_answer="0")).status_code == 422
    assert client.post(ACTIONS, json=action_body(client)).status_code == 429


def test_a_repeated_submission_counts_too(client: FlaskClient, campaign: Campaign) -> None:
    # Rolled back at the unique key, it is counted again on its own.
    sent = action_body(client)
    assert client.post(ACTIONS, json=sent).status_code == 201
    assert client.post(ACTIONS, json=sent).status_code == 409
    later = action_body(client, email="new@example.org")
    assert client.post(ACTIONS, json=later).status_code == 429
    assert action_count() == 1


def test_an_action_and_its_count_are_one_transaction(
    app: Flask, client: FlaskClient, campaign: Campaign
) -> None:
    app.config["URGENTACTION_DELIVERY"] = "worker"  # no sending in the request
    engine = app.extensions["urgentaction"].storage.engine
    commits: list[str] = []
    writes: list[str] = []

    def on_commit(_connection: Any) -> None:
        commits.append("commit")

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            writes.append(" ".join(statement.split()[:3]))

    sent = action_body(client)
    event.listen(engine, "commit", on_commit)
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        assert client.post(ACTIONS, json=sent).status_code == 201
    finally:
        event.remove(engine, "commit", on_commit)
        event.remove(engine, "before_cursor_execute", on_execute)
    # The rate limit's count first, then the action, its mail, the spent token and
    # the campaign's count, under one commit.
    assert commits == ["commit"]
    assert writes == [
        "INSERT INTO ua_rate_limits",
        "DELETE FROM ua_rate_limits",  # the sweep, as this client's window opens
        "INSERT INTO ua_actions",
        *["INSERT INTO ua_outbox"] * len(campaign.targets),  # a message to each target
        "INSERT INTO ua_used_challenges",
        "UPDATE ua_campaigns SET",
    ]
    assert list(windows(app).values()) == [1]


def test_reading_the_campaign_is_not_limited(client: FlaskClient, campaign: Campaign) -> None:
    for _ in range(LIMIT + 1):
        client.post(ACTIONS, json={})
    for _ in range(LIMIT * 3):
        assert client.get(URL).status_code == 200


def test_the_limit_is_per_client_address(client: FlaskClient, campaign: Campaign) -> None:
    for _ in range(LIMIT):
        client.post(ACTIONS, json={}, **from_address("198.51.100.1"))
    assert client.post(ACTIONS, json={}, **from_address("198.51.100.1")).status_code == 429
    sent = action_body(client)
    assert client.post(ACTIONS, json=sent, **from_address("198.51.100.2")).status_code == 201


def test_form_and_api_submissions_share_one_limit(
    client: FlaskClient, campaign: Campaign, mailbox: Mailbox
) -> None:
    page = client.post("/actions/example-mine-strike", data=form_data(client))
    assert page.status_code == 303
    sent = action_body(client, email="bo@example.org")
    assert client.post(ACTIONS, json=sent).status_code == 201
    third = form_data(client, email="cy@example.org")
    page = client.post("/actions/example-mine-strike", data=third)
    assert page.status_code == 429
    assert 1 <= int(page.headers["Retry-After"]) <= 60
    assert len(mailbox.to("ceo@mining.example")) == 2


def test_each_app_has_its_own_counter(
    client: FlaskClient, campaign: Campaign, tmp_path: Path, mailbox: Mailbox
) -> None:
    other = make_app(tmp_path / "other", mailbox, URGENTACTION_RATE_LIMIT=f"{LIMIT} per minute")
    for _ in range(LIMIT):
        client.post(ACTIONS, json={})
    assert client.post(ACTIONS, json={}).status_code == 429
    # Same client address, same limit, but a fresh counter in the other app.
    limiter: RateLimiter = other.extensions["urgentaction"].limiter
    with other.test_request_context("/", environ_base={"REMOTE_ADDR": "127.0.0.1"}):
        assert limiter.hit() is None


# --- RateLimiter through a request context -----------------------------------------


def key_for(app: Flask, address: str) -> str:
    limiter: RateLimiter = app.extensions["urgentaction"].limiter
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": address}):
        return limiter.client_key()


def test_client_key_is_a_keyed_hash_not_the_address(app: Flask) -> None:
    key = key_for(app, "203.0.113.7")
    assert "203.0.113.7" not in key
    assert key == key_for(app, "203.0.113.7")
    assert key != key_for(app, "203.0.113.8")
    app.config["SECRET_KEY"] = "another secret"
    assert key != key_for(app, "203.0.113.7")


def test_hit_counts_up_to_the_limit_then_says_how_long_to_wait(app: Flask) -> None:
    limiter = RateLimiter("2 per hour", "memory://")
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "203.0.113.7"}):
        assert limiter.hit() is None
        assert limiter.hit() is None
        wait = limiter.hit()
        assert wait is not None and 3500 <= wait <= 3600
        limiter.reset()
        assert limiter.hit() is None


def test_an_async_store_is_refused_at_startup() -> None:
    with pytest.raises(ValueError, match="synchronous"):
        RateLimiter("10 per minute", "async+memory://")


def test_an_unreadable_limit_is_refused_at_startup(tmp_path: Path, mailbox: Mailbox) -> None:
    with pytest.raises(ValueError, match="ten a minute"):
        make_app(tmp_path, mailbox, URGENTACTION_RATE_LIMIT="ten a minute")


# --- The database store ----------------------------------------------------------


def hit_from(app: Flask, address: str) -> int | None:
    limiter: RateLimiter = app.extensions["urgentaction"].limiter
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": address}):
        return limiter.hit()


def windows(app: Flask) -> dict[str, int]:
    with app.app_context(), get_storage().sessions() as session:
        rows = session.execute(select(RateLimitWindow.key, RateLimitWindow.hits)).all()
    return {key: hits for key, hits in rows}


def end_windows(app: Flask, key_suffix: str = "") -> None:
    """Move windows' end into the past, as if their period had passed."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    with app.app_context(), get_storage().engine.begin() as connection:
        connection.execute(
            update(RateLimitWindow)
            .where(RateLimitWindow.key.endswith(key_suffix))
            .values(expires_at=past)
        )


def test_database_store_counts_up_to_the_limit_then_says_how_long_to_wait(app: Flask) -> None:
    assert app.config["URGENTACTION_RATE_LIMIT_STORAGE_URI"] is None
    assert [hit_from(app, "203.0.113.7") for _ in range(LIMIT)] == [None] * LIMIT
    wait = hit_from(app, "203.0.113.7")
    assert wait is not None and 45 <= wait <= 60
    # A refused submission is not counted.
    assert list(windows(app).values()) == [LIMIT]
    end_windows(app)
    assert hit_from(app, "203.0.113.7") is None
    assert list(windows(app).values()) == [1]


def test_the_database_never_holds_the_client_address(app: Flask) -> None:
    hit_from(app, "203.0.113.7")
    (key,) = windows(app)
    assert "203.0.113.7" not in key
    limiter: RateLimiter = app.extensions["urgentaction"].limiter
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "203.0.113.7"}):
        assert key.startswith(limiter.client_key() + ":")


def test_ended_windows_are_deleted_when_a_new_one_opens(app: Flask) -> None:
    for n in range(5):
        hit_from(app, f"198.51.100.{n}")
    end_windows(app)
    hit_from(app, "198.51.100.1")  # its window reopens
    assert list(windows(app).values()) == [1]
    assert hit_from(app, "198.51.100.1") is None
    assert list(windows(app).values()) == [2]  # the reopened window counts on


@pytest.mark.parametrize("app_config", [{"URGENTACTION_RATE_LIMIT": "2 per minute; 3 per hour"}])
def test_several_limits_all_apply_and_a_refusal_counts_against_none(app: Flask) -> None:
    assert [hit_from(app, "203.0.113.7") for _ in range(2)] == [None, None]
    wait = hit_from(app, "203.0.113.7")
    assert wait is not None and wait <= 60  # the minute's limit refused it
    counts = windows(app)
    assert sorted(counts.values()) == [2, 2]  # the hour did not count the refusal
    end_windows(app, ":2/60")  # a minute later
    assert hit_from(app, "203.0.113.7") is None
    wait = hit_from(app, "203.0.113.7")
    assert wait is not None and 3500 <= wait <= 3600  # now the hour's limit refuses


def test_several_limits_in_a_limits_store_too(app: Flask) -> None:
    limiter = RateLimiter("3 per minute; 2 per hour", "memory://")
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "203.0.113.7"}):
        assert [limiter.hit(), limiter.hit()] == [None, None]
        wait = limiter.hit()
    assert wait is not None and 3500 <= wait <= 3600


@pytest.fixture
def shared_apps(tmp_path: Path, mailbox: Mailbox, database_url: str) -> Iterator[list[Flask]]:
    apps = [
        make_app(tmp_path / f"app{n}", mailbox, URGENTACTION_DATABASE_URL=database_url,
                 URGENTACTION_RATE_LIMIT=f"{LIMIT} per minute")
        for n in range(4)
    ]  # fmt: skip
    yield apps
    for app in apps:
        app.extensions["urgentaction"].storage.engine.dispose()


def test_two_apps_on_one_database_share_the_count(
    shared_apps: list[Flask], campaign_file: Path
) -> None:
    first, second = shared_apps[:2]
    assert first.extensions["urgentaction"].storage.engine is not (
        second.extensions["urgentaction"].storage.engine
    )
    with first.app_context():
        load_files(get_session(), [campaign_file])
    for _ in range(LIMIT):
        assert first.test_client().post(ACTIONS, json={}).status_code == 422
    refused = second.test_client().post(ACTIONS, json={})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    elsewhere = second.test_client().post(ACTIONS, json={}, **from_address("198.51.100.9"))
    assert elsewhere.status_code == 422


def test_concurrent_submissions_through_several_engines_never_exceed_the_limit(
    shared_apps: list[Flask],
) -> None:
    limit, each = 15, 10
    for app in shared_apps:
        store = app.config["URGENTACTION_RATE_LIMIT_STORAGE_URI"]
        app.extensions["urgentaction"].limiter = RateLimiter(f"{limit} per minute", store)
    start = threading.Barrier(len(shared_apps))
    results: list[int | None] = []
    errors: list[BaseException] = []

    def submit(app: Flask) -> None:
        try:
            start.wait(10)
            mine = [hit_from(app, "203.0.113.7") for _ in range(each)]
            results.extend(mine)
        except BaseException as exc:
            errors.append(exc)

    with shared_apps[0].app_context():
        get_storage()  # migrate once, before the race
    threads = [threading.Thread(target=submit, args=(app,)) for app in shared_apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(results) == len(shared_apps) * each
    assert results.count(None) == limit
    assert all(1 <= wait <= 60 for wait in results if wait is not None)
    assert list(windows(shared_apps[0]).values()) == [limit]


# --- The client key ----------------------------------------------------------------


@pytest.mark.parametrize("registered", ["before init_app", "after init_app"])
def test_a_host_key_function_replaces_the_address(
    tmp_path: Path, mailbox: Mailbox, campaign_file: Path, registered: str
) -> None:
    # A union meeting hall: many members behind one NAT address, told apart by
    # something the host app knows (here a header its own login would set).
    app = host_app(tmp_path, mailbox, URGENTACTION_RATE_LIMIT=f"{LIMIT} per minute")
    ua = UrgentAction()

    def member() -> str:
        return request.headers.get("X-Member", "")

    if registered == "before init_app":
        assert ua.rate_limit_key(member) is member
        ua.init_app(app)
    else:
        ua.init_app(app)
        ua.rate_limit_key(member)
    with app.app_context():
        load_files(get_session(), [campaign_file])
    client = app.test_client()

    def post(member: str, address: str) -> int:
        response = client.post(ACTIONS, json={}, headers={"X-Member": member},
                               environ_base={"REMOTE_ADDR": address})  # fmt: skip
        return response.status_code

    hall = "192.0.2.1"
    assert [post("ana", hall) for _ in range(LIMIT)] == [422] * LIMIT
    assert post("ana", hall) == 429
    assert post("bo", hall) == 422  # same address, another member
    assert post("ana", "198.51.100.4") == 429  # same member, another address
    assert not any("ana" in key for key in windows(app))


# --- Several worker processes under gunicorn --------------------------------------


@dataclass
class Site:
    port: int
    database: str


@pytest.fixture
def gunicorn_site(tmp_path: Path, mailbox: Mailbox, campaign_file: Path) -> Iterator[Site]:
    """The extension with its default rate limit, served by gunicorn with two sync
    workers on a free loopback port."""
    database = f"sqlite:///{tmp_path / 'site.sqlite3'}"
    config = {
        "SECRET_KEY": "gunicorn test secret",
        "MAIL_DEFAULT_SENDER": "Example Network <actions@network.example>",
        "URGENTACTION_DATABASE_URL": database,
        "URGENTACTION_DELIVERY": "worker",
        "URGENTACTION_MIN_FILL_SECONDS": 0,
    }
    # Migrate and load the campaign before the workers start.
    loader = make_app(tmp_path / "loader", mailbox, URGENTACTION_DATABASE_URL=database)
    with loader.app_context():
        load_files(get_session(), [campaign_file])
    loader.extensions["urgentaction"].storage.engine.dispose()
    with gunicorn(tmp_path / "site", config, workers=2, start_within=30) as server:
        yield Site(server.port, database)


def test_the_default_limit_holds_across_gunicorn_workers(gunicorn_site: Site) -> None:
    port = gunicorn_site.port
    bodies = []
    for n in range(12):
        campaign = json.loads(call(port, "GET", URL).body)
        number = re.search(r"\d{4}", campaign["challenge"]["question"])
        assert number
        bodies.append({
            "name": f"Supporter {n}", "email": f"s{n}@example.org", "country": "BA",
            "challenge_token": campaign["challenge"]["token"],
            "challenge_answer": number.group(0),
        })  # fmt: skip

    # Several at once, so that both workers are busy and take submissions.
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda body: call(port, "POST", ACTIONS, body), bodies))

    statuses = [a.status for a in answers]
    assert sorted(statuses) == [201] * 10 + [429] * 2, statuses
    for answer in answers:
        if answer.status == 429:
            assert 1 <= int(answer.headers["Retry-After"]) <= 60
    pids = {a.headers["X-Worker-Pid"] for a in answers}
    assert len(pids) == 2, "one worker took every submission; the test proves nothing"
    engine = create_engine(gunicorn_site.database)
    try:
        with engine.connect() as connection:
            assert connection.scalar(select(func.count()).select_from(Action)) == 10
    finally:
        engine.dispose()
