"""The digest: one message to a target listing the supporters whose held mail it carries.

In ``mode = "digest"`` a target gets, at most once a period, one message with
the campaign's message once and then each supporter (name, union, country) with
the lines they added themselves, in the campaign's message language. Each
supporter still counts as one action; the rows the digest replaces point at it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from . import mail, similarity
from .campaigns import message_text
from .countries import country_name
from .i18n import ngettext, use_language
from .models import Action, Campaign, OutboxMessage, OutboxStatus, Target
from .wire import header_safe


@dataclass(frozen=True)
class Signer:
    """One supporter as a digest lists them; empty fields once they were forgotten."""

    name: str
    union: str
    country: str
    added: str


def digest_message(session: Session, target_id: int, ids: list[int]) -> OutboxMessage:
    """The digest to the target of ``target_id`` carrying the held rows ``ids``."""
    target = session.get(Target, target_id)
    assert target is not None
    campaign = session.scalar(
        select(Campaign)
        .where(Campaign.id == target.campaign_id)
        .options(selectinload(Campaign.translations))
    )
    assert campaign is not None
    actions = session.scalars(
        select(Action)
        .join(OutboxMessage, OutboxMessage.action_id == Action.id)
        .where(OutboxMessage.id.in_(ids))
        .order_by(OutboxMessage.id)
    ).all()
    lang = campaign.message_lang or campaign.fallback_lang
    texts = message_text(campaign, lang)
    site_name, address = mail.sender()
    with use_language(lang):
        signers = [_signer(action, texts.message, lang) for action in actions]
        count = len(ids)
        subject = ngettext(
            "%(subject)s (%(num)s supporter)", "%(subject)s (%(num)s supporters)", count,
            subject=" ".join((texts.subject or texts.title).split()),
        )  # fmt: skip
        text, html = mail.render(
            "digest", campaign=campaign, texts=texts, target=target, signers=signers,
            count=count, site=site_name or campaign.partner or address, lang=lang,
        )  # fmt: skip
    return OutboxMessage(
        kind="digest",
        status=OutboxStatus.QUEUED,
        dedupe_key=f"digest:{target_id}:{ids[0]}",
        message_id=mail.new_message_id(),
        target_id=target_id,
        sender=[header_safe(site_name or campaign.partner), address],
        recipient_name=header_safe(target.name),
        recipient=header_safe(target.email),
        reply_to=None,
        subject=header_safe(subject),
        text_body=text,
        html_body=html,
        headers={},
    )


def _signer(action: Action, default: str, lang: str) -> Signer:
    if action.erased_at is not None:
        return Signer("", "", "", "")
    return Signer(
        name=action.name,
        union=action.union,
        country=country_name(action.country, lang) if action.country else "",
        added=similarity.added_text(action.message, default, action.personal),
    )
