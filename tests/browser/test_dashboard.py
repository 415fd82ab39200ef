"""The dashboard in real headless Chromium against a running `iotmon up` (embedded, simulator on).

The four views with live data, both device charts, the heatmap, an operator
acknowledging an alert (in the list and in the API), an admin making and
revoking a gateway API key, the theme toggle, the
phone layout without horizontal scrolling, and the offline banner with an
action queued while the service is down and sent when it is back.
Screenshots of every view land in build/screenshots/. The service, the browser
and the `page` fixture are in tests/browser/conftest.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.auth import gateway_headers
from tests.support.browser import ADMIN_PASSWORD, OFFLINE_NOISE, ConsoleErrors, screenshot
from tests.support.up import Service
from tests.support.waiting import wait_for

DEVICES = ["device-001", "device-002", "device-003", "device-004", "device-005"]
VIEWS = {"overview": "/", "device": "/devices/device-001", "alerts": "/alerts", "analytics": "/analytics"}
CHARTS = {"overview": 0, "device": 2, "alerts": 2, "analytics": 3}  # Plotly charts each view draws, at least
# How far ahead the readings a test posts are stamped (see open_alert): more than its wait for the alert, and
# within ingest's 5-minute allowance for clock skew.
AHEAD = timedelta(minutes=2)

pytestmark = pytest.mark.timeout(300)


def log_in(page: Page) -> None:
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("dialog").get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="admin · Log out")).to_be_visible()


def open_alert(service: Service, device: str, value: float, sensor_type: str, unit: str) -> str:
    """Readings past a device's alert limit, as a gateway posts them; returns the alert they open.

    The simulator keeps sending the same device, and evaluate-rule ignores readings at or before the newest it
    has judged for a device: stamped `now`, ours could lose that race to one of the simulator's stamped a
    moment later and never be judged. Stamped AHEAD, they are the newest the rule engine has seen for as long
    as the test waits for the alert; and as the simulator's readings are older until then, the alert cannot
    clear by itself while the test acts on it."""
    at = datetime.now(UTC) + AHEAD
    readings = [
        {
            "deviceId": device,
            "timestamp": (at + timedelta(milliseconds=10 * i))
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "sensorType": sensor_type,
            "value": value,
            "unit": unit,
        }
        for i in range(3)
    ]
    answer = httpx.post(
        f"{service.url}/api/readings", json={"readings": readings}, headers=gateway_headers(), timeout=10
    )
    assert answer.status_code == 202

    def opened() -> str | None:
        alerts = httpx.get(
            f"{service.url}/api/alerts", params={"deviceId": device, "status": "open"}, timeout=10
        ).json()["data"]["alerts"]
        return next((a["id"] for a in alerts if a["value"] == value), None)

    return wait_for(opened, timeout=20, what=f"an alert for {device} at {value}")


def card_values(page: Page) -> dict[str, str]:
    return {
        device: page.locator(f"[data-device={device}] [data-testid=device-value]").inner_text() for device in DEVICES
    }


def plotted(page: Page, trace_type: str) -> int:
    """Plotly charts on the page with a drawn trace of this type."""
    return page.evaluate(
        "(type) => [...document.querySelectorAll('.js-plotly-plot')].filter(el => (el.data || []).some(t => (t.type || 'scatter') === type && (t.x || t.z || []).length > 0)).length",
        trace_type,
    )


def charts_drawn(page: Page, at_least: int) -> bool:
    """The page has at least that many Plotly charts, and Plotly has drawn every one of them."""
    return page.evaluate(
        "(least) => { const plots = [...document.querySelectorAll('.plot')];"
        " return plots.length >= least && plots.every(el => el.querySelector('.main-svg')); }",
        at_least,
    )


def test_the_service_serves_the_built_dashboard_compressed_and_cacheable(service: Service):
    index = httpx.get(f"{service.url}/devices/device-003", timeout=10)  # a client-side route gets the app
    assert index.status_code == 200 and '<div id="root">' in index.text
    assert index.headers["cache-control"] == "no-cache"
    script = next(line.split('src="')[1].split('"')[0] for line in index.text.splitlines() if "<script" in line)
    asset = httpx.get(f"{service.url}{script}", headers={"accept-encoding": "gzip"}, timeout=10)
    assert asset.status_code == 200 and asset.headers["content-encoding"] == "gzip"
    assert "immutable" in asset.headers["cache-control"]


def test_overview_shows_five_live_devices_whose_values_change(page: Page):
    page.goto("/")
    expect(page.locator("[data-device]")).to_have_count(5)
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible(timeout=15_000)
    wait_for(lambda: "—" not in "".join(card_values(page).values()), timeout=20, what="a value on every card")
    first = card_values(page)
    changed = wait_for(
        lambda: (n := sum(card_values(page)[d] != first[d] for d in DEVICES)) >= 4 and n,
        timeout=30,
        what="live values changing",
    )
    assert changed >= 4
    expect(page.get_by_label("System health").get_by_text("Database")).to_be_visible()
    screenshot(page, "overview")


def test_device_page_draws_the_live_and_the_history_chart(page: Page):
    page.goto(VIEWS["device"])
    expect(page.get_by_role("heading", name="Temperature sensor #1")).to_be_visible()
    wait_for(lambda: plotted(page, "scatter") >= 2, timeout=30, what="both device charts drawn")
    expect(page.get_by_label("Live (last 5 minutes)").locator(".scatterlayer .trace path.js-line")).to_have_count(1)
    page.get_by_role("button", name="24h").click()
    expect(page.get_by_role("button", name="24h")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_label("Statistics").get_by_role("row")).to_have_count(3)
    expect(page.get_by_test_id("time-to-threshold")).not_to_be_empty()
    with page.expect_download() as csv:
        page.get_by_role("button", name="Download History data as CSV").click()
    assert Path(csv.value.path()).read_bytes().startswith((b"timestamp,value\r\n", b"timestamp,mean,min,max,count\r\n"))
    with page.expect_download() as png:
        page.get_by_role("button", name="Download Live (last 5 minutes) as PNG").click()
    assert Path(png.value.path()).read_bytes().startswith(b"\x89PNG")
    screenshot(page, "device")


def test_analytics_draws_the_heatmap_and_comparisons(page: Page, service: Service):
    page.goto(VIEWS["analytics"])
    wait_for(lambda: plotted(page, "heatmap") == 1, timeout=30, what="the hourly heatmap")
    wait_for(
        lambda: plotted(page, "bar") >= 1 and plotted(page, "scatter") >= 1,
        timeout=30,
        what="comparison and utilisation charts",
    )
    expect(page.get_by_label("Trends across devices").get_by_role("row")).to_have_count(6)
    screenshot(page, "analytics")


def test_an_operator_tries_a_draft_configuration_on_the_history_before_saving_it(page: Page, service: Service):
    page.goto(VIEWS["device"])
    log_in(page)
    config = page.get_by_role("form", name="Device configuration")
    config.get_by_label("Normal to").fill("30")
    config.get_by_label("Alert above").fill("31")  # the simulated temperature runs far above: it would fire
    config.get_by_role("button", name="Try on the last 7 days").click()
    summary = page.get_by_test_id("backtest-summary")
    expect(summary).to_contain_text("would have fired", timeout=15_000)
    assert "threshold exceeded" in summary.inner_text()
    expect(page.get_by_role("button", name="7d")).to_have_attribute("aria-pressed", "true")
    markers = "() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(el => el.data || [])"
    markers += ".filter(t => t.name === 'would have fired' && t.x.length > 0).length"
    wait_for(lambda: page.evaluate(markers) == 1, timeout=15, what="the would-be alerts on the history chart")
    device = httpx.get(f"{service.url}/api/devices/device-001", timeout=10).json()["data"]["device"]
    assert device["config"]["alertMax"] == 85.0  # tried, not saved
    screenshot(page, "device-backtest")


def test_an_operator_acknowledges_an_alert_in_the_list_and_the_api(page: Page, service: Service):
    page.goto(VIEWS["alerts"])
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible(timeout=15_000)
    alert_id = open_alert(service, "device-002", 70.0, "pressure", "psi")
    expect(page.locator(".Toastify").get_by_text("device-002 Threshold exceeded")).to_be_visible(
        timeout=15_000
    )  # heard live
    row = page.locator(f"tr[data-alert={alert_id}]").first
    expect(row).to_be_visible(timeout=15_000)
    expect(row.get_by_role("button", name="Acknowledge")).to_have_count(0)  # viewers read only
    log_in(page)
    row.get_by_role("button", name="Acknowledge").click()
    dialog = page.get_by_role("dialog", name=f"Acknowledge {alert_id}?")
    dialog.get_by_label("Note (optional)").fill("valve checked")
    dialog.get_by_role("button", name="Acknowledge").click()
    expect(row.get_by_test_id("alert-status")).to_contain_text("Acknowledged", timeout=15_000)

    found = httpx.get(f"{service.url}/api/alerts/{alert_id}", timeout=10).json()["data"]["alert"]
    assert found["status"] == "acknowledged" and found["acknowledgedBy"] == "admin"
    assert any(change["action"] == "acknowledged" and change["note"] == "valve checked" for change in found["history"])
    screenshot(page, "alerts")


def test_an_admin_makes_a_gateway_key_sees_it_once_and_revokes_it(page: Page, service: Service):
    page.goto("/keys")
    expect(page.get_by_text("Only admins manage")).to_be_visible()
    expect(page.get_by_role("link", name="API keys")).to_have_count(0)  # not in the navigation either
    log_in(page)
    page.get_by_role("link", name="API keys").click()
    expect(page.get_by_role("cell", name="gateway", exact=False).first).to_be_visible()  # `iotmon up` made it
    form = page.get_by_role("form", name="New API key")
    form.get_by_label("Name", exact=True).fill("line 3 gateway")
    form.get_by_label("Devices", exact=True).fill("device-003")
    form.get_by_role("button", name="Make key").click()
    secret = page.get_by_test_id("api-key-secret").inner_text()
    assert secret.startswith("iotmon_gw_")
    reading = {"deviceId": "device-003", "timestamp": datetime.now(UTC).isoformat(), "sensorType": "vibration"}
    sent = {**reading, "value": 40.0, "unit": "hz"}
    assert httpx.post(f"{service.url}/api/readings", json=sent, headers={"X-API-Key": secret}).status_code == 202
    page.get_by_role("button", name="Done").click()
    expect(page.get_by_test_id("api-key-secret")).to_have_count(0)  # shown once: gone for good
    screenshot(page, "keys")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("row").filter(has_text="line 3 gateway").get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("row").filter(has_text="line 3 gateway")).to_contain_text("Revoked")
    assert httpx.post(f"{service.url}/api/readings", json=sent, headers={"X-API-Key": secret}).status_code == 401


def test_theme_toggle_is_remembered(page: Page):
    page.goto("/")
    before = page.locator("html").get_attribute("data-theme")
    page.get_by_test_id("theme-toggle").click()
    after = page.locator("html").get_attribute("data-theme")
    assert {before, after} == {"dark", "light"}
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", after)
    expect(page.locator("[data-device]")).to_have_count(5)
    screenshot(page, f"overview-{after}")


def test_keyboard_reaches_the_content_and_the_login_dialog(page: Page):
    page.goto("/")
    expect(page.locator("[data-device]")).to_have_count(5)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.get_by_role("button", name="Log in").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Username")).to_be_focused()
    for _ in range(4):  # username, password, cancel, log in: then back to the start
        page.keyboard.press("Tab")
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("button", name="Log in")).to_be_focused()


def test_phone_viewport_has_no_horizontal_scrolling(browser: Browser, service: Service):
    context = browser.new_context(
        viewport={"width": 375, "height": 812}, base_url=service.url, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    errors = ConsoleErrors(page)
    try:
        for name, path in VIEWS.items():
            page.goto(path)
            page.wait_for_load_state("networkidle")
            wait_for(lambda: page.locator("main").inner_text().strip() != "", timeout=15, what=f"{name} rendered")
            wait_for(lambda name=name: charts_drawn(page, CHARTS[name]), timeout=30, what=f"the charts of {name} drawn")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, f"{name} is {width} px wide on a 375 px phone"
            screenshot(page, f"{name}-phone")
    finally:
        context.close()
    assert list(errors) == []


def test_offline_banner_and_an_action_queued_until_the_service_is_back(page: Page, service: Service):
    alert_id = open_alert(service, "device-004", 10.0, "production", "units/hour")
    page.goto(VIEWS["alerts"])
    log_in(page)
    row = page.locator(f"tr[data-alert={alert_id}]").first
    expect(row).to_be_visible(timeout=15_000)
    page.errors.ignore = OFFLINE_NOISE  # from here the browser will fail to reach the stopped service

    service.stop()
    banner = page.get_by_role("alert").filter(has_text="unreachable")
    expect(banner).to_be_visible(timeout=15_000)
    expect(row).to_be_visible()  # the last data stays
    screenshot(page, "alerts-offline")
    row.get_by_role("button", name="Resolve").click()
    page.get_by_role("dialog").get_by_role("button", name="Resolve").click()
    expect(page.get_by_role("alert").filter(has_text="1 action(s) queued")).to_be_visible()

    service.start()
    expect(banner).to_be_hidden(timeout=60_000)
    resolved = wait_for(
        lambda: (
            (alert := httpx.get(f"{service.url}/api/alerts/{alert_id}", timeout=10).json()["data"]["alert"])["status"]
            == "resolved"
            and alert
        ),
        timeout=30,
        what="the queued resolve sent",
    )
    assert resolved["resolvedBy"] == "admin"  # the dashboard's queued action, not the rule engine clearing it


def test_fleet_overview_groups_searches_and_shows_a_state_change_live(page: Page, service: Service):
    """Three presses on a line of their own: their group, a search that finds them, and one going critical
    reaching its row and its group's counts through `fleet-status`, without a reload."""
    login = httpx.post(
        f"{service.url}/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}, timeout=10
    )
    admin = {"Authorization": f"Bearer {login.json()['data']['token']}"}
    presses = [f"fleet-press-{i}" for i in range(3)]
    config = {"normalMin": 10, "normalMax": 50, "alertMax": 55, "offlineTimeoutS": 600}
    for press in presses:
        body = {"deviceId": press, "type": "pressure", "unit": "psi", "location": "fleet-test-line", "config": config}
        assert httpx.post(f"{service.url}/api/devices", json=body, headers=admin, timeout=10).status_code == 201

    def send(device: str, value: float) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        reading = {"deviceId": device, "timestamp": stamp, "sensorType": "pressure", "value": value, "unit": "psi"}
        answer = httpx.post(
            f"{service.url}/api/readings", json={"readings": [reading]}, headers=gateway_headers(), timeout=10
        )
        assert answer.status_code == 202, answer.text

    try:
        for press in presses:
            send(press, 30)
        page.goto("/")
        fleet = page.get_by_role("region", name="Fleet")
        group = fleet.locator("[data-location='fleet-test-line']")
        expect(group).to_contain_text("3 devices", timeout=15_000)
        fleet.get_by_role("searchbox").fill("fleet-press")
        expect(fleet.locator("[data-fleet-device]")).to_have_count(3)
        expect(fleet.get_by_test_id("fleet-matched")).to_have_text("3 of 8 devices match, the worst first")
        row = fleet.locator("[data-fleet-device='fleet-press-1']")
        expect(row).to_contain_text("Normal", timeout=15_000)
        expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible(timeout=15_000)

        # Past its alert limit, sent again until the pipeline's device cache (10 s) has the new device's limits.
        def critical() -> bool:
            send("fleet-press-1", 70)
            return "Critical" in row.inner_text(timeout=5_000) or (page.wait_for_timeout(2_000) or False)

        wait_for(critical, timeout=40, what="fleet-press-1 critical on the overview", every=0)
        expect(row).to_contain_text("Critical")
        expect(row.get_by_test_id("fleet-value")).to_contain_text("70")
        expect(group).to_contain_text("1 critical")
        assert "q=fleet-press" in page.url  # the search is in the address
        screenshot(page, "fleet")
    finally:
        for press in presses:
            httpx.delete(f"{service.url}/api/devices/{press}", headers=admin, timeout=10)
