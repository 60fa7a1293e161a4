"""Co-signing a declaration: on its page and through the JSON API, past the spam
check and the rate limit, once per address, shown only once an organiser
approves it through the ``declarations`` command."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import feedparser
import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from sqlalchemy import func, select, update

from flask_urgentaction import cosigning
from flask_urgentaction.campaigns import find, load_files
from flask_urgentaction.models import Cosignature, MessageStatus, OutboxMessage
from flask_urgentaction.openapi import response_schema
from flask_urgentaction.storage import get_session

from .conftest import SAMPLE, Mailbox, api_challenge, form_challenge, make_app
from .test_api import load_campaign
from .test_declarations import GATHERING, SLUG, public_id
from .test_erasure import ANA, LEJLA, NAME, UNION, traces_in_files, traces_in_tables
from .test_pages import Page
from .test_races import at_once, call, served

SIGNATURES = "/actions/api/campaigns/{slug}/declarations/{id}/signatures"


@pytest.fixture
def gathering(app: Flask, tmp_path: Path) -> Any:
    return load_campaign(tmp_path, GATHERING)


def run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["urgentaction", *args])


def signatures() -> list[Cosignature]:
    session = get_session()
    session.expire_all()
    return list(session.scalars(select(Cosignature).order_by(Cosignature.id)))


def page_of(key: str, lang: str = "en") -> str:
    return f"/actions/{SLUG}/declarations/{public_id(key)}?lang={lang}"


def page_fields(client: FlaskClient, key: str = "itf", **fields: Any) -> dict[str, Any]:
    token, answer = form_challenge(client.get(page_of(key)).get_data(as_text=True))
    data = {"name": "Ana Kovač", "email": "ana@example.org", "union": "SSM", "country": "BA",
            "lang": "en", "challenge_token": token, "challenge_answer": answer,
            "hp": ""}  # fmt: skip
    return data | fields


def json_body(client: FlaskClient, slug: str = SLUG, **fields: Any) -> dict[str, Any]:
    token, answer = api_challenge(client, slug)
    body = {"name": "Jonas Weber", "email": "jonas@example.org", "union": "IG BCE",
            "country": "DE", "lang": "en", "challenge_token": token,
            "challenge_answer": answer, "hp": ""}  # fmt: skip
    return body | fields


def cosign_json(client: FlaskClient, key: str = "itf", **fields: Any) -> Any:
    path = SIGNATURES.format(slug=SLUG, id=public_id(key))
    return client.post(path, json=json_body(client, **fields))


def test_a_signature_on_the_page_is_shown_only_once_approved(
    client: FlaskClient, app: Flask, gathering: Any, mailbox: Mailbox
) -> None:
    page = client.get(page_of("itf")).get_data(as_text=True)
    assert len(Page(page).all("form")) == 1
    assert "Co-sign this declaration" in page
    # The same spam check as the action form: a signed token and a number.
    assert 'name="challenge_token"' in page and "Enter the number" in page
    response = client.post(page_of("itf"), data=page_fields(client))
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == f"/actions/{SLUG}/declarations/{public_id('itf')}"
    assert parse_qs(location.query) == {"lang": ["en"], "signed": ["1"]}
    thanks = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your signature is shown here once the organisers approve it." in thanks
    # Pending: not shown yet.
    assert "Ana Kovač" not in thanks and "Co-signed by" not in thanks
    (row,) = signatures()
    assert (row.name, row.union, row.country, row.lang) == ("Ana Kovač", "SSM", "BA", "en")
    assert row.status is MessageStatus.PENDING
    listed = run(app, "declarations", SLUG, "--pending")
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines()[0].split() == [
        "id", "date", "status", "declaration", "name", "union", "country", "lang",
    ]  # fmt: skip
    assert f"{row.id} " in listed.output and "pending  itf" in listed.output
    assert "ana@example.org" not in listed.output
    approved = run(app, "declarations", SLUG, f"--approve={row.id}")
    assert approved.exit_code == 0 and approved.output == f"{row.id}: approved\n"
    shown = client.get(page_of("itf")).get_data(as_text=True)
    assert "Co-signed by" in shown
    assert "<bdi>Ana Kovač</bdi> · <bdi>SSM</bdi> · Bosnia &amp; Herzegovina" in shown
    assert "ana@example.org" not in shown
    # Only under its own declaration; and no mail to anyone.
    assert "Ana Kovač" not in client.get(page_of("miners")).get_data(as_text=True)
    assert mailbox.messages == []
    assert get_session().scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert run(app, "declarations", SLUG, "--pending").output == "No signatures waiting.\n"
    rejected = run(app, "declarations", SLUG, f"--reject={row.id}")
    assert rejected.output == f"{row.id}: rejected\n"
    assert "Ana Kovač" not in client.get(page_of("itf")).get_data(as_text=True)


def test_the_page_form_keeps_input_and_names_each_error(
    client: FlaskClient, gathering: Any
) -> None:
    fields = page_fields(client, name="Ana", email="not an address", challenge_answer="1")
    response = client.post(page_of("itf"), data=fields)
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "Please enter a valid email address." in text
    assert "That is not the number shown." in text
    assert 'value="not an address"' in text and 'value="Ana"' in text
    assert signatures() == []


def test_signing_twice_with_one_address_is_one_signature(
    client: FlaskClient, gathering: Any
) -> None:
    first = cosign_json(client)
    assert first.status_code == 201 and first.get_json() == {"status": "pending"}
    # Another letter case of the same address, another spam check.
    again = cosign_json(client, email="JONAS@Example.org", name="Jonas W.")
    assert again.status_code == 409
    assert again.get_json()["error"] == "You have already signed this declaration. Thank you!"
    page = client.post(page_of("itf"), data=page_fields(client, email="jonas@example.org"))
    assert page.status_code == 409
    assert "You have already signed this declaration." in page.get_data(as_text=True)
    assert [row.name for row in signatures()] == ["Jonas Weber"]
    # The same address may sign another declaration.
    assert cosign_json(client, key="miners").status_code == 201
    assert len(signatures()) == 2


def test_the_json_api_refuses_what_it_cannot_take(
    client: FlaskClient, app: Flask, gathering: Any, tmp_path: Path
) -> None:
    wrong = cosign_json(client, challenge_answer="0000", country="")
    assert wrong.status_code == 422
    errors = wrong.get_json()["errors"]
    assert set(errors) == {"challenge", "country"}
    assert wrong.get_json()["challenge"]["token"]
    path = SIGNATURES.format(slug=SLUG, id=public_id("itf"))
    assert client.post(path, data="[1]", content_type="application/json").status_code == 400
    missing = client.post(SIGNATURES.format(slug=SLUG, id="nope"), json=json_body(client))
    assert missing.status_code == 404
    assert missing.get_json()["error"] == "There is no such declaration."
    # Another campaign's challenge does not pass.
    load_campaign(tmp_path, SAMPLE)
    other = json_body(client, slug="example-mine-strike")
    assert client.post(path, json=other).get_json()["errors"]["challenge"]
    # Origins as for actions: a page elsewhere gets no CORS answer.
    narrowed = GATHERING.replace('partner = "Example Dockers"',
                                 'partner = "Example Dockers"\n'
                                 'allowed_origins = ["https://union.example"]')  # fmt: skip
    load_campaign(tmp_path, narrowed)
    refused = client.post(path, json=json_body(client), headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused.headers
    allowed = client.post(path, json=json_body(client),
                          headers={"Origin": "https://union.example"})  # fmt: skip
    assert allowed.status_code == 201
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://union.example"
    preflight = client.options(path, headers={"Origin": "https://union.example"})
    assert preflight.status_code == 204
    assert len(signatures()) == 1


def test_a_closed_campaign_takes_no_signature(
    client: FlaskClient, gathering: Any, tmp_path: Path
) -> None:
    fields = page_fields(client)
    body = json_body(client)
    load_campaign(tmp_path, GATHERING.replace('status = "live"', 'status = "closed"'))
    answer = client.post(SIGNATURES.format(slug=SLUG, id=public_id("itf")), json=body)
    assert answer.status_code == 410
    assert answer.get_json()["error"] == "This campaign is closed. Thank you for your support."
    assert client.post(page_of("itf"), data=fields).status_code == 410
    # Its page stays readable, without the form.
    text = client.get(page_of("itf")).get_data(as_text=True)
    assert Page(text).all("form") == [] and "Co-sign this declaration" not in text
    assert signatures() == []


def test_signatures_count_against_the_rate_limit_of_actions(
    tmp_path: Path, mailbox: Mailbox
) -> None:
    app = make_app(tmp_path, mailbox, URGENTACTION_RATE_LIMIT="2 per minute")
    with app.app_context():
        load_campaign(tmp_path, GATHERING)
        client = app.test_client()
        assert cosign_json(client, email="a@example.org").status_code == 201
        assert cosign_json(client, email="b@example.org").status_code == 201
        limited = cosign_json(client, email="c@example.org")
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
        page = client.post(page_of("itf"), data=page_fields(client, email="d@example.org"))
        assert page.status_code == 429
        assert "Too many messages from your connection." in page.get_data(as_text=True)
        assert len(signatures()) == 2


def test_moderation_is_all_or_nothing(
    client: FlaskClient, app: Flask, gathering: Any, tmp_path: Path
) -> None:
    assert cosign_json(client, email="a@example.org").status_code == 201
    assert cosign_json(client, email="b@example.org").status_code == 201
    other = load_campaign(tmp_path, SAMPLE + '\n[[declarations]]\nid = "x"\norganisation = "O"\n'
                          '[declarations.translations.en]\ntitle = "T"\nbody = "B"\n')  # fmt: skip
    other_id = other.declarations[0].public_id
    body = json_body(client, slug="example-mine-strike", email="c@example.org")
    posted = client.post(SIGNATURES.format(slug="example-mine-strike", id=other_id), json=body)
    assert posted.status_code == 201, posted.get_json()
    a, b, c = (row.id for row in signatures())
    result = run(app, "declarations", SLUG, f"--approve={a}", f"--approve={b}",
                 f"--reject={b}", f"--approve={c}", "--approve=999")  # fmt: skip
    assert result.exit_code == 1
    assert f"{b}: given to both --approve and --reject" in result.output
    assert f"{c}: a signature of example-mine-strike, not of {SLUG}" in result.output
    assert "999: no such signature" in result.output
    assert "nothing was changed" in result.output
    assert {row.status for row in signatures()} == {MessageStatus.PENDING}
    # The same, as the dashboard calls it.
    campaign = find(get_session(), SLUG)
    assert campaign is not None
    done = cosigning.moderate(get_session(), campaign, approve=[a], reject=[b])
    assert done == {a: MessageStatus.APPROVED, b: MessageStatus.REJECTED}
    listed = cosigning.list_signatures(get_session(), campaign)
    assert [(row.id, key) for row, key in listed] == [(b, "itf"), (a, "itf")]
    assert cosigning.list_signatures(get_session(), campaign, pending=True) == []
    assert run(app, "declarations", "nope").exit_code == 1


@pytest.fixture
def race_app(tmp_path: Path, mailbox: Mailbox, database_url: str) -> Iterator[Flask]:
    app = make_app(tmp_path, mailbox, URGENTACTION_DATABASE_URL=database_url)
    with app.app_context():
        (tmp_path / "gathering.toml").write_text(GATHERING, encoding="utf-8")
        load_files(get_session(), [tmp_path / "gathering.toml"])
        get_session().close()
        yield app
    app.extensions["urgentaction"].storage.engine.dispose()


def test_signing_in_two_tabs_at_once_stores_one_signature(race_app: Flask) -> None:
    client = race_app.test_client()
    path = SIGNATURES.format(slug=SLUG, id=public_id("itf"))
    statuses = []
    with served(race_app) as port:
        for n in range(8):
            # Two tabs: two spam checks, one address.
            bodies = [json.dumps(json_body(client, email=f"tab{n}@example.org")).encode()
                      for _ in range(2)]  # fmt: skip
            answers = at_once([lambda b=b: call(port, path, b, "application/json")
                               for b in bodies])  # fmt: skip
            statuses.append(tuple(sorted(a.status for a in answers)))
    assert Counter(statuses) == {(201, 409): 8}
    keys = Counter(row.email_key for row in signatures())
    assert len(keys) == 8 and set(keys.values()) == {1}


def sign_as(client: FlaskClient, name: str, email: str, union: str, key: str = "itf") -> None:
    response = cosign_json(client, key=key, name=name, email=email, union=union)
    assert response.status_code == 201, response.get_json()


def test_forget_erases_a_persons_signatures_from_the_database_file(
    client: FlaskClient, app: Flask, gathering: Any, tmp_path: Path
) -> None:
    sign_as(client, NAME, ANA, UNION)
    sign_as(client, NAME, ANA, UNION, key="miners")
    sign_as(client, "Lejla", LEJLA, "")
    ids = [row.id for row in signatures()]
    assert run(app, "declarations", SLUG, *(f"--approve={i}" for i in ids)).exit_code == 0
    record = json.loads(run(app, "person", ANA.upper()).stdout)
    assert [(s["declaration"], s["name"], s["email"], s["union"], s["status"])
            for s in record["cosignatures"]] == [
        ("itf", NAME, ANA, UNION, "approved"), ("miners", NAME, ANA, UNION, "approved"),
    ]  # fmt: skip
    assert all(s["campaign"] == SLUG for s in record["cosignatures"])
    assert "Lejla" not in json.dumps(record)
    database = tmp_path / "instance" / "urgentaction.sqlite3"
    get_session().close()
    # The checks can fail: Ana is in the table and on disk.
    assert {table for table, _t in traces_in_tables(database)} == {"ua_cosignatures"}
    assert traces_in_files(database)

    result = run(app, "forget", ANA, "--yes")
    assert result.exit_code == 0 and "Erased 0 actions, 2 co-signatures." in result.output

    get_session().close()
    assert traces_in_tables(database) == []
    assert traces_in_files(database) == []
    assert [row.name for row in signatures()] == ["Lejla"]
    assert NAME not in client.get(page_of("itf")).get_data(as_text=True)
    assert json.loads(run(app, "person", ANA).stdout)["cosignatures"] == []


def test_purge_erases_signatures_older_than_the_retention(
    client: FlaskClient, app: Flask, gathering: Any, tmp_path: Path
) -> None:
    sign_as(client, NAME, ANA, UNION)
    sign_as(client, "Lejla", LEJLA, "")
    session = get_session()
    session.execute(
        update(Cosignature)
        .where(Cosignature.email_key == ANA)
        .values(created_at=datetime.now(UTC) - timedelta(days=731))
    )
    session.commit()
    dry = run(app, "purge", "--dry-run").output
    assert "and 1 co-signatures from before" in dry
    database = tmp_path / "instance" / "urgentaction.sqlite3"
    get_session().close()
    assert traces_in_files(database)
    done = run(app, "purge").output
    assert done.replace("purge: erased", "") == dry.replace("purge --dry-run: would erase", "")
    get_session().close()
    assert traces_in_tables(database) == []
    assert traces_in_files(database) == []
    assert [row.name for row in signatures()] == ["Lejla"]
    assert "and 0 co-signatures" in run(app, "purge").output


# Declarations beside the messages: the campaign's feed and the messages JSON.

FEED = f"/actions/{SLUG}/messages.atom"


def test_the_campaigns_feed_carries_its_declarations(client: FlaskClient, gathering: Any) -> None:
    response = client.get(f"{FEED}?lang=en")
    assert response.status_code == 200
    feed = feedparser.parse(response.data)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10"
    # Without published messages, the feed's page is the campaign's.
    assert feed.feed.link == f"http://actions.test/actions/{SLUG}?lang=en"
    by_author = {e.author: e for e in feed.entries}
    assert set(by_author) == {"Example Transport Federation", "Example Miners"}
    itf = by_author["Example Transport Federation"]
    address = f"http://actions.test/actions/{SLUG}/declarations/{public_id('itf')}"
    assert itf.id == address and itf.link == address + "?lang=en"
    # Escaped as typed: the markup in the title is text.
    assert itf.title == "We stand with the dockers <b>now</b>"
    assert itf.summary == "The federation's affiliates back the strike."
    assert itf.content[0].type == "text/plain"
    assert "<script>alert(1)</script>" in itf.content[0].value
    assert itf.published.startswith("2026-11-20T08:00:00")
    # In a language it is written in, it comes in that language and says so.
    bosnian = feedparser.parse(client.get(f"{FEED}?lang=bs").data)
    entry = next(e for e in bosnian.entries if e.author == "Example Transport Federation")
    assert entry.title == "Uz lučke radnike" and entry.content[0].language == "bs"
    miners = by_author["Example Miners"]
    assert miners.title == "تضامن مع عمال الميناء" and miners.content[0].language == "ar"
    # The campaign page and the messages pages themselves are as they were.
    assert client.get(f"/actions/{SLUG}/messages").status_code == 404


def test_messages_and_declarations_share_the_feed(
    client: FlaskClient, app: Flask, tmp_path: Path
) -> None:
    declaration = GATHERING.split("[[declarations]]", 1)[1].split("[[declarations]]")[0]
    load_campaign(tmp_path, SAMPLE + "\n[messages]\npublish = true\n[[declarations]]" + declaration)
    body = json_body(client, slug="example-mine-strike", publish=True, message="We stand firm.",
                     subject="S", opt_in=False)  # fmt: skip
    taken = client.post("/actions/api/campaigns/example-mine-strike/actions", json=body)
    assert taken.status_code == 201, taken.get_json()
    (message_id,) = [row.id for row in cosigning_rows_of_actions()]
    assert run(app, "messages", "example-mine-strike", f"--approve={message_id}").exit_code == 0
    feed = feedparser.parse(client.get("/actions/example-mine-strike/messages.atom").data)
    assert feed.bozo == 0
    assert [e.author for e in feed.entries] == ["Jonas Weber", "Example Transport Federation"]
    listed = client.get("/actions/api/campaigns/example-mine-strike/messages?lang=en").get_json()
    assert listed["publish"] is True
    assert [m["name"] for m in listed["messages"]] == ["Jonas Weber"]
    assert [d["organisation"] for d in listed["declarations"]] == ["Example Transport Federation"]


def cosigning_rows_of_actions() -> list[Any]:
    from flask_urgentaction.models import Action

    return list(get_session().scalars(select(Action)))


def test_the_messages_json_of_a_campaign_with_only_declarations(
    client: FlaskClient, gathering: Any
) -> None:
    body = client.get(f"/actions/api/campaigns/{SLUG}/messages?lang=de").get_json()
    assert body["publish"] is False and body["messages"] == [] and body["url"] == ""
    assert body["declarations_heading"] == "Solidaritätserklärungen"
    first, second = body["declarations"]
    assert first == {
        "public_id": public_id("itf"), "organisation": "Example Transport Federation",
        "country": "GB", "country_name": "Vereinigtes Königreich", "lang": "en", "dir": "ltr",
        "title": "We stand with the dockers <b>now</b>",
        "teaser": "The federation's affiliates back the strike.",
        "url": f"http://actions.test/actions/{SLUG}/declarations/{public_id('itf')}?lang=de",
    }  # fmt: skip
    assert (second["lang"], second["dir"], second["teaser"]) == ("ar", "rtl", "")


def test_the_campaign_list_json_filters_by_country(
    client: FlaskClient, app: Flask, tmp_path: Path
) -> None:
    load_campaign(tmp_path, SAMPLE.replace("goal = 5000", 'goal = 5000\ncountries = ["BA"]'))
    load_campaign(
        tmp_path, GATHERING.replace('status = "live"', 'status = "live"\ncountries = ["AL"]')
    )

    def slugs(query: str) -> list[str]:
        answer = client.get(f"/actions/api/campaigns{query}").get_json()
        return [c["slug"] for c in answer["campaigns"]]

    assert sorted(slugs("")) == ["example-mine-strike", SLUG]
    assert slugs("?country=ba") == ["example-mine-strike"]
    assert slugs("?country=AL&lang=de") == [SLUG]
    assert slugs("?country=DE") == []
    # Not a country: ignored.
    assert sorted(slugs("?country=XX")) == ["example-mine-strike", SLUG]


def test_real_signature_answers_match_their_documented_schemas(
    client: FlaskClient, gathering: Any
) -> None:
    document = client.get("/actions/api/openapi.json").get_json()
    path = "/campaigns/{slug}/declarations/{public_id}/signatures"
    for status, body in ((201, {}), (409, {}), (422, {"challenge_answer": "0"})):
        response = cosign_json(client, **body)
        assert response.status_code == status
        schema = response_schema(document, path, "post", status)
        assert not list(Draft202012Validator(schema).iter_errors(response.get_json())), status
    schema = response_schema(document, "/campaigns/{slug}/messages", "get", 200)
    listed = client.get(f"/actions/api/campaigns/{SLUG}/messages").get_json()
    assert not list(Draft202012Validator(schema).iter_errors(listed))
