"""The blueprints: pages for supporters, the iframe embed, and the JSON API."""

from __future__ import annotations

from flask import Blueprint

from ..manage import manage
from .api import api, widget
from .declarations import register_declarations
from .embed import embed
from .feed import site_feed
from .messages import register_messages
from .pages import register_pages
from .submission import cap_body

blueprint = Blueprint(
    "urgentaction",
    __name__.rpartition(".views")[0],
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
# Runs for the nested embed and API blueprints too.
blueprint.before_request(cap_body)
register_pages(blueprint)
register_messages(blueprint)
register_declarations(blueprint)
blueprint.add_url_rule("/widget.js", "widget", widget)
blueprint.add_url_rule("/feed.atom", "feed", site_feed)
blueprint.register_blueprint(embed)
blueprint.register_blueprint(api, url_prefix="/api")
# Off (404) until the host app registers ua.organiser_check; not exempt from CSRF.
blueprint.register_blueprint(manage, url_prefix="/manage")

__all__ = ["blueprint"]
