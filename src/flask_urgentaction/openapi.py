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
    label_keys = ["name", "email", "union", "country", "message", "opt_in", "submit"]
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
        "status": {"type": "string", "enum": ["live", "closed"]},
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
        "privacy_url": _string("Privacy notice URL; empty string when none is set."),
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
        "message": _string("At most 5000 characters; defaults to the campaign's message."),
        "opt_in": {
            "type": "boolean",
            "description": "Ask for future alerts; confirmed by a mailed link.",
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
            "required": list(campaign_props),
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
                "JSON API behind the embeddable urgent action widget: read a "
                "campaign and take an action. Error texts are in the request's "
                "language."
            ),
        },
        "servers": [{"url": api_base}],
        "paths": {
            "/campaigns/{slug}": {
                "get": {
                    "operationId": "getCampaign",
                    "summary": "A live or closed campaign, with a fresh challenge.",
                    "parameters": [
                        slug_param,
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
                        "404": _response("No such campaign (or a draft).", "Error"),
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
                        "404": _response("No such campaign (or a draft).", "Error"),
                        "409": _response(
                            "This email already acted on this campaign; no second mail is sent.",
                            "Duplicate",
                        ),
                        "410": _response("Campaign closed.", "Error"),
                        "413": _response(
                            "Body over URGENTACTION_MAX_BODY_BYTES (128 KiB by default).", "Error"
                        ),
                        "422": _response("Invalid fields or failed challenge.", "ValidationError"),
                        "429": too_many,
                    },
                }
            },
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
