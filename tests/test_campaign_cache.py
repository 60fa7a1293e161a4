"""The stored count and the per-process campaign cache: exact, and never stale."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from flask_urgentaction.storage import get_session

from .conftest import SAMPLE, Mailbox, action_body, make_app, migrate

API = "/actions/api/campaigns/example-mine-strike"


def scalar(app: Flask, sql: str) -> Any:
    """Read the database on a connection of its own, not through the app's session."""
    with app.extensions["urgentaction"].storage.engine.connect() as connection:
        return connection.execute(text(sql)).scalar_one()


def test_a_change_loaded_by_another_app_is_seen_at_the_next_request(
    app: Flask, client: FlaskClient, campaign: Any, tmp_path: Path, mailbox: Mailbox
) -> None:
    assert client.get(API).get_json()["title"] == "Reinstate the sacked union leaders"
    # Another app object on the same database, as another process would be.
    other = make_app(
        tmp_path / "other", mailbox,
        URGENTACTION_DATABASE_URL=app.extensions["urgentaction"].storage.url,
    )  # fmt: skip
    changed = tmp_path / "changed.toml"
    changed.write_text(
        SAMPLE.replace("Reinstate the sacked union leaders", "Free the union leaders"),
        encoding="utf-8",
    )
    result = other.test_cli_runner().invoke(
        args=["urgentaction", "campaigns", "load", str(changed)]
    )
    assert result.exit_code == 0, result.output
    get_session().close()  # the next request's session, as a new request gets

    assert client.get(API).get_json()["title"] == "Free the union leaders"


def test_a_change_through_the_orm_raises_the_version_and_is_served(
    app: Flask, client: FlaskClient, campaign: Any
) -> None:
    assert client.get(API).status_code == 200
    before = scalar(app, "SELECT version FROM ua_campaigns")
    session = get_session()
    campaign.status = "closed"
    campaign.translations[0].summary = "Closed now."
    session.commit()

    assert scalar(app, "SELECT version FROM ua_campaigns") == before + 1
    data = client.get(API).get_json()
    assert (data["status"], data["summary"]) == ("closed", "Closed now.")


def test_a_new_target_alone_raises_the_version(app: Flask, campaign: Any) -> None:
    from flask_urgentaction.models import Target

    before = scalar(app, "SELECT version FROM ua_campaigns")
    session = get_session()
    session.add(Target(campaign_id=campaign.id, position=9, name="New", email="new@example.org"))
    session.commit()
    assert scalar(app, "SELECT version FROM ua_campaigns") == before + 1


def test_the_count_is_exact_after_concurrent_actions_and_stays_after_forget(
    app: Flask, campaign: Any
) -> None:
    threads, per_thread = 6, 4
    statuses: list[int] = []

    def supporter(n: int) -> None:
        client = app.test_client()
        for i in range(per_thread):
            body = action_body(client, email=f"s{n}.{i}@example.org")
            statuses.append(client.post(API + "/actions", json=body).status_code)

    workers = [threading.Thread(target=supporter, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert statuses == [201] * threads * per_thread
    expected = threads * per_thread
    assert scalar(app, "SELECT COUNT(*) FROM ua_actions") == expected
    assert app.test_client().get(API).get_json()["count"] == expected

    # Erasure keeps the action (stripped), so the count does not go back.
    runner = app.test_cli_runner()
    result = runner.invoke(args=["urgentaction", "forget", "s0.0@example.org", "--yes"])
    assert result.exit_code == 0, result.output
    assert app.test_client().get(API).get_json()["count"] == expected
    # A repeat is refused with the same count.
    client = app.test_client()
    repeat = client.post(API + "/actions", json=action_body(client, email="s1.1@example.org"))
    assert (repeat.status_code, repeat.get_json()["count"]) == (409, expected)


def test_the_migration_counts_the_actions_already_stored(app: Flask, campaign: Any) -> None:
    client = app.test_client()
    for i in range(3):
        body = action_body(client, email=f"m{i}@example.org")
        assert client.post(API + "/actions", json=body).status_code == 201
    engine = app.extensions["urgentaction"].storage.engine
    migrate(engine, "0004")
    migrate(engine, "head")
    assert scalar(app, "SELECT action_count FROM ua_campaigns") == 3
    assert scalar(app, "SELECT COUNT(*) FROM ua_actions") == 3
