"""Campaigns: checking a definition, loading TOML files, and reading them back."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from . import pacing
from .i18n import locale_of, match
from .models import Campaign, CampaignTranslation, Target, utcnow
from .origins import normalize

STATUSES = ("draft", "live", "closed")
TEXT_FIELDS = ("title", "summary", "body", "subject", "message")
TOP_KEYS = {
    "slug", "status", "partner", "goal", "privacy_url", "allowed_origins",
    "message_lang", "targets", "translations", "delivery",
}  # fmt: skip
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")
LANG_RE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")


class CampaignError(ValueError):
    """A campaign definition that cannot be loaded: where, which key, what is wrong."""

    def __init__(self, key: str, problem: str, source: str = "") -> None:
        self.key, self.problem, self.source = key, problem, source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{key}: {problem}")


@dataclass(frozen=True)
class TranslationSnapshot:
    lang: str
    title: str
    summary: str
    body: str
    subject: str
    message: str


@dataclass(frozen=True)
class TargetSnapshot:
    id: int
    name: str
    email: str
    timezone: str | None = None


@dataclass(frozen=True)
class CampaignSnapshot:
    """A campaign as plain values, bound to no session: what a process keeps
    between requests (campaign_cache.py) while the campaign's ``version`` holds."""

    id: int
    version: int
    slug: str
    status: str
    partner: str
    goal: int | None
    privacy_url: str
    allowed_origins: tuple[str, ...] | None
    fallback_lang: str
    message_lang: str | None
    # The checked [delivery] table; see pacing.Rules.
    delivery: dict[str, Any] | None
    translations: tuple[TranslationSnapshot, ...]
    targets: tuple[TargetSnapshot, ...]
    # What views derive from it and may keep as long as the snapshot (by language).
    derived: dict[Any, Any] = dataclass_field(default_factory=dict, compare=False, repr=False)

    @property
    def languages(self) -> list[str]:
        return [t.lang for t in self.translations]

    @classmethod
    def of(cls, campaign: Campaign) -> CampaignSnapshot:
        origins = campaign.allowed_origins
        return cls(
            id=campaign.id,
            version=campaign.version,
            slug=campaign.slug,
            status=campaign.status,
            partner=campaign.partner,
            goal=campaign.goal,
            privacy_url=campaign.privacy_url,
            allowed_origins=tuple(origins) if origins is not None else None,
            fallback_lang=campaign.fallback_lang,
            message_lang=campaign.message_lang,
            delivery=dict(campaign.delivery) if campaign.delivery else None,
            translations=tuple(
                TranslationSnapshot(**{f: getattr(t, f) for f in ("lang", *TEXT_FIELDS)})
                for t in campaign.translations
            ),
            targets=tuple(
                TargetSnapshot(t.id, t.name, t.email, t.timezone) for t in campaign.targets
            ),
        )


# Functions that only read a campaign take either form.
AnyCampaign = Campaign | CampaignSnapshot


@dataclass(frozen=True)
class Text:
    """One campaign's texts in one language, each falling back to the fallback."""

    lang: str
    title: str
    summary: str
    body: str
    subject: str
    message: str


def validate(data: Mapping[str, Any], source: str = "") -> dict[str, Any]:
    """Check a campaign definition and return it normalised, or raise CampaignError."""

    def fail(key: str, problem: str) -> CampaignError:
        return CampaignError(key, problem, source)

    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise fail(unknown[0], "unknown key")
    slug = data.get("slug")
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise fail("slug", "required: lower-case letters, digits and hyphens")
    status = data.get("status", "draft")
    if status not in STATUSES:
        raise fail("status", f"must be one of {', '.join(STATUSES)}")
    partner = _string(data, "partner", 200, fail)
    goal = data.get("goal")
    if goal is not None and (isinstance(goal, bool) or not isinstance(goal, int) or goal < 1):
        raise fail("goal", "must be a positive whole number")
    privacy_url = _string(data, "privacy_url", 500, fail)
    if privacy_url and urlsplit(privacy_url).scheme not in ("http", "https"):
        raise fail("privacy_url", "must be an http(s) URL")
    origins = data.get("allowed_origins")
    if origins is not None:
        if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
            raise fail("allowed_origins", "must be a list of origins")
        clean_origins = []
        for origin in origins:
            normalized = normalize(origin)
            if not normalized or urlsplit(origin.strip()).path not in ("", "/"):
                raise fail(
                    "allowed_origins", f"{origin!r} is not an origin like https://union.example"
                )
            clean_origins.append(normalized)
        origins = clean_origins

    targets = data.get("targets")
    if not isinstance(targets, list) or not targets:
        raise fail("targets", "at least one [[targets]] entry with name and email")
    clean_targets = []
    for index, target in enumerate(targets):
        key = f"targets[{index}]"
        if not isinstance(target, dict) or set(target) - {"name", "email", "timezone"}:
            raise fail(key, "must have name and email (and may have timezone), nothing else")
        name = _string(target, "name", 200, fail, prefix=key + ".")
        email = target.get("email")
        if not isinstance(email, str):
            raise fail(key + ".email", "required")
        try:
            email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise fail(key + ".email", str(exc)) from exc
        zone = target.get("timezone")
        if zone is not None and not pacing.known_zone(zone):
            raise fail(key + ".timezone", "not a time zone name like Europe/Tirana")
        clean_targets.append({"name": name or email, "email": email, "timezone": zone})
        if email.casefold() in {t["email"].casefold() for t in clean_targets[:-1]}:
            raise fail(key + ".email", "listed twice")

    translations = data.get("translations")
    if not isinstance(translations, dict) or not translations:
        raise fail("translations", "at least one [translations.<language>] table")
    clean_texts: dict[str, dict[str, str]] = {}
    for lang, texts in translations.items():
        key = f"translations.{lang}"
        if not LANG_RE.match(lang) or locale_of(lang).language != lang.split("-")[0]:
            raise fail(key, "not a known language code")
        if not isinstance(texts, dict):
            raise fail(key, "must be a table")
        extra = sorted(set(texts) - set(TEXT_FIELDS))
        if extra:
            raise fail(f"{key}.{extra[0]}", "unknown key")
        clean_texts[lang] = {
            field: _string(texts, field, 100_000, fail, prefix=key + ".") for field in TEXT_FIELDS
        }
    if not any(t["title"] for t in clean_texts.values()):
        raise fail("translations", "a title is required in at least one language")
    fallback = "en" if "en" in clean_texts else next(iter(clean_texts))
    if not clean_texts[fallback]["title"]:
        raise fail(f"translations.{fallback}.title", "the fallback language needs a title")
    message_lang = data.get("message_lang")
    if message_lang is not None and message_lang not in clean_texts:
        raise fail("message_lang", "must be one of the campaign's translations")

    try:
        delivery = pacing.check_rules(data.get("delivery"))
    except pacing.RulesError as exc:
        raise fail(f"delivery.{exc.key}" if exc.key else "delivery", exc.problem) from exc

    return {
        "slug": slug,
        "status": status,
        "partner": partner,
        "goal": goal,
        "privacy_url": privacy_url,
        "allowed_origins": origins,
        "message_lang": message_lang,
        "fallback_lang": fallback,
        "targets": clean_targets,
        "translations": clean_texts,
        "delivery": delivery,
    }


def _string(data: Mapping[str, Any], key: str, limit: int, fail: Any, prefix: str = "") -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise fail(prefix + key, "must be text")
    if len(value) > limit:
        raise fail(prefix + key, f"longer than {limit} characters")
    if "\0" in value:
        raise fail(prefix + key, "contains a NUL character")
    return value.strip()


def read_file(path: str | Path) -> dict[str, Any]:
    """Parse and check one TOML file; errors name the file."""
    source = str(path)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise CampaignError("file", exc.strerror or str(exc), source) from exc
    except tomllib.TOMLDecodeError as exc:
        raise CampaignError("TOML", str(exc), source) from exc
    return validate(data, source)


def save(session: Session, definition: Mapping[str, Any]) -> tuple[Campaign, bool]:
    """Insert or update a checked definition by slug; the caller commits."""
    clean = validate(definition) if "fallback_lang" not in definition else definition
    campaign = session.scalar(select(Campaign).where(Campaign.slug == clean["slug"]))
    created = campaign is None
    if campaign is None:
        campaign = Campaign(slug=clean["slug"])
        session.add(campaign)
    for key in ("status", "partner", "goal", "privacy_url", "allowed_origins",
                "message_lang", "fallback_lang", "delivery"):  # fmt: skip
        setattr(campaign, key, clean[key])
    campaign.updated_at = utcnow()
    # A target keeps its row (and so its outbox history and pacing) by address.
    kept = {t.email.casefold(): t for t in campaign.targets}
    targets = []
    for position, fields in enumerate(clean["targets"]):
        target = kept.get(fields["email"].casefold()) or Target()
        target.position = position
        for key in ("name", "email", "timezone"):
            setattr(target, key, fields[key])
        targets.append(target)
    campaign.targets = targets
    existing = {t.lang: t for t in campaign.translations}
    translations = []
    for position, (lang, texts) in enumerate(clean["translations"].items()):
        row = existing.get(lang) or CampaignTranslation(lang=lang)
        row.position = position
        for field in TEXT_FIELDS:
            setattr(row, field, texts[field])
        translations.append(row)
    campaign.translations = translations
    return campaign, created


def load_files(session: Session, paths: Iterable[str | Path]) -> list[tuple[Campaign, bool]]:
    """Check every file first, then save them all in one transaction."""
    definitions = [read_file(path) for path in paths]
    saved = [save(session, definition) for definition in definitions]
    session.commit()
    return saved


def find(session: Session, slug: str) -> Campaign | None:
    return session.scalar(
        select(Campaign)
        .where(Campaign.slug == slug)
        .options(selectinload(Campaign.translations), selectinload(Campaign.targets))
    )


def live_campaigns(session: Session) -> list[Campaign]:
    return list(
        session.scalars(
            select(Campaign)
            .where(Campaign.status == "live")
            .order_by(Campaign.updated_at.desc())
            .options(selectinload(Campaign.translations))
        )
    )


def count_actions(session: Session, campaign_id: int) -> int:
    """The campaign's stored count (see ``Campaign.action_count``), never COUNT(*)."""
    return int(session.scalar(select(Campaign.action_count).where(Campaign.id == campaign_id)) or 0)


def counts(session: Session) -> dict[int, int]:
    rows = session.execute(select(Campaign.id, Campaign.action_count))
    return {campaign_id: int(n) for campaign_id, n in rows}


def text_in(campaign: AnyCampaign, lang: str) -> Text:
    """The campaign's texts in ``lang``; any empty field comes from the fallback."""
    by_lang = {t.lang: t for t in campaign.translations}
    fallback = by_lang.get(campaign.fallback_lang) or campaign.translations[0]
    chosen = by_lang.get(match(lang, by_lang) or "") or fallback
    values = {field: getattr(chosen, field) or getattr(fallback, field) for field in TEXT_FIELDS}
    return Text(lang=chosen.lang, **values)


def message_text(campaign: AnyCampaign, lang: str) -> Text:
    """The texts of the message sent to the targets (``message_lang`` when fixed)."""
    return text_in(campaign, campaign.message_lang or lang)
