"""Signing and checking every token we hand out: one salt per purpose."""

from __future__ import annotations

import enum
import math
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


class Purpose(enum.StrEnum):
    CHALLENGE = "urgentaction.challenge"
    CONFIRM = "urgentaction.confirm"
    UNSUBSCRIBE = "urgentaction.unsubscribe"
    # The dashboard's alert: a dry run's inputs, which its Send must repeat.
    ALERT_SEND = "urgentaction.alert-send"
    # The dashboard's widget preview: the slug of a campaign the API may then
    # show though it is not public (a draft, scheduled).
    PREVIEW = "urgentaction.preview"


# Seconds a widget preview's token lets the API show its campaign: an
# organiser looking at the preview, not a link to pass around.
PREVIEW_MAX_AGE = 3600


class TokenError(Exception):
    """A token that cannot be used; ``expired`` tells the two cases apart."""

    def __init__(self, expired: bool) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


def _serializer(purpose: Purpose) -> URLSafeTimedSerializer:
    config = current_app.config
    # itsdangerous signs with the last key and accepts all of them.
    keys = (*(config.get("SECRET_KEY_FALLBACKS") or []), config["SECRET_KEY"])
    return _built(keys, purpose)


@lru_cache(maxsize=64)
def _built(keys: tuple[Any, ...], purpose: Purpose) -> URLSafeTimedSerializer:
    # Built once per keys and purpose: every spam check signs one and checks one.
    return URLSafeTimedSerializer(list(keys), salt=str(purpose))


def sign(purpose: Purpose, payload: Any) -> str:
    return str(_serializer(purpose).dumps(payload))


def verify(purpose: Purpose, token: str, max_age: float | None) -> tuple[Any, float]:
    """Return the payload and its age in seconds, or raise :class:`TokenError`."""
    # itsdangerous keeps whole seconds, so a fractional limit is rounded up.
    limit = None if max_age is None else math.ceil(max_age)
    try:
        payload, signed_at = _serializer(purpose).loads(token, max_age=limit, return_timestamp=True)
    except SignatureExpired as exc:
        raise TokenError(expired=True) from exc
    except BadSignature as exc:
        raise TokenError(expired=False) from exc
    age = (datetime.now(UTC) - signed_at).total_seconds()
    return payload, age
