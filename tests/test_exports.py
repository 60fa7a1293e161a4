"""``export SLUG`` (CSV, JSON Lines, OSDI), ``report --partner``, and ``subscribers
export``: run through Flask's CLI runner against the real database, actions taken
through the JSON API, OSDI output checked against the OSDI specification's pages."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy import select, text, update

from flask_urgentaction.campaigns import load_files
from flask_urgentaction.exports import EXPORT_COLUMNS, SUBSCRIBER_COLUMNS, action_rows
from flask_urgentaction.models import Action, Consent, Subscriber
from flask_urgentaction.storage import get_session
from flask_urgentaction.subscriptions import unsubscribe_token

from . import osdi_schema
from .conftest import SAMPLE, Mailbox, action_body

MINE = "example-mine-strike"
ACTIONS_URL = f"/actions/api/campaigns/{MINE}/actions"
UNION = "https://union.example"
PORT = "https://port.example"
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["urgentaction", *args])


def output(app: Flask, *args: str) -> str:
    result = run(app, *args)
    assert result.exit_code == 0, result.output
    return result.output


def take(client: FlaskClient, origin: str = "", **fields: Any) -> None:
    headers = {"Origin": origin} if origin else {}
    response = client.post(ACTIONS_URL, json=action_body(client, **fields), headers=headers)
    assert response.status_code == 201, response.get_json()


def stored() -> list[Action]:
    session = get_session()
    session.expire_all()
    return list(session.scalars(select(Action).order_by(Action.id)))


def csv_rows(text_: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text_)))


def jsonl(text_: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text_.splitlines()]


@pytest.fixture
def supporters(client: FlaskClient, campaign: Any, mailbox: Mailbox) -> None:
    """Four actions: two through a union's site, one through a port's, one on our page."""
    take(client, origin=UNION, partner="union-site", name="Ana Kovač", email="ana@example.org",
         personal="Mein Vater war Bergmann.", message="Reinstate them, today.")  # fmt: skip
    take(client, origin=UNION, partner="union-site", name='=HYPERLINK("x")',
         email="lejla@example.org", union="-SSM", country="DE")  # fmt: skip
    take(client, origin=PORT, partner="port-site", name="Kim Minjun", email="kim@example.kr",
         union="", country="KR", lang="de")  # fmt: skip
    take(client, name="Hans", email="hans@example.de", union="", country="AT")


# CSV and JSON Lines


def test_csv_export_has_every_column_neutralises_formulas_and_leaves_erased_actions_out(
    app: Flask, supporters: None
) -> None:
    assert run(app, "forget", "kim@example.kr", "--yes").exit_code == 0
    text_ = output(app, "export", MINE)
    assert text_.splitlines()[0] == ",".join(EXPORT_COLUMNS)
    rows = csv_rows(text_)
    ana, lejla, hans = rows  # Kim's action was erased: it counts, but is not exported
    actions = [a for a in stored() if a.erased_at is None]
    assert [int(row["id"]) for row in rows] == [a.id for a in actions]
    assert ana["name"] == "Ana Kovač" and ana["email"] == "ana@example.org"
    assert ana["personal"] == "Mein Vater war Bergmann."
    assert ana["message"] == "Reinstate them, today." and ana["edited"] == "True"
    assert (ana["partner_tag"], ana["source_origin"]) == ("union-site", UNION)
    assert (hans["partner_tag"], hans["source_origin"], hans["edited"]) == ("", "", "False")
    assert ana["created_at"] == actions[0].created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert all(ISO_UTC.fullmatch(row["created_at"]) for row in rows)
    # A formula in any cell is neutralised with a leading quote.
    assert lejla["name"] == '\'=HYPERLINK("x")' and lejla["union"] == "'-SSM"
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row.values())
    assert "kim@example.kr" not in text_


def test_jsonl_export_is_one_object_a_line_with_the_stored_values(
    app: Flask, supporters: None
) -> None:
    text_ = output(app, "export", MINE, "--format", "jsonl")
    assert "Kovač" in text_  # UTF-8 as is, not \\u escapes
    records = jsonl(text_)
    assert [list(record) for record in records] == [list(EXPORT_COLUMNS)] * 4
    for record, action in zip(records, stored(), strict=True):
        for column in EXPORT_COLUMNS:
            value = getattr(action, column)
            if column == "created_at":
                value = value.strftime("%Y-%m-%dT%H:%M:%SZ")
            assert record[column] == value, column
    # JSON is not opened by spreadsheets: the formula stays as typed.
    assert records[1]["name"] == '=HYPERLINK("x")'
    assert [type(records[0][key]) for key in ("opt_in", "edited", "id")] == [bool, bool, int]


def test_partner_origin_and_since_filters_choose_the_actions(app: Flask, supporters: None) -> None:
    def emails(*args: str) -> list[str]:
        return [row["email"] for row in csv_rows(output(app, "export", MINE, *args))]

    everyone = ["ana@example.org", "lejla@example.org", "kim@example.kr", "hans@example.de"]
    assert emails() == everyone
    assert emails("--partner", "union-site") == everyone[:2]
    assert emails("--partner", "") == ["hans@example.de"]
    assert emails("--origin", PORT) == ["kim@example.kr"]
    # Typed as an organiser might: compared after the same normalisation as browsers'.
    assert emails("--origin", "HTTPS://Union.Example:443/") == everyone[:2]
    assert emails("--origin", "") == ["hans@example.de"]
    assert emails("--partner", "union-site", "--origin", PORT) == []
    assert emails("--partner", "no-such-tag") == []

    # Ana and Lejla acted ten days ago; --since is in UTC, a date is its midnight.
    session = get_session()
    long_ago = datetime.now(UTC) - timedelta(days=10)
    session.execute(
        update(Action).where(Action.email.in_(everyone[:2])).values(created_at=long_ago)
    )
    session.commit()
    since = (long_ago + timedelta(days=1)).date().isoformat()
    assert emails("--since", since) == everyone[2:]
    moment = long_ago.replace(tzinfo=None).isoformat(timespec="seconds")
    assert emails("--since", moment) == everyone
    later = (long_ago + timedelta(hours=2)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    assert emails("--since", later) == everyone[2:]
    assert emails("--since", since, "--partner", "port-site") == ["kim@example.kr"]
    jsonl_emails = [r["email"] for r in jsonl(output(app, "export", MINE, "--format", "jsonl",
                                                      "--since", since))]  # fmt: skip
    assert jsonl_emails == everyone[2:]

    wrong = run(app, "export", MINE, "--since", "last tuesday")
    assert wrong.exit_code != 0 and "is not a date" in wrong.output


def test_export_of_a_campaign_without_actions_and_of_no_campaign(
    app: Flask, campaign: Any, tmp_path: Path
) -> None:
    other = tmp_path / "port.toml"
    other.write_text(SAMPLE.replace(MINE, "example-port"), encoding="utf-8")
    load_files(get_session(), [other])
    assert output(app, "export", "example-port").splitlines() == [",".join(EXPORT_COLUMNS)]
    assert output(app, "export", "example-port", "--format", "jsonl") == ""
    document = json.loads(output(app, "export", "example-port", "--format", "osdi"))
    assert document["total_records"] == 0
    assert document["_embedded"]["osdi:signatures"] == []
    missing = run(app, "export", "no-such-campaign", "--format", "osdi")
    assert missing.exit_code != 0 and "no such campaign" in missing.output


# OSDI


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def helper_body(signature: dict[str, Any]) -> dict[str, Any]:
    """What docs/operations.md's jq line makes of a signature for the Record
    Signature Helper: the person inline, the read-only dates left out."""
    body = {k: v for k, v in signature.items()
            if k not in ("_embedded", "created_date", "modified_date")}  # fmt: skip
    return {"person": signature["_embedded"]["osdi:person"], **body}


def test_osdi_export_round_trip_is_valid_osdi_and_carries_the_stored_actions(
    app: Flask, supporters: None
) -> None:
    text_ = output(app, "export", MINE, "--format", "osdi")
    document = json.loads(text_)
    errors = list(validator(osdi_schema.signatures_collection()).iter_errors(document))
    assert errors == []
    helper = validator(osdi_schema.record_signature_helper())
    signatures = document["_embedded"]["osdi:signatures"]
    assert document["total_records"] == len(signatures) == 4
    assert len(text_.splitlines()) == 4 + 2  # the opening, one line a signature, the end
    assert document["_links"]["curies"][0]["name"] == "osdi"
    for signature, action in zip(signatures, stored(), strict=True):
        assert list(helper.iter_errors(helper_body(signature))) == []
        when = action.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert signature["identifiers"] == [f"urgentaction:{MINE}-{action.id}"]
        assert signature["created_date"] == signature["action_date"] == when
        assert signature["comments"] == action.message
        person = signature["_embedded"]["osdi:person"]
        assert person["given_name"] == action.name and "family_name" not in person
        assert person["email_addresses"] == [{"address": action.email, "primary": True}]
        countries = [a["country"] for a in person.get("postal_addresses", [])]
        assert countries == ([action.country] if action.country else [])
        assert person["languages_spoken"] == [action.lang]
        custom = {"union": action.union, "partner_tag": action.partner_tag,
                  "source_origin": action.source_origin, "personal": action.personal}  # fmt: skip
        assert person.get("custom_fields", {}) == {k: v for k, v in custom.items() if v}
        referrer = signature.get("referrer_data", {})
        assert referrer.get("source", "") == action.partner_tag
        assert referrer.get("website", "") == action.source_origin.removeprefix("https://")
    ana = signatures[0]["_embedded"]["osdi:person"]
    assert ana["custom_fields"] == {"union": "SSM", "partner_tag": "union-site",
                                    "source_origin": UNION,
                                    "personal": "Mein Vater war Bergmann."}  # fmt: skip
    hans = signatures[3]
    assert "referrer_data" not in hans
    hans_lives = hans["_embedded"]["osdi:person"]["postal_addresses"]
    assert hans_lives == [{"primary": True, "country": "AT"}]

    # The partner's own file: filtered like the other formats.
    theirs = json.loads(output(app, "export", MINE, "--format", "osdi", "--partner", "port-site"))
    assert theirs["total_records"] == 1
    (kim,) = theirs["_embedded"]["osdi:signatures"]
    assert kim["_embedded"]["osdi:person"]["preferred_language"] == "de"


def test_the_osdi_check_refuses_what_the_osdi_pages_do_not_define(
    app: Flask, supporters: None
) -> None:
    """The schema read from the pages is a real check: each change fails it."""
    document = json.loads(output(app, "export", MINE, "--format", "osdi"))
    check = validator(osdi_schema.signatures_collection())
    assert check.is_valid(document)

    def broken(change: Any) -> bool:
        copy = json.loads(json.dumps(document))
        change(copy["_embedded"]["osdi:signatures"][0])
        return not check.is_valid(copy)

    person = "_embedded", "osdi:person"
    assert broken(lambda s: s[person[0]][person[1]].update(full_name="Ana Kovač"))
    assert broken(lambda s: s[person[0]][person[1]]["custom_fields"].update(union=5))
    assert broken(lambda s: s[person[0]][person[1]]["email_addresses"][0].update(status="maybe"))
    assert broken(lambda s: s.update(created_date="yesterday"))
    assert broken(lambda s: s.update(union="SSM"))
    assert broken(lambda s: s["referrer_data"].update(partner="union-site"))


# Streaming, on SQLite and PostgreSQL


def test_a_large_export_streams_in_order_through_a_server_side_cursor(
    shared_app: Flask, campaign_file: Path
) -> None:
    session = get_session()
    ((campaign, _created),) = load_files(session, [campaign_file])
    now = datetime.now(UTC)
    count = 2500  # more than two of the export's batches of 1,000
    rows = [
        {"campaign_id": campaign.id, "name": f"Supporter {i}", "email": f"s{i}@example.org",
         "email_key": f"s{i}@example.org", "union": "", "country": "BA", "subject": "S",
         "message": f"=message {i}", "lang": "en", "opt_in": False, "source_origin": "",
         "partner_tag": "tag" if i % 2 else "", "created_at": now}
        for i in range(count)
    ]  # fmt: skip
    session.execute(Action.__table__.insert(), rows)
    session.commit()

    records = jsonl(output(shared_app, "export", MINE, "--format", "jsonl"))
    assert [r["email"] for r in records] == [f"s{i}@example.org" for i in range(count)]
    lines = output(shared_app, "export", MINE, "--partner", "tag").splitlines()
    assert len(lines) == 1 + count // 2 and lines[1].endswith(",'=message 1,False,,tag,,False,2")
    document = json.loads(output(shared_app, "export", MINE, "--format", "osdi"))
    assert document["total_records"] == count

    if session.get_bind().dialect.name == "postgresql":
        # Mid-export, the rows come from a cursor held open on the server.
        streamed = action_rows(session, campaign.id)
        assert next(streamed)["email"] == "s0@example.org"
        cursors = session.execute(text("SELECT count(*) FROM pg_cursors")).scalar_one()
        assert cursors == 1
        assert sum(1 for _ in streamed) == count - 1
        session.rollback()


# Per partner: report --partner / --origin


def test_report_for_one_partner_counts_its_actions_alone(
    app: Flask, client: FlaskClient, supporters: None
) -> None:
    take(client, origin=PORT, partner="union-site", name="Uma", email="uma@example.org",
         message="My own words.")  # fmt: skip
    whole = json.loads(output(app, "report", MINE, "--json"))
    assert (whole["actions"], whole["campaign_actions"], whole["filter"]) == (5, 5, None)

    theirs = json.loads(output(app, "report", MINE, "--json", "--partner", "union-site"))
    assert theirs["filter"] == {"partner_tag": "union-site", "origin": None}
    assert (theirs["actions"], theirs["campaign_actions"]) == (3, 5)
    assert theirs["partners"] == [{"tag": "union-site", "actions": 3}]
    assert theirs["origins"] == [{"origin": UNION, "actions": 2}, {"origin": PORT, "actions": 1}]
    # Ana wrote a line of her own, Uma changed the message; Lejla did neither.
    assert theirs["personal"] == {"actions": 2, "of": 3}
    assert theirs["targets"] == whole["targets"]  # delivery stays the whole campaign's

    site = json.loads(output(app, "report", MINE, "--json", "--origin", UNION))
    assert (site["actions"], site["origins"]) == (2, [{"origin": UNION, "actions": 2}])
    both = json.loads(output(app, "report", MINE, "--json", "--partner", "union-site",
                             "--origin", PORT))  # fmt: skip
    assert both["actions"] == 1 and both["partners"] == [{"tag": "union-site", "actions": 1}]

    lines = output(app, "report", MINE, "--partner", "union-site").splitlines()
    assert lines[0] == f'{MINE} (live): 3 actions with partner tag "union-site" (of 5)'
    assert "Mail to the targets, the whole campaign" in lines[2]
    assert "In their own words: 2 of 3 actions (67%)" in "\n".join(lines)
    tags = lines[lines.index("Actions per partner tag") + 2 :][:2]
    assert [line.split() for line in tags] == [["union-site", "3"], []]


# subscribers export


def confirm_link(mailbox: Mailbox, email: str) -> str:
    message: EmailMessage = mailbox.to(email)[-1]
    body = message.get_body(("plain",))
    assert body is not None
    link = re.search(r"http://actions\.test(/actions/confirm/\S+)", str(body.get_content()))  # type: ignore[attr-defined]
    assert link is not None
    return link.group(1)


@pytest.fixture
def subscribers(
    app: Flask, client: FlaskClient, campaign: Any, mailbox: Mailbox, tmp_path: Path
) -> None:
    """Ana confirmed, then opted in again on a second campaign (in German); Lejla
    confirmed and unsubscribed; Hans never confirmed."""
    port = tmp_path / "port.toml"
    port.write_text(SAMPLE.replace(MINE, "example-port"), encoding="utf-8")
    load_files(get_session(), [port])
    take(client, name="Ana Kovač", email="ana@example.org", opt_in=True)
    assert client.post(confirm_link(mailbox, "ana@example.org")).status_code == 200
    take(client, name="Lejla", email="lejla@example.org", opt_in=True)
    assert client.post(confirm_link(mailbox, "lejla@example.org")).status_code == 200
    take(client, name="Hans", email="hans@example.de", opt_in=True)
    port_body = action_body(client, name="Ana Kovač", email="ana@example.org", opt_in=True,
                            lang="de", **port_challenge(client))  # fmt: skip
    response = client.post("/actions/api/campaigns/example-port/actions", json=port_body)
    assert response.status_code == 201
    lejla = get_session().scalar(select(Subscriber).where(Subscriber.email == "lejla@example.org"))
    assert lejla is not None
    assert client.post(f"/actions/unsubscribe/{unsubscribe_token(lejla)}").status_code == 200


def port_challenge(client: FlaskClient) -> dict[str, str]:
    data = client.get("/actions/api/campaigns/example-port").get_json()
    number = re.search(r"\d{4}", data["challenge"]["question"])
    assert number
    return {"challenge_token": data["challenge"]["token"], "challenge_answer": number.group(0)}


def test_subscribers_export_lists_the_confirmed_with_their_newest_consent(
    app: Flask, subscribers: None
) -> None:
    text_ = output(app, "subscribers", "export")
    assert text_.splitlines()[0] == ",".join(SUBSCRIBER_COLUMNS)
    (ana,) = csv_rows(text_)  # Lejla unsubscribed, Hans never confirmed
    subscriber = get_session().scalar(select(Subscriber).where(Subscriber.email == ana["email"]))
    assert subscriber is not None
    consents = sorted(subscriber.consents, key=lambda c: (c.given_at, c.id))
    newest = consents[-1]
    assert (ana["name"], ana["status"], ana["unsubscribed_at"]) == ("Ana Kovač", "confirmed", "")
    assert ana["confirmed_at"] == subscriber.confirmed_at.strftime("%Y-%m-%dT%H:%M:%SZ")  # type: ignore[union-attr]
    assert (ana["consent_campaign"], ana["consent_lang"]) == ("example-port", "de")
    assert ana["consent_text"] == newest.text and newest.text
    assert ana["consent_given_at"] == newest.given_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ISO_UTC.fullmatch(ana["consent_confirmed_at"])  # already a subscriber: at once
    assert ana["consent_withdrawn_at"] == ""

    everyone = csv_rows(output(app, "subscribers", "export", "--include-unsubscribed"))
    assert [row["email"] for row in everyone] == ["ana@example.org", "lejla@example.org"]
    lejla = everyone[1]
    assert lejla["status"] == "unsubscribed"
    assert ISO_UTC.fullmatch(lejla["unsubscribed_at"])
    assert lejla["consent_withdrawn_at"] == lejla["unsubscribed_at"]


def test_subscribers_jsonl_export_carries_every_consent(app: Flask, subscribers: None) -> None:
    (ana,) = jsonl(output(app, "subscribers", "export", "--format", "jsonl"))
    assert ana["email"] == "ana@example.org" and ana["lang"] == "de"
    assert [(c["campaign"], c["lang"]) for c in ana["consents"]] == [
        (MINE, "en"), ("example-port", "de"),
    ]  # fmt: skip
    rows = get_session().scalars(select(Consent).order_by(Consent.given_at, Consent.id))
    texts = [c.text for c in rows if c.subscriber.email == "ana@example.org"]
    assert [c["text"] for c in ana["consents"]] == texts
    assert all(ISO_UTC.fullmatch(c["given_at"]) and ISO_UTC.fullmatch(c["confirmed_at"])
               for c in ana["consents"])  # fmt: skip

    both = jsonl(output(app, "subscribers", "export", "--format", "jsonl",
                        "--include-unsubscribed"))  # fmt: skip
    lejla = both[1]
    assert (lejla["email"], lejla["status"]) == ("lejla@example.org", "unsubscribed")
    assert [c["withdrawn_at"] for c in lejla["consents"]] == [lejla["unsubscribed_at"]]
    assert "hans@example.de" not in json.dumps(both)
