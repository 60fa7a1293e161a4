"""Who may use the dashboard, and the CSRF check of every change.

There are no accounts of our own: the host app's login decides, through the
callable it registers with ``ua.organiser_check``. The dashboard is
first-party and uses the session cookie, so every POST must carry the session's
CSRF token (Flask-WTF's), whether or not the host set up ``CSRFProtect``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, g, request
from flask_wtf.csrf import generate_csrf, validate_csrf
from werkzeug.wrappers import Response
from wtforms.validators import ValidationError

from ..i18n import gettext
from ..views.lookup import choose_language, site_languages
from ..views.rendering import content_policy, render
from . import nav


def register(bp: Blueprint) -> None:
    bp.before_request(guard)
    bp.after_request(private_headers)
    bp.context_processor(lambda: {"csrf_token": generate_csrf} | nav.context())
    bp.register_error_handler(403, refused)
    bp.register_error_handler(400, bad_request)


def organiser() -> str:
    """The name the host's check gave the organiser of this request ("" if none)."""
    return str(g.get("ua_organiser", ""))


def language() -> str:
    """The organiser's language: ``?lang=``, then the browser's, then English."""
    return choose_language(site_languages(), "en")


def guard() -> Response | None:
    check = current_app.extensions["urgentaction"].extension.organiser_check_function
    if check is None:
        abort(404)  # Off: the host app has not said who is an organiser.
    verdict: Any = check()
    if isinstance(verdict, Response):
        return verdict  # The host's login page, typically.
    if not verdict:
        abort(403)
    g.ua_organiser = verdict if isinstance(verdict, str) else _login_name()
    if request.method == "POST":
        try:
            validate_csrf(request.form.get("csrf_token"))
        except ValidationError:
            abort(400)
    return None


def _login_name() -> str:
    """A name for the audit log when the check returned only ``True``."""
    auth = request.authorization
    if auth is not None and auth.username:
        return auth.username
    # REMOTE_USER is set by the server, never by a request header.
    return str(request.remote_user or "")[:254]


def private_headers(response: Response) -> Response:
    """Organisers' pages hold personal data: never cached, never framed."""
    response.headers["Cache-Control"] = "no-store"
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = content_policy("'none'")
    return response


def refused(_error: Exception) -> tuple[str, int]:
    return render("manage/message.html", language(), 403, title=gettext("Not allowed"),
                  text=gettext("You are not allowed to manage campaigns."))  # fmt: skip


def bad_request(_error: Exception) -> tuple[str, int]:
    return render("manage/message.html", language(), 400, title=gettext("Not saved"),
                  text=gettext("The form had expired. Please go back, reload the page "
                               "and try again."))  # fmt: skip
