"""Campaigns: checking a definition, loading TOML files, and reading them back."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from . import clock, declarations, pacing
from .countries import country_codes
from .declarations import DeclarationSnapshot
from .i18n import locale_of, match
from .models import Campaign, CampaignTranslation, Target, utcnow
from .origins import normalize

STATUSES = ("draft", "live", "closed")
# image_alt: the campaign's picture described in that language.
TEXT_FIELDS = ("title", "summary", "body", "subject", "message", "image_alt")
TOP_KEYS = {
    "slug", "status", "partner", "goal", "privacy_url", "allowed_origins",
    "message_lang", "targets", "translations", "delivery", "messages",
    "opens_at", "closes_at", "countries", "image", "declarations",
}  # fmt: skip
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")
# Pages of their own at /<name>: a campaign by that slug could never be reached.
RESERVED_SLUGS = {"archive", "manage"}
LANG_RE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")


class CampaignStatus(StrEnum):
    """A campaign's status as stored (draft, live, closed), or as it is at a moment
    with its opening and closing times applied (:func:`effective_status`)."""

    DRAFT = "draft"
    # Live, but before its opens_at: not shown anywhere, as a draft. Never stored.
    SCHEDULED = "scheduled"
    LIVE = "live"
    CLOSED = "closed"


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
    image_alt: str


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
    # Its life and where it is (see effective_status), and its picture for previews.
    opens_at: datetime | None
    closes_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime
    countries: tuple[str, ...]
    image: str
    # [messages] publish: supporters may ask to show their message in public.
    publish_messages: bool
    # Declarations of solidarity by organisations (declarations.py), in the file's order.
    declarations: tuple[DeclarationSnapshot, ...] = ()
    # What views derive from it and may keep as long as the snapshot (by language).
    derived: dict[Any, Any] = dataclass_field(default_factory=dict, compare=False, repr=False)

    @property
    def languages(self) -> list[str]:
        return [t.lang for t in self.translations]

    @property
    def takes_actions(self) -> bool:
        """Whether supporters can take its action: one with targets, or one that
        gathers messages to publish. Any other campaign without targets only
        shows solidarity (its declarations)."""
        return bool(self.targets) or self.publish_messages

    @property
    def gathers_messages(self) -> bool:
        """A campaign without targets that publishes messages: each action is a
        solidarity message to publish once approved, mailed to no one."""
        return not self.targets and self.publish_messages

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
            opens_at=campaign.opens_at,
            closes_at=campaign.closes_at,
            closed_at=campaign.closed_at,
            updated_at=campaign.updated_at,
            countries=tuple(campaign.countries or ()),
            image=campaign.image or "",
            publish_messages=campaign.publish_messages,
            declarations=tuple(DeclarationSnapshot.of(d) for d in campaign.declarations),
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
    image_alt: str


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
    if slug in RESERVED_SLUGS:
        raise fail("slug", f"{slug!r} is the address of another page; choose another slug")
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

    publish_messages = _messages_table(data.get("messages"), fail)
    clean_declarations = declarations.check(data.get("declarations"), fail, _moment)
    targets = data.get("targets", [])
    # No targets: a campaign that only gathers and shows solidarity.
    if not isinstance(targets, list) or not (targets or clean_declarations or publish_messages):
        raise fail(
            "targets",
            "at least one [[targets]] entry with name and email (a campaign without "
            "targets needs [[declarations]] or [messages] publish = true)",
        )
    clean_targets: list[dict[str, str | None]] = []
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
        if zone is not None:
            zone = pacing.zone_name(zone)
            if zone is None:
                raise fail(key + ".timezone", pacing.ZONE_PROBLEM)
        if email.casefold() in {str(t["email"]).casefold() for t in clean_targets}:
            raise fail(key + ".email", "listed twice")
        clean_targets.append({"name": name or email, "email": email, "timezone": zone})

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
    life = _life(data, fail)

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
        **life,
        "publish_messages": publish_messages,
        "declarations": clean_declarations,
    }


def _messages_table(table: Any, fail: Any) -> bool:
    """The ``[messages]`` table: whether supporters may ask to publish their message."""
    if table is None:
        return False
    if not isinstance(table, dict):
        raise fail("messages", "must be a table")
    unknown = sorted(set(table) - {"publish"})
    if unknown:
        raise fail(f"messages.{unknown[0]}", "unknown key")
    publish = table.get("publish", False)
    if not isinstance(publish, bool):
        raise fail("messages.publish", "must be true or false")
    return publish


def _life(data: Mapping[str, Any], fail: Any) -> dict[str, Any]:
    """When the campaign opens and closes, where the dispute is, its picture."""
    opens_at = _moment(data, "opens_at", fail)
    closes_at = _moment(data, "closes_at", fail)
    if opens_at is not None and closes_at is not None and closes_at <= opens_at:
        raise fail("closes_at", "must be later than opens_at")
    countries = data.get("countries")
    if countries is not None:
        if not isinstance(countries, list) or not all(isinstance(c, str) for c in countries):
            raise fail("countries", 'must be a list of country codes, like ["AL", "BA"]')
        clean: list[str] = []
        for code in countries:
            code = code.strip().upper()
            if code not in country_codes():
                raise fail("countries", f"{code!r} is not an ISO 3166-1 alpha-2 country code")
            if code not in clean:
                clean.append(code)
        countries = clean or None
    image = _string(data, "image", 500, fail)
    if image:
        parts = urlsplit(image)
        if parts.scheme != "https" or not parts.hostname or not image.isprintable() or " " in image:
            raise fail("image", "must be an absolute https:// URL of a picture")
    return {"opens_at": opens_at, "closes_at": closes_at, "countries": countries, "image": image}


def _moment(data: Mapping[str, Any], key: str, fail: Any) -> datetime | None:
    """A point in time with its offset: a TOML datetime (or, from Python, a datetime
    or an ISO 8601 string). A local time without an offset is refused: which
    clock it is meant on would be a guess."""
    value = data.get(key)
    if value is None:
        return None
    example = "like 2026-12-01T08:00:00Z (UTC) or 2026-12-01T09:00:00+01:00"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise fail(key, f"not a date and time: write it {example}") from None
    if not isinstance(value, datetime):
        kind = "a date without a time" if isinstance(value, date) else "not a date and time"
        raise fail(key, f"{kind}: write it {example}")
    if value.utcoffset() is None:
        raise fail(key, f"has no time zone offset: add Z for UTC or the offset, {example}")
    return value


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
    # Absent from a definition checked elsewhere: no times, no countries, no picture.
    for key in ("opens_at", "closes_at", "countries"):
        setattr(campaign, key, clean.get(key))
    campaign.image = clean.get("image") or ""
    campaign.publish_messages = bool(clean.get("publish_messages", False))
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
            setattr(row, field, texts.get(field, ""))
        translations.append(row)
    campaign.translations = translations
    campaign.declarations = declarations.save(
        campaign.declarations, clean.get("declarations") or []
    )
    return campaign, created


def load_files(session: Session, paths: Iterable[str | Path]) -> list[tuple[Campaign, bool]]:
    """Check every file first, then save them all in one transaction."""
    definitions = [read_file(path) for path in paths]
    saved = [save(session, definition) for definition in definitions]
    session.commit()
    return saved


def whole(slug: str) -> Select[Campaign]:
    """The query for campaign ``slug`` with everything a snapshot is made of."""
    return (
        select(Campaign)
        .where(Campaign.slug == slug)
        .options(
            selectinload(Campaign.translations),
            selectinload(Campaign.targets),
            selectinload(Campaign.declarations),
        )
    )


def find(session: Session, slug: str) -> Campaign | None:
    return session.scalar(whole(slug))


def effective_status(campaign: AnyCampaign, now: datetime | None = None) -> CampaignStatus:
    """The campaign's status at ``now`` (the clock's by default): a live campaign
    before its opens_at is scheduled, from its closes_at on closed. Drafts and
    closed campaigns stay what they are. Worked out at each use, so a campaign
    opens and closes on time with no change to its row (or its cached snapshot)."""
    status = CampaignStatus(campaign.status)
    if status is not CampaignStatus.LIVE:
        return status
    now = clock.now() if now is None else now
    if campaign.closes_at is not None and campaign.closes_at <= now:
        return CampaignStatus.CLOSED
    if campaign.opens_at is not None and now < campaign.opens_at:
        return CampaignStatus.SCHEDULED
    return status


def is_public(status: CampaignStatus) -> bool:
    """Whether a campaign in this status is shown (its page, its JSON): live or closed."""
    return status in (CampaignStatus.LIVE, CampaignStatus.CLOSED)


def closed_since(campaign: AnyCampaign, now: datetime | None = None) -> datetime | None:
    """When the campaign closed (its closes_at, or when its status was set to
    closed, whichever came first); None while it is not closed."""
    now = clock.now() if now is None else now
    if effective_status(campaign, now) is not CampaignStatus.CLOSED:
        return None
    moments = [m for m in (campaign.closed_at, campaign.closes_at) if m is not None and m <= now]
    # Closed before closed_at was recorded: its last change is the best guess.
    return min(moments) if moments else campaign.updated_at


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
