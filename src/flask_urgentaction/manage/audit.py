"""The audit log: every change made in the dashboard, who made it and when."""

from __future__ import annotations

from flask import Blueprint, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..i18n import gettext
from ..models import AuditEntry
from ..storage import get_session
from ..views.rendering import render
from .access import language, organiser

# Entries on the log page, the newest first.
SHOWN = 200


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/audit", "audit", audit_log)


def record(session: Session, action: str, campaign_slug: str = "", detail: str = "") -> None:
    """Add an entry to the caller's transaction, so it stands or falls with the change."""
    session.add(
        AuditEntry(who=organiser(), action=action, campaign_slug=campaign_slug,
                   detail=detail[:2000])
    )  # fmt: skip


def entries(session: Session, campaign_slug: str = "", limit: int = SHOWN) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if campaign_slug:
        query = query.where(AuditEntry.campaign_slug == campaign_slug)
    return list(session.scalars(query))


def action_name(action: str) -> str:
    """What an entry's verb means, in the organiser's language."""
    names = {
        "campaign.create": gettext("created the campaign"),
        "campaign.edit": gettext("edited the campaign"),
        "campaign.import": gettext("imported the campaign from TOML"),
        "campaign.status": gettext("changed the campaign's status"),
        "outbox.retry": gettext("retried mail"),
        "bounce.clear": gettext("took an address off the bounce list"),
        "alert.test": gettext("sent a test alert"),
        "alert.send": gettext("sent an alert"),
        "message.approve": gettext("approved a message"),
        "message.reject": gettext("rejected a message"),
        "message.edit": gettext("edited a message"),
        "declaration.edit": gettext("edited a declaration"),
        "signature.approve": gettext("approved a co-signature"),
        "signature.reject": gettext("rejected a co-signature"),
    }
    return names.get(action, action)


def audit_log() -> tuple[str, int]:
    lang = language()
    slug = request.args.get("campaign", "")[:100]
    shown = entries(get_session(), slug)
    return render("manage/audit.html", lang, entries=shown, campaign_slug=slug,
                  action_name=action_name)  # fmt: skip
