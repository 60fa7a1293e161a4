"""``flask urgentaction ...``: load campaigns, send mail, alert, export, forget."""

from __future__ import annotations

import csv
import signal
import sys
import time
from types import FrameType

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from . import challenge, erasure, links, outbox
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
    report = outbox.drain()
    click.echo(
        f"sent {len(report.sent)}, retrying {len(report.retrying)}, failed {len(report.failed)}"
    )


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
                click.echo(
                    f"sent {len(report.sent)}, retrying {len(report.retrying)}, "
                    f"failed {len(report.failed)}"
                )
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
