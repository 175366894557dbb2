"""The participation chart: a PNG that decodes, at the right size, the same bytes every time."""

from __future__ import annotations

import io
from datetime import date, timedelta

from PIL import Image

from bot.domain.chart import HEIGHT, WIDTH, chart_alt_text, participation_chart, week_label
from bot.domain.digest import WeekParticipation, participation_series

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
