"""What supporters wrote themselves, and near copies among it (similarity.py),
on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import random
import tracemalloc
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import insert, select

from flask_urgentaction import similarity
from flask_urgentaction.campaigns import load_files
from flask_urgentaction.models import Action, Campaign
from flask_urgentaction.similarity import (
    Group,
    added_text,
    edited,
    near_duplicate_groups,
    normalise,
    personal_share,
)
from flask_urgentaction.storage import get_session

from .conftest import SAMPLE, Mailbox, make_app

DEFAULT = "Reinstate the sacked union leaders of the Example mine."
GERMAN = "Stellt die entlassenen Gewerkschafter wieder ein."
# Bot wording: the same line sent by many, with small changes.
BOT = (
    "These five workers only did what the law allows them to do: they founded a union. "
    "Give them their jobs back today."
)
BOT_VARIANTS = [
    BOT,
    BOT,
    BOT,
    # Case and punctuation changed.
    "THESE FIVE WORKERS ONLY DID WHAT THE LAW ALLOWS THEM TO DO - THEY FOUNDED A UNION!!! "
    "GIVE THEM THEIR JOBS BACK TODAY",
    "these five workers only did what the law allows them to do... they founded a union; "
    "give them their jobs back today!",
    # A word swapped for another.
    BOT.replace("today", "now"),
    BOT.replace("workers", "miners"),
    # Digits dropped with the rest of what is not a word.
    BOT.replace("union.", "union in 2026."),
]
# Lines people wrote on their own: on one subject, sharing words, not wording.
OWN_LINES = [
    "My grandfather worked underground at Kreka for thirty years and the union kept him alive.",
    "I am a nurse in Sarajevo and I know what it means to be punished for speaking up.",
    "Workers everywhere are watching how you treat these miners, so do the right thing.",
    "Our dockers' union in Rotterdam stands with the Example miners until they are back at work.",
    "Sacking people for organising breaks the ILO conventions your government has ratified.",
    "I buy nothing from companies that break unions, and I will tell my friends why.",
    "As a teacher I tell my pupils that unions won the weekend, so please do not prove me wrong.",
    "The families of the five have had no income since March; reinstate them with back pay.",
    "I stand with the sacked union leaders and with every worker who dares to organise.",
    "The union leaders you sacked are the workers who kept your mine safe for all of us.",
]
SUPPORTERS = itertools.count()


@pytest.fixture
def app(tmp_path: Path, mailbox: Mailbox, database_url: str) -> Iterator[Flask]:
    app = make_app(tmp_path, mailbox, URGENTACTION_DATABASE_URL=database_url)
    with app.app_context():
        yield app
        get_session().close()
    app.extensions["urgentaction"].storage.engine.dispose()


def other_campaign(tmp_path: Path) -> Campaign:
    path = tmp_path / "other.toml"
    path.write_text(SAMPLE.replace('slug = "example-mine-strike"', 'slug = "other"'), "utf-8")
    ((loaded, _created),) = load_files(get_session(), [path])
    return loaded


def row(
    campaign: Campaign, personal: str = "", message: str = DEFAULT, **values: Any
) -> dict[str, Any]:
    """One action's columns, as take_action would store them."""
    n = next(SUPPORTERS)
    fields = {
        "campaign_id": campaign.id, "name": f"Supporter {n}", "email": f"s{n}@example.org",
        "email_key": f"s{n}@example.org", "country": "BA", "subject": "Reinstate them",
        "lang": "en", "message": message, "personal": personal,
        "edited": edited(message, GERMAN if values.get("lang") == "de" else DEFAULT),
    }  # fmt: skip
    return fields | values


def erased(campaign: Campaign, personal: str = "", **values: Any) -> dict[str, Any]:
    """An action whose supporter was forgotten (see erasure.py)."""
    return row(campaign, personal, email_key=None, erased_at=datetime.now(UTC), **values)


def store(rows: list[dict[str, Any]]) -> list[int]:
    session = get_session()
    ids = [session.execute(insert(Action).values(**values).returning(Action.id)).scalar_one()
           for values in rows]  # fmt: skip
    session.commit()
    return ids


def store_many(rows: list[dict[str, Any]]) -> None:
    get_session().execute(insert(Action), rows)
    get_session().commit()


# What the supporter wrote themselves


def test_white_space_alone_is_not_an_edit() -> None:
    default = "Dear director,\n\nReinstate the five.\nNow."
    assert not edited(default, default)
    assert not edited("Dear director,\r\n\r\nReinstate the five.  \r\nNow.\r\n", default)
    assert not edited("  Dear   director,\n\n\n Reinstate the five.\nNow.\t", default)
    assert edited("Dear director,\n\nReinstate the five.\nNow!", default)
    assert edited("Dear director,\n\nReinstate all five.\nNow.", default)
    assert edited("", default)


def test_added_text_is_the_personal_line_and_the_lines_not_in_the_default() -> None:
    default = "Dear director,\n\nReinstate the five.\nNow."
    message = "Dear director,\r\n\r\nReinstate the five.  \r\nMy son is one of them.\r\nNow."
    assert added_text(message, default, "I worked there too.") == (
        "I worked there too.\nMy son is one of them."
    )
    assert added_text(default, default, "") == ""
    assert added_text(default.replace("\n", "\r\n"), default, "  ") == ""
    # A line of the default changed is a line of the supporter's own.
    assert added_text("Dear director,\nReinstate all five.\nNow.", default) == "Reinstate all five."


def test_normalise_drops_case_punctuation_digits_and_extra_spaces_but_keeps_words() -> None:
    assert (
        normalise("  Give them their JOBS back -- NOW!!! (2026)  ")
        == "give them their jobs back now"
    )
    assert normalise("Straße ﬁre") == "strasse fire"
    # Marks are part of words in many scripts.
    assert normalise("أطالبكم بإعادة القادة!") == "أطالبكم بإعادة القادة"
    hindi = "मज़दूर एकता ज़िंदाबाद"
    assert normalise(hindi.replace(" ", ", ", 1)) == unicodedata.normalize("NFKC", hindi)


# Near copies


def test_copies_with_changed_case_punctuation_or_a_word_are_one_group(
    app: Flask, campaign: Campaign
) -> None:
    bots = store([row(campaign, line) for line in BOT_VARIANTS])
    store([row(campaign, line) for line in OWN_LINES])
    assert near_duplicate_groups(get_session(), campaign.id) == [
        Group(action_ids=tuple(bots), sample=BOT, size=len(bots))
    ]


def test_lines_people_wrote_on_their_own_are_not_grouped(app: Flask, campaign: Campaign) -> None:
    store([row(campaign, line) for line in OWN_LINES[:5]])
    # More in messages the supporters edited, with the default kept.
    store([row(campaign, message=f"{DEFAULT}\n{line}") for line in OWN_LINES[5:]])
    assert near_duplicate_groups(get_session(), campaign.id) == []
    assert near_duplicate_groups(get_session(), campaign.id, min_size=2) == []


def test_the_same_edit_of_the_message_is_grouped_and_the_default_part_says_nothing(
    app: Flask, campaign: Campaign
) -> None:
    added = "We are watching you, and we will not forget what you did to these miners."
    copies = store([row(campaign, message=f"{DEFAULT}\n{added}") for _ in range(3)])
    # One more puts the same words in the personal line instead.
    copies += store([row(campaign, added)])
    # Everyone who sent the default unchanged, or changed one word of it, is not a copy.
    store([row(campaign) for _ in range(5)])
    store([row(campaign, message=DEFAULT.replace("sacked", "fired")) for _ in range(5)])
    (group,) = near_duplicate_groups(get_session(), campaign.id)
    assert group == Group(action_ids=tuple(copies), sample=added, size=4)


def test_short_lines_are_alike_by_nature_and_not_grouped(app: Flask, campaign: Campaign) -> None:
    for line in ["Solidarity!", "Solidarity from Tuzla.", "Shame on you, reinstate them!"]:
        store([row(campaign, line) for _ in range(5)])
    assert near_duplicate_groups(get_session(), campaign.id) == []


def test_groups_need_min_size_and_come_largest_first(app: Flask, campaign: Campaign) -> None:
    pair = store([row(campaign, OWN_LINES[0]) for _ in range(2)])
    bots = store([row(campaign, line) for line in BOT_VARIANTS])
    assert [g.action_ids for g in near_duplicate_groups(get_session(), campaign.id)] == [
        tuple(bots)
    ]
    found = near_duplicate_groups(get_session(), campaign.id, min_size=2)
    assert [(g.action_ids, g.sample) for g in found] == [
        (tuple(bots), BOT), (tuple(pair), OWN_LINES[0]),
    ]  # fmt: skip


def test_erased_actions_and_other_campaigns_are_left_out(
    app: Flask, campaign: Campaign, tmp_path: Path
) -> None:
    other = other_campaign(tmp_path)
    store([row(other, BOT) for _ in range(5)])
    store([erased(campaign, BOT) for _ in range(5)])
    kept = store([row(campaign, BOT) for _ in range(2)])
    assert near_duplicate_groups(get_session(), campaign.id) == []
    assert near_duplicate_groups(get_session(), campaign.id, min_size=2) == [
        Group(action_ids=tuple(kept), sample=BOT, size=2)
    ]


def test_each_language_is_read_against_its_own_default_message(
    app: Flask, campaign: Campaign
) -> None:
    # Germans who kept their (German) default are no copies of each other...
    store([row(campaign, message=GERMAN, lang="de") for _ in range(4)])
    assert near_duplicate_groups(get_session(), campaign.id) == []
    # ...but the same German line added by each is.
    line = "Wir beobachten genau, wie ihr mit den Bergleuten und ihrer Gewerkschaft umgeht."
    ids = store([row(campaign, message=f"{GERMAN}\n{line}", lang="de") for _ in range(3)])
    assert near_duplicate_groups(get_session(), campaign.id) == [Group(tuple(ids), line, 3)]


def test_a_campaign_that_does_not_exist_has_no_groups(app: Flask) -> None:
    assert near_duplicate_groups(get_session(), 12345) == []
    assert personal_share(get_session(), 12345) == (0, 0)


# The share of personal messages


def test_personal_share_counts_personal_lines_and_edited_messages_of_all_actions(
    app: Flask, campaign: Campaign, tmp_path: Path
) -> None:
    assert personal_share(get_session(), campaign.id) == (0, 0)
    store([row(campaign, "My brother is one of the five.")])
    store([row(campaign, message="Reinstate them all.")])  # edited
    store([row(campaign, "Solidarity!", message="Reinstate them all.")])  # both: counts once
    store([row(campaign) for _ in range(3)])  # the default, unchanged
    store([row(campaign, message=DEFAULT + "\r\n")])  # unchanged but for a line end
    store([erased(campaign, "Forgotten."), erased(campaign)])
    store([row(other_campaign(tmp_path), "Elsewhere.")])
    assert personal_share(get_session(), campaign.id) == (3, 7)


# At scale


def own_line(rng: random.Random, words: list[str]) -> str:
    return " ".join(rng.choice(words) for _ in range(rng.randint(6, 25))).capitalize() + "."


def test_six_thousand_own_lines_and_three_hundred_bots_find_exactly_the_bots(
    app: Flask, campaign: Campaign
) -> None:
    rng = random.Random(7)
    vocabulary = [w for line in OWN_LINES for w in normalise(line).split()]
    vocabulary += ["".join(rng.choices("abcdefghijklmnoprstuvz", k=rng.randint(3, 9)))
                   for _ in range(3000)]  # fmt: skip
    rows = [row(campaign, own_line(rng, vocabulary)) for _ in range(6000)]
    bot_at = set(rng.sample(range(len(rows)), 300))
    for i in bot_at:
        words = BOT.split()
        words[rng.randrange(len(words))] = rng.choice(vocabulary)
        rows[i]["personal"] = " ".join(words)
    store_many(rows)
    (group,) = near_duplicate_groups(get_session(), campaign.id)
    stored_ids = list(get_session().scalars(select(Action.id).order_by(Action.id)))
    assert set(group.action_ids) == {stored_ids[i] for i in bot_at}


def test_rows_are_read_in_batches_and_only_signatures_are_kept(
    app: Flask, campaign: Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1,000 edited messages of 5,000 characters: more text than the search may hold.
    rng = random.Random(3)
    words = [
        "".join(rng.choices("abcdefghijklmnoprstuvz", k=rng.randint(3, 9))) for _ in range(2000)
    ]
    body = [" ".join(rng.choices(words, k=800))[:5000] for _ in range(1000)]
    store_many([row(campaign, message=text) for text in body])
    monkeypatch.setattr(similarity, "BATCH", 50)
    get_session().expire_all()
    tracemalloc.start()
    try:
        assert near_duplicate_groups(get_session(), campaign.id) == []
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    text_size = sum(len(text) for text in body)
    assert text_size == 5_000_000
    assert peak < text_size / 3, f"peak {peak} bytes for {text_size} bytes of text"
