"""Which sites may embed a campaign and call the API for it."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, request

from .models import Campaign

ANY = "*"


def own_origin() -> str:
    return request.host_url.rstrip("/")


def allowed(campaign: Campaign | None) -> list[str] | str:
    """The campaign's list when it has one (it narrows), else the global setting."""
    configured = current_app.config["URGENTACTION_ALLOWED_ORIGINS"]
    if campaign is not None and campaign.allowed_origins is not None:
        if configured == ANY:
            return list(campaign.allowed_origins)
        return [o for o in campaign.allowed_origins if o in _normalized(configured)]
    return ANY if configured == ANY else _normalized(configured)


def _normalized(origins: list[str] | str) -> list[str]:
    if isinstance(origins, str):
        origins = [origins]
    result = []
    for origin in origins:
        parts = urlsplit(origin.strip())
        result.append(f"{parts.scheme}://{parts.netloc.lower()}")
    return result


def is_allowed(origin: str, campaign: Campaign | None) -> bool:
    if origin == own_origin():
        return True
    permitted = allowed(campaign)
    if permitted == ANY:
        return origin.startswith(("http://", "https://"))
    return origin.lower() in permitted


def request_origin() -> str:
    """The Origin header, or "" when the client sent none (non-browser clients)."""
    return request.headers.get("Origin", "").strip()


def form_post_allowed(campaign: Campaign) -> bool:
    """A form POST must come from our own pages or an allowed origin."""
    origin = request_origin()
    if origin and origin != "null":
        return is_allowed(origin, campaign)
    # Without Origin, Sec-Fetch-Site still tells a cross-site browser request.
    site = request.headers.get("Sec-Fetch-Site", "")
    return site in ("", "same-origin", "same-site", "none")


def frame_ancestors(campaign: Campaign) -> str:
    permitted = allowed(campaign)
    if permitted == ANY:
        return "*"
    return " ".join(["'self'", *permitted]) if permitted else "'self'"
