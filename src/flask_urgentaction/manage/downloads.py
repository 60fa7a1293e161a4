"""Every export of a campaign's data, as a download: the same bytes as the CLI's.

A campaign's actions (CSV, JSON Lines, OSDI) with the filters of ``export``,
its report as ``report --json`` prints it, and the subscribers (a section of
its own: they are shared by every campaign). Downloads are GET links that
stream, row by row, what exports.py writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from flask import Blueprint, abort, request, stream_with_context
from werkzeug.wrappers import Response

from .. import clock, exports, reports
from ..i18n import gettext
from ..storage import get_session
from ..views.rendering import render
from .access import language
from .campaign import campaign_or_404, page_context
from .nav import campaign_tab, section

# Each format: the file's extension and its media type.
ACTION_FORMATS = {
    "csv": ("csv", "text/csv; charset=utf-8"),
    "jsonl": ("jsonl", "application/jsonl"),
    "osdi": ("osdi.json", "application/hal+json"),
}
SUBSCRIBER_FORMATS = {key: ACTION_FORMATS[key] for key in ("csv", "jsonl")}

# A partner or origin filter in the form: "" is any, ":" none, ":TAG" that one
# (a prefix, so no tag can be mistaken for "any" or "none").
ANY = ""
EXACT = ":"


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/campaigns/<slug>/exports", "exports", exports_page)
    bp.add_url_rule("/campaigns/<slug>/exports/actions", "export_actions", download_actions)
    bp.add_url_rule("/campaigns/<slug>/exports/report.json", "export_report", download_report)
    bp.add_url_rule("/subscribers/export", "subscribers", subscribers_page)
    bp.add_url_rule("/subscribers/export/download", "export_subscribers", download_subscribers)
    campaign_tab("urgentaction.manage.exports", lambda: gettext("Exports"), "exports")
    section("urgentaction.manage.subscribers", lambda: gettext("Subscribers"), "subscribers")


def download(chunks: Iterable[str], filename: str, media_type: str) -> Response:
    """``chunks`` streamed as an attachment named ``filename``, encoded as they come."""
    encoded = (chunk.encode("utf-8") for chunk in chunks)
    response = Response(stream_with_context(encoded), content_type=media_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def file_name(*parts: str, extension: str) -> str:
    """``example-mine-strike-actions-2026-12-02.csv``: the day (UTC) it was made."""
    return "-".join([*parts, clock.now().date().isoformat()]) + "." + extension


def chosen(name: str) -> str | None:
    """A filter's value from the query: None for any, else the exact value."""
    value = request.args.get(name, ANY)
    return value[len(EXACT) :] if value.startswith(EXACT) else None


def action_filter() -> exports.ActionFilter:
    since = request.args.get("since", "").strip()
    try:
        moment = exports.parse_since(since) if since else None
    except ValueError:
        abort(404)  # the form's date field sends only dates
    return exports.ActionFilter(chosen("partner"), chosen("origin"), moment)


def exports_page(slug: str) -> tuple[str, int]:
    lang = language()
    campaign = campaign_or_404(slug)
    context = page_context(campaign, lang)
    partners, origins = reports.action_tallies(get_session(), campaign.id)
    return render("manage/exports.html", lang, **context, partners=partners, origins=origins,
                  chosen=request.args, EXACT=EXACT)  # fmt: skip


def download_actions(slug: str) -> Response:
    campaign = campaign_or_404(slug)
    fmt = request.args.get("format", "csv")
    if fmt not in ACTION_FORMATS:
        abort(404)
    extension, media_type = ACTION_FORMATS[fmt]
    rows = exports.action_rows(get_session(), campaign.id, action_filter())
    chunks: Iterator[str]
    if fmt == "osdi":
        chunks = exports.osdi_document(rows, campaign.slug)
    elif fmt == "jsonl":
        chunks = exports.jsonl_lines(rows)
    else:
        chunks = exports.actions_csv(rows)
    return download(chunks, file_name(campaign.slug, "actions", extension=extension), media_type)


def download_report(slug: str) -> Response:
    """``report --json``: for the whole campaign, or its actions with a partner tag
    or from an origin."""
    campaign = campaign_or_404(slug)
    only = exports.ActionFilter(chosen("partner"), chosen("origin"))
    report = reports.campaign_report(get_session(), campaign, only=only or None)
    text = reports.report_json_text(report) + "\n"  # as click.echo ends it
    filename = file_name(campaign.slug, "report", extension="json")
    return download([text], filename, "application/json")


def subscribers_page() -> tuple[str, int]:
    return render("manage/subscribers_export.html", language())


def download_subscribers() -> Response:
    fmt = request.args.get("format", "csv")
    if fmt not in SUBSCRIBER_FORMATS:
        abort(404)
    extension, media_type = SUBSCRIBER_FORMATS[fmt]
    unsubscribed = request.args.get("include_unsubscribed") == "1"
    records = exports.subscriber_records(get_session(), unsubscribed)
    chunks = exports.jsonl_lines(records) if fmt == "jsonl" else exports.subscribers_csv(records)
    return download(chunks, file_name("subscribers", extension=extension), media_type)
