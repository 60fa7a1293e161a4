"""Our routes beside the host app's Flask-WTF ``CSRFProtect``.

``CSRFProtect(app)`` wants a token from the session on every POST of the app.
Our POSTs bring their own proof, and most of them never see that session:

- the page form and the iframe embed carry the signed, campaign-bound,
  single-use spam-check token in WTForms' CSRF slot (``forms.ChallengeCSRF``),
  and a form POST must come from our own pages or a listed origin
  (``origins.form_post_allowed``); a third-party iframe gets no session cookie;
- the JSON API uses no cookies at all, so a cross-site request has no login of
  the visitor's to borrow; origins are checked and the challenge is required;
- the confirm and unsubscribe buttons are first-party, but the signed token in
  their URL is the proof: only the mail's recipient has it, and a POST can do
  only what that mail offered. RFC 8058 one-click unsubscribe is a POST from
  the mail provider, which never has the visitor's session.

So these blueprints are exempted, whichever of the two extensions the host set
up first. Only they are: the host's routes, and any later blueprint of ours that
relies on a session (the organisers' dashboard), stay protected.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

from .views import blueprint
from .views.api import api
from .views.embed import embed

# Flask-WTF compares ``current_app.blueprints[request.blueprint]`` with what was
# exempted, and a nested blueprint is its own entry there: each one is listed.
SELF_PROTECTED = (blueprint, embed, api)


def exempt_from_host_csrf(app: Flask) -> None:
    """Exempt our blueprints now if ``CSRFProtect`` is set up, else on each request.

    The hook is registered here, inside ``init_app``, so it runs before the
    check of a ``CSRFProtect(app)`` that comes later: app-level
    ``before_request`` functions run in the order they were registered.
    """
    _exempt(app)
    app.before_request(_exempt_current_app)


def _exempt_current_app() -> None:
    _exempt(current_app)


def _exempt(app: Flask) -> None:
    csrf: Any = app.extensions.get("csrf")
    state = app.extensions["urgentaction"]
    # Two dictionary look-ups per request once done.
    if csrf is None or csrf is state.csrf_exempted:
        return
    exempt = getattr(csrf, "exempt", None)
    if callable(exempt):
        for bp in SELF_PROTECTED:
            exempt(bp)
    state.csrf_exempted = csrf
