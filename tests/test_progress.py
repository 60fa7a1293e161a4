"""A long send-mail shows a progress bar on a terminal and stays quiet in a pipe or cron."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from .conftest import Mailbox, action_body
from .servers import ROOT, Workers


@pytest.fixture
def app_config(tmp_path: Path) -> dict[str, Any]:
    # One database file for the test's app and the command's process.
    database = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    return {"URGENTACTION_DELIVERY": "worker", "URGENTACTION_DATABASE_URL": database}


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "tests.delivery_app", "urgentaction", *args]


def on_terminal(env: dict[str, str], *args: str) -> str:
    """Run the command with a pseudo-terminal as its stdin, stdout and stderr."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        command(*args), cwd=ROOT, env=env | {"COLUMNS": "100", "TERM": "xterm"},
        stdin=follower, stdout=follower, stderr=follower,
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=60)
    os.close(leader)
    assert process.returncode == 0
    return b"".join(chunks).decode("utf-8", "replace")


def queue_actions(app: Flask, count: int) -> None:
    client = app.test_client()
    for index in range(count):
        body = action_body(client, email=f"supporter{index}@example.org")
        response = client.post("/actions/api/campaigns/example-mine-strike/actions", json=body)
        assert response.status_code == 201


def test_send_mail_draws_a_bar_on_a_terminal(
    app: Flask, campaign: Any, mailbox: Mailbox, tmp_path: Path
) -> None:
    queue_actions(app, 15)  # two targets each: 30 messages
    output = on_terminal(Workers(app, tmp_path).env, "send-mail")
    assert len(mailbox.received) == 30
    assert "Sending" in output
    assert "30/30" in output
    assert "sent 30, failed 0; nothing waiting" in output


def test_send_mail_in_a_pipe_prints_only_its_summary(
    app: Flask, campaign: Any, mailbox: Mailbox, tmp_path: Path
) -> None:
    queue_actions(app, 3)
    result = subprocess.run(
        command("send-mail"), cwd=ROOT, env=Workers(app, tmp_path).env,
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert len(mailbox.received) == 6
    assert result.stdout == "sent 6, failed 0; nothing waiting\n"
    assert "Sending" not in result.stderr
