"""Which sites may embed a campaign and call the API for it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from flask import current_app, request

if TYPE_CHECKING:
    from .campaigns import AnyCampaign

ANY = "*"

# What may stand between "scheme://" and the end of an origin: a host name or
# an IP address (IPv6 in brackets) and a port. Anything else (spaces, ";")
# could break out of the Content-Security-Policy header it ends up in.
NETLOC_RE = re.compile(r"^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?$")
DEFAULT_PORTS = {"http": ":80", "https": ":443"}


def normalize(origin: str) -> str:
    """``HTTPS://Union.Example:443/`` -> ``https://union.example``; "" if not an origin.

    Browsers send origins in this form, so configured and stored origins are
    compared with them only after the same normalisation.
    """
    parts = urlsplit(origin.strip())
    scheme = parts.scheme.lower()
    netloc = parts.netloc.lower()
    if scheme not in DEFAULT_PORTS or not NETLOC_RE.match(netloc):
        return ""
    netloc = netloc.removesuffix(DEFAULT_PORTS[scheme])
    return f"{scheme}://{netloc}"


def own_origin() -> str:
    return normalize(request.host_url)


def _normalized(origins: Iterable[str]) -> list[str]:
    return [o for o in (normalize(origin) for origin in origins) if o]


def configured() -> list[str] | str:
    """The global setting: ``ANY``, or a list of normalised origins."""
    value = current_app.config["URGENTACTION_ALLOWED_ORIGINS"]
    origins = [value] if isinstance(value, str) else list(value)
    # ["*"] means the same as "*"; read literally it would allow nothing.
    if any(o.strip() == ANY for o in origins):
        return ANY
    return _normalized(origins)


def allowed(campaign: AnyCampaign | None) -> list[str] | str:
    """The campaign's list when it has one (it narrows), else the global setting."""
    permitted = configured()
    if campaign is not None and campaign.allowed_origins is not None:
        own = _normalized(campaign.allowed_origins)
        return own if permitted == ANY else [o for o in own if o in permitted]
    return permitted


def is_allowed(origin: str, campaign: AnyCampaign | None) -> bool:
    origin = normalize(origin)
    if not origin:
        # "null" (sandboxed frames, file:) and non-web schemes are never allowed.
        return False
    if origin == own_origin():
        return True
    permitted = allowed(campaign)
    return permitted == ANY or origin in permitted


def request_origin() -> str:
    """The Origin header, or "" when the client sent none (non-browser clients)."""
    return request.headers.get("Origin", "").strip()


def other_site_origin() -> str:
    """The site a form POST came from, for attribution; "" for our own pages.

    Our pages send no referrer, so a browser names their POSTs' origin "null".
    """
    origin = request_origin()
    if origin == "null" or normalize(origin) == own_origin():
        return ""
    return origin


def form_post_allowed(campaign: AnyCampaign) -> bool:
    """An HTML form POST must come from our own pages or an origin listed by name.

    "*" does not count here: our form lives on our own pages and in our iframe,
    and a page elsewhere could otherwise make its visitors' browsers send
    actions, each from another address (past the rate limit).
    """
    origin = request_origin()
    if origin and origin != "null":
        origin = normalize(origin)
        if origin and origin == own_origin():
            return True
        permitted = allowed(campaign)
        return permitted != ANY and origin in permitted
    # Without Origin, Sec-Fetch-Site still tells a cross-site browser request.
    site = request.headers.get("Sec-Fetch-Site", "")
    return site in ("", "same-origin", "same-site", "none")


def frame_ancestors(campaign: AnyCampaign) -> str:
    permitted = allowed(campaign)
    if permitted == ANY:
        return "*"
    return " ".join(["'self'", *permitted]) if permitted else "'self'"
