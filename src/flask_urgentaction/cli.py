"""``flask urgentaction ...``: load campaigns, send mail, report, alert, export, forget."""

from __future__ import annotations

import csv
import json
import signal
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from . import challenge, erasure, links, outbox, reports
from .campaigns import CampaignError, counts, find, load_files, text_in
from .mail import alert_message
from .models import Action, Campaign, OutboxMessage, Subscriber
from .storage import checkpoint, get_session, get_storage, upgrade


@click.group("urgentaction", help="Urgent action campaigns.")
def cli() -> None:
    pass


@cli.group("campaigns", help="Load and list campaigns.")
def campaigns_group() -> None:
    pass


@campaigns_group.command("load")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@with_appcontext
def load_command(files: tuple[str, ...]) -> None:
    """Insert or update campaigns from TOML FILES (by slug), all or none."""
    try:
        saved = load_files(get_session(), files)
    except CampaignError as exc:
        raise click.ClickException(str(exc)) from exc
    for campaign, created in saved:
        click.echo(f"{'created' if created else 'updated'} {campaign.slug} ({campaign.status})")


@campaigns_group.command("list")
@with_appcontext
def list_command() -> None:
    """Show every campaign with its status and count."""
    session = get_session()
    by_id = counts(session)
    rows = session.scalars(select(Campaign).order_by(Campaign.slug)).all()
    if not rows:
        click.echo("No campaigns yet. Load one with: flask urgentaction campaigns load FILE")
    for campaign in rows:
        title = text_in(campaign, campaign.fallback_lang).title
        click.echo(f"{campaign.slug}\t{campaign.status}\t{by_id.get(campaign.id, 0)}\t{title}")


@cli.command("send-mail")
@with_appcontext
def send_mail_command() -> None:
    """Send what is due in the outbox once."""
    click.echo(delivery_summary(outbox.drain()))


def at_time(moment: datetime, now: datetime) -> str:
    """A moment for people, in UTC: the time alone when it is today."""
    moment = moment.astimezone(UTC)
    if moment.date() == now.astimezone(UTC).date():
        return moment.strftime("%H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def delivery_summary(report: outbox.DeliveryReport) -> str:
    """One line: what a drain did, and what still waits and why, e.g.
    ``sent 5, failed 1; 12 waiting: 3 retrying after 451 (next at 14:05 UTC), ...``."""
    done = f"sent {len(report.sent)}, failed {len(report.failed)}"
    groups = reports.waiting(get_session())
    if not groups:
        return f"{done}; nothing waiting"
    now = datetime.now(UTC)
    parts = []
    for group in groups:
        if group.reason == "sending":
            parts.append(f"{group.count} being sent")
            continue
        what = {"new": "not tried yet", "no reply": "retrying, no reply from the server"}.get(
            group.reason, f"retrying after {group.reason}"
        )
        at = group.next_attempt_at
        when = "due now" if at is None or at <= now else f"next at {at_time(at, now)}"
        parts.append(f"{group.count} {what} ({when})")
    return f"{done}; {sum(g.count for g in groups)} waiting: {', '.join(parts)}"


@cli.command("worker")
@click.option("--once", is_flag=True, help="Drain once and stop (like send-mail).")
@with_appcontext
def worker_command(once: bool) -> None:
    """Keep sending the outbox until stopped (SIGTERM or Ctrl-C)."""
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    poll = float(current_app.config["URGENTACTION_WORKER_POLL_SECONDS"])
    # Finish the batch in hand on a stop signal; hand the handlers back after,
    # since the worker may run inside a longer-lived process.
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if not once:
            click.echo("worker: sending the outbox; stop with Ctrl-C")
        while True:
            report = outbox.drain()
            if once or report.sent or report.retrying or report.failed:
                click.echo(delivery_summary(report))
            challenge.prune()
            get_session().close()
            if once or stopping:
                return
            deadline = time.monotonic() + poll
            while not stopping and time.monotonic() < deadline:
                time.sleep(min(0.2, poll))
            if stopping:
                return
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def one_line(text: str) -> str:
    # Multi-line SMTP replies and errors stay on their row of the listing.
    return " ".join(text.split())


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def report_json(report: reports.CampaignReport) -> dict[str, Any]:
    """The stable shape of ``report --json`` (docs/operations.md lists the keys)."""
    return {
        "campaign": report.slug,
        "status": report.status,
        "actions": report.actions,
        "generated_at": iso(report.generated_at),
        "targets": [
            {
                "name": t.name,
                "address": t.address,
                "sent": t.sent,
                "queued_due": t.queued_due,
                "queued_waiting": t.queued_waiting,
                "next_attempt_at": iso(t.next_attempt_at),
                "sending": t.sending,
                "failed": t.failed,
                "last_failure": t.last_failure and asdict(t.last_failure),
                "waiting_because": t.waiting_because and asdict(t.waiting_because),
            }
            for t in report.targets
        ],
        "partners": [{"tag": p.value, "actions": p.actions} for p in report.partners],
        "origins": [{"origin": o.value, "actions": o.actions} for o in report.origins],
    }


def table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[str]:
    """Columns padded to their widest cell; numbers right-aligned."""
    cells = [tuple(str(c) for c in row) for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    numeric = [all(isinstance(row[i], int) for row in rows) for i in range(len(header))]
    return [
        "  ".join(
            c.rjust(w) if numeric[i] and rows else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in cells
    ]


@cli.command("report")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="A JSON object instead of tables.")
@with_appcontext
def report_command(slug: str, as_json: bool) -> None:
    """Delivery per target of campaign SLUG, and its actions per partner tag and origin."""
    session = get_session()
    campaign = find(session, slug)
    if campaign is None:
        raise click.ClickException(f"{slug}: no such campaign")
    report = reports.campaign_report(session, campaign)
    if as_json:
        click.echo(json.dumps(report_json(report), indent=2, ensure_ascii=False))
        return
    now = report.generated_at
    click.echo(f"{report.slug} ({report.status}): {report.actions} actions")
    click.echo("\nMail to the targets (queued: due now / waiting for a retry)")
    rows = [
        (f"{t.name} <{t.address}>", t.sent, t.queued_due, t.queued_waiting, t.sending, t.failed)
        for t in report.targets
    ]
    lines = table(("target", "sent", "due", "waiting", "sending", "failed"), rows)
    click.echo(lines[0])
    for target, line in zip(report.targets, lines[1:], strict=True):
        click.echo(line)
        if target.next_attempt_at is not None:
            because = target.waiting_because
            after = f" (after {one_line(because.reply or because.error)})" if because else ""
            click.echo(f"    next attempt at {at_time(target.next_attempt_at, now)}{after}")
        if target.last_failure is not None:
            failure = target.last_failure
            click.echo(f"    last failure (outbox {failure.outbox_id}): {one_line(failure.reply)}")
            if failure.error and failure.error != failure.reply:
                click.echo(f"      {one_line(failure.error)}")
    for title, tallies in (("partner tag", report.partners), ("origin", report.origins)):
        click.echo(f"\nActions per {title}")
        counted = [(t.value or "(none)", t.actions) for t in tallies]
        for line in table((title, "actions"), counted):
            click.echo(line)


def when_next(entry: reports.OutboxEntry, now: datetime) -> str:
    if entry.status != "queued":
        return "-"
    return "now" if entry.next_attempt_at <= now else at_time(entry.next_attempt_at, now)


@cli.command("outbox")
@click.option("--failed", "failed_only", is_flag=True, help="Only the failed messages.")
@click.option(
    "--retry",
    "retry_ids",
    type=int,
    multiple=True,
    metavar="ID",
    help="Put failed message ID back in the queue, due now (repeatable).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="List at most this many (0: all).",
)
@click.argument("ids", nargs=-1, type=int)
@with_appcontext
def outbox_command(
    failed_only: bool, retry_ids: tuple[int, ...], limit: int, ids: tuple[int, ...]
) -> None:  # fmt: skip
    """List mail not sent yet, oldest first, or retry failed messages:
    `outbox --retry 12 15` (attempts start again at 0)."""
    session = get_session()
    if ids and not retry_ids:
        raise click.UsageError("message ids are taken with --retry ID...")
    if retry_ids:
        outcomes = reports.retry(session, [*retry_ids, *ids])
        for outcome in outcomes:
            if outcome.requeued:
                click.echo(f"{outcome.id}: queued again, due now")
            else:
                click.echo(f"{outcome.id}: not retried: {outcome.reason}", err=True)
        refused = sum(not o.requeued for o in outcomes)
        if refused:
            raise click.ClickException(f"{refused} of {len(outcomes)} not retried")
        return
    listing = reports.outbox_listing(session, failed_only, limit or None)
    if not listing.entries:
        click.echo("No failed messages." if failed_only else "Nothing waiting: all mail is sent.")
        return
    now = datetime.now(UTC)
    rows = [
        (e.id, e.kind, e.recipient, str(e.status), e.attempts,
         when_next(e, now),
         one_line(e.last_reply or e.last_error))
        for e in listing.entries
    ]  # fmt: skip
    for line in table(("id", "kind", "recipient", "status", "attempts", "next", "reply"), rows):
        click.echo(line)
    if listing.total > len(listing.entries):
        click.echo(f"... and {listing.total - len(listing.entries)} more (--limit 0 lists all)")


@cli.command("alert")
@click.argument("slug")
@with_appcontext
def alert_command(slug: str) -> None:
    """Announce campaign SLUG to confirmed subscribers, each in their language."""
    try:
        # Every alert carries links; say what to set before anything is queued.
        links.require()
    except links.LinksUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    session = get_session()
    campaign = find(session, slug)
    if campaign is None or campaign.status != "live":
        raise click.ClickException(f"{slug}: no live campaign with that slug")
    already = set(
        session.scalars(
            select(OutboxMessage.subscriber_id).where(
                OutboxMessage.dedupe_key.like(f"alert:{campaign.id}:%")
            )
        )
    )
    subscribers = session.scalars(
        select(Subscriber).where(Subscriber.status == "confirmed").order_by(Subscriber.id)
    ).all()
    queued = 0
    try:
        for subscriber in subscribers:
            if subscriber.id in already:
                continue
            session.add(alert_message(campaign, subscriber))
            queued += 1
    except RuntimeError as exc:  # e.g. no sender configured
        session.rollback()
        raise click.ClickException(str(exc)) from exc
    session.commit()
    click.echo(f"queued {queued} alerts ({len(already)} sent before)")
    if current_app.config["URGENTACTION_DELIVERY"] == "inline":
        report = outbox.drain()
        click.echo(f"sent {len(report.sent)}, retrying {len(report.retrying)}")


EXPORT_COLUMNS = ("created_at", "name", "email", "union", "country", "lang", "subject",
                  "message", "opt_in", "source_origin", "partner_tag")  # fmt: skip


def spreadsheet_safe(value: str) -> str:
    # A cell starting with = + - @ is a formula to spreadsheet programs.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@cli.command("export")
@click.argument("slug")
@with_appcontext
def export_command(slug: str) -> None:
    """Write campaign SLUG's actions as CSV (with a header row) to stdout."""
    session = get_session()
    campaign = find(session, slug)
    if campaign is None:
        raise click.ClickException(f"{slug}: no such campaign")
    writer = csv.writer(sys.stdout)
    writer.writerow(EXPORT_COLUMNS)
    # Erased actions still count, but have no one in them to export.
    actions = session.scalars(
        select(Action)
        .where(Action.campaign_id == campaign.id, Action.erased_at.is_(None))
        .order_by(Action.id)
    )
    for action in actions:
        row = []
        for column in EXPORT_COLUMNS:
            value = getattr(action, column)
            text = value.isoformat() if column == "created_at" else str(value)
            row.append(spreadsheet_safe(text))
        writer.writerow(row)


@cli.command("forget")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def forget_command(email: str, yes: bool) -> None:
    """Erase what is stored about EMAIL: the personal data of its actions (which
    still count), its subscription, consents and mail; mail not yet sent is not sent."""
    session = get_session()
    person = erasure.find(session, email)
    if person:
        subscription = ", a subscription" if person.subscriber else ""
        summary = f"{len(person.action_ids)} actions{subscription}"
        if not yes:
            click.confirm(f"Erase {summary} of {email}? This cannot be undone.", abort=True)
        erasure.forget(session, person)
        click.echo(f"Erased {summary}.")
        if person.action_ids:
            click.echo("The actions still count, without personal data.")
    else:
        click.echo(f"Nothing is stored about {email}.")
    session.close()
    # Also when nothing was found: a rerun empties a log an earlier run could not.
    if not checkpoint(get_storage().engine):
        click.echo(
            "The database's write-ahead log is in use and keeps older pages until "
            "its next checkpoint; run `forget` again later to empty it."
        )


@cli.command("db-upgrade")
@with_appcontext
def db_upgrade_command() -> None:
    """Bring the database schema up to date (also done on first use)."""
    storage = get_storage()
    upgrade(storage.engine)
    click.echo("database is up to date")
