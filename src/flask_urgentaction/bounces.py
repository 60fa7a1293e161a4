"""Bounces: a return path per message, delivery-status notifications taken in, dead addresses.

A server that accepted a message may still fail to deliver it and then mail a
delivery-status notification (DSN, RFC 3464) to the message's envelope sender.
With ``URGENTACTION_RETURN_PATH`` set (``bounces@lists.example.org``), each
outbox row goes out with an envelope sender of its own,
``bounces+<id>-<signature>@lists.example.org``: the row's id and the first 64
bits of an HMAC-SHA256 of it under ``SECRET_KEY`` (verified under
``SECRET_KEY_FALLBACKS`` too). Only digits, lowercase hex and ``-``, so no MTA
changes its case or quotes it. A DSN addressed there names its row for sure,
and a forger who never saw that return path cannot name any.

:func:`parse` reads a DSN with the standard library's ``email`` package into one
:class:`Report` per recipient; anything else (auto-replies, spam, garbage)
gives none, and it never raises. :func:`apply` takes the reports of one DSN in
one transaction:

- the row is the one a valid token names, else the one with the returned
  Message-ID; a token that does not verify marks the whole DSN forged, and
  nothing changes;
- a hard bounce (``failed`` with a 5.x.x status) turns the row from ``sent`` to
  ``bounced`` (``last_error`` says why, ``last_reply`` keeps what our server
  said) and puts the address on the bounce list (``ua_bounces``); nothing more
  is sent to it until ``flask urgentaction bounces clear``. A hard bounce whose
  row is unknown still lists the address, if mail was sent to it from here;
- ``failed`` with a temporary status also turns the row ``bounced`` (that
  message is lost) but lists no address;
- ``delayed`` is noted in the row's ``last_error``; its status stays ``sent``.

Reading the same DSN again changes nothing: a row already ``bounced`` is a
repeat, so ``count`` on the bounce list is the number of distinct messages that
bounced to the address (a DSN whose row is unknown counts only when it adds
the address). And a cleared address is not listed again by an old DSN.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import quopri
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import Message
from email.parser import BytesHeaderParser
from functools import lru_cache
from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .models import Bounce, OutboxMessage, OutboxStatus
from .wire import Unwritable

log = logging.getLogger("flask_urgentaction.bounces")

PURPOSE = b"urgentaction.return-path:"
SIGNATURE_HEX = 16  # 64 bits: no one guesses that through a mailbox
TOKEN = re.compile(r"\+([1-9][0-9]{0,18})-([0-9a-f]{16})@", re.IGNORECASE)
TOKEN_ALONE = re.compile(r"([1-9][0-9]{0,18})-([0-9a-f]{16})")
# The addresses a DSN was delivered to, as MTAs and mailbox providers record them.
DELIVERED_TO = ("to", "delivered-to", "x-original-to", "envelope-to", "return-path")
RETURNED = ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers",
            "message/global", "message/global-headers")  # fmt: skip
STATUS_PARTS = ("message/delivery-status", "message/global-delivery-status")
ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
SMTP_CODE = re.compile(r"^\s*([245])\d\d(?:[ -]|$)")
ACTIONS = ("failed", "delayed", "delivered", "relayed", "expanded")
MAX_DIAGNOSTIC = 1000
LOCAL_PART_MAX = 64  # octets, RFC 5321


class DeadAddress(Unwritable):
    """Not sent: the recipient bounced for good. An ``Unwritable``, so a handler of
    ``mail_failed`` sees a kind of error it knows: retrying does not help."""


# --- the return path ------------------------------------------------------------


def _keys(config: Mapping[str, Any]) -> list[bytes]:
    keys = [config.get("SECRET_KEY"), *(config.get("SECRET_KEY_FALLBACKS") or [])]
    return [key.encode() if isinstance(key, str) else bytes(key) for key in keys if key]


def _signature(key: bytes, outbox_id: int) -> str:
    digest = hmac.new(key, PURPOSE + str(outbox_id).encode(), hashlib.sha256).hexdigest()
    return digest[:SIGNATURE_HEX]


def token(outbox_id: int, config: Mapping[str, Any]) -> str:
    """``<id>-<signature>``: what the return path of outbox row ``outbox_id`` carries."""
    return f"{outbox_id}-{_signature(_keys(config)[0], outbox_id)}"


def verified(candidate: str, config: Mapping[str, Any]) -> int | None:
    """The outbox id a return-path token names, or None when its signature is wrong."""
    match = TOKEN_ALONE.fullmatch(candidate.lower())
    if match is None:
        return None
    outbox_id = int(match[1])
    good = [hmac.compare_digest(_signature(key, outbox_id), match[2]) for key in _keys(config)]
    return outbox_id if any(good) else None


def return_path(outbox_id: int, config: Mapping[str, Any]) -> str | None:
    """The envelope sender for outbox row ``outbox_id``; None without a return path."""
    configured = config.get("URGENTACTION_RETURN_PATH")
    if not configured:
        return None
    local, at, domain = str(configured).rpartition("@")
    tagged = f"{local}+{token(outbox_id, config)}"
    if not at or len(tagged.encode()) > LOCAL_PART_MAX:
        # Mail still goes out (or fails, naming the setting); its bounces are then
        # matched by Message-ID only.
        _unusable(str(configured))
        return str(configured)
    return f"{tagged}@{domain}"


@lru_cache(maxsize=8)
def _unusable(configured: str) -> None:
    # Once per value, not once per message.
    log.error(
        "URGENTACTION_RETURN_PATH %r is not an address with room for a token in a local "
        "part of 64 octets; bounces are matched by Message-ID only. Use a shorter one.",
        configured,
    )


# --- reading a DSN ----------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """What a DSN (or a provider's event) says about one recipient of one message."""

    action: str  # failed | delayed | delivered | relayed | expanded
    status: str  # the RFC 3463 code, "5.1.1"; "" when none was given
    recipient: str  # Final-Recipient, else Original-Recipient, without its type
    diagnostic: str = ""  # the receiving server's words (Diagnostic-Code, its type dropped)
    message_id: str = ""  # of the returned message, as "<...>"; "" when not returned
    tokens: tuple[str, ...] = ()  # return-path tokens of the addresses the DSN went to

    @property
    def hard(self) -> bool:
        return self.action == "failed" and self.status.startswith("5.")

    @property
    def reason(self) -> str:
        return f"{self.status} {self.diagnostic}".strip() or "no reason given"


def parse(data: bytes) -> list[Report]:
    """One :class:`Report` per recipient of the DSN in ``data``; [] for anything else."""
    try:
        return _parse(data)
    except Exception:  # any bytes may come in, and the email package has bugs
        log.debug("not read as a delivery report", exc_info=True)
        return []


def _parse(data: bytes) -> list[Report]:
    message = message_from_bytes(data, policy=policy.default)
    report = next(
        (
            part for part in message.walk()
            if part.get_content_type() == "multipart/report"
            and str(part.get_param("report-type") or "").lower() == "delivery-status"
        ),
        None,
    )  # fmt: skip
    if report is None:
        return []
    parts = [part for part in report.get_payload() if isinstance(part, Message)]
    statuses = [part for part in parts if part.get_content_type() in STATUS_PARTS]
    if not statuses:
        return []
    returned = next((p for p in parts if p.get_content_type() in RETURNED), None)
    message_id = _returned_message_id(returned) if returned is not None else ""
    tokens = _tokens(message.walk())
    return status_reports(_blocks(statuses[0]), message_id, tokens)


def status_reports(
    blocks: Iterable[Message], message_id: str = "", tokens: Sequence[str] = ()
) -> list[Report]:
    """The per-recipient blocks of a message/delivery-status body as reports."""
    reports = []
    for block in blocks:
        recipient = _typed(_field(block, "final-recipient") or _field(block, "original-recipient"))
        if not recipient:
            continue  # the per-message block, or one without anyone in it
        diagnostic = _typed(_field(block, "diagnostic-code"))[:MAX_DIAGNOSTIC]
        status = _status(_field(block, "status"), diagnostic)
        action = _field(block, "action").lower().split(" ")[0]
        if action not in ACTIONS:
            action = {"5": "failed", "4": "delayed", "2": "delivered"}.get(status[:1], "")
        if action:
            reports.append(Report(action, status, recipient, diagnostic, message_id, (*tokens,)))
    return reports


def parse_status(data: bytes, message_id: str = "") -> list[Report]:
    """Reports from a bare message/delivery-status body (as some providers post it)."""
    try:
        return status_reports(_split_blocks(data), message_id)
    except Exception:
        log.debug("not read as delivery-status fields", exc_info=True)
        return []


def _blocks(part: Message) -> list[Message]:
    """The field blocks of a message/delivery-status part."""
    encoding = str(part.get("content-transfer-encoding") or "").strip().lower()
    payload = part.get_payload()
    if isinstance(payload, list) and encoding not in ("base64", "quoted-printable"):
        return [block for block in payload if isinstance(block, Message)]
    # Encoded (or not parsed into blocks): decode the body as it stands, then split.
    raw = part.as_bytes(policy=policy.default).replace(b"\r\n", b"\n")
    body = raw.partition(b"\n\n")[2]
    if encoding == "base64":
        body = base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", body) + b"==")
    elif encoding == "quoted-printable":
        body = quopri.decodestring(body)
    return _split_blocks(body)


def _split_blocks(body: bytes) -> list[Message]:
    body = body.replace(b"\r\n", b"\n").strip(b"\n")
    parser = BytesHeaderParser(policy=policy.default)
    return [parser.parsebytes(block + b"\n") for block in re.split(rb"\n[ \t]*\n", body)]


def _field(block: Message, name: str) -> str:
    """A field's raw value, unfolded; "" when absent."""
    for key, value in block.raw_items():
        if key.lower() == name:
            return " ".join(str(value).split())
    return ""


def _typed(value: str) -> str:
    """``rfc822; ana@example.org`` -> ``ana@example.org``; ``smtp; 550 ...`` -> ``550 ...``."""
    kind, semicolon, rest = value.partition(";")
    text = rest if semicolon and re.fullmatch(r"\s*[A-Za-z0-9-]+\s*", kind) else value
    return text.strip().strip("<>").strip()


def _status(status: str, diagnostic: str) -> str:
    for text in (status, diagnostic):
        match = ENHANCED.search(text)
        if match:
            return ".".join(match.groups())
    code = SMTP_CODE.match(diagnostic)
    return f"{code[1]}.0.0" if code else ""


def _returned_message_id(part: Message) -> str:
    headers: Message | None = None
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        headers = payload[0]  # message/rfc822: the returned message, parsed
    else:
        data = part.get_payload(decode=True)
        if isinstance(data, bytes):
            headers = BytesHeaderParser(policy=policy.default).parsebytes(data)
    if headers is None:
        return ""
    match = re.search(r"<[^<>\s]+>", _field(headers, "message-id"))
    return match[0] if match else ""


def _tokens(parts: Iterable[Message]) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for part in parts:
        for name, value in part.raw_items():
            if name.lower() in DELIVERED_TO:
                for match in TOKEN.finditer(str(value)):
                    found[f"{match[1]}-{match[2]}".lower()] = None
    return tuple(found)


def token_in(address: str) -> tuple[str, ...]:
    """The return-path token in ``address`` (a provider's ``return_path``), if any."""
    return tuple(f"{m[1]}-{m[2]}".lower() for m in TOKEN.finditer(address))


# --- the webhook -----------------------------------------------------------------

SIGNATURE_TOLERANCE = 300  # seconds either way: an older (or newer) call is a replay
DSN_TYPES = ("message/rfc822", "multipart/report", "message/delivery-status")


def signature_ok(header: str | None, body: bytes, secret: str, now: float) -> bool:
    """Whether ``X-UrgentAction-Signature: t=<unix seconds>,v1=<hex>`` signs ``body``:
    v1 is HMAC-SHA256 of ``"<t>." + body`` under ``secret``, and t is within
    :data:`SIGNATURE_TOLERANCE` of ``now``. Several v1 are allowed (a key rotation)."""
    if not header:
        return False
    pairs = [item.strip().partition("=") for item in header.split(",")]
    stamps = [value for key, _eq, value in pairs if key == "t"]
    given = [value.strip().lower() for key, _eq, value in pairs if key == "v1"]
    if len(stamps) != 1 or not re.fullmatch(r"[0-9]{1,12}", stamps[0]) or not given:
        return False
    if abs(now - int(stamps[0])) > SIGNATURE_TOLERANCE:
        return False
    signed = stamps[0].encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, value) for value in given)


def posted(content_type: str, body: bytes) -> list[Report] | None:
    """The reports in a webhook call's body; None when it is neither a DSN nor the JSON
    ``{"events": [...]}``."""
    kind = content_type.partition(";")[0].strip().lower()
    if kind == "application/json":
        try:
            data = json.loads(body)
        except ValueError:
            return None
        return events(data)
    if kind == "message/delivery-status":
        return parse_status(body) or None
    if kind in DSN_TYPES:
        found = parse(body)
        if not found and kind == "multipart/report":
            # The body alone, its boundary in the request's Content-Type.
            head = f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n\r\n"
            found = parse(head.encode("ascii", "replace") + body)
        return found or None
    return None


def events(data: Any) -> list[Report] | None:
    """Reports from a provider's JSON: ``{"events": [{"recipient", "action", "status",
    "diagnostic", "message_id", "return_path"}, ...]}``, every field a string."""
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        return None
    reports = []
    for event in data["events"]:
        if not isinstance(event, dict):
            return None
        names = ("recipient", "action", "status", "diagnostic", "message_id", "return_path")
        fields = {name: event.get(name) or "" for name in names}
        if not all(isinstance(value, str) for value in fields.values()):
            return None
        diagnostic = " ".join(fields["diagnostic"].split())[:MAX_DIAGNOSTIC]
        status = _status(fields["status"], diagnostic)
        action = fields["action"].strip().lower()
        if action not in ACTIONS:
            action = {"5": "failed", "4": "delayed"}.get(status[:1], action)
        message_id = re.search(r"<[^<>\s]+>", fields["message_id"])
        bare = fields["message_id"].strip()
        reports.append(Report(
            action, status, _typed(fields["recipient"]), diagnostic,
            message_id[0] if message_id else (f"<{bare}>" if bare else ""),
            token_in(fields["return_path"]),
        ))  # fmt: skip
    return reports


# --- taking reports in ------------------------------------------------------------


@dataclass
class Summary:
    """What reports did: each report is counted once, under the first that applies."""

    hard: int = 0  # permanent failures of mail sent from here
    addresses: set[str] = field(default_factory=set)  # the addresses of those
    soft: int = 0  # failed without a permanent status: that message is lost, the address not
    delayed: int = 0
    forged: int = 0  # a return-path token whose signature is wrong: nothing changed
    unknown: int = 0  # about mail not sent from here
    other: int = 0  # delivered, relayed, expanded: nothing to do

    @property
    def recorded(self) -> int:
        return self.hard + self.soft + self.delayed

    @property
    def ignored(self) -> int:
        return self.forged + self.unknown + self.other

    def add(self, other: Summary) -> None:
        self.hard += other.hard
        self.addresses |= other.addresses
        self.soft += other.soft
        self.delayed += other.delayed
        self.forged += other.forged
        self.unknown += other.unknown
        self.other += other.other


def address_key(address: str) -> str:
    """How the bounce list names an address: case-folded, as mail is addressed."""
    return address.strip().casefold()


def apply(session: Session, reports: Sequence[Report], source: str) -> Summary:
    """Take in the reports of one DSN (or one webhook call) in one transaction."""
    for attempt in range(2):
        try:
            summary = _apply(session, reports, source, current_app.config)
            session.commit()
            return summary
        except IntegrityError:
            # Another reader listed the same address at the same moment: read again.
            session.rollback()
            if attempt:
                raise
    raise AssertionError("unreachable")


def _apply(
    session: Session, reports: Sequence[Report], source: str, config: Mapping[str, Any]
) -> Summary:
    summary = Summary()
    now = datetime.now(UTC)
    for report in reports:
        if report.action not in ("failed", "delayed"):
            summary.other += 1
            continue
        row, forged = _row(session, report, config)
        if forged:
            summary.forged += 1
            continue
        address = row.recipient if row is not None else report.recipient
        # A DSN from the mailbox that names none of our messages could come from
        # anyone (an employer wishing its own address off the campaign): only the
        # signed webhook may report an address by itself.
        if row is None and (source != "webhook" or not _sent_to(session, address)):
            summary.unknown += 1
            continue
        if report.action == "delayed":
            if row is not None:
                _mark(session, row.id, last_error=f"delayed: {report.reason}"[:2000])
            summary.delayed += 1
            continue
        repeat = row is not None and row.status == OutboxStatus.BOUNCED
        newly = row is not None and _mark(
            session, row.id, status=OutboxStatus.BOUNCED,
            last_error=f"bounced: {report.reason}"[:2000],
        )  # fmt: skip
        if not report.hard:
            summary.soft += 1
            continue
        summary.hard += 1
        summary.addresses.add(address_key(address))
        if not repeat:
            _list(session, address, report, source, row.id if row else None, newly, now)
    return summary


@dataclass(frozen=True)
class _Row:
    id: int
    recipient: str
    status: OutboxStatus


def _row(session: Session, report: Report, config: Mapping[str, Any]) -> tuple[_Row | None, bool]:
    """The outbox row ``report`` is about, if known; and whether its token is forged."""
    columns = select(OutboxMessage.id, OutboxMessage.recipient, OutboxMessage.status)
    if report.tokens:
        ids = [i for i in (verified(t, config) for t in report.tokens) if i is not None]
        if not ids:
            return None, True
        found = session.execute(columns.where(OutboxMessage.id == ids[0])).first()
    elif report.message_id:
        query = columns.where(OutboxMessage.message_id == report.message_id)
        found = session.execute(query).first()
    else:
        found = None
    return (None if found is None else _Row(*found)), False


def _sent_to(session: Session, address: str) -> bool:
    sent = (OutboxMessage.status.in_((OutboxStatus.SENT, OutboxStatus.BOUNCED)),)
    query = select(OutboxMessage.id).where(
        func.lower(OutboxMessage.recipient) == address_key(address), *sent
    )
    return session.execute(query.limit(1)).first() is not None


def _mark(session: Session, outbox_id: int, **values: Any) -> bool:
    """Change a row that is ``sent`` (not one a worker holds, nor a repeat); whether it did."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id, OutboxMessage.status == OutboxStatus.SENT)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return cast("CursorResult[Any]", result).rowcount == 1


def _list(
    session: Session, address: str, report: Report, source: str,
    outbox_id: int | None, newly: bool, now: datetime,
) -> None:  # fmt: skip
    key = address_key(address)[:254]
    listed = session.get(Bounce, key, populate_existing=True)
    if listed is None:
        session.add(Bounce(
            address=key, status=report.status, diagnostic=report.diagnostic, source=source,
            outbox_id=outbox_id, first_at=now, last_at=now, count=1,
        ))  # fmt: skip
        session.flush()
    elif newly:  # another message bounced to it; an unknown row adds nothing new
        listed.count += 1
        listed.last_at = now
        listed.status, listed.diagnostic = report.status, report.diagnostic
        listed.source, listed.outbox_id = source, outbox_id


# --- the bounce list --------------------------------------------------------------


def refusal(bounce: Bounce) -> str:
    """Why a message to a listed address is not sent."""
    when = bounce.last_at.astimezone(UTC).strftime("%Y-%m-%d")
    reason = f"{bounce.status} {bounce.diagnostic}".strip()
    return f"not sent: {bounce.address} bounced on {when}: {reason}"[:2000]


def refusals(session: Session, recipients: Iterable[str]) -> dict[str, str]:
    """For the addresses among ``recipients`` on the bounce list, why not to send; one query."""
    keys = {address_key(address) for address in recipients}
    listed = session.scalars(select(Bounce).where(Bounce.address.in_(keys)))
    return {bounce.address: refusal(bounce) for bounce in listed}


def listed(session: Session) -> list[Bounce]:
    """The bounce list, the newest bounce first."""
    return list(session.scalars(select(Bounce).order_by(Bounce.last_at.desc(), Bounce.address)))


def clear(session: Session, address: str, commit: bool = True) -> bool:
    """Take ``address`` off the bounce list (it was fixed); whether it was on it.
    With ``commit`` false the caller commits (with its own record of the change)."""
    result = session.execute(delete(Bounce).where(Bounce.address == address_key(address)))
    if commit:
        session.commit()
    return cast("CursorResult[Any]", result).rowcount == 1


def refused_since(session: Session, address: str) -> list[int]:
    """The failed rows that were not sent because ``address`` was on the list."""
    prefix = f"not sent: {address_key(address)} bounced on "
    query = select(OutboxMessage.id).where(
        OutboxMessage.status == OutboxStatus.FAILED,
        func.lower(OutboxMessage.recipient) == address_key(address),
        OutboxMessage.last_error.startswith(prefix, autoescape=True),
    )
    return list(session.scalars(query.order_by(OutboxMessage.id)))
