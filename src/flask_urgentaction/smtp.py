"""One SMTP session with the server in Flask-Mail's settings: one message, one recipient,
every reply kept.

Flask-Mail's settings (``MAIL_SERVER``, ``MAIL_PORT``, ``MAIL_USE_TLS``,
``MAIL_USE_SSL``, ``MAIL_USERNAME``, ``MAIL_PASSWORD``, ``MAIL_DEBUG``,
``MAIL_MAX_EMAILS``, ``MAIL_SUPPRESS_SEND``) say where and how to connect. The
conversation is ours: Flask-Mail sets no socket timeout and keeps no reply. Each
step (MAIL FROM, RCPT TO, DATA) is its own command, so a refusal carries the
server's exact reply, and a line that drops after the message went out is told
apart from one that dropped before: only the first may have been delivered.
"""

from __future__ import annotations

import re
import smtplib
import time
from dataclasses import dataclass
from typing import Protocol


class MailSettings(Protocol):
    """The part of Flask-Mail's state (``app.extensions["mail"]``) used here."""

    server: str
    port: int | None
    username: str | None
    password: str | None
    use_tls: bool
    use_ssl: bool
    debug: int | bool
    max_emails: int | None
    suppress: bool


@dataclass(frozen=True)
class Reply:
    code: int
    text: str

    def __str__(self) -> str:
        return f"{self.code} {self.text}".strip()

    @classmethod
    def of(cls, code: int, text: bytes | str) -> Reply:
        raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        return cls(code, " ".join(raw.split()))


SUPPRESSED = Reply(250, "not sent: MAIL_SUPPRESS_SEND is on")


class SendError(Exception):
    """A message was not accepted.

    ``permanent``: the server refused it for good (5xx). ``maybe_delivered``: the
    line failed after the message went out and before the reply came, so the
    server may have taken it. ``unreachable``: no session could be opened at
    all, so the next message would fare no better.
    """

    def __init__(
        self,
        description: str,
        reply: Reply | None = None,
        *,
        maybe_delivered: bool = False,
        unreachable: bool = False,
    ) -> None:
        super().__init__(description)
        self.reply = reply
        self.permanent = reply is not None and reply.code >= 500 and not unreachable
        self.maybe_delivered = maybe_delivered
        self.unreachable = unreachable


class OutOfTime(TimeoutError):
    """The send ran into its deadline (the worker's lease on the message)."""


class Session:
    """An SMTP connection opened on the first send and reused until closed."""

    def __init__(self, settings: MailSettings, timeout: float) -> None:
        self.settings = settings
        self.timeout = timeout
        self._smtp: smtplib.SMTP | None = None
        self._sent_here = 0

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def send(self, sender: str, recipient: str, data: bytes, deadline: float) -> Reply:
        """Send ``data`` (CRLF lines) from ``sender`` to ``recipient``; raise SendError.

        No wait on the server lasts past ``deadline`` (a ``time.monotonic()`` value).
        """
        if self.settings.suppress:
            return SUPPRESSED
        limit = self.settings.max_emails
        if limit and self._sent_here >= limit:
            self.close()
        smtp = self._open(deadline)
        went_out = False
        try:
            self._wait_until(deadline)
            self._step(smtp, "MAIL", f"FROM:<{sender}>", (250,), "sender")
            self._wait_until(deadline)
            self._step(smtp, "RCPT", f"TO:<{recipient}>", (250, 251), f"recipient <{recipient}>")
            self._wait_until(deadline)
            self._step(smtp, "DATA", "", (354,), "message")
            went_out = True
            smtp.send(_dot_stuffed(data))
            self._wait_until(deadline)
            code, text = smtp.getreply()
        except SendError:
            raise
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            if went_out:
                raise SendError(
                    "no reply after the message went out; it may have been delivered, and "
                    f"the retry carries the same Message-ID ({type(exc).__name__}: {exc})",
                    maybe_delivered=True,
                ) from exc
            raise SendError(f"connection lost ({type(exc).__name__}: {exc})") from exc
        reply = Reply.of(code, text)
        if code != 250:
            raise SendError(f"message refused: {reply}", reply)
        self._sent_here += 1
        return reply

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        self._sent_here = 0
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()

    def _open(self, deadline: float) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        settings = self.settings
        wait = self._remaining(deadline)
        smtp: smtplib.SMTP | None = None
        try:
            if settings.use_ssl:
                smtp = smtplib.SMTP_SSL(settings.server, settings.port or 0, timeout=wait)
            else:
                smtp = smtplib.SMTP(settings.server, settings.port or 0, timeout=wait)
            smtp.set_debuglevel(int(settings.debug))
            smtp.ehlo_or_helo_if_needed()
            if settings.use_tls:
                smtp.starttls()
                smtp.ehlo()
            if settings.username and settings.password:
                smtp.login(settings.username, settings.password)
        except (OSError, smtplib.SMTPException) as exc:
            if smtp is not None:
                smtp.close()
            reply = None
            if isinstance(exc, smtplib.SMTPResponseException):
                reply = Reply.of(exc.smtp_code, exc.smtp_error)
            # A refusal here (bad login, no TLS) is the same for every message:
            # retried later, never a reason to fail this one message for good.
            raise SendError(
                f"cannot open an SMTP session ({type(exc).__name__}: {exc})",
                reply,
                unreachable=True,
            ) from exc
        self._smtp = smtp
        return smtp

    def _step(
        self, smtp: smtplib.SMTP, command: str, args: str, expected: tuple[int, ...], what: str
    ) -> None:
        code, text = smtp.docmd(command, args)
        if code in expected:
            return
        reply = Reply.of(code, text)
        if code == -1:
            raise smtplib.SMTPServerDisconnected(str(reply))
        self._reset(smtp)
        raise SendError(f"{what} refused: {reply}", reply)

    def _reset(self, smtp: smtplib.SMTP) -> None:
        # The session stays usable for the next message after a refusal.
        try:
            code, _text = smtp.rset()
        except (OSError, smtplib.SMTPException):
            code = -1
        if code != 250:
            self.close()

    def _remaining(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise OutOfTime("the lease on this message ran out")
        return min(self.timeout, left)

    def _wait_until(self, deadline: float) -> None:
        """Let no wait on the socket run past ``deadline``."""
        if self._smtp is not None and self._smtp.sock is not None:
            self._smtp.sock.settimeout(self._remaining(deadline))


def _dot_stuffed(data: bytes) -> bytes:
    """The DATA payload: lines starting with a dot doubled, ended by CRLF.CRLF."""
    body = re.sub(rb"(?m)^\.", b"..", data)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + b".\r\n"
