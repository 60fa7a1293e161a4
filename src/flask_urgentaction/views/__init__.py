"""The blueprints: pages for supporters, the iframe embed, and the JSON API."""

from __future__ import annotations

from .api import api, widget
from .common import blueprint
from .embed import embed
from .pages import register_pages

register_pages(blueprint)
blueprint.add_url_rule("/widget.js", "widget", widget)
blueprint.register_blueprint(embed)
blueprint.register_blueprint(api, url_prefix="/api")

__all__ = ["blueprint"]
