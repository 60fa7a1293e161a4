"""Taking an action from a request: one pipeline for the page form, the iframe
embed and the JSON API.

The body is read so that nothing malformed gets through or costs much (a size
cap, JSON nesting checked before parsing, form bytes that are not UTF-8 kept
visible to the form's rules), then the form's rules, then
:func:`actions.take_action`, which counts the submission against the rate limit
in the transaction that stores it; a submission refused before that is counted
on its own. The views turn the result into HTML or JSON.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, TypedDict, TypeVar
from urllib.parse import parse_qsl

from flask import abort, current_app, request
from werkzeug.datastructures import MultiDict

from .. import cosigning, outbox, pacing
from ..actions import (
    ChallengeReused,
    Closed,
    Outcome,
    RateLimited,
    Submission,
    Taken,
    closed,
    take_action,
)
from ..campaigns import CampaignSnapshot, message_text
from ..challenge import Solved
from ..declarations import DeclarationSnapshot
from ..forms import ActionForm, ChallengeForm, CosignForm, OwnMessageForm
from ..i18n import gettext
from ..ratelimit import RateLimiter
from ..storage import get_session

# The form's text fields: also the JSON API's keys, besides the booleans.
TEXT_FIELDS = ("name", "email", "union", "country", "subject", "personal", "message", "lang",
               "challenge_token", "challenge_answer", "hp", "partner")  # fmt: skip
BOOLEAN_FIELDS = ("opt_in", "publish")
# An action's body is one flat object; anything nested deeper is refused unparsed.
MAX_JSON_DEPTH = 20
JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


@dataclass(frozen=True)
class Fields:
    """A body's fields as text, and those that came as another type: which one they
    should have been ("text" or "boolean"), said in the page's language later."""

    text: MultiDict[str, str]
    wrong_type: dict[str, str]


@dataclass(frozen=True)
class Invalid:
    """Refused by the form's rules; the errors are on the form."""


@dataclass(frozen=True)
class Malformed:
    """The JSON API's body is not a JSON object we read."""


@dataclass(frozen=True)
class Submitted:
    """What became of a submission, and its form (to show again, errors and all)."""

    outcome: Outcome | RateLimited | Invalid | Malformed
    form: ActionForm | None


MANAGE_MAX_BODY_BYTES = 4 * 1024 * 1024


def cap_body() -> None:
    """Hold bodies sent to our routes to ``URGENTACTION_MAX_BODY_BYTES`` (413).

    Only for this request: the host app's ``MAX_CONTENT_LENGTH`` stays as it is
    for its own routes, and applies here too when it is smaller. A body without
    a length (chunked) is cut off at the same size while it is read.
    """
    limit = int(current_app.config["URGENTACTION_MAX_BODY_BYTES"])
    if request.blueprint == "urgentaction.manage":
        # An organiser saves a campaign's every translation, or a whole TOML file.
        limit = max(limit, MANAGE_MAX_BODY_BYTES)
    host_limit = request.max_content_length
    if host_limit is not None:
        limit = min(limit, host_limit)
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        abort(413)


def read_body() -> bytes:
    """The whole body, or 413 when one sent without a length reaches the cap.

    werkzeug stops reading such a body at the cap and hands over what it read
    as if it were all; a JSON text cut there would be answered 400, and form
    fields cut there could be taken.
    """
    data = request.get_data(cache=True)
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(data) >= limit:
        abort(413)
    return data


def form_fields() -> Fields:
    """The fields of an HTML form post.

    Bytes that are not UTF-8 become U+FFFD, which the form refuses under the
    field they came in (werkzeug would keep them as "%FF", or drop the form).
    A file sent for a text field is refused as such.
    """
    wrong_type: dict[str, str] = {}
    if request.mimetype == "multipart/form-data":
        text = MultiDict(request.form)
        for name in request.files:
            if name in TEXT_FIELDS or name in BOOLEAN_FIELDS:
                wrong_type[name] = "text"
        return Fields(text, wrong_type)
    if request.mimetype != "application/x-www-form-urlencoded":
        return Fields(MultiDict(), wrong_type)
    raw = read_body()
    if not raw and request.form:
        # A hook of the host app's read the form before us: take werkzeug's reading.
        return Fields(MultiDict(request.form), wrong_type)
    pairs = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True, errors="replace")
    return Fields(MultiDict(pairs), wrong_type)


def nesting_depth(data: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text, found without parsing it."""
    depth = deepest = 0
    for byte in JSON_STRING.sub(b"", data).translate(None, NOT_BRACKETS):
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def json_fields() -> Fields | None:
    """The fields of a JSON API body; None when it is not a JSON object."""
    if not request.is_json:
        return None
    data = read_body()
    # The parser recurses for each level: a deep body could exhaust the stack.
    if nesting_depth(data) > MAX_JSON_DEPTH:
        return None
    try:
        body: Any = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict):
        return None
    text: MultiDict[str, str] = MultiDict()
    wrong_type: dict[str, str] = {}
    for name in TEXT_FIELDS:
        value = body.get(name)
        if isinstance(value, str):
            text[name] = value
        elif value is not None:
            wrong_type[name] = "text"
    for name in BOOLEAN_FIELDS:
        value = body.get(name)
        if value is True:
            text[name] = "y"
        elif value not in (False, None):
            wrong_type[name] = "boolean"
    return Fields(text, wrong_type)


F = TypeVar("F", bound=ChallengeForm)


def _checked(
    campaign: CampaignSnapshot, fields: Fields | None, lang: str, form_class: type[F]
) -> tuple[Closed | RateLimited | Invalid | Malformed | Solved, F | None]:
    """What every submission passes before it is stored, whatever it is for: the
    campaign still open, the form's rules and the spam check; one refused here is
    counted against the rate limit (429 then rather than its errors). Returns the
    answered challenge and the form, or why not."""
    refused = closed(campaign)
    if refused is not None:
        return refused, None
    if fields is None:
        return _counted(Malformed()), None
    formdata = fields.text.copy()
    formdata["lang"] = lang
    form = form_class(campaign_id=campaign.id, formdata=formdata)
    # A field this form does not ask for is ignored, whatever its type.
    wrong_type = {name: kind for name, kind in fields.wrong_type.items() if name in form}
    if wrong_type:
        said = {"text": gettext("Must be text."), "boolean": gettext("Must be true or false.")}
        for name, expected in wrong_type.items():
            form[name].errors = [said[expected]]
        return _counted(Invalid()), form
    # A token spent already may be this supporter's first click: what stores it tells.
    solved = form.solved if form.validate() else form.spent_challenge
    return (_counted(Invalid()) if solved is None else solved), form


def rate_limit() -> RateLimiter:
    limiter: RateLimiter = current_app.extensions["urgentaction"].limiter
    return limiter


R = TypeVar("R", Invalid, Malformed)


def _counted(refused: R) -> R | RateLimited:
    """Count a submission refused before it could be stored; RateLimited when the
    limit refuses it too, so that a flood is told to wait whatever it sends."""
    # The count is a transaction on a connection of its own: give this request's
    # back first, so that a burst of requests cannot hold every pooled connection.
    get_session().commit()
    wait = rate_limit().hit()
    return refused if wait is None else RateLimited(wait)


def submit(
    campaign: CampaignSnapshot, fields: Fields | None, lang: str, source_origin: str
) -> Submitted:
    """Take an action from a request's fields (None: a body we cannot read)."""
    # A campaign gathering its supporters' own messages, with none to start from.
    own = campaign.gathers_messages and not message_text(campaign, lang).message
    solved, form = _checked(campaign, fields, lang, OwnMessageForm if own else ActionForm)
    if not isinstance(solved, Solved):
        return Submitted(solved, form)
    assert form is not None
    outcome = take_action(
        campaign,
        Submission(
            **supporter_fields(form, lang, solved),
            subject=form.subject.data or "",
            personal=form.personal.data or "",
            message=form.message.data or "",
            opt_in=bool(form.opt_in.data),
            publish=bool(form.publish.data),
            partner_tag=form.partner.data or "",
            source_origin=source_origin,
        ),
        rate_limit(),
    )
    if isinstance(outcome, ChallengeReused):
        return Submitted(challenge_spent(form), form)
    if isinstance(outcome, Taken):
        deliver_inline(outcome)
    return Submitted(outcome, form)


@dataclass(frozen=True)
class SignSubmitted:
    """What became of a co-signature, and its form (to show again, errors and all)."""

    outcome: cosigning.SignOutcome | RateLimited | Invalid | Malformed
    form: CosignForm | None


def submit_signature(
    campaign: CampaignSnapshot, declaration: DeclarationSnapshot, fields: Fields | None,
    lang: str,
) -> SignSubmitted:  # fmt: skip
    """Co-sign a declaration from a request's fields, past the same checks as an action."""
    solved, form = _checked(campaign, fields, lang, CosignForm)
    if not isinstance(solved, Solved):
        return SignSubmitted(solved, form)
    assert form is not None
    outcome = cosigning.sign(
        campaign,
        declaration,
        cosigning.Cosigner(**supporter_fields(form, lang, solved)),
        rate_limit(),
    )
    if isinstance(outcome, ChallengeReused):
        return SignSubmitted(challenge_spent(form), form)
    return SignSubmitted(outcome, form)


class SupporterFields(TypedDict):
    name: str
    email: str
    country: str
    lang: str
    challenge: Solved
    union: str


def supporter_fields(form: ActionForm | CosignForm, lang: str, solved: Solved) -> SupporterFields:
    """Who the supporter is, read alike from an action's form and a co-signature's."""
    return SupporterFields(
        name=form.name.data, email=form.email.data, country=form.country.data or "",
        lang=lang, challenge=solved, union=form.union.data or "",
    )  # fmt: skip


def challenge_spent(form: ChallengeForm) -> Invalid:
    """Another submission spent the spam-check token: the form, with a new question,
    says so where the answer goes."""
    form.challenge_token.errors = [
        gettext("This spam check was already used. Please answer the new one.")
    ]
    return Invalid()


def deliver_inline(taken: Taken) -> None:
    """With inline delivery, send the action's mail now; failures stay queued."""
    if current_app.config["URGENTACTION_DELIVERY"] == "inline":
        ids = taken.outbox_ids
        if taken.held:
            # Whatever the campaign's rules let out now, this action's or earlier ones'.
            ids = ids + pacing.release(get_session(), [taken.action.campaign_id])
        outbox.deliver(ids)
