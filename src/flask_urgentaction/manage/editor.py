"""Creating and editing a campaign and its translations, in the browser.

Every form is turned into the campaign's definition (the shape of its TOML
file) and checked by ``campaigns.validate`` alone, then stored by
``campaigns.save``, as ``flask urgentaction campaigns load`` does: the
campaign's targets are kept by address, its count and its declarations as
they are. The slug names the campaign for good: it is chosen when the
campaign is created and never changed here.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, request, url_for
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from ..campaign_files import definition, dumps, parse
from ..campaigns import (
    TEXT_FIELDS,
    CampaignError,
    CampaignSnapshot,
    CampaignStatus,
    count_actions,
    find,
    save,
    text_in,
    validate,
)
from ..countries import country_name
from ..i18n import gettext, language_name
from ..markdown import render_markdown
from ..models import Campaign, utcnow
from ..storage import get_session
from ..tokens import Purpose, sign
from ..views.lookup import campaign_language, matched_language, site_languages
from ..views.rendering import campaign_share_meta, new_form, render
from . import audit, campaign_form, nav
from .access import language
from .campaign import campaign_or_404, page_context
from .campaign_form import Form
from .home import status_name

# Inputs of each page, where an error about them is shown.
SETTINGS_INPUTS = (*campaign_form.SETTINGS, "publish",
                   *(f"delivery-{k}" for k in campaign_form.DELIVERY))  # fmt: skip
NEW_INPUTS = ("slug", "status", "lang", *SETTINGS_INPUTS, *TEXT_FIELDS)
# Pasted or uploaded campaign files, at most (a campaign with long texts in many
# languages is well under it).
MAX_FILE_CHARS = 2_000_000


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/new", "new_campaign", new_campaign, methods=["GET", "POST"])
    bp.add_url_rule("/import", "import_campaign", import_campaign, methods=["GET", "POST"])
    bp.add_url_rule("/campaigns/<slug>/edit", "edit_campaign", edit_campaign,
                    methods=["GET", "POST"])  # fmt: skip
    bp.add_url_rule("/campaigns/<slug>/translations/<code>", "translation", translation,
                    methods=["GET", "POST"])  # fmt: skip
    bp.add_url_rule("/campaigns/<slug>/add-language", "add_language", add_language)
    bp.add_url_rule("/campaigns/<slug>/translations/<code>/remove", "remove_language",
                    remove_language, methods=["POST"])  # fmt: skip
    bp.add_url_rule("/campaigns/<slug>/status", "campaign_status", set_status, methods=["POST"])
    bp.add_url_rule("/campaigns/<slug>/preview", "preview", preview)
    bp.add_url_rule("/campaigns/<slug>/preview/widget", "preview_widget", preview_widget)
    bp.add_url_rule("/campaigns/<slug>/export.toml", "export_toml", export_toml)
    nav.campaign_tab("urgentaction.manage.edit_campaign", lambda: gettext("Edit"), "edit")


def _see(endpoint: str, **values: Any) -> Response:
    """After a change: back to a page to GET (303)."""
    return Response(status=303, headers={"Location": url_for(endpoint, **values)})


def _labels() -> dict[str, str]:
    """The inputs' labels, for the list of errors at the top of a form."""
    return {
        "slug": gettext("Slug"), "status": gettext("Status"), "lang": gettext("Language"),
        "partner": gettext("Partner"), "goal": gettext("Goal"),
        "privacy_url": gettext("Privacy statement"),
        "allowed_origins": gettext("Websites allowed to embed it"),
        "message_lang": gettext("Language of the message to the targets"),
        "image": gettext("Picture"), "opens_at": gettext("Opens at"),
        "closes_at": gettext("Closes at"), "countries": gettext("Countries"),
        "publish": gettext("Supporters may ask to publish their message"),
        "delivery-per_target_per_hour": gettext("Messages per target per hour, at most"),
        "delivery-cap": gettext("Messages per target, at most"),
        "delivery-hours": gettext("Sending hours"),
        "delivery-timezone": gettext("Time zone of the sending hours"),
        "delivery-mode": gettext("Mail to the targets"),
        "title": gettext("Title"), "summary": gettext("Summary"), "body": gettext("Body"),
        "subject": gettext("Subject"), "message": gettext("Message"),
        "image_alt": gettext("Picture description"),
    }  # fmt: skip


def _target_label(name: str) -> str:
    _, row, part = name.split("-", 2)
    what = {"name": gettext("Name"), "email": gettext("Email"),
            "timezone": gettext("Time zone")}.get(part, part)  # fmt: skip
    return gettext("Target %(number)s: %(field)s", number=int(row) + 1, field=what)


def _form_context(form: Form) -> dict[str, Any]:
    labels = _labels()
    summary = [
        (name, labels.get(name) or _target_label(name), problem)
        for name, problem in form.errors.items()
    ]
    return {
        "form": None,  # The public pages' action form: none here.
        "f": form,
        "values": form.values,
        "error_summary": summary,
        "labels": labels,
        "empty_rows": campaign_form.EMPTY_TARGET_ROWS,
        "site_languages": site_languages(),
    }


def _store(
    data: dict[str, Any],
    form: Form,
    shown: tuple[str, ...],
    text_lang: str = "",
    new: bool = False,
) -> tuple[Campaign, list[str]] | None:
    """Check and save ``data`` in a transaction not yet committed: the campaign and
    which of its fields changed, or None with ``form`` holding the error."""
    session = get_session()
    try:
        clean = validate(data)
    except CampaignError as exc:
        form.fail(exc, shown, text_lang)
        return None
    existing = find(session, clean["slug"])
    if new and existing is not None:
        form.errors["slug"] = gettext("Another campaign has this slug already: choose another.")
        return None
    before = definition(existing) if existing is not None else {}
    campaign, _created = save(session, clean)
    try:
        session.flush()
    except IntegrityError:  # Created by someone else a moment ago.
        session.rollback()
        form.errors["slug"] = gettext("Another campaign has this slug already: choose another.")
        return None
    return campaign, campaign_form.changed(before, definition(campaign))


def _changes_text(names: list[str]) -> str:
    """The audit log's detail: the names of the fields, as in the campaign file."""
    return "changed: " + ", ".join(names)


def _commit_edit(slug: str, names: list[str], saved: str) -> None:
    """Commit an edit that changed fields ``names``, with its audit entry, and say
    ``saved``; an edit that changed nothing is not logged (and nothing committed)."""
    if names:
        session = get_session()
        audit.record(session, "campaign.edit", slug, _changes_text(names))
        session.commit()
        flash(saved)
    else:
        flash(gettext("Nothing was changed."))


def new_campaign() -> Response | tuple[str, int]:
    lang = language()
    form = campaign_form.from_definition({"slug": ""}, "")
    form.values["lang"] = "en"
    preview_html = None
    status = 200
    if request.method == "POST":
        campaign_form.read_settings(request.form, form)
        campaign_form.read_texts(request.form, form)
        for name in ("slug", "status", "lang"):
            form.values[name] = request.form.get(name, "").strip()
        if "preview" in request.form:
            preview_html = render_markdown(form.values["body"])
        elif not form.values["lang"]:
            form.errors["lang"] = gettext("required")
            status = 422
        else:
            data: dict[str, Any] = {"slug": form.values["slug"], "status": form.values["status"]}
            campaign_form.apply_settings(data, form)
            campaign_form.apply_texts(data, form, form.values["lang"])
            stored = _store(data, form, NEW_INPUTS, form.values["lang"], new=True)
            if stored is not None:
                campaign, _names = stored
                session = get_session()
                detail = "languages: " + ", ".join(campaign.languages)
                audit.record(session, "campaign.create", campaign.slug, detail)
                session.commit()
                flash(gettext("The campaign was created as %(status)s.",
                              status=status_name(CampaignStatus(campaign.status))))  # fmt: skip
                return _see("urgentaction.manage.edit_campaign", slug=campaign.slug, lang=lang)
            status = 422
    return render("manage/new_campaign.html", lang, status, preview_html=preview_html,
                  **_form_context(form))  # fmt: skip


def edit_campaign(slug: str) -> Response | tuple[str, int]:
    lang = language()
    campaign = campaign_or_404(slug)
    data = definition(campaign)
    form = campaign_form.from_definition(data)
    status = 200
    if request.method == "POST":
        campaign_form.read_settings(request.form, form)
        campaign_form.apply_settings(data, form)
        stored = _store(data, form, SETTINGS_INPUTS)
        if stored is not None:
            _commit_edit(slug, stored[1], gettext("The campaign was saved."))
            return _see("urgentaction.manage.edit_campaign", slug=slug, lang=lang)
        status = 422
        get_session().rollback()
        campaign = campaign_or_404(slug)
    return render("manage/edit_campaign.html", lang, status, **_edit_context(campaign, lang),
                  **_form_context(form))  # fmt: skip


def _edit_context(campaign: Campaign, lang: str, add_error: str = "",
                  add_value: str = "") -> dict[str, Any]:  # fmt: skip
    snippet = (
        f'<div data-urgentaction="{campaign.slug}" data-lang="{campaign.fallback_lang}"></div>\n'
        f'<script src="{url_for("urgentaction.widget", _external=True)}" async></script>'
    )
    return {
        **page_context(campaign, lang),
        "fallback": campaign.fallback_lang,
        "add_error": add_error,
        "add_value": add_value,
        "snippet": snippet,
        "message_langs": [(code, language_name(code)) for code in campaign.languages],
    }


def _new_language_problem(campaign: Campaign, code: str) -> str | None:
    """Why ``code`` cannot be added to the campaign (validate's word), or None."""
    data = definition(campaign)
    data["translations"] = {**data["translations"], code: {}}
    try:
        validate(data)
    except CampaignError as exc:
        if exc.key.startswith(f"translations.{code}") or exc.key == "translations":
            return campaign_form.problem_text(exc.problem)
    return None


def add_language(slug: str) -> Response | tuple[str, int]:
    """The translation page for a language the campaign does not have yet (a GET
    form: nothing is stored until the translation is saved)."""
    lang = language()
    campaign = campaign_or_404(slug)
    code = request.args.get("code", "").strip()[:35]
    problem = gettext("required") if not code else _new_language_problem(campaign, code)
    if code in campaign.languages:
        problem = None
    if problem is None:
        return _see("urgentaction.manage.translation", slug=slug, lang=lang, code=code)
    form = campaign_form.from_definition(definition(campaign))
    return render("manage/edit_campaign.html", lang, 422,
                  **_edit_context(campaign, lang, add_error=problem, add_value=code),
                  **_form_context(form))  # fmt: skip


def translation(slug: str, code: str) -> Response | tuple[str, int]:
    """One language's texts beside the fallback language's. ``code`` is the
    language edited; the page itself is in the organiser's (``?lang=``)."""
    lang = language()
    campaign = campaign_or_404(slug)
    if code not in campaign.languages and _new_language_problem(campaign, code) is not None:
        abort(404)
    data = definition(campaign)
    form = campaign_form.from_definition(data, code)
    preview_html = None
    status = 200
    if request.method == "POST":
        campaign_form.read_texts(request.form, form)
        if "preview" in request.form:
            preview_html = render_markdown(form.values["body"])
        else:
            campaign_form.apply_texts(data, form, code)
            stored = _store(data, form, TEXT_FIELDS, code)
            if stored is not None:
                _commit_edit(slug, stored[1], gettext("The translation was saved."))
                return _see("urgentaction.manage.translation", slug=slug, code=code, lang=lang)
            status = 422
            get_session().rollback()
            campaign = campaign_or_404(slug)
    source = text_in(campaign, campaign.fallback_lang)
    return render("manage/translation.html", lang, status, **page_context(campaign, lang),
                  code=code, fallback=campaign.fallback_lang, source=source,
                  is_new=code not in campaign.languages, preview_html=preview_html,
                  **_form_context(form))  # fmt: skip


def remove_language(slug: str, code: str) -> Response:
    lang = language()
    campaign = campaign_or_404(slug)
    if code not in campaign.languages:
        abort(404)
    if code == campaign.fallback_lang:
        flash(gettext("The fallback language cannot be removed."))
        return _see("urgentaction.manage.edit_campaign", slug=slug, lang=lang)
    data = definition(campaign)
    del data["translations"][code]
    form = Form()
    stored = _store(data, form, ())
    if stored is None:
        get_session().rollback()
        flash(gettext("The language was not removed: %(problem)s",
                      problem=" ".join(form.general or list(form.errors.values()))))  # fmt: skip
        return _see("urgentaction.manage.edit_campaign", slug=slug, lang=lang)
    session = get_session()
    audit.record(session, "campaign.edit", slug, _changes_text([f"translations.{code}"]))
    session.commit()
    flash(gettext("The language was removed."))
    return _see("urgentaction.manage.edit_campaign", slug=slug, lang=lang)


def set_status(slug: str) -> Response:
    """Open (a draft or a closed campaign) or close it. A status change needs no
    other check: a campaign can always be closed, whatever else it holds."""
    lang = language()
    campaign = campaign_or_404(slug)
    new = request.form.get("status", "")
    if new not in ("live", "closed"):
        abort(400)
    old = campaign.status
    if new != old:
        session = get_session()
        campaign.status = new
        campaign.updated_at = utcnow()
        audit.record(session, "campaign.status", slug, f"{old} → {new}")
        session.commit()
        flash(gettext("The campaign is open.") if new == "live"
              else gettext("The campaign is closed."))  # fmt: skip
    return _see("urgentaction.manage.edit_campaign", slug=slug, lang=lang)


def preview(slug: str) -> tuple[str, int]:
    """The public campaign page of any campaign, drafts too, as a supporter sees
    it in the language asked for; its form cannot be sent from here."""
    snapshot = CampaignSnapshot.of(campaign_or_404(slug))
    lang = campaign_language(snapshot, request.args.get("lang", ""))
    texts = text_in(snapshot, lang)
    form = new_form(snapshot, texts) if snapshot.takes_actions else None
    return render(
        "manage/preview.html", lang, campaign=snapshot, texts=texts, form=form,
        count=count_actions(get_session(), snapshot.id), closed_on="",
        share_meta=campaign_share_meta(snapshot, texts), share=[],
        declarations=[(d, d.text_in(lang)) for d in snapshot.declarations],
        country_name=country_name, preview=True,
    )  # fmt: skip


def preview_widget(slug: str) -> tuple[str, int]:
    """The embed widget of any campaign, drafts too, in the language asked for, as
    a partner website gets it: the same script, with a token (valid an hour) that
    lets the API show this campaign though it is not public. Nothing can be sent."""
    campaign = campaign_or_404(slug)
    shown = matched_language(CampaignSnapshot.of(campaign), request.args.get("lang", ""))
    lang = language()
    return render("manage/preview_widget.html", lang, **page_context(campaign, lang),
                  shown=shown, token=sign(Purpose.PREVIEW, slug))  # fmt: skip


def export_toml(slug: str) -> Response:
    campaign = campaign_or_404(slug)
    return Response(
        dumps(campaign),
        mimetype="application/toml",
        headers={"Content-Disposition": f'attachment; filename="{slug}.toml"'},
    )


def import_campaign() -> Response | tuple[str, int]:
    """A campaign file pasted or uploaded: created, or updated by its slug."""
    lang = language()
    text, problems = "", []
    if request.method == "POST":
        upload = request.files.get("file")
        raw = upload.read(MAX_FILE_CHARS + 1) if upload and upload.filename else b""
        text = request.form.get("text", "")
        try:
            if raw:
                text = raw.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(gettext("The file is not UTF-8 text."))
        if not problems and len(text) > MAX_FILE_CHARS:
            problems.append(gettext("The file is too large."))
        if not problems and not text.strip():
            problems.append(gettext("Paste a campaign file or choose one to upload."))
        if not problems:
            try:
                clean = parse(text)
            except CampaignError as exc:
                problems.append(f"{exc.key}: {campaign_form.problem_text(exc.problem)}")
            else:
                session = get_session()
                existing = find(session, clean["slug"])
                before = definition(existing) if existing is not None else {}
                campaign, created = save(session, clean)
                session.flush()
                names = campaign_form.changed(before, definition(campaign))
                detail = "created" if created else _changes_text(names)
                audit.record(session, "campaign.import", campaign.slug, detail)
                session.commit()
                flash(gettext("The campaign was created.") if created
                      else gettext("The campaign was updated."))  # fmt: skip
                return _see("urgentaction.manage.edit_campaign", slug=campaign.slug, lang=lang)
    return render("manage/import.html", lang, 422 if problems else 200, text=text,
                  problems=problems)  # fmt: skip
