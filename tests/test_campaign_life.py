"""Campaign life: opening and closing times on the clock, the archive, countries,
the site's Atom feed, and link previews (Open Graph) with the "Take action" link."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from flask_urgentaction import campaigns, clock
from flask_urgentaction.campaigns import CampaignError, CampaignStatus, effective_status
from flask_urgentaction.models import Campaign
from flask_urgentaction.storage import get_session
from flask_urgentaction.views import pages

from .conftest import SAMPLE, Mailbox, action_body, api_challenge, form_data, make_app
from .test_pages import Page, html, stored_actions

SLUG = "example-mine-strike"
URL = f"/actions/{SLUG}"
API = f"/actions/api/campaigns/{SLUG}"
OPENS = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
CLOSES = datetime(2027, 1, 31, 23, 59, 59, tzinfo=UTC)
LIFE = 'opens_at = 2026-12-01T08:00:00Z\ncloses_at = 2027-01-31T23:59:59Z\ncountries = ["AL"]\n'
TRICKY = 'Stop "A" <b>B</b> & C'


@pytest.fixture
def set_clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    """Set the time as the extension sees it (flask_urgentaction.clock.now)."""

    def set_to(moment: datetime) -> None:
        monkeypatch.setattr(clock, "now", lambda: moment)

    return set_to


def with_top(extra: str, slug: str = SLUG) -> str:
    """The sample campaign with extra top-level keys (and another slug)."""
    head = 'slug = "example-mine-strike"\n'
    assert head in SAMPLE
    return SAMPLE.replace(head, f'slug = "{slug}"\n{extra}')


def load(tmp_path: Path, text: str) -> Campaign:
    path = tmp_path / "life.toml"
    path.write_text(text, encoding="utf-8")
    ((loaded, _created),) = campaigns.load_files(get_session(), [path])
    return loaded


def save(slug: str, title: str, status: str = "live", **extra: Any) -> Campaign:
    definition = {
        "slug": slug,
        "status": status,
        "targets": [{"name": "The Employer", "email": "boss@employer.example"}],
        "translations": {"en": {"title": title, "summary": f"Summary of {title}."}},
    } | extra
    campaign, _created = campaigns.save(get_session(), definition)
    get_session().commit()
    return campaign


def version(slug: str = SLUG) -> int:
    return int(get_session().scalar(select(Campaign.version).where(Campaign.slug == slug)) or 0)


def listed_slugs(client: FlaskClient, path: str = "/actions/") -> list[str]:
    hrefs = [a.get("href", "") for a in Page(html(client.get(path))).all("a")]
    found = []
    for href in hrefs:
        slug = href.removeprefix("/actions/").split("?")[0]
        if href.startswith("/actions/") and slug and "/" not in slug and slug not in found:
            found.append(slug)
    return [s for s in found if s not in ("archive", "feed.atom")]


def feed(client: FlaskClient, query: str = "") -> Any:
    response = client.get("/actions/feed.atom" + query)
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    parsed = feedparser.parse(response.get_data())
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    return parsed


def meta(page: Page) -> dict[str, str]:
    """Every <meta property|name=... content=...> of a page."""
    found = {}
    for attrs in page.all("meta"):
        key = attrs.get("property") or attrs.get("name")
        if key and "content" in attrs:
            assert key not in found or key == "og:locale:alternate", key
            found[key] = attrs["content"]
    return found


# The TOML keys


def test_the_life_keys_load_from_toml_and_reach_the_snapshot(app: Flask, tmp_path: Path) -> None:
    extra = (
        LIFE.replace('["AL"]', '["al", "XK", "AL"]')
        + 'image = "https://union.example/miners.jpg"\n'
    )
    text = with_top(extra).replace(
        "[translations.de]", 'image_alt = "Miners outside the gate"\n\n[translations.de]'
    )
    loaded = load(tmp_path, text)
    assert (loaded.opens_at, loaded.closes_at) == (OPENS, CLOSES)
    assert loaded.countries == ["AL", "XK"]  # upper-cased, once each, in order
    assert loaded.image == "https://union.example/miners.jpg"
    snapshot = campaigns.CampaignSnapshot.of(loaded)
    assert snapshot.opens_at == OPENS and snapshot.countries == ("AL", "XK")
    assert campaigns.text_in(snapshot, "en").image_alt == "Miners outside the gate"
    # German has none of its own: the fallback's, like every other text.
    assert campaigns.text_in(snapshot, "de").image_alt == "Miners outside the gate"

    # Loading it again without the keys clears them.
    again = load(tmp_path, SAMPLE)
    assert (again.opens_at, again.closes_at, again.countries, again.image) == (None, None, None, "")


def test_an_offset_in_toml_is_kept_as_the_same_moment(app: Flask, tmp_path: Path) -> None:
    loaded = load(tmp_path, with_top("closes_at = 2027-02-01T00:59:59+01:00\n"))
    assert loaded.closes_at == CLOSES


@pytest.mark.parametrize(
    ("extra", "key", "problem"),
    [
        ("opens_at = 2026-12-01T08:00:00\n", "opens_at", "has no time zone offset"),
        ("closes_at = 2027-01-31\n", "closes_at", "a date without a time"),
        ('closes_at = "soon"\n', "closes_at", "not a date and time"),
        ("opens_at = 2027-02-01T00:00:00Z\ncloses_at = 2027-01-31T23:59:59Z\n",
         "closes_at", "must be later than opens_at"),
        ('countries = ["AL", "XX"]\n', "countries", "'XX' is not an ISO 3166-1 alpha-2"),
        ('countries = "AL"\n', "countries", "must be a list of country codes"),
        ('image = "http://union.example/a.jpg"\n', "image", "absolute https:// URL"),
        ('image = "/static/a.jpg"\n', "image", "absolute https:// URL"),
    ],
)  # fmt: skip
def test_bad_life_keys_are_refused_with_the_key_and_a_clear_problem(
    app: Flask, tmp_path: Path, extra: str, key: str, problem: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(with_top(extra), encoding="utf-8")
    with pytest.raises(CampaignError) as caught:
        campaigns.read_file(path)
    assert caught.value.key == key
    assert problem in caught.value.problem
    if "offset" in problem:
        assert "2026-12-01T08:00:00Z" in caught.value.problem  # says how to write it


def test_from_python_a_moment_may_be_a_datetime_or_an_iso_string(app: Flask) -> None:
    saved = save("from-python", "T", opens_at=OPENS, closes_at="2027-01-31T23:59:59Z")
    assert (saved.opens_at, saved.closes_at) == (OPENS, CLOSES)
    with pytest.raises(CampaignError, match="closes_at: has no time zone offset"):
        save("naive", "T", closes_at=datetime(2027, 1, 31))


def test_archive_is_not_a_slug(app: Flask) -> None:
    with pytest.raises(CampaignError, match="slug: 'archive' is the address of another page"):
        save("archive", "T")


# Effective status on the clock


def test_effective_status_applies_the_times_to_live_campaigns_only(app: Flask) -> None:
    live = save("timed", "T", opens_at=OPENS, closes_at=CLOSES)
    before, during, after = OPENS - timedelta(seconds=1), OPENS, CLOSES
    assert effective_status(live, before) is CampaignStatus.SCHEDULED
    assert effective_status(live, during) is CampaignStatus.LIVE
    assert effective_status(live, after) is CampaignStatus.CLOSED
    draft = save("timed-draft", "T", status="draft", opens_at=OPENS, closes_at=CLOSES)
    assert {effective_status(draft, t) for t in (before, during, after)} == {CampaignStatus.DRAFT}
    closed = save("timed-closed", "T", status="closed", opens_at=OPENS, closes_at=CLOSES)
    assert effective_status(closed, during) is CampaignStatus.CLOSED


def test_before_opens_at_a_campaign_is_as_hidden_as_a_draft_then_opens_on_time(
    client: FlaskClient, app: Flask, tmp_path: Path, set_clock: Callable[[datetime], None]
) -> None:
    set_clock(OPENS - timedelta(minutes=1))
    load(tmp_path, with_top(LIFE))
    before = version()
    assert client.get(URL).status_code == 404
    assert client.get(f"{URL}/embed").status_code == 404
    assert client.get(f"{URL}/thanks").status_code == 404
    assert client.get(API).status_code == 404
    assert client.post(f"{API}/actions", json={"name": "Ana"}).status_code == 404
    assert client.post(URL, data={"name": "Ana"}).status_code == 404
    assert SLUG not in listed_slugs(client)
    assert SLUG not in listed_slugs(client, "/actions/archive")
    assert client.get("/actions/api/campaigns").get_json()["campaigns"] == []
    assert feed(client).entries == []

    set_clock(OPENS)
    assert client.get(URL).status_code == 200
    assert client.get(API).get_json()["status"] == "live"
    assert listed_slugs(client) == [SLUG]
    assert [e.link for e in feed(client).entries] == [f"http://actions.test{URL}?lang=en"]
    assert client.post(f"{API}/actions", json=action_body(client)).status_code == 201
    # Nothing was written to make it open: the cached snapshot stayed valid.
    assert version() == before


def test_after_closes_at_actions_get_410_and_the_page_shows_the_final_count(
    client: FlaskClient, app: Flask, tmp_path: Path, set_clock: Callable[[datetime], None]
) -> None:
    set_clock(CLOSES - timedelta(hours=1))
    load(tmp_path, with_top(LIFE))
    assert client.post(f"{API}/actions", json=action_body(client)).status_code == 201
    # Both taken from pages fetched while open, sent once it has closed.
    late_json = action_body(client, email="late@example.org")
    late_form = form_data(client, email="form@example.org")
    before = version()

    set_clock(CLOSES)
    response = client.post(f"{API}/actions", json=late_json)
    assert response.status_code == 410
    assert response.get_json() == {"error": "This campaign is closed. Thank you for your support."}
    response = client.post(URL, data=late_form)
    assert response.status_code == 410
    assert "This campaign is closed. Thank you for your support." in html(response)
    assert stored_actions(app) == 1

    response = client.get(URL)
    assert response.status_code == 410
    page = html(response)
    assert "This campaign is closed. Thank you for your support." in page
    assert "Closed on January 31, 2027." in page
    assert "1 message sent" in page
    assert 'name="challenge_token"' not in page
    assert 'href="#ua-take-action"' not in page
    assert client.get(f"{URL}/embed").status_code == 410
    assert client.get(API).get_json()["status"] == "closed"
    assert SLUG not in listed_slugs(client)
    assert feed(client).entries == []
    assert listed_slugs(client, "/actions/archive") == [SLUG]
    assert version() == before


# The archive


def test_the_archive_lists_closed_campaigns_latest_closed_first_with_final_counts(
    client: FlaskClient, app: Flask, set_clock: Callable[[datetime], None]
) -> None:
    day = datetime(2027, 3, 1, 12, tzinfo=UTC)
    set_clock(day)
    save("closed-first", "Closed first")
    save("by-time", "Closed by its time", closes_at=day + timedelta(days=2))
    save("closed-last", "Closed last")
    save("still-live", "Still live")
    save("a-draft", "A draft", status="draft", closes_at=day + timedelta(days=1))
    save("never-opened", "Not open yet", opens_at=day + timedelta(days=30))
    body = action_body_for(client, "closed-last")
    assert client.post("/actions/api/campaigns/closed-last/actions", json=body).status_code == 201

    set_clock(day + timedelta(days=1))
    save("closed-first", "Closed first", status="closed")
    set_clock(day + timedelta(days=3))
    save("closed-last", "Closed last", status="closed")
    set_clock(day + timedelta(days=4))

    assert listed_slugs(client, "/actions/archive") == ["closed-last", "by-time", "closed-first"]
    page = html(client.get("/actions/archive"))
    assert "Closed on March 4, 2027." in page  # closed-last
    assert "Closed on March 3, 2027." in page  # by-time, at its closes_at
    assert "Closed on March 2, 2027." in page  # closed-first
    assert "1 message sent" in page and "0 messages sent" in page
    assert "Summary of Closed last." in page
    assert listed_slugs(client) == ["still-live"]

    # Opened again, it leaves the archive and forgets when it had closed.
    reopened = save("closed-first", "Closed first")
    assert reopened.closed_at is None
    assert listed_slugs(client, "/actions/archive") == ["closed-last", "by-time"]


def action_body_for(client: FlaskClient, slug: str) -> dict[str, Any]:
    token, answer = api_challenge(client, slug)
    return {"name": "Ana", "email": "ana@example.org", "country": "BA", "lang": "en",
            "challenge_token": token, "challenge_answer": answer}  # fmt: skip


def test_the_archive_is_paginated_and_in_the_language_asked_for(
    client: FlaskClient, app: Flask, monkeypatch: pytest.MonkeyPatch,
    set_clock: Callable[[datetime], None],
) -> None:  # fmt: skip
    monkeypatch.setattr(pages, "ARCHIVE_PER_PAGE", 2)
    start = datetime(2027, 3, 1, tzinfo=UTC)
    for n in range(5):
        set_clock(start + timedelta(days=n))
        save(f"closed-{n}", f"Closed {n}", status="closed")
    assert listed_slugs(client, "/actions/archive") == ["closed-4", "closed-3"]
    second = client.get("/actions/archive?page=2")
    assert listed_slugs(client, "/actions/archive?page=2") == ["closed-2", "closed-1"]
    links = Page(html(second))
    assert links.one("a", rel="prev")["href"] == "/actions/archive?lang=en"
    assert links.one("a", rel="next")["href"] == "/actions/archive?lang=en&page=3"
    assert "Page 2 of 3" in html(second)
    assert listed_slugs(client, "/actions/archive?page=3") == ["closed-0"]
    for wrong in ("4", "0", "x"):
        assert client.get(f"/actions/archive?page={wrong}").status_code == 404
    german = html(client.get("/actions/archive?lang=de"))
    assert '<html lang="de"' in german
    assert "5. März 2027" in german and "1. März 2027" not in german  # page 1: the latest


def test_an_empty_archive_says_so(client: FlaskClient, campaign: Campaign) -> None:
    response = client.get("/actions/archive")
    assert response.status_code == 200
    assert "No campaign has closed yet." in html(response)


# Countries on the list


def test_the_list_filters_by_country_and_offers_only_countries_present(
    client: FlaskClient, app: Flask
) -> None:
    save("in-albania", "In Albania", countries=["AL"])
    save("in-two", "In Bosnia and Albania", countries=["BA", "AL"])
    save("nowhere", "Nowhere said")
    save("closed-in-germany", "Closed in Germany", status="closed", countries=["DE"])
    page = Page(html(client.get("/actions/")))
    offered = [a["href"] for a in page.all("a") if "country=" in a.get("href", "")]
    assert offered == ["?country=AL&lang=en", "?country=BA&lang=en"]  # sorted by name, no DE
    assert "Where: Bosnia &amp; Herzegovina and Albania" in html(client.get("/actions/"))

    assert listed_slugs(client, "/actions/?country=AL") == ["in-two", "in-albania"]
    assert listed_slugs(client, "/actions/?country=ba") == ["in-two"]
    assert listed_slugs(client, "/actions/?country=DE") == []
    # Not a country at all: no filter.
    assert len(listed_slugs(client, "/actions/?country=XX")) == 3
    filtered = Page(html(client.get("/actions/?country=AL")))
    (chosen,) = [a for a in filtered.all("a", href="?country=AL&lang=en") if "hreflang" not in a]
    assert chosen["aria-current"] == "true"
    # Changing the language keeps the filter: the language list's form carries it.
    assert filtered.one("input", type="hidden", name="country")["value"] == "AL"
    assert filtered.one("option", value="de")["lang"] == "de"
    assert filtered.one("link", type="application/atom+xml")["href"] == (
        "/actions/feed.atom?lang=en&country=AL"
    )


# The feed


def test_the_feed_is_valid_atom_with_absolute_links_languages_and_countries(
    client: FlaskClient, app: Flask, tmp_path: Path
) -> None:
    loaded = load(tmp_path, with_top('countries = ["AL", "XK"]\n'))
    save("english-only", "English only", countries=["BA"])
    save("a-draft", "A draft", status="draft")
    save("closed", "Closed", status="closed")
    parsed = feed(client, "?lang=de")
    assert parsed.feed.title == "Eilaktionen"
    assert parsed.feed.language == "de"
    assert parsed.feed.id == "http://actions.test/actions/feed.atom?lang=de"
    assert {link.rel: link.href for link in parsed.feed.links} == {
        "alternate": "http://actions.test/actions/?lang=de",
        "self": "http://actions.test/actions/feed.atom?lang=de",
    }
    by_title = {entry.title: entry for entry in parsed.entries}
    assert set(by_title) == {"Stellt die entlassenen Gewerkschafter wieder ein", "English only"}
    german = by_title["Stellt die entlassenen Gewerkschafter wieder ein"]
    assert german.link == f"http://actions.test{URL}?lang=de"
    assert german.id == german.link
    assert german.summary.startswith("Bergleute wurden entlassen")
    assert german.summary_detail.language == "de"
    assert [(t.term, t.label) for t in german.tags] == [("AL", "Albanien"), ("XK", "Kosovo")]
    stored = loaded.updated_at.astimezone(UTC).replace(microsecond=0)
    assert datetime(*german.updated_parsed[:6], tzinfo=UTC) == stored
    assert german.author == "Example Mineworkers' Union"
    # A campaign without German comes in its own language, and says so.
    english = by_title["English only"]
    assert english.link == "http://actions.test/actions/english-only?lang=en"
    assert english.summary_detail.language == "en"

    only_bosnia = feed(client, "?lang=de&country=BA")
    assert [e.title for e in only_bosnia.entries] == ["English only"]
    assert only_bosnia.feed.id == "http://actions.test/actions/feed.atom?lang=de&country=BA"
    assert feed(client, "?country=DE").entries == []


def test_the_feed_escapes_what_organisers_typed(client: FlaskClient, app: Flask) -> None:
    save("tricky", TRICKY, translations={"en": {"title": TRICKY, "summary": "1 < 2 & \x0b3 > 2"}})
    (entry,) = feed(client).entries
    assert entry.title == TRICKY
    assert entry.summary == "1 < 2 & 3 > 2"  # a character XML cannot carry is dropped


def test_the_feed_is_cacheable_and_conditional(client: FlaskClient, campaign: Campaign) -> None:
    first = client.get("/actions/feed.atom")
    assert first.headers["Cache-Control"] == "public, max-age=300"
    again = client.get("/actions/feed.atom", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def test_the_list_page_links_its_feed_in_its_head(client: FlaskClient, campaign: Campaign) -> None:
    page = Page(html(client.get("/actions/?lang=de")))
    link = page.one("link", rel="alternate")
    assert link["type"] == "application/atom+xml"
    assert link["href"] == "/actions/feed.atom?lang=de"
    assert feed(client, "?lang=de").entries  # and it answers


# Link previews and the "Take action" link


def test_campaign_and_thanks_pages_carry_open_graph_and_twitter_tags(
    client: FlaskClient, app: Flask, tmp_path: Path
) -> None:
    text = with_top('image = "https://union.example/miners.jpg?size=1200&crop=1"\n').replace(
        "[translations.de]",
        'image_alt = "Miners & \\"friends\\" <at> the gate"\n\n[translations.de]',
    )
    load(tmp_path, text)
    for path in (URL, f"{URL}/thanks"):
        tags = meta(Page(html(client.get(path))))
        assert tags["description"] == "Miners were sacked for founding a union."
        assert tags["og:title"] == "Reinstate the sacked union leaders"
        assert tags["og:description"] == tags["description"]
        assert tags["og:type"] == "website"
        assert tags["og:url"] == f"http://actions.test{URL}?lang=en"
        assert tags["og:locale"] == "en_US"
        assert tags["og:locale:alternate"] == "de_DE"
        assert tags["og:image"] == "https://union.example/miners.jpg?size=1200&crop=1"
        assert tags["og:image:alt"] == 'Miners & "friends" <at> the gate'
        assert tags["twitter:card"] == "summary_large_image"
        assert tags["twitter:image:alt"] == tags["og:image:alt"]
    german = meta(Page(html(client.get(URL + "?lang=de"))))
    assert german["og:url"] == f"http://actions.test{URL}?lang=de"
    assert german["og:locale"] == "de_DE"
    assert german["og:title"] == "Stellt die entlassenen Gewerkschafter wieder ein"


def test_preview_tags_are_escaped_and_long_summaries_shortened(
    client: FlaskClient, app: Flask
) -> None:
    summary = "Word " * 100
    save("tricky", TRICKY, translations={"en": {"title": TRICKY, "summary": summary}})
    raw = html(client.get("/actions/tricky"))
    assert 'content="Stop &#34;A&#34; &lt;b&gt;B&lt;/b&gt; &amp; C"' in raw
    assert "<b>B</b>" not in raw
    tags = meta(Page(raw))
    assert tags["og:title"] == TRICKY and tags["twitter:title"] == TRICKY
    assert len(tags["description"]) <= 200 and tags["description"].endswith("Word…")
    # No picture: a plain card, no image tags.
    assert tags["twitter:card"] == "summary"
    assert "og:image" not in tags and "og:image:alt" not in tags


def test_without_a_trusted_host_og_url_is_left_out(tmp_path: Path, mailbox: Mailbox) -> None:
    app = make_app(tmp_path, mailbox, SERVER_NAME=None)
    with app.app_context():
        save(SLUG, "Title")
        client = app.test_client()
        tags = meta(Page(html(client.get(URL, headers={"Host": "evil.example"}))))
        assert tags["og:title"] == "Title"
        assert "og:url" not in tags
        # The feed still works, but is not for shared caches to keep.
        response = client.get("/actions/feed.atom", headers={"Host": "evil.example"})
        assert response.headers["Cache-Control"] == "private, no-cache"


def test_the_take_action_link_leads_to_the_form(client: FlaskClient, campaign: Campaign) -> None:
    raw = html(client.get(URL))
    page = Page(raw)
    jump = page.one("a", href="#ua-take-action")
    assert jump is not None
    section = page.one("section", id="ua-take-action")
    assert section["aria-labelledby"] == "ua-form-title"
    assert section["tabindex"] == "-1"  # focus moves there, so Tab goes on into the form
    # Near the top: before the campaign's body, after its title and count.
    assert raw.index('href="#ua-take-action"') < raw.index('class="ua-body"')
    assert raw.index("<h1") < raw.index('href="#ua-take-action"')
    assert raw.index('id="ua-take-action"') < raw.index("<form")
