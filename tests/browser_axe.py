"""axe-core in Debian's chromium, headless, driven by selenium through /usr/bin/chromedriver.

Nothing here downloads a browser or a driver: chromium and chromedriver come from apt and
axe-core from the npm registry, pinned in tests/a11y/package-lock.json (`make a11y-deps`
installs all three). Where they are missing the tests skip and say what to install, unless
LEADERBOT_TEST_CHROMIUM is set (`.ci/run` sets it): then a missing piece fails the run, so CI
can never pass by skipping.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM_ENV = "LEADERBOT_TEST_CHROMIUM"
CHROMEDRIVER_ENV = "LEADERBOT_TEST_CHROMEDRIVER"
AXE_PATH = Path(__file__).parent / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
INSTALL_HINT = "run `make a11y-deps` (apt-get install chromium chromium-driver; npm ci)"

WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa")
"""What the issue asks for: WCAG 2.0, 2.1 and 2.2, levels A and AA."""
EXTRA_TAGS = ("best-practice",)
"""Deque's best practices too: one main landmark, all content in landmarks, headings in order,
a level-one heading. Not WCAG failures by themselves, but what a screen reader user leans on."""

# Chromium flags: headless, and nothing that reaches for the network on its own (with no
# network, background fetches make it slow and erratic).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


@dataclass(frozen=True, slots=True)
class Tools:
    chromium: str
    chromedriver: str
    axe: Path


def required() -> bool:
    """In CI (LEADERBOT_TEST_CHROMIUM set) a missing tool is a failure, not a skip."""
    return bool(os.environ.get(CHROMIUM_ENV))


def find_tools() -> Tools | str:
    """The three tools, or why they cannot be used."""
    chromium = os.environ.get(CHROMIUM_ENV) or shutil.which("chromium")
    chromedriver = os.environ.get(CHROMEDRIVER_ENV) or shutil.which("chromedriver")
    missing = []
    if not chromium or not Path(chromium).exists():
        missing.append(f"chromium ({chromium or 'not on PATH'})")
    if not chromedriver or not Path(chromedriver).exists():
        missing.append(f"chromedriver ({chromedriver or 'not on PATH'})")
    if not AXE_PATH.exists():
        missing.append(f"axe-core ({AXE_PATH} absent)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install -e '.[dev]')")
    if missing:
        return f"accessibility test needs {', '.join(missing)}: {INSTALL_HINT}"
    assert chromium and chromedriver
    return Tools(chromium, chromedriver, AXE_PATH)


class Browser:
    """One headless chromium with a fresh profile; `check` loads a page and runs axe-core."""

    def __init__(self, tools: Tools, profile: Path) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = tools.chromium
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        # An explicit driver and browser: selenium's own manager (which downloads) is not used.
        self.driver = webdriver.Chrome(options=options, service=Service(tools.chromedriver))
        self.driver.set_script_timeout(60)
        self.axe_source = tools.axe.read_text(encoding="utf-8")

    def close(self) -> None:
        self.driver.quit()

    def check(self, page: Path, *, width: int = 1024) -> dict[str, Any]:
        """axe-core's results for `page` (a local file) at `width` CSS pixels."""
        self.driver.set_window_size(width, 900)
        self.driver.get(page.as_uri())
        # WebDriver scripts run outside the page's CSP (which forbids scripts), as an
        # extension's would: the page itself stays script-free.
        self.driver.execute_script(self.axe_source)
        results = self.driver.execute_async_script(
            """
            const done = arguments[arguments.length - 1];
            axe.run(document, {runOnly: {type: "tag", values: arguments[0]}})
               .then(done, (error) => done({error: String(error)}));
            """,
            [*WCAG_TAGS, *EXTRA_TAGS],
        )
        if "error" in results:
            raise RuntimeError(f"axe-core failed: {results['error']}")
        return results

    def scroll_width(self) -> int:
        return int(self.driver.execute_script("return document.documentElement.scrollWidth"))


def describe(violations: list[dict[str, Any]]) -> str:
    """Violations as a readable list, for an assertion message."""
    lines = []
    for v in violations:
        targets = [" ".join(map(str, node["target"])) for node in v["nodes"][:5]]
        lines.append(f"{v['id']} ({v['impact']}, {', '.join(v['tags'])}): {v['help']} at {targets}")
    return "\n".join(lines)


def open_browser(tools: Tools, profile: Path) -> Iterator[Browser]:
    browser = Browser(tools, profile)
    try:
        yield browser
    finally:
        browser.close()
