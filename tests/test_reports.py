"""``report``, ``outbox`` and ``send-mail``'s summary, against a real SMTP server
that refuses one target, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from flask_urgentaction.models import OutboxMessage
from flask_urgentaction.storage import get_session, get_storage

from .conftest import Mailbox, action_body, make_app

ACTIONS_URL = "/actions/api/campaigns/example-mine-strike/actions"
CEO, MINISTER = "ceo@mining.example", "minister@labour.example"
NO_SUCH_USER = "550 5.1.1 <minister@labour.example>: no such user"
UNION = "https://union.example"


class RefusingMailbox(Mailbox):
    """The test server, refusing the addresses in ``refuse`` at RCPT TO."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse: dict[str, str] = {}
        self.refused: list[str] = []  # each refusal it answered, by address

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            self.refused.append(address)
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[RefusingMailbox]:
    box = RefusingMailbox()
    box.refuse[MINISTER] = NO_SUCH_USER
    box.start()
    yield box
    box.stop()


@pytest.fixture
def app(tmp_path: Path, mailbox: RefusingMailbox, database_url: str) -> Iterator[Flask]:
    # Retries wait ten minutes or more, so a test sees them waiting.
    app = make_app(
        tmp_path, mailbox, URGENTACTION_DATABASE_URL=database_url,
        URGENTACTION_RETRY_BASE_SECONDS=600, URGENTACTION_RETRY_MAX_SECONDS=3600,
    )  # fmt: skip
    with app.app_context():
        yield app
    app.extensions["urgentaction"].storage.engine.dispose()


def run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["urgentaction", *args])


def take(client: FlaskClient, email: str, partner: str = "", origin: str = "") -> None:
    headers = {"Origin": origin} if origin else {}
    body = action_body(client, email=email, partner=partner)
    response = client.post(ACTIONS_URL, json=body, headers=headers)
    assert response.status_code == 201, response.get_json()


def rows() -> list[OutboxMessage]:
    with get_storage().sessions() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def backoff_over(*ids: int) -> None:
    """Make waiting rows due now, as if their backoff had run out."""
    session = get_session()
    past = datetime.now(UTC) - timedelta(seconds=1)
    session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(
        next_attempt_at=past))  # fmt: skip
    session.commit()


def report(app: Flask) -> dict[str, Any]:
    result = run(app, "report", "example-mine-strike", "--json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def by_address(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {target["address"]: target for target in data["targets"]}


def test_report_figures_are_what_the_server_saw(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: RefusingMailbox
) -> None:
    take(client, "ana@example.org", partner="union-site", origin=UNION)
    take(client, "lejla@example.org", partner="union-site", origin=UNION)
    take(client, "hans@example.de")
    # The fourth: the server says "try later" to the CEO's copy.
    mailbox.reply = "451 4.3.0 try later"
    take(client, "uma@example.org", partner="port-site")
    mailbox.reply = None

    data = report(app)
    targets = by_address(data)
    assert list(targets) == [CEO, MINISTER]  # in the campaign's order
    ceo, minister = targets[CEO], targets[MINISTER]
    assert ceo["name"] == "Example Mining Company"
    assert ceo["sent"] == len(mailbox.to(CEO)) == 3
    assert (ceo["queued_due"], ceo["queued_waiting"], ceo["sending"], ceo["failed"]) == (0, 1, 0, 0)
    (waiting,) = [row for row in rows() if row.status == "queued"]
    assert ceo["next_attempt_at"] == waiting.next_attempt_at.isoformat()
    assert ceo["waiting_because"]["reply"] == "451 4.3.0 try later"
    assert ceo["last_failure"] is None
    assert minister["sent"] == len(mailbox.to(MINISTER)) == 0
    assert minister["failed"] == mailbox.refused.count(MINISTER) == 4
    newest_failed = max(row.id for row in rows() if row.status == "failed")
    assert minister["last_failure"] == {
        "outbox_id": newest_failed,
        "reply": NO_SUCH_USER,
        "error": f"recipient <{MINISTER}> refused: {NO_SUCH_USER}",
    }
    assert data["actions"] == 4
    assert data["partners"] == [
        {"tag": "union-site", "actions": 2},
        {"tag": "", "actions": 1},
        {"tag": "port-site", "actions": 1},
    ]
    assert data["origins"] == [{"origin": "", "actions": 2}, {"origin": UNION, "actions": 2}]

    # Once its backoff is over, the row is due, and send-mail delivers it.
    backoff_over(waiting.id)
    ceo = by_address(report(app))[CEO]
    assert (ceo["queued_due"], ceo["queued_waiting"], ceo["next_attempt_at"]) == (1, 0, None)
    assert run(app, "send-mail").output.startswith("sent 1, failed 0;")
    ceo = by_address(report(app))[CEO]
    assert (ceo["sent"], ceo["queued_due"]) == (len(mailbox.to(CEO)), 0) == (4, 0)


def test_report_text_shows_the_same_figures_as_json(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: RefusingMailbox
) -> None:
    take(client, "ana@example.org", partner="union-site", origin=UNION)
    mailbox.reply = "451 4.3.0 try later"
    take(client, "lejla@example.org")

    data = report(app)
    result = run(app, "report", "example-mine-strike")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "example-mine-strike (live): 2 actions"
    for target in data["targets"]:
        (line,) = [n for n in lines if n.startswith(f"{target['name']} <{target['address']}>")]
        figures = [int(word) for word in line.rpartition(">")[2].split()]
        keys = ("sent", "queued_due", "queued_waiting", "sending", "failed")
        assert figures == [target[key] for key in keys]
    failure = data["targets"][1]["last_failure"]
    assert f"    last failure (outbox {failure['outbox_id']}): {NO_SUCH_USER}" in lines
    retry_line = r"    next attempt at .+ UTC \(after 451 4\.3\.0 try later\)"
    assert any(re.fullmatch(retry_line, line) for line in lines)
    partners = lines[lines.index("Actions per partner tag") + 2 :][:2]
    assert [line.split() for line in partners] == [["(none)", "1"], ["union-site", "1"]]

    missing = run(app, "report", "no-such-campaign")
    assert missing.exit_code != 0 and "no-such-campaign: no such campaign" in missing.output


def test_send_mail_says_what_it_did_and_what_waits_and_why(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: RefusingMailbox
) -> None:
    mailbox.stop()
    take(client, "ana@example.org")  # no server: both copies wait
    output = run(app, "send-mail").output.strip()
    # The copy tried found no server; the other was not tried, and waits as long.
    assert re.fullmatch(
        r"sent 0, failed 0; 2 waiting: 1 not tried yet \(next at .+ UTC\), "
        r"1 retrying, no reply from the server \(next at .+ UTC\)",
        output,
    ), output

    mailbox.start()
    mailbox.reply = "451 4.3.0 try later"
    backoff_over(*(row.id for row in rows()))
    output = run(app, "send-mail").output.strip()
    # The minister's address is refused for good; the CEO's copy waits after a 451.
    (waiting,) = [row for row in rows() if row.status == "queued"]
    today = waiting.next_attempt_at.date() == datetime.now(UTC).date()
    at = waiting.next_attempt_at.strftime("%H:%M UTC" if today else "%Y-%m-%d %H:%M UTC")
    assert output == f"sent 0, failed 1; 1 waiting: 1 retrying after 451 (next at {at})"

    mailbox.reply = None
    backoff_over(waiting.id)
    assert run(app, "send-mail").output.strip() == "sent 1, failed 0; nothing waiting"


def test_outbox_lists_what_waits_and_retry_requeues_a_failed_row_that_then_goes_out(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: RefusingMailbox
) -> None:
    mailbox.reply = "451 4.3.0 try later"
    take(client, "ana@example.org")
    mailbox.reply = None
    ceo_row, minister_row = rows()
    assert (ceo_row.status, minister_row.status) == ("queued", "failed")

    listing = run(app, "outbox")
    assert listing.exit_code == 0, listing.output
    header, *lines = listing.output.splitlines()
    assert header.split() == ["id", "kind", "recipient", "status", "attempts", "next", "reply"]
    assert [line.split()[:5] for line in lines] == [
        [str(ceo_row.id), "target", CEO, "queued", "1"],
        [str(minister_row.id), "target", MINISTER, "failed", "1"],
    ]
    assert lines[0].endswith("451 4.3.0 try later") and lines[1].endswith(NO_SUCH_USER)

    failed = run(app, "outbox", "--failed").output.splitlines()
    assert [line.split()[0] for line in failed[1:]] == [str(minister_row.id)]

    # The queued row is not failed: refused; the failed one is queued again, due now.
    mailbox.refuse.clear()
    result = run(app, "outbox", "--retry", str(minister_row.id), str(ceo_row.id))
    assert result.exit_code != 0
    assert f"{minister_row.id}: queued again, due now" in result.output
    assert f"{ceo_row.id}: not retried: it is queued, not failed" in result.output
    assert "1 of 2 not retried" in result.output
    again = {row.id: row for row in rows()}[minister_row.id]
    assert (again.status, again.attempts) == ("queued", 0)
    assert again.next_attempt_at <= datetime.now(UTC)

    assert run(app, "send-mail").output.startswith("sent 1, failed 0;")
    (delivered,) = mailbox.to(MINISTER)
    assert str(delivered["Message-ID"]) == minister_row.message_id
    assert {row.id: row for row in rows()}[minister_row.id].status == "sent"
    assert run(app, "outbox", "--failed").output.strip() == "No failed messages."


def test_outbox_retry_refuses_rows_erased_by_forget_and_rows_that_are_gone(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: RefusingMailbox
) -> None:
    take(client, "ana@example.org")
    take(client, "lejla@example.org")
    sent_ana, failed_ana, sent_lejla, _failed_lejla = rows()
    assert (sent_ana.status, failed_ana.status, sent_lejla.status) == ("sent", "failed", "sent")
    assert run(app, "forget", "ana@example.org", "--yes").exit_code == 0

    ids = [str(sent_ana.id), str(failed_ana.id), str(sent_lejla.id)]
    result = run(app, "outbox", "--retry", *ids)
    assert result.exit_code != 0
    assert (
        f"{sent_ana.id}: not retried: its content was erased by forget; "
        "there is nothing left to send"
    ) in result.output
    assert f"{failed_ana.id}: not retried: no such message" in result.output
    assert f"{sent_lejla.id}: not retried: it is sent, not failed" in result.output
    assert "3 of 3 not retried" in result.output
    # Nothing was queued: the erased row is still the bare record of a delivery.
    assert [(row.id, row.status) for row in rows() if row.status != "failed"] == [
        (sent_ana.id, "sent"), (sent_lejla.id, "sent"),
    ]  # fmt: skip
    assert run(app, "send-mail").output.startswith("sent 0,")
    assert len(mailbox.messages) == 2


def test_outbox_listing_is_limited_and_says_how_many_more(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: RefusingMailbox
) -> None:
    for n in range(3):
        take(client, f"supporter{n}@example.org")
    listing = run(app, "outbox", "--failed", "--limit", "2").output.splitlines()
    assert len(listing) == 1 + 2 + 1
    assert listing[-1] == "... and 1 more (--limit 0 lists all)"
    assert len(run(app, "outbox", "--limit", "0").output.splitlines()) == 1 + 3
    # Ids belong to --retry; bare ones are a mistake, not a listing filter.
    assert run(app, "outbox", "17").exit_code != 0
