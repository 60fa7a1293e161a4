"""The campaign editor's forms, read into a campaign definition and back.

The forms are plain HTML forms. What an organiser typed is kept as text
(``Form.values``) so nothing is lost when the definition is refused; the
definition built from it is checked by ``campaigns.validate`` alone, and its
error is put next to the field it names (``Form.fail``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..campaigns import TEXT_FIELDS, CampaignError
from ..i18n import gettext

# The campaign's own settings, each an input named as its key in the file.
SETTINGS = ("partner", "goal", "privacy_url", "allowed_origins", "message_lang", "image",
            "opens_at", "closes_at", "countries")  # fmt: skip
DELIVERY = ("per_target_per_hour", "cap", "hours", "timezone", "mode")
TARGET_FIELDS = ("name", "email", "timezone")
# Empty target rows always offered below the others, to add targets without script.
EMPTY_TARGET_ROWS = 3
# Target rows read from one form at most.
MAX_TARGET_ROWS = 500
_TARGET_KEY = re.compile(r"^targets\[(\d+)\](?:\.(\w+))?$")


@dataclass(frozen=True)
class Field:
    """What ``views.rendering.aria`` needs of a field: its id and its errors."""

    id: str
    errors: list[str]


@dataclass
class Form:
    """One editor form as typed: values by input name, target rows, errors."""

    values: dict[str, str] = field(default_factory=dict)
    targets: list[dict[str, str]] = field(default_factory=list)
    # Errors by input name; those no input of the page shows are ``general``.
    errors: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)
    # The definition's target i came from form row ``target_rows[i]``.
    target_rows: list[int] = field(default_factory=list)

    def field(self, name: str) -> Field:
        return Field(name, [self.errors[name]] if name in self.errors else [])

    def fail(self, error: CampaignError, shown: Iterable[str], text_lang: str = "") -> None:
        """Put ``error`` next to the input it names, if the page shows one."""
        name = self._input_for(error.key, text_lang)
        problem = problem_text(error.problem)
        if name in set(shown) or name.startswith("targets-"):
            self.errors[name] = problem
        else:
            self.general.append(f"{error.key}: {problem}")

    def _input_for(self, key: str, text_lang: str) -> str:
        found = _TARGET_KEY.match(key)
        if found:
            index, part = int(found.group(1)), found.group(2) or "email"
            rows = self.target_rows
            return f"targets-{rows[index] if index < len(rows) else index}-{part}"
        if key == "targets":
            return "targets-0-name"
        head, _, rest = key.partition(".")
        if head == "delivery":
            return f"delivery-{rest or 'mode'}"
        if head == "messages":
            return "publish"
        if head == "translations":
            lang, _, text = rest.partition(".")
            if not lang:
                return "title"
            if lang == text_lang:
                return text or "lang"
            return key
        return key


def problem_text(problem: str) -> str:
    """A problem ``campaigns.validate`` names, in the organiser's language when
    it is one of its fixed sentences (those with a value in them stay as they are)."""
    known = {
        "required": gettext("required"),
        "required: lower-case letters, digits and hyphens": gettext(
            "required: lower-case letters, digits and hyphens"),
        "must be one of draft, live, closed": gettext("must be draft, live or closed"),
        "must be a positive whole number": gettext("must be a positive whole number"),
        "must be an http(s) URL": gettext("must be an address starting with https:// or http://"),
        "must be a list of origins": gettext("must be a list of origins"),
        "listed twice": gettext("listed twice"),
        "not a known language code": gettext("not a known language code"),
        "a title is required in at least one language": gettext(
            "a title is required in at least one language"),
        "the fallback language needs a title": gettext("the fallback language needs a title"),
        "must be one of the campaign's translations": gettext(
            "must be one of the campaign's languages"),
        "must be later than opens_at": gettext("must be later than the opening time"),
        "must be an absolute https:// URL of a picture": gettext(
            "must be the address of a picture, starting with https://"),
        'must look like "08:00-18:00" (it may wrap past midnight)': gettext(
            'must look like 08:00-18:00 (it may wrap past midnight)'),
        'must be "each" or "digest"': gettext("must be one message per action, or a digest"),
        "longer than 100000 characters": gettext("longer than 100,000 characters"),
    }  # fmt: skip
    return known.get(problem, problem)


def moment_value(moment: datetime | None) -> str:
    """A moment as the form shows it: ISO 8601 in UTC, with its Z."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def from_definition(data: Mapping[str, Any], lang: str = "") -> Form:
    """The form filled from a definition (``campaign_files.definition``), with the
    texts of ``lang`` when given."""
    values: dict[str, str] = {
        "slug": data["slug"],
        "status": data.get("status", "draft"),
        "partner": data.get("partner", ""),
        "goal": str(data.get("goal") or ""),
        "privacy_url": data.get("privacy_url", ""),
        "allowed_origins": "\n".join(data.get("allowed_origins") or ()),
        "message_lang": data.get("message_lang") or "",
        "image": data.get("image") or "",
        "opens_at": moment_value(data.get("opens_at")),
        "closes_at": moment_value(data.get("closes_at")),
        "countries": " ".join(data.get("countries") or ()),
        "publish": "1" if (data.get("messages") or {}).get("publish") else "",
    }
    delivery = data.get("delivery") or {}
    for key in DELIVERY:
        values[f"delivery-{key}"] = str(delivery.get(key, ""))
    values["delivery-mode"] = delivery.get("mode", "each")
    texts = (data.get("translations") or {}).get(lang, {})
    for text in TEXT_FIELDS:
        values[text] = texts.get(text, "")
    values["lang"] = lang
    targets = [{k: t.get(k) or "" for k in TARGET_FIELDS} for t in data.get("targets", [])]
    return Form(values=values, targets=targets)


def read_texts(form: Mapping[str, str], into: Form) -> None:
    for text in TEXT_FIELDS:
        into.values[text] = form.get(text, "")


def read_settings(form: Mapping[str, str], into: Form) -> None:
    """The settings and target rows as typed (kept whatever happens next)."""
    for name in (*SETTINGS, "publish", *(f"delivery-{k}" for k in DELIVERY)):
        into.values[name] = form.get(name, "")
    rows = min(_whole(form.get("target_rows", "0")), MAX_TARGET_ROWS)
    into.targets = []
    for row in range(rows):
        typed = {k: form.get(f"targets-{row}-{k}", "").strip() for k in TARGET_FIELDS}
        # A removed or empty row is gone; the rest keep their place.
        if form.get(f"targets-{row}-remove") or not any(typed.values()):
            continue
        into.targets.append(typed)


def _whole(text: str) -> int:
    return int(text) if text.isdigit() else 0


def _number(text: str) -> int | str:
    """A whole number as a number; anything else as typed, for validate to refuse."""
    text = text.strip()
    return int(text) if text.isdigit() and len(text) < 19 else text


def apply_settings(data: dict[str, Any], form: Form) -> None:
    """Put the settings and targets typed into the definition ``data``."""
    values = form.values
    for key in ("partner", "privacy_url"):
        data[key] = values[key]
    optional: dict[str, Any] = {
        "goal": _number(values["goal"]) if values["goal"].strip() else None,
        "allowed_origins": values["allowed_origins"].split() or None,
        "message_lang": values["message_lang"] or None,
        "image": values["image"].strip() or None,
        "opens_at": values["opens_at"].strip() or None,
        "closes_at": values["closes_at"].strip() or None,
        "countries": values["countries"].replace(",", " ").split() or None,
    }
    for key, value in optional.items():
        if value is None and key == "allowed_origins" and data.get(key) == []:
            continue  # No website at all, as a file may say: an empty box cannot.
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    data.pop("messages", None)
    if values["publish"]:
        data["messages"] = {"publish": True}
    delivery: dict[str, Any] = {}
    for key in DELIVERY:
        typed = values[f"delivery-{key}"].strip()
        if typed:
            delivery[key] = _number(typed) if key in ("per_target_per_hour", "cap") else typed
    if delivery.get("mode") == "each":
        del delivery["mode"]
    if delivery:
        data["delivery"] = delivery
    else:
        data.pop("delivery", None)
    data["targets"] = [{k: v for k, v in t.items() if v or k != "timezone"} for t in form.targets]
    form.target_rows = list(range(len(form.targets)))


def apply_texts(data: dict[str, Any], form: Form, lang: str) -> None:
    """Put the texts typed for ``lang`` into the definition ``data``; a new
    language goes last, and the fallback language stays first."""
    texts = {k: form.values[k] for k in TEXT_FIELDS if form.values[k].strip()}
    translations = dict(data.get("translations") or {})
    translations[lang] = texts
    data["translations"] = translations


def changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Which keys of a definition differ, for the audit log ("targets",
    "translations.de"): names of fields, never their values."""
    names = []
    for key in sorted(set(before) | set(after)):
        if key == "translations":
            old, new = before.get(key) or {}, after.get(key) or {}
            names += [f"translations.{lang}" for lang in sorted(set(old) | set(new))
                      if old.get(lang) != new.get(lang)]  # fmt: skip
        elif before.get(key) != after.get(key):
            names.append(key)
    return names
