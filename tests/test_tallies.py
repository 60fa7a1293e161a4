"""The dashboard's stored tallies (tallies.py): the overview's figures equal a count
of the actions after any mix of actions, folds and erasures, with actions and folds
running at once, on SQLite and PostgreSQL; a view reads only the actions not folded;
migration 0016 counts the actions stored before it."""

from __future__ import annotations

import html
import random
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, case, event, func, insert, or_, select, update
from sqlalchemy.orm import Session

from flask_urgentaction import clock, erasure, reports, similarity, tallies
from flask_urgentaction.campaigns import load_files
from flask_urgentaction.manage import live
from flask_urgentaction.models import Action, ActionTally, Campaign
from flask_urgentaction.storage import get_session

from .conftest import ORGANISER, SAMPLE, action_body, migrate

MINE = "example-mine-strike"
OVERVIEW = f"/actions/manage/campaigns/{MINE}"
ACTIONS_URL = f"/actions/api/campaigns/{MINE}/actions"
COUNTRIES = ["BA", "AL", "DE", "", "RS", "FR", "IT", "ES", "PL", "CZ", "SK", "HU", "RO"]
PARTNERS = [("", ""), ("ssm", "https://ssm.example"), ("ver", "https://ver.example/a")]


@pytest.fixture
def shared_config() -> dict[str, Any]:
    # Nothing is mailed: the tests are about the counts.
    return {"URGENTACTION_DELIVERY": "worker"}


@pytest.fixture
def mine(shared_app: Flask, tmp_path: Path) -> int:
    """The sample campaign on the shared database, the dashboard on; its id."""
    path = tmp_path / "campaign.toml"
    path.write_text(SAMPLE, encoding="utf-8")
    ((campaign, _created),) = load_files(get_session(), [path])
    shared_app.extensions["urgentaction"].extension.organiser_check(lambda: ORGANISER)
    return int(campaign.id)


@pytest.fixture
def small_folds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Folds after a few actions, a few at a time."""
    monkeypatch.setattr(tallies, "THRESHOLD", 3)
    monkeypatch.setattr(tallies, "CHUNK", 4)


def engine_of(app: Flask) -> Engine:
    engine: Engine = app.extensions["urgentaction"].storage.engine
    return engine


def stored(number: int, campaign_id: int, now: datetime) -> dict[str, Any]:
    """Action ``number``: its country, partner, origin, day, personal line and
    edit vary with it."""
    partner, origin = PARTNERS[number % len(PARTNERS)]
    email = f"s{number}@example.org"
    return {
        "campaign_id": campaign_id, "name": f"Supporter {number}", "email": email,
        "email_key": email, "subject": "s", "message": "m", "lang": "en",
        "country": COUNTRIES[(number * 5) % len(COUNTRIES)], "partner_tag": partner,
        "source_origin": origin, "personal": "mine" if number % 4 == 0 else "",
        "edited": number % 3 == 0, "created_at": now - timedelta(days=number % 40, hours=number),
    }  # fmt: skip


def add(session: Session, campaign_id: int, numbers: range) -> list[int]:
    now = clock.now()
    rows = [stored(n, campaign_id, now) for n in numbers]
    ids = list(session.scalars(insert(Action).returning(Action.id), rows))
    session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(action_count=Campaign.action_count + len(rows))
    )
    session.commit()
    return ids


# -- the figures counted directly, as the overview counted them before the tallies --


def direct_counts(session: Session, campaign_id: int, column: Any) -> list[tuple[str, int]]:
    n = func.count().label("n")
    rows = session.execute(
        select(column, n)
        .where(Action.campaign_id == campaign_id)
        .group_by(column)
        .order_by(n.desc(), column)
    )
    return [(str(key), int(count)) for key, count in rows]


def direct_shares(session: Session, campaign_id: int) -> live.Shares:
    personal = Action.personal != ""

    def counted(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = session.execute(
        select(counted(personal), counted(Action.edited), counted(or_(personal, Action.edited)),
               func.count())
        .where(Action.campaign_id == campaign_id, Action.email_key.is_not(None),
               Action.erased_at.is_(None))
    ).one()  # fmt: skip
    return live.Shares(*(int(value) for value in row))


def direct(session: Session, campaign_id: int) -> dict[str, Any]:
    return {
        "day": direct_counts(session, campaign_id, tallies.utc_day(Action.created_at)),
        "country": direct_counts(session, campaign_id, Action.country),
        "partner": direct_counts(session, campaign_id, Action.partner_tag),
        "origin": direct_counts(session, campaign_id, Action.source_origin),
        "shares": direct_shares(session, campaign_id),
    }


def tallied(session: Session, campaign_id: int) -> dict[str, Any]:
    partners, origins = reports.action_tallies(session, campaign_id)
    return {
        "day": tallies.counts(session, campaign_id, "day"),
        "country": tallies.counts(session, campaign_id, "country"),
        "partner": [(t.value, t.actions) for t in partners],
        "origin": [(t.value, t.actions) for t in origins],
        "shares": live.shares(session, campaign_id),
    }


def only_stored(session: Session, campaign_id: int) -> dict[str, Any]:
    """The stored rows alone, ordered as the figures are (no zero rows)."""
    rows = session.execute(
        select(ActionTally.dimension, ActionTally.key, ActionTally.n)
        .where(ActionTally.campaign_id == campaign_id)
        .order_by(ActionTally.dimension, ActionTally.n.desc(), ActionTally.key)
    )
    found: dict[str, Any] = {"day": [], "country": [], "partner": [], "origin": []}
    share = dict.fromkeys(("personal", "edited", "either", "kept"), 0)
    for dimension, key, n in rows:
        if dimension == "share":
            share[key] = n
        elif n:
            found[dimension].append((key, n))
    found["shares"] = live.Shares(share["personal"], share["edited"], share["either"],
                                  share["kept"])  # fmt: skip
    return found


def assert_figures_exact(session: Session, campaign_id: int) -> None:
    session.commit()  # a fresh snapshot
    expected = direct(session, campaign_id)
    assert tallied(session, campaign_id) == expected
    today = clock.now().date()
    days = dict(expected["day"])
    charted = live.per_day(session, campaign_id, today)
    assert charted and len(charted) <= live.DAYS
    for day, n in charted:
        assert n == days.get(day.isoformat(), 0)
    countries = live.per_country(session, campaign_id, "en")
    top = expected["country"][: live.TOP_COUNTRIES]
    assert [(c.code, c.actions) for c in countries[: len(top)]] == top
    personal, counted = similarity.personal_share(session, campaign_id)
    assert (personal, counted) == (expected["shares"].either, expected["shares"].total)


def through(session: Session, campaign_id: int) -> int:
    session.commit()
    found = session.scalar(select(Campaign.tallied_through).where(Campaign.id == campaign_id))
    return int(found or 0)


def test_figures_stay_exact_through_actions_folds_and_erasures(
    shared_app: Flask, mine: int, small_folds: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = get_session()
    client = shared_app.test_client()
    first = add(session, mine, range(0, 10))
    assert through(session, mine) == 0
    assert_figures_exact(session, mine)

    # A view folds: two chunks of four, then fewer than three are left waiting.
    assert client.get(OVERVIEW).status_code == 200
    assert through(session, mine) == first[7]
    assert_figures_exact(session, mine)
    assert only_stored(session, mine)["shares"].total == 8

    # Erased: folded actions with a personal line and an edited message, one not
    # folded yet, and one erased twice.
    erased = [first[0], first[3], first[4], first[9]]
    erasure.erase_actions(session, erased)
    session.commit()
    assert_figures_exact(session, mine)
    erasure.erase_actions(session, [first[0], first[1]])
    session.commit()
    assert_figures_exact(session, mine)

    # Forgotten as a person, through the CLI's path.
    erasure.forget(session, erasure.find(session, "s2@example.org"))
    assert_figures_exact(session, mine)

    # More actions, then a fold of them: the erased ones not yet folded stay out.
    later = add(session, mine, range(10, 30))
    erasure.erase_actions(session, [later[0], first[8]])
    session.commit()
    assert_figures_exact(session, mine)
    assert tallies.fold(engine_of(shared_app), mine) > 0
    assert through(session, mine) > first[-1]
    assert_figures_exact(session, mine)

    # Folded to the last: the stored rows alone are the whole count.
    monkeypatch.setattr(tallies, "THRESHOLD", 1)
    tallies.fold(engine_of(shared_app), mine)
    assert through(session, mine) == later[-1]
    assert only_stored(session, mine) == direct(session, mine)

    # The page shows the same shares as the direct count.
    text = html.unescape(client.get(OVERVIEW).get_data(as_text=True))
    shares = direct_shares(session, mine)
    assert f"<dt>With either</dt><dd>{shares.either} (" in text
    assert f"Of {shares.total} actions whose supporters' data is kept." in text


def test_a_view_reads_only_the_actions_not_folded(
    shared_app: Flask, mine: int, small_folds: None
) -> None:
    session = get_session()
    client = shared_app.test_client()
    add(session, mine, range(0, 40))
    assert client.get(OVERVIEW).status_code == 200  # folds all but two
    assert through(session, mine) > 0
    add(session, mine, range(40, 42))

    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split()))

    engine = engine_of(shared_app)
    event.listen(engine, "before_cursor_execute", seen)
    try:
        text = client.get(OVERVIEW).get_data(as_text=True)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    counting = [s for s in statements if "FROM ua_actions" in s
                and any(word in s for word in ("count(", "sum(", "GROUP BY"))]  # fmt: skip
    assert counting, statements
    for statement in counting:
        assert "ua_actions.id > (SELECT ua_campaigns.tallied_through" in statement, statement

    # And the figures come from the stored rows: a changed row shows.
    partners, _origins = reports.action_tallies(session, mine)
    ssm = dict((t.value, t.actions) for t in partners)["ssm"]
    assert f'<th scope="row">ssm</th><td class="ua-num">{ssm}</td>' in text
    session.execute(
        update(ActionTally)
        .where(ActionTally.campaign_id == mine, ActionTally.dimension == "partner",
               ActionTally.key == "ssm")
        .values(n=ActionTally.n + 1000)
    )  # fmt: skip
    session.commit()
    text = client.get(OVERVIEW).get_data(as_text=True)
    assert f'<th scope="row">ssm</th><td class="ua-num">{ssm + 1000:,}</td>' in text


def test_actions_folds_and_erasures_at_once_count_each_action_once(
    shared_app: Flask, mine: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tallies, "THRESHOLD", 1)
    monkeypatch.setattr(tallies, "CHUNK", 7)
    engine = engine_of(shared_app)
    sessions = shared_app.extensions["urgentaction"].storage.sessions
    takers, each = 4, 20
    done = threading.Event()
    errors: list[BaseException] = []
    folds: list[int] = []
    erased: list[int] = []

    def take(number: int) -> None:
        client = shared_app.test_client()
        try:
            for i in range(each):
                email = f"t{number}-{i}@example.org"
                fields = {"email": email, "country": COUNTRIES[i % 3],
                          "personal": "mine" if i % 3 == 0 else ""}  # fmt: skip
                with shared_app.app_context():
                    body = action_body(client, **fields)
                response = client.post(ACTIONS_URL, json=body)
                assert response.status_code == 201, response.get_json()
        except BaseException as exc:
            errors.append(exc)

    def fold() -> None:
        try:
            while not done.is_set():
                folds.append(tallies.fold(engine, mine, budget=0.05))
        except BaseException as exc:
            errors.append(exc)

    def erase() -> None:
        rng = random.Random(7)
        try:
            while not done.is_set():
                with sessions() as session:
                    ids = list(session.scalars(
                        select(Action.id).where(Action.campaign_id == mine,
                                                Action.erased_at.is_(None))
                    ))  # fmt: skip
                    if ids:
                        chosen = rng.sample(ids, min(2, len(ids)))
                        erasure.erase_actions(session, chosen)
                        session.commit()
                        erased.extend(chosen)
                done.wait(0.05)
        except BaseException as exc:
            errors.append(exc)

    takers_threads = [threading.Thread(target=take, args=(n,)) for n in range(takers)]
    others = [threading.Thread(target=fold), threading.Thread(target=fold),
              threading.Thread(target=erase)]  # fmt: skip
    for thread in (*takers_threads, *others):
        thread.start()
    for thread in takers_threads:
        thread.join(120)
    done.set()
    for thread in others:
        thread.join(60)
    assert errors == []
    assert sum(folds) > 0 and erased

    session = get_session()
    assert_figures_exact(session, mine)
    # Folded to the last action, the stored rows alone count each action once.
    tallies.fold(engine, mine, budget=60)
    assert through(session, mine) == session.scalar(
        select(func.max(Action.id)).where(Action.campaign_id == mine)
    )
    assert only_stored(session, mine) == direct(session, mine)
    day_total = sum(n for _day, n in only_stored(session, mine)["day"])
    assert day_total == takers * each


def test_migration_counts_the_actions_stored_before_it(shared_app: Flask, mine: int) -> None:
    session = get_session()
    kept = add(session, mine, range(0, 25))
    erasure.erase_actions(session, kept[:3])
    session.commit()
    engine = engine_of(shared_app)
    migrate(engine, "0015")
    with engine.begin() as connection:
        # Written with 0015's schema: ua_campaigns has no tallied_through then.
        rows = [stored(n, mine, clock.now()) for n in range(25, 31)]
        connection.execute(insert(Action), rows)
    migrate(engine, "head")
    session = get_session()
    last = session.scalar(select(func.max(Action.id)).where(Action.campaign_id == mine))
    assert through(session, mine) == last
    assert only_stored(session, mine) == direct(session, mine)
    assert_figures_exact(session, mine)


@pytest.fixture
def no_fold_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fold gives up soon when it cannot have its lock."""
    monkeypatch.setattr(tallies, "LOCK_WAIT_MS", 50)


def test_a_fold_that_cannot_have_its_lock_leaves_the_page_exact(
    shared_app: Flask, mine: int, small_folds: None, no_fold_lock: None
) -> None:
    session = get_session()
    add(session, mine, range(0, 10))
    engine = engine_of(shared_app)
    with engine.connect() as holder:
        # Another transaction writing actions, not committed while the view runs.
        holder.execute(update(Action).where(Action.id < 0).values(country="XX"))
        if engine.dialect.name == "sqlite":
            holder.execute(update(Campaign).where(Campaign.id < 0).values(goal=1))
        response = shared_app.test_client().get(OVERVIEW)
        assert response.status_code == 200
        holder.rollback()
    assert through(session, mine) == 0
    assert_figures_exact(session, mine)
