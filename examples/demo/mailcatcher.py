"""A local SMTP server that keeps every message it receives as an ``.eml`` file.

The demo sends its mail here instead of to real inboxes, and the demo app's
``/mailbox/`` pages read the files back. Run it with::

    python examples/demo/mailcatcher.py --port 1025 --dir examples/demo/mailbox

Each file starts with ``X-Envelope-From`` and ``X-Envelope-To`` header lines added
by the catcher: the envelope, not the ``To:`` header, says who really received a
message (the targets of an action, say, are not necessarily all in ``To:``).
"""

from __future__ import annotations

import argparse
import email
import email.policy
import itertools
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

# The viewer in app.py reads these two header names back; keep them in step.
ENVELOPE_FROM = "X-Envelope-From"
ENVELOPE_TO = "X-Envelope-To"

# SIGINT is Ctrl-C; SIGTERM is what the demo script sends when it ends.
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


class MaildirHandler:
    """An aiosmtpd handler that writes each message to a file in one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        # The counter orders messages caught within the same microsecond, which
        # the timestamp alone would not. Handlers all run on the server's one
        # event loop thread, so it needs no lock.
        self._counter = itertools.count(1)

    def next_name(self) -> str:
        """Return a new file name that sorts after every earlier one."""
        number = next(self._counter)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        return f"{stamp}-{number:06d}.eml"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        # Match the message's own line ending so the file stays consistent.
        newline = b"\r\n" if b"\r\n" in content else b"\n"
        mail_from = envelope.mail_from or ""
        prefix = (
            f"{ENVELOPE_FROM}: {mail_from}".encode()
            + newline
            + f"{ENVELOPE_TO}: {', '.join(envelope.rcpt_tos)}".encode()
            + newline
        )
        name = self.next_name()
        # Write under a hidden temporary name, then rename: the viewer lists only
        # ``*.eml`` and so never sees a half-written file.
        temporary = self.directory / f".{name}.tmp"
        temporary.write_bytes(prefix + content)
        os.replace(temporary, self.directory / name)

        message = email.message_from_bytes(content, policy=email.policy.default)
        subject = message.get("Subject", "")
        recipients = ", ".join(envelope.rcpt_tos)
        print(f"{name}  {mail_from} -> {recipients}  {subject!s}", flush=True)
        return "250 Message accepted for delivery"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=1025, help="port to listen on")
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(__file__).resolve().parent / "mailbox",
        help="directory the .eml files are written to",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    directory: Path = args.dir
    directory.mkdir(parents=True, exist_ok=True)

    for signum in STOP_SIGNALS:
        # A background job may start with SIGINT ignored; an ignored signal is
        # discarded even while blocked, and sigwait would never see it.
        signal.signal(signum, signal.SIG_DFL)
    # Blocked before the server thread starts, so that thread inherits the mask.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)

    controller = Controller(
        MaildirHandler(directory),
        hostname=args.host,
        port=args.port,
        # Supporters' names are often not ASCII; accept UTF-8 addresses too.
        enable_SMTPUTF8=True,
    )
    try:
        controller.start()
    except OSError as error:
        # Most often the port is taken, e.g. by a catcher still running.
        print(
            f"mailcatcher: cannot listen on {args.host}:{args.port}: {error}",
            file=sys.stderr,
        )
        return 1
    print(
        f"Catching mail on {args.host}:{args.port}, writing to {directory}",
        flush=True,
    )

    # Wait for the signal synchronously instead of in a handler: Ctrl-C and the
    # demo script's SIGTERM often arrive together, and a handler interrupted by
    # a second one could deadlock. The server thread was started with both
    # signals blocked, so only this thread receives them.
    try:
        signal.sigwait(STOP_SIGNALS)
    finally:
        controller.stop()
    print("Mail catcher stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
