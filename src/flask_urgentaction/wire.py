"""An outbox row as it goes on the wire: a MIME message that is valid whatever was typed.

- Bodies (text, and HTML when there is one) are UTF-8 in quoted-printable, so no
  line is longer than 76 octets however long a paragraph is, in any script, and
  trailing spaces survive. Line breaks (CRLF, CR or LF) become CRLF and the body
  ends with one; that is the only change a reader can see. A line starting with
  ``From `` is written ``=46rom ``, so no mailbox file turns it into ``>From``.
- Header values that carry typed text (the display names in From, To and
  Reply-To, and the Subject) are encoded here rather than by the email package:
  when CPython refolds a long address header it writes an encoded display name
  back decoded and unquoted, so ``Ana <ana@example.org> via Network`` became a
  second address. A value of plain ASCII words stays as it is; any other value
  becomes RFC 2047 encoded-words as a whole, each of whole characters and at most
  64 characters, one to a line. So a name like ``Kovač, Ana`` or
  ``Bcc: x@evil.example`` can only ever be read as a name.
- CR, LF and NUL in a header value are refused (:class:`HeaderInjection`), and so
  is an address that cannot be written in ASCII: a non-ASCII local part would need
  SMTPUTF8, which this sender does not use. Domains are written in IDNA 2008.
"""

from __future__ import annotations

import base64
import random
import re
import sys
from collections.abc import Iterable
from email import quoprimime
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime
from typing import Any

from .models import OutboxMessage

HEADER_FORBIDDEN = ("\r", "\n", "\0")
SPACE_OR_ANGLE = re.compile("[ <>]")
# RFC 5322 atext: a display name of these words needs no quoting or encoding.
ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,60}")
# Printable ASCII words between single spaces: a Subject that needs no encoding.
PLAIN_WORD = re.compile(r"[!-~]{1,60}")
# UTF-8 bytes per encoded-word: "=?utf-8?b?" + base64 of 39 bytes (52) + "?=" is 64,
# so even "Reply-To: " and one encoded-word fit on a line of 76.
WORD_BYTES = 39
LINE = 76
FOLD = "\r\n "


class Unwritable(ValueError):
    """This message cannot be put on the wire as stored; retrying will not help."""


class HeaderInjection(Unwritable):
    pass


def header_safe(value: str) -> str:
    # HEADER_FORBIDDEN written out: this runs several times for each message sent.
    if "\r" in value or "\n" in value or "\0" in value:
        raise HeaderInjection("CR, LF or NUL in a header value")
    return value


class Folded(str):
    """A header value encoded and folded here; the policy writes it out as it is."""


class WirePolicy(EmailPolicy):
    """The SMTP policy (CRLF, 7-bit), writing :class:`Folded` values untouched."""

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        if isinstance(value, Folded):
            return name, value
        return super().header_store_parse(name, value)

    def fold(self, name: str, value: str) -> str:
        if isinstance(value, Folded):
            return f"{name}: {value}{self.linesep}"
        return str(super().fold(name, value))

    def fold_binary(self, name: str, value: str) -> bytes:
        if isinstance(value, Folded):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


WIRE = WirePolicy(linesep="\r\n", cte_type="7bit", max_line_length=LINE)


def ascii_address(address: str) -> str:
    """``address`` as it can go in a header and the envelope without SMTPUTF8."""
    header_safe(address)
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise Unwritable(f"not an email address: {address!r}")
    if not local.isascii() or not local.isprintable() or SPACE_OR_ANGLE.search(local):
        raise Unwritable(
            f"{address!r}: a local part that is not plain ASCII needs SMTPUTF8, which is not used"
        )
    if not domain.isascii():
        domain = _idna(address, domain)
    if not domain.isprintable() or SPACE_OR_ANGLE.search(domain):
        raise Unwritable(f"not an email address: {address!r}")
    return f"{local}@{domain}"


def _idna(address: str, domain: str) -> str:
    # IDNA 2008 as the form's email check reads it; Python's own "idna" codec is
    # IDNA 2003, which writes straße.example as strasse.example: another domain.
    from email_validator import EmailNotValidError, validate_email

    try:
        checked = validate_email(f"x@{domain}", check_deliverability=False)
    except EmailNotValidError as exc:
        raise Unwritable(f"{address!r}: the domain cannot be written in ASCII ({exc})") from exc
    return str(checked.ascii_domain)


def encoded_words(text: str) -> list[str]:
    """``text`` as RFC 2047 encoded-words (UTF-8, base64), none splitting a character."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate
        raise Unwritable("text that is not valid Unicode") from exc
    words: list[str] = []
    start = 0
    while start < len(data):
        end = start + WORD_BYTES
        # Back to the first byte of a character (a UTF-8 continuation byte is 10xxxxxx).
        while end < len(data) and data[end] & 0xC0 == 0x80:
            end -= 1
        words.append(_encoded_word(data[start:end]))
        start = end
    return words


def _encoded_word(data: bytes) -> str:
    return f"=?utf-8?b?{base64.b64encode(data).decode('ascii')}?="


def _fold(name: str, tokens: Iterable[str]) -> Folded:
    """Join ``tokens`` with spaces, starting a new line before one that would not fit."""
    lines: list[str] = []
    width = len(name) + 2  # "Name: "
    for token in tokens:
        if lines and width + 1 + len(token) <= LINE:
            lines[-1] += " " + token
            width += 1 + len(token)
        elif not lines:
            lines.append(token)
            width += len(token)
        else:
            lines.append(token)
            width = 1 + len(token)
    return Folded(FOLD.join(lines))


def _phrase(text: str) -> list[str]:
    """A display name as words: plain atoms, or encoded-words only (never a mix)."""
    header_safe(text)
    words = text.split(" ")
    if "=?" not in text and all(ATOM.fullmatch(word) for word in words):
        return words
    return encoded_words(text)


def address_header(name: str, pair: tuple[str, str] | list[str]) -> Folded:
    display, address = pair
    angle = f"<{ascii_address(address)}>"
    tokens = [*_phrase(display), angle] if display else [angle]
    return _fold(name, tokens)


def subject_header(subject: str) -> Folded:
    header_safe(subject)
    words = subject.split(" ")
    if subject and "=?" not in subject and all(PLAIN_WORD.fullmatch(word) for word in words):
        return _fold("Subject", words)
    return _fold("Subject", encoded_words(subject))


def _plain_header(name: str, value: str) -> Folded:
    """A value we wrote ourselves (a URL, a Message-ID): ASCII, one line."""
    header_safe(value)
    if not re.fullmatch(r"[A-Za-z0-9-]+", name) or not value.isascii() or len(value) > 900:
        raise Unwritable(f"header {name!r} cannot be written as it is")
    return Folded(value)


def compose(row: OutboxMessage) -> EmailMessage:
    """The whole message for ``row``: headers, then a text and an optional HTML part."""
    message = EmailMessage(policy=WIRE)
    message["From"] = address_header("From", row.sender)
    message["To"] = address_header("To", (row.recipient_name, row.recipient))
    if row.reply_to:
        message["Reply-To"] = address_header("Reply-To", row.reply_to)
    message["Subject"] = subject_header(row.subject)
    # The time it was stored: a retry is the same message, not a newer one.
    message["Date"] = _plain_header("Date", format_datetime(row.created_at))
    message["Message-ID"] = _plain_header("Message-ID", row.message_id)
    for name, value in (row.headers or {}).items():
        message[name] = _plain_header(name, value)
    _set_text(message, row.text_body, "plain")
    if row.html_body is not None:
        html = EmailMessage(policy=WIRE)
        _set_text(html, row.html_body, "html")
        del html["MIME-Version"]  # a header of the whole message only
        message.make_alternative()
        message.attach(html)
    return message


def _set_text(part: EmailMessage, text: str, subtype: str) -> None:
    try:
        part.set_content(text, subtype=subtype, charset="utf-8", cte="quoted-printable")
    except UnicodeEncodeError as exc:
        raise Unwritable("text that is not valid Unicode") from exc
    payload = part.get_payload()
    assert isinstance(payload, str)
    part.set_payload(re.sub(r"(?m)^From ", "=46rom ", payload))


def render(row: OutboxMessage) -> bytes:
    """``as_bytes(compose(row))`` written directly: the same bytes (but for the MIME
    boundary, random in both), without building and refolding an ``EmailMessage``,
    which costs more than sending the message over loopback."""
    lines = [
        f"From: {address_header('From', row.sender)}",
        f"To: {address_header('To', (row.recipient_name, row.recipient))}",
    ]
    if row.reply_to:
        lines.append(f"Reply-To: {address_header('Reply-To', row.reply_to)}")
    lines += [
        f"Subject: {subject_header(row.subject)}",
        f"Date: {_plain_header('Date', format_datetime(row.created_at))}",
        f"Message-ID: {_plain_header('Message-ID', row.message_id)}",
        *(f"{name}: {_plain_header(name, value)}" for name, value in (row.headers or {}).items()),
    ]
    text = _quoted_printable(row.text_body)
    if row.html_body is None:
        lines += [*_part_headers("plain"), "MIME-Version: 1.0", "", text]
    else:
        html = _quoted_printable(row.html_body)
        boundary = _boundary()
        lines += [
            "MIME-Version: 1.0",
            f'Content-Type: multipart/alternative;{FOLD}boundary="{boundary}"',
            "",
            f"--{boundary}",
            *_part_headers("plain"),
            "",
            text,
            f"--{boundary}",
            *_part_headers("html"),
            "",
            html,
            f"--{boundary}--",
            "",
        ]
    return "\r\n".join(lines).encode("ascii")


def _part_headers(subtype: str) -> tuple[str, str]:
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"',
        "Content-Transfer-Encoding: quoted-printable",
    )


def _quoted_printable(text: str) -> str:
    """A body as ``set_content(..., cte="quoted-printable")`` and ``_set_text`` write it,
    with CRLF line ends, the last line ended too."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise Unwritable("text that is not valid Unicode") from exc
    body = b"\n".join(data.splitlines()) + b"\n"
    encoded = quoprimime.body_encode(body.decode("latin-1"), LINE)
    encoded = re.sub(r"(?m)^From ", "=46rom ", encoded)
    # Quoted-printable leaves no bare CR: every line end is an LF here.
    return encoded.replace("\n", "\r\n")


def _boundary() -> str:
    # As the email package makes it; "==" cannot occur in quoted-printable text.
    return "=" * 15 + f"{random.randrange(sys.maxsize):019d}" + "=="


def envelope(row: OutboxMessage, return_path: str | None = None) -> tuple[str, str]:
    """The envelope sender (``return_path``, else the From address) and its one recipient."""
    return ascii_address(return_path or row.sender[1]), ascii_address(row.recipient)


def as_bytes(message: EmailMessage) -> bytes:
    return message.as_bytes(policy=WIRE)
