"""Composing outgoing mail as outbox rows, from .txt and .html template pairs.

Nothing is sent here: every message is stored first, one row per recipient,
and the sender (:mod:`.outbox`) delivers it. Supporter input reaches only three
headers, the display name in ``From:``, ``Reply-To:`` and the ``Subject:``; all
refuse CR, LF and NUL here, and :mod:`.wire` encodes them when the mail is sent.
Absolute links come from :mod:`.links`, never from an untrusted ``Host``.
"""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import make_msgid, parseaddr
from functools import lru_cache
from typing import Any

from flask import current_app, render_template

from . import pacing
from .campaigns import AnyCampaign, text_in
from .countries import country_name
from .i18n import gettext, template_helpers, text_direction, use_language
from .links import mail_url
from .models import Action, Campaign, Consent, OutboxMessage, OutboxStatus, Subscriber
from .subscriptions import confirm_token, unsubscribe_token
from .tokens import Purpose, sign
from .wire import HeaderInjection as HeaderInjection
from .wire import header_safe as header_safe


def sender() -> tuple[str, str]:
    """The configured sender as (display name, address)."""
    config = current_app.config
    configured = config["URGENTACTION_SENDER"] or config.get("MAIL_DEFAULT_SENDER")
    if isinstance(configured, tuple):
        return str(configured[0]), str(configured[1])
    if not configured:
        raise RuntimeError("Set URGENTACTION_SENDER or MAIL_DEFAULT_SENDER.")
    return _parsed(str(configured))


@lru_cache(maxsize=16)
def _parsed(configured: str) -> tuple[str, str]:
    # Parsed once per setting: parseaddr is a sixth of composing an action's mail.
    name, address = parseaddr(configured)
    return name, address


def new_message_id(address: str | None = None) -> str:
    """A Message-ID at the domain of ``address`` (default: the sender's)."""
    domain = (address or sender()[1]).rpartition("@")[2] or None
    return make_msgid(domain=domain)


def render(name: str, **context: Any) -> tuple[str, str]:
    # ``direction(lang)``: each HTML part sets dir= from the language it sets lang= to.
    context |= template_helpers() | {"direction": text_direction}
    text = render_template(f"urgentaction/mail/{name}.txt", **context)
    html = render_template(f"urgentaction/mail/{name}.html", **context)
    return text, html


def target_dedupe_key(action_id: int | None, target_id: int) -> str:
    return f"target:{action_id}:{target_id}"


def target_messages(campaign: AnyCampaign, action: Action) -> list[OutboxMessage]:
    """The supporter's message, one to each of the campaign's targets."""
    site_name, address = sender()
    via = site_name or campaign.partner or address
    # Written for the targets: in the campaign's message language when it fixes one.
    lang = campaign.message_lang or action.lang
    with use_language(lang):
        display = gettext("%(name)s via %(site)s", name=header_safe(action.name), site=via)
        country = country_name(action.country, lang) if action.country else ""
        text, html = render("target", campaign=campaign, action=action, country=country, lang=lang)
    # With [delivery] rules the mail waits for pacing.release to let it out.
    status = OutboxStatus.HELD if pacing.governed(campaign.delivery) else OutboxStatus.QUEUED
    # Each target its own envelope, status and Message-ID: one refusal hides no other.
    return [
        OutboxMessage(
            kind="target",
            status=status,
            dedupe_key=target_dedupe_key(action.id, target.id),
            message_id=new_message_id(address),
            action_id=action.id,
            target_id=target.id,
            sender=[header_safe(display), address],
            recipient_name=header_safe(target.name),
            recipient=header_safe(target.email),
            reply_to=[header_safe(action.name), header_safe(action.email)],
            subject=header_safe(action.subject),
            text_body=text,
            html_body=html,
            headers={},
        )
        for target in campaign.targets
    ]


def confirm_message(
    campaign: AnyCampaign, subscriber: Subscriber, consent: Consent
) -> OutboxMessage:
    """The opt-in confirmation, in the language the supporter used."""
    token = confirm_token(subscriber, consent)
    with use_language(subscriber.lang):
        link = mail_url("urgentaction.confirm", token=token)
        subject = gettext("Please confirm: urgent action alerts")
        text, html = render(
            "confirm", campaign=campaign, subscriber=subscriber, link=link,
            title=text_in(campaign, subscriber.lang).title,
        )  # fmt: skip
    return OutboxMessage(
        kind="confirm",
        message_id=new_message_id(),
        subscriber_id=subscriber.id,
        sender=list(sender()),
        recipient_name=header_safe(subscriber.name),
        recipient=header_safe(subscriber.email),
        subject=subject,
        text_body=text,
        html_body=html,
        headers={},
    )


def unsubscribe_link(subscriber: Subscriber) -> str:
    token = unsubscribe_token(subscriber)
    return mail_url("urgentaction.unsubscribe", token=token)


def alert_dedupe_key(campaign_id: int, subscriber_id: int) -> str:
    return f"alert:{campaign_id}:{subscriber_id}"


def alert_message(
    campaign: Campaign, subscriber: Subscriber, intros: Mapping[str, str] | None = None
) -> OutboxMessage:
    """A new campaign announced to a confirmed subscriber, in their language, after
    the organiser's intro in that language when ``intros`` has one."""
    return _alert(campaign, subscriber, unsubscribe_link(subscriber), intros or {}, "")


def alert_test_message(
    campaign: Campaign, address: str, lang: str, intros: Mapping[str, str] | None = None
) -> OutboxMessage:
    """The alert as subscribers in ``lang`` get it, for the organiser at ``address`` to
    check: "[TEST] " before its subject, and an unsubscribe link that names no one.
    It has no dedupe key, so it stops no subscriber's alert."""
    # Not stored: it only stands in for a subscriber in the templates.
    nobody = Subscriber(email=address, email_key=address.casefold(), name="", lang=lang)
    # A link without a public id: subscriptions.subscriber_for finds no one for it.
    token = sign(Purpose.UNSUBSCRIBE, {"s": None})
    unsubscribe = mail_url("urgentaction.unsubscribe", token=token)
    return _alert(campaign, nobody, unsubscribe, intros or {}, "[TEST] ")


def _alert(
    campaign: Campaign, subscriber: Subscriber, unsubscribe: str, intros: Mapping[str, str],
    marker: str,
) -> OutboxMessage:  # fmt: skip
    with use_language(subscriber.lang):
        texts = text_in(campaign, subscriber.lang)
        link = mail_url("urgentaction.campaign", slug=campaign.slug, lang=texts.lang)
        subject = gettext("Urgent action: %(title)s", title=texts.title)
        text, html = render(
            "alert", campaign=campaign, texts=texts, link=link, unsubscribe=unsubscribe,
            subscriber=subscriber, intro=intros.get(texts.lang, ""),
        )  # fmt: skip
    known = subscriber.id is not None
    return OutboxMessage(
        kind="alert",
        dedupe_key=alert_dedupe_key(campaign.id, subscriber.id) if known else None,
        message_id=new_message_id(),
        subscriber_id=subscriber.id,
        sender=list(sender()),
        recipient_name=header_safe(subscriber.name),
        recipient=header_safe(subscriber.email),
        subject=header_safe(marker + " ".join(subject.split())),
        text_body=text,
        html_body=html,
        # RFC 8058: one click in the mail client unsubscribes, by POST.
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
