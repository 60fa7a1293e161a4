"""How fast actions are taken and mailed, as ratios against baselines in the same run.

- submit: JSON actions per second (stored with their outbox row, delivery "worker")
  against a trivial JSON route of the same app (Flask's own overhead).
- send: outbox messages per second to a loopback SMTP server (aiosmtpd) against
  Flask-Mail sending the same number of messages over one connection.

Usage: python bench/submit.py [N]   (default 300)
"""

from __future__ import annotations

import re
import socket
import sys
import tempfile
import time
from pathlib import Path

import flask_mail
from aiosmtpd.controller import Controller
from flask import Flask, jsonify

from flask_urgentaction import UrgentAction, outbox
from flask_urgentaction.campaigns import save
from flask_urgentaction.storage import get_session

CAMPAIGN = {
    "slug": "bench",
    "status": "live",
    "targets": [{"name": "Target", "email": "target@example.org"}],
    "translations": {"en": {"title": "Bench", "subject": "S", "message": "M"}},
}


class Sink:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.count += 1
        return "250 OK"


def main(n: int) -> None:
    sink = Sink()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    smtp = Controller(sink, hostname="127.0.0.1", port=port)
    smtp.start()
    with tempfile.TemporaryDirectory() as tmp:
        app = Flask("bench", instance_path=str(Path(tmp) / "instance"))
        app.config.update(
            SECRET_KEY="bench", MAIL_SERVER="127.0.0.1", MAIL_PORT=port,
            MAIL_DEFAULT_SENDER="Bench <bench@example.org>",
            URGENTACTION_DELIVERY="worker", URGENTACTION_MIN_FILL_SECONDS=0,
            URGENTACTION_RATE_LIMIT=f"{n * 10} per minute",
        )  # fmt: skip
        app.add_url_rule("/baseline", "baseline", lambda: jsonify(ok=True), methods=["POST"])
        UrgentAction(app)
        client = app.test_client()
        with app.app_context():
            save(get_session(), CAMPAIGN)
            get_session().commit()

        bodies = []
        for i in range(n):
            data = client.get("/actions/api/campaigns/bench").get_json()
            number = re.search(r"\d{4}", data["challenge"]["question"])
            assert number
            bodies.append({
                "name": f"Supporter {i}", "email": f"s{i}@example.org", "country": "BA",
                "challenge_token": data["challenge"]["token"],
                "challenge_answer": number.group(0),
            })  # fmt: skip

        start = time.perf_counter()
        for body in bodies:
            client.post("/baseline", json=body)
        baseline = time.perf_counter() - start
        start = time.perf_counter()
        for body in bodies:
            assert client.post("/actions/api/campaigns/bench/actions", json=body).status_code == 201
        submit = time.perf_counter() - start

        with app.app_context():
            start = time.perf_counter()
            report = outbox.drain(limit=n)
            send = time.perf_counter() - start
            assert len(report.sent) == n
            mail = app.extensions["mail"]
            start = time.perf_counter()
            with flask_mail.Connection(mail) as conn:
                for _ in range(n):
                    conn.send(flask_mail.Message("S", ["t@example.org"], body="M",
                                                 sender="b@example.org"))  # fmt: skip
            raw_send = time.perf_counter() - start
    smtp.stop()
    print(f"actions: {n}")
    print(f"submit:   {n / submit:8.0f} actions/s   baseline route {n / baseline:8.0f} req/s"
          f"   ratio {submit / baseline:5.1f}x the baseline's time")  # fmt: skip
    print(f"send:     {n / send:8.0f} messages/s  Flask-Mail alone {n / raw_send:8.0f} msg/s"
          f"   ratio {send / raw_send:5.1f}x the baseline's time")  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
