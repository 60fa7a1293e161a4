"""Mail on the wire: whatever a supporter types, every message is valid and reads back as typed.

The property test drives the whole path (the JSON API, the outbox, a real SMTP
server) with names, subjects and messages in many scripts; the rest reads
:mod:`flask_urgentaction.wire` directly.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from markupsafe import escape
from sqlalchemy import select

from flask_urgentaction import wire
from flask_urgentaction.campaigns import load_files
from flask_urgentaction.forms import one_paragraph
from flask_urgentaction.models import Action, OutboxMessage
from flask_urgentaction.storage import get_session, get_storage

from .conftest import SAMPLE, Mailbox, action_body, make_app, named_address

ACTIONS_URL = "/actions/api/campaigns/example-mine-strike/actions"
SENDER = "actions@network.example"
TARGETS = {"ceo@mining.example": "Example Mining Company",
           "minister@labour.example": "Ministry of Labour"}  # fmt: skip
TARGET_HEADERS = ["content-type", "date", "from", "message-id", "mime-version", "reply-to",
                  "subject", "to"]  # fmt: skip

SCRIPTS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    "ÀÉÎÕÜçčćđšžŁłßøåñ",
    "абвгдежзийклмнопрстуфхцчшщъыьэюяЁёЇїЄєҐґ",
    "ابتثجحخدذرزسشصضطظعغفقكلمنهويءآ",
    "中文字汉語日本語のかなカナ한국어",
    "😀🎉✊🏽👩‍🏭🇧🇦❤️",
    "\u0301\u0308\u0327\u0654\u200d\u200f\u00a0",  # combining marks, ZWJ, RLM, NBSP
    " <>@,;:\"()[].=?\\'!#$%&*+/^_`{|}~-",  # what headers are made of
]
ALL = "".join(SCRIPTS)


# The form refuses invisible and direction characters in a name (not in a subject).
INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def words(max_size: int, scripts: list[str] = SCRIPTS) -> st.SearchStrategy[str]:
    mixed = st.text(alphabet="".join(scripts), min_size=1, max_size=max_size)
    one_script = st.sampled_from(scripts).flatmap(
        lambda script: st.text(alphabet=script, min_size=1, max_size=max_size)
    )
    return st.one_of(mixed, one_script)


def one_line(max_size: int, scripts: list[str] = SCRIPTS) -> st.SearchStrategy[str]:
    """A value the form keeps as typed: stripped, not empty."""
    return words(max_size, scripts).map(str.strip).filter(bool)


NAME_SCRIPTS = [INVISIBLE.sub("", script) for script in SCRIPTS]


LONG_RUN = st.builds(lambda char, count: char * count, st.sampled_from(ALL), st.integers(500, 1500))
LINE = st.one_of(
    words(80),
    LONG_RUN,
    st.builds(lambda rest: "From " + rest, words(40)),
    st.builds(lambda rest: "." + rest, st.text(alphabet=ALL, max_size=20)),
    st.sampled_from(["", " ", "   ", ".", "..", "\t", "From", "-- "]),
)
# The personal line as typed, line breaks and all: the form makes it one paragraph.
PERSONAL = st.one_of(
    st.just(""),
    st.text(alphabet=ALL + "\r\n\t", max_size=500),
    st.builds(lambda rest: "From " + rest, words(40)),
    st.builds(lambda rest: "." + rest, st.text(alphabet=ALL, max_size=20)),
    st.builds(lambda char: char * 500, st.sampled_from(ALL)),
)
MESSAGE = st.builds(
    lambda lines, breaks: (
        "".join(
            line + brk for line, brk in zip(lines, itertools.cycle(breaks), strict=False)
        ).rstrip("\r\n")
        or "x"
    ),
    st.lists(LINE, min_size=1, max_size=6),
    st.lists(st.sampled_from(["\n", "\r\n", "\r", "\n\n"]), min_size=1, max_size=3),
).filter(lambda text: len(text) <= 5000 and text.strip() != "")


def unix_lines(text: str) -> str:
    """The documented change on the way: line breaks become CRLF (read back here as
    LF), and a body ends with one."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text if text.endswith("\n") else text + "\n"


@pytest.fixture(scope="module")
def shared_mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture(scope="module")
def wire_app(tmp_path_factory: pytest.TempPathFactory, shared_mailbox: Mailbox) -> Iterator[Flask]:
    tmp_path: Path = tmp_path_factory.mktemp("wire")
    app = make_app(tmp_path, shared_mailbox)
    campaign = tmp_path / "campaign.toml"
    campaign.write_text(SAMPLE, encoding="utf-8")
    with app.app_context():
        load_files(get_session(), [campaign])
    yield app
    app.extensions["urgentaction"].storage.engine.dispose()


@pytest.fixture(scope="module")
def wire_client(wire_app: Flask) -> FlaskClient:
    return wire_app.test_client()


SUPPORTERS = itertools.count()


@settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(name=one_line(200, NAME_SCRIPTS), subject=one_line(300), message=MESSAGE, personal=PERSONAL)
@example(name="Ana Kovač", subject="Reinstate them", message="я" * 551, personal="")  # 1,102 octets
@example(name="Kovač, Ana", subject="x", message="x" * 5000, personal="y" * 500)
@example(name="Ana <ana@example.org> via Network", subject="=?utf-8?q?x?=", message="From here",
         personal="From the night shift")  # fmt: skip
@example(name="😀" * 200, subject="中" * 300, message=".\n.\n \n   \nFrom the mine",
         personal=".\r\n.\r\n" + "😀" * 490)  # fmt: skip
def test_whatever_is_typed_every_target_gets_a_valid_message_that_reads_back_as_typed(
    wire_app: Flask,
    wire_client: FlaskClient,
    shared_mailbox: Mailbox,
    name: str,
    subject: str,
    message: str,
    personal: str,
) -> None:
    email = f"supporter{next(SUPPORTERS)}@example.org"
    shared_mailbox.received.clear()
    shared_mailbox.raw.clear()
    body = action_body(
        wire_client, name=name, email=email, subject=subject, message=message, personal=personal
    )
    response = wire_client.post(ACTIONS_URL, json=body)
    assert response.status_code == 201, response.get_json()
    # What the form keeps: one paragraph, its ends stripped.
    personal = one_paragraph(personal)

    with wire_app.app_context(), get_storage().sessions() as session:
        action = session.scalars(select(Action).where(Action.email == email)).one()
        assert (action.name, action.subject, action.message) == (name, subject, message)
        assert action.personal == personal
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.action_id == action.id))
        by_id = {row.message_id: row for row in rows}
    assert [row.status for row in by_id.values()] == ["sent", "sent"]

    assert len(shared_mailbox.raw) == 2
    for raw in shared_mailbox.raw:
        lines = raw.split(b"\r\n")
        assert max(len(line) for line in lines) <= 998
        # 7-bit, and every line ends in CRLF: nothing for a relay to rewrite.
        assert raw.isascii()
        assert b"\r" not in b"".join(lines) and b"\n" not in b"".join(lines)
        received = message_from_bytes(raw, policy=policy.default)
        row = by_id.pop(str(received["Message-ID"]))
        check_target_mail(received, row, name, email, subject, message, personal)
    assert by_id == {}


def check_target_mail(
    received: EmailMessage,
    row: OutboxMessage,
    name: str,
    email: str,
    subject: str,
    message: str,
    personal: str = "",
) -> None:
    assert sorted(key.lower() for key in received) == TARGET_HEADERS
    assert named_address(received, "From") == (f"{name} via Example Network", SENDER)
    assert named_address(received, "Reply-To") == (name, email)
    assert named_address(received, "To") == (TARGETS[row.recipient], row.recipient)
    assert str(received["Subject"]) == subject

    text = received.get_body(preferencelist=("plain",))
    html = received.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    text_content = str(text.get_content())  # type: ignore[attr-defined]
    html_content = str(html.get_content())  # type: ignore[attr-defined]
    assert unix_lines(text_content) == unix_lines(row.text_body)
    first = personal + "\n\n" if personal else ""
    assert unix_lines(text_content).startswith(first + unix_lines(message) + "\n--\n" + name + "\n")
    assert unix_lines(html_content) == unix_lines(str(row.html_body))
    assert str(escape(unix_lines(message).removesuffix("\n"))) in unix_lines(html_content)
    if personal:
        shown = unix_lines(html_content).index(f"<p>{escape(personal)}</p>")
        assert shown < unix_lines(html_content).index('<div style="white-space: pre-wrap">')


# The wire module on its own.


def stored(**fields: Any) -> OutboxMessage:
    values: dict[str, Any] = {
        "kind": "target",
        "message_id": "<1.2@network.example>",
        "sender": ["Ana Kovač via Example Network", SENDER],
        "recipient_name": "Ministry of Labour",
        "recipient": "minister@labour.example",
        "reply_to": ["Ana Kovač", "ana@example.org"],
        "subject": "Reinstate them",
        "text_body": "Reinstate them.\n",
        "html_body": None,
        "headers": {},
        "created_at": datetime(2026, 5, 1, 8, 30, tzinfo=UTC),
    }
    return OutboxMessage(**(values | fields))


def on_the_wire(row: OutboxMessage) -> bytes:
    return wire.as_bytes(wire.compose(row))


@pytest.mark.parametrize("field", ["subject", "recipient_name", "recipient"])
@pytest.mark.parametrize("char", ["\r", "\n", "\0"])
def test_cr_lf_or_nul_in_any_header_value_is_refused(field: str, char: str) -> None:
    with pytest.raises(wire.HeaderInjection):
        on_the_wire(stored(**{field: f"Ana{char}Bcc: x@evil.example"}))
    with pytest.raises(wire.HeaderInjection):
        on_the_wire(stored(sender=[f"Ana{char}Bcc: x@evil.example", SENDER]))


def test_non_ascii_local_part_is_refused_and_a_non_ascii_domain_is_written_in_idna() -> None:
    with pytest.raises(wire.Unwritable, match="SMTPUTF8"):
        wire.envelope(stored(recipient="josé@example.org"))
    row = stored(recipient="ana@bücher.example", reply_to=["Ana", "ana@straße.example"])
    assert wire.envelope(row) == (SENDER, "ana@xn--bcher-kva.example")
    received = message_from_bytes(on_the_wire(row), policy=policy.default)
    assert named_address(received, "To") == ("Ministry of Labour", "ana@xn--bcher-kva.example")
    assert received["Reply-To"].addresses[0].domain == "xn--strae-oqa.example"


def test_plain_ascii_values_stay_readable_and_others_are_encoded_whole() -> None:
    raw = on_the_wire(stored()).decode("ascii")
    assert "\r\nTo: Ministry of Labour <minister@labour.example>\r\n" in raw
    assert "\r\nSubject: Reinstate them\r\n" in raw
    assert "\r\nDate: Fri, 01 May 2026 08:30:00 +0000\r\n" in raw
    # Not a single plain word of a name with specials: nothing to read as an address.
    raw = on_the_wire(stored(sender=["Ana <ana@evil.example> via Network", SENDER]))
    from_line = re.match(rb"From: (.*?)\r\n(?! )", raw, re.S)
    assert from_line is not None
    assert b"evil" not in from_line.group(1)
    assert from_line.group(1).endswith(b" <actions@network.example>")


def test_a_line_starting_with_from_is_encoded_so_no_mailbox_file_changes_it() -> None:
    raw = on_the_wire(stored(text_body="From the mine\nFrom\n"))
    assert b"\r\n=46rom the mine\r\n" in raw
    received = message_from_bytes(raw, policy=policy.default)
    text = received.get_body(preferencelist=("plain",))
    assert text is not None
    assert text.get_content() == "From the mine\r\nFrom\r\n"  # type: ignore[attr-defined]


ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=400)


@settings(max_examples=200, deadline=None, database=None)
@given(
    name=st.text(st.characters(codec="utf-8", exclude_characters="\r\n\0"), max_size=80),
    subject=st.text(st.characters(codec="utf-8", exclude_characters="\r\n\0"), max_size=120),
    text_body=ANY_TEXT | st.sampled_from(["", "From the mine\n", ".\r\n\r\n  \r"]),
    html_body=st.none() | ANY_TEXT,
    headers=st.sampled_from([{}, {"List-Unsubscribe": "<https://x.example/u>"}]),
)
def test_render_writes_the_same_bytes_as_the_email_package(
    name: str, subject: str, text_body: str, html_body: str | None, headers: dict[str, str]
) -> None:
    # The sender writes messages with render(); every property shown above for
    # compose() holds for it because the bytes are the same, boundary aside.
    row = stored(
        sender=[name, SENDER], reply_to=[name, "ana@example.org"], subject=subject,
        text_body=text_body, html_body=html_body, headers=headers,
    )  # fmt: skip
    rendered = wire.render(row)
    assert same_but_boundary(rendered, on_the_wire(row))
    assert max(len(line) for line in rendered.split(b"\r\n")) <= 998


def same_but_boundary(left: bytes, right: bytes) -> bool:
    boundary = re.compile(rb"={15}\d{19}==")
    return boundary.sub(b"B", left) == boundary.sub(b"B", right)


def test_render_refuses_what_compose_refuses() -> None:
    with pytest.raises(wire.HeaderInjection):
        wire.render(stored(subject="x\r\nBcc: x@evil.example"))
    with pytest.raises(wire.Unwritable, match="not valid Unicode"):
        wire.render(stored(text_body="\ud800"))
