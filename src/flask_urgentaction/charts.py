"""Bar charts drawn on the server as inline SVG: no script, no chart library.

Each chart is an accessible image (``role="img"``, named by its ``<title>`` and
described by its ``<desc>``); pages put the same figures in a table after it.
Every text is escaped, and the markup is well-formed XML. Right-to-left pages
get charts that read from the right: the bars' positions are mirrored, while
the texts keep their own direction (the SVG's ``direction`` makes ``start`` and
``end`` anchors logical, as in the page). Colours come from classes that
manage.css styles; the attributes are fallbacks, since a strict CSP refuses
``style`` attributes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# The drawing's own units; the SVG scales to its container's width.
WIDTH = 480
COLUMN_HEIGHT = 180
ROW_HEIGHT = 26
FONT = 14
# Room for a label beside each horizontal bar, and the longest label drawn there
# (the table after the chart has the whole name): 20 characters of the page's
# system-ui font, "Bosnia & Herzegovina" in Chromium 155 units wide, fit in it.
LABEL_WIDTH = 180
LABEL_CHARS = 20
# Room after the longest horizontal bar for its value ("1,000,000").
VALUE_WIDTH = 80


@dataclass(frozen=True)
class Bar:
    label: str  # what the bar stands for: a day, a country
    value: int
    value_text: str  # the value as the page writes numbers
    title: str = ""  # a tooltip; the label and value if empty


def _attrs(**values: object) -> str:
    return "".join(f' {name.replace("_", "-")}="{escape(value)}"' for name, value in values.items())


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1].rstrip() + "…"


def _open(chart_id: str, height: int, title: str, desc: str, rtl: bool) -> list[str]:
    box = _attrs(id=chart_id, viewBox=f"0 0 {WIDTH} {height}", width=WIDTH, height=height)
    named = _attrs(aria_labelledby=f"{chart_id}-title", aria_describedby=f"{chart_id}-desc")
    text = _attrs(direction="rtl" if rtl else "ltr", font_size=FONT)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ua-chart"{box} role="img"{named}{text}>',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>',
    ]


def _text(x: float, y: float, anchor: str, text: str) -> str:
    place = _attrs(x=f"{x:.1f}", y=f"{y:.1f}", text_anchor=anchor)
    return f'<text class="ua-chart-text"{place}>{escape(text)}</text>'


def _bar(x: float, y: float, width: float, height: float, bar: Bar) -> str:
    tip = bar.title or f"{bar.label}: {bar.value_text}"
    box = _attrs(x=f"{x:.1f}", y=f"{y:.1f}", width=f"{width:.1f}", height=f"{height:.1f}")
    return (f'<rect class="ua-chart-bar" fill="#b3261e"{box}>'
            f"<title>{escape(tip)}</title></rect>")  # fmt: skip


def column_chart(
    bars: Sequence[Bar], chart_id: str, title: str, desc: str, rtl: bool = False
) -> Markup:
    """Vertical bars side by side in time order (the first on the left, or on the
    right in RTL), the highest value written at the top and the first and last
    labels under the axis."""
    top, axis = FONT + 8, COLUMN_HEIGHT - FONT - 10
    parts = _open(chart_id, COLUMN_HEIGHT, title, desc, rtl)
    peak = max((bar.value for bar in bars), default=0)
    slot = WIDTH / max(len(bars), 1)
    gap = min(slot * 0.2, 4)
    for index, bar in enumerate(bars):
        height = (axis - top) * bar.value / peak if peak else 0
        # At least a sliver for a non-zero day, so it is never mistaken for none.
        height = max(height, 1.5) if bar.value else 0
        x = index * slot + gap / 2
        if rtl:
            x = WIDTH - x - (slot - gap)
        parts.append(_bar(x, axis - height, slot - gap, height, bar))
    line = _attrs(x1=0, y1=axis + 0.5, x2=WIDTH, y2=axis + 0.5, stroke="#49454f")
    parts.append(f'<line class="ua-chart-axis"{line} />')
    # Logical anchors: "start" is the left in LTR and the right in RTL.
    first_x, last_x = (WIDTH, 0) if rtl else (0, WIDTH)
    if peak:
        top_bar = next(bar for bar in bars if bar.value == peak)
        parts.append(_text(first_x, FONT, "start", top_bar.value_text))
    if bars:
        below = axis + FONT + 6
        parts.append(_text(first_x, below, "start", bars[0].label))
        if len(bars) > 1:
            parts.append(_text(last_x, below, "end", bars[-1].label))
    parts.append("</svg>")
    return Markup("\n".join(parts))


def bar_chart(
    bars: Sequence[Bar], chart_id: str, title: str, desc: str, rtl: bool = False
) -> Markup:
    """Horizontal bars one under the other, in the order given, each with its
    label before it and its value after it; they grow from the left, or from
    the right in RTL."""
    height = max(len(bars), 1) * ROW_HEIGHT + 4
    parts = _open(chart_id, height, title, desc, rtl)
    room = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    peak = max((bar.value for bar in bars), default=0)
    for index, bar in enumerate(bars):
        y = index * ROW_HEIGHT + 2
        length = room * bar.value / peak if peak else 0
        length = max(length, 1.5) if bar.value else 0
        x = WIDTH - LABEL_WIDTH - length if rtl else LABEL_WIDTH
        parts.append(_bar(x, y + 3, length, ROW_HEIGHT - 6, bar))
        baseline = y + ROW_HEIGHT / 2 + FONT / 3
        label_x = WIDTH - LABEL_WIDTH + 6 if rtl else LABEL_WIDTH - 6
        value_x = x - 6 if rtl else x + length + 6
        parts.append(_text(label_x, baseline, "end", _short(bar.label)))
        parts.append(_text(value_x, baseline, "start", bar.value_text))
    parts.append("</svg>")
    return Markup("\n".join(parts))
