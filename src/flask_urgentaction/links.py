"""Absolute links for mail (confirm, unsubscribe, "read more"), from a trusted host only.

A link built from the request's ``Host`` header would let anyone who can send
a request choose where the links in our genuine mail point: a confirmation
link to ``http://evil.example/...`` is phishing in our name, and the token in
it reaches that host. So a mailed link comes from Flask's ``SERVER_NAME``
(with ``APPLICATION_ROOT`` and ``PREFERRED_URL_SCHEME``) when it is set, the
same inside and outside a request. Without it, the request's host is used
only when Flask vouches for it (``TRUSTED_HOSTS``: other hosts get 400 before
any view runs) or in debug mode. Otherwise no link is built:
:class:`LinksUnavailable` is raised, and callers check :func:`available`
first to offer nothing they could not mail.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, has_request_context, url_for

EXAMPLE_SETTINGS = (
    "set SERVER_NAME='actions.example.org' (with PREFERRED_URL_SCHEME='https', and "
    "APPLICATION_ROOT if the site is mounted below /)"
)
UNTRUSTED_HOST = (
    "Links in mail are never built from an untrusted Host header: "
    f"{EXAMPLE_SETTINGS}, or TRUSTED_HOSTS=['actions.example.org'] "
    "to build them from requests to those hosts only."
)
NO_SERVER_NAME = (
    "Links in mail sent outside a request (the CLI, a worker) are built from "
    f"SERVER_NAME: {EXAMPLE_SETTINGS}."
)
NOT_CONFIGURED = (
    "flask-urgentaction: neither SERVER_NAME nor TRUSTED_HOSTS is set, so links in mail "
    "cannot be built safely. The opt-in to alerts is not offered and "
    "`flask urgentaction alert` refuses to run. To fix it, "
    f"{EXAMPLE_SETTINGS}; or set TRUSTED_HOSTS=['actions.example.org'] to offer the "
    "opt-in again (alerts still need SERVER_NAME)."
)


class LinksUnavailable(RuntimeError):
    """No trusted host to build an absolute link for mail from, here and now."""


def _trusts_request_host(app: Flask) -> bool:
    # An empty TRUSTED_HOSTS list refuses every request anyway.
    return bool(app.config.get("TRUSTED_HOSTS")) or app.debug


def configured(app: Flask) -> bool:
    """Whether the app's settings let mail links be built at all (start-up check)."""
    return bool(app.config.get("SERVER_NAME")) or _trusts_request_host(app)


def available() -> bool:
    """Whether mail links can be built in the current context."""
    app = current_app
    if app.config.get("SERVER_NAME"):
        return True
    return has_request_context() and _trusts_request_host(app)


def require() -> None:
    """Raise :class:`LinksUnavailable`, saying what to set, unless links can be built."""
    if not available():
        raise LinksUnavailable(UNTRUSTED_HOST if has_request_context() else NO_SERVER_NAME)


def mail_url(endpoint: str, **values: Any) -> str:
    """The absolute URL of ``endpoint`` for a mail; LinksUnavailable without a trusted host."""
    require()
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    config = app.config
    if not config.get("SERVER_NAME"):
        # TRUSTED_HOSTS (checked by Flask before routing) or debug mode.
        return url_for(endpoint, _external=True, **values)
    # Not url_for: inside a request it takes the scheme and script root from
    # the request, so the same link would differ between a page and the CLI.
    adapter = app.url_map.bind(
        config["SERVER_NAME"],
        script_name=config["APPLICATION_ROOT"],
        url_scheme=config["PREFERRED_URL_SCHEME"],
    )
    app.inject_url_defaults(endpoint, values)
    return adapter.build(endpoint, values, force_external=True)


def public_url(endpoint: str, **values: Any) -> str | None:
    """The absolute URL of ``endpoint`` for others to keep: a shared link's preview
    (``og:url``), a feed read by partner sites. Built as mail links are, from a
    trusted host only (shared caches may keep these pages); None without one."""
    return mail_url(endpoint, **values) if available() else None
