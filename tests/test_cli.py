"""``flask urgentaction ...``, run through Flask's CLI runner against the real database."""

from __future__ import annotations

import csv
import io
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from flask_urgentaction.exports import EXPORT_COLUMNS
from flask_urgentaction.models import (
    Action,
    Campaign,
    CampaignTranslation,
    Consent,
    OutboxMessage,
    Subscriber,
    Target,
)
from flask_urgentaction.storage import get_session, get_storage

from .conftest import SAMPLE, Mailbox, action_body

ACTIONS_URL = "/actions/api/campaigns/example-mine-strike/actions"
ANA = "ana@example.org"


def run(app: Flask, *args: str, input: str | None = None) -> Result:
    return app.test_cli_runner().invoke(args=["urgentaction", *args], input=input)


def count(model: Any) -> int:
    with get_storage().sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def add_subscriber(email: str, lang: str, status: str, name: str = "") -> Subscriber:
    session = get_session()
    subscriber = Subscriber(
        email=email, email_key=email.casefold(), name=name or email.split("@")[0],
        lang=lang, status=status,
    )  # fmt: skip
    session.add(subscriber)
    session.commit()
    return subscriber


# campaigns load / list


def test_campaigns_load_creates_then_updates_by_slug(app: Flask, tmp_path: Path) -> None:
    first = write(tmp_path, "a.toml", SAMPLE)
    second = write(tmp_path, "b.toml", SAMPLE.replace("example-mine-strike", "example-port"))
    result = run(app, "campaigns", "load", str(first), str(second))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "created example-mine-strike (live)",
        "created example-port (live)",
    ]

    changed = SAMPLE.replace('status = "live"', 'status = "closed"').replace(
        'title = "Reinstate the sacked union leaders"', 'title = "Reinstate them all"'
    )
    write(tmp_path, "a.toml", changed)
    result = run(app, "campaigns", "load", str(first))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "updated example-mine-strike (closed)"

    assert count(Campaign) == 2
    with get_storage().sessions() as session:
        campaign = session.scalar(select(Campaign).where(Campaign.slug == "example-mine-strike"))
        assert campaign is not None and campaign.status == "closed"
        titles = dict(
            session.execute(
                select(CampaignTranslation.lang, CampaignTranslation.title).where(
                    CampaignTranslation.campaign_id == campaign.id
                )
            ).all()
        )
    assert titles["en"] == "Reinstate them all"
    assert titles["de"] == "Stellt die entlassenen Gewerkschafter wieder ein"
    # Targets are replaced, not appended to, on an update.
    assert count(Target) == 4


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        (lambda t: t.replace('status = "live"', 'status = "open"'), "status", "must be one of"),
        (lambda t: t.replace('email = "ceo@mining.example"', 'email = "ceo"'), "targets[0].email",
         "email"),
        (lambda t: t.replace("goal = 5000", "goal = -3"), "goal", "positive whole number"),
        (lambda t: t + "\nsponsor = 'x'\n", "sponsor", "unknown key"),
        (lambda t: t.replace('slug = "example-mine-strike"', 'slug = "Bad Slug!"'), "slug",
         "lower-case"),
        (lambda t: t.replace("[[targets]]", "[[targetz]]"), "targetz", "unknown key"),
        (lambda t: t.replace('partner = "', 'partner = '), "TOML", ""),
    ],
)  # fmt: skip
def test_campaigns_load_refuses_a_bad_file_naming_file_key_and_problem_and_saves_nothing(
    app: Flask, tmp_path: Path, change: Any, key: str, problem: str
) -> None:
    good = write(tmp_path, "good.toml", SAMPLE.replace("example-mine-strike", "example-port"))
    bad = write(tmp_path, "bad.toml", change(SAMPLE))
    result = run(app, "campaigns", "load", str(good), str(bad))

    assert result.exit_code != 0
    assert str(bad) in result.output
    assert f"{key}:" in result.output
    assert problem in result.output
    assert "Traceback" not in result.output
    # All or none: the good file given with the bad one is not saved either.
    assert count(Campaign) == 0


def test_campaigns_load_bad_update_leaves_the_stored_campaign_as_it_was(
    app: Flask, tmp_path: Path, campaign_file: Path
) -> None:
    assert run(app, "campaigns", "load", str(campaign_file)).exit_code == 0
    broken = SAMPLE.replace('title = "Reinstate the sacked union leaders"', "title = 42")
    write(tmp_path, "campaign.toml", broken)
    result = run(app, "campaigns", "load", str(campaign_file))
    assert result.exit_code != 0
    assert "translations.en.title: must be text" in result.output
    with get_storage().sessions() as session:
        titles = session.scalars(select(CampaignTranslation.title).order_by(
            CampaignTranslation.position)).all()  # fmt: skip
    assert titles[0] == "Reinstate the sacked union leaders"


def test_campaigns_load_missing_file_fails_with_its_name(app: Flask, tmp_path: Path) -> None:
    result = run(app, "campaigns", "load", str(tmp_path / "nowhere.toml"))
    assert result.exit_code != 0
    assert "nowhere.toml" in result.output


def test_campaigns_list_shows_slug_status_and_count(
    app: Flask, client: FlaskClient, campaign: Any, tmp_path: Path, mailbox: Mailbox
) -> None:
    draft = SAMPLE.replace("example-mine-strike", "example-draft").replace(
        'status = "live"', 'status = "draft"'
    )
    assert run(app, "campaigns", "load", str(write(tmp_path, "d.toml", draft))).exit_code == 0
    for email in ("ana@example.org", "lejla@example.org"):
        response = client.post(ACTIONS_URL, json=action_body(client, email=email))
        assert response.status_code == 201

    result = run(app, "campaigns", "list")
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.output.splitlines()]
    assert [row[:3] for row in rows] == [
        ["example-draft", "draft", "0"],
        ["example-mine-strike", "live", "2"],
    ]
    assert rows[1][3] == "Reinstate the sacked union leaders"


def test_campaigns_list_without_campaigns_says_how_to_load_one(app: Flask) -> None:
    result = run(app, "campaigns", "list")
    assert result.exit_code == 0
    assert "campaigns load" in result.output


# alert


def alerts_by_address(mailbox: Mailbox) -> dict[str, EmailMessage]:
    found: dict[str, EmailMessage] = {}
    for rcpt, message in mailbox.received:
        (address,) = rcpt
        assert address not in found, f"two alerts to {address}"
        found[address] = message
    return found


def test_alert_mails_each_confirmed_subscriber_once_in_their_language(
    app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    add_subscriber("ana@example.org", "en", "confirmed", "Ana Kovač")
    add_subscriber("hans@example.de", "de", "confirmed", "Hans Weber")
    add_subscriber("paula@example.org", "en", "pending")
    add_subscriber("uma@example.org", "en", "unsubscribed")

    result = run(app, "alert", "example-mine-strike")
    assert result.exit_code == 0, result.output
    assert "queued 2 alerts" in result.output

    alerts = alerts_by_address(mailbox)
    assert sorted(alerts) == ["ana@example.org", "hans@example.de"]
    german, english = alerts["hans@example.de"], alerts["ana@example.org"]
    assert [a.addr_spec for a in german["To"].addresses] == ["hans@example.de"]
    assert german["From"].addresses[0].addr_spec == "actions@network.example"

    assert "Stellt die entlassenen Gewerkschafter wieder ein" in str(german["Subject"])
    assert "Reinstate" not in str(german["Subject"])
    german_text = body_text(german)
    assert "Bergleute wurden entlassen" in german_text
    assert "http://actions.test/actions/example-mine-strike?lang=de" in german_text
    assert "Reinstate the sacked union leaders" in str(english["Subject"])
    assert "http://actions.test/actions/example-mine-strike?lang=en" in body_text(english)

    for message in (german, english):
        unsubscribe = str(message["List-Unsubscribe"])
        assert unsubscribe.startswith("<http://actions.test/actions/unsubscribe/")
        assert unsubscribe.endswith(">")
        assert unsubscribe[1:-1] in body_text(message)
        assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    # One unsubscribe link per subscriber.
    assert german["List-Unsubscribe"] != english["List-Unsubscribe"]


def test_alert_run_twice_sends_no_duplicates(app: Flask, campaign: Any, mailbox: Mailbox) -> None:
    add_subscriber("ana@example.org", "en", "confirmed")
    add_subscriber("hans@example.de", "de", "confirmed")
    assert run(app, "alert", "example-mine-strike").exit_code == 0
    assert len(mailbox.messages) == 2

    again = run(app, "alert", "example-mine-strike")
    assert again.exit_code == 0, again.output
    assert "queued 0 alerts; skipped 2 (2 alerted before)" in again.output
    assert len(mailbox.messages) == 2

    # A subscriber who confirmed in between gets theirs, and only they do.
    add_subscriber("lejla@example.org", "en", "confirmed")
    assert run(app, "alert", "example-mine-strike").exit_code == 0
    assert sorted(alerts_by_address(mailbox)) == [
        "ana@example.org", "hans@example.de", "lejla@example.org",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "app_config", [{"APPLICATION_ROOT": "/app", "PREFERRED_URL_SCHEME": "https"}]
)
def test_alert_links_are_built_from_server_name_scheme_and_application_root(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    add_subscriber("ana@example.org", "en", "confirmed")
    assert run(app, "alert", "example-mine-strike").exit_code == 0

    (message,) = mailbox.messages
    unsubscribe = str(message["List-Unsubscribe"])[1:-1]
    assert unsubscribe.startswith("https://actions.test/app/actions/unsubscribe/")
    assert "https://actions.test/app/actions/example-mine-strike?lang=en" in body_text(message)

    # The link works where it points: one click unsubscribes.
    response = client.post(
        unsubscribe.removeprefix("https://actions.test/app"),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    with get_storage().sessions() as session:
        assert session.scalar(select(Subscriber.status)) == "unsubscribed"


def test_alert_for_an_unknown_or_draft_campaign_fails(
    app: Flask, tmp_path: Path, mailbox: Mailbox
) -> None:
    draft = SAMPLE.replace('status = "live"', 'status = "draft"')
    assert run(app, "campaigns", "load", str(write(tmp_path, "d.toml", draft))).exit_code == 0
    add_subscriber("ana@example.org", "en", "confirmed")
    for slug in ("example-mine-strike", "no-such-campaign"):
        result = run(app, "alert", slug)
        assert result.exit_code != 0
        assert slug in result.output
    assert mailbox.messages == []
    assert count(OutboxMessage) == 0


# export


def test_export_writes_csv_with_a_header_and_one_row_per_action_with_formulas_neutralised(
    app: Flask, client: FlaskClient, campaign: Any, tmp_path: Path, mailbox: Mailbox
) -> None:
    other = SAMPLE.replace("example-mine-strike", "example-port")
    assert run(app, "campaigns", "load", str(write(tmp_path, "o.toml", other))).exit_code == 0
    bodies = [
        action_body(
            client,
            name="=cmd|' /C calc'!A0",
            union="+SUM(A1)",
            subject="@import",
            message="-2+3\nsecond line, with a comma",
        ),
        action_body(
            client,
            name="Lejla",
            email="lejla@example.org",
            union="",
            country="DE",
            message='Plain "quoted" text',
            partner="union-site",
        ),
    ]
    for body in bodies:
        assert client.post(ACTIONS_URL, json=body).status_code == 201

    result = run(app, "export", "example-mine-strike")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[0] == list(EXPORT_COLUMNS)
    assert len(rows) == 3
    first, second = (dict(zip(rows[0], row, strict=True)) for row in rows[1:])
    assert first["name"] == "'=cmd|' /C calc'!A0"
    assert first["union"] == "'+SUM(A1)"
    assert first["subject"] == "'@import"
    assert first["message"] == "'-2+3\nsecond line, with a comma"
    assert first["email"] == "ana@example.org"
    assert first["country"] == "BA"
    assert second["name"] == "Lejla"
    assert second["message"] == 'Plain "quoted" text'
    assert second["partner_tag"] == "union-site"
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows[1:] for cell in row)

    empty = run(app, "export", "example-port")
    assert empty.exit_code == 0
    assert list(csv.reader(io.StringIO(empty.output))) == [list(EXPORT_COLUMNS)]
    assert run(app, "export", "no-such-campaign").exit_code != 0


# forget


@pytest.fixture
def two_supporters(app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox) -> None:
    """Ana acted with a confirmed opt-in; Lejla acted too."""
    response = client.post(ACTIONS_URL, json=action_body(client, opt_in=True))
    assert response.status_code == 201
    other = action_body(client, name="Lejla", email="lejla@example.org", opt_in=True)
    assert client.post(ACTIONS_URL, json=other).status_code == 201
    link = re.search(r"http://actions\.test(/actions/confirm/\S+)", body_text(mailbox.to(ANA)[-1]))
    assert link and client.post(link.group(1)).status_code == 200
    assert run(app, "alert", "example-mine-strike").exit_code == 0
    # Two mails to each of two targets, two confirmations, one alert (to Ana, confirmed).
    assert counts() == (2, 2, 2, 7)


def counts() -> tuple[int, int, int, int]:
    return count(Action), count(Subscriber), count(Consent), count(OutboxMessage)


def test_forget_asks_first_and_answering_no_erases_nothing(
    app: Flask, two_supporters: None
) -> None:
    result = run(app, "forget", "ana@example.org", input="n\n")
    assert result.exit_code != 0
    assert "Erase 1 actions, a subscription of ana@example.org?" in result.output
    assert counts() == (2, 2, 2, 7)


@pytest.mark.parametrize(("args", "answer"), [(["--yes"], None), ([], "y\n")])
def test_forget_erases_the_person_and_keeps_their_action_counted(
    app: Flask, two_supporters: None, args: list[str], answer: str | None
) -> None:
    result = run(app, "forget", "ANA@Example.org", *args, input=answer)
    assert result.exit_code == 0, result.output
    assert "Erased 1 actions, a subscription." in result.output
    assert "still count" in result.output

    # Her action stays, and so do the two mails that reached the targets; her
    # subscription, consent, confirmation and alert go.
    assert counts() == (2, 1, 1, 5)
    with get_storage().sessions() as session:
        assert session.scalars(select(Action.email).order_by(Action.id)).all() == [
            "", "lejla@example.org",
        ]  # fmt: skip
        assert session.scalars(select(Subscriber.email)).all() == ["lejla@example.org"]
        # Nothing with Ana's address is left anywhere in the outbox.
        for row in session.scalars(select(OutboxMessage)):
            stored = (
                f"{row.sender} {row.recipient_name} {row.recipient} {row.reply_to} "
                f"{row.subject} {row.text_body} {row.html_body}"
            )
            assert ANA not in stored and "Ana Kovač" not in stored
    listed = run(app, "campaigns", "list").output
    assert listed.split("\t")[2] == "2"

    # Nothing is stored about her any more: a second forget finds nothing.
    again = run(app, "forget", ANA, "--yes")
    assert "Nothing is stored about" in again.output


def test_forget_an_unknown_address_says_nothing_is_stored(app: Flask, two_supporters: None) -> None:
    result = run(app, "forget", "nobody@example.org")
    assert result.exit_code == 0
    assert "Nothing is stored about nobody@example.org" in result.output
    assert counts() == (2, 2, 2, 7)
