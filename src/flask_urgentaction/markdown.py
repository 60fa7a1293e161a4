"""Campaign bodies from Markdown to HTML that is safe to put in a page."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markupsafe import Markup

# "js-default" turns raw HTML off; markdown-it also refuses javascript:,
# vbscript: and data: links (except images) by itself.
_md = MarkdownIt("js-default", {"typographer": False})


def _image(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: Any, env: Any
) -> str:
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    if not urlsplit(src).netloc:
        return renderer.image(tokens, idx, options, env)
    # An image from another site would tell it who reads the campaign, and the
    # pages' Content-Security-Policy blocks it anyway: link to it instead.
    alt = renderer.renderInlineAsText(token.children, options, env) or src
    return f'<a href="{escapeHtml(src)}" rel="noopener">{escapeHtml(alt)}</a>'


_md.add_render_rule("image", _image)


@lru_cache(maxsize=256)
def render_markdown(source: str) -> Markup:
    return Markup(_md.render(source))
