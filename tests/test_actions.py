"""Taking an action (actions.py) from plain values, and a submission sent twice.

The domain is driven here without any request: a Submission in, an outcome out.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from flask_urgentaction.actions import (
    AlreadyActed,
    ChallengeReused,
    Closed,
    Submission,
    Taken,
    take_action,
)
from flask_urgentaction.campaigns import load_files
from flask_urgentaction.challenge import Solved
from flask_urgentaction.models import Action, Consent, OutboxMessage, Subscriber
from flask_urgentaction.storage import get_session

from .conftest import SAMPLE, Mailbox, action_body, form_data

SLUG = "example-mine-strike"
ACTIONS = f"/actions/api/campaigns/{SLUG}/actions"


def token() -> Solved:
    return Solved(secrets.token_urlsafe(12), datetime.now(UTC) + timedelta(hours=1))


def submission(email: str = "ana@example.org", **values: Any) -> Submission:
    fields: dict[str, Any] = {"name": "Ana Kovač", "email": email, "country": "BA",
                              "lang": "en", "challenge": token()}  # fmt: skip
    return Submission(**(fields | values))


def count(model: Any) -> int:
    return int(get_session().scalar(select(func.count()).select_from(model)) or 0)


def test_a_submission_of_plain_values_is_stored_with_one_mail_per_target(
    app: Flask, campaign: Any
) -> None:
    outcome = take_action(campaign, submission(union="SSM", partner_tag="ssm"))
    assert isinstance(outcome, Taken)
    assert outcome.count == 1 and outcome.opt_in_pending is False
    action = get_session().scalar(select(Action))
    assert action is not None
    assert (action.name, action.union, action.partner_tag) == ("Ana Kovač", "SSM", "ssm")
    # The campaign's subject and message stand in for empty ones.
    assert action.subject == "Reinstate the union leaders now"
    assert action.message == "Reinstate the sacked union leaders of the Example mine."
    targets = {row.recipient for row in get_session().scalars(select(OutboxMessage))}
    assert targets == {"ceo@mining.example", "minister@labour.example"}
    assert len(outcome.outbox_ids) == 2


def test_the_same_email_again_is_already_acted_and_stores_nothing(
    app: Flask, campaign: Any
) -> None:
    assert isinstance(take_action(campaign, submission()), Taken)
    again = take_action(campaign, submission(email=" ANA@example.ORG "))
    assert again == AlreadyActed(count=1, repeated=False, opt_in_pending=False)
    assert (count(Action), count(OutboxMessage)) == (1, 2)


def test_the_same_submission_again_is_a_repeat_that_knows_its_opt_in(
    app: Flask, campaign: Any
) -> None:
    first = submission(opt_in=True)
    taken = take_action(campaign, first)
    assert isinstance(taken, Taken) and taken.opt_in_pending
    assert take_action(campaign, first) == AlreadyActed(count=1, repeated=True, opt_in_pending=True)
    assert (count(Action), count(OutboxMessage), count(Consent)) == (1, 3, 1)


def test_a_spent_token_with_another_email_is_challenge_reused(app: Flask, campaign: Any) -> None:
    first = submission()
    assert isinstance(take_action(campaign, first), Taken)
    other = submission(email="bo@example.org", challenge=first.challenge)
    assert take_action(campaign, other) == ChallengeReused()
    assert count(Action) == 1


def test_a_closed_campaign_takes_nothing(app: Flask, campaign: Any) -> None:
    campaign.status = "closed"
    get_session().commit()
    assert take_action(campaign, submission()) == Closed()
    assert (count(Action), count(OutboxMessage)) == (0, 0)


def test_one_subscriber_for_one_email_across_campaigns(
    app: Flask, campaign: Any, tmp_path: Path
) -> None:
    other = tmp_path / "other.toml"
    other.write_text(SAMPLE.replace(f'slug = "{SLUG}"', 'slug = "other"'), encoding="utf-8")
    ((second, _created),) = load_files(get_session(), [other])
    assert isinstance(take_action(campaign, submission(opt_in=True)), Taken)
    taken = take_action(second, submission(email="Ana@Example.org", opt_in=True, lang="de"))
    assert isinstance(taken, Taken)
    (subscriber,) = get_session().scalars(select(Subscriber))
    assert (subscriber.email_key, subscriber.lang) == ("ana@example.org", "de")
    assert count(Consent) == 2


# The same submission sent twice, one after the other (a resend after a timeout):
# the race in tests/test_races.py without the timing.


def test_the_api_answers_the_same_body_twice_with_201_then_409(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    body = action_body(client)
    assert client.post(ACTIONS, json=body).status_code == 201
    again = client.post(ACTIONS, json=body)
    assert again.status_code == 409
    assert again.get_json() == {
        "error": "You have already sent this message. Thank you!",
        "count": 1,
    }
    assert len(mailbox.to("ceo@mining.example")) == 1


@pytest.mark.parametrize("url", [f"/actions/{SLUG}", f"/actions/{SLUG}/embed"])
def test_the_form_sent_twice_ends_on_the_thanks_page_both_times(
    client: FlaskClient, campaign: Any, mailbox: Mailbox, url: str
) -> None:
    data = form_data(client, opt_in="y")
    first = client.post(url, data=data)
    second = client.post(url, data=data)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert second.headers["Location"].endswith("/thanks?lang=en&optin=1")
    assert len(mailbox.to("ceo@mining.example")) == 1
    assert len(mailbox.to("ana@example.org")) == 1


# The supporter's own words: a personal line, and whether the message was changed


def stored_action() -> Action:
    action = get_session().scalar(select(Action))
    assert action is not None
    return action


def test_the_personal_line_is_stored_and_an_unchanged_message_is_not_edited(
    app: Flask, campaign: Any
) -> None:
    default = "Reinstate the sacked union leaders of the Example mine."
    taken = take_action(campaign, submission(personal="My brother is one of the five.",
                                             message=default))  # fmt: skip
    assert isinstance(taken, Taken)
    action = stored_action()
    assert (action.personal, action.message, action.edited) == (
        "My brother is one of the five.", default, False,
    )  # fmt: skip


def test_no_message_is_the_campaigns_and_not_edited(app: Flask, campaign: Any) -> None:
    assert isinstance(take_action(campaign, submission()), Taken)
    action = stored_action()
    assert (action.personal, action.edited) == ("", False)


MULTILINE = '''message = """Dear director,

Reinstate the sacked union leaders of the Example mine.
They did nothing but found a union."""'''


@pytest.mark.parametrize(
    ("message", "edited"),
    [
        # A textarea sends CRLF line ends; spaces at a line's end are easy to leave.
        ("Dear director,\r\n\r\nReinstate the sacked union leaders of the Example mine.  \r\n"
         "They did nothing but found a union.\r\n", False),
        ("  Dear director,\n\n\nReinstate the sacked union leaders of the Example mine.\n"
         "They did nothing but found a union.", False),
        ("Dear director,\r\n\r\nReinstate the sacked union leaders of the Example mine.\r\n"
         "They did nothing but found a union!", True),
        ("Dear director,\n\nReinstate the sacked union leaders of the Example mine.", True),
        ("Dear director,\n\nReinstate the sacked union leaders of the Example mine.\n"
         "They did nothing but found a union.\nMy father worked there.", True),
    ],
)  # fmt: skip
def test_edited_means_changed_beyond_white_space(
    app: Flask, tmp_path: Path, message: str, edited: bool
) -> None:
    path = tmp_path / "multiline.toml"
    single = 'message = "Reinstate the sacked union leaders of the Example mine."'
    assert single in SAMPLE
    path.write_text(SAMPLE.replace(single, MULTILINE), encoding="utf-8")
    ((campaign, _created),) = load_files(get_session(), [path])
    assert isinstance(take_action(campaign, submission(message=message)), Taken)
    assert stored_action().edited is edited


def test_edited_compares_with_the_default_message_of_the_supporters_language(
    app: Flask, campaign: Any
) -> None:
    german = "Stellt die entlassenen Gewerkschafter wieder ein."
    english = "Reinstate the sacked union leaders of the Example mine."
    assert isinstance(take_action(campaign, submission(lang="de", message=german)), Taken)
    assert isinstance(
        take_action(campaign, submission("bo@example.org", lang="de", message=english)), Taken
    )
    edited = {
        email: flag for email, flag in get_session().execute(select(Action.email, Action.edited))
    }
    assert edited == {"ana@example.org": False, "bo@example.org": True}
