"""The spam check: "Enter the number 4273 here", signed, bound, single-use.

The number stands in the question as plain digits so screen readers can read
it; the token therefore carries it openly. What the signature adds is that no
one can make up a token, the campaign id binds it, its age gives the minimum
fill time, and its id (``jti``) is spent once in ``ua_used_challenges``.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.selectable import Exists

from .i18n import gettext
from .models import UsedChallenge
from .storage import get_session, insert_objects
from .tokens import Purpose, TokenError, sign, verify


@dataclass(frozen=True)
class Challenge:
    token: str
    number: str

    @property
    def question(self) -> str:
        return str(gettext("Enter the number %(number)s here", number=self.number))

    def as_json(self) -> dict[str, str]:
        return {"token": self.token, "question": self.question}


@dataclass(frozen=True)
class Solved:
    """A correctly answered challenge, to be spent with the action it guards."""

    jti: str
    expires_at: datetime


class ChallengeFailed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ChallengeSpent(ChallengeFailed):
    """A genuine token that was used already: a second click, or a reuse.

    ``solved`` names it, so the submission it came with can be told apart:
    the same supporter's second click is answered like the first.
    """

    def __init__(self, message: str, solved: Solved) -> None:
        super().__init__(message)
        self.solved = solved


def max_age() -> int:
    return int(current_app.config["URGENTACTION_CHALLENGE_MAX_AGE"])


def issue(campaign_id: int) -> Challenge:
    number = str(1000 + secrets.randbelow(9000))
    token = sign(
        Purpose.CHALLENGE,
        {"c": campaign_id, "n": number, "j": secrets.token_urlsafe(12)},
    )
    return Challenge(token, number)


def read(token: str) -> Challenge | None:
    """The challenge behind a token we issued (for showing its question)."""
    try:
        payload, _age = verify(Purpose.CHALLENGE, token, None)
    except TokenError:
        return None
    return Challenge(token, str(payload["n"]))


def normalize_answer(answer: str) -> str:
    # Accept any script's digits (an Arabic keyboard types ٤٢٧٣) and stray spaces.
    digits = []
    for char in answer.strip():
        if char.isspace():
            continue
        value = unicodedata.decimal(char, None)
        if value is None:
            return answer.strip()
        digits.append(str(value))
    return "".join(digits)


def check(campaign_id: int, token: str, answer: str) -> Solved:
    """Verify a challenge answer or raise :class:`ChallengeFailed` with its reason."""
    if not token:
        raise ChallengeFailed(gettext("Please answer the spam check."))
    if not token.isascii():
        # Ours are ASCII; anything else (a lone surrogate from JSON) cannot be signed.
        raise ChallengeFailed(gettext("The spam check is not valid. Please answer the new one."))
    try:
        payload, age = verify(Purpose.CHALLENGE, token, max_age())
    except TokenError as exc:
        if exc.expired:
            raise ChallengeFailed(
                gettext("The spam check has expired. Please answer the new one.")
            ) from exc
        raise ChallengeFailed(
            gettext("The spam check is not valid. Please answer the new one.")
        ) from exc
    if not isinstance(payload, dict) or payload.get("c") != campaign_id:
        raise ChallengeFailed(gettext("The spam check is not valid. Please answer the new one."))
    solved = Solved(str(payload["j"]), datetime.now(UTC) + timedelta(seconds=max_age() - age + 1))
    right = bool(answer.strip()) and normalize_answer(answer) == payload["n"]
    if right and age >= float(current_app.config["URGENTACTION_MIN_FILL_SECONDS"]):
        # Not asked whether it was spent: storing what it guards spends it, and a
        # token spent before meets a unique key there (actions.take_action), so the
        # usual submission costs no query here. ``check_unspent`` asks when the
        # form is refused for another reason (forms.ChallengeForm.validate).
        return solved
    check_unspent(solved)
    if not answer.strip():
        raise ChallengeFailed(gettext("Please answer the spam check."))
    if not right:
        # Spend the token so that one token cannot be tried 9000 times.
        spend(solved, commit=True)
        raise ChallengeFailed(gettext("That is not the number shown. Please answer the new one."))
    raise ChallengeFailed(gettext("That was faster than a person can type. Please try again."))


def check_unspent(solved: Solved) -> None:
    """Raise :class:`ChallengeSpent` when ``solved``'s token was used already."""
    if is_spent(solved.jti):
        raise ChallengeSpent(
            gettext("This spam check was already used. Please answer the new one."), solved
        )


def spent(jti: str) -> Exists:
    """The test "this token was spent", to ask in one statement with others."""
    return select(UsedChallenge.jti).where(UsedChallenge.jti == jti).exists()


def is_spent(jti: str) -> bool:
    return bool(get_session().scalar(select(spent(jti))))


def spend(solved: Solved, commit: bool = False) -> None:
    """Mark a token used; with ``commit=False`` it joins the caller's transaction."""
    session = get_session()
    insert_objects(session, [UsedChallenge(jti=solved.jti, expires_at=solved.expires_at)])
    if commit:
        try:
            session.commit()
        except IntegrityError:
            session.rollback()


def prune() -> int:
    """Forget spent tokens that have expired anyway."""
    session = get_session()
    result = session.execute(
        delete(UsedChallenge).where(UsedChallenge.expires_at < datetime.now(UTC))
    )
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)
