"""The participation chart: a PNG that decodes, at the right size, the same bytes every time."""

from __future__ import annotations

import io
from datetime import date, timedelta

from PIL import Image, ImageDraw

from bot.domain.chart import (
    HEIGHT,
    WIDTH,
    _font,
    _text,
    chart_alt_text,
    participation_chart,
    week_label,
)
from bot.domain.digest import WeekParticipation, participation_series
from bot.domain.language import translator

FIRST = date(2025, 1, 20)
VALUES = [0, 3, 5, 8, 2, 0, 12, 9, 7, 4, 6, 10]
POINTS = [WeekParticipation(FIRST + timedelta(weeks=i), v, v * 2) for i, v in enumerate(VALUES)]


def decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def test_png_decodes_at_the_right_size() -> None:
    png = participation_chart(POINTS)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = decode(png)
    assert image.format == "PNG"
    assert image.size == (WIDTH, HEIGHT) == (600, 240)


def test_deterministic_bytes_for_the_same_input() -> None:
    assert participation_chart(POINTS) == participation_chart(list(POINTS))
    assert participation_chart(POINTS) != participation_chart(POINTS[::-1])
    assert participation_chart(POINTS, title="Another title") != participation_chart(POINTS)


def test_bars_are_drawn_tallest_for_the_peak() -> None:
    image = decode(participation_chart(POINTS)).convert("RGB")
    slot = (WIDTH - 24) / len(POINTS)

    def coloured_rows(index: int) -> int:
        x = round(12 + slot * index + slot / 2)
        return sum(
            1 for y in range(HEIGHT) if image.getpixel((x, y)) in {(29, 112, 184), (0, 48, 120)}
        )

    heights = [coloured_rows(i) for i in range(len(POINTS))]
    assert heights[0] == 0 and heights[5] == 0  # zero weeks have no bar
    assert max(heights) == heights[6]  # the 12-person week
    assert heights[3] > heights[1] > 0
    # The latest week is drawn in the darker colour.
    x = round(12 + slot * 11 + slot / 2)
    assert image.getpixel((x, HEIGHT - 30)) == (0, 48, 120)


def test_all_zero_and_empty_series_still_render() -> None:
    zeros = participation_series([], FIRST)
    assert decode(participation_chart(zeros)).size == (600, 240)
    assert decode(participation_chart([])).size == (600, 240)
    assert decode(participation_chart(POINTS, width=300, height=120)).size == (300, 120)


def test_labels_and_alt_text() -> None:
    assert week_label(POINTS[0]) == "20 Jan"
    alt = chart_alt_text(POINTS)
    assert alt.startswith("Bar chart of people taking part per week")
    assert "20 Jan: 0" in alt and "7 Apr: 10" in alt
    assert chart_alt_text([]) == "No participation data."


def test_a_week_far_below_the_peak_still_gets_a_bar() -> None:
    # 1 person against 1,000 is under half a pixel at this height: it was an empty
    # rectangle, which Pillow rejects; it is now one pixel high.
    points = [WeekParticipation(FIRST, 1000, 1000), WeekParticipation(FIRST + timedelta(7), 1, 1)]
    image = decode(participation_chart(points)).convert("RGB")
    slot = (WIDTH - 24) / 2
    x = round(12 + slot + slot / 2)
    column = [image.getpixel((x, y)) for y in range(HEIGHT)]
    assert column.count((0, 48, 120)) == 1


def test_cached_text_draws_what_imagedraw_draws() -> None:
    """Texts are rendered once into masks and pasted: the same pixels as `ImageDraw.text`,
    over any background."""
    for text, size in [("People taking part", 14), ("7 Apr", 11), ("12", 11), ("Ÿj|g", 11)]:
        for fill in [(11, 12, 12), (80, 90, 95)]:
            expected = Image.new("RGB", (120, 40), (255, 255, 255))
            expected.paste((29, 112, 184), (0, 0, 60, 40))
            actual = expected.copy()
            ImageDraw.Draw(expected).text((5, 7), text, fill=fill, font=_font(size))
            _text(actual, (5, 7), text, fill, size)
            assert expected.tobytes() == actual.tobytes(), (text, size, fill)


def test_the_chart_and_its_text_alternative_follow_the_language() -> None:
    points = [WeekParticipation(date(2025, 1, 6) + timedelta(weeks=i), i % 5, i) for i in range(12)]
    welsh = chart_alt_text(points, translator("cy"))
    assert welsh.startswith("Siart bar o'r bobl") and "6 Ion: 0" in welsh
    both = chart_alt_text(points, translator("both"))
    assert both.index("Siart bar") < both.index("Bar chart of people")
    # Drawn in each language (a two-line title for both), and differently from English.
    pngs = {lang: participation_chart(points, t=translator(lang)) for lang in ("en", "cy", "both")}
    assert len(set(pngs.values())) == 3
    assert all(png.startswith(b"\x89PNG") for png in pngs.values())
