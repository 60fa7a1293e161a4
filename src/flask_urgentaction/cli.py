"""``flask urgentaction ...``: load campaigns, send mail, report, alert, export, forget."""

from __future__ import annotations

import json
import mailbox
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from types import FrameType
from typing import Any, TypeVar

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import (
    access,
    alerts,
    bounces,
    challenge,
    cosigning,
    delivery_words,
    domain_pace,
    erasure,
    exports,
    links,
    outbox,
    progress,
    reports,
    retention,
    solidarity,
)
from .campaigns import CampaignError, counts, effective_status, find, load_files, text_in
from .delivery_words import at_time, wait_words
from .models import Campaign, MessageStatus
from .storage import checkpoint, get_session, get_storage, upgrade

Command = TypeVar("Command", bound=Callable[..., Any])


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
        # As it is now: "scheduled" before its opens_at, "closed" from its closes_at.
        status = effective_status(campaign)
        click.echo(f"{campaign.slug}\t{status}\t{by_id.get(campaign.id, 0)}\t{title}")


@cli.command("send-mail")
@with_appcontext
def send_mail_command() -> None:
    """Send what is due in the outbox once."""
    with progress.sending("Sending", progress.due_now(get_session())):
        report = outbox.drain()
    click.echo(delivery_summary(report))


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
        what = wait_words(group.reason)
        if group.reason in ("sending", "cap"):
            parts.append(f"{group.count} {what}")
            continue
        at = group.next_attempt_at
        when = "due now" if at is None or at <= now else f"next at {at_time(at, now)}"
        parts.append(f"{group.count} {what} ({when})")
    return f"{done}; {sum(g.count for g in groups)} waiting: {', '.join(parts)}"


@cli.command("worker")
@click.option("--once", is_flag=True, help="Drain once and stop (like send-mail).")
@click.option("--purge-daily", is_flag=True, help="Also run `purge` at start and once a day.")
@with_appcontext
def worker_command(once: bool, purge_daily: bool) -> None:
    """Keep sending the outbox until stopped (SIGTERM or Ctrl-C)."""
    stopping = False
    next_purge = time.monotonic() if purge_daily else None

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
            if next_purge is not None and time.monotonic() >= next_purge:
                click.echo(run_purge(dry_run=False))
                next_purge = time.monotonic() + 24 * 3600
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
@click.option("--partner", metavar="TAG", help="Count only actions with this partner tag.")
@click.option(
    "--origin", metavar="ORIGIN", help="Count only actions from forms embedded on this origin."
)
@with_appcontext
def report_command(slug: str, as_json: bool, partner: str | None, origin: str | None) -> None:
    """Delivery per target of campaign SLUG, and its actions per partner tag and origin;
    with --partner or --origin, the action figures of that partner's actions alone."""
    session = get_session()
    campaign = find(session, slug)
    if campaign is None:
        raise click.ClickException(f"{slug}: no such campaign")
    only = exports.ActionFilter(partner_tag=partner, origin=origin)
    report = reports.campaign_report(session, campaign, only=only or None)
    if as_json:
        click.echo(reports.report_json_text(report))
        return
    now = report.generated_at
    whole = ""
    if report.only is None:
        click.echo(f"{report.slug} ({report.status}): {report.actions} actions")
    else:
        click.echo(f"{report.slug} ({report.status}): {report.actions} actions "
                   f"{filter_words(report.only)} (of {report.campaign_actions})")  # fmt: skip
        whole = ", the whole campaign"
    click.echo(f"\nMail to the targets{whole} (queued: due now / waiting for a retry)")
    # The columns of delivery rules and bounces only where a target has some.
    extra = [name for name in ("held", "digested", "bounced")
             if any(getattr(t, name) for t in report.targets)]  # fmt: skip
    rows: list[tuple[Any, ...]] = [
        (f"{t.name} <{t.address}>", t.sent, t.queued_due, t.queued_waiting, t.sending, t.failed,
         *(getattr(t, name) for name in extra))
        for t in report.targets
    ]  # fmt: skip
    header = ("target", "sent", "due", "waiting", "sending", "failed", *extra)
    lines = table(header, rows)
    click.echo(lines[0])
    for target, line in zip(report.targets, lines[1:], strict=True):
        click.echo(line)
        if target.held:
            click.echo(f"    held: {held_words(target, now)}")
        if target.next_attempt_at is not None:
            because = target.waiting_because
            after = f" (after {one_line(because.reply or because.error)})" if because else ""
            click.echo(f"    next attempt at {at_time(target.next_attempt_at, now)}{after}")
        if target.last_failure is not None:
            failure = target.last_failure
            click.echo(f"    last failure (outbox {failure.outbox_id}): {one_line(failure.reply)}")
            if failure.error and failure.error != failure.reply:
                click.echo(f"      {one_line(failure.error)}")
        if target.last_bounce is not None:
            bounce = target.last_bounce
            click.echo(f"    last bounce (outbox {bounce.outbox_id}): {one_line(bounce.error)}")
    if report.counted:
        share = report.personal / report.counted
        click.echo(
            f"\nIn their own words: {report.personal} of {report.counted} actions ({share:.0%})"
            " added a personal line or edited the message"
        )
    for group in report.near_duplicates:
        ids = ", ".join(str(i) for i in group.action_ids[:10])
        more = f" and {group.size - 10} more" if group.size > 10 else ""
        click.echo(f"Near copies{whole}: {group.size} actions ({ids}{more}) wrote alike:")
        click.echo(f"    {one_line(group.sample)[:200]}")
    for title, tallies in (("partner tag", report.partners), ("origin", report.origins)):
        click.echo(f"\nActions per {title}")
        counted = [(t.value or "(none)", t.actions) for t in tallies]
        for line in table((title, "actions"), counted):
            click.echo(line)


def filter_words(only: exports.ActionFilter) -> str:
    """``with partner tag "union-site" from https://union.example``, for the report."""
    words = []
    if only.partner_tag is not None:
        words.append(f'with partner tag "{only.partner_tag}"' if only.partner_tag else "untagged")
    if only.origin is not None:
        words.append(f"from {only.origin}" if only.origin else "from no other site")
    return " ".join(words)


def held_words(target: reports.TargetDelivery, now: datetime) -> str:
    """Why a target's held mail waits, for people."""
    return delivery_words.held_words(target.held_reason, target.held_until, now)


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
         # A bounced row's reply is our server's "250 OK"; the bounce is the news.
         one_line(e.last_error if e.status == "bounced" else e.last_reply or e.last_error))
        for e in listing.entries
    ]  # fmt: skip
    for line in table(("id", "kind", "recipient", "status", "attempts", "next", "reply"), rows):
        click.echo(line)
    if listing.total > len(listing.entries):
        click.echo(f"... and {listing.total - len(listing.entries)} more (--limit 0 lists all)")


@cli.command("alert")
@click.argument("slug")
@click.option(
    "--dry-run", is_flag=True,
    help="Say how many would be queued, per language, and who is skipped and why; queue nothing.",
)  # fmt: skip
@click.option(
    "--test-to", metavar="EMAIL",
    help="Send one alert to EMAIL only, its subject marked [TEST], in the first --lang "
    "(or the campaign's fallback language); no subscriber gets one.",
)  # fmt: skip
@click.option(
    "--lang", "langs", multiple=True, metavar="XX",
    help="Only subscribers whose alert is in this language of the campaign (repeatable).",
)  # fmt: skip
@click.option("--skip-acted", is_flag=True, help="Leave out subscribers who acted on it already.")
@click.option(
    "--intro-file", type=click.Path(dir_okay=False),
    help='A TOML file with an intro per language, put above the summary: [en] intro = "..."',
)  # fmt: skip
@with_appcontext
def alert_command(
    slug: str, dry_run: bool, test_to: str | None, langs: tuple[str, ...], skip_acted: bool,
    intro_file: str | None,
) -> None:  # fmt: skip
    """Announce campaign SLUG to confirmed subscribers, each in their language, once.

    Try it first: `--dry-run` counts who would get it, `--test-to EMAIL` sends you
    one. A run that stopped half-way queues the rest when run again."""
    if dry_run and test_to is not None:
        raise click.UsageError("--dry-run sends nothing; leave it out to send the test")
    try:
        # Every alert carries links; say what to set before anything is queued.
        links.require()
    except links.LinksUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    session = get_session()
    campaign = find(session, slug)
    if campaign is None:
        raise click.ClickException(f"{slug}: no live campaign with that slug")
    # A draft may be counted, or tried on the organiser, before it opens; so may a
    # campaign before its opens_at. One past its closes_at is closed.
    status = effective_status(campaign)
    if status == "closed" or (status != "live" and not (dry_run or test_to is not None)):
        raise click.ClickException(
            f"{slug}: the campaign is {status}; alerts go out for live campaigns only"
            + (" (--dry-run and --test-to work on a draft)" if status != "closed" else "")
        )
    try:
        only = alerts.languages(campaign, langs)
        intros = alerts.read_intros(intro_file, campaign) if intro_file else {}
        if test_to is not None:
            send_test_alert(campaign, test_to, only[0] if only else campaign.fallback_lang, intros)
            return
        label = "Counting" if dry_run else "Writing alerts"
        total = alerts.count_confirmed(session)
        with progress.counting(alerts.confirmed(session), label, total) as subscribers:
            tally = alerts.queue(
                session, campaign, subscribers, only=only, skip_acted=skip_acted, intros=intros,
                dry_run=dry_run,
            )  # fmt: skip
    except alerts.AlertError as exc:
        raise click.ClickException(str(exc)) from exc
    except alerts.Stopped as exc:
        done = alert_summary(exc.tally, dry_run)
        raise click.ClickException(
            f"stopped by a database error ({one_line(str(exc.__cause__))[:500]}) after: {done}. "
            "Run the same command again: it queues the rest, and no one twice."
        ) from exc
    except RuntimeError as exc:  # e.g. no sender configured
        session.rollback()
        raise click.ClickException(str(exc)) from exc
    click.echo(alert_summary(tally, dry_run))
    missing = [lang for lang, n in tally.queued.items() if n and intros and lang not in intros]
    if missing:
        click.echo(f"no intro in {', '.join(missing)}: those alerts begin with the title")
    if pace := pace_note(tally):
        click.echo(pace)
    if not dry_run and current_app.config["URGENTACTION_DELIVERY"] == "inline":
        with progress.sending("Sending", progress.due_now(session)):
            report = outbox.drain()
        click.echo(delivery_summary(report))


def alert_summary(tally: alerts.Tally, dry_run: bool) -> str:
    """One line, e.g. ``queued 3 alerts (en 2, de 1); skipped 2 (2 alerted before)``."""
    languages = ", ".join(f"{lang} {n}" for lang, n in tally.queued.items() if n)
    queued = f"{tally.total} alerts" + (f" ({languages})" if languages else "")
    reasons = (
        (tally.alerted_before, "alerted before"),
        (tally.other_language, "not in --lang"),
        (tally.acted, "acted on this campaign"),
    )
    why = ", ".join(f"{n} {reason}" for n, reason in reasons if n)
    skipped = f"skipped {tally.skipped}" + (f" ({why})" if why else "")
    if dry_run:
        return f"dry run: would queue {queued}; {skipped}"
    return f"queued {queued}; {skipped}"


def pace_note(tally: alerts.Tally) -> str | None:
    """How long the pace per domain makes the domain with the most alerts wait."""
    rate = domain_pace.per_hour()
    if rate is None or not tally.domains:
        return None
    domain, most = tally.domains.most_common(1)[0]
    minutes = round(domain_pace.spread(most, rate).total_seconds() / 60)
    if minutes < 1:
        took = "within a minute"
    else:
        took = "over about " + (f"{minutes // 60} h {minutes % 60} min" if minutes >= 120
                                else f"{minutes} min")  # fmt: skip
    return f"paced at {rate} an hour per recipient domain: the most go to {domain} ({most}), {took}"


def send_test_alert(campaign: Campaign, address: str, lang: str, intros: dict[str, str]) -> None:
    """Send the organiser the alert in ``lang`` now, and say what the server answered."""
    # Not sent: AlertError says why (the caller makes it the command's error).
    message = alerts.send_test(get_session(), campaign, address, lang, intros)
    shown = text_in(campaign, lang).lang
    if message.status == "sending":  # a worker took it first
        click.echo(f"a worker is sending the test alert to {message.recipient}")
        return
    click.echo(
        f"sent a test alert in {shown} to {message.recipient} ({one_line(message.last_reply)}); "
        "no subscriber was alerted"
    )
    status = effective_status(campaign)
    if status != "live":
        shown = "a draft" if status == "draft" else status  # or "scheduled" (before opens_at)
        click.echo(f"{campaign.slug} is {shown}: its link works once it is live")


def since_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return exports.parse_since(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date (2026-03-01) or a time") from exc


def write_out(chunks: Iterable[str]) -> None:
    """Write ``chunks`` to stdout as they come; a reader that stops early
    (``| head``) ends the export quietly."""
    try:
        for chunk in chunks:
            sys.stdout.write(chunk)
        sys.stdout.flush()
    except BrokenPipeError:
        # As Python's documentation advises: nothing more to write, and the
        # flush at exit must not fail again on the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


@cli.command("export")
@click.argument("slug")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl", "osdi"]),
    default="csv",
    show_default=True,
    help="CSV with a header row, JSON Lines, or OSDI signatures (HAL+JSON).",
)
@click.option("--partner", metavar="TAG", help='Only actions with this partner tag ("": none).')
@click.option(
    "--origin",
    metavar="ORIGIN",
    help='Only actions from forms embedded on this origin ("": the own pages).',
)
@click.option(
    "--since",
    metavar="DATE",
    callback=since_option,
    help="Only actions taken at or after DATE (ISO 8601; UTC unless it says otherwise).",
)
@with_appcontext
def export_command(
    slug: str, fmt: str, partner: str | None, origin: str | None, since: datetime | None
) -> None:
    """Write campaign SLUG's actions to stdout, oldest first, streamed; erased
    actions are left out. The columns and shapes: docs/operations.md."""
    session = get_session()
    campaign = find(session, slug)
    if campaign is None:
        raise click.ClickException(f"{slug}: no such campaign")
    rows = exports.action_rows(session, campaign.id, exports.ActionFilter(partner, origin, since))
    if fmt == "osdi":
        write_out(exports.osdi_document(rows, campaign.slug))
    elif fmt == "jsonl":
        write_out(exports.jsonl_lines(rows))
    else:
        write_out(exports.actions_csv(rows))


@cli.group("subscribers", help="Export the people who subscribed to alerts.")
def subscribers_group() -> None:
    pass


@subscribers_group.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl"]),
    default="csv",
    show_default=True,
    help="CSV (one row a subscriber, its newest consent) or JSON Lines (every consent).",
)
@click.option(
    "--include-unsubscribed", is_flag=True, help="Also those who unsubscribed, with when."
)
@with_appcontext
def subscribers_export_command(fmt: str, include_unsubscribed: bool) -> None:
    """Write the confirmed subscribers with their language, consents and times to
    stdout, streamed."""
    records = exports.subscriber_records(get_session(), include_unsubscribed)
    if fmt == "jsonl":
        write_out(exports.jsonl_lines(records))
    else:
        write_out(exports.subscribers_csv(records))


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
        bounce = ", a bounce-list entry" if person.bounce else ""
        signed = f", {len(person.signature_ids)} co-signatures" if person.signature_ids else ""
        summary = f"{len(person.action_ids)} actions{subscription}{bounce}{signed}"
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


@cli.command("person")
@click.argument("email")
@with_appcontext
def person_command(email: str) -> None:
    """Print everything stored about EMAIL as JSON (an access request): actions,
    mail, subscription and consents, bounces; nothing about anyone else."""
    record = access.person_record(get_session(), email)
    click.echo(json.dumps(record, indent=2, ensure_ascii=False))
    if not access.found(record):
        click.echo(f"Nothing is stored about {email}.", err=True)


def run_purge(dry_run: bool) -> str:
    """Apply the retention settings (retention.py) and say what went, in one line."""
    session = get_session()
    cutoffs = retention.Cutoffs.configured()
    if dry_run:
        planned = retention.plan(session, cutoffs)
        return f"purge --dry-run: {retention.summary(planned, cutoffs, dry_run=True)}"
    purged = retention.purge(session, cutoffs)
    session.close()
    line = f"purge: {retention.summary(purged, cutoffs, dry_run=False)}"
    # Also when nothing went: a rerun empties a log an earlier run could not.
    if not checkpoint(get_storage().engine):
        line += "; the write-ahead log is in use, run `purge` again later to empty it"
    return line


@cli.command("purge")
@click.option("--dry-run", is_flag=True, help="Only say what would be erased.")
@with_appcontext
def purge_command(dry_run: bool) -> None:
    """Erase personal data older than URGENTACTION_RETENTION_DAYS (actions, which
    still count) and mail content older than URGENTACTION_SENT_MAIL_RETENTION_DAYS."""
    click.echo(run_purge(dry_run))


@cli.command("db-upgrade")
@with_appcontext
def db_upgrade_command() -> None:
    """Bring the database schema up to date (also done on first use)."""
    storage = get_storage()
    upgrade(storage.engine)
    click.echo("database is up to date")


@cli.group("bounces", help="Take in bounces; list and clear addresses that bounced.")
def bounces_group() -> None:
    pass


def open_mailbox(path: str) -> mailbox.Mailbox[Any]:
    """A Maildir (a directory: its new/ and cur/ are read) or an mbox file."""
    if os.path.isdir(path):
        return mailbox.Maildir(path, factory=None, create=False)
    return mailbox.mbox(path, create=False)


def mailbox_keys(box: mailbox.Mailbox[Any], path: str) -> list[str]:
    try:
        return list(box.keys())
    except OSError as exc:  # a directory without new/ and cur/
        raise click.ClickException(f"{path}: not a Maildir or an mbox file ({exc})") from exc


@bounces_group.command("read")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--delete", is_flag=True, help="Remove the delivery reports read (others stay).")
@with_appcontext
def bounces_read_command(paths: tuple[str, ...], delete: bool) -> None:
    """Read delivery-status notifications from Maildir directories or mbox files
    PATHS: mark bounced messages and list addresses that bounced for good."""
    session = get_session()
    total, messages, not_reports = bounces.Summary(), 0, 0
    for path in paths:
        box = open_mailbox(path)
        if delete:
            box.lock()
        try:
            taken = []
            for key in mailbox_keys(box, path):
                messages += 1
                found = bounces.parse(box.get_bytes(key))
                if not found:
                    not_reports += 1
                    continue
                total.add(bounces.apply(session, found, "dsn"))
                taken.append(key)
            if delete:
                for key in taken:
                    box.remove(key)
                box.flush()
        finally:
            if delete:
                box.unlock()
            box.close()
    parts = [
        f"{total.hard} hard bounces ({len(total.addresses)} addresses)",
        f"{total.delayed} delayed",
        f"{not_reports} not a delivery report",
    ]
    extra = (
        (total.soft, "failed for now (address kept)"),
        (total.forged, "forged"),
        (total.unknown, "about mail not sent from here"),
        (total.other, "not a failure"),
    )
    parts += [f"{count} {what}" for count, what in extra if count]
    click.echo(f"read {messages} messages: {', '.join(parts)}")


@bounces_group.command("list")
@with_appcontext
def bounces_list_command() -> None:
    """Show the addresses nothing is sent to, because they bounced for good."""
    listed = bounces.listed(get_session())
    if not listed:
        click.echo("No address has bounced.")
        return
    now = datetime.now(UTC)
    rows = [
        (b.address, b.status, at_time(b.last_at, now), b.count, b.source, one_line(b.diagnostic))
        for b in listed
    ]
    for line in table(("address", "status", "last", "count", "from", "diagnostic"), rows):
        click.echo(line)


@bounces_group.command("clear")
@click.argument("address")
@with_appcontext
def bounces_clear_command(address: str) -> None:
    """Send to ADDRESS again (it was fixed); messages refused meanwhile stay failed."""
    session = get_session()
    if not bounces.clear(session, address):
        raise click.ClickException(f"{address} is not on the bounce list")
    click.echo(f"{address}: cleared; mail to it is sent again")
    refused = bounces.refused_since(session, address)
    if refused:
        ids = " ".join(str(i) for i in refused)
        click.echo(
            f"{len(refused)} messages were not sent to it; to send them: outbox --retry {ids}"
        )


# Published solidarity messages (solidarity.py).


def campaign_or_fail(session: Session, slug: str) -> Campaign:
    campaign = find(session, slug)
    if campaign is None:
        raise click.ClickException(f"{slug}: no such campaign")
    return campaign


def moderation_options(approve_help: str, reject_help: str) -> Callable[[Command], Command]:
    """The options of the ``messages`` and ``declarations`` commands alike."""
    options = (
        click.option("--approve", "approve_ids", type=int, multiple=True, metavar="ID",
                     help=approve_help),
        click.option("--reject", "reject_ids", type=int, multiple=True, metavar="ID",
                     help=reject_help),
        click.option("--pending", "pending_only", is_flag=True, help="List only those waiting."),
    )  # fmt: skip

    def add(command: Command) -> Command:
        # The last applied is listed first in --help, as with stacked decorators.
        for option in reversed(options):
            command = option(command)
        return command

    return add


def moderate_ids(
    moderate: Callable[[Session, Campaign, Iterable[int], Iterable[int]], dict[int, MessageStatus]],
    campaign: Campaign, approve_ids: tuple[int, ...], reject_ids: tuple[int, ...],
) -> None:  # fmt: skip
    """Approve and reject messages or signatures by id, all or none (solidarity's and
    cosigning's ``moderate``): print each new status, or why nothing changed."""
    try:
        done = moderate(get_session(), campaign, approve_ids, reject_ids)
    except solidarity.ModerationError as exc:
        for item_id, why in exc.problems.items():
            click.echo(f"{item_id}: {why}", err=True)
        raise click.ClickException("nothing was changed") from exc
    for item_id, status in done.items():
        click.echo(f"{item_id}: {status}")


@cli.command("messages")
@click.argument("slug")
@moderation_options(
    approve_help="Show message ID on the campaign's pages and feed (repeatable).",
    reject_help="Never show message ID; takes an approved one down (repeatable).",
)
@with_appcontext
def messages_command(
    slug: str, approve_ids: tuple[int, ...], reject_ids: tuple[int, ...], pending_only: bool
) -> None:
    """Moderate the messages supporters of campaign SLUG asked to publish: list them
    (newest first), or approve and reject them by ID, all or none."""
    session = get_session()
    campaign = campaign_or_fail(session, slug)
    if approve_ids or reject_ids:
        moderate_ids(solidarity.moderate, campaign, approve_ids, reject_ids)
        if not pending_only:
            return
    if not campaign.publish_messages:
        click.echo(f"{slug} does not publish messages: add [messages] publish = true to it")
    statuses = [MessageStatus.PENDING] if pending_only else None
    rows = solidarity.listing(session, campaign.id, statuses)
    if not rows:
        click.echo("No messages waiting." if pending_only else "No messages to publish yet.")
        return
    now = datetime.now(UTC)
    table_rows: list[tuple[Any, ...]] = [
        (row.id, at_time(row.created_at, now), str(row.message_status), row.name, row.union,
         row.country, row.lang, one_line(solidarity.teaser(
             f"{row.personal} {row.message}" if row.personal else row.message, 60, 1)))
        for row in rows
    ]  # fmt: skip
    header = ("id", "date", "status", "name", "union", "country", "lang", "teaser")
    for line in table(header, table_rows):
        click.echo(line)


# Co-signatures of declarations (cosigning.py).


@cli.command("declarations")
@click.argument("slug")
@moderation_options(
    approve_help="Show signature ID under its declaration (repeatable).",
    reject_help="Never show signature ID; takes an approved one down (repeatable).",
)
@with_appcontext
def declarations_command(
    slug: str, approve_ids: tuple[int, ...], reject_ids: tuple[int, ...], pending_only: bool
) -> None:
    """Moderate the co-signatures of campaign SLUG's declarations: list them (newest
    first), or approve and reject them by ID, all or none."""
    session = get_session()
    campaign = campaign_or_fail(session, slug)
    if approve_ids or reject_ids:
        moderate_ids(cosigning.moderate, campaign, approve_ids, reject_ids)
        if not pending_only:
            return
    if not campaign.declarations:
        click.echo(f"{slug} has no declarations: add [[declarations]] to it")
    rows = cosigning.list_signatures(session, campaign, pending=pending_only)
    if not rows:
        click.echo("No signatures waiting." if pending_only else "No signatures yet.")
        return
    now = datetime.now(UTC)
    table_rows: list[tuple[Any, ...]] = [
        (row.id, at_time(row.created_at, now), str(row.status), key, row.name, row.union,
         row.country, row.lang)
        for row, key in rows
    ]  # fmt: skip
    header = ("id", "date", "status", "declaration", "name", "union", "country", "lang")
    for line in table(header, table_rows):
        click.echo(line)
