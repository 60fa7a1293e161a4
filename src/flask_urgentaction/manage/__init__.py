"""The organisers' dashboard under ``/manage/``: server-rendered pages that run a
campaign from the browser, for the organisers the host app's check lets in.

Each screen is a module that adds its routes to ``manage``; ``access`` guards
every request (the check, then CSRF on every POST) and ``audit`` records every
change.
"""

from __future__ import annotations

from flask import Blueprint

manage = Blueprint("manage", __name__)

# Imported for their routes, after ``manage`` exists.
from . import (  # noqa: E402
    access,
    alerts,
    audit,
    campaign,
    delivery,
    downloads,
    editor,
    home,
    live,
    moderation,
)

access.register(manage)
home.register(manage)
# In the order of a campaign's tabs.
campaign.register(manage)
editor.register(manage)
delivery.register(manage)
moderation.register(manage)
alerts.register(manage)
downloads.register(manage)
live.register(manage)
audit.register(manage)

__all__ = ["manage"]
