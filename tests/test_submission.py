"""Malformed submissions: each is a clear 4xx with its text, and nothing is stored.

Bodies over the size cap, JSON nested to exhaust the parser, characters that
cannot be stored or mailed, files where text belongs, bytes that are not UTF-8,
and names that hide or turn text around.
"""

from __future__ import annotations

import http.client
import re
import threading
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.serving import make_server
from werkzeug.test import TestResponse

from flask_urgentaction.models import Action, OutboxMessage
from flask_urgentaction.storage import get_session

from .conftest import Mailbox, action_body, form_data, make_app
from .test_api import translated

SLUG = "example-mine-strike"
PAGE = f"/actions/{SLUG}"
EMBED = f"/actions/{SLUG}/embed"
ACTIONS = f"/actions/api/campaigns/{SLUG}/actions"
CAP = 128 * 1024

NOT_ALLOWED = "This text contains characters that are not allowed."
HIDDEN = "Invisible or text-direction characters are not allowed in a name."
TOO_LARGE = "What you sent is too large. Please shorten it and try again."
NOT_JSON = "The request body must be a JSON object."
MUST_BE_TEXT = "Must be text."


def stored() -> tuple[int, int]:
    """Actions and outbox rows."""
    session = get_session()
    session.expire_all()
    actions = session.scalar(select(func.count()).select_from(Action))
    outbox = session.scalar(select(func.count()).select_from(OutboxMessage))
    return int(actions or 0), int(outbox or 0)


def assert_nothing_stored(mailbox: Mailbox) -> None:
    assert stored() == (0, 0)
    assert mailbox.messages == []


def json_error(response: TestResponse, status: int) -> Any:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return response.get_json()


def field_error(response: TestResponse, field: str) -> str:
    """The error shown under ``field`` on a re-rendered form page."""
    assert response.status_code == 422, response.status_code
    html = response.get_data(as_text=True)
    control = re.search(rf'<[^>]+name="{field}"[^>]*>', html)
    assert control and 'aria-invalid="true"' in control.group(0), field
    found = re.search(rf'<p class="ua-error" id="{field}-error">(.*?)</p>', html, re.S)
    assert found, f"no error shown for {field}"
    return found.group(1)


# --- Characters that cannot be stored or mailed, through the JSON API --------------

UNUSABLE = {
    "lone high surrogate": "\ud800Ana",
    "lone low surrogate": "Ana\udfff",
    "U+FFFE": "Ana\ufffe",
    "U+FFFF": "Ana\uffff",
    "U+FDD0": "Ana\ufdd0",
    "U+1FFFF": "Ana\U0001ffff",
    "U+FFFD": "Ana\ufffd",
}


@pytest.mark.parametrize("value", UNUSABLE.values(), ids=UNUSABLE.keys())
@pytest.mark.parametrize("field", ["name", "union", "subject", "message", "partner"])
def test_unusable_characters_in_a_json_field_are_422_under_it(
    client: FlaskClient, campaign: Any, mailbox: Mailbox, field: str, value: str
) -> None:
    response = client.post(ACTIONS, json=action_body(client, **{field: value}))
    assert json_error(response, 422)["errors"] == {field: [NOT_ALLOWED]}
    assert_nothing_stored(mailbox)


def test_json_keeps_the_lone_surrogate_escape_as_sent(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    # The raw text a client sends: a JSON escape no UTF-8 encoder would write.
    body = action_body(client)
    raw = '{"name": "\\ud800Ana", ' + '"email": "ana@example.org", "country": "BA", '
    raw += f'"challenge_token": "{body["challenge_token"]}", '
    raw += f'"challenge_answer": "{body["challenge_answer"]}"}}'
    response = client.post(ACTIONS, data=raw, content_type="application/json")
    assert json_error(response, 422)["errors"] == {"name": [NOT_ALLOWED]}
    assert_nothing_stored(mailbox)


@pytest.mark.parametrize(
    ("field", "value", "key", "message"),
    [
        ("email", "\ud800ana@example.org", "email", NOT_ALLOWED),
        ("country", "B\ud800", "country", "Please choose a country from the list."),
        ("challenge_answer", "\ud800", "challenge", NOT_ALLOWED),
        ("challenge_token", "\ud800token", "challenge",
         "The spam check is not valid. Please answer the new one."),
        ("hp", "\uffff", "hp", "This field must be left empty."),
        ("message", "Reinstate\x0bthem", "message", NOT_ALLOWED),
        ("message", "Reinstate\x1bthem", "message", NOT_ALLOWED),
    ],
)  # fmt: skip
def test_unusable_characters_in_any_other_field_are_422_too(
    client: FlaskClient, campaign: Any, mailbox: Mailbox, field: str, value: str, key: str,
    message: str,
) -> None:  # fmt: skip
    response = client.post(ACTIONS, json=action_body(client, **{field: value}))
    errors = json_error(response, 422)["errors"]
    assert message in errors[key]
    assert_nothing_stored(mailbox)


# --- Names that hide characters or turn text around -------------------------------

HIDING = {
    "LRE": "\u202a", "RLE": "\u202b", "PDF": "\u202c", "LRO": "\u202d", "RLO": "\u202e",
    "LRI": "\u2066", "RLI": "\u2067", "FSI": "\u2068", "PDI": "\u2069",
    "ZWSP": "\u200b", "LRM": "\u200e", "RLM": "\u200f", "WJ": "\u2060", "BOM": "\ufeff",
    "ZWNJ at the end": "\u200c", "ZWJ after a space": " \u200d",
}  # fmt: skip


@pytest.mark.parametrize("char", HIDING.values(), ids=HIDING.keys())
@pytest.mark.parametrize("field", ["name", "union"])
def test_invisible_or_direction_characters_in_a_name_are_refused(
    client: FlaskClient, campaign: Any, mailbox: Mailbox, field: str, char: str
) -> None:
    response = client.post(ACTIONS, json=action_body(client, **{field: f"Ana Kovač{char}"}))
    assert json_error(response, 422)["errors"] == {field: [HIDDEN]}
    page = client.post(PAGE, data=form_data(client, **{field: f"{char}Ana Kovač"}))
    assert HIDDEN in field_error(page, field)
    assert_nothing_stored(mailbox)


def test_a_name_that_would_reverse_the_from_line_is_refused_in_german(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    body = action_body(client, name="Ana \u202eredroB", lang="de")
    errors = json_error(client.post(ACTIONS, json=body), 422)["errors"]
    assert errors == {"name": [translated("de", HIDDEN)]}
    assert translated("de", HIDDEN) != HIDDEN
    assert_nothing_stored(mailbox)


@pytest.mark.parametrize(
    "name",
    ["\u0639\u0644\u06cc\u200c\u0631\u0636\u0627", "नमस्\u200dते", "Ana Kovač"],
    ids=["Persian with ZWNJ", "Devanagari with ZWJ", "plain"],
)
def test_joiners_inside_a_word_are_spelling_and_are_kept(
    client: FlaskClient, campaign: Any, name: str
) -> None:
    assert client.post(ACTIONS, json=action_body(client, name=name)).status_code == 201
    assert get_session().scalar(select(Action.name)) == name


# --- JSON nested deeper than any action needs --------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "[" * 30_000 + "]" * 30_000,
        '{"name": ' + "[" * 30_000 + "]" * 30_000 + "}",
        '{"name": ' + '{"a": ' * 5_000 + "1" + "}" * 5_000 + "}",
        "[" * 30_000,
    ],
    ids=["deep array", "deep value", "deep objects", "unclosed"],
)
def test_deeply_nested_json_is_400_without_exhausting_the_parser(
    client: FlaskClient, campaign: Any, mailbox: Mailbox, body: str
) -> None:
    assert len(body) < CAP
    response = client.post(ACTIONS, data=body, content_type="application/json")
    assert json_error(response, 400) == {"error": NOT_JSON}
    assert_nothing_stored(mailbox)


@pytest.mark.parametrize("app_config", [{"URGENTACTION_MAX_BODY_BYTES": 1_000_000}])
def test_100000_deep_json_under_a_raised_cap_is_400(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    body = "[" * 100_000 + "]" * 100_000
    response = client.post(ACTIONS, data=body, content_type="application/json")
    assert json_error(response, 400) == {"error": NOT_JSON}
    assert_nothing_stored(mailbox)


def test_brackets_inside_strings_are_text_not_nesting(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    message = '[[[{{{ "quoted \\" ]]] }}}' * 40
    response = client.post(ACTIONS, json=action_body(client, message=message))
    assert response.status_code == 201
    assert get_session().scalar(select(Action.message)) == message


# --- Files where text belongs ------------------------------------------------------


@pytest.mark.parametrize("field", ["name", "message", "email"])
@pytest.mark.parametrize("url", [PAGE, EMBED])
def test_a_file_sent_for_a_text_field_of_the_form_is_refused(
    client: FlaskClient, campaign: Any, mailbox: Mailbox, url: str, field: str
) -> None:
    data: dict[str, Any] = form_data(client)
    data[field] = (BytesIO(b"Ana Kovac"), "name.txt", "text/plain")
    response = client.post(url, data=data, content_type="multipart/form-data")
    assert MUST_BE_TEXT in field_error(response, field)
    assert_nothing_stored(mailbox)


def test_multipart_to_the_json_api_is_400(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    data: dict[str, Any] = action_body(client)
    data["name"] = (BytesIO(b"Ana"), "name.txt")
    del data["opt_in"]
    response = client.post(ACTIONS, data=data, content_type="multipart/form-data")
    assert json_error(response, 400) == {"error": NOT_JSON}
    assert_nothing_stored(mailbox)


def test_a_multipart_form_of_text_is_still_taken(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    response = client.post(PAGE, data=form_data(client), content_type="multipart/form-data")
    assert response.status_code == 303
    assert stored()[0] == 1


# --- Bytes that are not UTF-8 in the page form --------------------------------------


def urlencoded(fields: dict[str, Any], **raw: bytes) -> bytes:
    """``fields`` percent-encoded, then ``raw`` values exactly as given."""
    from urllib.parse import urlencode

    return b"&".join([urlencode(fields).encode(), *(k.encode() + b"=" + v for k, v in raw.items())])


@pytest.mark.parametrize(
    "raw",
    [b"Ana%FF", b"Ana%C3", b"%ED%A0%80Ana", b"Ana\xff", b"Ana\xc3\x28"],
    ids=["percent FF", "cut sequence", "encoded surrogate", "raw FF", "raw invalid"],
)
@pytest.mark.parametrize("url", [PAGE, EMBED])
def test_form_bytes_that_are_not_utf8_are_refused_not_stored_mangled(
    client: FlaskClient, campaign: Any, mailbox: Mailbox, url: str, raw: bytes
) -> None:
    fields = form_data(client)
    del fields["name"]
    body = urlencoded(fields, name=raw)
    response = client.post(url, data=body, content_type="application/x-www-form-urlencoded")
    assert NOT_ALLOWED in field_error(response, "name")
    assert_nothing_stored(mailbox)


def test_form_multipart_part_that_is_not_utf8_is_refused(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    fields = form_data(client)
    del fields["message"]
    boundary = "ua-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="message"\r\n\r\n'.encode()
        + b"Reinstate \xff them\r\n"
    )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    response = client.post(
        PAGE, data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert NOT_ALLOWED in field_error(response, "message")
    assert_nothing_stored(mailbox)


def test_percent_signs_typed_by_a_supporter_are_kept(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    response = client.post(PAGE, data=form_data(client, message="100%FF and 50% more"))
    assert response.status_code == 303
    assert get_session().scalar(select(Action.message)) == "100%FF and 50% more"


# --- The size cap --------------------------------------------------------------------


def test_an_api_body_over_the_cap_is_413_in_the_request_language(
    client: FlaskClient, campaign: Any, mailbox: Mailbox
) -> None:
    body = action_body(client, message="x" * CAP)
    response = client.post(ACTIONS, json=body, headers={"Accept-Language": "de"})
    assert json_error(response, 413) == {"error": translated("de", TOO_LARGE)}
    assert translated("de", TOO_LARGE) != TOO_LARGE
    assert_nothing_stored(mailbox)


@pytest.mark.parametrize("url", [PAGE, EMBED])
def test_a_form_body_over_the_cap_is_413_with_our_page(
    client: FlaskClient, campaign: Any, mailbox: Mailbox, url: str
) -> None:
    response = client.post(url, data=form_data(client, message="x" * CAP))
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert TOO_LARGE in response.get_data(as_text=True)
    assert_nothing_stored(mailbox)


@pytest.mark.parametrize("app_config", [{"URGENTACTION_MAX_BODY_BYTES": 2000}])
def test_the_cap_is_configurable(client: FlaskClient, campaign: Any, mailbox: Mailbox) -> None:
    response = client.post(ACTIONS, json=action_body(client, message="x" * 2000))
    assert json_error(response, 413) == {"error": TOO_LARGE}
    assert client.post(ACTIONS, json=action_body(client, message="short")).status_code == 201


def test_every_field_at_its_limit_in_four_byte_characters_fits_under_the_cap(
    client: FlaskClient, campaign: Any
) -> None:
    # Each character goes out as 12 bytes: %F0%9F%93%A2.
    fields = form_data(client, name="📢" * 200, union="📢" * 200, subject="📢" * 300,
                       message="📢" * 5000)  # fmt: skip
    response = client.post(PAGE, data=fields)
    assert response.status_code == 303, response.status_code
    assert stored()[0] == 1


def test_the_host_apps_own_routes_keep_their_own_limit(tmp_path: Path, mailbox: Mailbox) -> None:
    app = make_app(tmp_path, mailbox)

    @app.post("/upload")
    def upload() -> str:
        return str(len(request.get_data()))

    assert app.config.get("MAX_CONTENT_LENGTH") is None
    big = b"x" * (CAP * 4)
    response = app.test_client().post("/upload", data=big)
    assert response.status_code == 200
    assert response.get_data(as_text=True) == str(len(big))


@pytest.fixture
def server(app: Flask, campaign: Any) -> Iterator[int]:
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_port
    httpd.shutdown()
    httpd.server_close()
    thread.join(10)


def test_a_chunked_body_over_the_cap_is_413_while_it_is_read(
    server: int, client: FlaskClient, mailbox: Mailbox
) -> None:
    body = action_body(client, message="x" * CAP)
    chunk = ("x" * 8192).encode()
    prefix = str(body).replace("'", '"').encode()[:100]
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=30)
    try:
        connection.putrequest("POST", ACTIONS)
        connection.putheader("Host", "actions.test")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        for piece in [prefix, *[chunk] * (CAP // len(chunk) + 2)]:
            try:
                connection.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break  # the server answered and closed before reading it all
        else:
            connection.send(b"0\r\n\r\n")
        response = connection.getresponse()
        assert response.status == 413
        assert TOO_LARGE in response.read().decode()
    finally:
        connection.close()
    assert_nothing_stored(mailbox)
