"""Gentle delivery against a real SMTP server: pace, hours and time zones, cap, digest.

Hours and digests run on a clock the test sets (``clock.now``); the pace across
two worker processes runs on the real clock and is read from the times at which
the server received each message.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from flask_urgentaction import clock, outbox, pacing
from flask_urgentaction.campaigns import CampaignError, load_files, validate
from flask_urgentaction.models import OutboxMessage, OutboxStatus, Target
from flask_urgentaction.storage import get_session

from .conftest import SAMPLE, Mailbox, action_body, make_app
from .servers import Workers

CEO, MINISTER = "ceo@mining.example", "minister@labour.example"


def with_delivery(table: str, targets: dict[str, str] | None = None) -> str:
    """The sample campaign with a [delivery] table (and per-target lines)."""
    text = SAMPLE
    for address, extra in (targets or {}).items():
        text = text.replace(f'email = "{address}"\n', f'email = "{address}"\n{extra}\n')
    return text.replace("[translations.en]", f"[delivery]\n{table}\n\n[translations.en]")


def load(tmp_path: Path, text: str) -> None:
    path = tmp_path / "campaign.toml"
    path.write_text(text, encoding="utf-8")
    load_files(get_session(), [path])


def act(client: FlaskClient, count: int, start: int = 0, **fields: Any) -> None:
    for index in range(start, start + count):
        body = action_body(client, email=f"supporter{index}@example.org", **fields)
        response = client.post("/actions/api/campaigns/example-mine-strike/actions", json=body)
        assert response.status_code == 201, response.get_json()


class Clock:
    """The time pacing sees; starts at ``at`` and moves only when told."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, at: datetime) -> None:
        self.at = at
        monkeypatch.setattr(clock, "now", lambda: self.at)

    def set(self, at: datetime) -> None:
        self.at = at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


def statuses(target: str) -> dict[str, int]:
    rows = get_session().execute(
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.recipient == target, OutboxMessage.kind == "target")
        .group_by(OutboxMessage.status)
    )
    return {str(status): count for status, count in rows}


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"URGENTACTION_DELIVERY": "worker"}


# The rules as an organiser writes them.


@pytest.mark.parametrize(
    ("table", "key", "problem"),
    [
        ("per_target_per_hour = 0", "delivery.per_target_per_hour", "whole number"),
        ('per_target_per_hour = "120"', "delivery.per_target_per_hour", "whole number"),
        ("cap = true", "delivery.cap", "whole number"),
        ('hours = "8-18"', "delivery.hours", "08:00-18:00"),
        ('hours = "09:00-09:00"', "delivery.hours", "08:00-18:00"),
        ('hours = "08:00-24:30"', "delivery.hours", "08:00-18:00"),
        ('timezone = "Mars/Olympus_Mons"', "delivery.timezone", "time zone"),
        ('timezone = "../../etc/passwd"', "delivery.timezone", "time zone"),
        ('mode = "burst"', "delivery.mode", '"each" or "digest"'),
        ("per_hour = 5", "delivery.per_hour", "unknown key"),
    ],
)
def test_bad_delivery_rules_are_refused_with_key_and_problem(
    table: str, key: str, problem: str
) -> None:
    import tomllib

    with pytest.raises(CampaignError) as caught:
        validate(tomllib.loads(with_delivery(table)))
    assert caught.value.key == key
    assert problem in caught.value.problem


def test_a_targets_own_time_zone_is_checked_and_kept() -> None:
    import tomllib

    bad = with_delivery('hours = "08:00-18:00"', {CEO: 'timezone = "Nowhere/Land"'})
    with pytest.raises(CampaignError) as caught:
        validate(tomllib.loads(bad))
    assert caught.value.key == "targets[0].timezone"
    good = with_delivery(
        'per_target_per_hour = 120\nhours = "22:00-06:00"\ntimezone = "Europe/Tirana"',
        {MINISTER: 'timezone = "asia/manila"'},
    )
    clean = validate(tomllib.loads(good))
    # Kept as the time zone database spells it: "Tirane", and with its capitals.
    assert clean["delivery"] == {
        "per_target_per_hour": 120, "hours": "22:00-06:00", "timezone": "Europe/Tirane",
    }  # fmt: skip
    assert [t["timezone"] for t in clean["targets"]] == [None, "Asia/Manila"]
    assert pacing.zone_name("America/New York") == "America/New_York"
    # Kyiv and Kiev are both close: a guess too many.
    assert pacing.zone_name("Europe/Kiyv") is None


def test_sending_hours_follow_the_wall_clock_across_a_daylight_saving_change() -> None:
    rules = pacing.Rules.of({"hours": "08:00-18:00", "timezone": "Europe/Tirane"})
    # Tirana moves from UTC+1 to UTC+2 on 29 March 2026 at 02:00 local time.
    before, after = datetime(2026, 3, 28, tzinfo=UTC), datetime(2026, 3, 29, tzinfo=UTC)
    # 06:30 UTC is 07:30 in Tirana the day before, 08:30 on the day of the change.
    assert rules.opens(before.replace(hour=6, minute=30)) == before.replace(hour=7)
    assert rules.opens(after.replace(hour=6, minute=30)) is None
    # 16:30 UTC is 17:30 the day before (open), 18:30 on the day (closed until
    # 08:00 local the next morning, which is 06:00 UTC).
    assert rules.opens(before.replace(hour=16, minute=30)) is None
    assert rules.opens(after.replace(hour=16, minute=30)) == datetime(2026, 3, 30, 6, tzinfo=UTC)
    # Back to UTC+1 on 25 October 2026: 07:30 UTC is 08:30 local again.
    assert rules.opens(datetime(2026, 10, 25, 7, 30, tzinfo=UTC)) is None
    assert rules.opens(datetime(2026, 10, 24, 5, 30, tzinfo=UTC)) == datetime(
        2026, 10, 24, 6, tzinfo=UTC
    )
    night = pacing.Rules.of({"hours": "22:00-06:00", "timezone": "UTC"})
    assert night.opens(datetime(2026, 5, 1, 23, tzinfo=UTC)) is None
    assert night.opens(datetime(2026, 5, 1, 5, 59, tzinfo=UTC)) is None
    assert night.opens(datetime(2026, 5, 1, 6, tzinfo=UTC)) == datetime(2026, 5, 1, 22, tzinfo=UTC)


def test_mail_waits_for_each_targets_hours_in_its_own_zone(
    app: Flask, client: FlaskClient, mailbox: Mailbox, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    load(
        tmp_path,
        with_delivery(
            'hours = "08:00-18:00"\ntimezone = "Europe/Tirana"',
            {MINISTER: 'timezone = "Asia/Manila"'},
        ),
    )
    # The day before the change, 06:30 UTC: 07:30 in Tirana, 14:30 in Manila.
    now = Clock(monkeypatch, datetime(2026, 3, 28, 6, 30, tzinfo=UTC))
    act(client, 3)
    assert statuses(CEO) == {"held": 3}
    outbox.drain()
    assert len(mailbox.to(MINISTER)) == 3
    assert mailbox.to(CEO) == []
    assert statuses(CEO) == {"held": 3}
    # The same time of day after the change is 08:30 in Tirana: inside.
    now.set(datetime(2026, 3, 29, 6, 30, tzinfo=UTC))
    outbox.drain()
    assert len(mailbox.to(CEO)) == 3
    assert statuses(CEO) == {"sent": 3}


def test_the_pace_spreads_messages_and_a_pause_is_not_made_up_with_a_burst(
    app: Flask, client: FlaskClient, mailbox: Mailbox, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    load(tmp_path, with_delivery("per_target_per_hour = 60"))  # one a minute
    now = Clock(monkeypatch, datetime(2026, 6, 1, 9, tzinfo=UTC))
    act(client, 8)
    outbox.drain()
    assert len(mailbox.to(CEO)) == 1
    now.advance(seconds=30)
    outbox.drain()
    assert len(mailbox.to(CEO)) == 1
    now.advance(seconds=30)
    outbox.drain()
    assert len(mailbox.to(CEO)) == 2
    # Half an hour without a worker: at most one slot is caught up, not thirty.
    now.advance(minutes=30)
    outbox.drain()
    assert len(mailbox.to(CEO)) == 4
    now.advance(seconds=59)
    outbox.drain()
    assert len(mailbox.to(CEO)) == 4
    now.advance(seconds=1)
    outbox.drain()
    assert len(mailbox.to(CEO)) == 5
    assert statuses(CEO) == {"sent": 5, "held": 3}
    # Each target has its own pace.
    assert len(mailbox.to(MINISTER)) == 5
    assert get_session().scalar(select(Target.released).where(Target.email == CEO)) == 5


def test_the_cap_keeps_the_rest_held_and_a_higher_cap_lets_it_go(
    app: Flask, client: FlaskClient, mailbox: Mailbox, tmp_path: Path
) -> None:
    load(tmp_path, with_delivery("cap = 2"))
    act(client, 5)
    outbox.drain()
    outbox.drain()
    assert len(mailbox.to(CEO)) == 2
    assert statuses(CEO) == {"sent": 2, "held": 3}
    # Actions still count.
    data = client.get("/actions/api/campaigns/example-mine-strike").get_json()
    assert data["count"] == 5
    load(tmp_path, with_delivery("cap = 4"))
    outbox.drain()
    assert len(mailbox.to(CEO)) == 4
    assert statuses(CEO) == {"sent": 4, "held": 1}
    # Taking the rules away sends what waits.
    load(tmp_path, SAMPLE)
    outbox.drain()
    assert statuses(CEO) == {"sent": 5}
    assert len({m["Message-ID"] for m in mailbox.to(CEO)}) == 5


def test_inline_delivery_sends_what_the_pace_allows_and_holds_the_rest(
    tmp_path: Path, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(tmp_path, mailbox)  # inline delivery, the default
    with app.app_context():
        load(tmp_path, with_delivery("per_target_per_hour = 60"))
        now = Clock(monkeypatch, datetime(2026, 6, 1, 9, tzinfo=UTC))
        client = app.test_client()
        act(client, 3)
        assert len(mailbox.to(CEO)) == 1
        now.advance(minutes=1)
        act(client, 1, start=3)
        assert len(mailbox.to(CEO)) == 2
        assert statuses(CEO) == {"sent": 2, "held": 2}


def test_digest_lists_an_hours_supporters_in_one_message_per_target(
    app: Flask, client: FlaskClient, mailbox: Mailbox, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    load(tmp_path, with_delivery('mode = "digest"'))
    now = Clock(monkeypatch, datetime(2026, 6, 1, 9, tzinfo=UTC))
    act(client, 2)
    edited = "Reinstate the sacked union leaders of the Example mine.\nWe stand with you in Zenica."
    act(client, 1, start=2, message=edited, name="Emina Hadžić", union="", country="AL")
    outbox.drain()
    assert mailbox.received == []  # the first digest collects for an hour
    now.advance(minutes=59)
    outbox.drain()
    assert mailbox.received == []
    now.advance(minutes=1)
    outbox.drain()
    assert len(mailbox.to(CEO)) == 1 and len(mailbox.to(MINISTER)) == 1
    (digest,) = mailbox.to(CEO)
    assert digest["Subject"] == "Reinstate the union leaders now (3 supporters)"
    assert digest["Reply-To"] is None
    body = digest.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "3 people asked you" in body
    assert body.count("Reinstate the sacked union leaders of the Example mine.") == 1
    assert body.count("- Ana Kovač, SSM, Bosnia & Herzegovina") == 2
    assert "- Emina Hadžić, Albania\n  We stand with you in Zenica." in body
    assert statuses(CEO) == {"digested": 3}
    session = get_session()
    carriers = set(
        session.scalars(
            select(OutboxMessage.digest_id).where(
                OutboxMessage.recipient == CEO, OutboxMessage.kind == "target"
            )
        )
    )
    (carrier,) = carriers
    assert session.get(OutboxMessage, carrier).status == OutboxStatus.SENT  # type: ignore[union-attr]
    # The count stays one per supporter.
    assert client.get("/actions/api/campaigns/example-mine-strike").get_json()["count"] == 3
    # The next supporters wait for the next hour.
    act(client, 1, start=3)
    now.advance(minutes=30)
    outbox.drain()
    assert len(mailbox.to(CEO)) == 1
    now.advance(minutes=30)
    outbox.drain()
    assert len(mailbox.to(CEO)) == 2
    assert "(1 supporter)" in str(mailbox.to(CEO)[1]["Subject"])


# Two worker processes on the real clock.


@pytest.fixture
def shared_config() -> dict[str, Any]:
    return {"URGENTACTION_DELIVERY": "worker", "URGENTACTION_WORKER_POLL_SECONDS": 0.05}


def test_two_workers_keep_one_shared_pace_per_target(
    shared_app: Flask, mailbox: Mailbox, tmp_path: Path
) -> None:
    interval = 0.5  # 7,200 an hour
    load(tmp_path, with_delivery("per_target_per_hour = 7200"))
    act(shared_app.test_client(), 8)
    workers = Workers(shared_app, tmp_path)
    try:
        workers.start("worker")
        workers.start("worker")
        deadline = time.monotonic() + 60
        while len(mailbox.received) < 16 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        workers.stop()
    assert len(mailbox.received) == 16, workers.output()
    for target in (CEO, MINISTER):
        times = sorted(
            at for at, (rcpt, _m) in zip(mailbox.arrived, mailbox.received, strict=True)
            if target in rcpt
        )  # fmt: skip
        assert len(times) == 8
        # Slots are an interval apart; a release may lag its slot by up to one
        # interval, so n messages span at least n - 2 intervals.
        assert times[-1] - times[0] >= 6 * interval - 0.1, times
        # Never a burst: at most three (two slots and a lagging one) in any interval.
        assert max(sum(1 for t in times if s <= t < s + interval) for s in times) <= 3, times
        assert len({m["Message-ID"] for m in mailbox.to(target)}) == 8
    assert statuses(CEO) == {"sent": 8}


# What the organiser reads.


def report(app: Flask) -> dict[str, Any]:
    import json

    result = app.test_cli_runner().invoke(args=["urgentaction", "report", "example-mine-strike",
                                                "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return {t["address"]: t for t in data["targets"]}


def test_the_report_and_send_mail_say_what_the_sink_saw_and_why_the_rest_waits(
    app: Flask, client: FlaskClient, mailbox: Mailbox, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    load(
        tmp_path,
        with_delivery("cap = 3\nper_target_per_hour = 60", {MINISTER: 'timezone = "Asia/Manila"'}),
    )
    now = Clock(monkeypatch, datetime(2026, 6, 1, 9, tzinfo=UTC))
    act(client, 5)
    runner = app.test_cli_runner()
    for _minute in range(4):
        output = runner.invoke(args=["urgentaction", "send-mail"]).output
        now.advance(minutes=1)
    assert output.startswith("sent 0, failed 0; 4 waiting: 4 held by the targets' cap")
    figures = report(app)
    for target in (CEO, MINISTER):
        assert figures[target]["sent"] == len(mailbox.to(target)) == 3
        assert (figures[target]["held"], figures[target]["held_reason"]) == (2, "cap")
    # A higher cap, and a server that asks to try later.
    load(
        tmp_path,
        with_delivery("cap = 4\nper_target_per_hour = 60", {MINISTER: 'timezone = "Asia/Manila"'}),
    )
    monkeypatch.setitem(app.config, "URGENTACTION_RETRY_BASE_SECONDS", 600)
    mailbox.reply = "451 4.7.1 Try again later"
    output = runner.invoke(args=["urgentaction", "send-mail"]).output
    assert "2 retrying after 451" in output
    assert "2 held by the targets' cap" in output
    figures = report(app)
    for target in (CEO, MINISTER):
        assert figures[target]["sent"] == len(mailbox.to(target)) == 3
        assert figures[target]["queued_waiting"] == 1
        assert figures[target]["waiting_because"]["reply"] == "451 4.7.1 Try again later"
        assert (figures[target]["held"], figures[target]["held_reason"]) == (1, "cap")
    text = runner.invoke(args=["urgentaction", "report", "example-mine-strike"]).output
    assert "held: the target's cap is reached" in text
    assert "In their own words: 0 of 5 actions (0%)" in text


def test_reloading_a_campaign_keeps_its_targets_and_refuses_a_target_twice(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    load(tmp_path, SAMPLE)
    before = dict(get_session().execute(select(Target.email, Target.id)).all())
    act(client, 1)
    load(tmp_path, SAMPLE.replace('name = "Ministry of Labour"', 'name = "Ministry of Work"'))
    get_session().expire_all()
    assert dict(get_session().execute(select(Target.email, Target.id)).all()) == before
    kept = get_session().scalars(select(OutboxMessage.target_id)).all()
    assert sorted(kept) == sorted(before.values())
    import tomllib

    twice = SAMPLE.replace(MINISTER, CEO.upper())
    with pytest.raises(CampaignError) as caught:
        validate(tomllib.loads(twice))
    assert (caught.value.key, caught.value.problem) == ("targets[1].email", "listed twice")
