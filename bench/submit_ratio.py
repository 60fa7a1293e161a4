"""Submissions per second over HTTP, against a bare Flask app in the same run.

Each run starts gunicorn (2 sync workers) and drives it with keep-alive
clients, each doing the widget's pair in a loop: GET the campaign JSON, read
the number from the spam-check question, POST an action with a new address.

- (a) ``bare``: a Flask app with the same two routes returning fixed JSON;
- (b) the extension's app on SQLite, and on PostgreSQL with ``--postgresql URL``;
- ``--growth``: (b) again after 1,000 and 100,000 actions (``--sizes``, e.g.
  ``1000,100000,1000000``) were stored with their sent mail (inserted in
  chunks, not through the API), to see whether the rate holds;
- ``--profile N``: N pairs in this process under cProfile, top costs printed;
- ``--calls N``: the work per request counted rather than timed, so that it does
  not depend on the machine's load: Python function calls per GET and per POST
  (bare app and extension, in process) and the extension's SQL statements and
  commits per pair, averaged over N pairs.

The app runs with delivery "worker", URGENTACTION_MIN_FILL_SECONDS=0 and a rate
limit no run reaches. ``--postgresql`` drops and recreates the ``ua_`` tables
of that database: give it a scratch database.

Runs take turns (``--rounds``), so a load elsewhere on the machine falls on
each alike; each figure is over all its rounds.

Usage: python bench/submit_ratio.py [--seconds 10] [--rounds 3] [--clients 8] [--growth]
           [--sizes 1000,100000,1000000]
           [--postgresql postgresql+psycopg://...] [--profile 500] [--calls 200]
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import io
import json
import os
import pstats
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SLUG = "bench"
CAMPAIGN: dict[str, Any] = {
    "slug": SLUG,
    "status": "live",
    "partner": "Bench Union",
    "goal": 1_000_000,
    "targets": [{"name": "Target", "email": "target@example.org"}],
    "translations": {
        "en": {
            "title": "Reinstate the sacked union leaders",
            "summary": "One paragraph for lists and embeds.",
            "body": "The **background** of the dispute.\n\n" * 20,
            "subject": "Reinstate the union leaders now",
            "message": "The default message a supporter may edit.",
        },
        "de": {"title": "Entlassene Gewerkschafter wieder einstellen"},
    },
}
BARE_CAMPAIGN = {
    "slug": SLUG, "lang": "en", "languages": ["en", "de"], "status": "live",
    "title": "Reinstate the sacked union leaders", "count": 1,
    "challenge": {"token": "fixed", "question": "Enter the number 4273 here"},
}  # fmt: skip
PATH = f"/actions/api/campaigns/{SLUG}"
NUMBER = re.compile(r"\d+")
BASE = "http://127.0.0.1"  # a host in TRUSTED_HOSTS


# -- the two apps gunicorn runs (imported by name: "submit_ratio:bare_app()") --


def bare_app() -> Any:
    from flask import Flask, jsonify

    app = Flask("bare")
    app.add_url_rule(PATH, "campaign", lambda: jsonify(BARE_CAMPAIGN))
    app.add_url_rule(
        PATH + "/actions",
        "take",
        lambda: (jsonify(status="ok", count=1, opt_in_pending=False), 201),
        methods=["POST"],
    )
    return app


def extension_app() -> Any:
    from flask import Flask

    from flask_urgentaction import UrgentAction

    app = Flask("bench", instance_path=os.environ["UA_BENCH_INSTANCE"])
    app.config.update(
        SECRET_KEY="bench", MAIL_SERVER="127.0.0.1", MAIL_PORT=2525,
        MAIL_DEFAULT_SENDER="Bench <bench@example.org>", TRUSTED_HOSTS=["127.0.0.1"],
        URGENTACTION_DATABASE_URL=os.environ["UA_BENCH_DATABASE_URL"],
        URGENTACTION_DELIVERY="worker", URGENTACTION_MIN_FILL_SECONDS=0,
        URGENTACTION_RATE_LIMIT="100000000 per minute",
    )  # fmt: skip
    UrgentAction(app)
    return app


# -- preparing a database --


def prepare(database_url: str, instance: str, preload: int) -> None:
    """A fresh schema with the bench campaign, and ``preload`` actions stored."""
    os.environ["UA_BENCH_DATABASE_URL"] = database_url
    os.environ["UA_BENCH_INSTANCE"] = instance
    from sqlalchemy import inspect, text

    from flask_urgentaction.campaigns import save
    from flask_urgentaction.models import Action, Campaign, OutboxMessage
    from flask_urgentaction.storage import get_session, get_storage

    app = extension_app()
    with app.app_context():
        engine = app.extensions["urgentaction"].storage.engine
        if engine.dialect.name == "postgresql":
            with engine.begin() as connection:
                names = [n for n in inspect(connection).get_table_names() if n.startswith("ua_")]
                for name in names:
                    connection.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
        get_storage()  # migrates
        session = get_session()
        campaign, _created = save(session, CAMPAIGN)
        session.commit()
        if preload:
            now = datetime.now(UTC)
            target_id = campaign.targets[0].id
            with engine.begin() as connection:
                # In chunks, so a million rows need no more memory than 50,000.
                for start in range(0, preload, 50_000):
                    chunk = range(start, min(preload, start + 50_000))
                    actions = [
                        {"id": i + 1, "campaign_id": campaign.id, "name": f"Preloaded {i}",
                         "email": f"pre{i}@example.org", "email_key": f"pre{i}@example.org",
                         "union": "", "country": "BA", "subject": "S", "message": "M",
                         "lang": "en", "opt_in": False, "source_origin": "", "partner_tag": "",
                         "created_at": now}
                        for i in chunk
                    ]  # fmt: skip
                    connection.execute(Action.__table__.insert(), actions)
                    # Each stored action's message to the target, sent: the outbox
                    # grows with the campaign too.
                    mail = [
                        {"kind": "target", "dedupe_key": f"target:{i + 1}:{target_id}",
                         "message_id": f"<pre{i}@bench.example>", "action_id": i + 1,
                         "target_id": target_id, "sender": ["", "a@bench.example"],
                         "recipient_name": "", "recipient": "target@example.org",
                         "subject": "S", "text_body": "M", "headers": {}, "status": "sent",
                         "attempts": 1, "next_attempt_at": now, "created_at": now,
                         "sent_at": now, "last_reply": "250 OK", "last_error": ""}
                        for i in chunk
                    ]  # fmt: skip
                    connection.execute(OutboxMessage.__table__.insert(), mail)
                if "action_count" in Campaign.__table__.c:
                    connection.execute(
                        Campaign.__table__.update()
                        .where(Campaign.__table__.c.id == campaign.id)
                        .values(action_count=preload)
                    )
        engine.dispose()


# -- the clients --


@dataclass
class Result:
    pairs: int
    seconds: float
    latencies: list[float]
    failures: int


def client_loop(port: int, client: int, run: str, seconds: float) -> Result:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        for attempt in range(2):
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()  # sync workers close; reconnect next time
                return response.status, data
            except (http.client.HTTPException, ConnectionError):
                connection.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    latencies: list[float] = []
    failures = 0
    start = time.perf_counter()
    end = start + seconds
    n = 0
    while time.perf_counter() < end:
        began = time.perf_counter()
        status, data = call("GET", PATH + "?lang=en")
        campaign = json.loads(data)
        number = NUMBER.search(campaign["challenge"]["question"])
        assert status == 200 and number, (status, data[:200])
        body = {
            "name": f"Supporter {client} {n}", "email": f"s{run}.{client}.{n}@example.org",
            "country": "BA", "lang": "en", "challenge_token": campaign["challenge"]["token"],
            "challenge_answer": number.group(0), "hp": "",
        }  # fmt: skip
        status, data = call("POST", PATH + "/actions", json.dumps(body).encode())
        if status != 201:
            failures += 1
            if failures < 3:
                print(f"client {client}: {status} {data[:300]!r}", file=sys.stderr)
        latencies.append(time.perf_counter() - began)
        n += 1
    return Result(n, time.perf_counter() - start, latencies, failures)


@dataclass
class Figures:
    label: str
    pairs_per_second: float
    p50_ms: float
    p99_ms: float
    failures: int


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start")


def measure(label: str, app: str, env: dict[str, str], args: argparse.Namespace) -> list[Result]:
    port = free_port()
    gunicorn = [
        sys.executable, "-m", "gunicorn", "--workers", str(args.workers),
        "--worker-class", "sync", "--bind", f"127.0.0.1:{port}",
        "--pythonpath", str(Path(__file__).parent), "--log-level", "warning", app,
    ]  # fmt: skip
    process = subprocess.Popen(gunicorn, env={**os.environ, **env})
    try:
        wait_listening(port, process)
        # Warm up both workers (imports, first migration check, caches).
        client_loop(port, 99, f"w{time.time_ns()}", 1.0)
        run = str(time.time_ns())
        with ProcessPoolExecutor(args.clients) as pool:
            futures = [
                pool.submit(client_loop, port, c, run, args.seconds) for c in range(args.clients)
            ]
            results = [f.result() for f in futures]
    finally:
        process.terminate()
        process.wait(30)
    return results


def figures(label: str, rounds: list[list[Result]]) -> Figures:
    """One figure over several rounds: pairs over the summed time of the rounds."""
    results = [r for one in rounds for r in one]
    latencies = sorted(x for r in results for x in r.latencies)
    pairs = sum(r.pairs for r in results)
    seconds = sum(max(r.seconds for r in one) for one in rounds)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return Figures(
        label, pairs / seconds, statistics.median(latencies) * 1000, p99 * 1000,
        sum(r.failures for r in results),
    )  # fmt: skip


def extension_run(
    label: str, database_url: str | None, preload: int, args: argparse.Namespace
) -> list[Result]:
    instance = tempfile.mkdtemp(prefix="ua-bench-")
    try:
        url = database_url or "sqlite:///" + os.path.join(instance, "bench.sqlite3")
        env = {"UA_BENCH_DATABASE_URL": url, "UA_BENCH_INSTANCE": instance}
        # In a child process, so this process imports no app code before forking clients.
        with ProcessPoolExecutor(1) as pool:
            pool.submit(prepare, url, instance, preload).result()
        return measure(label, "submit_ratio:extension_app()", env, args)
    finally:
        shutil.rmtree(instance, ignore_errors=True)


def show(rows: list[Figures], bare: Figures) -> None:
    print(f"{'run':<28} {'pairs/s':>8} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>7} {'fail':>5}")
    for row in rows:
        ratio = row.pairs_per_second / bare.pairs_per_second
        print(
            f"{row.label:<28} {row.pairs_per_second:8.0f} {ratio:6.2f} "
            f"{row.p50_ms:7.1f} {row.p99_ms:7.1f} {row.failures:5d}"
        )


def profile(pairs: int) -> None:
    """The hot path in this process (Flask's test client), under cProfile."""
    instance = tempfile.mkdtemp(prefix="ua-profile-")
    url = "sqlite:///" + os.path.join(instance, "bench.sqlite3")
    prepare(url, instance, 1000)
    app = extension_app()
    client = app.test_client()

    def pair(n: int) -> None:
        campaign = client.get(PATH + "?lang=en", base_url=BASE).get_json()
        number = NUMBER.search(campaign["challenge"]["question"])
        assert number
        body = {"name": f"S {n}", "email": f"p{n}@example.org", "country": "BA", "lang": "en",
                "challenge_token": campaign["challenge"]["token"],
                "challenge_answer": number.group(0)}  # fmt: skip
        assert client.post(PATH + "/actions", json=body, base_url=BASE).status_code == 201

    for n in range(50):  # warm: imports, caches
        pair(n)
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    for n in range(50, 50 + pairs):
        pair(n)
    profiler.disable()
    elapsed = time.perf_counter() - start
    print(f"{pairs} pairs in process: {elapsed / pairs * 1000:.2f} ms per pair (under cProfile)")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(r"flask_urgentaction|sqlalchemy/engine", 30)
    stats.sort_stats("tottime").print_stats(20)
    print(out.getvalue())
    shutil.rmtree(instance, ignore_errors=True)


def calls(pairs: int) -> None:
    """Function calls, SQL statements and commits per request, counted in process."""
    from sqlalchemy import event

    instance = tempfile.mkdtemp(prefix="ua-calls-")
    prepare("sqlite:///" + os.path.join(instance, "bench.sqlite3"), instance, 1000)
    extension = extension_app()
    engine = extension.extensions["urgentaction"].storage.engine
    counted = {"statements": 0, "commits": 0}

    def on_execute(*_args: Any) -> None:
        counted["statements"] += 1

    def on_commit(*_args: Any) -> None:
        counted["commits"] += 1

    def counting(request: Any, *args: Any, **kwargs: Any) -> tuple[Any, int]:
        profiler = cProfile.Profile()
        profiler.enable()
        response = request(*args, **kwargs)
        profiler.disable()
        return response, pstats.Stats(profiler).total_calls  # type: ignore[attr-defined]

    print(f"{'app':<10} {'calls/GET':>10} {'calls/POST':>11} {'calls/pair':>11} "
          f"{'SQL/pair':>9} {'commits/pair':>13}")  # fmt: skip
    for label, app in [("bare", bare_app()), ("extension", extension)]:
        client = app.test_client()
        totals = [0, 0]
        for n in range(-20, pairs):  # the first 20 warm imports and caches
            if n == 0 and app is extension:
                event.listen(engine, "before_cursor_execute", on_execute)
                event.listen(engine, "commit", on_commit)
            got, get_calls = counting(client.get, PATH + "?lang=en", base_url=BASE)
            question = got.get_json()["challenge"]
            number = NUMBER.search(question["question"])
            assert number
            body = {"name": f"S {n}", "email": f"c{n + 20}@example.org", "country": "BA",
                    "lang": "en", "challenge_token": question["token"],
                    "challenge_answer": number.group(0)}  # fmt: skip
            sent, post_calls = counting(client.post, PATH + "/actions", json=body, base_url=BASE)
            assert sent.status_code == 201, sent.get_data()
            if n >= 0:
                totals[0] += get_calls
                totals[1] += post_calls
        get_mean, post_mean = totals[0] / pairs, totals[1] / pairs
        sql = f"{counted['statements'] / pairs:9.1f}" if app is extension else f"{'-':>9}"
        commits = f"{counted['commits'] / pairs:13.1f}" if app is extension else f"{'-':>13}"
        print(f"{label:<10} {get_mean:10.0f} {post_mean:11.0f} {get_mean + post_mean:11.0f} "
              f"{sql} {commits}")  # fmt: skip
    shutil.rmtree(instance, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--postgresql", metavar="URL")
    parser.add_argument("--growth", action="store_true")
    parser.add_argument(
        "--sizes", default="1000,100000", help="actions stored for --growth, e.g. 1000,1000000"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=int, metavar="PAIRS")
    parser.add_argument("--calls", type=int, metavar="PAIRS")
    args = parser.parse_args()
    if args.profile:
        profile(args.profile)
        return
    if args.calls:
        calls(args.calls)
        return
    print(
        f"{args.workers} sync workers, {args.clients} clients, "
        f"{args.rounds} rounds of {args.seconds:.0f} s per run, taken in turns"
    )
    runs: list[tuple[str, str | None, int]] = [("extension, SQLite", None, 0)]
    if args.postgresql:
        runs.append(("extension, PostgreSQL", args.postgresql, 0))
    sizes = [int(n) for n in args.sizes.split(",")]
    if args.growth:
        for name, url in [("SQLite", None), ("PostgreSQL", args.postgresql)]:
            if name == "SQLite" or url:
                runs += [(f"{name}, {n:,} stored", url, n) for n in sizes]
    # In turns, so that a load elsewhere on the machine falls on every run alike.
    bare_rounds: list[list[Result]] = []
    rounds: dict[str, list[list[Result]]] = {label: [] for label, _url, _n in runs}
    for _ in range(args.rounds):
        bare_rounds.append(measure("bare", "submit_ratio:bare_app()", {}, args))
        for label, url, stored in runs:
            rounds[label].append(extension_run(label, url, stored, args))
    bare = figures("bare Flask", bare_rounds)
    table = [figures(label, rounds[label]) for label, _url, _n in runs]
    show([bare, *[row for row in table if "stored" not in row.label]], bare)
    growth = [row for row in table if "stored" in row.label]
    if growth:
        print("\ngrowth (ratio: to the bare app)")
        show(growth, bare)
        for start in range(0, len(growth), len(sizes)):
            first, *others = growth[start : start + len(sizes)]
            for other in others:
                change = other.pairs_per_second / first.pairs_per_second - 1
                print(f"{other.label}: {change:+.0%} against {sizes[0]:,} stored")


if __name__ == "__main__":
    main()
