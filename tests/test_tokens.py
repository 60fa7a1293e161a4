"""Signing and checking tokens: one salt per purpose, expiry told from forgery, key rotation."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from flask_urgentaction.tokens import Purpose, TokenError, sign, verify

from .conftest import Mailbox, form_data


def signed_ago(secret: str, purpose: Purpose, payload: Any, age: int) -> str:
    class Then(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - age

    return str(URLSafeTimedSerializer(secret, salt=str(purpose), signer=Then).dumps(payload))


def test_sign_and_verify_round_trip_with_age(app: Flask) -> None:
    token = sign(Purpose.CONFIRM, {"s": 1, "c": 2})
    assert re.fullmatch(r"[A-Za-z0-9_\-.]+", token), "tokens go into URLs as they are"
    payload, age = verify(Purpose.CONFIRM, token, max_age=60)
    assert payload == {"s": 1, "c": 2}
    assert 0 <= age < 5


def test_age_is_measured_from_signing(app: Flask) -> None:
    token = signed_ago("test secret", Purpose.UNSUBSCRIBE, {"s": 1}, age=100)
    _payload, age = verify(Purpose.UNSUBSCRIBE, token, max_age=None)
    assert 99 <= age < 110


@pytest.mark.parametrize("purpose", list(Purpose))
def test_each_purpose_refuses_the_others_tokens(app: Flask, purpose: Purpose) -> None:
    for other in Purpose:
        token = sign(other, {"s": 1})
        if other is purpose:
            assert verify(purpose, token, None)[0] == {"s": 1}
            continue
        with pytest.raises(TokenError) as caught:
            verify(purpose, token, None)
        assert caught.value.expired is False


def test_expired_token_is_told_apart_from_an_invalid_one(app: Flask) -> None:
    old = signed_ago("test secret", Purpose.CONFIRM, {"s": 1}, age=3600)
    with pytest.raises(TokenError) as caught:
        verify(Purpose.CONFIRM, old, max_age=60)
    assert caught.value.expired is True
    assert str(caught.value) == "expired"
    # Without a max age it still verifies.
    assert verify(Purpose.CONFIRM, old, max_age=None)[0] == {"s": 1}

    tampered = old[:-2] + ("AA" if old[-2:] != "AA" else "BB")
    with pytest.raises(TokenError) as caught:
        verify(Purpose.CONFIRM, tampered, max_age=60)
    assert caught.value.expired is False
    assert str(caught.value) == "invalid"


@pytest.mark.parametrize("token", ["", "x", "a.b.c", "eyJzIjoxfQ", "eyJzIjoxfQ.AAAA.BBBB"])
def test_malformed_tokens_are_invalid(app: Flask, token: str) -> None:
    with pytest.raises(TokenError) as caught:
        verify(Purpose.CHALLENGE, token, max_age=60)
    assert caught.value.expired is False


def test_token_under_an_old_key_verifies_while_the_key_is_a_fallback(app: Flask) -> None:
    app.config["SECRET_KEY"] = "old key"
    old = sign(Purpose.CONFIRM, {"s": 7})
    app.config.update(SECRET_KEY="new key", SECRET_KEY_FALLBACKS=["older key", "old key"])
    assert verify(Purpose.CONFIRM, old, None)[0] == {"s": 7}
    new = sign(Purpose.CONFIRM, {"s": 8})
    # New tokens are signed with the current key: they outlive the fallbacks.
    app.config["SECRET_KEY_FALLBACKS"] = []
    assert verify(Purpose.CONFIRM, new, None)[0] == {"s": 8}
    with pytest.raises(TokenError) as caught:
        verify(Purpose.CONFIRM, old, None)
    assert caught.value.expired is False


def mailed_confirm_link(client: FlaskClient, mailbox: Mailbox) -> str:
    """Opt in through the form and return the confirm link that was mailed."""
    data = form_data(client, opt_in="y")
    assert client.post("/actions/example-mine-strike", data=data).status_code == 303
    (confirm,) = mailbox.to("ana@example.org")
    link = re.search(r"https?://\S+/confirm/\S+", confirm.get_body(("plain",)).get_content())
    assert link
    return link.group(0)


def test_confirm_link_mailed_before_a_key_rotation_still_works(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    link = mailed_confirm_link(client, mailbox)
    app.config.update(SECRET_KEY="rotated key", SECRET_KEY_FALLBACKS=["test secret"])
    response = client.post(link)
    assert response.status_code == 200
    assert "You will receive urgent action alerts" in response.get_data(as_text=True)


def test_confirm_link_under_a_dropped_key_is_refused(
    client: FlaskClient, app: Flask, campaign: Any, mailbox: Mailbox
) -> None:
    link = mailed_confirm_link(client, mailbox)
    app.config.update(SECRET_KEY="rotated key", SECRET_KEY_FALLBACKS=[])
    response = client.post(link)
    assert response.status_code == 400
    assert "This link is not valid" in response.get_data(as_text=True)
