"""A small PNG bar chart of participation per week (Pillow). Pure: values in, bytes out.

Same input, same bytes: no timestamps or metadata go into the PNG and the font is Pillow's
embedded default, so the file can be compared, cached and tested byte for byte.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import cache

from PIL import Image, ImageDraw, ImageFont

from bot.domain.digest import WeekParticipation

WIDTH, HEIGHT = 600, 240
TITLE = "People taking part per week, last 12 weeks"

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_BACKGROUND = (255, 255, 255)
_INK = (11, 12, 12)
_MUTED = (80, 90, 95)
_AXIS = (177, 180, 182)
_BAR = (29, 112, 184)  # a blue with good contrast on white
_LATEST = (0, 48, 120)  # the digest's own week stands out

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@cache
def _font(size: int) -> Font:
    # Pillow >= 10.1 embeds a scalable default font (needs FreeType, which wheels include);
    # older builds fall back to the fixed bitmap font. Either is deterministic.
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # pragma: no cover - Pillow < 10.1
        return ImageFont.load_default()


def week_label(point: WeekParticipation) -> str:
    """The Monday the week starts on, e.g. "7 Apr": shorter than an ISO week, easier to read."""
    return f"{point.week_start.day} {_MONTHS[point.week_start.month - 1]}"


def chart_alt_text(points: Sequence[WeekParticipation]) -> str:
    """A text equivalent for screen readers (files.uploadV2 alt_txt, the HTML img alt)."""
    if not points:
        return "No participation data."
    values = ", ".join(f"{week_label(p)}: {p.participants}" for p in points)
    return f"Bar chart of people taking part per week, oldest first. {values}."


def _text_width(draw: ImageDraw.ImageDraw, text: str, font: Font) -> float:
    left, _, right, _ = draw.textbbox((0, 0), text, font=font)
    return right - left


def participation_chart(
    points: Sequence[WeekParticipation],
    *,
    title: str = TITLE,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> bytes:
    """A PNG of participants per week, one bar per point, oldest on the left. Returns bytes."""
    image = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(image)
    title_font, label_font = _font(14), _font(11)

    draw.text((12, 10), title, fill=_INK, font=title_font)

    # Plot area: room above for the title, below for week labels, and above each bar for
    # its value.
    left, right = 12, width - 12
    top, bottom = 52, height - 28
    draw.line([(left, bottom), (right, bottom)], fill=_AXIS, width=1)

    if not points:
        draw.text((left, top), "No data yet", fill=_MUTED, font=label_font)
    else:
        peak = max(p.participants for p in points)
        if peak == 0:
            note = "Nobody has replied in these weeks yet"
            x = round((left + right - _text_width(draw, note, label_font)) / 2)
            draw.text((x, (top + bottom) // 2), note, fill=_MUTED, font=label_font)
        slot = (right - left) / len(points)
        bar_width = max(2, int(slot * 0.6))
        for index, point in enumerate(points):
            centre = left + slot * index + slot / 2
            # A zero week has no bar at all; scale against the peak (1 if all are zero).
            bar_height = (bottom - top) * point.participants / max(peak, 1)
            x0 = round(centre - bar_width / 2)
            if point.participants:
                colour = _LATEST if index == len(points) - 1 else _BAR
                draw.rectangle(
                    [(x0, round(bottom - bar_height)), (x0 + bar_width - 1, bottom - 1)],
                    fill=colour,
                )
            value = str(point.participants)
            draw.text(
                (
                    round(centre - _text_width(draw, value, label_font) / 2),
                    round(bottom - bar_height) - 15,
                ),
                value,
                fill=_INK,
                font=label_font,
            )
            label = week_label(point)
            draw.text(
                (round(centre - _text_width(draw, label, label_font) / 2), bottom + 6),
                label,
                fill=_MUTED,
                font=label_font,
            )

    buffer = io.BytesIO()
    # optimize=False and no pnginfo: nothing in the file varies between runs.
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
