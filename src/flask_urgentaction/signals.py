"""Blinker signals a host app can subscribe to."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

action_taken = _signals.signal(
    "action-taken",
    doc="Sent after an action is stored, with ``action`` (the stored Action).",
)
optin_confirmed = _signals.signal(
    "optin-confirmed",
    doc="Sent when a supporter confirms an opt-in, with ``subscriber``.",
)
mail_sent = _signals.signal(
    "mail-sent",
    doc=(
        "Sent after the SMTP server accepted an outbox message (one recipient), with "
        "``message``; its ``last_reply`` is the server's answer."
    ),
)
mail_failed = _signals.signal(
    "mail-failed",
    doc=(
        "Sent when sending an outbox message fails, with ``message``, ``error`` (an "
        "``smtp.SendError``, whose ``reply`` is the server's answer if one came, or a "
        "``wire.Unwritable``) and ``final`` (True when it will not be retried)."
    ),
)
