"""Shared fixtures: a real SMTP server on loopback, an app on a temporary database."""

from __future__ import annotations

import html
import re
import socket
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from flask_urgentaction import UrgentAction
from flask_urgentaction.campaigns import load_files
from flask_urgentaction.storage import alembic_config, get_session

SAMPLE = """\
slug = "example-mine-strike"
status = "live"
partner = "Example Mineworkers' Union"
goal = 5000
privacy_url = "https://example.org/privacy"

[[targets]]
name = "Example Mining Company"
email = "ceo@mining.example"

[[targets]]
name = "Ministry of Labour"
email = "minister@labour.example"

[translations.en]
title = "Reinstate the sacked union leaders"
summary = "Miners were sacked for founding a union."
body = \"\"\"The **company** sacked five miners.

- a list item
\"\"\"
subject = "Reinstate the union leaders now"
message = "Reinstate the sacked union leaders of the Example mine."

[translations.de]
title = "Stellt die entlassenen Gewerkschafter wieder ein"
summary = "Bergleute wurden entlassen, weil sie eine Gewerkschaft gegründet haben."
subject = "Stellt die Gewerkschafter wieder ein"
message = "Stellt die entlassenen Gewerkschafter wieder ein."
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    """A real SMTP server (aiosmtpd) on loopback that keeps what it receives.

    ``reply`` makes it answer DATA with a given SMTP reply instead of 250.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[tuple[list[str], EmailMessage]] = []
        # Each message's bytes as they came over DATA (dot-stuffing undone).
        self.raw: list[bytes] = []
        # When each message arrived (time.time()), for tests of pacing.
        self.arrived: list[float] = []
        self.reply: str | None = None
        self.controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reply is not None:
            return self.reply
        # Read as a local mailbox stores mail, with LF line ends (Maildir does so);
        # ``raw`` keeps the CRLF bytes as they came over the wire.
        stored = envelope.original_content.replace(b"\r\n", b"\n")
        message = message_from_bytes(stored, policy=policy.default)
        self.received.append((list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        self.raw.append(envelope.original_content)
        self.arrived.append(time.time())
        return "250 OK"

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        return [message for _rcpt, message in self.received]

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpt, m in self.received if address in rcpt]


def named_address(message: EmailMessage, header: str) -> tuple[str, str]:
    """The one (display name, address) in ``header``, the name decoded as RFC 2047 says.

    A long or non-ASCII name goes out as several encoded-words; RFC 2047 drops the
    space between two of them, but CPython's address parser keeps it (gh-128110).
    So the address comes from that parser and the name from the raw header.
    """
    (address,) = message[header].addresses
    raw = next(value for name, value in message.raw_items() if name.lower() == header.lower())
    phrase = "".join(str(raw).splitlines()).rpartition("<")[0].strip()
    return str(make_header(decode_header(phrase))), str(address.addr_spec)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    yield box
    box.stop()


def host_app(
    tmp_path: Path, mailbox: Mailbox, root_path: Path | None = None, **config: Any
) -> Flask:
    """A host app configured for the tests, before any extension is set up.

    ``root_path`` is where it finds its own templates (and overrides of ours).
    """
    app = Flask(
        "host",
        root_path=None if root_path is None else str(root_path),
        instance_path=str(tmp_path / "instance"),
    )
    app.config.update(
        SECRET_KEY="test secret",
        TESTING=True,
        SERVER_NAME="actions.test",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=mailbox.port,
        MAIL_SUPPRESS_SEND=False,  # Flask-Mail suppresses sending under TESTING
        MAIL_DEFAULT_SENDER="Example Network <actions@network.example>",
        URGENTACTION_MIN_FILL_SECONDS=0,
        URGENTACTION_RETRY_BASE_SECONDS=0,
        URGENTACTION_SMTP_TIMEOUT=5,
        URGENTACTION_RATE_LIMIT="1000 per minute",
    )
    app.config.update(config)
    return app


def make_app(tmp_path: Path, mailbox: Mailbox, **config: Any) -> Flask:
    app = host_app(tmp_path, mailbox, **config)
    UrgentAction(app)
    return app


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Override in a test module (or parametrize) to change the app's config."""
    return {}


@pytest.fixture
def app(tmp_path: Path, mailbox: Mailbox, app_config: dict[str, Any]) -> Iterator[Flask]:
    app = make_app(tmp_path, mailbox, **app_config)
    with app.app_context():
        yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def campaign_file(tmp_path: Path) -> Path:
    path = tmp_path / "campaign.toml"
    path.write_text(SAMPLE, encoding="utf-8")
    return path


@pytest.fixture
def campaign(app: Flask, campaign_file: Path) -> Any:
    ((loaded, _created),) = load_files(get_session(), [campaign_file])
    return loaded


CHALLENGE_TOKEN = re.compile(r'name="challenge_token" type="hidden" value="([^"]+)"')
CHALLENGE_NUMBER = re.compile(r"Enter the number (\d+) here")


def form_challenge(html: str) -> tuple[str, str]:
    """The (token, answer) pair from a rendered form page."""
    token = CHALLENGE_TOKEN.search(html)
    number = CHALLENGE_NUMBER.search(html)
    assert token and number, "no challenge in the page"
    return token.group(1), number.group(1)


def api_challenge(client: FlaskClient, slug: str = "example-mine-strike") -> tuple[str, str]:
    data = client.get(f"/actions/api/campaigns/{slug}").get_json()
    question = data["challenge"]["question"]
    number = re.search(r"\d{4}", question)
    assert number
    return data["challenge"]["token"], number.group(0)


def action_body(client: FlaskClient, **fields: Any) -> dict[str, Any]:
    """A valid JSON action with a fresh challenge; ``fields`` override."""
    token, answer = api_challenge(client)
    body: dict[str, Any] = {
        "name": "Ana Kovač",
        "email": "ana@example.org",
        "union": "SSM",
        "country": "BA",
        "opt_in": False,
        "lang": "en",
        "challenge_token": token,
        "challenge_answer": answer,
        "hp": "",
    }
    body.update(fields)
    return body


def form_data(
    client: FlaskClient, slug: str = "example-mine-strike", **fields: Any
) -> dict[str, Any]:
    """Valid HTML form fields with the challenge from a fresh page; ``fields`` override."""
    html = client.get(f"/actions/{slug}").get_data(as_text=True)
    token, answer = form_challenge(html)
    data: dict[str, Any] = {
        "name": "Ana Kovač",
        "email": "ana@example.org",
        "union": "SSM",
        "country": "BA",
        "subject": "Reinstate the union leaders now",
        "message": "Reinstate them.",
        "lang": "en",
        "challenge_token": token,
        "challenge_answer": answer,
        "hp": "",
    }
    data.update(fields)
    return data


def migrate(engine: Engine, revision: str) -> None:
    """Upgrade to ``"head"`` or downgrade to ``revision``, as a deploy would."""
    from alembic import command

    get_session().close()
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        if revision == "head":
            command.upgrade(config, revision)
        else:
            command.downgrade(config, revision)


def postgresql_bindir() -> Path | None:
    """PostgreSQL's programs: UA_PG_BINDIR (scripts/test.sh sets it), else the newest
    major version that Debian or Ubuntu installed under /usr/lib/postgresql."""
    import os

    configured = os.environ.get("UA_PG_BINDIR")
    candidates = [Path(configured)] if configured else []
    installed = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(
        installed, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True
    )
    return next((c for c in candidates if (c / "initdb").exists()), None)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server for this test run (scripts/test.sh installs it)."""
    import os
    import shutil
    import subprocess

    bindir = postgresql_bindir()
    if bindir is None:
        pytest.fail("PostgreSQL is not installed: run the tests through scripts/test.sh")
    import tempfile

    # Not under pytest's tmp folder: that one is private to root, and the
    # server runs as the postgres user.
    data = Path(tempfile.mkdtemp(prefix="urgentaction-pg-"))
    port = free_port()
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        # initdb refuses to run as root.
        shutil.chown(data, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_postgres, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
         "-E", "UTF8", "--locale=C.UTF-8"],
        check=True, capture_output=True,
    )  # fmt: skip
    ctl = [*as_postgres, str(bindir / "pg_ctl"), "-D", str(data)]
    subprocess.run(
        [*ctl, "-l", str(data / "log"), "-w", "-o",
         f"-c listen_addresses=127.0.0.1 -p {port} -k {data} -c fsync=off", "start"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*ctl, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own for one test: a SQLite file, or a new database
    on the throwaway PostgreSQL server. Several app objects may share it."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.sqlite3'}"
        return
    import uuid

    from sqlalchemy import create_engine, text

    server: str = request.getfixturevalue("postgres_url")
    name = f"ua_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def shared_config() -> dict[str, Any]:
    """Override in a test module to change the configuration of ``shared_app``."""
    return {}


@pytest.fixture
def shared_app(
    tmp_path: Path, mailbox: Mailbox, database_url: str, shared_config: dict[str, Any]
) -> Iterator[Flask]:
    """An app on a database other apps and processes may share: a SQLite file, or a
    database of its own on the PostgreSQL server (its connections closed before the
    database is dropped)."""
    app = make_app(tmp_path, mailbox, URGENTACTION_DATABASE_URL=database_url, **shared_config)
    with app.app_context():
        yield app
        get_session().close()
    app.extensions["urgentaction"].storage.engine.dispose()


ORGANISER = "ana@union.example"
CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture
def organiser(app: Flask) -> str:
    """The dashboard on, for an organiser the host's check names ``ORGANISER``."""
    app.extensions["urgentaction"].extension.organiser_check(lambda: ORGANISER)
    return ORGANISER


def csrf_token(client: FlaskClient, page: str) -> str:
    """The CSRF token a dashboard page's forms carry (after a GET of ``page``)."""
    response = client.get(page)
    assert response.status_code == 200, response.status_code
    found = CSRF_INPUT.search(response.get_data(as_text=True))
    assert found, f"no CSRF token on {page}"
    return html.unescape(found.group(1))
