"""Delivery per target and the outbox as a whole, with retry.

The figures are those of ``flask urgentaction report``, ``outbox`` and ``bounces
list`` (reports.py, bounces.py), and the words for why mail waits those of
delivery_words.py; a retry is ``outbox --retry`` and a clear ``bounces clear``,
each recorded in the audit log in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from babel.dates import format_timedelta
from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from .. import bounces, reports
from ..delivery_words import at_time, held_words, wait_words
from ..i18n import gettext, locale_of, ngettext
from ..models import OutboxMessage, OutboxStatus
from ..storage import get_session
from ..views.rendering import render
from . import audit, nav
from .access import language
from .campaign import campaign_or_404, page_context

# Failed messages listed on a campaign's page; "retry all" takes the rest too.
SHOWN = 200
# Messages retried per statement: well under every database's limit of parameters.
RETRY_CHUNK = 500
# Refusals of a retry said one by one; the rest are counted.
REFUSALS_SAID = 10


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/campaigns/<slug>/delivery", "delivery", delivery)
    bp.add_url_rule("/campaigns/<slug>/delivery/retry", "delivery_retry", retry,
                    methods=["POST"])  # fmt: skip
    bp.add_url_rule("/outbox", "outbox", outbox_page)
    bp.add_url_rule("/outbox/bounces/clear", "bounce_clear", clear_bounce, methods=["POST"])
    nav.campaign_tab("urgentaction.manage.delivery", lambda: gettext("Delivery"), "delivery")
    nav.section("urgentaction.manage.outbox", lambda: gettext("Outbox"), "outbox")


def outbox_status_name(status: str) -> str:
    """An outbox status in the organiser's language."""
    names: dict[str, str] = {
        OutboxStatus.HELD: gettext("held"),
        OutboxStatus.QUEUED: gettext("queued"),
        OutboxStatus.SENDING: gettext("sending"),
        OutboxStatus.SENT: gettext("sent"),
        OutboxStatus.FAILED: gettext("failed"),
        OutboxStatus.BOUNCED: gettext("bounced"),
        OutboxStatus.DIGESTED: gettext("digested"),
    }
    return names.get(status, status)


def sending_note() -> str:
    """What happens to mail put back in the queue, as this site sends it."""
    config = current_app.config
    if config["URGENTACTION_DELIVERY"] == "worker":
        seconds = int(float(config["URGENTACTION_WORKER_POLL_SECONDS"]))
        return gettext("Retried mail is queued; the worker sends it within %(seconds)s s.",
                       seconds=seconds)  # fmt: skip
    return gettext(
        "Retried mail is queued; this site sends mail as actions are taken, so nothing "
        "sends it until “flask urgentaction send-mail” or the worker runs."
    )


def delivery(slug: str) -> tuple[str, int]:
    lang = language()
    campaign = campaign_or_404(slug)
    session = get_session()
    report = reports.campaign_report(session, campaign)
    failed = reports.outbox_listing(session, failed_only=True, limit=SHOWN,
                                    campaign_id=campaign.id)  # fmt: skip
    by_address: dict[str, list[reports.OutboxEntry]] = defaultdict(list)
    for entry in failed.entries:
        by_address[entry.recipient].append(entry)
    now = report.generated_at

    def held_text(target: reports.TargetDelivery) -> str:
        return held_words(target.held_reason, target.held_until, now)

    return render(
        "manage/delivery.html", lang, **page_context(campaign, lang), report=report,
        failed=failed, failed_to=by_address, held_text=held_text,
        at_time=lambda moment: at_time(moment, now), sending_note=sending_note(),
        outbox_status_name=outbox_status_name,
        any_failed=any(t.failed for t in report.targets),
    )  # fmt: skip


def _posted_ids() -> list[int]:
    try:
        return [int(value) for value in request.form.getlist("id")]
    except ValueError:
        abort(400)


def retry(slug: str) -> Response:
    """Retry one message, a target's failed mail, or the campaign's."""
    language()  # the flashed summary's
    campaign = campaign_or_404(slug)
    session = get_session()
    scope = request.form.get("scope", "")
    if scope == "message":
        ids = _posted_ids()
        foreign = set(ids) - reports.campaign_messages(session, campaign.id, ids)
        # Another campaign's mail is not retried from this one's page (a missing
        # one is left to retry, which says so).
        if foreign and session.scalar(
            select(OutboxMessage.id).where(OutboxMessage.id.in_(foreign))
        ):
            abort(404)
    elif scope == "target":
        ids = reports.failed_ids(session, campaign.id, request.form.get("target", ""))
    elif scope == "campaign":
        ids = reports.failed_ids(session, campaign.id)
    else:
        abort(400)
    outcomes: list[reports.RetryOutcome] = []
    for start in range(0, len(ids), RETRY_CHUNK):
        outcomes += reports.retry(session, ids[start : start + RETRY_CHUNK], commit=False)
    requeued = [o.id for o in outcomes if o.requeued]
    if requeued:
        audit.record(session, "outbox.retry", campaign.slug,
                     "ids " + " ".join(str(i) for i in requeued))  # fmt: skip
    session.commit()
    _say(outcomes)
    return redirect(url_for(".delivery", slug=campaign.slug, lang=request.args.get("lang")), 303)


def _say(outcomes: list[reports.RetryOutcome]) -> None:
    """Flash what a retry did, message by message (the refusals, up to a few)."""
    if not outcomes:
        flash(gettext("There was no failed mail to retry."))
        return
    requeued = [str(o.id) for o in outcomes if o.requeued]
    if requeued:
        shown = ", ".join(requeued[:20]) + (" …" if len(requeued) > 20 else "")
        flash(ngettext("%(num)s message queued again: %(ids)s.",
                       "%(num)s messages queued again: %(ids)s.", len(requeued), ids=shown)
              + " " + sending_note())  # fmt: skip
    refused = [o for o in outcomes if not o.requeued]
    for outcome in refused[:REFUSALS_SAID]:
        flash(gettext("Message %(id)s was not retried: %(why)s.", id=outcome.id,
                      why=_refusal(outcome)))  # fmt: skip
    if len(refused) > REFUSALS_SAID:
        more = len(refused) - REFUSALS_SAID
        flash(ngettext("%(num)s more message was not retried.",
                       "%(num)s more messages were not retried.", more))  # fmt: skip


def _refusal(outcome: reports.RetryOutcome) -> str:
    if outcome.refusal == "status":
        return gettext("it is %(status)s, not failed", status=outcome_status(outcome))
    return {
        "missing": gettext("it no longer exists (a forgotten person's unsent mail is deleted)"),
        "erased": gettext("its content was erased at the person's request; "
                          "there is nothing left to send"),
        "changed": gettext("it changed meanwhile"),
    }.get(outcome.refusal) or outcome.reason  # fmt: skip


def outcome_status(outcome: reports.RetryOutcome) -> str:
    return outbox_status_name(outcome.status)


def outbox_page() -> tuple[str, int]:
    lang = language()
    session = get_session()
    now = datetime.now(UTC)
    totals = reports.status_totals(session)
    oldest = reports.oldest_due(session, now)
    age = None
    if oldest is not None:
        age = format_timedelta(now - oldest, locale=locale_of(lang))
    return render(
        "manage/outbox.html", lang, totals=[(s, totals.get(s, 0)) for s in OutboxStatus],
        total=sum(totals.values()), groups=reports.waiting(session), oldest=oldest,
        oldest_age=age, bounce_list=bounces.listed(session), now=now,
        outbox_status_name=outbox_status_name, wait_words=wait_words,
    )  # fmt: skip


def clear_bounce() -> Response:
    """Take an address off the bounce list, as ``bounces clear`` does."""
    language()  # the flashed summary's
    session = get_session()
    address = request.form.get("address", "")[:254]
    if bounces.clear(session, address, commit=False):
        refused = bounces.refused_since(session, address)
        audit.record(session, "bounce.clear", "", address)
        session.commit()
        flash(gettext("%(address)s is off the bounce list; mail to it is sent again.",
                      address=address))  # fmt: skip
        if refused:
            flash(ngettext(
                "%(num)s message was not sent to it meanwhile; retry it on its campaign's "
                "Delivery tab.",
                "%(num)s messages were not sent to it meanwhile; retry them on their "
                "campaign's Delivery tab.", len(refused)))  # fmt: skip
    else:
        session.rollback()
        flash(gettext("%(address)s is not on the bounce list.", address=address))
    return redirect(url_for(".outbox", lang=request.args.get("lang")), 303)
