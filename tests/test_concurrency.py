"""Every supporter's message reaches every target, exactly once, under load.

200 submissions from 24 concurrent clients against gunicorn with three sync
workers (three processes, each with its own engine), on SQLite and PostgreSQL:
140 emails sent once and 30 sent twice, half of the twins right behind each other
so that they race. Each client reads the campaign JSON for a fresh challenge and
answers it, as the widget does. Expected: each email stored once and answered 201
once (409 for its twin), the public count equal to the 201s, one outbox row per
stored action and target, and nothing else (no 5xx, no 429, no lost answers).
Each run prints its figures: tried, 201, 409, 5xx, stored.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from flask_urgentaction.actions import email_key
from flask_urgentaction.campaigns import load_files
from flask_urgentaction.models import Action, OutboxMessage
from flask_urgentaction.storage import get_session

from .conftest import Mailbox, make_app
from .servers import call, gunicorn

URL = "/actions/api/campaigns/example-mine-strike"
ACTIONS = f"{URL}/actions"
ONCE, TWICE = 140, 30
TRIED = ONCE + 2 * TWICE
CLIENTS = 24
WORKERS = 3
START_WITHIN = 20  # seconds for gunicorn to boot its workers
SUBMIT_WITHIN = 30  # seconds for all the submissions; the test stays under a minute
TEST_WITHIN = 60
NO_ANSWER = 0  # the status recorded when the server never answered in time


@dataclass(frozen=True)
class Tried:
    email: str
    status: int  # of the POST, or of the GET when that failed; NO_ANSWER if neither came
    count: int | None  # the count in a 201 or 409 body
    pid: str  # the worker that answered the POST
    detail: str = ""


def submission_order() -> list[str]:
    """Emails in the order they are submitted; the twin of a duplicate may differ in
    case, which is still the same email."""
    rng = random.Random(20260611)
    once = [f"once{n}@example.org" for n in range(ONCE)]
    twins = [f"twin{n}@example.org" for n in range(TWICE)]
    order = once + twins
    rng.shuffle(order)
    for n, email in enumerate(twins):
        again = email.upper() if n % 2 else email
        after = order.index(email) + 1
        # Half right behind the first, so that both are in flight together; half
        # anywhere later, most often after the first is stored.
        order.insert(after if n < TWICE // 2 else rng.randint(after, len(order)), again)
    return order


def take_action(port: int, email: str, deadline: float) -> Tried:
    """What the widget does: read the campaign for a fresh challenge, answer it, submit."""
    try:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return Tried(email, NO_ANSWER, None, "", "not sent: out of time")
        campaign = call(port, "GET", URL, timeout=remaining)
        if campaign.status != 200:
            return Tried(email, campaign.status, None, "", f"GET: {campaign.body[:300]!r}")
        challenge = campaign.json()["challenge"]
        number = re.search(r"\d+", challenge["question"])
        assert number, challenge
        body = {
            "name": "Ana Kovač", "email": email, "union": "SSM", "country": "BA",
            "lang": "en", "opt_in": False, "hp": "",
            "challenge_token": challenge["token"], "challenge_answer": number.group(0),
        }  # fmt: skip
        answer = call(port, "POST", ACTIONS, body, timeout=max(deadline - time.monotonic(), 0.1))
    except OSError as exc:  # refused, reset, timed out
        return Tried(email, NO_ANSWER, None, "", repr(exc))
    count = answer.json().get("count") if answer.status in (201, 409) else None
    pid = answer.headers.get("X-Worker-Pid", "")
    return Tried(email, answer.status, count, pid, repr(answer.body[:300]))


Pair = tuple[int | None, int | None]


def stored(database_url: str) -> tuple[dict[int, str | None], Counter[Pair]]:
    """The actions (id -> email key) and the target rows per (action, target)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            actions = {i: k for i, k in connection.execute(select(Action.id, Action.email_key))}
            rows = connection.execute(
                select(OutboxMessage.action_id, OutboxMessage.target_id).where(
                    OutboxMessage.kind == "target"
                )
            )
            targets: Counter[Pair] = Counter((a, t) for a, t in rows)
    finally:
        engine.dispose()
    return actions, targets


@pytest.fixture
def report(request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]) -> Any:
    def write(line: str) -> None:
        line = f"{request.node.name}: {line}"
        request.node.user_properties.append(("figures", line))
        with capsys.disabled():
            print(f"\n  {line}", end="")

    return write


def test_every_message_reaches_every_target_exactly_once(
    tmp_path: Path, mailbox: Mailbox, campaign_file: Path, database_url: str, report: Any
) -> None:
    began = time.monotonic()
    # Migrate and load the campaign before the workers start.
    loader = make_app(tmp_path / "loader", mailbox, URGENTACTION_DATABASE_URL=database_url)
    with loader.app_context():
        load_files(get_session(), [campaign_file])
        get_session().close()
    loader.extensions["urgentaction"].storage.engine.dispose()
    config = {
        "SECRET_KEY": "concurrency test secret",
        "MAIL_DEFAULT_SENDER": "Example Network <actions@network.example>",
        "URGENTACTION_DATABASE_URL": database_url,
        # Mail waits for a worker: what is stored and queued is the point here.
        "URGENTACTION_DELIVERY": "worker",
        "URGENTACTION_MIN_FILL_SECONDS": 0,
        # Every client comes from 127.0.0.1: the limit must not be what refuses them.
        "URGENTACTION_RATE_LIMIT": "10000 per minute",
    }
    order = submission_order()
    server_log = ""
    with gunicorn(tmp_path / "site", config, WORKERS, START_WITHIN) as server:
        deadline = time.monotonic() + SUBMIT_WITHIN
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            tried = list(pool.map(lambda email: take_action(server.port, email, deadline), order))
        submitted = SUBMIT_WITHIN - (deadline - time.monotonic())
        # Several reads, so that more than one worker's view of the campaign is asked.
        pages = [call(server.port, "GET", URL, timeout=5) for _ in range(3 * WORKERS)]
        server_log = server.log()
    elapsed = time.monotonic() - began

    actions, target_rows = stored(database_url)
    statuses = Counter(t.status for t in tried)
    server_errors = sum(n for status, n in statuses.items() if status >= 500)
    report(
        f"tried {len(tried)}, 201 {statuses[201]}, 409 {statuses[409]}, 5xx {server_errors}, "
        f"stored {len(actions)}, target rows {sum(target_rows.values())}, "
        f"other {sorted((s, n) for s, n in statuses.items() if s not in (201, 409))}, "
        f"submitted in {submitted:.1f} s, {elapsed:.1f} s in all"
    )

    odd = [(t.email, t.status, t.detail) for t in tried if t.status not in (201, 409)]
    assert odd == [], f"{odd[:10]}\n{server_log[-3000:]}"
    assert statuses == {201: ONCE + TWICE, 409: TWICE}
    by_email: dict[str, list[int]] = {}
    for t in tried:
        by_email.setdefault(email_key(t.email), []).append(t.status)
    assert {key: sorted(s) for key, s in by_email.items() if key.startswith("twin")} == {
        f"twin{n}@example.org": [201, 409] for n in range(TWICE)
    }
    assert all(s == [201] for key, s in by_email.items() if key.startswith("once"))
    # Stored exactly once for each 201, and never for an email that got none.
    created = Counter(email_key(t.email) for t in tried if t.status == 201)
    assert Counter(actions.values()) == created
    # Several processes took the submissions, or the race was never run.
    assert len({t.pid for t in tried}) == WORKERS

    # The public count, as a fresh page load shows it, and the counts answered.
    assert [page.status for page in pages] == [200] * len(pages)
    assert [page.json()["count"] for page in pages] == [statuses[201]] * len(pages)
    public = pages[0].json()
    assert all(1 <= (t.count or 0) <= statuses[201] for t in tried)

    # One queued message per stored action and target: none missing, none doubled.
    targets = len(public["targets"])
    assert targets == 2
    assert sum(target_rows.values()) == statuses[201] * targets
    assert set(target_rows.values()) == {1}
    assert {action for action, _target in target_rows} == set(actions)
    reached = {target for _action, target in target_rows}
    assert None not in reached and len(reached) == targets

    assert elapsed < TEST_WITHIN
