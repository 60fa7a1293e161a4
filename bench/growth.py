"""Whether what supporters and organisers use holds its speed as a campaign grows.

One campaign (two targets, four languages, ``[messages] publish = true``) with
1,000, 100,000 and 1,000,000 stored actions (``--sizes``), each in a SQLite
database built once beforehand with ``executemany`` in chunks: every action with
its two sent messages in the outbox; a 260-character message, a personal line in
one of five, an edited message in one of ten, a union, a country, a partner tag
and an origin in half of them; one in fifty published (approved: 20 at 1,000,
a full page), one in two hundred rejected and as many waiting; one in a thousand
erased.

Then rounds; in each, every figure is taken on every size in turn before the
next figure, so a load elsewhere on the machine falls on each size alike:

- in one process holding an app per database, with Flask's test client, the
  campaign page (``GET /actions/<slug>``), the campaign JSON
  (``GET /actions/api/campaigns/<slug>``), the public messages page
  (``GET /actions/<slug>/messages``), the dashboard's live page
  (``GET /actions/manage/campaigns/<slug>``) and its ``live.json``: requests go
  to each database for 20 ms in turn until each had ``--seconds``;
  the rate at the median time of a request, and the median CPU time;
- in that process too, the outbox drain: ``-n`` queued target messages (default
  2,000) stored, then ``send-mail`` against an aiosmtpd sink in a process of its
  own on loopback, which counts what arrives; messages per second; the rows are
  deleted after;
- the campaign JSON over HTTP: gunicorn (2 sync workers) per database, 4 client
  processes each going round the servers, one request to each in turn; the rate
  at the median time of a request;
- ``flask urgentaction export SLUG --format csv`` in a process of its own, read
  from a pipe (again until ``--seconds`` went by): the time to its first byte
  from the start of the process, the imports included, and rows per second from
  the first byte to the last.

The tables give each figure's median over the rounds at each size and how far it
is from the smallest size's, the spread of the rounds, and the SQL statements
per request. ``--quick`` is a short run (1,000 and 10,000 stored, two rounds, short
timings); ``--keep DIR`` builds the databases in DIR once and reuses them later
(the 1,000,000 takes about 8 minutes and 3.6 GB); ``--explain`` prints the query
plans of the main queries and stops.

Usage: python bench/growth.py [--sizes 1000,100000,1000000] [--rounds 5]
           [--seconds 2] [-n 2000] [--keep DIR] [--quick] [--explain]
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
SLUG = "bench"
HOST = "actions.example"
PREFIX = "/actions"
SUBJECT = "Reinstate the union leaders now"
MESSAGE = (
    "Dear Chief Executive,\n\nFive miners were sacked for founding a union at the Example "
    "mine. Freedom of association is a right, not a favour: reinstate them now, with back "
    "pay, and sit down with their union. The world is watching, and so are we.\n\n"
    "With solidarity,"
)
CAMPAIGN: dict[str, Any] = {
    "slug": SLUG,
    "status": "live",
    "partner": "Example Mineworkers' Union",
    "goal": 2_000_000,
    "privacy_url": "https://example.org/privacy",
    "messages": {"publish": True},
    "targets": [
        {"name": "Example Mining Company", "email": "ceo@mining.example"},
        {"name": "Ministry of Labour", "email": "minister@labour.example"},
    ],
    "translations": {
        "en": {
            "title": "Reinstate the sacked union leaders",
            "summary": "Five miners were sacked for founding a union.",
            "body": "The **company** sacked five miners for founding a union.\n\n" * 12,
            "subject": SUBJECT,
            "message": MESSAGE,
        },
        "de": {"title": "Stellt die entlassenen Gewerkschafter wieder ein"},
        "fr": {"title": "Réintégrez les dirigeants syndicaux licenciés"},
        "es": {"title": "Readmitan a los dirigentes sindicales despedidos"},
    },
}
LANGS = ["en"] * 10 + ["de"] * 4 + ["fr"] * 3 + ["es"] * 3
COUNTRIES = (["GB"] * 12 + ["DE"] * 10 + ["FR"] * 8 + ["BA"] * 8 + ["ES"] * 6 + ["US"] * 6
             + ["AL", "AT", "AU", "BE", "BR", "CA", "CH", "CL", "CO", "CZ", "DK", "FI", "GR",
                "HR", "HU", "IE", "IN", "IT", "JP", "KE", "MX", "NG", "NL", "NO", "PH", "PL",
                "PT", "RS", "SE", "SI", "TR", "UA", "ZA", ""])  # fmt: skip
UNIONS = ["", "", "SSM", "Unite", "ver.di", "CGT", "CCOO"]
PARTNERS = [("union-site", "https://union.example"), ("ituc", "https://ituc.example"),
            ("news", "https://news.example")]  # fmt: skip
PERSONAL = "My father worked in that mine for thirty years; the union kept him alive."
# Actions are spread over this many days before the build.
SPREAD_DAYS = 21
CHUNK = 20_000


# -- the app (imported by gunicorn and by ``flask --app growth:create_app``) --


def create_app() -> Any:
    from flask import Flask

    from flask_urgentaction import UrgentAction

    app = Flask("growth", instance_path=os.environ["UA_BENCH_INSTANCE"])
    app.config.update(
        SECRET_KEY="bench", SERVER_NAME=HOST, MAIL_SERVER="127.0.0.1",
        MAIL_PORT=int(os.environ.get("UA_BENCH_SMTP_PORT", "25")),
        MAIL_DEFAULT_SENDER="Example Network <actions@network.example>",
        URGENTACTION_DATABASE_URL=os.environ["UA_BENCH_DATABASE_URL"],
        URGENTACTION_DELIVERY="worker", URGENTACTION_SMTP_TIMEOUT=30,
    )  # fmt: skip
    ua = UrgentAction(app)
    ua.organiser_check(lambda: "bench organiser")
    return app


def environment(database: Path, smtp_port: int = 25) -> dict[str, str]:
    env = dict(os.environ, UA_BENCH_DATABASE_URL=f"sqlite:///{database}",
               UA_BENCH_INSTANCE=str(database.parent),
               UA_BENCH_SMTP_PORT=str(smtp_port))  # fmt: skip
    path = [str(HERE.parent), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(path).rstrip(os.pathsep)
    return env


# -- building a database (in a process of its own) --


def action_row(i: int, campaign_id: int, at: datetime) -> dict[str, Any]:
    """Stored action number ``i``: plain arithmetic on ``i``, so every size has
    the same mix."""
    erased = i % 1000 == 999
    partner, origin = PARTNERS[i % 3] if i % 2 else ("", "")
    personal = PERSONAL if i % 5 == 0 else ""
    edited = i % 10 == 3
    status = None
    if i % 50 == 7:
        status = "approved"
    elif i % 200 in (13, 113):
        status = "rejected" if i % 200 == 13 else "pending"
    name = f"Ana Kovač {i}" if i % 4 == 0 else f"Supporter Number {i}"
    row = {
        "campaign_id": campaign_id, "name": name, "email": f"supporter{i}@example.org",
        "email_key": f"supporter{i}@example.org", "union": UNIONS[i % len(UNIONS)],
        "country": COUNTRIES[(i * 7) % len(COUNTRIES)], "subject": SUBJECT,
        "message": MESSAGE + (" Shame on you." if edited else ""), "lang": LANGS[i % len(LANGS)],
        "personal": personal, "edited": edited, "opt_in": i % 3 == 0, "source_origin": origin,
        "partner_tag": partner, "created_at": at, "erased_at": None,
        "publish_requested": status is not None, "message_status": status,
        "moderated_at": at + timedelta(hours=1) if status else None,
        "public_id": f"m{i:021d}" if status else None,
    }  # fmt: skip
    if erased:
        row.update(name="", email="", email_key=None, union="", subject="", message="",
                   personal="", edited=False, opt_in=False, erased_at=at + timedelta(days=1),
                   publish_requested=False, message_status=None, moderated_at=None,
                   public_id=None)  # fmt: skip
    return row


def outbox_rows(action: dict[str, Any], action_id: int, targets: list[Any]) -> list[dict[str, Any]]:
    """The action's sent message to each target."""
    at = action["created_at"]
    erased = action["erased_at"] is not None
    text = "" if erased else f"{action['personal']}\n\n{action['message']}\n\n{action['name']}\n"
    return [
        {"kind": "target", "dedupe_key": f"target:{action_id}:{target.id}",
         "message_id": f"<{action_id:09d}.{target.id}@{'x.' if erased else ''}network.example>",
         "action_id": action_id, "target_id": target.id,
         "sender": [f"{action['name']} via Example Network", "actions@network.example"],
         "recipient_name": target.name, "recipient": target.email,
         "reply_to": None if erased else [action["name"], action["email"]],
         "subject": action["subject"], "text_body": text,
         "html_body": None if erased else "<p>" + text.replace("\n\n", "</p><p>") + "</p>",
         "headers": {}, "status": "sent", "attempts": 1, "next_attempt_at": at,
         "created_at": at, "sent_at": at + timedelta(seconds=2),
         "last_reply": "250 2.0.0 Ok: queued as 4F3A1C", "last_error": ""}
        for target in targets
    ]  # fmt: skip


def build(size: int, database: Path) -> dict[str, int]:
    """A fresh database with the campaign and ``size`` actions and their mail."""
    os.environ.update(environment(database))
    from sqlalchemy import func, insert, select, update

    from flask_urgentaction.campaigns import save
    from flask_urgentaction.models import Action, Campaign, OutboxMessage
    from flask_urgentaction.storage import get_session, get_storage

    app = create_app()
    with app.app_context():
        engine = app.extensions["urgentaction"].storage.engine
        get_storage()  # migrates
        session = get_session()
        campaign, _created = save(session, CAMPAIGN)
        session.commit()
        targets = list(campaign.targets)
        start = datetime.now(UTC) - timedelta(days=SPREAD_DAYS)
        step = timedelta(days=SPREAD_DAYS) / size
        began = time.perf_counter()
        with engine.begin() as connection:
            # Only for the build: a big page cache, and no syncing.
            connection.exec_driver_sql("PRAGMA cache_size=-1000000")
            connection.exec_driver_sql("PRAGMA synchronous=OFF")
            for first in range(0, size, CHUNK):
                actions = [action_row(i, campaign.id, start + step * i)
                           for i in range(first, min(size, first + CHUNK))]  # fmt: skip
                for offset, action in enumerate(actions):
                    action["id"] = first + offset + 1
                connection.execute(insert(Action), actions)
                mail = [r for a in actions for r in outbox_rows(a, a["id"], targets)]
                connection.execute(insert(OutboxMessage), mail)
                done = first + len(actions)
                if done % (CHUNK * 10) == 0 or done == size:
                    rate = done / (time.perf_counter() - began)
                    print(f"  {size:,}: {done:,} actions stored ({rate:,.0f}/s)", flush=True)
            connection.execute(
                update(Campaign).where(Campaign.id == campaign.id).values(action_count=size)
            )
        kept = session.scalar(
            select(func.count()).where(Action.campaign_id == campaign.id,
                                       Action.erased_at.is_(None))
        )  # fmt: skip
        approved = session.scalar(select(func.count()).where(Action.message_status == "approved"))
        session.close()
    engine.dispose()  # the write-ahead log goes into the file
    return {"actions": size, "exported": int(kept or 0), "approved": int(approved or 0)}


def database_for(size: int, workdir: Path) -> tuple[Path, dict[str, int]]:
    """The database of ``size`` actions in ``workdir``, built if not there yet."""
    database = workdir / f"growth-{size}" / "bench.sqlite3"
    done = database.with_suffix(".json")
    if done.exists():
        print(f"{size:>9,} actions: reusing {database}")
        return database, json.loads(done.read_text())
    shutil.rmtree(database.parent, ignore_errors=True)
    database.parent.mkdir(parents=True)
    began = time.perf_counter()
    print(f"{size:>9,} actions: building {database}", flush=True)
    subprocess.run([sys.executable, str(HERE), "--build", str(size), str(database)], check=True)
    facts = json.loads(done.read_text())
    mb = database.stat().st_size / 1e6
    print(f"{size:>9,} actions: built in {time.perf_counter() - began:.0f} s, {mb:,.0f} MB")
    return database, facts


# -- the SMTP sink (a process of its own) --


def sink(port: int, log: str) -> None:
    """Accept every message; append a line per message to ``log``."""
    from aiosmtpd.controller import Controller

    out = open(log, "a", buffering=1, encoding="ascii")  # noqa: SIM115

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            out.write("m\n")
            return "250 2.0.0 Ok: queued"

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    signal.sigwait({signal.SIGTERM})
    controller.stop()
    out.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{process.args!r} did not start")


# -- in one process, every database's app: pages, JSON, the drain --

PAGES = {
    "page": f"{PREFIX}/{SLUG}?lang=en",
    "json": f"{PREFIX}/api/campaigns/{SLUG}?lang=en",
    "messages": f"{PREFIX}/{SLUG}/messages?lang=en",
    "live_page": f"{PREFIX}/manage/campaigns/{SLUG}?lang=en",
    "live_json": f"{PREFIX}/manage/campaigns/{SLUG}/live.json?lang=en",
}
# Client processes for the campaign JSON over HTTP.
CLIENTS = 4
# The drain's messages go in turns of this many on each database.
DRAIN_TURN = 500
# Requests go to one database for this long (one request at least), then to the
# next, and round again: short, so that load elsewhere falls on every database alike.
SLICE = 0.02


def interleaved(calls: dict[str, Callable[[], None]], seconds: float) -> dict[str, Any]:
    """Each of ``calls`` in turn, a slice of time each (at least one call), until
    each had ``seconds`` and 3 calls: so a load elsewhere falls on each alike. Per
    call: how many, their summed time, the median of each one's wall and CPU time."""
    walls: dict[str, list[float]] = {name: [] for name in calls}
    cpus: dict[str, list[float]] = {name: [] for name in calls}
    while any(sum(walls[n]) < seconds or len(walls[n]) < 3 for n in calls):
        for name, call in calls.items():
            began = time.perf_counter()
            while not walls[name] or time.perf_counter() - began < SLICE:
                wall, cpu = time.perf_counter(), time.process_time()
                call()
                walls[name].append(time.perf_counter() - wall)
                cpus[name].append(time.process_time() - cpu)
                if time.perf_counter() - began >= SLICE:
                    break
    return {
        name: {"count": len(walls[name]), "seconds": sum(walls[name]),
               "median_ms": statistics.median(walls[name]) * 1000,
               "cpu_ms": statistics.median(cpus[name]) * 1000}
        for name in calls
    }  # fmt: skip


def serve(log: Path, port: int, databases: list[str]) -> None:
    """An app on each of ``databases``, warmed, measuring what the parent asks for:
    a JSON line in on stdin, a JSON line back."""
    from sqlalchemy import event

    answer = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - what send-mail prints
    apps = {}
    for database in databases:
        os.environ.update(environment(Path(database), port))
        apps[database] = create_app()
    statements = [0]

    def count(*_args: Any) -> None:
        statements[0] += 1

    def get(client: Any, path: str) -> None:
        response = client.get(path, base_url=f"http://{HOST}")
        assert response.status_code == 200, (path, response.status_code)
        response.get_data()

    clients = {database: app.test_client() for database, app in apps.items()}
    counted: dict[str, dict[str, int]] = {database: {} for database in databases}
    for database, client in clients.items():
        engine = apps[database].extensions["urgentaction"].storage.engine
        for key, path in PAGES.items():
            for _ in range(3):  # warm: templates, caches, the page cache of SQLite
                get(client, path)
            event.listen(engine, "before_cursor_execute", count)
            statements[0] = 0
            get(client, path)
            event.remove(engine, "before_cursor_execute", count)
            counted[database][key] = statements[0]
    answer.write(json.dumps(counted) + "\n")
    for line in sys.stdin:
        asked = json.loads(line)
        order = asked["order"]
        if asked["figure"] == "drain":
            found = drains({database: apps[database] for database in order}, asked["messages"], log)
        elif asked["figure"] == "export":
            found = exported({database: apps[database] for database in order}, asked["seconds"])
        else:
            path = PAGES[asked["figure"]]
            calls: dict[str, Callable[[], None]] = {
                database: partial(get, clients[database], path) for database in order
            }
            found = interleaved(calls, asked["seconds"])
        answer.write(json.dumps(found) + "\n")


def drains(apps: dict[str, Any], messages: int, log: Path) -> dict[str, Any]:
    """``messages`` sent on each app's database, in turns of ``DRAIN_TURN``: per
    database, how many, the seconds they took and the CPU time per message."""
    turn = min(messages, DRAIN_TURN)
    found = {name: {"count": 0, "seconds": 0.0, "cpu": 0.0} for name in apps}
    for _ in range(messages // turn):
        for name, app in apps.items():
            one = drain(app, turn, log)
            for key in ("count", "seconds", "cpu"):
                found[name][key] += one[key]
    return {
        name: {"count": each["count"], "seconds": each["seconds"],
               "cpu_ms": each["cpu"] / each["count"] * 1000}
        for name, each in found.items()
    }  # fmt: skip


class Exporting:
    """One database's CSV export as ``flask urgentaction export`` writes it, taken a
    row at a time; from the start again whenever it ends."""

    def __init__(self, app: Any) -> None:
        from flask_urgentaction.campaigns import find
        from flask_urgentaction.storage import get_session, get_storage

        with app.app_context():
            self.sessions = get_storage().sessions
            campaign = find(get_session(), SLUG)
            assert campaign is not None
            self.campaign_id = campaign.id
        self.session: Any = None
        self.rows: Iterator[str] = iter(())

    def next_row(self) -> None:
        from flask_urgentaction import exports

        for _row in self.rows:
            return
        self.close()
        self.session = self.sessions()
        self.rows = exports.actions_csv(exports.action_rows(self.session, self.campaign_id))
        next(self.rows)  # the header
        next(self.rows)

    def close(self) -> None:
        if self.session is not None:
            self.session.close()  # its read transaction with it


def exported(apps: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Rows of each app's export in turn, 20 ms at a time, until each had
    ``seconds``: rows per second and CPU time per 1,000 rows."""
    exporting = {name: Exporting(app) for name, app in apps.items()}
    rows = {name: 0 for name in apps}
    walls = {name: 0.0 for name in apps}
    cpus = {name: 0.0 for name in apps}
    try:
        while any(wall < seconds for wall in walls.values()):
            for name, one in exporting.items():
                began, cpu = time.perf_counter(), time.process_time()
                while time.perf_counter() - began < SLICE:
                    for _ in range(50):
                        one.next_row()
                    rows[name] += 50
                walls[name] += time.perf_counter() - began
                cpus[name] += time.process_time() - cpu
    finally:
        for one in exporting.values():
            one.close()
    return {
        name: {"count": rows[name], "seconds": walls[name],
               "cpu_ms": cpus[name] / rows[name] * 1000 * 1000}
        for name in apps
    }  # fmt: skip


class Server:
    """The process of ``serve``."""

    def __init__(self, databases: list[Path], port: int, log: Path) -> None:
        env = environment(databases[0], port)
        self.process = subprocess.Popen(
            [sys.executable, str(HERE), "--serve", str(log), str(port), *map(str, databases)],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )  # fmt: skip
        self.statements: dict[str, dict[str, int]] = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"the measuring process exited ({self.process.wait()})")
        found: dict[str, Any] = json.loads(line)
        return found

    def ask(self, **asked: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(asked) + "\n")
        return self._read()

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(60)


def drain(app: Any, messages: int, log: Path) -> dict[str, Any]:
    """``messages`` queued target messages of the newest actions, sent with
    ``send-mail``; the rows are deleted after, so every round finds the same
    database."""
    from sqlalchemy import delete, func, insert, select

    from flask_urgentaction.cli import cli
    from flask_urgentaction.models import Action, OutboxMessage, Target
    from flask_urgentaction.storage import get_session

    ours = OutboxMessage.dedupe_key.like("bench:%")
    with app.app_context():
        session = get_session()
        # Left by a run that was stopped half-way.
        session.execute(delete(OutboxMessage).where(ours))
        session.commit()
        targets = list(session.execute(select(Target.id, Target.name, Target.email)))
        newest = list(session.scalars(
            select(Action.id).order_by(Action.id.desc()).limit(-(-messages // len(targets)))
        ))  # fmt: skip
        now = datetime.now(UTC)
        tag = time.time_ns()
        rows = [
            {"kind": "target", "dedupe_key": f"bench:{tag}:{n}",
             "message_id": f"<bench.{tag}.{n}@network.example>", "action_id": action_id,
             "target_id": target.id, "sender": [f"Ana Kovač {n} via Example Network",
                                                "actions@network.example"],
             "recipient_name": target.name, "recipient": target.email,
             "reply_to": [f"Ana Kovač {n}", f"ana{n}@example.org"],
             "subject": SUBJECT,
             "text_body": f"{PERSONAL}\n\n{MESSAGE}\n\nAna Kovač {n}\nSSM, Bosnia-Herzegovina\n",
             "html_body": f"<p>{PERSONAL}</p><p>{MESSAGE}</p><p>Ana Kovač {n}</p>",
             "headers": {}, "status": "queued", "attempts": 0, "next_attempt_at": now,
             "created_at": now, "last_reply": "", "last_error": ""}
            for n, (action_id, target) in enumerate(
                (a, t) for a in newest for t in targets
            )
        ][:messages]  # fmt: skip
        session.execute(insert(OutboxMessage), rows)
        session.commit()
        before = len(log.read_text().splitlines())
        try:
            began, cpu = time.perf_counter(), time.process_time()
            cli.main(["send-mail"], standalone_mode=False)
            elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
            arrived = len(log.read_text().splitlines()) - before
            unsent = session.scalar(
                select(func.count()).where(ours, OutboxMessage.status != "sent")
            )
        finally:
            session.rollback()
            session.execute(delete(OutboxMessage).where(ours))
            session.commit()
    assert arrived == messages and not unsent, (arrived, messages, unsent)
    return {"count": messages, "seconds": elapsed, "cpu": cpu}


# -- in other processes: the export, the JSON over HTTP --


def export(env: dict[str, str], seconds: float) -> dict[str, Any]:
    """``flask urgentaction export`` read from a pipe, again until ``seconds`` have
    gone by: time to the first byte and from it to the last, summed."""
    command = [sys.executable, "-m", "flask", "--app", "growth:create_app",
               "urgentaction", "export", SLUG, "--format", "csv"]  # fmt: skip
    first_byte = streaming = total = 0.0
    runs = 0
    while runs == 0 or total < seconds:
        began = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, env=env)
        assert process.stdout is not None
        fd = process.stdout.fileno()
        first = last = 0.0
        size = 0
        while chunk := os.read(fd, 1 << 16):
            last = time.perf_counter()
            first = first or last
            size += len(chunk)
        if process.wait() or not size:
            raise SystemExit(f"{' '.join(command)} failed ({process.returncode})")
        first_byte += first - began
        streaming += last - first
        total += time.perf_counter() - began
        runs += 1
    return {"runs": runs, "first_byte": first_byte, "streaming": streaming}


def http_client(ports: list[int], seconds: float, first: int = 0) -> dict[int, list[float]]:
    """GETs of the campaign JSON for ``seconds``, one to each of ``ports`` in turn
    (from the ``first``); each one's time, by port."""
    path = PAGES["json"]
    times: dict[int, list[float]] = {port: [] for port in ports}
    end = time.perf_counter() + seconds
    turn = first
    while time.perf_counter() < end:
        port = ports[turn % len(ports)]
        turn += 1
        began = time.perf_counter()
        # Sync workers close every connection after its response.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", path, headers={"Host": HOST})
        response = connection.getresponse()
        response.read()
        connection.close()
        assert response.status == 200, response.status
        times[port].append(time.perf_counter() - began)
    return times


class Gunicorn:
    """gunicorn with 2 sync workers on one database."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        command = [sys.executable, "-m", "gunicorn", "--workers", "2", "--worker-class",
                   "sync", "--bind", f"127.0.0.1:{self.port}", "--log-level", "warning",
                   "growth:create_app()"]  # fmt: skip
        self.process = subprocess.Popen(command, env=env)
        wait_listening(self.port, self.process)
        http_client([self.port], 1.0)  # both workers warm

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def over_http(pool: ProcessPoolExecutor, ports: list[int], seconds: float) -> dict[int, float]:
    """The median time of a GET on each of ``ports``, with ``CLIENTS`` client
    processes each going round the servers: a load elsewhere falls on each alike."""
    firsts = range(CLIENTS)
    found = pool.map(http_client, [ports] * CLIENTS, [seconds] * CLIENTS, firsts)
    times: dict[int, list[float]] = {port: [] for port in ports}
    for one in found:
        for port, each in one.items():
            times[port] += each
    return {port: statistics.median(each) * 1000 for port, each in times.items()}


# -- the run --

# (key, what, unit)
FIGURES = [
    ("page", "campaign page", "req/s"),
    ("json", "campaign JSON", "req/s"),
    ("json_http", "campaign JSON, gunicorn", "req/s"),
    ("messages", "messages page", "req/s"),
    ("live_page", "dashboard live page", "req/s"),
    ("live_json", "dashboard live.json", "req/s"),
    ("export", "export csv, in process", "rows/s"),
    ("export_rows", "export csv command, streaming", "rows/s"),
    ("export_first", "export csv command, first byte", "ms"),
    ("drain", "outbox drain (send-mail)", "msg/s"),
]
# What one step measures: each is taken on every database in turn before the next.
STEPS = ["page", "json", "json_http", "messages", "live_page", "live_json", "export",
         "export_command", "drain"]  # fmt: skip


class Database:
    """One size: its gunicorn, kept for the whole run, and its figures."""

    def __init__(self, size: int, path: Path, facts: dict[str, int], port: int) -> None:
        self.size, self.path, self.facts = size, path, facts
        self.env = environment(path, port)
        self.http = Gunicorn(self.env)
        # {figure: [value per round]}: rates (or ms), and CPU ms per request or message.
        self.values: dict[str, list[float]] = {key: [] for key, _what, _unit in FIGURES}
        self.cpu: dict[str, list[float]] = {key: [] for key in [*PAGES, "export", "drain"]}
        self.statements: dict[str, int] = {}  # per request, by page

    def export(self, seconds: float) -> None:
        found = export(self.env, seconds)
        self.values["export_rows"].append(
            self.facts["exported"] * found["runs"] / found["streaming"]
        )
        self.values["export_first"].append(found["first_byte"] / found["runs"] * 1000)

    def add(self, key: str, found: dict[str, Any]) -> None:
        """A figure the measuring process took: for pages, the rate at the median
        time of a request (a request slowed by other work on the machine moves
        the mean, not the median); for the drain and the export, all of them
        over their whole time."""
        if "median_ms" in found:
            self.values[key].append(1000 / found["median_ms"])
        else:
            self.values[key].append(found["count"] / found["seconds"])
        self.cpu[key].append(found["cpu_ms"])


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return (f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}, load average {load()}")  # fmt: skip


def load() -> str:
    return " ".join(f"{n:.2f}" for n in os.getloadavg())


def table(title: str, rows: list[tuple[str, str, dict[int, float]]], sizes: list[int]) -> None:
    first = sizes[0]
    print(f"{title:<40} {first:>12,}" + "".join(
        f" {size:>12,} {'vs ' + format(first, ','):>10}" for size in sizes[1:]))  # fmt: skip
    for what, unit, values in rows:
        line = f"{what:<33} {unit:<6} {values[first]:>12,.1f}"
        for size in sizes[1:]:
            line += f" {values[size]:>12,.1f} {values[size] / values[first] - 1:>+10.0%}"
        print(line)


def show(sizes: list[int], databases: dict[int, Database]) -> None:
    """Each figure: the median of its rounds, and how far from the smallest size's."""
    median = statistics.median
    taken = [(key, what, unit) for key, what, unit in FIGURES if databases[sizes[0]].values[key]]
    table("figure (median of the rounds)", [
        (what, unit, {size: median(databases[size].values[key]) for size in sizes})
        for key, what, unit in taken
    ], sizes)  # fmt: skip
    print()
    table("CPU time of the measuring process", [
        (what, "ms", {size: median(databases[size].cpu[key]) for size in sizes})
        for key, what, _unit in taken if key in databases[sizes[0]].cpu
    ], sizes)  # fmt: skip
    print("  (per request, the median; for the export, per 1,000 rows; for the drain,"
          " per message)")  # fmt: skip
    print("\nspread of the rounds, (max - min) / median, per size; and the lowest and")
    print(f"highest of the rounds' own ratios to {sizes[0]:,}, per larger size:")
    for key, what, _unit in taken:
        spreads = []
        for size in sizes:
            got = databases[size].values[key]
            spreads.append(f"{(max(got) - min(got)) / median(got):>5.0%}")
        first = databases[sizes[0]].values[key]
        for size in sizes[1:]:
            ratios = [v / f - 1 for v, f in zip(databases[size].values[key], first, strict=True)]
            spreads.append(f"{min(ratios):>+5.0%} to {max(ratios):>+5.0%}")
        print(f"  {what:<33} " + "  ".join(spreads))
    print("\nSQL statements per request:")
    for key in PAGES:
        print(f"  {key:<12} " + ", ".join(
            f"{databases[size].statements[key]}" for size in sizes))  # fmt: skip


def explain(database: Path) -> None:
    """The query plans of what the measured paths run, for one database."""
    connection = sqlite3.connect(database)
    queries = {
        "claim": "SELECT id FROM ua_outbox WHERE (status = 'queued' AND next_attempt_at <= ?) "
                 "OR (status = 'sending' AND claimed_until < ?) ORDER BY id LIMIT 5",
        "latest": "SELECT created_at FROM ua_actions WHERE campaign_id = ? "
                  "ORDER BY id DESC LIMIT 1",
        "messages count": "SELECT count(*) FROM ua_actions WHERE campaign_id = ? AND "
                          "message_status = 'approved' AND erased_at IS NULL",
        "messages languages": "SELECT DISTINCT lang FROM ua_actions WHERE campaign_id = ? AND "
                              "message_status = 'approved' AND erased_at IS NULL",
        "export": "SELECT * FROM ua_actions WHERE campaign_id = ? AND erased_at IS NULL "
                  "ORDER BY id",
        "per country": "SELECT country, count(*) AS n FROM ua_actions WHERE campaign_id = ? "
                       "GROUP BY country ORDER BY n DESC, country",
    }  # fmt: skip
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    for name, query in queries.items():
        params = (now, now) if name == "claim" else (1,)
        plan = connection.execute("EXPLAIN QUERY PLAN " + query, params).fetchall()
        print(f"  {name}: " + "; ".join(row[-1] for row in plan))
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", help="stored actions, e.g. 1000,100000,1000000")
    parser.add_argument("--rounds", type=int, help="default 5 (--quick: 2)")
    parser.add_argument("--seconds", type=float, help="per figure, size and round (default 2)")
    parser.add_argument("-n", type=int, help="messages the drain sends (default 2000)")
    parser.add_argument("--keep", metavar="DIR", help="build the databases here, reuse them")
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--explain", action="store_true", help="query plans, then stop")
    parser.add_argument("--only", help=f"some of the steps: {','.join(STEPS)}")
    args = parser.parse_args()
    quick = args.quick
    sizes = [int(n) for n in (args.sizes or ("1000,10000" if quick else "1000,100000,1000000"))
             .split(",")]  # fmt: skip
    args.rounds = args.rounds or (2 if quick else 5)
    args.seconds = args.seconds or (1.0 if quick else 2.0)
    args.n = args.n or (500 if quick else 2000)
    steps = args.only.split(",") if args.only else STEPS
    if set(steps) - set(STEPS):
        parser.error(f"--only takes some of {','.join(STEPS)}")
    # Stopped from outside: still stop the servers and processes it started.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit("stopped"))
    print(f"machine: {machine()}")
    spec = importlib.util.find_spec("flask_urgentaction")
    print(f"flask_urgentaction from {Path(spec.origin or '').parent if spec else '?'}")
    scratch = None if args.keep else tempfile.mkdtemp(prefix="ua-growth-")
    workdir = Path(args.keep or scratch or "")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = workdir / "received.log"
    log.write_text("")
    sink_process = server = None
    databases: dict[int, Database] = {}
    try:
        built = {size: database_for(size, workdir) for size in sizes}
        if args.explain:
            for size, (database, _facts) in built.items():
                print(f"{size:,} actions:")
                explain(database)
            return
        sink_process = subprocess.Popen([sys.executable, str(HERE), "--sink", str(port), str(log)])
        wait_listening(port, sink_process)
        print("starting and warming: gunicorn and the app for each size", flush=True)
        for size, (database, facts) in built.items():
            databases[size] = Database(size, database, facts, port)
        server = Server([path for path, _facts in built.values()], port, log)
        for size, counted in zip(sizes, server.statements.values(), strict=True):
            databases[size].statements = counted
        print(f"{args.rounds} rounds; in each, every figure on every size in turn: "
              f"{args.seconds:g} s per page figure, {args.n} messages drained, the export "
              f"at least once")  # fmt: skip
        with ProcessPoolExecutor(CLIENTS) as pool:
            for number in range(args.rounds):
                for index, key in enumerate(steps):
                    # Each size goes first as often as the others.
                    turn = (number + index) % len(sizes)
                    order = sizes[turn:] + sizes[:turn]
                    if key == "export_command":
                        for size in order:
                            databases[size].export(args.seconds)
                        continue
                    if key == "json_http":
                        ports = [databases[size].http.port for size in order]
                        medians = over_http(pool, ports, args.seconds * len(sizes))
                        for size in order:
                            median_ms = medians[databases[size].http.port]
                            databases[size].values[key].append(1000 / median_ms)
                        continue
                    asked = {"messages": args.n} if key == "drain" else {"seconds": args.seconds}
                    paths = [str(databases[size].path) for size in order]
                    found = server.ask(figure=key, order=paths, **asked)
                    for size in order:
                        databases[size].add(key, found[str(databases[size].path)])
                print(f"round {number + 1} done (load average {load()})", flush=True)
        print(f"\nload average at the end: {load()}\n")
        show(sizes, databases)
    finally:
        if server is not None:
            server.stop()
        for running in databases.values():
            running.http.stop()
        if sink_process is not None:
            sink_process.send_signal(signal.SIGTERM)
            sink_process.wait(10)
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def child() -> None:
    """What this script runs in its own child processes."""
    if sys.argv[1] == "--build":
        size, database = int(sys.argv[2]), Path(sys.argv[3])
        facts = build(size, database)
        database.with_suffix(".json").write_text(json.dumps(facts))
    elif sys.argv[1] == "--sink":
        sink(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] == "--serve":
        serve(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4:])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("--build", "--sink", "--serve"):
        child()
    else:
        main()
