"""Moderating published solidarity messages and co-signatures; writing declarations.

The Messages tab is the ``messages`` and ``declarations`` commands in the
browser: approve and reject (all or none, solidarity.moderate and
cosigning.moderate), correct a published message's text (the text as sent stays
for the mail, exports and the access record), and write or translate a
declaration, checked as the campaign's file is (declarations.check).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time
from typing import Any

from flask import Blueprint, abort, flash, redirect, request, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from .. import cosigning, solidarity
from ..campaigns import CampaignError, _moment
from ..declarations import LIMITS as DECLARATION_LIMITS
from ..declarations import TEXT_FIELDS, check
from ..forms import LIMITS
from ..i18n import gettext
from ..models import Action, Campaign, Declaration, MessageStatus
from ..storage import get_session
from ..views.rendering import render
from . import audit, nav
from .access import language
from .campaign import campaign_or_404, page_context

# The filters of the list, in the order of the default listing.
FILTERS = ("pending", "approved", "rejected")


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/campaigns/<slug>/messages", "messages", messages_page)
    bp.add_url_rule("/campaigns/<slug>/messages", "moderate", moderate_messages, methods=["POST"])
    bp.add_url_rule(
        "/campaigns/<slug>/messages/<int:action_id>/edit",
        "edit_message",
        edit_message,
        methods=["GET", "POST"],
    )
    bp.add_url_rule(
        "/campaigns/<slug>/signatures",
        "moderate_signatures",
        moderate_signatures,
        methods=["POST"],
    )
    bp.add_url_rule(
        "/campaigns/<slug>/declarations/new",
        "new_declaration",
        edit_declaration,
        methods=["GET", "POST"],
    )
    bp.add_url_rule(
        "/campaigns/<slug>/declarations/<key>/edit",
        "edit_declaration",
        edit_declaration,
        methods=["GET", "POST"],
    )
    nav.campaign_tab("urgentaction.manage.messages", lambda: gettext("Messages"), "messages")


def status_names() -> dict[MessageStatus, str]:
    return {
        MessageStatus.PENDING: gettext("waiting"),
        MessageStatus.APPROVED: gettext("approved"),
        MessageStatus.REJECTED: gettext("rejected"),
    }


def back(campaign: Campaign, anchor: str = "") -> Response:
    show = request.args.get("show", "")
    return redirect(
        url_for(
            "urgentaction.manage.messages",
            slug=campaign.slug,
            lang=language(),
            show=show if show in FILTERS else None,
            _anchor=anchor or None,
        ),
        303,
    )


# The list, and approving and rejecting.


def messages_page(slug: str) -> tuple[str, int]:
    return listing(campaign_or_404(slug))


def listing(campaign: Campaign, status: int = 200, error: str = "") -> tuple[str, int]:
    lang = language()
    session = get_session()
    show = request.args.get("show", "")
    wanted = [MessageStatus(show)] if show in FILTERS else list(MessageStatus)
    # Those waiting first, then approved, then rejected; each newest first.
    rows = [row for s in wanted for row in solidarity.listing(session, campaign.id, [s])]
    every = cosigning.list_signatures(session, campaign)
    signatures = [(row, key) for s in wanted for row, key in every if row.status is s]
    titles = {d.key: next(iter(d.texts.values()))["title"] for d in campaign.declarations}
    return render(
        "manage/messages.html",
        lang,
        status,
        **page_context(campaign, lang),
        rows=rows,
        show=show if show in FILTERS else "",
        filters=FILTERS,
        message_status_name=status_names(),
        error=error,
        signatures=signatures,
        declaration_titles=titles,
        shown_personal=solidarity.shown_personal,
        shown_message=solidarity.shown_message,
    )


def ids(name: str) -> list[int]:
    found = []
    for value in request.form.getlist(name):
        if not value.strip().isdigit():
            abort(400)
        found.append(int(value))
    return found


def problems_text(problems: dict[int, str]) -> str:
    said = "; ".join(f"{i}: {why}" for i, why in problems.items())
    return gettext("Nothing was changed: %(problems)s", problems=said)


def moderate_messages(slug: str) -> Response | tuple[str, int]:
    return moderate_form(slug, "message", solidarity.moderate, messages_done)


def moderate_signatures(slug: str) -> Response | tuple[str, int]:
    return moderate_form(slug, "signature", cosigning.moderate, signatures_done, "signatures")


def messages_done(approved: int, rejected: int) -> str:
    return gettext(
        "Approved %(approved)s and rejected %(rejected)s messages.",
        approved=approved,
        rejected=rejected,
    )


def signatures_done(approved: int, rejected: int) -> str:
    return gettext(
        "Approved %(approved)s and rejected %(rejected)s co-signatures.",
        approved=approved,
        rejected=rejected,
    )


def moderate_form(
    slug: str, kind: str,
    moderate: Callable[[Session, Campaign, Iterable[int], Iterable[int]], dict[int, MessageStatus]],
    done_text: Callable[[int, int], str], anchor: str = "",
) -> Response | tuple[str, int]:  # fmt: skip
    """Approve and reject the ids the form names (``kind``: message or signature), all
    or none, in the audit log; back to the list saying how many, or why none."""
    campaign = campaign_or_404(slug)
    approve, reject = ids("approve"), ids("reject")
    session = get_session()
    # Added first: moderate commits them with its change, or rolls them back with it.
    if approve:
        audit.record(session, f"{kind}.approve", slug, ids_text(approve))
    if reject:
        audit.record(session, f"{kind}.reject", slug, ids_text(reject))
    try:
        done = moderate(session, campaign, approve, reject)
    except solidarity.ModerationError as exc:
        return listing(campaign, 422, problems_text(exc.problems))
    approved = sum(1 for s in done.values() if s is MessageStatus.APPROVED)
    flash(done_text(approved, len(done) - approved))
    return back(campaign, anchor)


def ids_text(found: list[int]) -> str:
    return "ids " + ", ".join(map(str, found))


# Correcting a published message.


def edit_message(slug: str, action_id: int) -> Response | tuple[str, int]:
    lang = language()
    campaign = campaign_or_404(slug)
    session = get_session()
    action = session.get(Action, action_id)
    if (
        action is None
        or action.campaign_id != campaign.id
        or action.message_status is None
        or action.erased_at is not None
    ):
        abort(404)
    personal = solidarity.shown_personal(action)
    message = solidarity.shown_message(action)
    error = ""
    if request.method == "POST":
        personal = request.form.get("personal", "").replace("\r\n", "\n").strip()
        message = request.form.get("message", "").replace("\r\n", "\n").strip()
        error = text_problem(personal, message)
        if not error:
            solidarity.correct(session, campaign, action_id, personal, message)
            audit.record(session, "message.edit", slug, f"id {action_id}")
            session.commit()
            flash(gettext("Saved the message as it is shown."))
            return back(campaign)
    return render(
        "manage/message_edit.html",
        lang,
        422 if error else 200,
        **page_context(campaign, lang),
        action=action,
        personal=personal,
        message=message,
        error=error,
        limits=LIMITS,
    )


def text_problem(personal: str, message: str) -> str:
    if not message:
        return gettext("The message cannot be empty.")
    for text, limit in ((personal, LIMITS["personal"]), (message, LIMITS["message"])):
        if len(text) > limit:
            return gettext("Please use at most %(max)d characters.", max=limit)
        if "\0" in text:
            return gettext("The text contains a character that cannot be stored.")
    return ""


# Writing and translating declarations.


def declaration_languages(campaign: Campaign, row: Declaration | None) -> list[str]:
    """The languages the form offers: the declaration's own, then the campaign's."""
    codes = list(row.texts) if row is not None else []
    return codes + [code for code in campaign.languages if code not in codes]


def edit_declaration(slug: str, key: str | None = None) -> Response | tuple[str, int]:
    lang = language()
    campaign = campaign_or_404(slug)
    row = None
    if key is not None:
        row = next((d for d in campaign.declarations if d.key == key), None)
        if row is None:
            abort(404)
    codes = declaration_languages(campaign, row)
    values = declaration_values(row, codes)
    error = ""
    if request.method == "POST":
        values = {name: request.form.get(name, "") for name in values}
        values["lang-extra"] = values["lang-extra"].strip()
        try:
            fields = checked_declaration(campaign, row, values, codes)
        except CampaignError as exc:
            problem = f"{exc.key}: {exc.problem}"
            error = gettext("Not saved: %(problem)s", problem=problem)
        else:
            saved = save_declaration(campaign, row, fields)
            audit.record(
                get_session(),
                "declaration.edit",
                slug,
                f"{'new ' if row is None else ''}{saved.key}: languages {', '.join(saved.texts)}",
            )
            get_session().commit()
            flash(gettext("Saved the declaration."))
            return back(campaign, "declarations")
    return render(
        "manage/declaration_edit.html",
        lang,
        422 if error else 200,
        **page_context(campaign, lang),
        declaration=row,
        codes=codes,
        values=values,
        error=error,
        limits=DECLARATION_LIMITS,
        text_fields=TEXT_FIELDS,
    )


def declaration_values(row: Declaration | None, codes: list[str]) -> dict[str, str]:
    """The form's fields, filled from ``row``."""
    values = {
        "id": row.key if row is not None else "",
        "organisation": row.organisation if row is not None else "",
        "country": (row.country or "") if row is not None else "",
        "published": row.published.astimezone(UTC).date().isoformat()
        if row is not None and row.published is not None
        else "",
        "lang-extra": "",
    }
    for code in [*codes, "extra"]:
        texts = row.texts.get(code, {}) if row is not None else {}
        for name in TEXT_FIELDS:
            values[f"{name}-{code}"] = texts.get(name, "")
    return values


def checked_declaration(
    campaign: Campaign, row: Declaration | None, values: dict[str, str], codes: list[str]
) -> dict[str, Any]:
    """The form as a ``[[declarations]]`` entry, checked as the file's are."""

    def fail(where: str, problem: str) -> CampaignError:
        return CampaignError(where.removeprefix("declarations[0]."), problem)

    key = row.key if row is not None else values["id"].strip()
    if row is None and key in {d.key for d in campaign.declarations}:
        raise fail("id", gettext("another declaration of this campaign has it"))
    translations: dict[str, dict[str, str]] = {}
    extra = values["lang-extra"]
    for code, field_code in [*((c, c) for c in codes), (extra, "extra")]:
        texts = {name: values[f"{name}-{field_code}"] for name in TEXT_FIELDS}
        if not any(text.strip() for text in texts.values()):
            continue
        if not code:
            raise fail("translations", gettext("give the other language's code"))
        if code in translations:
            raise fail(f"translations.{code}", gettext("given twice"))
        translations[code] = texts
    entry: dict[str, Any] = {
        "id": key,
        "organisation": values["organisation"],
        "country": values["country"],
        "translations": translations,
    }
    published = values["published"].strip()
    if published:
        entry["published"] = published_moment(row, published)
    (fields,) = check([entry], fail, _moment)
    return fields


def published_moment(row: Declaration | None, day: str) -> datetime | str:
    """The day given, as the moment stored: the one kept when the day is unchanged,
    else its start in UTC (the text as given, for the check to refuse, if no day)."""
    try:
        given = date.fromisoformat(day)
    except ValueError:
        return day
    if row is not None and row.published and row.published.astimezone(UTC).date() == given:
        return row.published
    return datetime.combine(given, time(0, 0), tzinfo=UTC)


def save_declaration(
    campaign: Campaign, row: Declaration | None, fields: dict[str, Any]
) -> Declaration:
    if row is None:
        row = Declaration(
            campaign_id=campaign.id, key=fields["key"], position=len(campaign.declarations)
        )
        campaign.declarations.append(row)
    for name in ("organisation", "country", "published", "texts"):
        setattr(row, name, fields[name])
    return row
