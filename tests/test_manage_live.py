"""A campaign's live view in the dashboard: the count and goal, the charts drawn as
SVG on the server (with their tables, escaped, right to left in Arabic), the
latest actions, the shares, the embed snippets and live.json."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from flask_urgentaction import charts, clock
from flask_urgentaction.models import Action, Campaign
from flask_urgentaction.storage import get_session

from .conftest import action_body

MINE = "example-mine-strike"
OVERVIEW = f"/actions/manage/campaigns/{MINE}"
LIVE = f"{OVERVIEW}/live.json"
ACTIONS_URL = f"/actions/api/campaigns/{MINE}/actions"
SVG = "{http://www.w3.org/2000/svg}"
STATIC = Path(__file__).parent.parent / "src" / "flask_urgentaction" / "static"


def take(client: FlaskClient, **fields: Any) -> None:
    response = client.post(ACTIONS_URL, json=action_body(client, **fields))
    assert response.status_code == 201, response.get_json()


def add(campaign: Campaign, count: int, at: datetime, **fields: Any) -> None:
    """``count`` stored actions at ``at`` (the charts read what is stored; the pipeline
    that stores them has its own tests)."""
    session = get_session()
    for _ in range(count):
        n = session.query(Action).count()
        values: dict[str, Any] = {"name": f"Supporter {n}", "email": f"s{n}@example.org",
                                  "subject": "s", "message": "m", "lang": "en",
                                  "created_at": at} | fields  # fmt: skip
        session.add(Action(campaign_id=campaign.id, email_key=values["email"], **values))
    session.commit()


def page(client: FlaskClient, url: str = OVERVIEW) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def svg(text: str, chart_id: str) -> ET.Element:
    found = re.search(rf'<svg [^>]*id="{chart_id}".*?</svg>', text, re.S)
    assert found, f"no chart {chart_id}"
    return ET.fromstring(found.group(0))


def accessible_name(chart: ET.Element) -> str:
    assert chart.get("role") == "img"
    (title_id,) = (chart.get("aria-labelledby") or "").split()
    (desc_id,) = (chart.get("aria-describedby") or "").split()
    title = chart.find(f"{SVG}title")
    desc = chart.find(f"{SVG}desc")
    assert title is not None and desc is not None
    assert (title.get("id"), desc.get("id")) == (title_id, desc_id)
    assert desc.text
    return title.text or ""


def bars(chart: ET.Element) -> list[ET.Element]:
    return chart.findall(f"{SVG}rect")


def table_after(text: str, caption_id: str) -> list[tuple[str, str]]:
    """The (header, value) rows of the table whose caption is ``caption_id``."""
    start = text.index(f'<caption id="{caption_id}">')
    body = text[start : text.index("</table>", start)]
    rows = re.findall(r'<th scope="row">(.*?)</th><td class="ua-num">(.*?)</td>', body)
    return [(html.unescape(re.sub(r"<[^>]+>", "", h)), v) for h, v in rows]


def test_count_goal_status_and_a_refresh_link(
    client: FlaskClient, campaign: Any, organiser: str
) -> None:
    take(client)
    text = page(client)
    assert '<strong class="ua-live-count" aria-live="polite"' in text
    assert f'data-ua-live="{LIVE}?lang=en">1</strong>' in text
    assert '<progress class="ua-progress" data-ua-progress max="5000" value="1"' in text
    assert "<dt>Status</dt><dd>live</dd>" in text
    assert 'ua-status-live">live</span>' in text  # the header's status
    assert f'<a href="{OVERVIEW}?lang=en">Refresh</a>' in text
    # No inline script (the CSP allows none); the optional script is a file.
    assert re.findall(r"<script[^>]*>", text) == ['<script src="/actions/static/manage.js" defer>']
    response = client.get(OVERVIEW)
    assert response.headers["Cache-Control"] == "no-store"


def test_actions_per_day(client: FlaskClient, campaign: Any, organiser: str) -> None:
    today = clock.now().date()
    yesterday = today - timedelta(days=1)
    add(campaign, 3, datetime.combine(yesterday, time(12), UTC))
    add(campaign, 1, datetime.combine(today, time(0, 0, 1), UTC))
    text = page(client)
    chart = svg(text, "ua-chart-days")
    assert accessible_name(chart) == "Actions per day (UTC)"
    heights = [float(rect.get("height") or 0) for rect in bars(chart)]
    assert len(heights) == 2  # since the first action: shorter than 30 days
    assert heights[0] == pytest.approx(3 * heights[1], abs=0.2)
    assert heights[1] > 0
    desc = chart.find(f"{SVG}desc")
    assert desc is not None and (desc.text or "").startswith("4 actions from")
    rows = table_after(text, "days-caption")
    assert [value for _day, value in rows] == ["3", "1"]
    assert rows[0][0] == yesterday.strftime("%b %-d, %Y")


def test_the_day_chart_covers_at_most_thirty_days(
    app: Flask, client: FlaskClient, campaign: Any, organiser: str
) -> None:
    long_ago = clock.now() - timedelta(days=90)
    add(campaign, 2, long_ago)
    add(campaign, 1, clock.now())
    chart = svg(page(client), "ua-chart-days")
    heights = [float(rect.get("height") or 0) for rect in bars(chart)]
    assert len(heights) == 30
    assert heights[:-1] == [0] * 29 and heights[-1] > 0


def test_actions_per_country_top_ten_and_the_others(
    client: FlaskClient, campaign: Any, organiser: str
) -> None:
    now = clock.now()
    codes = ["AL", "BA", "DE", "FR", "GB", "IT", "KR", "NL", "PL", "PT", "SE", "TR"]
    for i, code in enumerate(codes):
        add(campaign, 20 - i, now, country=code)
    add(campaign, 1, now, country="")
    text = page(client)
    rows = table_after(text, "countries-caption")
    assert rows[:3] == [("Albania", "20"), ("Bosnia & Herzegovina", "19"), ("Germany", "18")]
    assert len(rows) == 11
    # Sweden (10), Turkey (9) and one without a country, together.
    assert rows[-1] == ("Other countries", "20")
    chart = svg(text, "ua-chart-countries")
    assert accessible_name(chart) == "Actions per country"
    lengths = [float(rect.get("width") or 0) for rect in bars(chart)]
    assert lengths[0] == lengths[-1] and lengths[0] > lengths[1]
    labels = [t.text for t in chart.findall(f"{SVG}text")]
    assert labels[:4] == ["Albania", "20", "Bosnia & Herzegovina", "19"]


def test_country_names_in_the_organisers_language(
    client: FlaskClient, campaign: Any, organiser: str
) -> None:
    add(campaign, 2, clock.now(), country="DE")
    rows = table_after(page(client, OVERVIEW + "?lang=de"), "countries-caption")
    assert rows == [("Deutschland", "2")]


def test_the_charts_in_arabic_read_from_the_right(
    client: FlaskClient, campaign: Any, organiser: str
) -> None:
    today = clock.now().date()
    add(campaign, 1200, datetime.combine(today - timedelta(days=1), time(9), UTC), country="EG")
    add(campaign, 600, datetime.combine(today, time(0, 0, 1), UTC), country="MA")
    text = page(client, OVERVIEW + "?lang=ar")
    assert '<html lang="ar" dir="rtl"' in text
    days = svg(text, "ua-chart-days")
    assert days.get("direction") == "rtl"
    first, second = bars(days)
    # Time runs from the right: the first day's bar is right of the second's.
    assert float(first.get("x") or 0) > float(second.get("x") or 0)
    assert float(first.get("height") or 0) == 2 * float(second.get("height") or 0)
    countries = svg(text, "ua-chart-countries")
    assert countries.get("direction") == "rtl"
    top, other = bars(countries)
    # Both bars end at the labels' edge on the right, and grow leftwards.
    right = charts.WIDTH - charts.LABEL_WIDTH
    for rect in (top, other):
        assert float(rect.get("x") or 0) + float(rect.get("width") or 0) == right
    assert float(top.get("x") or 0) < float(other.get("x") or 0)
    labels = [t.text for t in countries.findall(f"{SVG}text")]
    assert labels[0] == "مصر"  # Egypt, in Arabic
    assert labels[1] == "1,200"  # as Babel writes numbers in Arabic


def test_everything_typed_by_supporters_is_escaped(
    client: FlaskClient, campaign: Any, organiser: str
) -> None:
    take(client, name="<script>alert(1)</script>", partner="<b>tag</b>&")
    text = page(client)
    assert "<script>alert" not in text and "<b>tag" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&lt;b&gt;tag&lt;/b&gt;&amp;" in text


def test_a_chart_escapes_its_texts_and_parses_as_xml() -> None:
    drawn = charts.bar_chart(
        [charts.Bar('<script>"x"</script>', 3, "3"), charts.Bar("a & b", 1, "1")],
        "c", "Title <i>", "Desc & more",
    )  # fmt: skip
    assert "<script>" not in drawn
    chart = ET.fromstring(str(drawn))
    assert accessible_name(chart) == "Title <i>"
    texts = [t.text for t in chart.findall(f"{SVG}text")]
    assert texts[0] == '<script>"x"</script>'
    assert texts[2] == "a & b"
    tips = [rect.find(f"{SVG}title") for rect in bars(chart)]
    assert [t.text for t in tips if t is not None] == ['<script>"x"</script>: 3', "a & b: 1"]


def test_latest_twenty_actions_the_newest_first(
    client: FlaskClient, campaign: Any, organiser: str
) -> None:
    now = clock.now()
    add(campaign, 24, now - timedelta(hours=1))
    add(campaign, 1, now, name="Newest", email="new@example.org", personal="My own line.",
        partner_tag="union-site", source_origin="https://union.example", country="BA")  # fmt: skip
    text = page(client)
    section = text[text.index('id="latest-heading"') : text.index('id="words-heading"')]
    rows = re.findall(r"<tr>\s*<td><time", section)
    assert len(rows) == 20
    first = section[section.index("<tbody>") : section.index("</tr>", section.index("<tbody>"))]
    for shown in ("Newest", "new@example.org", "Bosnia &amp; Herzegovina", "union-site",
                  "https://union.example", "<td>yes</td>"):  # fmt: skip
        assert shown in first
    assert "Supporter 0<" not in section  # the oldest are left out


def test_shares_partners_and_origins(client: FlaskClient, campaign: Any, organiser: str) -> None:
    now = clock.now()
    add(campaign, 1, now, personal="Solidarity from Tuzla.", partner_tag="union-site")
    add(campaign, 1, now, edited=True, partner_tag="union-site")
    add(campaign, 1, now, personal="Mine too.", edited=True)
    add(campaign, 1, now, source_origin="https://union.example")
    text = page(client)
    words = text[text.index('id="words-heading"') :]
    assert "<dt>With a personal line</dt><dd>2 (50%)</dd>" in words
    assert "<dt>With an edited message</dt><dd>2 (50%)</dd>" in words
    assert "<dt>With either</dt><dd>3 (75%)</dd>" in words
    assert '<th scope="row">union-site</th><td class="ua-num">2</td>' in text
    assert '<th scope="row"><em>No partner tag</em></th><td class="ua-num">2</td>' in text
    assert '<th scope="row">https://union.example</th><td class="ua-num">1</td>' in text


def snippet(text: str, snippet_id: str) -> str:
    found = re.search(rf'<textarea id="{snippet_id}"[^>]*>(.*?)</textarea>', text, re.S)
    assert found, snippet_id
    return html.unescape(found.group(1))


def documented(heading: str) -> list[str]:
    """The snippet shown under ``heading`` in docs/embedding.md, for our test host."""
    docs = (Path(__file__).parent.parent / "docs" / "embedding.md").read_text(encoding="utf-8")
    block = docs[docs.index(heading) :].split("```html\n", 1)[1].split("```", 1)[0]
    return block.replace("https://actions.example.org", "http://actions.test").splitlines()


def test_embed_snippets_with_absolute_urls(
    client: FlaskClient, campaign: Any, organiser: str
) -> None:
    text = page(client)
    widget = snippet(text, "snippet-widget").splitlines()
    assert widget[0] == (
        '<div data-urgentaction="example-mine-strike" data-lang="en"><a href='
        '"http://actions.test/actions/example-mine-strike">Reinstate the sacked union leaders'
        "</a></div>"
    )
    # The script line and the iframe's listener exactly as the documentation has them.
    assert widget[1] == documented("## The script widget")[1]
    iframe = snippet(text, "snippet-iframe").splitlines()
    assert iframe[0] == (
        '<iframe src="http://actions.test/actions/example-mine-strike/embed?lang=en" '
        'title="Urgent action: Reinstate the sacked union leaders" '
        'style="display:block;width:100%;height:1700px;border:0"></iframe>'
    )
    assert iframe[1] == documented("## The iframe")[1]
    assert snippet(text, "snippet-list").splitlines()[0] == (
        '<div data-urgentaction-list data-lang="en"><a href="http://actions.test/actions/">'
        "Urgent actions</a></div>"
    )
    assert snippet(text, "snippet-messages").splitlines() == [
        '<div data-urgentaction-messages="example-mine-strike" data-lang="en"><a href='
        '"http://actions.test/actions/example-mine-strike/messages">Solidarity messages</a></div>',
        documented("## The script widget")[1],
    ]
    # Each has a label, and cannot be changed by mistake.
    for snippet_id in ("snippet-widget", "snippet-iframe", "snippet-list", "snippet-messages"):
        assert f'<label id="{snippet_id}-label" for="{snippet_id}">' in text
        assert re.search(rf'<textarea id="{snippet_id}" class="ua-snippet"[^>]* readonly', text)

    german = page(client, OVERVIEW + "?snippet_lang=de")
    widget = snippet(german, "snippet-widget")
    assert 'data-lang="de"' in widget
    assert ">Stellt die entlassenen Gewerkschafter wieder ein</a>" in widget
    assert 'title="Eilaktion: Stellt die entlassenen' in snippet(german, "snippet-iframe")
    assert "embed?lang=de" in snippet(german, "snippet-iframe")


def test_live_json_follows_the_count(client: FlaskClient, campaign: Any, organiser: str) -> None:
    response = client.get(LIVE)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.get_json() == {"count": 0, "count_text": "0", "last_action_at": None,
                                   "last_action_text": None, "percent_text": "0%"}  # fmt: skip
    take(client)
    take(client, email="lejla@example.org")
    data = client.get(LIVE).get_json()
    assert (data["count"], data["count_text"]) == (2, "2")
    assert data["last_action_text"].endswith("UTC")
    assert datetime.fromisoformat(data["last_action_at"]) <= clock.now()
    assert client.get("/actions/manage/campaigns/no-such/live.json").status_code == 404


def test_live_json_is_for_organisers_only(app: Flask, client: FlaskClient, campaign: Any) -> None:
    assert client.get(LIVE).status_code == 404  # the dashboard is off
    app.extensions["urgentaction"].extension.organiser_check(lambda: False)
    assert client.get(LIVE).status_code == 403


def test_the_numbers_in_the_organisers_locale(
    client: FlaskClient, campaign: Any, organiser: str
) -> None:
    get_session().execute(update(Campaign).where(Campaign.slug == MINE).values(action_count=1234))
    get_session().commit()
    assert ">1.234</strong>" in page(client, OVERVIEW + "?lang=de")
    assert client.get(LIVE + "?lang=de").get_json()["count_text"] == "1.234"


def test_the_live_script_stays_small_and_needs_no_inline_code() -> None:
    script = (STATIC / "manage.js").read_bytes()
    assert len(script) < 1024
    assert b"live.json" in script or b"uaLive" in script
    assert b"innerHTML" not in script  # text only: nothing it receives becomes markup


def test_unknown_campaign(client: FlaskClient, campaign: Any, organiser: str) -> None:
    assert client.get("/actions/manage/campaigns/no-such").status_code == 404
