"""A host site served by gunicorn's sync workers on a free loopback port.

For tests that need real worker processes: each has its own engine and its own
connections, as in production, so what they share goes through the database.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask

from .conftest import free_port

ROOT = Path(__file__).resolve().parent.parent

HOST_SITE = """\
import json
import os

from flask import Flask

from flask_urgentaction import UrgentAction

app = Flask("host", instance_path=os.environ["UA_TEST_INSTANCE"])
app.config.update(json.loads(os.environ["UA_TEST_CONFIG"]))
UrgentAction(app)


@app.after_request
def worker_pid(response):
    # The host app's own header, so the test can tell the workers apart.
    response.headers["X-Worker-Pid"] = str(os.getpid())
    return response
"""

GUNICORN_CONF = """\
bind = "127.0.0.1:{port}"
workers = {workers}
worker_class = "sync"
timeout = 30
graceful_timeout = 5
# gunicorn 25 and later open a control socket in the home folder; not for a test.
control_socket_disable = True
"""


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(port: int, method: str, path: str, body: Any = None, timeout: float = 10) -> Answer:
    """One request on a connection of its own, closed after it (so any worker may take
    the next)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Connection": "close"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


@dataclass
class Gunicorn:
    port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def gunicorn(
    folder: Path, config: dict[str, Any], workers: int = 2, start_within: float = 20
) -> Iterator[Gunicorn]:
    """The extension in a host site with ``config``, served by ``workers`` sync workers
    from ``folder``; stopped on the way out, whatever happened."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    (folder / "host_site.py").write_text(HOST_SITE, encoding="utf-8")
    conf = GUNICORN_CONF.format(port=port, workers=workers)
    (folder / "gunicorn_conf.py").write_text(conf, encoding="utf-8")
    env = dict(os.environ, UA_TEST_CONFIG=json.dumps(config),
               UA_TEST_INSTANCE=str(folder / "instance"))  # fmt: skip
    server = Gunicorn(port, folder / "gunicorn.log")
    with server.log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn_conf.py", "host_site:app"],
            cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + start_within
            while server.log().count("Booting worker with pid") < workers:
                assert process.poll() is None, server.log()
                assert time.monotonic() < deadline, server.log()
                time.sleep(0.1)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


class Workers:
    """``flask urgentaction ...`` processes running against the test app's database."""

    def __init__(self, app: Flask, tmp_path: Path) -> None:
        keep = ("SECRET_KEY", "SERVER_NAME", "TESTING")
        config = {
            key: value
            for key, value in app.config.items()
            if key in keep or key.startswith(("MAIL_", "URGENTACTION_"))
        }
        self.env = os.environ | {
            "UA_TEST_CONFIG": json.dumps(config),
            "UA_TEST_INSTANCE": str(tmp_path / "worker-instance"),
        }
        self.logs = tmp_path
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, *command: str) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"worker-{len(self.running)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "tests.delivery_app", "urgentaction",
             *command],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        self.running.append(process)
        return process

    def output(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self.logs.glob("worker-*.log")))

    def stop(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
