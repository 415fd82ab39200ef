"""What the browser tests share: one `iotmon up` (embedded, simulator on) and one headless Chromium.

The service runs on a fixed port and data directory (tests/support/up.py: Service), so that a test can
stop it and start it again (the offline banner); every test gets a fresh browser context whose console
errors fail it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.support.browser import ADMIN_PASSWORD, OFFLINE_NOISE, ConsoleErrors, chromium
from tests.support.up import REPO, Service

SETTINGS = {
    "IOTMON_ADMIN_PASSWORD": ADMIN_PASSWORD,
    "IOTMON_RATE_LIMIT": "1000000",
    "IOTMON_ANONYMOUS_READ": "true",
    # The simulator's own anomalies could open an alert on a device a test opens one on (one open alert per
    # device and type, and a test looks for its own): the simulated values stay normal, noisy and drifting.
    "IOTMON_ANOMALY_RATE": "0",
}


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    assert (REPO / "frontend" / "dist" / "index.html").exists(), "the dashboard is not built: run `make dashboard`"
    running = Service(tmp_path_factory.mktemp("dashboard-data"), tmp_path_factory.mktemp("logs") / "up.log", SETTINGS)
    running.start(fresh=True)
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, service: Service) -> Iterator[Page]:
    """A page on the service (1400 × 900); the test fails on any console error it logs."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=service.url)
    opened = context.new_page()
    opened.errors = ConsoleErrors(opened, ignore=OFFLINE_NOISE if service.up is None else ())
    yield opened
    errors = list(opened.errors)
    context.close()
    assert errors == [], f"console errors: {errors}"
