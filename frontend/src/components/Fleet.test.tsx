import { act, fireEvent, screen, within } from "@testing-library/react";
import type { FleetDevice, FleetStatus } from "../api/types";
import { fleetLive } from "../state/app";
import { applyFleetStatus, initialFleet, withChange } from "../state/fleet";
import { stubApi, WithMeta } from "../test-api";
import { renderWithProviders } from "../test-render";
import { OverviewView } from "../views/OverviewView";

vi.mock("../components/Plot", () => ({ Plot: () => null, loadPlotly: vi.fn(), prefetchPlotly: vi.fn() }));
vi.mock("../live/socket", () => ({ watchFleet: () => () => undefined, watchDevice: () => () => undefined }));

const TOTAL = 10_000;
const counts = { total: TOTAL, normal: 9_900, warning: 60, critical: 10, offline: 30, worst: "critical" as const };
const groups = [
  {
    location: "hall-a/line-1",
    total: 5_000,
    normal: 4_950,
    warning: 30,
    critical: 10,
    offline: 10,
    worst: "critical" as const,
  },
  {
    location: "hall-b/line-2",
    total: 5_000,
    normal: 4_950,
    warning: 30,
    critical: 0,
    offline: 20,
    worst: "offline" as const,
  },
];

const pump = (i: number, changes: Partial<FleetDevice> = {}): FleetDevice => ({
  deviceId: `pump-${String(i).padStart(5, "0")}`,
  name: null,
  type: "pressure",
  location: i % 2 ? "hall-b/line-2" : "hall-a/line-1",
  unit: "psi",
  status: "active",
  state: i < 10 ? "critical" : "normal",
  alertStatus: "normal",
  value: 30 + (i % 10),
  level: i < 10 ? "critical" : "normal",
  timestamp: "2026-11-30T10:00:00.000Z",
  ...changes,
});

/** GET /api/fleet over 10,000 pumps: each page is built from offset and limit, the filters are recorded. */
function fleetApi() {
  const asked: URLSearchParams[] = [];
  const fetch = stubApi({
    "/api/fleet": (url: URL) => {
      asked.push(url.searchParams);
      const offset = Number(url.searchParams.get("offset") ?? 0);
      const limit = Number(url.searchParams.get("limit") ?? 100);
      const q = url.searchParams.get("q");
      const matched = q ? 1 : TOTAL;
      const devices = q
        ? [pump(4242)]
        : Array.from({ length: Math.min(limit, matched - offset) }, (_, i) => pump(offset + i));
      return new WithMeta(
        { totals: counts, groups, types: ["pressure"], devices },
        { matched, count: devices.length, limit, offset, computedAt: "2026-11-30T10:00:00.000Z" },
      );
    },
    "/api/metrics/dashboard": { readings: { perMinute: 600000 }, alerts: {} },
  });
  return { fetch, asked };
}

describe("the fleet overview", () => {
  beforeEach(() => fleetLive.update(() => initialFleet));
  // jsdom lays nothing out: the list's box is given a size, as a browser would give it.
  beforeAll(() => {
    Object.defineProperty(HTMLElement.prototype, "clientHeight", { configurable: true, get: () => 480 });
    Object.defineProperty(HTMLElement.prototype, "clientWidth", { configurable: true, get: () => 800 });
  });
  afterAll(() => {
    Reflect.deleteProperty(HTMLElement.prototype, "clientHeight");
    Reflect.deleteProperty(HTMLElement.prototype, "clientWidth");
  });

  it("shows 10,000 devices grouped by location from a request or two, with only the rows in view", async () => {
    const { fetch } = fleetApi();
    renderWithProviders(<OverviewView />);
    const fleet = await screen.findByRole("region", { name: "Fleet" });
    expect((await within(fleet).findByTestId("count-critical")).textContent).toBe("10");
    expect(within(fleet).getByTestId("count-offline").textContent).toBe("30");
    const locations = within(fleet).getByRole("list", { name: "Locations" });
    expect(
      within(locations)
        .getAllByRole("button")
        .map((b) => b.dataset.location),
    ).toEqual(["hall-a/line-1", "hall-b/line-2"]);
    const list = await within(fleet).findByRole("table", { name: "Devices" });
    const rows = await within(list).findAllByRole("row");
    expect(rows.length).toBeGreaterThan(5);
    expect(rows.length).toBeLessThan(60); // virtualised: not 10,000
    expect(list.getAttribute("aria-rowcount")).toBe(String(TOTAL));
    expect(within(list).getByText("pump-00000")).toBeTruthy();
    const fleetCalls = fetch.mock.calls.filter(([input]) => String(input).startsWith("/api/fleet"));
    expect(fleetCalls.length).toBeLessThanOrEqual(3);
    expect(fetch.mock.calls.some(([input]) => String(input).includes("/history"))).toBe(false);
  });

  it("searches on the service and filters by state and location", async () => {
    const { asked } = fleetApi();
    renderWithProviders(<OverviewView />);
    const fleet = await screen.findByRole("region", { name: "Fleet" });
    fireEvent.change(await within(fleet).findByRole("searchbox"), { target: { value: "4242" } });
    expect(await within(fleet).findByText("pump-04242", {}, { timeout: 5_000 })).toBeTruthy();
    expect(within(fleet).getByTestId("fleet-matched").textContent).toBe("1 of 10000 devices match, the worst first");
    fireEvent.click(within(fleet).getByTestId("count-critical").closest("button") as HTMLElement);
    fireEvent.click(within(fleet).getByRole("button", { name: /hall-b\/line-2/ }));
    await vi.waitFor(() => {
      const last = asked[asked.length - 1];
      expect([last.get("q"), last.get("status"), last.get("location")]).toEqual(["4242", "critical", "hall-b/line-2"]);
    }, 5_000);
  });

  it("applies live state changes to the rows and the counts", async () => {
    fleetApi();
    renderWithProviders(<OverviewView />);
    const fleet = await screen.findByRole("region", { name: "Fleet" });
    const row = await within(fleet).findByText("pump-00011");
    const status: FleetStatus = {
      timestamp: "2026-11-30T10:00:05.000Z",
      totals: { ...counts, normal: 9_899, critical: 11 },
      groups,
      changes: [
        {
          deviceId: "pump-00011",
          location: "hall-b/line-2",
          state: "critical",
          alertStatus: "high",
          value: 99,
          timestamp: "2026-11-30T10:00:04.000Z",
        },
      ],
      resync: false,
    };
    act(() => fleetLive.update((state) => applyFleetStatus(state, status)));
    const changed = row.closest("[role=row]") as HTMLElement;
    expect(changed.textContent).toMatch(/Critical/);
    expect(within(changed).getByTestId("fleet-value").textContent).toMatch(/99/);
    expect(within(fleet).getByTestId("count-critical").textContent).toBe("11");
  });
});

describe("fleet-status", () => {
  const status = (timestamp: string, changes: FleetStatus["changes"], resync = false): FleetStatus => ({
    timestamp,
    totals: counts,
    groups,
    changes,
    resync,
  });
  const change = (state: FleetDevice["state"], timestamp: string) => ({
    deviceId: "pump-00001",
    location: "hall-b/line-2",
    state,
    alertStatus: "normal" as const,
    value: 1,
    timestamp,
  });

  it("keeps the latest change per device, ignores a late sweep and asks for a refetch on resync", () => {
    let state = applyFleetStatus(
      initialFleet,
      status("2026-11-30T10:00:02Z", [change("warning", "2026-11-30T10:00:01Z")]),
    );
    state = applyFleetStatus(state, status("2026-11-30T10:00:01Z", [change("critical", "2026-11-30T10:00:00Z")]));
    expect(state.changes["pump-00001"].state).toBe("warning");
    state = applyFleetStatus(state, status("2026-11-30T10:00:03Z", [], true));
    expect([state.changes, state.resyncs]).toEqual([{}, 1]);
  });

  it("a change older than the page's reading does not win, an offline one does", () => {
    const device = pump(1, { timestamp: "2026-11-30T10:00:05.000Z" });
    expect(withChange(device, change("critical", "2026-11-30T10:00:04.000Z"))).toBe(device);
    const offline = withChange(device, change("offline", "2026-11-30T10:00:05.000Z"));
    expect([offline.state, offline.status]).toEqual(["offline", "offline"]);
  });
});
