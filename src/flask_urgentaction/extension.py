"""The Flask extension object and its configuration defaults."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask

from . import links
from .campaign_cache import CampaignCache
from .ratelimit import KeyFunction, KeyFunctionT, RateLimiter
from .storage import Storage, close_session, default_url

# True, an organiser's name, or a response such as the host's login redirect.
OrganiserCheck = Callable[[], Any]
OrganiserCheckT = TypeVar("OrganiserCheckT", bound=OrganiserCheck)

DEFAULTS: dict[str, Any] = {
    "URGENTACTION_URL_PREFIX": "/actions",
    "URGENTACTION_DATABASE_URL": None,  # None: a SQLite file in the instance folder
    "URGENTACTION_SENDER": None,  # None: MAIL_DEFAULT_SENDER
    "URGENTACTION_DELIVERY": "inline",  # or "worker"
    "URGENTACTION_ALLOWED_ORIGINS": "*",
    "URGENTACTION_LANGUAGES": None,  # None: every shipped translation
    "URGENTACTION_MIN_FILL_SECONDS": 3,
    "URGENTACTION_TOKEN_MAX_AGE": 7 * 24 * 3600,
    "URGENTACTION_CHALLENGE_MAX_AGE": 2 * 3600,
    "URGENTACTION_RATE_LIMIT": "10 per minute",
    "URGENTACTION_RATE_LIMIT_STORAGE_URI": None,  # None: the extension's database
    "URGENTACTION_SMTP_TIMEOUT": 30,
    # How long a worker holds a message it is about to send; a send ends within it.
    "URGENTACTION_LEASE_SECONDS": 180,
    "URGENTACTION_RETRY_BASE_SECONDS": 60,
    "URGENTACTION_RETRY_MAX_SECONDS": 6 * 3600,
    "URGENTACTION_MAX_ATTEMPTS": 12,
    "URGENTACTION_WORKER_POLL_SECONDS": 5,
    # Alerts to one recipient domain (gmail.com, ...): at most this many an hour,
    # spread evenly (domain_pace.py); None: as fast as the outbox sends.
    "URGENTACTION_ALERT_PER_DOMAIN_PER_HOUR": 3600,
    "URGENTACTION_ALERT_BATCH": 500,  # subscribers per transaction when alerts are queued
    # Bodies our routes read. Every field at its length limit, each character
    # written as 12 bytes (%F0%9F%98%80), still fits, with room to spare.
    "URGENTACTION_MAX_BODY_BYTES": 128 * 1024,
    # "bounces@lists.example.org": each message's envelope sender becomes
    # bounces+<signed token>@lists.example.org, so a bounce names its message.
    "URGENTACTION_RETURN_PATH": None,
    # The key a mail provider signs its bounce webhook calls with; None: no webhook.
    "URGENTACTION_BOUNCE_WEBHOOK_SECRET": None,
    # purge: supporters' personal data in actions older than this goes (docs/privacy.md).
    "URGENTACTION_RETENTION_DAYS": 730,
    # purge: the content of mail sent (or failed, bounced) longer ago than this goes;
    # a month leaves time to answer a target's query and to retry a failure.
    "URGENTACTION_SENT_MAIL_RETENTION_DAYS": 30,
    # The privacy statement linked from the form of a campaign that names none.
    "URGENTACTION_PRIVACY_URL": None,
}


@dataclass
class State:
    """What the extension keeps per app, in ``app.extensions["urgentaction"]``."""

    extension: UrgentAction
    storage: Storage
    limiter: RateLimiter
    # The host's Flask-WTF CSRFProtect our blueprints are exempt from (csrf.py).
    csrf_exempted: Any = None
    campaigns: CampaignCache = field(default_factory=CampaignCache)


class RedactTokens(logging.Filter):
    """Keep confirm and unsubscribe tokens out of access logs."""

    pattern = re.compile(r"/(confirm|unsubscribe)/[^\s?\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(
                self.pattern.sub(r"/\1/[token]", a) if isinstance(a, str) else a
                for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = self.pattern.sub(r"/\1/[token]", record.msg)
        return True


class UrgentAction:
    """Urgent action campaigns for a Flask app.

    ``UrgentAction(app)`` or, with an app factory, ``ua = UrgentAction()`` and
    later ``ua.init_app(app)``.
    """

    def __init__(self, app: Flask | None = None) -> None:
        self.rate_limit_key_function: KeyFunction | None = None
        self.organiser_check_function: OrganiserCheck | None = None
        if app is not None:
            self.init_app(app)

    def rate_limit_key(self, func: KeyFunctionT) -> KeyFunctionT:
        """Register the function that names the client a submission counts against.

        It is called in the request and returns a string; the default is the
        client address. Only a keyed hash of it is stored. Usable as a decorator;
        it applies to every app this object is registered on.
        """
        self.rate_limit_key_function = func
        return func

    def organiser_check(self, func: OrganiserCheckT) -> OrganiserCheckT:
        """Register who may use the organisers' dashboard under ``/manage/``.

        Until this is called the dashboard answers 404. ``func`` is called in
        each dashboard request, after the host app's own login has run: a false
        value refuses (403), a response (the host's login redirect) is returned
        as it is, and a string is taken as the organiser's name for the audit
        log. Usable as a decorator; it applies to every app this object is on.
        """
        self.organiser_check_function = func
        return func

    def init_app(self, app: Flask) -> None:
        if "urgentaction" in app.extensions:
            raise RuntimeError("UrgentAction is already registered on this app.")
        for key, value in DEFAULTS.items():
            app.config.setdefault(key, value)
        if not app.config.get("SECRET_KEY"):
            raise RuntimeError("UrgentAction needs SECRET_KEY to sign its tokens.")
        privacy_url = app.config["URGENTACTION_PRIVACY_URL"]
        if privacy_url and urlsplit(str(privacy_url)).scheme not in ("http", "https"):
            # Shown on partner sites too, where a relative link would point elsewhere.
            raise RuntimeError("URGENTACTION_PRIVACY_URL must be an absolute http(s) URL.")
        if not links.configured(app):
            # A warning, not an error: the pages and the targets' mail still work.
            app.logger.warning(links.NOT_CONFIGURED)

        if "mail" not in app.extensions:
            from flask_mail import Mail

            Mail(app)

        url = app.config["URGENTACTION_DATABASE_URL"] or default_url(app)
        limiter = RateLimiter(
            app.config["URGENTACTION_RATE_LIMIT"],
            app.config["URGENTACTION_RATE_LIMIT_STORAGE_URI"],
        )
        app.extensions["urgentaction"] = State(self, Storage(url), limiter)
        app.teardown_appcontext(close_session)

        from .cli import cli
        from .csrf import exempt_from_host_csrf
        from .views import blueprint

        app.register_blueprint(blueprint, url_prefix=app.config["URGENTACTION_URL_PREFIX"])
        app.cli.add_command(cli)
        exempt_from_host_csrf(app)

        werkzeug_log = logging.getLogger("werkzeug")
        if not any(isinstance(f, RedactTokens) for f in werkzeug_log.filters):
            werkzeug_log.addFilter(RedactTokens())
