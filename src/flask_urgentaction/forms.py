"""The action form: one set of rules for the HTML page and the JSON API.

Flask-WTF's CSRF token lives in the session cookie, which a third-party iframe
may not get. We plug the signed, campaign-bound spam-check token into WTForms'
CSRF slot instead (``csrf_class``): it is issued with the form, checked before
any other field, and needs no cookie.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, ClassVar

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Field,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.csrf.core import CSRF, CSRFTokenField
from wtforms.validators import (
    DataRequired,
    Email,
    Length,
    Optional,
    StopValidation,
    ValidationError,
)

from . import challenge
from .countries import country_choices, country_codes
from .i18n import current_language, gettext, lazy_gettext

# C0 controls, DEL, C1 controls and the Unicode line/paragraph separators:
# none belongs in a one-line field, and none must reach a mail header.
ONE_LINE_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# In the message, tabs and line breaks are fine; other controls are not.
MULTI_LINE_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029]")

# In no field: lone surrogates (only a JSON escape like "\\ud800" can make one),
# noncharacters, and U+FFFD, which stands where a browser sent bytes that are
# not UTF-8. None can be stored or mailed as typed.
NONCHARACTERS = "".join(
    chr(p + 0xFFFE) + chr(p + 0xFFFF) for p in range(0x10000, 0x110000, 0x10000)
)
UNUSABLE = re.compile(rf"[\ud800-\udfff\ufdd0-\ufdef\ufffd\ufffe\uffff{NONCHARACTERS}]")
# In names: invisible characters and direction controls, which can make one
# name read as another, or turn "... via Example Union" around in From:.
INVISIBLE = re.compile(r"[\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
# The zero-width non-joiner and joiner are part of spelling in Persian, Kurdish
# and Indic scripts: allowed between two letters, nowhere else.
JOINERS = "\u200c\u200d"

LIMITS = {"name": 200, "email": 254, "union": 200, "subject": 300, "message": 5000}
LIMITS |= {"personal": 500, "partner": 100, "lang": 35, "challenge_answer": 20}
# The personal line is one paragraph: line breaks and tabs, with the spaces
# around them, become one space.
BREAKS = re.compile(r"[ \t]*[\t\r\n][ \t\r\n]*")


def one_line(form: Any, field: Field) -> None:
    if field.data and ONE_LINE_FORBIDDEN.search(field.data):
        raise ValidationError(gettext("Line breaks and control characters are not allowed."))


def usable(form: Any, field: Field) -> None:
    if isinstance(field.data, str) and UNUSABLE.search(field.data):
        raise ValidationError(gettext("This text contains characters that are not allowed."))


def _letter(char: str) -> bool:
    return unicodedata.category(char)[0] in "LM"


def visible_name(form: Any, field: Field) -> None:
    value = field.data if isinstance(field.data, str) else ""
    stray = INVISIBLE.search(value) is not None or any(
        char in JOINERS
        and not (0 < i < len(value) - 1 and _letter(value[i - 1]) and _letter(value[i + 1]))
        for i, char in enumerate(value)
    )
    if stray:
        raise ValidationError(
            gettext("Invisible or text-direction characters are not allowed in a name.")
        )


def clean_text(form: Any, field: Field) -> None:
    if field.data and MULTI_LINE_FORBIDDEN.search(field.data):
        raise ValidationError(gettext("This text contains characters that are not allowed."))


def known_country(form: Any, field: Field) -> None:
    if field.data and field.data not in country_codes():
        raise ValidationError(gettext("Please choose a country from the list."))


def empty_honeypot(form: Any, field: Field) -> None:
    if field.data:
        raise ValidationError(gettext("This field must be left empty."))


def length(field_name: str) -> Length:
    limit = LIMITS[field_name]
    return Length(
        max=limit,
        message=lazy_gettext("Please use at most %(max)d characters.", max=limit),
    )


def required() -> DataRequired:
    # DataRequired looks at the data after the filters: a name of only spaces
    # is stripped to "" and counts as missing (InputRequired would accept it).
    return DataRequired(message=lazy_gettext("This field is required."))


def strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def one_paragraph(value: Any) -> Any:
    """Line breaks and tabs in a one-paragraph text become spaces; the ends are stripped."""
    return BREAKS.sub(" ", value).strip() if isinstance(value, str) else value


class ChallengeTokenField(CSRFTokenField):  # type: ignore[misc]
    """The spam-check token's field. Its fresh challenge (a new number, signed) is
    issued when it is first shown, not when the form is built: a submission that is
    taken shows no form again, and so costs no challenge."""

    _issued: str | None = None

    def process(self, *args: Any, **kwargs: Any) -> None:
        # HiddenField's processing, without CSRFTokenField's token issued at once.
        super(CSRFTokenField, self).process(*args, **kwargs)

    @property
    def current_token(self) -> str:
        if self._issued is None:
            self._issued = self.csrf_impl.generate_csrf_token(self)
        return self._issued


class ChallengeCSRF(CSRF):  # type: ignore[misc]
    """The spam-check token in the place of Flask-WTF's session CSRF token.

    ``meta.csrf_context`` is the campaign id the token is bound to.
    """

    field_class = ChallengeTokenField

    def setup_form(self, form: Any) -> list[tuple[str, Any]]:
        self.campaign_id: int = form.meta.csrf_context
        self.solved: challenge.Solved | None = None
        self.spent: challenge.Solved | None = None
        return [(form.meta.csrf_field_name, self.field_class(csrf_impl=self))]

    def generate_csrf_token(self, csrf_token_field: Any) -> str:
        issued = challenge.issue(self.campaign_id)
        return issued.token

    def validate_csrf_token(self, form: Any, field: Any) -> None:
        try:
            self.solved = challenge.check(
                self.campaign_id, field.data or "", form.challenge_answer.data or ""
            )
        except challenge.ChallengeFailed as exc:
            if isinstance(exc, challenge.ChallengeSpent):
                self.spent = exc.solved
            raise ValidationError(exc.message) from exc


class ChallengeForm(FlaskForm):  # type: ignore[misc]
    """A form guarded by the spam check in the place of a CSRF token: the action
    form, and the co-signing form, which asks a few of its questions."""

    class Meta:
        csrf = True
        csrf_class = ChallengeCSRF
        csrf_field_name = "challenge_token"
        locales = False

        def get_translations(self, form: Any) -> None:
            # Every message is ours and already translated in our domain.
            return None

    def __init__(self, *args: Any, campaign_id: int, **kwargs: Any) -> None:
        super().__init__(*args, meta={"csrf_context": campaign_id}, **kwargs)
        lang = current_language()
        self.country.choices = [("", gettext("Choose your country")), *list(country_choices(lang))]

    def validate(self, extra_validators: Any = None) -> bool:
        valid: bool = super().validate(extra_validators)
        impl: ChallengeCSRF = self._csrf
        if not valid and impl.solved is not None:
            # Refused for another field: say too if the spam check was used already,
            # which ``challenge.check`` leaves to the store when all else is valid.
            try:
                challenge.check_unspent(impl.solved)
            except challenge.ChallengeSpent as exc:
                impl.solved, impl.spent = None, exc.solved
                self.challenge_token.errors = [exc.message]
        return valid

    @property
    def solved(self) -> challenge.Solved | None:
        """The answered challenge, once :meth:`validate` has passed it."""
        impl: ChallengeCSRF = self._csrf
        return impl.solved

    @property
    def spent_challenge(self) -> challenge.Solved | None:
        """The challenge, when its only fault was being used already (a second click?)."""
        impl: ChallengeCSRF = self._csrf
        return impl.spent if set(self.errors) == {"challenge_token"} else None

    @property
    def challenge(self) -> challenge.Challenge:
        """The fresh challenge this form shows (a new one on every render)."""
        token = self.challenge_token.current_token
        found = challenge.read(token)
        assert found is not None
        return found

    def error_map(self) -> dict[str, list[str]]:
        """Errors by field name; every spam-check failure under ``challenge``."""
        errors: dict[str, list[str]] = {}
        for name, messages in self.errors.items():
            key = "challenge" if name in ("challenge_token", "challenge_answer") else name
            errors.setdefault(str(key), []).extend(str(m) for m in messages)
        return errors


def message_wanted(form: Any, field: Field) -> None:
    """Where there is no campaign message to fall back on, an empty one is missing."""
    if form.message_required and not (field.data or "").strip():
        raise StopValidation(gettext("This field is required."))


class ActionForm(ChallengeForm):
    # Empty, the message is the campaign's; OwnMessageForm has none to give.
    message_required: ClassVar[bool] = False

    name = StringField(
        lazy_gettext("Your name"),
        filters=[strip],
        validators=[required(), length("name"), one_line, usable, visible_name],
    )
    email = StringField(
        lazy_gettext("Your email"),
        filters=[strip],
        validators=[
            required(),
            length("email"),
            one_line,
            usable,
            Email(
                message=lazy_gettext("Please enter a valid email address."),
                check_deliverability=False,
                # A non-ASCII local part needs SMTPUTF8 all the way to the
                # recipient; refused here rather than failing in the outbox.
                allow_smtputf8=False,
            ),
        ],
    )
    union = StringField(
        lazy_gettext("Your union (optional)"),
        filters=[strip],
        validators=[Optional(), length("union"), one_line, usable, visible_name],
    )
    country = SelectField(
        lazy_gettext("Your country"),
        choices=[],
        validate_choice=False,
        validators=[required(), known_country],
    )
    subject = StringField(
        lazy_gettext("Subject"),
        filters=[strip],
        validators=[Optional(), length("subject"), one_line, usable],
    )
    # A line of the supporter's own, put above the message in the mail.
    personal = TextAreaField(
        lazy_gettext("A line in your own words (optional)"),
        filters=[one_paragraph],
        validators=[Optional(), length("personal"), clean_text, usable],
    )
    message = TextAreaField(
        lazy_gettext("Your message"),
        validators=[message_wanted, Optional(), length("message"), clean_text, usable],
    )
    opt_in = BooleanField(lazy_gettext("Send me future urgent action alerts"))
    # Offered only where the campaign allows it; asked for elsewhere, it is ignored.
    publish = BooleanField(lazy_gettext("Publish my message on the campaign page"))
    challenge_answer = StringField(
        lazy_gettext("Spam check"),
        filters=[strip],
        validators=[length("challenge_answer"), usable],
    )
    hp = StringField(
        lazy_gettext("Leave this field empty"),
        validators=[length("partner"), empty_honeypot, usable],
    )
    lang = HiddenField(validators=[Optional(), length("lang"), one_line, usable])
    partner = HiddenField(
        filters=[strip], validators=[Optional(), length("partner"), one_line, usable]
    )


class OwnMessageForm(ActionForm):
    """The action form of a campaign that gathers solidarity messages and has no
    message of its own to start from: the supporter's message is required."""

    message_required = True


class CosignForm(ChallengeForm):
    """Co-signing a declaration: who signs, by the action form's own rules (the
    same fields, in the same order), and the spam check."""

    name = ActionForm.name
    email = ActionForm.email
    union = ActionForm.union
    country = ActionForm.country
    challenge_answer = ActionForm.challenge_answer
    hp = ActionForm.hp
    lang = ActionForm.lang
