"""The spam check through the form: signed, bound to its campaign, single-use, timed."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import text
from werkzeug.test import TestResponse

from flask_urgentaction import campaigns
from flask_urgentaction.challenge import normalize_answer
from flask_urgentaction.storage import get_session
from flask_urgentaction.tokens import Purpose

from .conftest import Mailbox, form_data

SLUG = "example-mine-strike"
URL = f"/actions/{SLUG}"
EXPIRED = "The spam check has expired. Please answer the new one."
NOT_VALID = "The spam check is not valid. Please answer the new one."
USED = "This spam check was already used. Please answer the new one."
WRONG = "That is not the number shown. Please answer the new one."
MISSING = "Please answer the spam check."


def count(app: Flask, table: str) -> int:
    with app.extensions["urgentaction"].storage.engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def challenge_error(response: TestResponse) -> str:
    """The spam-check error shown at the answer field, with the field marked invalid."""
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(
        r'<input aria-describedby="challenge_answer-error" aria-invalid="true"[^>]*'
        r'name="challenge_answer"',
        html,
    )
    found = re.search(r'<p class="ua-error" id="challenge_answer-error">(.*?)</p>', html)
    assert found
    assert '<li><a href="#challenge_answer">Spam check</a>: ' in html
    return found.group(1)


def assert_refused(
    app: Flask, mailbox: Mailbox, response: TestResponse, message: str, actions: int = 0
) -> None:
    assert challenge_error(response) == message
    assert count(app, "ua_actions") == actions
    assert len(mailbox.to("ceo@mining.example")) == actions


def sign(
    secret: str, payload: dict[str, Any], age: int = 0, purpose: Purpose = Purpose.CHALLENGE
) -> str:
    """A token signed as the app signs, ``age`` seconds ago."""

    class Then(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - age

    return str(URLSafeTimedSerializer(secret, salt=str(purpose), signer=Then).dumps(payload))


def test_correct_answer_is_accepted(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    assert client.post(URL, data=form_data(client)).status_code == 303
    assert count(app, "ua_actions") == 1
    assert count(app, "ua_used_challenges") == 1


def test_wrong_answer_is_refused(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    data = form_data(client)
    data["challenge_answer"] = str(int(data["challenge_answer"]) % 9000 + 1000 + 1)
    assert_refused(app, mailbox, client.post(URL, data=data), WRONG)


def test_a_wrong_answer_spends_the_token(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    data = form_data(client)
    right = data["challenge_answer"]
    assert_refused(app, mailbox, client.post(URL, data=data | {"challenge_answer": "0"}), WRONG)
    assert count(app, "ua_used_challenges") == 1
    # The right answer with the same token no longer helps: no guessing 9000 times.
    again = client.post(URL, data=data | {"challenge_answer": right})
    assert_refused(app, mailbox, again, USED)


def test_a_token_cannot_be_reused_after_success(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    data = form_data(client)
    assert client.post(URL, data=data).status_code == 303
    reused = client.post(URL, data=data | {"email": "someone.else@example.org"})
    assert_refused(app, mailbox, reused, USED, actions=1)


def test_a_spent_token_is_named_beside_another_fields_error(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    # A right answer is not asked about being spent when all else is valid (the
    # store tells); with another field refused, the form still says it.
    data = form_data(client)
    assert client.post(URL, data=data).status_code == 303
    reused = client.post(URL, data=data | {"email": "not an address"})
    assert_refused(app, mailbox, reused, USED, actions=1)
    assert "Please enter a valid email address." in reused.get_data(as_text=True)


@pytest.mark.parametrize("field", ["challenge_token", "challenge_answer"])
def test_missing_token_or_answer_is_refused(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox, field: str
) -> None:
    data = form_data(client)
    del data[field]
    assert_refused(app, mailbox, client.post(URL, data=data), MISSING)


def test_expired_token_is_refused(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    max_age = app.config["URGENTACTION_CHALLENGE_MAX_AGE"]
    token = sign("test secret", {"c": campaign.id, "n": "4273", "j": "old"}, age=max_age + 5)
    data = form_data(client, challenge_token=token, challenge_answer="4273")
    assert_refused(app, mailbox, client.post(URL, data=data), EXPIRED)


@pytest.mark.parametrize("app_config", [{"URGENTACTION_CHALLENGE_MAX_AGE": 60}])
def test_challenge_max_age_is_configurable(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    payload = {"c": campaign.id, "n": "4273"}
    young = sign("test secret", payload | {"j": "young"}, age=30)
    old = sign("test secret", payload | {"j": "old"}, age=90)
    data = form_data(client, challenge_token=old, challenge_answer="4273")
    assert_refused(app, mailbox, client.post(URL, data=data), EXPIRED)
    data = form_data(client, challenge_token=young, challenge_answer="4273")
    assert client.post(URL, data=data).status_code == 303


def forgeries(campaign_id: int, token: str) -> dict[str, str]:
    payload = {"c": campaign_id, "n": "1111", "j": "forged"}
    body, _dot, signature = token.rpartition(".")
    # The first character: the last one's low bits may be base64 padding, which
    # decodes to the same signature.
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return {
        "bad signature": f"{body}.{flipped}",
        "other secret key": sign("not our secret", payload),
        "other purpose": sign("test secret", payload, purpose=Purpose.CONFIRM),
        "unsigned": URLSafeTimedSerializer("x").dump_payload(payload).decode(),
        "garbage": "not-a-token",
    }


@pytest.mark.parametrize(
    "kind", ["bad signature", "other secret key", "other purpose", "unsigned", "garbage"]
)
def test_forged_token_is_refused(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox, kind: str
) -> None:
    data = form_data(client)
    forged = forgeries(campaign.id, data["challenge_token"])[kind]
    answer = data["challenge_answer"] if kind == "bad signature" else "1111"
    response = client.post(URL, data=data | {"challenge_token": forged, "challenge_answer": answer})
    assert_refused(app, mailbox, response, NOT_VALID)


def test_token_of_another_campaign_is_refused(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    campaigns.save(get_session(), {
        "slug": "other-campaign",
        "status": "live",
        "targets": [{"name": "The Employer", "email": "boss@employer.example"}],
        "translations": {"en": {"title": "Other"}},
    })  # fmt: skip
    get_session().commit()
    other = form_data(client, "other-campaign")
    data = form_data(client) | {
        "challenge_token": other["challenge_token"],
        "challenge_answer": other["challenge_answer"],
    }
    assert_refused(app, mailbox, client.post(URL, data=data), NOT_VALID)
    # Still good where it belongs.
    assert client.post("/actions/other-campaign", data=other).status_code == 303


@pytest.mark.parametrize(
    "digits",
    [
        "٠١٢٣٤٥٦٧٨٩",  # Arabic-Indic
        "۰۱۲۳۴۵۶۷۸۹",  # Extended Arabic-Indic (Persian, Urdu)
        "०१२३४५६७८९",  # Devanagari
        "".join(chr(0xFF10 + d) for d in range(10)),  # full-width
    ],
)
def test_answer_in_other_scripts_digits_is_accepted(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox, digits: str
) -> None:
    data = form_data(client)
    answer = "".join(digits[int(d)] for d in data["challenge_answer"])
    response = client.post(URL, data=data | {"challenge_answer": f" {answer} "})
    assert response.status_code == 303
    assert count(app, "ua_actions") == 1


def test_answer_with_spaces_inside_is_accepted(
    client: FlaskClient, app: Flask, campaign: Any
) -> None:
    data = form_data(client)
    number = data["challenge_answer"]
    spaced = f"{number[:2]} {number[2:]}"
    assert client.post(URL, data=data | {"challenge_answer": spaced}).status_code == 303


def test_normalize_answer_keeps_non_digits_so_they_never_match() -> None:
    assert normalize_answer(" ٤٢٧٣ ") == "4273"
    assert normalize_answer("42 73") == "4273"
    assert normalize_answer("4273a") == "4273a"
    assert normalize_answer("²⁴") != "24"  # superscripts are not decimal digits


@pytest.mark.parametrize(
    "app_config", [{"SECRET_KEY": "new key", "SECRET_KEY_FALLBACKS": ["old key"]}]
)
def test_token_signed_under_an_old_key_verifies_after_rotation(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    old = sign("old key", {"c": campaign.id, "n": "4273", "j": "before-rotation"})
    data = form_data(client, challenge_token=old, challenge_answer="4273")
    assert client.post(URL, data=data).status_code == 303
    assert count(app, "ua_actions") == 1


@pytest.mark.parametrize("app_config", [{"SECRET_KEY": "new key"}])
def test_token_signed_under_a_retired_key_is_refused(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    old = sign("old key", {"c": campaign.id, "n": "4273", "j": "retired"})
    data = form_data(client, challenge_token=old, challenge_answer="4273")
    assert_refused(app, mailbox, client.post(URL, data=data), NOT_VALID)


def test_an_overlong_answer_is_one_spam_check_entry_in_the_summary(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    data = form_data(client)
    response = client.post(URL, data=data | {"challenge_answer": "1" * 21})
    message = challenge_error(response)
    assert "Please use at most 20 characters." in message
    html = response.get_data(as_text=True)
    assert html.count('<li><a href="#challenge_answer">') == 1
    assert count(app, "ua_actions") == 0 and mailbox.messages == []
