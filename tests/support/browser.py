"""Debian's Chromium driven by Playwright (never a downloaded browser), with console errors collected."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "build" / "screenshots"
ADMIN_PASSWORD = "browser-test-admin-4711"  # the dashboard tests' `iotmon up` makes its admin with it
# What the browser logs while the service is down (the offline banner's test): not errors of the dashboard.
OFFLINE_NOISE = ("ERR_CONNECTION_REFUSED", "WebSocket connection", "Failed to load resource")
# Without the background-networking flags Chromium keeps dialling Google on this closed network.
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise RuntimeError(
            "Chromium is not installed: `make test` installs Debian's `chromium` (apt-get install chromium)"
        )
    return found


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


class ConsoleErrors(list):
    """Every console error and uncaught exception of a page."""

    def __init__(self, page: Page, ignore: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.ignore = ignore
        page.on("console", lambda message: message.type == "error" and self._add(message.text))
        page.on("pageerror", lambda error: self._add(f"uncaught: {error}"))

    def _add(self, text: str) -> None:
        if not any(pattern in text for pattern in self.ignore):
            self.append(text)


def screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot kept as a test artifact in build/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
