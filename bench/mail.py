"""How fast the outbox is sent, against raw smtplib sending the same messages, in one run.

An aiosmtpd sink runs in a process of its own on loopback (as a real SMTP server
would) and counts every Message-ID it takes. N target messages (default 2,000) are
queued straight into a fresh SQLite database, then each of these drains them:

- raw:       smtplib over one connection, the messages composed beforehand (the baseline);
- send-mail: ``outbox.drain()`` in this process, what ``flask urgentaction send-mail`` runs;
- worker:    a ``flask urgentaction worker`` process, until the outbox is empty;
- with ``--postgresql URL``: one and two workers on a fresh database on that server.

Between runs every row is set back to queued. Each line gives msg/s and the ratio to
raw; a run that sent a message twice or left one out says so and exits non-zero.

The sink, like aiosmtpd itself, does not offer PIPELINING (RFC 2920), so the
outbox waits for each reply in turn, as raw smtplib does. With ``--pipelining`` it
offers it, as Postfix and most MTAs do, and the outbox sends MAIL FROM, RCPT TO
and DATA in one write (smtplib never pipelines).

Usage: python bench/mail.py [-n 2000] [--postgresql postgresql+psycopg://...]
       [--rounds R]       (every run R times, interleaved, so that they share the
                           machine's load; medians printed)
       [--pipelining]     (the sink offers PIPELINING)
       [--rtt MS]         (the sink's replies come MS ms late: a server across a network)
       [--profile FILE]   (cProfile of the send-mail drain, its top costs printed)
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import create_engine, func, insert, select, text, update

import flask_urgentaction
from flask_urgentaction import UrgentAction, outbox, wire
from flask_urgentaction.models import OutboxMessage
from flask_urgentaction.storage import get_session, get_storage

HERE = Path(__file__).resolve()
RAW = "raw smtplib, one connection"
MESSAGE = (
    "Dear Chief Executive,\n\nFive miners were sacked for founding a union at the Example "
    "mine. Freedom of association is a right, not a favour: reinstate them now, with "
    "back pay, and sit down with their union. The world is watching.\n\n"
) * 2


def create_app() -> Flask:
    """The app a worker process runs (``flask --app bench/mail.py``), set up from the
    JSON in ``UA_BENCH_CONFIG``."""
    app = Flask("bench", instance_path=os.environ["UA_BENCH_INSTANCE"])
    app.config.update(json.loads(os.environ["UA_BENCH_CONFIG"]))
    UrgentAction(app)
    return app


# The SMTP server, in its own process.


def sink(port: int, log: str, pipelining: bool, rtt: float) -> None:
    """Accept every message and append its Message-ID to ``log``; with ``rtt``, behind a
    relay that hands each reply on that many seconds late."""
    from aiosmtpd.controller import Controller

    out = open(log, "a", buffering=1, encoding="ascii")  # noqa: SIM115

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            content: bytes = envelope.original_content
            start = content.find(b"\nMessage-ID: ") + 13
            out.write(content[start : content.find(b"\r", start)].decode("ascii") + "\n")
            return "250 2.0.0 Ok: queued"

    class PipeliningHandler(Handler):
        # aiosmtpd reads pipelined commands one by one; it just does not say so.
        async def handle_EHLO(
            self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
        ) -> list[str]:
            session.host_name = hostname
            return [*responses[:-1], "250-PIPELINING", responses[-1]]

    # Blocked before the server's thread starts, so that only this thread receives it.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    handler = PipeliningHandler() if pipelining else Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port() if rtt else port)
    controller.start()
    if rtt:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        asyncio.run(relay(port, controller.port, rtt))
    else:
        signal.sigwait({signal.SIGTERM})
    controller.stop()
    out.close()


async def relay(port: int, server: int, rtt: float) -> None:
    """Pass connections on ``port`` to ``server``, each reply ``rtt`` seconds late (in
    order, and without holding up the replies after it), as across a network."""
    loop = asyncio.get_running_loop()

    async def carry(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float
    ) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def read() -> None:
            while chunk := await reader.read(65536):
                queue.put_nowait((loop.time() + delay, chunk))
            queue.put_nowait((0.0, b""))

        reading = asyncio.ensure_future(read())
        while (item := await queue.get())[1]:
            await asyncio.sleep(item[0] - loop.time())
            writer.write(item[1])
            await writer.drain()
        writer.close()
        await reading

    async def serve(client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        replies, to_server = await asyncio.open_connection("127.0.0.1", server)
        await asyncio.gather(
            carry(client, to_server, 0.0), carry(replies, to_client, rtt), return_exceptions=True
        )

    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with await asyncio.start_server(serve, "127.0.0.1", port):
        await stop.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Sink:
    def __init__(self, workdir: Path, pipelining: bool = False, rtt: float = 0.0) -> None:
        self.port = free_port()
        self.log = workdir / "received.log"
        self.log.touch()
        self.process = subprocess.Popen(
            [sys.executable, str(HERE), "--sink", str(self.port), str(self.log),
             str(int(pipelining)), str(rtt)]
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def received(self) -> Counter[str]:
        return Counter(self.log.read_text(encoding="ascii").split())

    def clear(self) -> None:
        self.log.write_text("")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=10)


# The outbox.


def queue(n: int) -> None:
    """N target messages, as an action to two targets would store them: core inserts."""
    now = datetime.now(UTC)
    rows = [
        {
            "kind": "target",
            "message_id": make_msgid(domain="network.example"),
            "sender": [f"Ana Kovač {i} via Example Network", "actions@network.example"],
            "recipient_name": "Example Mining Company",
            "recipient": "ceo@mining.example",
            "reply_to": [f"Ana Kovač {i}", f"ana{i}@example.org"],
            "subject": "Reinstate the union leaders now",
            "text_body": f"{MESSAGE}Ana Kovač {i}\nSSM, Bosnia and Herzegovina\n",
            "html_body": f"<p>{MESSAGE}</p><p>Ana Kovač {i}<br>SSM, Bosnia and Herzegovina</p>",
            "headers": {},
            "status": "queued",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "last_reply": "",
            "last_error": "",
        }
        for i in range(n)
    ]
    session = get_session()
    session.execute(insert(OutboxMessage), rows)
    session.commit()


def requeue() -> None:
    session = get_session()
    session.execute(
        update(OutboxMessage).values(
            status="queued", attempts=0, next_attempt_at=datetime.now(UTC), claimed_by=None,
            claimed_until=None, sent_at=None, last_reply="", last_error="",
        )
    )  # fmt: skip
    session.commit()
    session.close()


def unsent() -> int:
    with get_storage().sessions() as session:
        return int(session.scalar(select(func.count()).where(OutboxMessage.status != "sent")) or 0)


def check(app: Flask, name: str, sink: Sink) -> str:
    """'' when every queued message arrived exactly once, else what went wrong."""
    with app.app_context(), get_storage().sessions() as session:
        expected = set(session.scalars(select(OutboxMessage.message_id)))
    received = sink.received()
    problems = []
    if missing := len(expected - set(received)):
        problems.append(f"{missing} missing")
    if doubled := sum(count - 1 for count in received.values() if count > 1):
        problems.append(f"{doubled} doubled")
    if extra := len(set(received) - expected):
        problems.append(f"{extra} unknown")
    sink.clear()
    return f"{name}: " + ", ".join(problems) if problems else ""


# The runs.


def run_raw(app: Flask, sink: Sink) -> float:
    """smtplib alone over one connection, the messages composed before the clock starts."""
    with app.app_context():
        rows = get_session().scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        composed = [(*wire.envelope(row), wire.as_bytes(wire.compose(row))) for row in rows]
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", sink.port, timeout=30) as connection:
        for sender, recipient, data in composed:
            connection.sendmail(sender, [recipient], data)
    return time.perf_counter() - started


def run_send_mail(app: Flask, n: int, profiler: cProfile.Profile | None = None) -> float:
    with app.app_context():
        requeue()
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        report = outbox.drain()
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - started
        assert len(report.sent) == n, (len(report.sent), n)
        assert unsent() == 0
    return elapsed


def run_profile(app: Flask, n: int, profile: str) -> None:
    """The send-mail drain once more, under cProfile (apart from the timed runs)."""
    profiler = cProfile.Profile()
    run_send_mail(app, n, profiler)
    profiler.dump_stats(profile)
    stats = pstats.Stats(profile)
    print(f"\nprofile of the send-mail drain ({profile}), by own time:")
    stats.sort_stats("tottime").print_stats(18)
    print("by cumulative time:")
    stats.sort_stats("cumulative").print_stats(25)


def run_workers(app: Flask, workdir: Path, count: int, n: int) -> tuple[float, float]:
    """``count`` worker processes until the outbox is empty: seconds from start, and
    seconds from the first message arriving (the drain alone)."""
    with app.app_context():
        requeue()
    keep = ("SECRET_KEY", "SERVER_NAME")
    config = {
        key: value
        for key, value in app.config.items()
        if key in keep or key.startswith(("MAIL_", "URGENTACTION_"))
    }
    env = os.environ | {
        "UA_BENCH_CONFIG": json.dumps(config),
        "UA_BENCH_INSTANCE": str(workdir / "worker-instance"),
    }
    log = workdir / "received.log"
    command = [sys.executable, "-m", "flask", "--app", f"{HERE}:create_app"]
    started = time.perf_counter()
    processes = [
        subprocess.Popen([*command, "urgentaction", "worker"], env=env, stdout=subprocess.DEVNULL)
        for _ in range(count)
    ]
    first = None
    try:
        with app.app_context():
            while True:
                if first is None and log.stat().st_size:
                    first = time.perf_counter()
                if unsent() == 0:
                    break
                assert all(p.poll() is None for p in processes), "a worker stopped"
                time.sleep(0.02)
        ended = time.perf_counter()
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)
    return ended - started, ended - (first or started)


def make_app(url: str, port: int, workdir: Path) -> Flask:
    app = Flask("bench", instance_path=str(workdir / "instance"))
    app.config.update(
        SECRET_KEY="bench", SERVER_NAME="actions.example", MAIL_SERVER="127.0.0.1",
        MAIL_PORT=port, MAIL_DEFAULT_SENDER="Example Network <actions@network.example>",
        URGENTACTION_DATABASE_URL=url, URGENTACTION_WORKER_POLL_SECONDS=0.2,
    )  # fmt: skip
    UrgentAction(app)
    return app


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="messages (default 2000)")
    parser.add_argument("--postgresql", metavar="URL", help="also two workers on PostgreSQL")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the send-mail drain")
    parser.add_argument("--pipelining", action="store_true", help="the sink offers PIPELINING")
    parser.add_argument(
        "--rtt", type=float, default=0.0, metavar="MS",
        help="the sink's replies come MS milliseconds late, as across a network",
    )  # fmt: skip
    parser.add_argument(
        "--rounds", type=int, default=1, metavar="R",
        help="run everything R times, interleaved; print medians (default 1)",
    )  # fmt: skip
    args = parser.parse_args()
    n: int = args.n
    print(f"flask_urgentaction from {Path(flask_urgentaction.__file__).parent}")
    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}; Python {sys.version.split()[0]}")
    print(f"messages: {n}, each {len(MESSAGE) * 2 + 120} characters of text and HTML")
    print(
        f"sink: aiosmtpd, PIPELINING {'offered' if args.pipelining else 'not offered'}"
        + (f", replies {args.rtt:g} ms late" if args.rtt else "")
    )
    # Per run: (seconds, seconds with start-up) and the ratio to raw, in each round.
    seconds: dict[str, list[tuple[float, float]]] = {}
    ratios: dict[str, list[float]] = {}
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        sink = Sink(workdir, args.pipelining, args.rtt / 1000)
        postgresql = None
        try:
            app = make_app(f"sqlite:///{workdir / 'bench.sqlite3'}", sink.port, workdir)
            with app.app_context():
                queue(n)
            if args.postgresql:
                postgresql = PostgreSQL(args.postgresql, sink.port, workdir, n)
            for number in range(args.rounds):
                runs = run_round(app, postgresql, sink, workdir, n, problems)
                for name, elapsed, total in runs:
                    seconds.setdefault(name, []).append((elapsed, total))
                    ratios.setdefault(name, []).append(runs[0][1] / elapsed)
                if number == 0 and args.profile:
                    run_profile(app, n, args.profile)
                    sink.clear()
            get_storage_of(app).engine.dispose()
        finally:
            if postgresql is not None:
                postgresql.drop()
            sink.stop()
    if args.rounds > 1:
        print(f"medians of {args.rounds} rounds; each ratio is to raw smtplib in its own round")
    for name, times in seconds.items():
        elapsed = statistics.median(time for time, _total in times)
        total = statistics.median(total for _time, total in times)
        notes = []
        if args.rounds > 1 and name != RAW:
            notes.append(f"ratios {min(ratios[name]):.2f}-{max(ratios[name]):.2f}")
        if total != elapsed:
            notes.append(f"{total:.2f} s with start-up")
        print(
            f"{name:34} {n / elapsed:7.0f} msg/s   ratio {statistics.median(ratios[name]):4.2f}"
            + (f"   ({'; '.join(notes)})" if notes else "")
        )
    problems = [p for p in problems if p]
    for problem in problems:
        print("NOT EXACTLY ONCE:", problem)
    return 1 if problems else 0


def run_round(
    app: Flask, postgresql: PostgreSQL | None, sink: Sink, workdir: Path, n: int,
    problems: list[str],
) -> list[tuple[str, float, float]]:  # fmt: skip
    """Every run once, raw first: (name, seconds, seconds with start-up)."""
    raw = run_raw(app, sink)
    problems.append(check(app, "raw", sink))
    elapsed = run_send_mail(app, n)
    problems.append(check(app, "send-mail", sink))
    total, drain = run_workers(app, workdir, 1, n)
    problems.append(check(app, "worker", sink))
    runs = [
        (RAW, raw, raw),
        ("send-mail (SQLite)", elapsed, elapsed),
        ("worker (SQLite)", drain, total),
    ]
    if postgresql is not None:
        for count in (1, 2):
            total, drain = run_workers(postgresql.app, workdir, count, n)
            problems.append(check(postgresql.app, f"{count} workers on PostgreSQL", sink))
            label = "worker" if count == 1 else "workers"
            runs.append((f"{count} {label} (PostgreSQL)", drain, total))
    return runs


class PostgreSQL:
    """A database of its own on ``server`` with the same N messages, dropped after."""

    def __init__(self, server: str, port: int, workdir: Path, n: int) -> None:
        self.name = f"ua_bench_{uuid.uuid4().hex[:12]}"
        self.admin = create_engine(server, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.app = make_app(server.rsplit("/", 1)[0] + "/" + self.name, port, workdir)
        with self.app.app_context():
            queue(n)

    def drop(self) -> None:
        get_storage_of(self.app).engine.dispose()
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def get_storage_of(app: Flask) -> Any:
    return app.extensions["urgentaction"].storage


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--sink":
        sink(int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1", float(sys.argv[5]))
    else:
        sys.exit(main())
