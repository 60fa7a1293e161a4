"""Peak memory and speed of ``flask urgentaction export``: 1,000, 10,000, 100,000 actions.

For each size, a fresh SQLite database (or a scratch PostgreSQL database with
``--postgresql``) gets one campaign and its actions, inserted with one
``executemany`` (each with a 400-character message and a personal line, about
the size of a real one). Then, for each format, two runs in a process of their own:

- ``flask urgentaction export bench --format F > /dev/null``, the command an
  organiser runs: its peak resident memory (``ru_maxrss`` from ``wait4``);
- the same export in process, timed alone (start-up and schema check left out);
- and again under ``tracemalloc``: the peak of Python's heap above what it held
  just before the export began, i.e. what the export itself holds at once.

Each figure is also given as a ratio to the smallest size's.

Usage: python bench/export_memory.py [--sizes 1000 10000 100000] [--formats csv jsonl osdi]
           [--postgresql postgresql+psycopg://user@host/scratch]

``--postgresql`` drops and recreates the ``ua_`` tables of that database: give
it a scratch database.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SLUG = "bench"
MESSAGE = ("Reinstate the sacked union leaders of the Example mine and recognise "
           "the union they founded. ") * 5  # fmt: skip
CAMPAIGN: dict[str, Any] = {
    "slug": SLUG,
    "status": "live",
    "partner": "Bench Union",
    "targets": [{"name": "Target", "email": "target@example.org"}],
    "translations": {"en": {"title": "Bench", "subject": "S", "message": MESSAGE}},
}
HERE = Path(__file__).resolve().parent


def create_app() -> Any:
    """The app ``flask --app`` runs (its database from UA_BENCH_DATABASE_URL)."""
    from flask import Flask

    from flask_urgentaction import UrgentAction

    app = Flask("bench", instance_path=os.environ["UA_BENCH_INSTANCE"])
    app.config.update(
        SECRET_KEY="bench", MAIL_DEFAULT_SENDER="Bench <bench@example.org>",
        URGENTACTION_DATABASE_URL=os.environ["UA_BENCH_DATABASE_URL"],
    )  # fmt: skip
    UrgentAction(app)
    return app


def prepare(count: int) -> None:
    """A fresh schema with the bench campaign and ``count`` actions."""
    from sqlalchemy import inspect, text

    from flask_urgentaction.campaigns import save
    from flask_urgentaction.models import Action, Campaign
    from flask_urgentaction.storage import get_session, get_storage

    app = create_app()
    with app.app_context():
        engine = app.extensions["urgentaction"].storage.engine
        if engine.dialect.name == "postgresql":
            with engine.begin() as connection:
                for name in inspect(connection).get_table_names():
                    if name.startswith("ua_"):
                        connection.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
        get_storage()  # migrates
        session = get_session()
        campaign, _created = save(session, CAMPAIGN)
        session.commit()
        start = datetime.now(UTC) - timedelta(days=30)
        batch = 10_000
        with engine.begin() as connection:
            for first in range(0, count, batch):
                rows = [
                    {"campaign_id": campaign.id, "name": f"Supporter Number {i}",
                     "email": f"supporter{i}@example.org", "email_key": f"supporter{i}@example.org",
                     "union": "Example Mineworkers' Union", "country": "BA", "subject": "S",
                     "message": MESSAGE, "lang": "en", "personal": "My father was a miner.",
                     "edited": False, "opt_in": i % 3 == 0,
                     "source_origin": "https://union.example" if i % 2 else "",
                     "partner_tag": "union-site" if i % 2 else "",
                     "created_at": start + timedelta(seconds=i)}
                    for i in range(first, min(first + batch, count))
                ]  # fmt: skip
                connection.execute(Action.__table__.insert(), rows)
            table = Campaign.__table__
            connection.execute(
                table.update().where(table.c.id == campaign.id).values(action_count=count)
            )
        session.close()
    # Every connection closed: SQLite moves its write-ahead log into the file, so
    # the exports read the database as it is after a quiet night, not through a log.
    engine.dispose()


def in_process(fmt: str, trace: bool) -> None:
    """In this process: the export alone (the app and its schema check done first),
    its seconds and, when traced, the peak of Python's heap above what it held
    just before; as JSON on stderr."""
    import click

    from flask_urgentaction.cli import cli
    from flask_urgentaction.storage import get_storage

    app = create_app()
    with app.app_context():
        get_storage()  # the schema check and its imports: the same for any size
        if trace:
            tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        with open(os.devnull, "w", encoding="utf-8") as devnull:
            stdout, sys.stdout = sys.stdout, devnull
            began = time.perf_counter()
            try:
                cli.main(["export", SLUG, "--format", fmt], standalone_mode=False)
            except click.ClickException as exc:
                sys.exit(str(exc))
            finally:
                sys.stdout = stdout
            seconds = time.perf_counter() - began
        peak = tracemalloc.get_traced_memory()[1] - before if trace else None
    print(json.dumps({"seconds": seconds, "heap_peak": peak}), file=sys.stderr)


def environment(database_url: str, instance: str) -> dict[str, str]:
    env = dict(os.environ, UA_BENCH_DATABASE_URL=database_url, UA_BENCH_INSTANCE=instance)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def command_rss(fmt: str, env: dict[str, str]) -> int:
    """Peak resident kB of ``flask urgentaction export`` in a process of its own."""
    command = [sys.executable, "-m", "flask", "--app", "export_memory:create_app",
               "urgentaction", "export", SLUG, "--format", fmt]  # fmt: skip
    with open(os.devnull, "wb") as devnull:
        process = subprocess.Popen(command, stdout=devnull, env=env)
        _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode})")
    return int(usage.ru_maxrss)  # kB on Linux


def child(fmt: str, env: dict[str, str], trace: bool) -> dict[str, Any]:
    flags = ["--child", fmt] + (["--trace"] if trace else [])
    result = subprocess.run(
        [sys.executable, __file__, *flags], env=env, capture_output=True, text=True, check=True
    )
    figures: dict[str, Any] = json.loads(result.stderr.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--formats", nargs="+", default=["csv", "jsonl", "osdi"])
    parser.add_argument("--postgresql", metavar="URL")
    parser.add_argument("--child", metavar="FORMAT", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--prepare", metavar="COUNT", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        in_process(args.child, args.trace)
        return
    if args.prepare is not None:
        prepare(args.prepare)
        return

    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs")
    results: dict[tuple[str, int], tuple[float, int, int]] = {}
    with tempfile.TemporaryDirectory(prefix="ua-export-bench-") as scratch:
        for size in args.sizes:
            url = args.postgresql or f"sqlite:///{scratch}/bench-{size}.sqlite3"
            env = environment(url, scratch)
            began = time.perf_counter()
            # In a process of its own: this one stays small, since a child's peak
            # (ru_maxrss) counts from the fork, when it is a copy of this process.
            subprocess.run([sys.executable, __file__, "--prepare", str(size)], env=env, check=True)
            took = time.perf_counter() - began
            print(f"{size:>7} actions stored in {took:.1f} s ({url.split(':')[0]})")
            for fmt in args.formats:
                rss = command_rss(fmt, env)
                seconds = child(fmt, env, trace=False)["seconds"]
                heap = child(fmt, env, trace=True)["heap_peak"]
                results[fmt, size] = (seconds, rss, heap)

    smallest = args.sizes[0]  # the ratios are to its figures
    print("\nformat  actions  export s    rows/s  peak RSS (ratio)  export's heap peak (ratio)")
    for (fmt, size), (seconds, rss, heap) in results.items():
        _s, rss_base, heap_base = results[fmt, smallest]
        print(f"{fmt:<6} {size:>8} {seconds:>9.2f} {size / seconds:>9,.0f} "
              f"{rss / 1024:>7.1f} MB ({rss / rss_base:.3f}) "
              f"{heap / 1024:>9,.0f} kB ({heap / heap_base:.3f})")  # fmt: skip


if __name__ == "__main__":
    main()
