"""The demo site: a host app with flask-urgentaction mounted, plus a mail viewer.

Run it with ``scripts/demo.sh``, or by hand::

    python examples/demo/mailcatcher.py --port 1025 --dir examples/demo/mailbox &
    flask --app examples/demo/app.py urgentaction campaigns load \\
        examples/demo/campaigns/*.toml
    flask --app examples/demo/app.py demo seed-messages
    flask --app examples/demo/app.py run

All mail goes to the local catcher; ``/mailbox/`` shows what it caught.
"""

from __future__ import annotations

import email
import email.policy
import hmac
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any, NamedTuple

import click
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.cli import AppGroup
from flask_wtf.csrf import generate_csrf, validate_csrf
from markupsafe import Markup, escape
from sqlalchemy import select
from wtforms.validators import ValidationError

from flask_urgentaction import UrgentAction, solidarity
from flask_urgentaction.models import Campaign
from flask_urgentaction.storage import get_session

HERE = Path(__file__).resolve().parent

# DEMO ONLY. This key is public, so anyone can forge this demo's signed tokens.
# A real site must set its own secret (here: the SECRET_KEY environment variable).
DEMO_SECRET_KEY = "demo-only-insecure-key-do-not-use-in-production"

# Written by mailcatcher.py at the top of every stored message.
ENVELOPE_TO = "X-Envelope-To"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create the demo app.

    ``config`` overrides any setting after the demo's defaults are in place, so
    tests can point the app elsewhere: ``MAIL_PORT`` at their own SMTP server,
    ``DEMO_MAILBOX_DIR`` at their own mailbox, ``URGENTACTION_DATABASE_URL`` at
    their own database. The extra key ``INSTANCE_PATH`` replaces the instance
    folder (where the default SQLite database lives).
    """
    overrides = dict(config or {})
    instance_path = Path(overrides.pop("INSTANCE_PATH", HERE / "instance"))
    app = Flask(
        __name__,
        # Explicit, so the app finds its templates however this file was imported.
        root_path=str(HERE),
        instance_path=str(instance_path.resolve()),
    )
    port = os.environ.get("PORT", "5000")
    app.config.from_mapping(
        SECRET_KEY=os.environ.get("SECRET_KEY") or DEMO_SECRET_KEY,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=int(os.environ.get("DEMO_SMTP_PORT", "1025")),
        MAIL_DEFAULT_SENDER="Demo Solidarity Network <actions@network.example>",
        # Links in mail sent outside a request (`flask urgentaction alert`, the
        # worker) are built from this. Flask 3.1 still serves other host names.
        SERVER_NAME=os.environ.get("DEMO_SERVER_NAME", f"127.0.0.1:{port}"),
        DEMO_MAILBOX_DIR=os.environ.get("DEMO_MAILBOX_DIR", str(HERE / "mailbox")),
        DEMO_CAMPAIGNS_DIR=str(HERE / "campaigns"),
    )
    app.config.update(overrides)
    # The extension keeps its SQLite database here by default.
    os.makedirs(app.instance_path, exist_ok=True)

    ua = UrgentAction(app)
    # The dashboard at /actions/manage/: the demo's own login decides who organises.
    ua.organiser_check(organiser_or_login)

    app.register_blueprint(site)
    app.register_blueprint(organisers)
    app.register_blueprint(mailbox)
    app.cli.add_command(demo_cli)
    return app


# --- The organisers' login ---------------------------------------------------

# DEMO ONLY: one shared password (DEMO_ORGANISER_PASSWORD, "demo" by default).
# A real site uses its own accounts: Flask-Login, or its proxy's login (docs/organisers.md).
organisers = Blueprint("organisers", __name__)


def organiser_or_login() -> str | Response:
    """The check the dashboard calls: the signed-in organiser's name, else the login page."""
    name = session.get("organiser")
    if name:
        return str(name)
    return redirect(url_for("organisers.login", next=request.full_path.rstrip("?")))


def _safe_next(target: str) -> str:
    """Only a path on this site: never off to another site after signing in."""
    if target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return url_for("urgentaction.manage.home")


@organisers.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    error = ""
    if request.method == "POST":
        try:
            validate_csrf(request.form.get("csrf_token"))
        except ValidationError:
            abort(400)
        password = os.environ.get("DEMO_ORGANISER_PASSWORD", "demo")
        name = request.form.get("name", "").strip()[:100]
        if name and hmac.compare_digest(request.form.get("password", ""), password):
            session.clear()
            session["organiser"] = name
            return redirect(_safe_next(request.args.get("next", "")), 303)
        error = "Wrong password, or no name given."
    return render_template("demo/login.html", error=error, csrf_token=generate_csrf())


@organisers.post("/logout")
def logout() -> Response:
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        abort(400)
    session.clear()
    return redirect(url_for("site.home"), 303)


# --- Published solidarity messages for the demo's home page -----------------

# The campaign that publishes its supporters' messages, and a few of them.
MESSAGES_SLUG = "ironbridge-dockworkers"
SEED_MESSAGES = [
    {"name": "Amina Hadžić", "email": "amina@example.org", "union": "Sindikat lučkih radnika",
     "country": "BA", "lang": "bs",
     "message": "Iz Tuzle šaljemo punu podršku. Vaša borba za sigurne smjene je i naša borba."},
    {"name": "Youssef Benali", "email": "youssef@example.org", "union": "نقابة عمال الموانئ",
     "country": "MA", "lang": "ar",
     "message": "من ميناء الدار البيضاء نقف معكم. السلامة في العمل حق وليست امتيازًا."},
    {"name": "Grace Okafor", "email": "grace@example.org", "union": "Dockers' Branch 7",
     "country": "GB", "lang": "en",
     "message": "Dockers here stand with you. Nobody should work 16 hours under a crane."},
]  # fmt: skip


def seed_messages(app: Flask) -> int:
    """Take the demo's sample actions through the JSON API, asking to publish, and
    approve them as an organiser would (``flask urgentaction messages --approve``).

    Done once: a campaign with any message asked to be published is left alone.
    Returns how many messages were approved.
    """
    with app.app_context():
        session = get_session()
        campaign = session.scalar(select(Campaign).where(Campaign.slug == MESSAGES_SLUG))
        if campaign is None or solidarity.listing(session, campaign.id):
            return 0
    api = f"{app.config.get('URGENTACTION_URL_PREFIX', '/actions')}/api/campaigns/{MESSAGES_SLUG}"
    # A test client from an address of its own (TEST-NET), so the seeding takes
    # nothing from the rate limit of a visitor on this machine; the spam check's
    # minimum fill time is for people, not for this script.
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "192.0.2.1"
    min_fill = app.config["URGENTACTION_MIN_FILL_SECONDS"]
    app.config["URGENTACTION_MIN_FILL_SECONDS"] = 0
    try:
        for fields in SEED_MESSAGES:
            challenge = client.get(f"{api}?lang=en").get_json()["challenge"]
            answer = re.search(r"\d{4}", challenge["question"])
            assert answer, challenge
            body = {**fields, "publish": True, "challenge_token": challenge["token"],
                    "challenge_answer": answer.group(0), "hp": ""}  # fmt: skip
            response = client.post(f"{api}/actions", json=body)
            if response.status_code != 201:
                raise click.ClickException(f"seeding {fields['email']}: {response.get_json()}")
    finally:
        app.config["URGENTACTION_MIN_FILL_SECONDS"] = min_fill
    with app.app_context():
        session = get_session()
        campaign = session.scalar(select(Campaign).where(Campaign.slug == MESSAGES_SLUG))
        assert campaign is not None
        pending = [action.id for action in solidarity.listing(session, campaign.id)]
        return len(solidarity.moderate(session, campaign, approve=pending))


demo_cli = AppGroup("demo", help="The demo's own set-up.")


@demo_cli.command("seed-messages")
def seed_messages_command() -> None:
    """Publish a few sample solidarity messages on the demo's messages campaign."""
    count = seed_messages(current_app._get_current_object())
    click.echo(f"{count} solidarity messages published" if count else "messages already seeded")


def _actions_url() -> str:
    """Return the path where the extension's campaign list lives."""
    prefix = str(current_app.config.get("URGENTACTION_URL_PREFIX", "/actions"))
    return request.script_root + prefix.rstrip("/") + "/"


def _navigation() -> dict[str, Any]:
    return {"actions_url": _actions_url()}


# The demo's own pages. Its template context is added per blueprint, not for the
# whole app: the extension renders mail templates outside any request.
site = Blueprint("site", __name__)
site.context_processor(_navigation)


def _demo_campaigns() -> list[tuple[str, str]]:
    """Return the sample campaigns' slugs and English titles, for the embed page."""
    campaigns = []
    for path in sorted(Path(current_app.config["DEMO_CAMPAIGNS_DIR"]).glob("*.toml")):
        with path.open("rb") as file:
            data = tomllib.load(file)
        title = data.get("translations", {}).get("en", {}).get("title", data["slug"])
        campaigns.append((str(data["slug"]), str(title)))
    return campaigns


@site.get("/")
def home() -> str:
    # The partner-site widgets, as on any other site: absolute script address.
    widget_src = request.host_url.rstrip("/") + _actions_url() + "widget.js"
    return render_template("demo/home.html", widget_src=widget_src, messages_slug=MESSAGES_SLUG)


@site.get("/embed-demo")
def embed_demo() -> str:
    campaigns = _demo_campaigns() or [("example-mine-strike", "Urgent action")]
    # The snippets a webmaster copies carry absolute URLs; the live copies on
    # this page are the same markup.
    origin = request.host_url.rstrip("/")
    base = origin + _actions_url()
    return render_template(
        "demo/embed_demo.html",
        widget_slug=campaigns[-1][0],
        iframe_slug=campaigns[0][0],
        iframe_title=campaigns[0][1],
        widget_src=base + "widget.js",
        embed_base=base,
        server_origin=origin,
    )


# --- The mailbox: what the local mail catcher received ---------------------

mailbox = Blueprint("mailbox", __name__, url_prefix="/mailbox")
mailbox.context_processor(_navigation)

_NAME = re.compile(r"^(\d{8}T\d{6}\.\d{6}Z)-\d+\.eml$")


class Summary(NamedTuple):
    """One line of the mailbox list."""

    name: str
    received: datetime
    sender: str
    recipients: str
    subject: str


def _mailbox_dir() -> Path:
    return Path(current_app.config["DEMO_MAILBOX_DIR"])


def _message_names() -> list[str]:
    """Return the stored messages' file names, newest first."""
    try:
        entries = os.listdir(_mailbox_dir())
    except FileNotFoundError:
        return []
    # Hidden files are the catcher's half-written temporaries.
    names = [n for n in entries if n.endswith(".eml") and not n.startswith(".")]
    return sorted(names, reverse=True)


def _received(name: str, path: Path) -> datetime:
    match = _NAME.match(name)
    if match:
        return datetime.strptime(match.group(1), "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _summary(name: str) -> Summary:
    path = _mailbox_dir() / name
    with path.open("rb") as file:
        headers = BytesHeaderParser(policy=email.policy.default).parse(file)
    return Summary(
        name=name,
        received=_received(name, path),
        sender=str(headers.get("From", "")),
        # The first envelope header is the catcher's; a message could carry its
        # own further down, and that one would be a lie.
        recipients=str((headers.get_all(ENVELOPE_TO) or [""])[0]),
        subject=str(headers.get("Subject", "")),
    )


def _text_of(part: Message) -> str:
    """Return a part's decoded text, even when its charset is unknown."""
    if isinstance(part, EmailMessage):
        try:
            return str(part.get_content())
        except (LookupError, UnicodeError):
            pass
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload.decode("utf-8", errors="replace")
    return str(part.get_payload())


# Stops at whitespace and at characters that cannot be in a bare URL in text.
_URL = re.compile(r"https?://[^\s<>\"']+")
_TRAILING = ".,;:!?'\"]}>"


def _trim_url(url: str) -> str:
    """Drop punctuation that ends the sentence rather than the URL."""
    while url:
        if url[-1] in _TRAILING or (url[-1] == ")" and url.count("(") < url.count(")")):
            url = url[:-1]
        else:
            break
    return url


@mailbox.app_template_filter("linkify")
def linkify(text: str) -> Markup:
    """Escape ``text`` and turn the http(s) URLs in it into links.

    Every piece of the text, URLs included, goes through ``escape``; only the
    ``<a>`` markup around a URL is ours. Mail bodies carry supporters' words, so
    nothing from them is ever trusted as HTML.
    """
    pieces: list[Markup] = []
    position = 0
    for match in _URL.finditer(text):
        url = _trim_url(match.group())
        if not url.split("://", 1)[1]:
            continue
        pieces.append(escape(text[position : match.start()]))
        pieces.append(Markup('<a href="{0}" rel="noopener noreferrer">{0}</a>').format(url))
        position = match.start() + len(url)
    pieces.append(escape(text[position:]))
    return Markup("").join(pieces)


@mailbox.after_request
def _lock_down(response: Response) -> Response:
    # Defence in depth for showing untrusted mail: no script runs on these pages
    # or in the HTML part's frame (a srcdoc frame inherits this policy), and no
    # remote image reports back that the mail was opened.
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; object-src 'none'; form-action 'none'; "
        "frame-ancestors 'self'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@mailbox.get("/")
def index() -> str:
    summaries = [_summary(name) for name in _message_names()]
    return render_template("demo/mailbox/index.html", messages=summaries, directory=_mailbox_dir())


def _load(name: str) -> bytes:
    # Only a name the directory itself lists is ever opened: this is what keeps
    # "../" and absolute paths out, whatever the URL converter let through.
    if name not in _message_names():
        abort(404)
    return (_mailbox_dir() / name).read_bytes()


_DOCTYPE = re.compile(r"^\s*(<!doctype[^>]*>)?", re.IGNORECASE)


def _open_links_in_new_tab(html: str) -> str:
    """Make links in the mail open in a new tab, not inside the small frame."""
    # After the doctype, if any: before it, the page would render in quirks mode.
    return _DOCTYPE.sub(lambda m: (m.group(1) or "") + '<base target="_blank">', html, 1)


@mailbox.get("/<name>")
def message(name: str) -> str:
    data = _load(name)
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)  # policy.default makes one
    text_part = parsed.get_body(preferencelist=("plain",))
    html_part = parsed.get_body(preferencelist=("html",))
    html = _text_of(html_part) if html_part is not None else None
    return render_template(
        "demo/mailbox/message.html",
        summary=_summary(name),
        headers=[(key, str(value)) for key, value in parsed.items()],
        text=_text_of(text_part) if text_part is not None else None,
        html_document=None if html is None else _open_links_in_new_tab(html),
        parts=[part.get_content_type() for part in parsed.walk()],
    )


@mailbox.get("/<name>/raw")
def raw(name: str) -> Response:
    data = _load(name)
    # text/plain with nosniff: the browser shows the source and never renders it.
    return Response(data, content_type="text/plain; charset=utf-8")
