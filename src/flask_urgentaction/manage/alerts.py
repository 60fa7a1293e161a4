"""Composing, testing and sending an alert to subscribers: the ``alert`` command in
the browser.

The organiser writes an intro per language, chooses the languages and whether
those who acted are left out, then tries it: a dry run (the figures, nothing
written) and a test to their own address. The Send button only comes with a
dry run's figures: its form carries the dry run's inputs and a signed digest of
them, and a Send whose inputs differ from the digest is refused. Sending twice
alerts no one twice (alerts.queue).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from flask import Blueprint, current_app, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from .. import alerts, links, outbox
from ..campaigns import CampaignStatus, effective_status, text_in
from ..i18n import gettext
from ..models import Campaign, OutboxStatus
from ..storage import get_session
from ..tokens import Purpose, TokenError, sign, verify
from ..views.rendering import render
from . import audit, nav
from .access import language, organiser
from .campaign import campaign_or_404, page_context
from .delivery import outbox_status_name

# How long a dry run's Send button stays good.
DRY_RUN_MAX_AGE = 3600
# With inline delivery, alerts sent within the Send request; the worker or
# ``send-mail`` sends the rest (as it sends alerts held by the pace anyway).
SEND_NOW = 200
# What the test address is prefilled with: the organiser's name if it is an address.
ADDRESS_LIKE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# The outbox statuses shown, in the order an alert goes through them.
SHOWN_STATUSES = (
    OutboxStatus.HELD,
    OutboxStatus.QUEUED,
    OutboxStatus.SENDING,
    OutboxStatus.SENT,
    OutboxStatus.FAILED,
    OutboxStatus.BOUNCED,
)


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/campaigns/<slug>/alert", "alert", alert_page)
    bp.add_url_rule("/campaigns/<slug>/alert", "alert_post", alert_post, methods=["POST"])
    nav.campaign_tab("urgentaction.manage.alert", lambda: gettext("Alert"), "alert")


class InputError(ValueError):
    """The form cannot be used as it is; the message says why, translated."""


@dataclass
class Inputs:
    """What the organiser wrote and chose, as typed (to fill the form again)."""

    intros: dict[str, str]
    langs: list[str]
    skip_acted: bool
    test_to: str = ""
    test_lang: str = ""
    # The intros as alerts.check_intros leaves them (filled in by ``check``).
    clean: dict[str, str] = field(default_factory=dict)

    def digest(self, campaign: Campaign) -> str:
        """What a dry run and its Send must agree on."""
        what = [campaign.id, self.clean, sorted(self.langs), self.skip_acted]
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def status_name(status: OutboxStatus) -> str:
    """An alert message's status; an alert is held only by the pace per domain."""
    if status is OutboxStatus.HELD:
        return gettext("held by the pace per domain")
    return outbox_status_name(status)


def blank(campaign: Campaign) -> Inputs:
    name = organiser()
    return Inputs(
        intros=dict.fromkeys(campaign.languages, ""),
        langs=list(campaign.languages),
        skip_acted=False,
        test_to=name if ADDRESS_LIKE.fullmatch(name) else "",
        test_lang=campaign.fallback_lang,
    )


def read_inputs(campaign: Campaign) -> Inputs:
    form = request.form
    return Inputs(
        intros={lang: form.get(f"intro-{lang}", "") for lang in campaign.languages},
        langs=[lang for lang in campaign.languages if lang in form.getlist("lang")],
        skip_acted=form.get("skip_acted") == "1",
        test_to=form.get("test_to", "").strip()[:254],
        test_lang=form.get("test_lang", campaign.fallback_lang),
    )


def check(campaign: Campaign, inputs: Inputs) -> None:
    """Fill in ``inputs.clean``; InputError (or alerts.AlertError) says what is wrong."""
    for lang, intro in inputs.intros.items():
        if len(intro.replace("\r\n", "\n").strip()) > alerts.INTRO_LIMIT:
            raise InputError(
                gettext(
                    "The intro in %(language)s is longer than %(limit)s characters.",
                    language=lang,
                    limit=alerts.INTRO_LIMIT,
                )
            )
    given = {lang: {"intro": intro} for lang, intro in inputs.intros.items() if intro.strip()}
    inputs.clean = alerts.check_intros(given, campaign) if given else {}


def figures(tally: alerts.Tally) -> list[tuple[str, int]]:
    reasons = (
        (gettext("alerted to this campaign before"), tally.alerted_before),
        (gettext("their alert would be in a language not chosen"), tally.other_language),
        (gettext("they acted on this campaign already"), tally.acted),
    )
    return [(why, n) for why, n in reasons if n]


def page(
    campaign: Campaign,
    inputs: Inputs,
    *,
    status: int = 200,
    error: str = "",
    notice: str = "",
    dry: alerts.Tally | None = None,
    token: str = "",
) -> tuple[str, int]:
    lang = language()
    session = get_session()
    state = effective_status(campaign)
    progress = alerts.progress(session, campaign)
    missing: list[str] = []
    if dry is not None:
        missing = [code for code, n in dry.queued.items() if n and code not in inputs.clean]
    return render(
        "manage/alert.html",
        lang,
        status,
        **page_context(campaign, lang),
        inputs=inputs,
        error=error,
        notice=notice,
        dry=dry,
        token=token,
        reasons=figures(dry) if dry is not None else [],
        missing=missing,
        texts={code: text_in(campaign, code) for code in campaign.languages},
        may_send=state is CampaignStatus.LIVE,
        closed=state is CampaignStatus.CLOSED,
        progress=[(status_name(s), progress.get(s, 0)) for s in SHOWN_STATUSES],
        waiting=sum(progress.get(s, 0) for s in (OutboxStatus.HELD, OutboxStatus.QUEUED)),
    )


def alert_page(slug: str) -> tuple[str, int]:
    campaign = campaign_or_404(slug)
    return page(campaign, blank(campaign))


def alert_post(slug: str) -> Response | tuple[str, int]:
    campaign = campaign_or_404(slug)
    inputs = read_inputs(campaign)
    do = request.form.get("do", "")
    if effective_status(campaign) is CampaignStatus.CLOSED:
        return page(
            campaign,
            inputs,
            status=409,
            error=gettext("The campaign is closed: alerts go out for live campaigns only."),
        )
    try:
        check(campaign, inputs)
        if not inputs.langs:
            raise InputError(gettext("Choose at least one language."))
        # Every alert carries links; say what to set before anything is queued.
        links.require()
        if do == "test":
            return send_test(campaign, inputs)
        if do == "send":
            return send(campaign, inputs)
        return dry_run(campaign, inputs)
    except (InputError, alerts.AlertError, links.LinksUnavailable) as exc:
        return page(campaign, inputs, status=422, error=str(exc))
    except alerts.Stopped:
        return page(
            campaign,
            inputs,
            status=503,
            error=gettext("The database failed part-way. Try again: no one gets the alert twice."),
        )


def queue_alert(campaign: Campaign, inputs: Inputs, dry_run: bool = False) -> alerts.Tally:
    """Queue the alert to the confirmed subscribers the choices reach (a dry run and
    Send alike, so Send sends what the dry run counted); ``dry_run``: only count."""
    session = get_session()
    return alerts.queue(
        session,
        campaign,
        alerts.confirmed(session),
        only=tuple(inputs.langs),
        skip_acted=inputs.skip_acted,
        intros=inputs.clean,
        dry_run=dry_run,
    )


def dry_run(campaign: Campaign, inputs: Inputs) -> tuple[str, int]:
    tally = queue_alert(campaign, inputs, dry_run=True)
    token = sign(Purpose.ALERT_SEND, {"c": campaign.id, "d": inputs.digest(campaign)})
    return page(campaign, inputs, dry=tally, token=token)


def send_test(campaign: Campaign, inputs: Inputs) -> tuple[str, int]:
    if inputs.test_lang not in campaign.languages:
        raise InputError(gettext("Choose the language of the test."))
    if not inputs.test_to:
        raise InputError(gettext("Give the address to send the test to."))
    session = get_session()
    try:
        message = alerts.send_test(
            session, campaign, inputs.test_to, inputs.test_lang, inputs.clean
        )
    except RuntimeError as exc:  # e.g. no sender configured
        session.rollback()
        raise InputError(str(exc)) from exc
    audit.record(session, "alert.test", campaign.slug, f"{inputs.test_lang} to {message.recipient}")
    session.commit()
    notice = gettext(
        "A test alert in %(language)s went to %(address)s; no subscriber was alerted.",
        language=inputs.test_lang,
        address=message.recipient,
    )
    return page(campaign, inputs, notice=notice)


def send(campaign: Campaign, inputs: Inputs) -> Response | tuple[str, int]:
    if effective_status(campaign) is not CampaignStatus.LIVE:
        raise InputError(gettext("Alerts go out for live campaigns only."))
    try:
        payload, _age = verify(Purpose.ALERT_SEND, request.form.get("token", ""), DRY_RUN_MAX_AGE)
    except TokenError:
        payload = None
    if payload != {"c": campaign.id, "d": inputs.digest(campaign)}:
        return page(
            campaign,
            inputs,
            status=400,
            error=gettext(
                "Run a dry run of these choices first: Send sends what the last dry run counted."
            ),
        )
    session = get_session()
    try:
        tally = queue_alert(campaign, inputs)
    except RuntimeError as exc:  # e.g. no sender configured
        session.rollback()
        raise InputError(str(exc)) from exc
    # The batches are each their own transaction (alerts.py); this says what they did.
    audit.record(session, "alert.send", campaign.slug, summary(tally, inputs))
    session.commit()
    if current_app.config["URGENTACTION_DELIVERY"] == "inline" and tally.total:
        outbox.deliver(limit=SEND_NOW)
    flash(
        gettext(
            "Queued %(count)s alerts; skipped %(skipped)s.",
            count=tally.total,
            skipped=tally.skipped,
        )
    )
    return redirect(
        url_for(
            "urgentaction.manage.alert", slug=campaign.slug, lang=language(), _anchor="progress"
        ),
        303,
    )


def summary(tally: alerts.Tally, inputs: Inputs) -> str:
    """For the audit log: languages and counts, never an address."""
    queued = ", ".join(f"{code} {n}" for code, n in tally.queued.items() if n) or "none"
    return (
        f"languages {', '.join(inputs.langs)}; queued {tally.total} ({queued}); "
        f"skipped {tally.skipped} ({tally.alerted_before} alerted before, "
        f"{tally.other_language} other language, {tally.acted} acted)"
        + ("; skip acted" if inputs.skip_acted else "")
    )
