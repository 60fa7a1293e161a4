"""One SMTP session with the server in Flask-Mail's settings: one message, one recipient,
every reply kept.

Flask-Mail's settings (``MAIL_SERVER``, ``MAIL_PORT``, ``MAIL_USE_TLS``,
``MAIL_USE_SSL``, ``MAIL_USERNAME``, ``MAIL_PASSWORD``, ``MAIL_DEBUG``,
``MAIL_MAX_EMAILS``, ``MAIL_SUPPRESS_SEND``) say where and how to connect. The
conversation is ours: Flask-Mail sets no socket timeout and keeps no reply. Each
step (MAIL FROM, RCPT TO, DATA) has its own reply, so a refusal carries the
server's exact reply, and a line that drops after the message went out is told
apart from one that dropped before: only the first may have been delivered.

The caller's work on a message may overlap the server's replies: given as a
:data:`Preparation`, it runs a step at a time while the replies to MAIL FROM,
RCPT TO and DATA are awaited, and returns the message, or None to withdraw it.
Those commands deliver nothing, so what the caller must have done before a
message goes out (committing its attempt) it may do there: the message is sent
only after the preparation has returned.

Where the server offers PIPELINING (RFC 2920), MAIL FROM, RCPT TO and DATA go
out in one write and their replies are read in order: two waits on the server per
message instead of four. Every reply is still checked. When a message is not
sent (refused, or withdrawn), the transaction is reset, and nothing is
delivered: a DATA the server accepted after refusing the recipient is ended with
a lone dot, as RFC 2920 (3.1) says; one it accepted with the recipient is never
ended, the line is closed instead.
"""

from __future__ import annotations

import re
import smtplib
import time
from collections.abc import Callable, Generator
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

# A message made while the server answers the envelope: each step runs during one
# wait on the server; it returns the message (CRLF lines), or None to withdraw it.
Preparation = Generator[None, None, bytes | None]


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


class _CallerFailed(Exception):
    """The caller's preparation of a message raised ``error``."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class _Work:
    """A message, or the caller's preparation of it, run a step at a time."""

    def __init__(self, message: bytes | Preparation) -> None:
        self.data: bytes | None = None
        self._steps: Preparation | None = None
        if isinstance(message, bytes):
            self.data = message
        else:
            self._steps = message

    @property
    def withdrawn(self) -> bool:
        return self._steps is None and self.data is None

    def step(self) -> None:
        if self._steps is None:
            return
        try:
            next(self._steps)
        except StopIteration as end:
            self.data, self._steps = end.value, None
        except Exception as exc:
            self._steps = None
            raise _CallerFailed(exc) from exc

    def finish(self) -> bytes | None:
        while self._steps is not None:
            self.step()
        return self.data

    def close(self) -> None:
        if self._steps is not None:
            self._steps.close()
            self._steps = None


@dataclass(frozen=True)
class _Command:
    """A command of the envelope, the replies that let it pass, and what it names."""

    verb: str
    args: str
    expected: tuple[int, ...]
    what: str

    def __post_init__(self) -> None:
        if "\r" in self.args or "\n" in self.args:
            raise ValueError(f"CR or LF in the arguments of {self.verb}")

    @property
    def line(self) -> str:
        return f"{self.verb} {self.args}\r\n" if self.args else f"{self.verb}\r\n"


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

    def send(
        self,
        sender: str,
        recipient: str,
        message: bytes | Preparation,
        deadline: float,
        meanwhile: Callable[[], object] | None = None,
    ) -> Reply | None:
        """Send ``message`` from ``sender`` to ``recipient``: the server's reply, or None
        when a preparation withdrew the message; raise SendError.

        No wait on the server lasts past ``deadline`` (a ``time.monotonic()`` value).
        ``meanwhile`` runs once the message went out, while its reply is awaited. An
        exception raised by a preparation or by ``meanwhile`` closes the session and
        passes on.
        """
        work = _Work(message)
        try:
            if self.settings.suppress:
                return None if work.finish() is None else SUPPRESSED
            limit = self.settings.max_emails
            if limit and self._sent_here >= limit:
                self.close()
            smtp = self._open(deadline)
            return self._transaction(smtp, sender, recipient, work, deadline, meanwhile)
        except _CallerFailed as failed:
            self._drop()  # replies may be pending, or the server in DATA
            raise failed.error from None
        finally:
            work.close()

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        self._sent_here = 0
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()

    def _drop(self) -> None:
        """Close the line without a word: after it failed, or to leave a DATA unended,
        which the server then discards."""
        smtp, self._smtp = self._smtp, None
        self._sent_here = 0
        if smtp is not None:
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

    def _transaction(
        self,
        smtp: smtplib.SMTP,
        sender: str,
        recipient: str,
        work: _Work,
        deadline: float,
        meanwhile: Callable[[], object] | None,
    ) -> Reply | None:
        envelope = (
            _Command("MAIL", f"FROM:<{sender}>", (250,), "sender"),
            _Command("RCPT", f"TO:<{recipient}>", (250, 251), f"recipient <{recipient}>"),
            _Command("DATA", "", (354,), "message"),
        )
        pipelined = smtp.has_extn("pipelining")
        replies: list[Reply] = []
        went_out = False
        try:
            if pipelined:
                self._wait_until(deadline)
                smtp.send("".join(command.line for command in envelope))
            for command in envelope:
                if not pipelined:
                    self._wait_until(deadline)
                    smtp.putcmd(command.verb, command.args)
                work.step()  # while the server answers
                self._wait_until(deadline)
                code, text = smtp.getreply()
                if code == -1:
                    raise smtplib.SMTPServerDisconnected(str(Reply.of(code, text)))
                replies.append(Reply.of(code, text))
                if not pipelined and (code not in command.expected or work.withdrawn):
                    break
            refusal = _refusal(envelope, replies)
            data = None if refusal is not None else work.finish()
            if data is None:
                self._abandon(smtp, replies, deadline)
                if refusal is None or work.withdrawn:
                    return None
                raise refusal
            self._wait_until(deadline)
            went_out = True
            smtp.send(_dot_stuffed(data))
            if meanwhile is not None:
                try:
                    meanwhile()
                except Exception as exc:
                    raise _CallerFailed(exc) from exc
            self._wait_until(deadline)
            code, text = smtp.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            if went_out:
                raise SendError(
                    "no reply after the message went out; it may have been delivered, and "
                    f"the retry carries the same Message-ID ({type(exc).__name__}: {exc})",
                    maybe_delivered=True,
                ) from exc
            if (refusal := _refusal(envelope, replies)) is not None:
                raise refusal from exc  # the server said why before it hung up
            raise SendError(f"connection lost ({type(exc).__name__}: {exc})") from exc
        reply = Reply.of(code, text)
        if code != 250:
            raise SendError(f"message refused: {reply}", reply)
        self._sent_here += 1
        return reply

    def _abandon(self, smtp: smtplib.SMTP, replies: list[Reply], deadline: float) -> None:
        """End a transaction whose message is not sent: nothing is delivered, and where
        the server allows it, the session stays usable for the next message."""
        if len(replies) < 3 or replies[2].code != 354:
            self._reset(smtp)
        elif replies[1].code in (250, 251):
            # The server waits for a message to a recipient it accepted: any end of
            # it, even a lone dot, would deliver one. Left unended, it is discarded.
            self._drop()
        else:
            # Pipelined, and DATA accepted though the recipient was refused: a lone
            # dot ends it (RFC 2920, 3.1), delivering nothing.
            try:
                self._wait_until(deadline)
                smtp.send(".\r\n")
                self._wait_until(deadline)
                smtp.getreply()
            except (OSError, smtplib.SMTPException):
                self._drop()
                return
            self._reset(smtp)

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


def _refusal(envelope: tuple[_Command, ...], replies: list[Reply]) -> SendError | None:
    """The first refusal among the replies to the envelope's commands, if any."""
    for command, reply in zip(envelope, replies, strict=False):
        if reply.code not in command.expected:
            return SendError(f"{command.what} refused: {reply}", reply)
    return None


def _dot_stuffed(data: bytes) -> bytes:
    """The DATA payload: lines starting with a dot doubled, ended by CRLF.CRLF."""
    body = re.sub(rb"(?m)^\.", b"..", data)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + b".\r\n"
