"""Atom 1.0 feeds (RFC 4287), written with the standard library's ElementTree,
which escapes every text and attribute; what XML 1.0 cannot carry at all is
dropped first, so whatever a supporter typed, the feed stays well-formed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from xml.etree import ElementTree

ATOM = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# Characters XML 1.0 does not allow in a document (it allows tab, LF and CR).
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

ElementTree.register_namespace("", ATOM)


@dataclass(frozen=True)
class Entry:
    id: str  # an IRI that never changes: the entry's own absolute URL
    title: str
    link: str
    updated: datetime
    content: str  # plain text
    lang: str = ""  # the language of the content
    title_lang: str = ""  # the title's, when another than the content's
    author: str = ""
    published: datetime | None = None
    # A short plain-text summary (a campaign's), besides or instead of the content.
    summary: str = ""
    # (term, label) pairs: a campaign's countries as ISO codes and their names.
    categories: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Feed:
    id: str
    title: str
    link: str  # the HTML page the feed is the feed of
    self_link: str
    updated: datetime
    lang: str = ""
    subtitle: str = ""
    # The feed's author, for entries without one of their own (Atom needs one).
    author: str = ""
    entries: list[Entry] = field(default_factory=list)


def _text(value: str) -> str:
    return NOT_XML.sub("", value)


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _add(
    parent: ElementTree.Element, tag: str, text: str = "", **attrs: str
) -> ElementTree.Element:
    element = ElementTree.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    if text:
        element.text = _text(text)
    return element


def _link(parent: ElementTree.Element, href: str, rel: str, kind: str) -> None:
    ElementTree.SubElement(parent, f"{{{ATOM}}}link", {"rel": rel, "type": kind, "href": href})


def render(feed: Feed) -> bytes:
    """The feed as an XML document in UTF-8."""
    root = ElementTree.Element(f"{{{ATOM}}}feed")
    if feed.lang:
        root.set(XML_LANG, feed.lang)
    _add(root, "id", feed.id)
    _add(root, "title", feed.title, type="text")
    if feed.subtitle:
        _add(root, "subtitle", feed.subtitle, type="text")
    _add(root, "updated", _time(feed.updated))
    if feed.author:
        _add(_add(root, "author"), "name", feed.author)
    _link(root, feed.link, "alternate", "text/html")
    _link(root, feed.self_link, "self", "application/atom+xml")
    for entry in feed.entries:
        item = _add(root, "entry")
        if entry.lang:
            item.set(XML_LANG, entry.lang)
        _add(item, "id", entry.id)
        title = _add(item, "title", entry.title, type="text")
        if entry.title_lang and entry.title_lang != entry.lang:
            title.set(XML_LANG, entry.title_lang)
        _link(item, entry.link, "alternate", "text/html")
        _add(item, "updated", _time(entry.updated))
        if entry.published is not None:
            _add(item, "published", _time(entry.published))
        if entry.author:
            _add(_add(item, "author"), "name", entry.author)
        for term, label in entry.categories:
            _add(item, "category", term=_text(term), label=_text(label))
        if entry.summary:
            _add(item, "summary", entry.summary, type="text")
        if entry.content:
            _add(item, "content", entry.content, type="text")
    body: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return body
