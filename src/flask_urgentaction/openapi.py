"""OpenAPI 3.1 description of the JSON API used by the embed widget.

``openapi_document`` builds the document served at ``/api/openapi.json``.
Its schemas are plain JSON Schema 2020-12 (the dialect OpenAPI 3.1 uses), so
``response_schema`` can lift one response body out as a standalone schema
that any draft 2020-12 validator accepts, e.g. to check real responses in
tests or in a partner's client.
"""

from __future__ import annotations

import copy
from importlib.metadata import PackageNotFoundError, version
from typing import Any

__all__ = ["openapi_document", "response_schema"]

_JSON = "application/json"
_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_COMPONENT_PREFIX = "#/components/schemas/"
_DEFS_PREFIX = "#/$defs/"


def _package_version() -> str:
    # A source checkout that was never installed has no metadata; the document
    # must still be served, so fall back to a placeholder version.
    try:
        return version("flask-urgentaction")
    except PackageNotFoundError:
        return "0"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": _COMPONENT_PREFIX + name}


def _string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def _schemas() -> dict[str, Any]:
    label_keys = ["name", "email", "union", "country", "personal", "personal_help", "message",
                  "opt_in", "publish", "publish_help", "submit"]  # fmt: skip
    list_label_keys = ["title", "read_more", "empty"]
    message_label_keys = ["read_more", "all", "empty"]
    list_item_keys = ["slug", "lang", "dir", "title", "summary", "count", "count_text", "goal",
                      "url"]  # fmt: skip
    campaign_props: dict[str, Any] = {
        "slug": _string("The campaign's identifier in URLs."),
        "lang": _string("Language this answer is written in."),
        "dir": {
            "type": "string",
            "enum": ["ltr", "rtl"],
            "description": "Text direction of `lang`.",
        },
        "languages": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "description": "Languages the campaign is available in.",
        },
        "status": {
            "type": "string",
            "enum": ["live", "closed", "draft", "scheduled"],
            "description": "As it is now: `closed` once closed, or from the campaign's"
            " `closes_at` on (actions are then answered 410). `draft` and `scheduled`"
            " (before `opens_at`) only in a `preview`.",
        },
        "title": {"type": "string"},
        "summary": {"type": "string"},
        "body_html": _string("Campaign body rendered from Markdown, already sanitised."),
        "partner": _string("The organisation running the campaign."),
        "url": {
            "type": "string",
            "format": "uri",
            "description": "Absolute URL of the campaign page.",
        },
        "targets": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "required": ["name"],
            },
            "description": "Who receives the messages (addresses are never published).",
        },
        "subject": _string("Default subject of the message."),
        "message": _string("Default message text; the supporter may edit it."),
        "message_lang": _string("Language the default subject and message are in."),
        "message_note": _string(
            "When the message is sent in another language than the page's, a note saying"
            " so in the page's language; else empty."
        ),
        "message_translation": {
            "description": "The campaign's translation of the message into the page's"
            " language, for understanding only (never sent); null when not needed.",
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["lang", "dir", "message"],
                    "properties": {
                        "lang": {"type": "string"},
                        "dir": {"enum": ["ltr", "rtl"]},
                        "message": {"type": "string"},
                    },
                },
            ],
        },
        "count": {"type": "integer", "minimum": 0},
        "count_text": _string("The count as a localised sentence."),
        "goal": {"type": ["integer", "null"], "minimum": 0},
        "privacy_url": _string(
            "Privacy notice URL: the campaign's, else the site's default; "
            "empty string when neither is set."
        ),
        "challenge": _ref("Challenge"),
        "countries": {
            "type": "array",
            "items": {
                "type": "array",
                "prefixItems": [
                    {"type": "string", "pattern": "^[A-Z]{2}$"},
                    {"type": "string"},
                ],
                "items": False,
                "minItems": 2,
            },
            "description": "ISO 3166-1 alpha-2 codes with localised names.",
        },
        "share": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "url": {"type": "string"}},
                "required": ["name", "url"],
            },
            "description": "Share links for the thank-you state.",
        },
        "opt_in": {
            "type": "boolean",
            "description": "Whether to offer the opt-in to alerts (`labels.opt_in`); false"
            " when the site cannot mail a confirmation link (no SERVER_NAME or"
            " TRUSTED_HOSTS), and then an action's `opt_in` is ignored.",
        },
        "publish": {
            "type": "boolean",
            "description": "Whether to offer the box to publish the message (`labels.publish`, with"
            " `labels.publish_help` saying what becomes public): true when the campaign"
            " publishes solidarity messages; when false, an action's `publish` is ignored.",
        },
        "form": {
            "type": "boolean",
            "description": "False for a campaign without targets that does not publish"
            " messages, which only shows solidarity: show no form but the summary, a link"
            " to `url` and `no_form_text`; its actions are answered 404.",
        },
        "gathers_messages": {
            "type": "boolean",
            "description": "True for a campaign without targets that publishes messages"
            " (`targets` empty, `publish` and `form` true): its form gathers solidarity"
            " messages, mailed to no one. Show no subject, personal line or `publish` box,"
            " but `publication_text` above the button: taking the action asks to publish"
            " the name, union, country and message once an organiser approves them. The"
            " message is required when the campaign's `message` is empty.",
        },
        "publication_text": _string(
            "Where `gathers_messages` is true, what to say above the button, in the page's"
            " language: what is published once approved; empty for any other campaign."
        ),
        "no_form_text": _string("Says, in the page's language, why there is no form."),
        "preview": {
            "type": "boolean",
            "const": True,
            "description": "Present only when `?preview=` held a valid token of the"
            " dashboard's widget preview: the campaign may not be public, nothing can be"
            " sent (disable the button), and `challenge.token` is empty (none is issued).",
        },
        "preview_text": _string(
            "With `preview`: what to say by the disabled button, in the page's language."
        ),
        "labels": {
            "type": "object",
            "properties": {key: {"type": "string"} for key in label_keys},
            "required": label_keys,
            "additionalProperties": {"type": "string"},
            "description": "Localised form labels; more keys may appear.",
        },
    }
    action_props: dict[str, Any] = {
        "name": _string("Supporter's name; at most 200 characters."),
        "email": _string("Supporter's address; at most 254 characters."),
        "union": _string(
            "Union, optional (special-category data under GDPR); at most 200 characters."
        ),
        "country": _string("ISO 3166-1 alpha-2 code."),
        "subject": _string("At most 300 characters; defaults to the campaign's subject."),
        "personal": _string(
            "Optional: a line in the supporter's own words, put above the message in the"
            " mail to the targets. One paragraph: line breaks and tabs become spaces;"
            " at most 500 characters after that."
        ),
        "message": _string(
            "At most 5000 characters; defaults to the campaign's message (required when the"
            " campaign gathers messages and has none)."
        ),
        "opt_in": {
            "type": "boolean",
            "description": "Ask for future alerts; confirmed by a mailed link.",
        },
        "publish": {
            "type": "boolean",
            "description": "Ask to show the name, union, country, personal line and message"
            " on the campaign's public message pages and feed once an organiser approves"
            " it (never the address); ignored where the campaign's `publish` is false, and"
            " implied where its `gathers_messages` is true.",
        },
        "lang": _string("Language for answers and mail."),
        "challenge_token": _string("`challenge.token` from the campaign answer."),
        "challenge_answer": _string("The supporter's answer to `challenge.question`."),
        "hp": _string("Honeypot: must be empty or absent."),
        "partner": _string(
            "Attribution tag of the embedding partner, optional; at most 100 characters."
        ),
    }
    return {
        "Challenge": {
            "type": "object",
            "description": "Signed, single-use, expiring spam check for one campaign.",
            "properties": {
                "token": {"type": "string"},
                "question": _string("Shows the number as digits in plain text."),
            },
            "required": ["token", "question"],
        },
        # Extra keys are allowed: the campaign answer may grow without a
        # breaking change, and the widget ignores what it does not know.
        "Campaign": {
            "type": "object",
            "properties": campaign_props,
            # The preview's keys are only in a dashboard preview.
            "required": [key for key in campaign_props if not key.startswith("preview")],
        },
        "CampaignList": {
            "type": "object",
            "description": "The live campaigns, the latest changed first. For a page on another"
            " origin, without those whose own `allowed_origins` leave that origin out.",
            "properties": {
                "lang": _string("Language of the labels and counts."),
                "dir": {"type": "string", "enum": ["ltr", "rtl"]},
                "campaigns": {"type": "array", "items": _ref("ListedCampaign")},
                "labels": {
                    "type": "object",
                    "properties": {key: {"type": "string"} for key in list_label_keys},
                    "required": list_label_keys,
                    "additionalProperties": {"type": "string"},
                    "description": "`title`: a name for the list; `read_more`: the link to"
                    " a campaign's page; `empty`: the sentence for an empty list.",
                },
            },
            "required": ["lang", "dir", "campaigns", "labels"],
        },
        "ListedCampaign": {
            "type": "object",
            "properties": {
                "slug": {"type": "string"},
                "lang": _string(
                    "Language of the title and summary: the campaign's nearest to `?lang=`,"
                    " matched as for one campaign; may differ from the list's."
                ),
                "dir": {"type": "string", "enum": ["ltr", "rtl"]},
                "title": {"type": "string"},
                "summary": {"type": "string"},
                "count": {"type": "integer", "minimum": 0},
                "count_text": _string("The count as a sentence in the list's language."),
                "goal": {"type": ["integer", "null"], "minimum": 0},
                "url": {
                    "type": "string",
                    "format": "uri",
                    "description": "Absolute URL of the campaign page in `lang`.",
                },
            },
            "required": list_item_keys,
        },
        "MessageList": {
            "type": "object",
            "description": "One page of a campaign's published solidarity messages (approved"
            " by an organiser, of supporters not erased), newest first, as its messages page"
            " shows them.",
            "properties": {
                "slug": {"type": "string"},
                "lang": _string("The reader's language: the campaign's nearest to `?lang=`."),
                "dir": {"type": "string", "enum": ["ltr", "rtl"]},
                "title": _string("The campaign's title in `lang`."),
                "heading": _string("A heading for the list, naming the campaign."),
                "url": _string(
                    "Absolute URL of the campaign's messages page in `lang`; empty when the"
                    " campaign publishes no messages."
                ),
                "publish": {
                    "type": "boolean",
                    "description": "Whether the campaign publishes messages; false: only its"
                    " declarations are shown, and `messages` is empty.",
                },
                "declarations_heading": _string("A heading for the declarations, in `lang`."),
                "declarations": {
                    "type": "array",
                    "items": _ref("ListedDeclaration"),
                    "description": "The campaign's declarations, in its file's order, on every"
                    " page.",
                },
                "written_in": _string("The `?written_in=` filter applied, or empty."),
                "page": {"type": "integer", "minimum": 1},
                "pages": {"type": "integer", "minimum": 1},
                "total": {"type": "integer", "minimum": 0, "description": "Messages on all pages."},
                "messages": {"type": "array", "items": _ref("PublishedMessage"), "maxItems": 20},
                "labels": {
                    "type": "object",
                    "properties": {key: {"type": "string"} for key in message_label_keys},
                    "required": message_label_keys,
                    "additionalProperties": {"type": "string"},
                    "description": "`read_more`: the link to one message; `all`: the link to"
                    " the messages page; `empty`: the sentence for an empty list.",
                },
            },
            "required": [
                "slug",
                "lang",
                "dir",
                "title",
                "heading",
                "url",
                "publish",
                "declarations_heading",
                "declarations",
                "written_in",
                "page",
                "pages",
                "total",
                "messages",
                "labels",
            ],
        },
        "ListedDeclaration": {
            "type": "object",
            "description": "A declaration of solidarity by an organisation.",
            "properties": {
                "public_id": _string("The declaration's random public id (in its URL)."),
                "organisation": {"type": "string"},
                "country": _string("ISO 3166-1 alpha-2 code, or empty."),
                "country_name": _string("The country's name in the reader's language."),
                "lang": _string("The language of its title and teaser: its nearest to `lang`."),
                "dir": {"type": "string", "enum": ["ltr", "rtl"]},
                "title": {"type": "string"},
                "teaser": _string("Empty when it has none."),
                "url": {
                    "type": "string",
                    "format": "uri",
                    "description": "Absolute URL of the declaration's page, where it is co-signed.",
                },
            },
            "required": [
                "public_id",
                "organisation",
                "country",
                "country_name",
                "lang",
                "dir",
                "title",
                "teaser",
                "url",
            ],
            "additionalProperties": False,
        },
        "SignatureRequest": {
            "type": "object",
            "description": "A co-signature: who signs, and the campaign's spam check (from"
            " `GET /campaigns/{slug}`). The email is never shown; it finds the signature"
            " again for erasure and access requests, and makes one signature per address.",
            "properties": {
                key: action_props[key]
                for key in (
                    "name",
                    "email",
                    "union",
                    "country",
                    "lang",
                    "challenge_token",
                    "challenge_answer",
                    "hp",
                )
            },
            "required": ["name", "email", "country", "challenge_token", "challenge_answer"],
        },
        "SignatureCreated": {
            "type": "object",
            "properties": {
                "status": {
                    "const": "pending",
                    "description": "Stored; shown under the declaration once an organiser"
                    " approves it.",
                },
            },
            "required": ["status"],
            "additionalProperties": False,
        },
        # What a supporter asked to show, and nothing else: no address, no row id.
        "PublishedMessage": {
            "type": "object",
            "properties": {
                "public_id": _string("The message's random public id (in its URL)."),
                "name": {"type": "string"},
                "union": _string("Empty when not given."),
                "country": _string("ISO 3166-1 alpha-2 code, or empty."),
                "country_name": _string("The country's name in the reader's language."),
                "lang": _string("The language of the page the supporter wrote from."),
                "language_name": _string("That language's name in the reader's language."),
                "dir": {
                    "type": "string",
                    "enum": ["ltr", "rtl"],
                    "description": "The direction the teaser is written in (by its first"
                    ' strong letter, as `dir="auto"`; else `lang`\'s).',
                },
                "teaser": _string(
                    "The supporter's own line and message, cut at a word after about 300"
                    " characters (ending in …); line breaks kept."
                ),
                "date": {"type": "string", "format": "date", "description": "Day written."},
                "date_text": _string("That day as the reader's language writes it."),
                "url": {
                    "type": "string",
                    "format": "uri",
                    "description": "Absolute URL of the whole message on its own page.",
                },
            },
            "required": [
                "public_id",
                "name",
                "union",
                "country",
                "country_name",
                "lang",
                "language_name",
                "dir",
                "teaser",
                "date",
                "date_text",
                "url",
            ],
            "additionalProperties": False,
        },
        "ActionRequest": {
            "type": "object",
            "properties": action_props,
            "required": ["name", "email", "challenge_token", "challenge_answer"],
        },
        # Answer bodies below have a shape fixed by the contract, hence closed.
        "ActionCreated": {
            "type": "object",
            "properties": {
                "status": {"const": "ok"},
                "count": {"type": "integer", "minimum": 0},
                "count_text": {"type": "string"},
                "opt_in_pending": {
                    "type": "boolean",
                    "description": "An opt-in confirmation mail was sent.",
                },
            },
            "required": ["status", "count", "count_text", "opt_in_pending"],
            "additionalProperties": False,
        },
        "BounceEvents": {
            "type": "object",
            "properties": {
                "events": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "recipient": _string("The address the message was sent to."),
                            "action": {"type": "string", "enum": ["failed", "delayed"]},
                            "status": _string("RFC 3463 status, e.g. `5.1.1`."),
                            "diagnostic": _string("The receiving server's words."),
                            "message_id": _string("The Message-ID of the message, `<...>`."),
                            "return_path": _string(
                                "The message's envelope sender (with its token, when"
                                " URGENTACTION_RETURN_PATH is set)."
                            ),
                        },
                        "required": ["recipient", "action"],
                    },
                }
            },
            "required": ["events"],
        },
        "BouncesRecorded": {
            "type": "object",
            "properties": {
                "recorded": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Bounces and delays of mail sent from here (a repeat"
                    " changes nothing).",
                },
                "ignored": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Reports about other mail, with a forged return-path"
                    " token, or of no failure.",
                },
            },
            "required": ["recorded", "ignored"],
            "additionalProperties": False,
        },
        "Error": {
            "type": "object",
            "properties": {
                "error": _string("Message in the request's language."),
            },
            "required": ["error"],
            "additionalProperties": False,
        },
        "Duplicate": {
            "type": "object",
            "properties": {
                "error": {"type": "string"},
                "count": {"type": "integer", "minimum": 0},
            },
            "required": ["error", "count"],
            "additionalProperties": False,
        },
        "ValidationError": {
            "type": "object",
            "properties": {
                "errors": {
                    "type": "object",
                    "minProperties": 1,
                    "additionalProperties": {
                        "type": "array",
                        "items": {"type": "string"},
                        "minItems": 1,
                    },
                    "description": (
                        "Messages per field; every challenge failure is reported under `challenge`."
                    ),
                },
                "challenge": {
                    "$ref": _COMPONENT_PREFIX + "Challenge",
                    "description": "A fresh challenge for the retry.",
                },
            },
            "required": ["errors"],
            "additionalProperties": False,
        },
    }


_CORS_NOTE = (
    " Allowed origins get `Access-Control-Allow-Origin` set to that origin; "
    "no credentials (the API uses no cookies)."
)


def _response(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description + _CORS_NOTE,
        "headers": {"Access-Control-Allow-Origin": {"$ref": "#/components/headers/AllowOrigin"}},
        "content": {_JSON: {"schema": _ref(schema)}},
    }


def _webhook_response(description: str, schema: str) -> dict[str, Any]:
    # Called by mail providers' servers, never by browsers: no CORS headers.
    return {"description": description, "content": {_JSON: {"schema": _ref(schema)}}}


def _bounces_path() -> dict[str, Any]:
    raw = {"schema": {"type": "string", "format": "binary"}}
    return {
        "post": {
            "operationId": "takeBounces",
            "summary": "Bounces from a mail provider's webhook (docs/deliverability.md).",
            "description": (
                "Off (404) unless URGENTACTION_BOUNCE_WEBHOOK_SECRET is set. The body is"
                " a delivery-status notification (RFC 3464) or JSON events. A hard bounce"
                " marks the message `bounced` and stops mail to the address."
            ),
            "parameters": [
                {
                    "name": "X-UrgentAction-Signature",
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^t=[0-9]+,v1=[0-9a-f]{64}"},
                    "description": (
                        '`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + the raw body'
                        " under the secret>`; t within 300 seconds of the server's clock."
                    ),
                }
            ],
            "requestBody": {
                "required": True,
                "content": {
                    _JSON: {"schema": _ref("BounceEvents")},
                    "message/rfc822": raw,
                    "multipart/report": raw,
                    "message/delivery-status": raw,
                },
            },
            "responses": {
                "200": _webhook_response("Taken in.", "BouncesRecorded"),
                "400": _webhook_response("Neither a DSN nor JSON events.", "Error"),
                "401": _webhook_response("Signature missing, wrong or stale.", "Error"),
                "404": _webhook_response("The webhook is off.", "Error"),
                "413": _webhook_response("Body over URGENTACTION_MAX_BODY_BYTES.", "Error"),
            },
        }
    }


def openapi_document(api_base: str) -> dict[str, Any]:
    """Return the OpenAPI 3.1.0 document for the JSON API mounted at *api_base*.

    *api_base* is the absolute URL of the API root, for example
    ``"https://actions.example.org/actions/api"``; paths are relative to it.
    A fresh dict is returned on each call, so callers may modify it.
    """
    slug_param = {
        "name": "slug",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "The campaign's slug.",
    }
    too_many = _response("Rate limited.", "Error")
    too_many["headers"]["Retry-After"] = {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "flask-urgentaction",
            "version": _package_version(),
            "description": (
                "JSON API behind the embeddable urgent action widget: list the live "
                "campaigns, read a campaign, take an action, read its published"
                " solidarity messages and declarations, co-sign a declaration; and a"
                " webhook that takes "
                "in bounces from a mail provider. Error texts are in the request's language."
            ),
        },
        "servers": [{"url": api_base}],
        "paths": {
            "/campaigns": {
                "get": {
                    "operationId": "listCampaigns",
                    "summary": "The live campaigns, for a list on a partner page.",
                    "description": (
                        "A simple GET (no preflight). Cacheable for 60 seconds; carries an"
                        " ETag (If-None-Match gets a 304). The answer varies by Origin and"
                        " Accept-Language. No personal data."
                    ),
                    "parameters": [
                        {
                            "name": "lang",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "maxLength": 35},
                            "description": (
                                "Preferred language of the list (the site's languages) and"
                                " of each campaign (its own); falls back to Accept-Language,"
                                " then English and each campaign's default."
                            ),
                        },
                        {
                            "name": "country",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "maxLength": 2},
                            "description": (
                                "Only the campaigns about this country (an ISO 3166-1 alpha-2"
                                " code among the campaign's `countries`); an unknown code is"
                                " ignored."
                            ),
                        },
                    ],
                    "responses": {
                        "200": _response("The live campaigns.", "CampaignList"),
                        "403": _response("Origin not allowed by the site's setting.", "Error"),
                    },
                }
            },
            "/campaigns/{slug}": {
                "get": {
                    "operationId": "getCampaign",
                    "summary": "A live or closed campaign, with a fresh challenge.",
                    "parameters": [
                        slug_param,
                        {
                            "name": "preview",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string"},
                            "description": (
                                "A token the organisers' dashboard issues on its widget"
                                " preview page (signed, bound to the slug, valid for an"
                                " hour): the campaign is then shown in any status, with"
                                " `preview` true. An invalid, expired or other campaign's"
                                " token changes nothing."
                            ),
                        },
                        {
                            "name": "lang",
                            "in": "query",
                            "required": False,
                            # Unknown languages are not an error: the server
                            # falls back, so no pattern is enforced here.
                            "schema": {"type": "string", "maxLength": 35},
                            "description": (
                                "Preferred language; falls back to "
                                "Accept-Language, then the campaign's default."
                            ),
                        },
                    ],
                    "responses": {
                        "200": _response("The campaign.", "Campaign"),
                        "403": _response("Origin not allowed for this campaign.", "Error"),
                        "404": _response(
                            "No such campaign (or a draft, or before opens_at, without a valid"
                            " `preview` token).",
                            "Error",
                        ),
                    },
                }
            },
            "/campaigns/{slug}/messages": {
                "get": {
                    "operationId": "listMessages",
                    "summary": "A page of a campaign's published solidarity messages.",
                    "description": (
                        "For the messages widget on a partner page. A simple GET (no"
                        " preflight). Cacheable for 60 seconds; carries an ETag"
                        " (If-None-Match gets a 304). The answer varies by Origin and"
                        " Accept-Language."
                    ),
                    "parameters": [
                        dict(slug_param),
                        {
                            "name": "lang",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "maxLength": 35},
                            "description": (
                                "The reader's language (countries, languages, dates and"
                                " labels), matched as for the campaign."
                            ),
                        },
                        {
                            "name": "written_in",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "maxLength": 35},
                            "description": "Only the messages written in this language.",
                        },
                        {
                            "name": "page",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "default": 1},
                            "description": "20 messages to a page.",
                        },
                    ],
                    "responses": {
                        "200": _response("The messages.", "MessageList"),
                        "403": _response("Origin not allowed for this campaign.", "Error"),
                        "404": _response(
                            "No such campaign (or a draft), a campaign that does not publish"
                            " messages, or no such page.",
                            "Error",
                        ),
                    },
                }
            },
            "/campaigns/{slug}/actions": {
                "post": {
                    "operationId": "takeAction",
                    "summary": "Take the action: store it and mail the targets.",
                    "parameters": [dict(slug_param)],
                    "requestBody": {
                        "required": True,
                        "content": {_JSON: {"schema": _ref("ActionRequest")}},
                    },
                    "responses": {
                        "201": _response("Stored; mail sent or queued.", "ActionCreated"),
                        "400": _response(
                            "Body is not a JSON object (or nests deeper than an action needs).",
                            "Error",
                        ),
                        "403": _response("Origin not allowed for this campaign.", "Error"),
                        "404": _response(
                            "No such campaign (or a draft, or before opens_at), or one without"
                            " targets, which takes no actions (its `form` is false).",
                            "Error",
                        ),
                        "409": _response(
                            "This email already acted on this campaign; no second mail is sent.",
                            "Duplicate",
                        ),
                        "410": _response("Campaign closed (or past its closing time).", "Error"),
                        "413": _response(
                            "Body over URGENTACTION_MAX_BODY_BYTES (128 KiB by default).", "Error"
                        ),
                        "422": _response("Invalid fields or failed challenge.", "ValidationError"),
                        "429": too_many,
                    },
                }
            },
            "/campaigns/{slug}/declarations/{public_id}/signatures": {
                "post": {
                    "operationId": "cosignDeclaration",
                    "summary": "Co-sign a declaration; shown once an organiser approves it.",
                    "parameters": [
                        dict(slug_param),
                        {
                            "name": "public_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                            "description": "The declaration's public id (`declarations[].public_id`"
                            " of the messages list).",
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {_JSON: {"schema": _ref("SignatureRequest")}},
                    },
                    "responses": {
                        "201": _response("Stored, pending approval.", "SignatureCreated"),
                        "400": _response("Body is not a JSON object.", "Error"),
                        "403": _response("Origin not allowed for this campaign.", "Error"),
                        "404": _response(
                            "No such campaign (or a draft), or no such declaration.", "Error"
                        ),
                        "409": _response(
                            "This email already signed this declaration; nothing new is stored.",
                            "Error",
                        ),
                        "410": _response("Campaign closed (or past its closing time).", "Error"),
                        "413": _response(
                            "Body over URGENTACTION_MAX_BODY_BYTES (128 KiB by default).", "Error"
                        ),
                        "422": _response("Invalid fields or failed challenge.", "ValidationError"),
                        "429": too_many,
                    },
                }
            },
            "/bounces": _bounces_path(),
        },
        "components": {
            "schemas": _schemas(),
            "headers": {
                "AllowOrigin": {
                    "description": (
                        "The request's Origin, only when it is allowed; never with credentials."
                    ),
                    "schema": {"type": "string"},
                }
            },
        },
    }


def _rewrite_refs(node: Any) -> Any:
    # Component refs only resolve inside the OpenAPI document; inside a
    # standalone schema the same definitions live under $defs.
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(_COMPONENT_PREFIX):
                out[key] = _DEFS_PREFIX + value[len(_COMPONENT_PREFIX) :]
            else:
                out[key] = _rewrite_refs(value)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item) for item in node]
    return copy.deepcopy(node)


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    # Responses may be shared via "#/components/responses/..." refs.
    seen: set[str] = set()
    while "$ref" in node:
        ref = node["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/") or ref in seen:
            raise ValueError(f"cannot resolve reference {ref!r}")
        seen.add(ref)
        target: Any = document
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def response_schema(
    document: dict[str, Any], path: str, method: str, status: int
) -> dict[str, Any]:
    """Return a standalone draft 2020-12 schema for one JSON response body.

    *path* is as written in *document* (e.g. ``"/campaigns/{slug}"``), *method*
    is case-insensitive. The component schemas are copied into ``$defs`` and
    references rewritten to point there. Raises ``KeyError`` when the
    document describes no JSON body for that operation and status.
    """
    try:
        operation = document["paths"][path][method.lower()]
    except KeyError:
        raise KeyError(f"no operation {method.upper()} {path}") from None
    responses = operation.get("responses", {})
    response = responses.get(str(status))
    if response is None:
        raise KeyError(f"{method.upper()} {path} documents no {status} response")
    response = _resolve(document, response)
    try:
        schema = response["content"][_JSON]["schema"]
    except KeyError:
        raise KeyError(f"{method.upper()} {path} {status} has no {_JSON} body") from None
    # The body schema is usually a bare component ref; in draft 2020-12 a
    # "$ref" beside "$defs" is fine, so it is kept and rewritten, not inlined.
    defs = document.get("components", {}).get("schemas", {})
    standalone: dict[str, Any] = {"$schema": _DIALECT}
    standalone.update(_rewrite_refs(schema))
    standalone["$defs"] = _rewrite_refs(defs)
    return standalone
