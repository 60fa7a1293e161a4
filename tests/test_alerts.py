"""``flask urgentaction alert``: dry run, test send, languages, those who acted, intros,
batches that survive a crash, and the pace per recipient domain, counted at a real
SMTP server."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from flask_urgentaction import clock, domain_pace, outbox
from flask_urgentaction.campaigns import load_files
from flask_urgentaction.mail import unsubscribe_link
from flask_urgentaction.models import DomainPace, OutboxMessage, Subscriber
from flask_urgentaction.storage import get_session, get_storage

from .conftest import SAMPLE, Mailbox, action_body
from .servers import ROOT, Workers

SLUG = "example-mine-strike"
ACTIONS_URL = f"/actions/api/campaigns/{SLUG}/actions"
EN_SUMMARY = "Miners were sacked for founding a union."
DE_SUMMARY = "Bergleute wurden entlassen, weil sie eine Gewerkschaft gegründet haben."
ORGANISER = "organiser@union.example"


@pytest.fixture
def app_config() -> dict[str, Any]:
    # The test sends (outbox.drain) when it wants to see what went out.
    return {"URGENTACTION_DELIVERY": "worker"}


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "tests.delivery_app", "urgentaction", *args]


def run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["urgentaction", "alert", *args])


def subscribe(*people: tuple[str, str], status: str = "confirmed") -> None:
    """Subscribers as (address, language)."""
    session = get_session()
    session.add_all(
        Subscriber(email=email, email_key=email.casefold(), name=email.split("@")[0], lang=lang,
                   status=status, confirmed_at=datetime.now(UTC))
        for email, lang in people
    )  # fmt: skip
    session.commit()


def act(client: FlaskClient, email: str) -> None:
    response = client.post(ACTIONS_URL, json=action_body(client, email=email))
    assert response.status_code == 201, response.get_json()


def alert_rows() -> int:
    with get_storage().sessions() as session:
        query = select(func.count()).where(OutboxMessage.kind == "alert")
        return int(session.scalar(query) or 0)


def alerted(mailbox: Mailbox) -> Counter[str]:
    """How many alerts each address received (target mail has no List-Unsubscribe)."""
    return Counter(
        address
        for rcpt, message in mailbox.received
        if message["List-Unsubscribe"]
        for address in rcpt
    )


def part(message: EmailMessage, subtype: str = "plain") -> str:
    body = message.get_body(preferencelist=(subtype,))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


def write(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "intro.toml"
    path.write_text(content, encoding="utf-8")
    return path


# Dry run


def test_dry_run_counts_per_language_says_why_others_are_skipped_and_queues_nothing(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    subscribe(("ana@example.org", "en"), ("ben@example.net", "en-GB"), ("hans@example.de", "de"),
              ("ivo@example.hr", "hr"))  # fmt: skip
    subscribe(("paula@example.org", "en"), status="pending")
    subscribe(("uma@example.org", "en"), status="unsubscribed")
    act(client, "Ben@Example.net")
    assert run(app, SLUG, "--lang", "de").exit_code == 0
    assert alert_rows() == 1

    result = run(app, SLUG, "--dry-run", "--skip-acted")
    assert result.exit_code == 0, result.output
    # Croatian is not among the campaign's languages: Ivo's alert is in the fallback.
    assert result.output.splitlines()[0] == (
        "dry run: would queue 2 alerts (en 2); "
        "skipped 2 (1 alerted before, 1 acted on this campaign)"
    )
    result = run(app, SLUG, "--dry-run", "--lang", "de")
    assert result.output.splitlines()[0] == (
        "dry run: would queue 0 alerts; skipped 4 (1 alerted before, 3 not in --lang)"
    )
    result = run(app, SLUG, "--dry-run")
    assert result.output.splitlines()[0] == (
        "dry run: would queue 3 alerts (en 3); skipped 1 (1 alerted before)"
    )
    assert "paced at 3600 an hour per recipient domain" in result.output

    # Nothing was queued: only Hans's alert (and Ben's mail to the targets) goes out.
    assert alert_rows() == 1
    outbox.drain()
    assert alerted(mailbox) == {"hans@example.de": 1}


# Test send


def test_test_to_sends_one_marked_alert_to_the_organiser_and_alerts_no_subscriber(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox, tmp_path: Path
) -> None:
    subscribe(("ana@example.org", "en"), ("hans@example.de", "de"))
    intro = write(tmp_path, '[de]\nintro = "Tag 12 des Streiks."\n')
    result = run(app, SLUG, "--test-to", ORGANISER, "--lang", "de", "--intro-file", str(intro))
    assert result.exit_code == 0, result.output
    assert f"sent a test alert in de to {ORGANISER} (250 OK); no subscriber was alerted" in (
        result.output
    )
    ((rcpt, test),) = mailbox.received
    assert rcpt == [ORGANISER]
    assert test["Subject"] == "[TEST] Eilaktion: Stellt die entlassenen Gewerkschafter wieder ein"
    body = part(test)
    assert body.index("Tag 12 des Streiks.") < body.index(DE_SUMMARY)
    assert str(test["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"

    # Its unsubscribe link opens the page, and unsubscribes no one.
    link = str(test["List-Unsubscribe"])[1:-1]
    assert link in body
    path = link.removeprefix("http://actions.test")
    assert client.get(path).status_code == 400
    answer = client.post(path, data="List-Unsubscribe=One-Click",
                         content_type="application/x-www-form-urlencoded")  # fmt: skip
    assert answer.status_code == 400
    with get_storage().sessions() as session:
        assert set(session.scalars(select(Subscriber.status))) == {"confirmed"}

    # Without --lang, the test is in the campaign's fallback language.
    assert run(app, SLUG, "--test-to", ORGANISER).exit_code == 0
    assert (
        mailbox.messages[-1]["Subject"]
        == "[TEST] Urgent action: Reinstate the sacked union leaders"
    )
    # The tests stop no one's alert: the real run alerts every subscriber, once.
    result = run(app, SLUG)
    assert result.output.startswith("queued 2 alerts (en 1, de 1); skipped 0\n")
    outbox.drain()
    assert alerted(mailbox) == {ORGANISER: 2, "ana@example.org": 1, "hans@example.de": 1}
    assert not any(str(m["Subject"]).startswith("[TEST]") for m in mailbox.messages[2:])


def test_test_to_refuses_a_bad_address_and_a_dry_run(
    app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    subscribe(("ana@example.org", "en"))
    refused = run(app, SLUG, "--test-to", "not an address")
    assert refused.exit_code != 0
    assert "not an address" in refused.output
    both = run(app, SLUG, "--test-to", ORGANISER, "--dry-run")
    assert both.exit_code != 0
    assert "--dry-run sends nothing" in both.output
    assert alert_rows() == 0
    assert mailbox.received == []


def test_a_refused_test_alert_says_why_and_is_not_left_to_be_retried(
    app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    mailbox.reply = "554 5.7.1 Rejected for policy reasons"
    result = run(app, SLUG, "--test-to", ORGANISER)
    assert result.exit_code == 1
    assert f"the test alert to {ORGANISER} was not sent: " in result.output
    assert "554 5.7.1 Rejected for policy reasons" in result.output
    assert alert_rows() == 0


def test_a_draft_can_be_counted_and_tried_on_the_organiser_but_not_sent(
    app: Flask, mailbox: Mailbox, tmp_path: Path
) -> None:
    path = tmp_path / "draft.toml"
    path.write_text(SAMPLE.replace('status = "live"', 'status = "draft"'), encoding="utf-8")
    load_files(get_session(), [path])
    subscribe(("ana@example.org", "en"))
    refused = run(app, SLUG)
    assert refused.exit_code == 1
    assert (
        f"{SLUG}: the campaign is draft; alerts go out for live campaigns only "
        "(--dry-run and --test-to work on a draft)"
    ) in refused.output
    dry = run(app, SLUG, "--dry-run")
    assert dry.output.splitlines()[0] == "dry run: would queue 1 alerts (en 1); skipped 0"
    test = run(app, SLUG, "--test-to", ORGANISER)
    assert test.exit_code == 0, test.output
    assert f"{SLUG} is a draft: its link works once it is live" in test.output
    assert alerted(mailbox) == {ORGANISER: 1}


# Languages and those who acted


def test_lang_and_skip_acted_choose_who_gets_it_and_a_later_run_alerts_the_rest_once(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    subscribe(("ana@example.org", "en"), ("ben@example.net", "en"), ("hans@example.de", "de"),
              ("jana@example.at", "de-AT"))  # fmt: skip
    act(client, "ben@example.net")
    act(client, "Jana@Example.AT")  # the same address in other letters

    result = run(app, SLUG, "--lang", "en", "--skip-acted")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        "queued 1 alerts (en 1); skipped 3 (2 not in --lang, 1 acted on this campaign)"
    )
    outbox.drain()
    assert alerted(mailbox) == {"ana@example.org": 1}

    result = run(app, SLUG, "--lang", "DE", "--skip-acted")
    assert result.output.splitlines()[0] == (
        "queued 1 alerts (de 1); skipped 3 (1 alerted before, 1 not in --lang, "
        "1 acted on this campaign)"
    )
    outbox.drain()
    assert alerted(mailbox) == {"ana@example.org": 1, "hans@example.de": 1}
    (german,) = [m for rcpt, m in mailbox.received if rcpt == ["hans@example.de"]]
    assert DE_SUMMARY in part(german)

    # Without the filters, those left out get theirs; nobody gets two.
    result = run(app, SLUG)
    assert result.output.splitlines()[0] == (
        "queued 2 alerts (en 1, de 1); skipped 2 (2 alerted before)"
    )
    outbox.drain()
    assert alerted(mailbox) == {
        "ana@example.org": 1, "ben@example.net": 1, "hans@example.de": 1, "jana@example.at": 1,
    }  # fmt: skip
    assert run(app, SLUG).output.splitlines()[0] == "queued 0 alerts; skipped 4 (4 alerted before)"


def test_a_language_the_campaign_lacks_is_refused(
    app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    subscribe(("ana@example.org", "en"))
    result = run(app, SLUG, "--lang", "fr")
    assert result.exit_code != 0
    assert "fr: not one of the campaign's languages (en, de)" in result.output
    assert alert_rows() == 0


# Intros

INTROS = '''\
[en]
intro = """Day 12: the <b>company</b> & its "lawyers" refuse to talk.
Write to them again today.

Thank you."""

[de]
intro = "Tag 12: die Firma schweigt."
'''


def test_the_intro_in_each_language_goes_above_the_summary_escaped_in_html(
    app: Flask, campaign: Any, mailbox: Mailbox, tmp_path: Path
) -> None:
    subscribe(("ana@example.org", "en"), ("hans@example.de", "de"))
    result = run(app, SLUG, "--intro-file", str(write(tmp_path, INTROS)))
    assert result.exit_code == 0, result.output
    outbox.drain()
    mails = {rcpt[0]: message for rcpt, message in mailbox.received}

    english = mails["ana@example.org"]
    plain = part(english)
    first = 'Day 12: the <b>company</b> & its "lawyers" refuse to talk.\nWrite to them again today.'
    assert plain.startswith(first + "\n\nThank you.\n")
    assert plain.index("Thank you.") < plain.index(EN_SUMMARY)
    html = part(english, "html")
    assert (
        "Day 12: the &lt;b&gt;company&lt;/b&gt; &amp; its &#34;lawyers&#34; refuse to talk.<br>"
        in (html)
    )
    assert "<b>company</b>" not in html
    assert "<p>Thank you.</p>" in html
    assert html.index("Thank you.") < html.index(EN_SUMMARY)

    german = mails["hans@example.de"]
    assert part(german).index("Tag 12: die Firma schweigt.") < part(german).index(DE_SUMMARY)
    assert "Tag 12: die Firma schweigt." in part(german, "html")
    assert "Day 12" not in part(german) + part(german, "html")


def test_a_language_without_an_intro_is_named_and_its_alerts_begin_with_the_title(
    app: Flask, campaign: Any, mailbox: Mailbox, tmp_path: Path
) -> None:
    subscribe(("ana@example.org", "en"), ("hans@example.de", "de"))
    intro = write(tmp_path, '[en]\nintro = "Day 12."\n')
    result = run(app, SLUG, "--intro-file", str(intro))
    assert result.exit_code == 0, result.output
    assert "no intro in de: those alerts begin with the title" in result.output
    outbox.drain()
    (german,) = [m for rcpt, m in mailbox.received if rcpt == ["hans@example.de"]]
    assert part(german).startswith("Stellt die entlassenen Gewerkschafter wieder ein\n")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('[fr]\nintro = "Jour 12."\n', "fr: not one of the campaign's languages (en, de)"),
        ("[en]\nintro = 12\n", "[en]: intro: required, as text"),
        ('[en]\ntext = "Day 12."\n', "[en]: text: unknown key (only intro)"),
        ('en = "Day 12."\n', "[en]: must be a table"),
        ('[en]\nintro = "Day 12.\n', "intro.toml: "),
        ('[en]\nintro = "  "\n', "no intro in it"),
    ],
)
def test_a_bad_intro_file_is_refused_before_anything_is_queued(
    app: Flask, campaign: Any, mailbox: Mailbox, tmp_path: Path, content: str, problem: str
) -> None:
    subscribe(("ana@example.org", "en"))
    result = run(app, SLUG, "--intro-file", str(write(tmp_path, content)))
    assert result.exit_code != 0
    assert problem in result.output
    assert alert_rows() == 0


# Batches: a crash mid-way, and the run after it


@pytest.fixture
def shared_config() -> dict[str, Any]:
    return {"URGENTACTION_DELIVERY": "worker", "URGENTACTION_ALERT_BATCH": BATCH}


@pytest.fixture
def shared_app(shared_app: Flask, tmp_path: Path) -> Flask:
    """The shared app, with the sample campaign."""
    path = tmp_path / "campaign.toml"
    path.write_text(SAMPLE, encoding="utf-8")
    load_files(get_session(), [path])
    return shared_app


# Subscribers per transaction here: small, so that a run is many batches.
BATCH = 10


def many(count: int, domains: int = 40) -> list[tuple[str, str]]:
    """Subscribers spread over some domains, every third one in German."""
    return [(f"s{n}@d{n % domains}.example", "de" if n % 3 == 0 else "en") for n in range(count)]


def everyone_once(mailbox: Mailbox, people: list[tuple[str, str]]) -> None:
    assert alerted(mailbox) == {email: 1 for email, _lang in people}
    # And each in their language.
    languages = dict(people)
    for rcpt, message in mailbox.received:
        lang = languages[rcpt[0]]
        assert (DE_SUMMARY if lang == "de" else EN_SUMMARY) in part(message)


def refuse_insert(database_url: str, recipient: str) -> str:
    """A trigger that makes the database refuse an outbox row to ``recipient``; the
    SQL that drops it."""
    session = get_session()
    if database_url.startswith("sqlite"):
        session.execute(text(
            "CREATE TRIGGER ua_test_refuse BEFORE INSERT ON ua_outbox "
            f"WHEN NEW.recipient = '{recipient}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
        ))  # fmt: skip
        session.commit()
        return "DROP TRIGGER ua_test_refuse"
    session.execute(text(
        "CREATE FUNCTION ua_test_refuse() RETURNS trigger AS $$ BEGIN "
        f"IF NEW.recipient = '{recipient}' THEN RAISE EXCEPTION 'refused'; END IF; "
        "RETURN NEW; END $$ LANGUAGE plpgsql"
    ))  # fmt: skip
    session.execute(text(
        "CREATE TRIGGER ua_test_refuse BEFORE INSERT ON ua_outbox "
        "FOR EACH ROW EXECUTE FUNCTION ua_test_refuse()"
    ))  # fmt: skip
    session.commit()
    return "DROP TRIGGER ua_test_refuse ON ua_outbox"


def test_a_failed_batch_keeps_the_batches_before_it_and_the_next_run_queues_the_rest_once(
    shared_app: Flask, mailbox: Mailbox, database_url: str
) -> None:
    people = many(7 * BATCH)
    subscribe(*people)
    # The database refuses the 60th subscriber's alert, in the second batch.
    drop = refuse_insert(database_url, people[6 * BATCH - 1][0])
    failed = run(shared_app, SLUG)
    assert failed.exit_code == 1
    assert "stopped by a database error (" in failed.output
    assert "refused" in failed.output
    assert f"after: queued {5 * BATCH} alerts (" in failed.output
    assert "Run the same command again: it queues the rest, and no one twice." in failed.output
    assert alert_rows() == 5 * BATCH  # the first batches, whole; none of the next
    get_session().execute(text(drop))
    get_session().commit()

    again = run(shared_app, SLUG)
    assert again.exit_code == 0, again.output
    assert again.output.splitlines()[0].startswith(f"queued {2 * BATCH} alerts (")
    assert again.output.splitlines()[0].endswith(
        f"; skipped {5 * BATCH} ({5 * BATCH} alerted before)"
    )
    outbox.drain(limit=500)
    everyone_once(mailbox, people)


def test_an_alert_killed_mid_way_and_run_again_reaches_everyone_exactly_once(
    shared_app: Flask, mailbox: Mailbox, tmp_path: Path
) -> None:
    people = many(40 * BATCH)  # many batches: the kill comes after the first
    subscribe(*people)
    workers = Workers(shared_app, tmp_path)
    try:
        process = workers.start("alert", SLUG)
        deadline = time.monotonic() + 60
        while alert_rows() == 0:
            assert process.poll() is None, workers.output()
            assert time.monotonic() < deadline, workers.output()
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        workers.stop()
    queued = alert_rows()
    assert 0 < queued < len(people), "killed after the end: nothing to resume"
    assert queued % BATCH == 0  # whole batches only

    # Run again (as the organiser would, in a process of its own): the rest only.
    again = subprocess.run(
        command("alert", SLUG), cwd=ROOT, env=workers.env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"; skipped {queued} ({queued} alerted before)" in again.stdout
    assert f"queued {len(people) - queued} alerts (" in again.stdout
    assert alert_rows() == len(people)
    outbox.drain(limit=500)
    everyone_once(mailbox, people)


def test_two_runs_at_once_queue_each_alert_once(
    shared_app: Flask, mailbox: Mailbox, tmp_path: Path
) -> None:
    people = many(20 * BATCH)
    subscribe(*people)
    workers = Workers(shared_app, tmp_path)
    try:
        runs = [workers.start("alert", SLUG) for _ in range(2)]
        for process in runs:
            assert process.wait(timeout=120) == 0, workers.output()
    finally:
        workers.stop()
    output = workers.output()
    queued = [int(line.split()[1]) for line in output.splitlines() if line.startswith("queued ")]
    assert sum(queued) == len(people), output
    assert alert_rows() == len(people)
    outbox.drain(limit=500)
    everyone_once(mailbox, people)


# The pace per recipient domain


class Clock:
    """The time the pace sees; moves only when told."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, at: datetime) -> None:
        self.at = at
        monkeypatch.setattr(clock, "now", lambda: self.at)

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.mark.parametrize(
    "app_config",
    [{"URGENTACTION_DELIVERY": "worker", "URGENTACTION_ALERT_PER_DOMAIN_PER_HOUR": 60}],
)
def test_alerts_to_one_domain_keep_its_pace_and_a_pause_brings_no_burst(
    app: Flask, campaign: Any, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = [(f"member{n}@big.example", "en") for n in range(8)]
    subscribe(*big, ("ana@small.example", "en"), ("ben@small.example", "de"))
    now = Clock(monkeypatch, datetime(2026, 6, 1, 9, tzinfo=UTC))  # one a minute
    result = run(app, SLUG)
    assert result.output.splitlines()[1] == (
        "paced at 60 an hour per recipient domain: the most go to big.example (8), over about 6 min"
    )

    def counts() -> tuple[int, int]:
        sent = alerted(mailbox)
        return (sum(n for a, n in sent.items() if a.endswith("@big.example")),
                sum(n for a, n in sent.items() if a.endswith("@small.example")))  # fmt: skip

    # A minute's worth at once to each domain, then one a minute.
    outbox.drain()
    assert counts() == (2, 2)
    now.advance(seconds=30)
    outbox.drain()
    assert counts() == (2, 2)
    now.advance(seconds=30)
    outbox.drain()
    assert counts() == (3, 2)
    # Half an hour without a sender: a minute's worth is caught up, not thirty.
    now.advance(minutes=30)
    outbox.drain()
    assert counts() == (5, 2)
    now.advance(seconds=59)
    outbox.drain()
    assert counts() == (5, 2)

    # What waits, and why, as send-mail says it (times in UTC, from the shared row).
    summary = app.test_cli_runner().invoke(args=["urgentaction", "send-mail"]).output
    assert "3 alerts paced per recipient domain (" in summary
    assert domain_pace.held(get_session()) == domain_pace.Held(
        3, datetime(2026, 6, 1, 9, 32, tzinfo=UTC)
    )
    now.advance(seconds=1)
    outbox.drain()
    assert counts() == (6, 2)
    pace = get_session().get(DomainPace, "big.example", populate_existing=True)
    assert pace is not None and pace.released == 6
    now.advance(minutes=2)
    outbox.drain()
    assert counts() == (8, 2)
    assert alerted(mailbox) == {address: 1 for address, _lang in big} | {
        "ana@small.example": 1, "ben@small.example": 1,
    }  # fmt: skip


@pytest.mark.parametrize(
    "app_config",
    [{"URGENTACTION_DELIVERY": "worker", "URGENTACTION_ALERT_PER_DOMAIN_PER_HOUR": 60}],
)
def test_a_held_alert_goes_to_no_one_who_unsubscribed_while_it_waited(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    members = [f"member{n}@big.example" for n in range(3)]
    subscribe(*[(address, "en") for address in members])
    now = Clock(monkeypatch, datetime(2026, 6, 1, 9, tzinfo=UTC))  # one a minute
    assert run(app, SLUG).exit_code == 0
    outbox.drain()
    assert alerted(mailbox) == {members[0]: 1, members[1]: 1}
    # The third leaves (with the link of an earlier alert) while theirs waits.
    last = get_session().scalar(select(Subscriber).where(Subscriber.email == members[2]))
    assert last is not None
    path = unsubscribe_link(last).removeprefix("http://actions.test")
    assert client.post(path).status_code == 200
    now.advance(minutes=5)
    outbox.drain()
    assert alerted(mailbox) == {members[0]: 1, members[1]: 1}
    assert alert_rows() == 2  # its alert is gone, not failed nor waiting
