"""Campaign bodies from Markdown to HTML that is safe to put in a page."""

from __future__ import annotations

from functools import lru_cache

from markdown_it import MarkdownIt
from markupsafe import Markup

# "js-default" turns raw HTML off; markdown-it also refuses javascript:,
# vbscript: and data: links (except images) by itself.
_md = MarkdownIt("js-default", {"typographer": False})


@lru_cache(maxsize=256)
def render_markdown(source: str) -> Markup:
    return Markup(_md.render(source))
