"""A JSON Schema for OSDI resources, read from the field tables of the OSDI pages in
tests/data/osdi/spec (OSDI publishes no schema file; data/osdi/README.md says more).

A page's tables list fields as ``|name |type |description``: the top-level fields
under "Common Fields" and "<Resource> Fields", the fields of related objects with
dotted names (``postal_addresses.country``). Types map to JSON Schema: ``string``,
``flexenum`` -> string; ``enum`` -> one of the quoted values its description lists;
``datetime`` -> an RFC 3339 string; ``strings[]`` -> strings; ``boolean``,
``integer``, ``float``, ``decimal``; ``[Thing[]](...)`` -> an array of objects and
``[Thing](...)``, ``object`` -> an object, each with the fields its dotted rows give;
``custom_fields.[key]`` -> any key, string values. No field beyond the tables is
allowed, except HAL's ``_links`` and ``_embedded``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

SPEC = Path(__file__).parent / "data" / "osdi" / "spec"
INCLUDE = re.compile(r"\{%\s*include\s+(\S+)\s*%\}")
LINKED = re.compile(r"^\[(?P<label>[^\]]*(?:\[\])?\*?)\]\(")
SCALARS: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "flexenum": {"type": "string"},
    "datetime": {"type": "string", "format": "date-time"},
    "strings[]": {"type": "array", "items": {"type": "string"}},
    "string[]": {"type": "array", "items": {"type": "string"}},
    "boolean": {"type": "boolean"},
    "integer": {"type": "integer"},
    "float": {"type": "number"},
    "decimal": {"type": "number"},
}


def page_lines(name: str) -> list[str]:
    """A page's lines with its ``{% include %}`` lines replaced by the included file
    where it is here, dropped where not (site navigation, sections not used)."""
    lines: list[str] = []
    for line in (SPEC / name).read_text(encoding="utf-8").splitlines():
        included = INCLUDE.search(line)
        if included is None:
            lines.append(line)
        elif (SPEC / "_includes" / included.group(1)).exists():
            lines += page_lines(f"_includes/{included.group(1)}")
    return lines


def field_rows(name: str) -> list[tuple[str, str, str, str]]:
    """(heading, field, type, description) of every table row of a page."""
    heading, rows = "", []
    for line in page_lines(name):
        if line.startswith("#"):
            heading = line.strip("# ").strip()
        elif line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            field = cells[0]
            if len(cells) < 2 or field in ("", "Name") or set(field) <= set("-: "):
                continue
            rows.append((heading, field, cells[1], cells[2] if len(cells) > 2 else ""))
    return rows


def _type(kind: str, description: str, nested: dict[str, Any]) -> dict[str, Any]:
    linked = LINKED.match(kind)
    if linked:
        label = linked.group("label").rstrip("*")
        item = nested or {"type": "object"}
        return {"type": "array", "items": item} if label.endswith("[]") else item
    if kind == "object":
        return nested or {"type": "object"}
    if kind == "enum":
        listed = description.partition("One of")[2]
        return {"type": "string", "enum": re.findall(r'"([^"]+)"', listed)}
    if kind.lower() not in SCALARS:
        raise ValueError(f"an OSDI type this reader does not know: {kind!r}")
    return dict(SCALARS[kind.lower()])


def resource_schema(page: str, fields_heading: str) -> dict[str, Any]:
    """The schema of the resource a page defines (``people.md``, "People Fields")."""
    rows = field_rows(page)
    nested: dict[str, list[tuple[str, str, str]]] = {}
    for _heading, field, kind, description in rows:
        if "." in field:
            parent, _, child = field.partition(".")
            nested.setdefault(parent, []).append((child, kind, description))

    def object_of(children: list[tuple[str, str, str]]) -> dict[str, Any]:
        if not children:
            return {}
        if any(child == "[key]" for child, _k, _d in children):
            (kind,) = [k for child, k, _d in children if child == "[key]"]
            return {"type": "object", "additionalProperties": _type(kind, "", {})}
        below: dict[str, list[tuple[str, str, str]]] = {}
        direct: list[tuple[str, str, str]] = []
        for child, kind, description in children:
            if "." in child:
                head, _, rest = child.partition(".")
                below.setdefault(head, []).append((rest, kind, description))
            else:
                direct.append((child, kind, description))
        properties = {
            child: _type(kind, description, object_of(below.get(child, [])))
            for child, kind, description in direct
        }
        return {"type": "object", "properties": properties, "additionalProperties": False}

    top = [
        (field, kind, description)
        for heading, field, kind, description in rows
        if heading in ("Common Fields", fields_heading) and "." not in field
    ]
    properties = {
        field: _type(kind, description, object_of(nested.get(field, [])))
        for field, kind, description in top
    }
    properties["_links"] = {"type": "object"}
    return {"type": "object", "properties": properties, "additionalProperties": False}


def collection_fields() -> dict[str, Any]:
    """The attributes every OSDI collection response has (the spec's README)."""
    rows = field_rows("README.md")
    return {
        field: _type(kind, description, {})
        for heading, field, kind, description in rows
        if heading == "Collections and Navigation" and kind == "integer"
    }


def person() -> dict[str, Any]:
    return resource_schema("people.md", "People Fields")


def signature() -> dict[str, Any]:
    """A signature, with its person embedded the HAL way (``_embedded``)."""
    schema = resource_schema("signatures.md", "Signature Fields")
    schema["properties"]["_embedded"] = {
        "type": "object",
        "properties": {"osdi:person": person()},
        "additionalProperties": False,
    }
    return schema


def signatures_collection() -> dict[str, Any]:
    """An ``osdi:signatures`` collection with its signatures embedded."""
    properties = collection_fields()
    properties["_links"] = {"type": "object"}
    properties["_embedded"] = {
        "type": "object",
        "properties": {"osdi:signatures": {"type": "array", "items": signature()}},
        "additionalProperties": False,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }


def record_signature_helper() -> dict[str, Any]:
    """A body for the Record Signature Helper: a signature with ``person`` inline."""
    schema = resource_schema("record_signature.md", "Record Signature Helper Fields")
    schema["properties"]["person"] = person()
    return schema
