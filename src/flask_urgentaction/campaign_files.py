"""A campaign written back out as its definition: the shape of its TOML file.

``definition`` is what ``campaigns.validate`` takes, built from a stored
campaign, so the dashboard can change part of it and check the whole again;
``dumps`` writes it as a TOML file that ``flask urgentaction campaigns load``
reads back into the same campaign; ``parse`` reads such a file from text.
"""

from __future__ import annotations

import tomllib
from typing import Any

import tomli_w

from .campaigns import TEXT_FIELDS, CampaignError, validate
from .declarations import TEXT_FIELDS as DECLARATION_FIELDS
from .models import Campaign, Declaration


def definition(campaign: Campaign) -> dict[str, Any]:
    """The campaign as a definition (TOML's shape; keys with no value left out),
    its translations with the fallback language first, so it stays the fallback."""
    data: dict[str, Any] = {
        "slug": campaign.slug,
        "status": campaign.status,
        "partner": campaign.partner,
    }
    # In the order the documentation writes them.
    if campaign.goal is not None:
        data["goal"] = campaign.goal
    data["privacy_url"] = campaign.privacy_url
    optional = {
        "allowed_origins": campaign.allowed_origins,
        "message_lang": campaign.message_lang,
        "image": campaign.image,
        "opens_at": campaign.opens_at,
        "closes_at": campaign.closes_at,
        "countries": campaign.countries,
    }
    # An empty list of origins is kept: it narrows the global setting to none.
    data |= {k: v for k, v in optional.items() if v or (k == "allowed_origins" and v == [])}
    if campaign.publish_messages:
        data["messages"] = {"publish": True}
    if campaign.delivery:
        data["delivery"] = dict(campaign.delivery)
    data["targets"] = [
        {"name": t.name, "email": t.email} | ({"timezone": t.timezone} if t.timezone else {})
        for t in campaign.targets
    ]
    rows = sorted(campaign.translations, key=lambda t: t.lang != campaign.fallback_lang)
    data["translations"] = {
        t.lang: {field: getattr(t, field) for field in TEXT_FIELDS if getattr(t, field)}
        for t in rows
    }
    if campaign.declarations:
        data["declarations"] = [_declaration(row) for row in campaign.declarations]
    return data


def _declaration(row: Declaration) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": row.key, "organisation": row.organisation}
    if row.country:
        entry["country"] = row.country
    if row.published is not None:
        entry["published"] = row.published
    entry["translations"] = {
        lang: {f: texts[f] for f in DECLARATION_FIELDS if texts.get(f)}
        for lang, texts in row.texts.items()
    }
    return entry


def dumps(campaign: Campaign) -> str:
    """The campaign as a TOML file; long texts as multi-line strings."""
    return tomli_w.dumps(definition(campaign), multiline_strings=True)


def parse(text: str, source: str = "") -> dict[str, Any]:
    """Parse and check a campaign file's text, as ``campaigns.read_file`` does a file's."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CampaignError("TOML", str(exc), source) from exc
    return validate(data, source)
