"""The Teams app package: manifest.json and two icons in a zip, to upload to Teams (Apps →
Manage your apps → Upload an app) or to the organisation's app catalogue. Pure but for the
file it writes.

The manifest (schema 1.17) declares:
- the bot, in team scope only (it serves channels), with its @mention command menu;
- `webApplicationInfo` with the app id, and the resource-specific consent permissions
  `ChannelMessage.Read.Group` (replies reach the bot without an @mention, and Graph lets it
  read its threads back) and `TeamMember.Read.Group` (team owners may change settings);
- icons generated here with Pillow: color.png 192×192 and outline.png 32×32 (white on
  transparent), as the manifest requires.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

MANIFEST_VERSION = "1.17"
SCHEMA = (
    "https://developer.microsoft.com/en-us/json-schemas/teams/"
    f"v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
)
APP_VERSION = "1.0.0"
ACCENT = "#1D3C6E"
COLOR_ICON_PX = 192
OUTLINE_ICON_PX = 32
MENU_LIMIT = 10  # a bot's command menu shows at most 10 commands (older schemas enforce it)
RSC_PERMISSIONS = ("ChannelMessage.Read.Group", "TeamMember.Read.Group")
DEFAULT_WEBSITE = "https://github.com/socitm/leaderbot"

# The @mention command menu, in the order shown. Every command works when typed; the menu
# holds the first MENU_LIMIT ("resume" and "admins" are typed, or found through "help").
COMMANDS: tuple[tuple[str, str], ...] = (
    ("help", "What leaderbot can do, and how to ask it"),
    ("status", "This channel's schedule, digest and feeds"),
    ("questions", "The ten leadership questions, with their IDs"),
    ("ask", "Post a question now, e.g. ask Q3"),
    ("schedule", "Set the weekly question, e.g. schedule mon 09:00"),
    ("pause", "Pause the weekly question, e.g. pause until 2026-09-01"),
    ("digest", "Set the weekly digest, e.g. digest fri 16:00, or digest now"),
    ("feeds", "The report feeds this channel follows; feeds add URL"),
    ("alerts", "Report alerts in this channel: alerts on, or alerts off"),
    ("quiet", "Pre-election quiet periods: quiet add 2027-03-25 2027-05-06, quiet list"),
    ("resume", "Start posting again after a pause"),
    ("admins", "Who can change settings; admins add or remove a person"),
)


def manifest(app_id: str, *, website: str = DEFAULT_WEBSITE) -> dict[str, Any]:
    website = website.rstrip("/")
    return {
        "$schema": SCHEMA,
        "manifestVersion": MANIFEST_VERSION,
        "version": APP_VERSION,
        "id": app_id,
        "developer": {
            "name": "leaderbot",
            "websiteUrl": website,
            "privacyUrl": f"{website}#privacy",
            "termsOfUseUrl": f"{website}#terms",
        },
        "name": {"short": "leaderbot", "full": "leaderbot: the weekly leadership question"},
        "description": {
            "short": "The weekly Socitm leadership question, a digest, and report alerts.",
            "full": (
                "Each week leaderbot posts one of Socitm's ten key questions for public-sector "
                "leaders to a channel, collects the replies in the question's thread, and "
                "sends a weekly digest of them. It can also alert the channel to new Socitm "
                "reports. Team owners set it up with @leaderbot schedule, digest and feeds."
            ),
        },
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": ACCENT,
        "bots": [
            {
                "botId": app_id,
                "scopes": ["team"],
                "supportsFiles": False,
                "isNotificationOnly": False,
                "commandLists": [
                    {
                        "scopes": ["team"],
                        "commands": [
                            {"title": title, "description": description}
                            for title, description in COMMANDS[:MENU_LIMIT]
                        ],
                    }
                ],
            }
        ],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [],
        "webApplicationInfo": {"id": app_id, "resource": f"api://botid-{app_id}"},
        "authorization": {
            "permissions": {
                "resourceSpecific": [
                    {"name": name, "type": "Application"} for name in RSC_PERMISSIONS
                ]
            }
        },
    }


def _mark(draw: ImageDraw.ImageDraw, size: int, fill: tuple[int, ...]) -> None:
    """A speech bubble: legible at 32 px (the colour icon adds a mark inside)."""
    m = size // 6
    draw.rounded_rectangle((m, m, size - m, size - 2 * m), radius=size // 8, fill=fill)
    draw.polygon(
        [(size // 3, size - 2 * m - 1), (size // 3, size - m), (size // 2, size - 2 * m - 1)],
        fill=fill,
    )


def color_icon() -> bytes:
    image = Image.new("RGBA", (COLOR_ICON_PX, COLOR_ICON_PX), ACCENT)
    draw = ImageDraw.Draw(image)
    _mark(draw, COLOR_ICON_PX, (255, 255, 255, 255))
    bar = COLOR_ICON_PX // 2
    draw.rectangle((bar - 8, 60, bar + 8, 100), fill=ACCENT)
    draw.rectangle((bar - 8, 108, bar + 8, 120), fill=ACCENT)
    return _png(image)


def outline_icon() -> bytes:
    """White on transparent, as Teams requires for the outline icon."""
    image = Image.new("RGBA", (OUTLINE_ICON_PX, OUTLINE_ICON_PX), (0, 0, 0, 0))
    _mark(ImageDraw.Draw(image), OUTLINE_ICON_PX, (255, 255, 255, 255))
    return _png(image)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def build_package(app_id: str, *, website: str = DEFAULT_WEBSITE) -> bytes:
    """The zip's bytes: manifest.json, color.png and outline.png at its root."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest(app_id, website=website), indent=2))
        archive.writestr("color.png", color_icon())
        archive.writestr("outline.png", outline_icon())
    return out.getvalue()


def write_package(path: Path, app_id: str, *, website: str = DEFAULT_WEBSITE) -> Path:
    path.write_bytes(build_package(app_id, website=website))
    return path
