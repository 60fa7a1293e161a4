"""Why mail waits, in words: for the CLI's ``report`` and ``send-mail`` and for the
dashboard's delivery pages alike.

The words are in our translation domain: the CLI, outside any request, gets the
English source text; the dashboard the organiser's language.
"""

from __future__ import annotations

from datetime import UTC, datetime

from .i18n import gettext


def at_time(moment: datetime, now: datetime) -> str:
    """A moment for people, in UTC: the time alone when it is today."""
    moment = moment.astimezone(UTC)
    if moment.date() == now.astimezone(UTC).date():
        return moment.strftime("%H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def held_words(reason: str, until: datetime | None, now: datetime) -> str:
    """Why a target's held mail waits (``reports.TargetDelivery.held_reason``), and
    until when, if that is known."""
    if until is not None:
        at = at_time(until, now)
        timed = {
            "pacing": gettext("paced for the target's inbox; the next goes at its slot (%(at)s)",
                              at=at),
            "hours": gettext("outside the target's hours; they open next (%(at)s)", at=at),
            "digest": gettext("collected for the next digest (%(at)s)", at=at),
        }  # fmt: skip
        if reason in timed:
            return timed[reason]
    return {
        "pacing": gettext("paced for the target's inbox; the next goes at its slot"),
        "hours": gettext("outside the target's hours; they open next"),
        "cap": gettext("the target's cap is reached; raise it to send these"),
        "digest": gettext("collected for the next digest"),
    }.get(reason) or gettext("let out on the next run")


def wait_words(reason: str) -> str:
    """What a group of waiting mail (``reports.WaitGroup.reason``) waits for."""
    words = {
        "new": gettext("not tried yet"),
        "no reply": gettext("retrying, no reply from the server"),
        "pacing": gettext("paced for the targets' inboxes"),
        "hours": gettext("waiting for the targets' hours"),
        "digest": gettext("collected for the next digest"),
        "due": gettext("held, released on the next run"),
        "domains": gettext("alerts paced per recipient domain"),
        "sending": gettext("being sent"),
        "cap": gettext("held by the targets' cap (raise it to send them)"),
    }
    # Otherwise the SMTP code of the last reply, such as 451.
    return words.get(reason) or gettext("retrying after %(code)s", code=reason)
