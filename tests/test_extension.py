"""The extension object: registration, configuration, storage and overrides."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import Engine, create_engine, inspect, text

from flask_urgentaction import UrgentAction
from flask_urgentaction.campaigns import load_files
from flask_urgentaction.extension import DEFAULTS
from flask_urgentaction.models import Base
from flask_urgentaction.storage import VERSION_TABLE, get_session, head_revision, upgrade

from .conftest import SAMPLE, Mailbox, make_app

SLUG = "example-mine-strike"


def base_config(mailbox: Mailbox) -> dict[str, Any]:
    return {
        "SECRET_KEY": "test secret",
        "TESTING": True,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": mailbox.port,
        "MAIL_SUPPRESS_SEND": False,
        "MAIL_DEFAULT_SENDER": "Example Network <actions@network.example>",
        "URGENTACTION_MIN_FILL_SECONDS": 0,
    }


def load_sample(app: Flask, tmp_path: Path, name: str = "campaign.toml") -> None:
    path = tmp_path / name
    path.write_text(SAMPLE, encoding="utf-8")
    with app.app_context():
        load_files(get_session(), [path])


def test_constructor_with_app_registers_state_routes_and_mail(
    tmp_path: Path, mailbox: Mailbox
) -> None:
    app = Flask("host", instance_path=str(tmp_path / "instance"))
    app.config.from_mapping(base_config(mailbox))
    ua = UrgentAction(app)
    assert app.extensions["urgentaction"].extension is ua
    assert "mail" in app.extensions
    assert app.test_client().get("/actions/").status_code == 200


def test_app_factory_with_init_app_serves_the_campaign(tmp_path: Path, mailbox: Mailbox) -> None:
    ua = UrgentAction()

    def create_app() -> Flask:
        app = Flask("host", instance_path=str(tmp_path / "instance"))
        app.config.from_mapping(base_config(mailbox))
        ua.init_app(app)
        return app

    app = create_app()
    load_sample(app, tmp_path)
    assert app.extensions["urgentaction"].extension is ua
    response = app.test_client().get(f"/actions/{SLUG}")
    assert response.status_code == 200
    assert "Reinstate the sacked union leaders" in response.get_data(as_text=True)


def test_two_apps_in_one_process_keep_prefixes_and_databases_apart(
    tmp_path: Path, mailbox: Mailbox
) -> None:
    first = make_app(tmp_path / "one", mailbox, URGENTACTION_URL_PREFIX="/actions")
    second = make_app(
        tmp_path / "two",
        mailbox,
        URGENTACTION_URL_PREFIX="/campaigns",
        URGENTACTION_DATABASE_URL=f"sqlite:///{tmp_path / 'second.sqlite3'}",
    )
    (tmp_path / "one").mkdir(exist_ok=True)
    load_sample(first, tmp_path / "one")

    one, two = first.test_client(), second.test_client()
    assert one.get(f"/actions/{SLUG}").status_code == 200
    assert one.get(f"/campaigns/{SLUG}").status_code == 404
    # The second app has its own prefix and its own (empty) database.
    assert two.get(f"/actions/{SLUG}").status_code == 404
    assert two.get(f"/campaigns/{SLUG}").status_code == 404
    assert two.get("/campaigns/").status_code == 200
    assert "Reinstate" not in two.get("/campaigns/").get_data(as_text=True)
    assert "Reinstate" in one.get("/actions/").get_data(as_text=True)

    first_url = str(first.extensions["urgentaction"].storage.engine.url)
    second_url = str(second.extensions["urgentaction"].storage.engine.url)
    assert first_url.endswith(str(tmp_path / "one" / "instance" / "urgentaction.sqlite3"))
    assert second_url.endswith("second.sqlite3")
    # Links follow each app's own prefix.
    with second.test_request_context():
        from flask import url_for

        assert url_for("urgentaction.index") == "/campaigns/"


def test_init_app_twice_on_one_app_raises(tmp_path: Path, mailbox: Mailbox) -> None:
    app = make_app(tmp_path, mailbox)
    with pytest.raises(RuntimeError, match="already registered"):
        UrgentAction().init_app(app)
    with pytest.raises(RuntimeError, match="already registered"):
        app.extensions["urgentaction"].extension.init_app(app)


def test_config_defaults_fill_gaps_and_host_values_win(tmp_path: Path, mailbox: Mailbox) -> None:
    app = make_app(
        tmp_path,
        mailbox,
        URGENTACTION_URL_PREFIX="/ua",
        URGENTACTION_TOKEN_MAX_AGE=60,
        URGENTACTION_DELIVERY="worker",
    )
    assert app.config["URGENTACTION_URL_PREFIX"] == "/ua"
    assert app.config["URGENTACTION_TOKEN_MAX_AGE"] == 60
    assert app.config["URGENTACTION_DELIVERY"] == "worker"
    # make_app sets these itself; the rest come from the defaults.
    assert app.config["URGENTACTION_MIN_FILL_SECONDS"] == 0
    assert app.config["URGENTACTION_ALLOWED_ORIGINS"] == "*"
    for key, default in DEFAULTS.items():
        if key not in ("URGENTACTION_URL_PREFIX", "URGENTACTION_TOKEN_MAX_AGE",
                       "URGENTACTION_DELIVERY", "URGENTACTION_MIN_FILL_SECONDS",
                       "URGENTACTION_RATE_LIMIT", "URGENTACTION_RETRY_BASE_SECONDS",
                       "URGENTACTION_SMTP_TIMEOUT"):  # fmt: skip
            assert app.config[key] == default, key
    assert app.test_client().get("/ua/").status_code == 200
    assert app.test_client().get("/actions/").status_code == 404


def test_missing_secret_key_is_a_clear_error(tmp_path: Path, mailbox: Mailbox) -> None:
    app = Flask("host", instance_path=str(tmp_path / "instance"))
    config = base_config(mailbox)
    del config["SECRET_KEY"]
    app.config.from_mapping(config)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        UrgentAction(app)
    assert "urgentaction" not in app.extensions


def test_sqlite_file_is_created_in_the_instance_folder_on_first_use(
    tmp_path: Path, mailbox: Mailbox
) -> None:
    app = make_app(tmp_path, mailbox)
    database = tmp_path / "instance" / "urgentaction.sqlite3"
    assert not database.exists()
    assert app.test_client().get("/actions/").status_code == 200
    assert database.exists()
    engine = create_engine(f"sqlite:///{database}")
    try:
        assert "ua_actions" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def schema_differences(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        return list(compare_metadata(context, Base.metadata))


def test_migrated_sqlite_schema_matches_the_models(tmp_path: Path, mailbox: Mailbox) -> None:
    app = make_app(tmp_path, mailbox)
    assert app.test_client().get("/actions/").status_code == 200  # migrates on first use
    engine = app.extensions["urgentaction"].storage.engine
    with engine.connect() as connection:
        version = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    assert version is not None
    assert schema_differences(engine) == []


MIGRATE_AT = """\
import sys, time
from flask_urgentaction.storage import Storage
storage = Storage(sys.argv[1])
while time.time() < float(sys.argv[2]):
    time.sleep(0.001)
storage.ensure_schema()
"""


def test_worker_processes_starting_together_on_one_sqlite_file_migrate_once(
    tmp_path: Path,
) -> None:
    # Each gunicorn worker migrates on its first request; on a fresh file they
    # must not race to create the same tables.
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    start = str(time.time() + 3)
    processes = [
        subprocess.Popen([sys.executable, "-c", MIGRATE_AT, url, start], stderr=subprocess.PIPE)
        for _ in range(6)
    ]
    errors = [process.communicate(timeout=60)[1].decode() for process in processes]
    assert [process.returncode for process in processes] == [0] * 6, errors
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            versions = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
        assert [v[0] for v in versions] == [head_revision(engine)]
        assert schema_differences(engine) == []
    finally:
        engine.dispose()


@pytest.fixture
def fresh_postgres(postgres_url: str) -> Iterator[str]:
    """A database of its own, so other tests' tables do not show up as differences."""
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("DROP DATABASE IF EXISTS ua_schema_check"))
        connection.execute(text("CREATE DATABASE ua_schema_check"))
    try:
        yield postgres_url.rsplit("/", 1)[0] + "/ua_schema_check"
    finally:
        with admin.connect() as connection:
            connection.execute(text("DROP DATABASE IF EXISTS ua_schema_check WITH (FORCE)"))
        admin.dispose()


@pytest.mark.postgresql
def test_migrated_postgresql_schema_matches_the_models(fresh_postgres: str) -> None:
    engine = create_engine(fresh_postgres)
    try:
        upgrade(engine)
        assert schema_differences(engine) == []
    finally:
        engine.dispose()


def test_host_template_overrides_the_campaign_page(tmp_path: Path, mailbox: Mailbox) -> None:
    templates = tmp_path / "site" / "templates" / "urgentaction"
    templates.mkdir(parents=True)
    (templates / "campaign.html").write_text(
        "<!doctype html><p>Host page for {{ texts.title }}</p>", encoding="utf-8"
    )
    app = Flask("host", root_path=str(tmp_path / "site"), instance_path=str(tmp_path / "instance"))
    app.config.from_mapping(base_config(mailbox))
    UrgentAction(app)
    load_sample(app, tmp_path)
    client = app.test_client()
    page = client.get(f"/actions/{SLUG}").get_data(as_text=True)
    assert page == "<!doctype html><p>Host page for Reinstate the sacked union leaders</p>"
    # Templates the host does not ship still come from the package.
    assert "Urgent actions" in client.get("/actions/").get_data(as_text=True)


def test_cli_group_is_registered_with_its_commands(tmp_path: Path, mailbox: Mailbox) -> None:
    app = make_app(tmp_path, mailbox)
    group = app.cli.commands["urgentaction"]
    assert {"campaigns", "send-mail", "worker", "alert", "export", "forget"} <= set(
        group.commands  # type: ignore[attr-defined]
    )
    result = app.test_cli_runner().invoke(args=["urgentaction", "campaigns", "list"])
    assert result.exit_code == 0, result.output
    assert "No campaigns yet" in result.output
